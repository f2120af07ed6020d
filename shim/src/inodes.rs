//! The process's inode renumbering table (`detbuild_core::inodes`), mapped on first use.
//!
//! The table is one anonymous private mapping of about 16 MiB, made the first time a program
//! whose `inodes` switch is on gets a `stat` answer; only the pages its slots land on become
//! resident (a few KiB per thousand files). Threads racing to make it keep the first mapping
//! and unmap their own. A forked child inherits the parent's table (copy on write), so its
//! numbers agree with the parent's; `exec` starts afresh. When the mapping cannot be made,
//! numbers stay real.

use crate::sys;
use core::sync::atomic::{AtomicPtr, Ordering};
use detbuild_core::inodes::Table as CoreTable;

/// Slots: 2^20, so about 917 000 distinct files per process are renumbered (7/8 full).
const CAP: usize = 1 << 20;
type Table = CoreTable<CAP>;

static TABLE: AtomicPtr<Table> = AtomicPtr::new(core::ptr::null_mut());

fn table() -> Option<&'static Table> {
    let t = TABLE.load(Ordering::Acquire);
    if !t.is_null() {
        // SAFETY: published below from a live mapping that is never unmapped.
        return Some(unsafe { &*t });
    }
    let len = core::mem::size_of::<Table>();
    let fresh = sys::mmap_anon(len)?.cast::<Table>();
    match TABLE.compare_exchange(
        core::ptr::null_mut(),
        fresh,
        Ordering::AcqRel,
        Ordering::Acquire,
    ) {
        // SAFETY: a fresh zero-filled mapping of the table's size is an empty table (all
        // atomics, all zero), suitably aligned (page-aligned).
        Ok(_) => Some(unsafe { &*fresh }),
        Err(theirs) => {
            // SAFETY: `fresh` is our own mapping of `len` bytes, never published.
            unsafe { sys::munmap(fresh.cast(), len) };
            // SAFETY: as above, `theirs` was published from a live mapping.
            Some(unsafe { &*theirs })
        }
    }
}

/// The fake `(device, inode)` for a real pair, or `None` to report the real one.
#[inline]
pub fn renumber(dev: u64, ino: u64) -> Option<(u64, u64)> {
    table()?.map(dev, ino)
}
