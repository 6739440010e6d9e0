//! A `Stats` block in memory shared by the master and one worker: an anonymous shared
//! mapping made by the master before it forks the worker, so both processes see the same
//! pages. The worker counts into it (`metrics::install`); the master reads it, also after
//! the worker died (the pages stay until the master unmaps them), which is how the counts
//! of a crashed worker survive it.
//!
//! A worker can scribble only on its own region: the master keeps its totals in its own
//! memory and checks a region's magic before trusting it (`fleet`).

use std::io;
use std::ptr::NonNull;

use super::Stats;

/// One worker's shared block. Unmapped on drop (in the master, once the worker's counts
/// are folded into the totals).
pub struct Region {
    block: NonNull<Stats>,
}

// SAFETY: the mapping is plain memory holding atomics; `&Stats` is `Sync`, and the region
// is unmapped only by its owner's drop.
unsafe impl Send for Region {}
// SAFETY: as above: shared access goes through `&Stats`, whose fields are atomics.
unsafe impl Sync for Region {}

impl Region {
    /// Maps a new zeroed block and writes its magic.
    ///
    /// # Errors
    /// mmap(2) failed (out of memory or address space).
    pub fn new() -> io::Result<Region> {
        let len = std::mem::size_of::<Stats>();
        // SAFETY: an anonymous mapping with no address hint has no preconditions; the
        // result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let block = NonNull::new(ptr.cast::<Stats>())
            .ok_or_else(|| io::Error::other("mmap returned a null mapping"))?;
        let region = Region { block };
        // The kernel zeroed the mapping, and zeroed atomics are valid: only the magic is
        // left to write.
        region.stats().slots[super::slot::MAGIC]
            .store(super::MAGIC_VALUE, std::sync::atomic::Ordering::Relaxed);
        Ok(region)
    }

    /// The block.
    pub fn stats(&self) -> &Stats {
        // SAFETY: mapped (and zeroed by the kernel, which is a valid `Stats`: atomics of 0)
        // in `new`, until drop.
        unsafe { self.block.as_ref() }
    }

    /// The block for the rest of this process's life: in the worker, which never unmaps
    /// it (it exits with the mapping in place).
    pub fn leak(self) -> &'static Stats {
        let block = self.block;
        std::mem::forget(self);
        // SAFETY: initialised in `new`; never unmapped, since the region was forgotten.
        unsafe { block.as_ref() }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping `new` made; no reference outlives `self`.
        // A failure leaves the pages mapped, which costs memory, not correctness.
        unsafe {
            libc::munmap(self.block.as_ptr().cast(), std::mem::size_of::<Stats>());
        }
    }
}
