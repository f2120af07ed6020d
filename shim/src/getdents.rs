//! Directory order for raw reads: glibc's `getdents64` wrapper and `syscall(SYS_getdents64)`.
//!
//! Faked (switch `dirs`): the first read of a directory descriptor at offset 0 reads the whole
//! directory with the real syscall into a snapshot (its own mapping; the kernel's
//! `linux_dirent64` records are the layout `detbuild_core::dirs` sorts), and every read then
//! returns whole records from it in byte-wise name order, `d_off` numbering positions. A
//! descriptor moved back to offset 0 (`lseek`, or a new directory under the same number) is
//! read again; one moved anywhere else is left to the kernel.
//!
//! Snapshots live in a fixed table of [`SLOTS`] descriptors claimed with compare-and-swap
//! (no lock), each keyed by descriptor number, device and inode; a slot is reused when its
//! number is. Real: programs whose `dirs` switch is off, more than [`SLOTS`] descriptors at
//! once, duplicates of a descriptor (they share the kernel's offset, which stands at the end),
//! `getdents` (the old layout) and inline syscalls.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{real, state, sys};
use core::ffi::{c_int, c_long, c_void};
use core::sync::atomic::{AtomicI32, AtomicPtr, Ordering};

/// Descriptors that can have a snapshot at once.
pub const SLOTS: usize = 64;
use crate::dirsnap::RECORDS;

#[repr(C)]
struct Snap {
    map_len: usize,
    dev: u64,
    ino: u64,
    /// The kernel's offset after the snapshot was read (the end of the directory).
    end_offset: i64,
    count: usize,
    pos: usize,
    index: usize,
}

const _: () = assert!(core::mem::size_of::<Snap>() <= RECORDS);

struct Slot {
    fd: AtomicI32,
    snap: AtomicPtr<Snap>,
}

static TABLE: [Slot; SLOTS] = [const {
    Slot {
        fd: AtomicI32::new(-1),
        snap: AtomicPtr::new(core::ptr::null_mut()),
    }
}; SLOTS];

fn raw_getdents(fd: c_int, buf: *mut u8, len: usize) -> isize {
    // SAFETY: the kernel writes at most `len` bytes at `buf`.
    unsafe {
        sys::syscall6(
            libc::SYS_getdents64,
            fd as usize,
            buf as usize,
            len,
            0,
            0,
            0,
        )
    }
}

/// Reads the whole directory `fd` (at offset 0) into a sorted snapshot.
fn build(fd: c_int, st: &libc::stat) -> Option<*mut Snap> {
    let mut len = 64 * 1024;
    let mut map = sys::mmap_anon(len)?;
    let mut end = 0;
    loop {
        if len - RECORDS - end < 32 * 1024 {
            // SAFETY: map..map+len is ours; nothing points into it yet.
            match unsafe { sys::mremap(map, len, len * 2) } {
                Some(m) => (map, len) = (m, len * 2),
                None => {
                    // SAFETY: as above.
                    unsafe { sys::munmap(map, len) };
                    return None;
                }
            }
        }
        // SAFETY: the range lies inside the mapping.
        let n = raw_getdents(fd, unsafe { map.add(RECORDS + end) }, len - RECORDS - end);
        if n < 0 {
            // SAFETY: as above.
            unsafe { sys::munmap(map, len) };
            return None;
        }
        if n == 0 {
            break;
        }
        end += n as usize;
    }
    // SAFETY: map..map+len is ours, with `end` bytes of records at RECORDS.
    let (map, len, index_at, n) = unsafe { crate::dirsnap::sort_records(map, len, end, 0) }?;
    let snap = map.cast::<Snap>();
    // SAFETY: the header fits before RECORDS in the page-aligned mapping.
    unsafe {
        snap.write(Snap {
            map_len: len,
            dev: st.st_dev,
            ino: st.st_ino,
            end_offset: sys::lseek(fd, 0, libc::SEEK_CUR) as i64,
            count: n,
            pos: 0,
            index: index_at,
        })
    };
    Some(snap)
}

/// Copies whole records from the snapshot into `buf`; the bytes written (0 at the end), or
/// `-EINVAL` when the next record does not fit.
fn serve(s: &mut Snap, buf: *mut u8, len: usize) -> isize {
    let base = (s as *mut Snap).cast::<u8>();
    let mut written = 0;
    while s.pos < s.count {
        // SAFETY: the index has `count` entries, each the offset of a record in the mapping.
        let rec =
            unsafe { base.add(RECORDS + *base.add(s.index).cast::<u32>().add(s.pos) as usize) };
        // SAFETY: each record starts with its header; d_reclen is at byte 16.
        let reclen = unsafe { u16::from_ne_bytes([*rec.add(16), *rec.add(17)]) } as usize;
        if written + reclen > len {
            break;
        }
        // SAFETY: the record lies in the mapping; buf has room (checked above).
        unsafe { core::ptr::copy_nonoverlapping(rec, buf.add(written), reclen) };
        written += reclen;
        s.pos += 1;
    }
    if written == 0 && s.pos < s.count {
        return -(libc::EINVAL as isize);
    }
    written as isize
}

fn slot_of(fd: c_int) -> Option<&'static Slot> {
    TABLE.iter().find(|s| s.fd.load(Ordering::Acquire) == fd)
}

fn drop_slot(slot: &Slot) {
    let old = slot.snap.swap(core::ptr::null_mut(), Ordering::AcqRel);
    slot.fd.store(-1, Ordering::Release);
    if !old.is_null() {
        // SAFETY: the snapshot was ours and is no longer reachable.
        unsafe { sys::munmap(old.cast(), (*old).map_len) };
    }
}

/// The faked read, as the kernel returns it (bytes or `-errno`); `None` to ask the kernel.
fn read_sorted(fd: c_int, buf: *mut u8, len: usize) -> Option<isize> {
    if !state::dirs() || buf.is_null() {
        return None;
    }
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    if sys::fstat(fd, &mut st) != 0 || st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return None;
    }
    let cur = sys::lseek(fd, 0, libc::SEEK_CUR) as i64;
    if let Some(slot) = slot_of(fd) {
        let p = slot.snap.load(Ordering::Acquire);
        // SAFETY: a non-null snapshot in our slot is live and used only for this fd.
        let same = !p.is_null() && unsafe { (*p).dev == st.st_dev && (*p).ino == st.st_ino };
        // SAFETY: as above.
        if same && cur == unsafe { (*p).end_offset } {
            // SAFETY: as above.
            return Some(serve(unsafe { &mut *p }, buf, len));
        }
        drop_slot(slot);
    }
    if cur != 0 {
        return None;
    }
    let slot = TABLE.iter().find(|s| {
        s.fd.compare_exchange(-1, fd, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    })?;
    let Some(snap) = build(fd, &st) else {
        slot.fd.store(-1, Ordering::Release);
        sys::lseek(fd, 0, libc::SEEK_SET);
        return None;
    };
    slot.snap.store(snap, Ordering::Release);
    // SAFETY: just built, ours.
    Some(serve(unsafe { &mut *snap }, buf, len))
}

/// Faked: whole records in byte-wise name order (see the module docs).
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn getdents64(fd: c_int, buf: *mut c_void, len: usize) -> isize {
    count(Id::getdents64);
    match read_sorted(fd, buf.cast(), len) {
        Some(n) if n < 0 => set_errno(-n as c_int) as isize,
        Some(n) => n,
        None => match real::getdents64() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(fd, buf, len) },
            None => set_errno(libc::ENOSYS) as isize,
        },
    }
}

/// `syscall(SYS_getdents64, fd, buf, len)`: like [`getdents64`].
///
/// # Safety
/// The arguments must be valid for the syscall.
pub unsafe fn raw(fd: c_long, buf: c_long, len: c_long) -> c_long {
    match read_sorted(fd as c_int, buf as *mut u8, len as usize) {
        Some(n) if n < 0 => set_errno(-n as c_int) as c_long,
        Some(n) => n as c_long,
        // SAFETY: forwarding the caller's arguments.
        None => unsafe { crate::syscall::forward(libc::SYS_getdents64, fd, buf, len, 0, 0, 0) },
    }
}
