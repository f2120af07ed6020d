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
use crate::hooks::{count, Id};
use crate::{real, state, sys};
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
/// Where the records start in a snapshot's mapping (after the header).
pub const RECORDS: usize = 64;
/// A snapshot mapping's first size.
const FIRST_MAP: usize = 64 * 1024;

/// A snapshot's header, at the start of its mapping.
#[repr(C)]
struct Snap {
    map_len: usize,
    /// Records in the order.
    count: usize,
    /// The next position to hand out.
    pos: usize,
    /// Byte offset of the order (`u32` record offsets) from the mapping's start.
    index: usize,
    /// The errno of a read error that ended the snapshot, or 0.
    err: c_int,
}

const _: () = assert!(core::mem::size_of::<Snap>() <= RECORDS);

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

/// Grows a mapping to at least `need` bytes; `None` (and the mapping unmapped) on failure.
///
/// # Safety
/// `map..map+*len` is a mapping owned by the caller.
unsafe fn grow(map: *mut u8, len: &mut usize, need: usize) -> Option<*mut u8> {
    if need <= *len {
        return Some(map);
    }
    let new = need.max(len.saturating_mul(2));
    // SAFETY: caller's contract.
    match unsafe { sys::mremap(map, *len, new) } {
        Some(p) => {
            *len = new;
            Some(p)
        }
        None => {
            // SAFETY: caller's contract; the mapping is abandoned.
            unsafe { sys::munmap(map, *len) };
            None
        }
    }
}

/// Rewinds `dir` for real after a failed snapshot, so the real reads that follow list every
/// entry.
fn rewind(dir: *mut DIR) {
    if let Some(f) = real::rewinddir() {
        // SAFETY: `dir` is an open stream (the callers' contract).
        unsafe { f(dir) };
    }
}

/// Reads the rest of `dir` into a new sorted snapshot.
///
/// # Safety
/// `dir` is an open stream.
unsafe fn build(dir: *mut DIR) -> Option<*mut Snap> {
    let read = real::readdir64()?;
    let mut len = FIRST_MAP;
    let mut map = sys::mmap_anon(len)?;
    let mut end = 0usize;
    let err = loop {
        set_errno(0);
        // SAFETY: dir is an open stream (caller's contract).
        let e = unsafe { read(dir) };
        if e.is_null() {
            break errno();
        }
        // SAFETY: readdir64 returned a valid entry with a NUL-terminated name.
        let (ino, kind, name) = unsafe {
            let e = &*e;
            let name = core::ffi::CStr::from_ptr(e.d_name.as_ptr());
            (e.d_ino, e.d_type, name.to_bytes())
        };
        let need = RECORDS + end + dirs::record_len(name.len()) + dirs::DIRENT_SIZE;
        // SAFETY: map..map+len is ours.
        let Some(m) = (unsafe { grow(map, &mut len, need) }) else {
            rewind(dir);
            return None;
        };
        map = m;
        // SAFETY: `need` bytes are mapped, so this range lies inside the mapping.
        let out =
            unsafe { core::slice::from_raw_parts_mut(map.add(RECORDS + end), len - RECORDS - end) };
        end += dirs::put(out, ino, kind, name).unwrap_or(0);
    };
    // SAFETY: map..map+len is ours, with `end` bytes of records at RECORDS.
    let Some((map, len, index_at, n)) = (unsafe { sort_records(map, len, end, dirs::DIRENT_SIZE) })
    else {
        rewind(dir);
        return None;
    };
    let snap = map.cast::<Snap>();
    // SAFETY: the header fits before RECORDS and the mapping is page-aligned.
    unsafe {
        snap.write(Snap {
            map_len: len,
            count: n,
            pos: 0,
            index: index_at,
            err,
        })
    };
    Some(snap)
}

/// Orders a snapshot: writes the order of the `end` bytes of records at `map + RECORDS` (a
/// `u32` offset each) after them and `pad` bytes more, growing the mapping if needed, sorts
/// it and numbers the records. Returns the mapping, its length, where the order starts and
/// how many records there are; `None` (the mapping unmapped) when it cannot grow. Shared
/// with `getdents.rs`, whose kernel records have the same layout.
///
/// # Safety
/// `map..map+len` is a mapping owned by the caller, holding the records at [`RECORDS`].
pub unsafe fn sort_records(
    map: *mut u8,
    mut len: usize,
    end: usize,
    pad: usize,
) -> Option<(*mut u8, usize, usize, usize)> {
    let index_at = (RECORDS + end + pad + 3) & !3;
    let most = end / dirs::record_len(1);
    // SAFETY: caller's contract.
    let map = unsafe { grow(map, &mut len, index_at + most * 4) }?;
    // SAFETY: both ranges lie inside the mapping and do not overlap; the index is 4-aligned.
    let (records, index) = unsafe {
        (
            core::slice::from_raw_parts_mut(map.add(RECORDS), end),
            core::slice::from_raw_parts_mut(map.add(index_at).cast::<u32>(), most),
        )
    };
    let n = dirs::scan(records, end, index);
    dirs::sort(records, &mut index[..n]);
    dirs::number(records, &index[..n]);
    Some((map, len, index_at, n))
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

impl Snap {
    /// The next record in the order, or `None` at the end.
    fn next(&mut self) -> Option<*mut dirent64> {
        if self.pos >= self.count {
            return None;
        }
        let base = (self as *mut Snap).cast::<u8>();
        // SAFETY: the index has `count` entries, each the offset of a record in the mapping.
        let at = unsafe { *base.add(self.index).cast::<u32>().add(self.pos) };
        self.pos += 1;
        // SAFETY: see above.
        Some(unsafe { base.add(RECORDS + at as usize) }.cast())
    }

    /// Unmaps the snapshot.
    ///
    /// # Safety
    /// Nothing refers to the snapshot any more.
    unsafe fn free(snap: *mut Snap) {
        // SAFETY: caller's contract; the mapping is `map_len` bytes from `snap`.
        unsafe { sys::munmap(snap.cast(), (*snap).map_len) };
    }
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
        Some(s) => match s.next() {
            Some(e) => Next::Entry(e),
            None => Next::End(s.err),
        },
    }
}

/// A directory read whole, in byte-wise order, for the walkers (`ftw.rs`): not entered in
/// the side table; closed (stream and descriptor) when dropped.
pub struct Listing {
    dir: *mut DIR,
    fd: c_int,
    snap: *mut Snap,
}

impl Listing {
    /// Reads the directory open as `fd`, which the listing then owns. `None` (with `fd`
    /// closed and errno set) when no stream can be made; when no snapshot can be mapped the
    /// entries come in the filesystem's order.
    pub fn open(fd: c_int) -> Option<Listing> {
        let dir = match real::fdopendir() {
            // SAFETY: fd is an open descriptor the caller hands over.
            Some(f) => unsafe { f(fd) },
            None => {
                set_errno(libc::ENOSYS);
                core::ptr::null_mut()
            }
        };
        if dir.is_null() {
            let e = errno();
            sys::close(fd);
            set_errno(e);
            return None;
        }
        let saved = errno();
        // SAFETY: dir is the stream just opened.
        let snap = unsafe { build(dir) }.unwrap_or(core::ptr::null_mut());
        set_errno(saved);
        Some(Listing { dir, fd, snap })
    }

    /// The directory's descriptor.
    pub fn fd(&self) -> c_int {
        self.fd
    }

    /// The next entry, or `None` at the end.
    pub fn entry(&mut self) -> Option<*const dirent64> {
        if self.snap.is_null() {
            // SAFETY: dir is our open stream.
            let e = real::readdir64().map_or(core::ptr::null_mut(), |f| unsafe { f(self.dir) });
            return (!e.is_null()).then_some(e.cast_const());
        }
        // SAFETY: a non-null snap is ours until drop.
        unsafe { (*self.snap).next() }.map(|e| e.cast_const())
    }
}

impl Drop for Listing {
    fn drop(&mut self) {
        let saved = errno();
        if !self.snap.is_null() {
            // SAFETY: the snapshot is ours and no entry of it is used after the listing.
            unsafe { Snap::free(self.snap) };
        }
        if let Some(f) = real::closedir() {
            // SAFETY: dir is our open stream.
            unsafe { f(self.dir) };
        }
        set_errno(saved);
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
