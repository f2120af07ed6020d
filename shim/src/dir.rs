//! Directory order: `readdir`, `readdir64`, `readdir_r`, `readdir64_r`, `telldir`, `seekdir`,
//! `rewinddir`, `closedir`, `opendir`, `fdopendir`.
//!
//! Faked (switch `dirs`): a directory stream lists its entries in byte-wise name order
//! (`strcmp` order: locale and filesystem play no part). The first read of a stream (or its
//! first `telldir`/`seekdir`) reads the whole directory through the real `readdir64` into a
//! snapshot (layout and order in `detbuild_core::dirs`); later reads hand out the snapshot's
//! records, whose `d_off` is the position after them. `telldir` returns the position in the
//! snapshot and `seekdir` accepts it. `rewinddir` drops the snapshot, so the next read sees
//! the directory as it is then; entries created after a snapshot are not listed until then
//! (POSIX leaves that unspecified). A read error met while snapshotting is reported, with its
//! errno, after the entries read before it.
//!
//! Memory: each snapshot is its own anonymous mapping (`mmap`/`mremap`, no `malloc`), about
//! 24-40 bytes per entry plus 4 for the order, freed by `closedir` or `rewinddir`. The side
//! table that finds a stream's snapshot is a fixed array of [`SLOTS`] slots keyed by the
//! `DIR*`, claimed and released with compare-and-swap: no lock, so a fork in another thread
//! or a signal handler can never find it held, and a forked child keeps consistent copies.
//! `readdir` itself is not async-signal-safe, and the snapshot is built by the thread that
//! reads the stream (a stream read by two threads at once is undefined in POSIX too).
//!
//! Real: programs whose `dirs` switch is off, inert processes, more than [`SLOTS`] streams
//! open and read at once (the extra ones list in the filesystem's order), a snapshot that
//! cannot be mapped, and readers that do not go through these functions: glibc's own
//! `__readdir64` inside `scandir`, `glob`, `fts` and `nftw` (`dirwalk.rs` and `ftw.rs`
//! handle those), and `getdents64` (`getdents.rs`).

use crate::clock::{errno, set_errno};
use crate::dirsnap::{build, Snap};
use crate::hooks::{count, Id};
use crate::{real, state};
use core::ffi::{c_char, c_int, c_long};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
use detbuild_core::dirs;
use libc::{dirent, dirent64, DIR};

/// Streams that can have a snapshot at once.
pub const SLOTS: usize = 1024;
const EMPTY: usize = 0;
/// A slot whose stream was closed: lookups probe past it, claims reuse it.
const TOMB: usize = 1;
/// A snapshot that could not be made: the stream reads in the filesystem's order.
const FAILED: *mut Snap = core::ptr::dangling_mut::<Snap>();
struct Slot {
    dir: AtomicUsize,
    snap: AtomicPtr<Snap>,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        dir: AtomicUsize::new(EMPTY),
        snap: AtomicPtr::new(core::ptr::null_mut()),
    }
}; SLOTS];

/// The slots in probe order for `dir`.
fn probe(dir: usize) -> impl Iterator<Item = &'static Slot> {
    let home = ((dir as u64 >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize;
    (0..SLOTS).map(move |i| &TABLE[(home + i) % SLOTS])
}

fn find(dir: usize) -> Option<&'static Slot> {
    for slot in probe(dir) {
        match slot.dir.load(Ordering::Acquire) {
            d if d == dir => return Some(slot),
            EMPTY => return None,
            _ => {}
        }
    }
    None
}

fn claim(dir: usize) -> Option<&'static Slot> {
    probe(dir).find(|slot| {
        let d = slot.dir.load(Ordering::Acquire);
        (d == EMPTY || d == TOMB)
            && slot
                .dir
                .compare_exchange(d, dir, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    })
}

/// Drops the snapshot of `dir`, if any (the stream is closed, rewound or new).
fn forget(dir: *mut DIR) {
    if dir.is_null() || !state::dirs() {
        return;
    }
    let Some(slot) = find(dir as usize) else {
        return;
    };
    let snap = slot.snap.swap(core::ptr::null_mut(), Ordering::AcqRel);
    slot.dir.store(TOMB, Ordering::Release);
    if !snap.is_null() && snap != FAILED {
        // SAFETY: the mapping was made by `build` for this stream and nobody else uses it.
        unsafe { Snap::free(snap) };
    }
}

/// The snapshot of `dir`, made on first use; `None` when the stream reads for real.
///
/// # Safety
/// `dir` is an open stream.
unsafe fn snapshot(dir: *mut DIR) -> Option<&'static mut Snap> {
    if dir.is_null() || !state::dirs() {
        return None;
    }
    let snap = match find(dir as usize) {
        Some(slot) => slot.snap.load(Ordering::Acquire),
        None => {
            let slot = claim(dir as usize)?;
            let saved = errno();
            // SAFETY: caller's contract.
            let snap = unsafe { build(dir) }.unwrap_or(FAILED);
            set_errno(saved);
            slot.snap.store(snap, Ordering::Release);
            snap
        }
    };
    // SAFETY: a non-null, non-FAILED pointer is a live snapshot used only by this stream.
    (!snap.is_null() && snap != FAILED).then(|| unsafe { &mut *snap })
}

/// What the next read of a stream gives.
enum Next {
    /// A record of the snapshot.
    Entry(*mut dirent64),
    /// The end of the snapshot, with the errno of a read error or 0.
    End(c_int),
    /// Not ours: ask the real function.
    Real,
}

/// # Safety
/// `dir` is an open stream.
unsafe fn next(dir: *mut DIR) -> Next {
    // SAFETY: caller's contract.
    match unsafe { snapshot(dir) } {
        None => Next::Real,
        Some(s) => match s.next_entry() {
            Some(e) => Next::Entry(e),
            None => Next::End(s.err),
        },
    }
}

macro_rules! readdir_hook {
    ($name:ident, $ent:ty) => {
        /// Faked: the stream's next entry in byte-wise name order (see the module docs).
        ///
        /// # Safety
        /// `dir` must be an open directory stream.
        #[no_mangle]
        pub unsafe extern "C" fn $name(dir: *mut DIR) -> *mut $ent {
            count(Id::$name);
            // SAFETY: caller's contract.
            match unsafe { next(dir) } {
                Next::Entry(e) => e.cast(),
                Next::End(err) => {
                    if err != 0 {
                        set_errno(err);
                    }
                    core::ptr::null_mut()
                }
                Next::Real => match real::$name() {
                    // SAFETY: forwarding the caller's arguments.
                    Some(f) => unsafe { f(dir) },
                    None => core::ptr::null_mut(),
                },
            }
        }
    };
}

readdir_hook!(readdir, dirent);
readdir_hook!(readdir64, dirent64);

macro_rules! readdir_r_hook {
    ($name:ident, $ent:ty) => {
        /// Faked: copies the stream's next entry in byte-wise order into `entry`.
        ///
        /// # Safety
        /// `dir` must be an open stream, `entry` a `struct dirent` buffer, `result` writable.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            dir: *mut DIR,
            entry: *mut $ent,
            result: *mut *mut $ent,
        ) -> c_int {
            count(Id::$name);
            // SAFETY: caller's contract.
            match unsafe { next(dir) } {
                Next::Entry(e) => {
                    // SAFETY: e is a record with a NUL-terminated name; entry holds a whole
                    // dirent, so header + name + NUL fit.
                    unsafe {
                        let name = core::ffi::CStr::from_ptr((*e).d_name.as_ptr());
                        let len = dirs::HEADER + name.to_bytes().len() + 1;
                        core::ptr::copy_nonoverlapping(e.cast::<u8>(), entry.cast::<u8>(), len);
                        *result = entry;
                    }
                    0
                }
                Next::End(err) => {
                    // SAFETY: caller's contract.
                    unsafe { *result = core::ptr::null_mut() };
                    err
                }
                Next::Real => match real::$name() {
                    // SAFETY: forwarding the caller's arguments.
                    Some(f) => unsafe { f(dir, entry, result) },
                    None => libc::ENOSYS,
                },
            }
        }
    };
}

readdir_r_hook!(readdir_r, dirent);
readdir_r_hook!(readdir64_r, dirent64);

/// Faked: the position in the snapshot (taken now if the stream has none yet).
///
/// # Safety
/// `dir` must be an open stream.
#[no_mangle]
pub unsafe extern "C" fn telldir(dir: *mut DIR) -> c_long {
    count(Id::telldir);
    // SAFETY: caller's contract.
    if let Some(s) = unsafe { snapshot(dir) } {
        return s.pos as c_long;
    }
    match real::telldir() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(dir) },
        None => set_errno(libc::ENOSYS) as c_long,
    }
}

/// Faked: moves to a position `telldir` returned (past the end means at the end).
///
/// # Safety
/// `dir` must be an open stream.
#[no_mangle]
pub unsafe extern "C" fn seekdir(dir: *mut DIR, pos: c_long) {
    count(Id::seekdir);
    // SAFETY: caller's contract.
    if let Some(s) = unsafe { snapshot(dir) } {
        s.pos = usize::try_from(pos).unwrap_or(0).min(s.count);
        return;
    }
    if let Some(f) = real::seekdir() {
        // SAFETY: forwarding the caller's arguments.
        unsafe { f(dir, pos) }
    }
}

/// Drops the snapshot, then rewinds: the next read snapshots the directory as it is then.
///
/// # Safety
/// `dir` must be an open stream.
#[no_mangle]
pub unsafe extern "C" fn rewinddir(dir: *mut DIR) {
    count(Id::rewinddir);
    forget(dir);
    if let Some(f) = real::rewinddir() {
        // SAFETY: forwarding the caller's arguments.
        unsafe { f(dir) }
    }
}

/// Drops the snapshot (before the address can be reused), then closes.
///
/// # Safety
/// `dir` must be an open stream.
#[no_mangle]
pub unsafe extern "C" fn closedir(dir: *mut DIR) -> c_int {
    count(Id::closedir);
    forget(dir);
    match real::closedir() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(dir) },
        None => set_errno(libc::ENOSYS),
    }
}

/// Real, then drops any stale snapshot left under the new stream's address (a stream freed
/// by glibc's internal `closedir`, which these hooks never see).
///
/// # Safety
/// `path` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn opendir(path: *const c_char) -> *mut DIR {
    count(Id::opendir);
    let Some(f) = real::opendir() else {
        set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's arguments.
    let dir = unsafe { f(path) };
    forget(dir);
    dir
}

/// Like [`opendir`].
///
/// # Safety
/// `fd` must be a descriptor the caller owns.
#[no_mangle]
pub unsafe extern "C" fn fdopendir(fd: c_int) -> *mut DIR {
    count(Id::fdopendir);
    let Some(f) = real::fdopendir() else {
        set_errno(libc::ENOSYS);
        return core::ptr::null_mut();
    };
    // SAFETY: forwarding the caller's arguments.
    let dir = unsafe { f(fd) };
    forget(dir);
    dir
}
