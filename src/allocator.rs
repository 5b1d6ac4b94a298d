//! How the `nnc` binary uses glibc's malloc: one arena for every thread, and blocks
//! aligned beyond malloc's 16 bytes taken from plain `malloc` instead of
//! `posix_memalign`.
//!
//! `gemm` allocates its packing buffers (about 1 MB, aligned to 64 or 128 bytes) on every
//! product. glibc's `posix_memalign` carves an aligned block out of a larger free chunk and
//! frees the pieces before and after it; with two threads allocating in one arena, those
//! pieces kept freed buffers from being reused, and the heap grew a megabyte at a time
//! during W4's first steps. W4's peak RSS was 40.9-41.1 MB in 6 of 15 runs (budget
//! 39.6 MB) and 35.1-35.5 MB in all 15 with this allocator, alternating with numpy's W4 as
//! `benches/compare.py` does.

#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub use glibc::{OverAligned, one_malloc_arena};

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn one_malloc_arena() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    use std::alloc::{GlobalAlloc, Layout, System};

    /// What malloc aligns every block to on 64-bit glibc.
    const MALLOC_ALIGN: usize = 16;

    /// glibc gives each thread that allocates its own arena, which returns freed memory
    /// less eagerly: running the command on a pool thread cost 10 MB of peak RSS on W4
    /// (85 against 75 MB). One arena for all threads keeps the main thread's behaviour.
    pub fn one_malloc_arena() {
        // SAFETY: mallopt only sets an allocator parameter; it is called before any other
        // thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }

    /// The system allocator, except that a block aligned beyond `MALLOC_ALIGN` is taken
    /// from `malloc` with room to align it, its start kept in the word before it.
    pub struct OverAligned;

    impl OverAligned {
        /// Whether `System` serves this layout as it is.
        fn plain(layout: Layout) -> bool {
            layout.align() <= MALLOC_ALIGN
        }
    }

    // SAFETY: every block is `layout.size()` bytes aligned to `layout.align()`, and freed
    // the way it was taken: plain layouts by `System`; the others by `free` on the start
    // `alloc` stored below the block, which `malloc` returned.
    unsafe impl GlobalAlloc for OverAligned {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if Self::plain(layout) {
                // SAFETY: the caller's layout, passed on.
                return unsafe { System.alloc(layout) };
            }
            let Some(total) = layout.size().checked_add(layout.align()) else {
                return std::ptr::null_mut();
            };
            // SAFETY: malloc has no preconditions.
            let start = unsafe { libc::malloc(total) } as usize;
            if start == 0 {
                return std::ptr::null_mut();
            }
            // The first aligned address past `start`: `start` is a multiple of 16 and the
            // alignment a larger power of two, so it lies 16 to `align` bytes on, leaving a
            // word below it for `start`, and the block ends inside the `total` bytes.
            let block = (start + layout.align()) & !(layout.align() - 1);
            // SAFETY: the word below `block` lies inside the allocation (see above) and is
            // aligned, since `block` is.
            unsafe { *(block as *mut usize).sub(1) = start };
            block as *mut u8
        }

        unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
            if Self::plain(layout) {
                // SAFETY: `System` allocated it with this layout.
                return unsafe { System.dealloc(block, layout) };
            }
            // SAFETY: `alloc` stored malloc's start in the word below the block.
            unsafe { libc::free(*(block as *const usize).sub(1) as *mut libc::c_void) };
        }

        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if Self::plain(layout) {
                // SAFETY: the caller's layout, passed on.
                return unsafe { System.alloc_zeroed(layout) };
            }
            // SAFETY: the caller's layout, passed on; a block has `layout.size()` bytes.
            let block = unsafe { self.alloc(layout) };
            if !block.is_null() {
                // SAFETY: the block holds `layout.size()` bytes.
                unsafe { std::ptr::write_bytes(block, 0, layout.size()) };
            }
            block
        }

        unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            if Self::plain(layout) {
                // SAFETY: `System` allocated it with this layout.
                return unsafe { System.realloc(block, layout, new_size) };
            }
            // SAFETY: the caller promises `new_size` rounded up to the alignment does not
            // overflow, which makes the layout valid.
            let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
            // SAFETY: a valid layout of non-zero size (the caller's promise).
            let moved = unsafe { self.alloc(new_layout) };
            if !moved.is_null() {
                // SAFETY: both blocks hold at least the bytes copied, and are distinct.
                unsafe { std::ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size)) };
                // SAFETY: allocated by `alloc` with this layout.
                unsafe { self.dealloc(block, layout) };
            }
            moved
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// Over-aligned blocks are aligned, start zeroed when asked, keep their bytes when
        /// they grow and shrink, and go back to malloc.
        #[test]
        fn over_aligned_blocks_are_aligned_and_keep_their_bytes() {
            let byte = |i: usize| (i % 251) as u8;
            for align in [32, 64, 128, 4096] {
                for size in [1, 8, 100, 4096, 1 << 20] {
                    let layout = |size: usize| Layout::from_size_align(size, align).unwrap();
                    // SAFETY: valid layouts of non-zero size; each block is used within its
                    // size and freed once, with the layout it has.
                    unsafe {
                        let zeroed = OverAligned.alloc_zeroed(layout(size));
                        assert_eq!(zeroed as usize % align, 0, "{size} bytes aligned to {align}");
                        assert!(std::slice::from_raw_parts(zeroed, size).iter().all(|&b| b == 0));
                        OverAligned.dealloc(zeroed, layout(size));
                        let mut block = OverAligned.alloc(layout(size));
                        for i in 0..size {
                            *block.add(i) = byte(i);
                        }
                        let mut held = size;
                        for new_size in [size * 2, size.div_ceil(2)] {
                            block = OverAligned.realloc(block, layout(held), new_size);
                            assert_eq!(block as usize % align, 0, "{held} -> {new_size} bytes");
                            let kept = held.min(new_size);
                            assert!((0..kept).all(|i| *block.add(i) == byte(i)), "{held} -> {new_size} bytes");
                            held = new_size;
                        }
                        OverAligned.dealloc(block, layout(held));
                    }
                }
            }
        }
    }
}
