//! Directory snapshots: a stream read whole into its own anonymous mapping and ordered by
//! name (layout and order in `detbuild_core::dirs`), for the `readdir` hooks (`dir.rs`), the
//! tree walkers (`ftw.rs`, through [`Listing`]) and raw reads (`getdents.rs`, through
//! [`sort_records`]). No `malloc`: `mmap` and `mremap` only, freed with `munmap`.

use crate::clock::{errno, set_errno};
use crate::{real, sys};
use core::ffi::c_int;
use detbuild_core::dirs;
use libc::{dirent64, DIR};

/// Where the records start in a snapshot's mapping (after the header).
pub const RECORDS: usize = 64;
/// A snapshot mapping's first size.
const FIRST_MAP: usize = 64 * 1024;

/// A snapshot's header, at the start of its mapping.
#[repr(C)]
pub struct Snap {
    pub map_len: usize,
    /// Records in the order.
    pub count: usize,
    /// The next position to hand out.
    pub pos: usize,
    /// Byte offset of the order (`u32` record offsets) from the mapping's start.
    pub index: usize,
    /// The errno of a read error that ended the snapshot, or 0.
    pub err: c_int,
}

const _: () = assert!(core::mem::size_of::<Snap>() <= RECORDS);

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
pub unsafe fn build(dir: *mut DIR) -> Option<*mut Snap> {
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

impl Snap {
    /// The next record in the order, or `None` at the end.
    pub fn next_entry(&mut self) -> Option<*mut dirent64> {
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
    pub unsafe fn free(snap: *mut Snap) {
        // SAFETY: caller's contract; the mapping is `map_len` bytes from `snap`.
        unsafe { sys::munmap(snap.cast(), (*snap).map_len) };
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
        unsafe { (*self.snap).next_entry() }.map(|e| e.cast_const())
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
