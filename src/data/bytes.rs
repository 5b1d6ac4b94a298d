//! A data file's bytes, as a `Loader` returns them, held in 4-byte words: the float32
//! array of an `.npy` file then takes the buffer over in place instead of being copied out
//! of it, so loading holds the examples once (W3's 25.7 MB file was held twice).

use std::io::Read;

/// The bytes of one file.
#[derive(Clone, Debug)]
pub struct FileBytes {
    /// The bytes, in words (the last one padded with zeros).
    words: Vec<f32>,
    /// How many of the words' bytes are the file's.
    len: usize,
}

/// Bytes per word.
const WORD: usize = size_of::<f32>();

impl FileBytes {
    /// `len` zero bytes.
    fn zeroed(len: usize) -> FileBytes {
        FileBytes { words: vec![0.0; len.div_ceil(WORD)], len }
    }

    /// The whole file at `path`, to its end, as with `std::fs::read`: a file that grows or
    /// shrinks while it is read, and one whose size the file system does not tell (a pipe,
    /// a file under `/proc`), are read as far as they go; one too large for memory is an
    /// error.
    pub fn read(path: &std::path::Path) -> std::io::Result<FileBytes> {
        let mut file = std::fs::File::open(path)?;
        let size = usize::try_from(file.metadata()?.len()).unwrap_or(usize::MAX);
        let mut words = Vec::new();
        words.try_reserve_exact(size.div_ceil(WORD)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::OutOfMemory, format!("{size} bytes do not fit in memory"))
        })?;
        words.resize(size.div_ceil(WORD), 0.0);
        let mut bytes = FileBytes { words, len: size };
        let mut filled = 0;
        while filled < size {
            match file.read(&mut bytes.as_bytes_mut()[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        bytes.len = filled;
        // Whatever the file holds beyond the size it was said to have.
        let mut rest = Vec::new();
        file.read_to_end(&mut rest)?;
        if rest.is_empty() { Ok(bytes) } else { Ok(FileBytes::from([bytes.as_bytes(), &rest].concat())) }
    }

    /// The file's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.words)[..self.len]
    }

    /// All of the words' bytes, padding included.
    fn as_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::cast_slice_mut(&mut self.words)
    }

    /// The `count` float32 values (in this machine's byte order) that start `start` bytes
    /// in, in the words they are held in: moved to the front, the rest cut off. `None` when
    /// `start` is not a whole number of words or the values run past the file's end.
    pub fn into_f32(mut self, start: usize, count: usize) -> Option<Vec<f32>> {
        let first = start.is_multiple_of(WORD).then_some(start / WORD)?;
        let end = count.checked_mul(WORD).and_then(|b| b.checked_add(start)).filter(|&e| e <= self.len)?;
        self.words.copy_within(first..end / WORD, 0);
        self.words.truncate(count);
        Some(self.words)
    }

    /// The bytes as UTF-8 text, or the error that says where they are not. The text is a
    /// copy (words cannot become a `String`'s buffer); a CSV file's peak memory is set by
    /// its parsed table, a `String` and a span per cell, not by this copy.
    pub fn into_text(self) -> Result<String, std::string::FromUtf8Error> {
        String::from_utf8(self.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for FileBytes {
    /// The bytes copied into words.
    fn from(v: Vec<u8>) -> FileBytes {
        let mut bytes = FileBytes::zeroed(v.len());
        bytes.as_bytes_mut()[..v.len()].copy_from_slice(&v);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_through_words() {
        for n in 0..9 {
            let v: Vec<u8> = (0..n as u8).collect();
            assert_eq!(FileBytes::from(v.clone()).as_bytes(), v.as_slice());
        }
    }

    #[test]
    fn float32_values_are_taken_in_place_or_refused() {
        let values = [1.5f32, -2.0, 3.25];
        let mut v = b"headerXY".to_vec();
        v.extend(values.iter().flat_map(|x| x.to_ne_bytes()));
        let bytes = FileBytes::from(v);
        assert_eq!(bytes.clone().into_f32(8, 3), Some(values.to_vec()));
        assert_eq!(bytes.clone().into_f32(12, 2), Some(values[1..].to_vec()));
        assert_eq!(bytes.clone().into_f32(6, 3), None, "not a whole number of words in");
        assert_eq!(bytes.clone().into_f32(8, 4), None, "past the end");
        assert_eq!(bytes.into_f32(8, usize::MAX), None, "a count that overflows");
    }

    #[test]
    fn a_file_is_read_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seven.bin");
        std::fs::write(&path, b"seven b").unwrap();
        let read = FileBytes::read(&path).unwrap();
        assert_eq!(read.as_bytes(), b"seven b");
        assert_eq!(read.into_text().unwrap(), "seven b");
    }

    /// A file whose size the file system gives as 0 is still read to its end.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_without_a_size_is_read_to_its_end() {
        let path = std::path::Path::new("/proc/self/status");
        assert_eq!(std::fs::metadata(path).unwrap().len(), 0, "the case this test is for");
        let text = FileBytes::read(path).unwrap().into_text().unwrap();
        assert!(text.starts_with("Name:"), "{text}");
    }
}
