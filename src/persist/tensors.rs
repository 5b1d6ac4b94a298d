//! The safetensors container: named tensors and string metadata.
//!
//! Writing is deterministic (metadata keys sorted, tensors in the order given), so the same
//! parameters always give the same bytes. Reading never trusts the file: the header length,
//! every entry, the offsets and the file's size are checked before any tensor data is read,
//! so a hostile file gets a specific error instead of a panic or a huge allocation; the
//! checked bytes are then read through the `safetensors` crate.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::Read;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

/// The largest header the safetensors format allows, in bytes.
pub const MAX_HEADER_BYTES: u64 = 100_000_000;

/// The largest file nnc reads: more than any model it can train needs (2^28 parameters of
/// 8 bytes, with optimiser state).
pub const MAX_FILE_BYTES: u64 = 8 << 30;

/// A tensor's elements.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    /// 32-bit floats.
    F32(Vec<f32>),
    /// 64-bit floats.
    F64(Vec<f64>),
    /// 64-bit signed integers.
    I64(Vec<i64>),
}

impl Values {
    /// The safetensors name of the element type.
    pub fn dtype(&self) -> &'static str {
        match self {
            Values::F32(_) => "F32",
            Values::F64(_) => "F64",
            Values::I64(_) => "I64",
        }
    }

    fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::F64(v) => v.len(),
            Values::I64(v) => v.len(),
        }
    }

    fn extend_bytes(&self, out: &mut Vec<u8>) {
        match self {
            Values::F32(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Values::F64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Values::I64(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
        }
    }

    /// The elements as f64 (exact for F32 and for integers below 2^53).
    pub fn to_f64(&self) -> Vec<f64> {
        match self {
            Values::F32(v) => v.iter().map(|&x| f64::from(x)).collect(),
            Values::F64(v) => v.clone(),
            Values::I64(v) => v.iter().map(|&x| x as f64).collect(),
        }
    }
}

/// One named tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct Stored {
    /// Its name.
    pub name: String,
    /// Its dimensions.
    pub dims: Vec<usize>,
    /// Its elements, row-major.
    pub values: Values,
}

/// A safetensors file's contents.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Container {
    /// The `__metadata__` strings.
    pub metadata: BTreeMap<String, String>,
    /// The tensors.
    pub tensors: Vec<Stored>,
}

impl Container {
    /// The tensor called `name`.
    pub fn tensor(&self, name: &str) -> Option<&Stored> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// The metadata value under `key`.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(String::as_str)
    }
}

/// Why a file is not a readable safetensors file.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FileError {
    /// Shorter than the 8-byte header length.
    #[error("the file is {0} bytes long, too short to be a safetensors file (it starts with an 8-byte header length)")]
    TooShort(u64),
    /// The header length is over the format's limit.
    #[error("the header length is {0} bytes, over the safetensors limit of 100,000,000 bytes")]
    HeaderTooLarge(u64),
    /// The file ends before what the header says it holds.
    #[error("the file is truncated: its header says it holds {needed} bytes, but it is {actual} bytes long")]
    Truncated {
        /// Bytes the header implies.
        needed: u64,
        /// Bytes in the file.
        actual: u64,
    },
    /// Bytes after the last tensor.
    #[error("the file has {0} bytes after its last tensor's data")]
    Trailing(u64),
    /// Larger than nnc reads.
    #[error("the file is {0} bytes long, more than the {MAX_FILE_BYTES} bytes nnc reads")]
    TooLarge(u64),
    /// The header is not UTF-8 JSON.
    #[error("the header is not valid JSON: {0}")]
    Json(String),
    /// A tensor name appears twice.
    #[error("the header names the tensor `{0}` twice")]
    Duplicate(String),
    /// An entry lacks a field or has one of the wrong type.
    #[error("the header entry of `{name}` is malformed: {problem}")]
    Entry {
        /// The tensor.
        name: String,
        /// What is wrong.
        problem: String,
    },
    /// An element type nnc does not read.
    #[error("tensor `{name}` has dtype `{dtype}`; nnc reads F32, F64 and I64")]
    UnknownDtype {
        /// The tensor.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The shape's element or byte count overflows.
    #[error("the shape {dims:?} of tensor `{name}` has more elements than fit in memory")]
    ShapeOverflow {
        /// The tensor.
        name: String,
        /// Its dimensions.
        dims: Vec<u64>,
    },
    /// The offsets do not span the bytes the shape needs.
    #[error("tensor `{name}` needs {expected} bytes for its dtype and shape, but its offsets span {actual}")]
    SizeMismatch {
        /// The tensor.
        name: String,
        /// Bytes its shape needs.
        expected: u64,
        /// Bytes its offsets span.
        actual: u64,
    },
    /// The offsets are reversed.
    #[error("tensor `{name}` has data_offsets [{start}, {end}]: the end comes before the start")]
    Reversed {
        /// The tensor.
        name: String,
        /// The first offset.
        start: u64,
        /// The second offset.
        end: u64,
    },
    /// Two tensors share bytes.
    #[error("tensors `{0}` and `{1}` overlap in the file")]
    Overlap(String, String),
    /// Bytes no tensor claims.
    #[error("data bytes {0}..{1} belong to no tensor")]
    Gap(u64, u64),
    /// A tensor's data lies past the end of the file.
    #[error("tensor `{name}` ends at data byte {end}, past the end of the file ({data} data bytes)")]
    OutOfFile {
        /// The tensor.
        name: String,
        /// Where it ends.
        end: u64,
        /// Data bytes in the file.
        data: u64,
    },
    /// The file could not be read.
    #[error("{0}")]
    Io(String),
    /// The checked bytes were still refused by the safetensors reader.
    #[error("{0}")]
    Format(String),
}

/// Writes a container as safetensors bytes.
pub fn encode(c: &Container) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    if !c.metadata.is_empty() {
        header.insert("__metadata__".into(), serde_json::to_value(&c.metadata).unwrap_or_default());
    }
    let mut offset = 0usize;
    for t in &c.tensors {
        let bytes = t.values.len() * if matches!(t.values, Values::F32(_)) { 4 } else { 8 };
        let entry = serde_json::json!({
            "dtype": t.values.dtype(),
            "shape": t.dims,
            "data_offsets": [offset, offset + bytes],
        });
        header.insert(t.name.clone(), entry);
        offset += bytes;
    }
    let mut text = Value::Object(header).to_string().into_bytes();
    text.resize(text.len().next_multiple_of(8), b' ');
    let mut out = Vec::with_capacity(8 + text.len() + offset);
    out.extend_from_slice(&(text.len() as u64).to_le_bytes());
    out.extend_from_slice(&text);
    for t in &c.tensors {
        t.values.extend_bytes(&mut out);
    }
    out
}

/// A header entry after checking.
struct Entry {
    name: String,
    dtype: &'static str,
    dims: Vec<usize>,
    start: u64,
    end: u64,
}

/// Reads a container from `reader`, which holds `len` bytes.
pub fn read(reader: &mut dyn Read, len: u64) -> Result<Container, FileError> {
    let io = |e: std::io::Error| FileError::Io(e.to_string());
    if len < 8 {
        return Err(FileError::TooShort(len));
    }
    if len > MAX_FILE_BYTES {
        return Err(FileError::TooLarge(len));
    }
    let mut n = [0u8; 8];
    reader.read_exact(&mut n).map_err(io)?;
    let n = u64::from_le_bytes(n);
    if n > MAX_HEADER_BYTES {
        return Err(FileError::HeaderTooLarge(n));
    }
    if 8 + n > len {
        return Err(FileError::Truncated { needed: 8 + n, actual: len });
    }
    let mut header = vec![0u8; n as usize];
    reader.read_exact(&mut header).map_err(io)?;
    let (metadata, entries) = parse_header(&header)?;
    let data_len = len - 8 - n;
    check_layout(&entries, data_len)?;
    let mut bytes = Vec::with_capacity(len as usize);
    bytes.extend_from_slice(&n.to_le_bytes());
    bytes.extend_from_slice(&header);
    reader.take(data_len).read_to_end(&mut bytes).map_err(io)?;
    if (bytes.len() as u64) < len {
        return Err(FileError::Truncated { needed: len, actual: bytes.len() as u64 });
    }
    let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| FileError::Format(e.to_string()))?;
    let mut tensors = Vec::with_capacity(entries.len());
    for e in entries {
        let view = st.tensor(&e.name).map_err(|err| FileError::Format(err.to_string()))?;
        let data = view.data();
        let values = match e.dtype {
            "F32" => Values::F32(data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
            "F64" => Values::F64(data.chunks_exact(8).map(|b| f64::from_le_bytes(eight(b))).collect()),
            _ => Values::I64(data.chunks_exact(8).map(|b| i64::from_le_bytes(eight(b))).collect()),
        };
        tensors.push(Stored { name: e.name, dims: e.dims, values });
    }
    Ok(Container { metadata, tensors })
}

fn eight(b: &[u8]) -> [u8; 8] {
    [b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]
}

/// The header's entries in file order, refusing duplicate keys (which a JSON map would
/// silently merge).
struct Entries(Vec<(String, Value)>);

impl<'de> serde::Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Value>()? {
                    out.push((k, v));
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(Keys)
    }
}

type Header = (BTreeMap<String, String>, Vec<Entry>);

fn parse_header(bytes: &[u8]) -> Result<Header, FileError> {
    let text = std::str::from_utf8(bytes).map_err(|e| FileError::Json(format!("it is not UTF-8 ({e})")))?;
    let Entries(raw) = serde_json::from_str(text.trim_end()).map_err(|e| FileError::Json(e.to_string()))?;
    let mut seen = HashSet::new();
    let mut metadata = BTreeMap::new();
    let mut entries = Vec::new();
    for (name, value) in raw {
        if !seen.insert(name.clone()) {
            return Err(FileError::Duplicate(name));
        }
        if name == "__metadata__" {
            metadata = serde_json::from_value(value)
                .map_err(|e| FileError::Json(format!("`__metadata__` must map strings to strings ({e})")))?;
            continue;
        }
        entries.push(entry(name, &value)?);
    }
    Ok((metadata, entries))
}

fn entry(name: String, value: &Value) -> Result<Entry, FileError> {
    let bad = |problem: &str| FileError::Entry { name: name.clone(), problem: problem.to_string() };
    let dtype = value.get("dtype").and_then(Value::as_str).ok_or_else(|| bad("`dtype` must be a string"))?;
    let dtype = match dtype {
        "F32" => "F32",
        "F64" => "F64",
        "I64" => "I64",
        other => return Err(FileError::UnknownDtype { name, dtype: other.to_string() }),
    };
    let dims: Vec<u64> = value
        .get("shape")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .ok_or_else(|| bad("`shape` must be a list of non-negative integers"))?;
    let offsets: Vec<u64> = value
        .get("data_offsets")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_u64).collect())
        .filter(|o: &Vec<u64>| o.len() == 2)
        .ok_or_else(|| bad("`data_offsets` must be two non-negative integers"))?;
    let (start, end) = (offsets[0], offsets[1]);
    let bytes = dims
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d))
        .and_then(|elements| elements.checked_mul(if dtype == "F32" { 4 } else { 8 }))
        .filter(|b| *b <= MAX_FILE_BYTES);
    let Some(bytes) = bytes else { return Err(FileError::ShapeOverflow { name, dims }) };
    if end < start {
        return Err(FileError::Reversed { name, start, end });
    }
    if end - start != bytes {
        return Err(FileError::SizeMismatch { name, expected: bytes, actual: end - start });
    }
    Ok(Entry { name, dtype, dims: dims.into_iter().map(|d| d as usize).collect(), start, end })
}

/// The tensors must tile the data exactly: no overlap, no gap, nothing past the end.
fn check_layout(entries: &[Entry], data_len: u64) -> Result<(), FileError> {
    let mut order: Vec<&Entry> = entries.iter().collect();
    order.sort_by_key(|e| (e.start, e.end));
    let mut at = 0u64;
    let mut last: Option<&Entry> = None;
    for e in order {
        if e.end > data_len {
            return Err(FileError::OutOfFile { name: e.name.clone(), end: e.end, data: data_len });
        }
        if e.start < at
            && let Some(prev) = last
        {
            return Err(FileError::Overlap(prev.name.clone(), e.name.clone()));
        }
        if e.start > at {
            return Err(FileError::Gap(at, e.start));
        }
        at = e.end;
        last = Some(e);
    }
    match data_len.cmp(&at) {
        std::cmp::Ordering::Greater => Err(FileError::Trailing(data_len - at)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_then_read_gives_the_same_container() {
        let mut c = Container::default();
        c.metadata.insert("b".into(), "2".into());
        c.metadata.insert("a".into(), "1".into());
        c.tensors.push(Stored { name: "w".into(), dims: vec![2, 1], values: Values::F32(vec![1.5, -2.0]) });
        c.tensors.push(Stored { name: "v".into(), dims: vec![], values: Values::F64(vec![0.1]) });
        c.tensors.push(Stored { name: "o".into(), dims: vec![3], values: Values::I64(vec![2, 0, 1]) });
        let bytes = encode(&c);
        assert_eq!(bytes, encode(&c.clone()));
        let back = read(&mut bytes.as_slice(), bytes.len() as u64).unwrap();
        assert_eq!(back.metadata, c.metadata);
        for t in &c.tensors {
            assert_eq!(back.tensor(&t.name), Some(t));
        }
    }
}
