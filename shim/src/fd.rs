//! The descriptor table: every descriptor the shim fakes, and the hooks that keep the table
//! true: `read`, `close`, `dup`, `dup2`, `dup3`, `fcntl`/`fcntl64` (`F_DUPFD`,
//! `F_DUPFD_CLOEXEC`), `close_range` and `closefrom`.
//!
//! Kinds: a random device opened through a virtual file (its stream key and the memfd's inode;
//! `read` serves the stream at the descriptor's offset, see `vfs.rs`), a provided text file
//! (`/etc/hostname` & co: the memfd's inode and the device and inode of the real file it stands
//! for, which `fstat` reports, see `stat.rs`), and a timer descriptor on a faked clock (`timer.rs` translates its absolute deadlines). A duplicate gets its
//! source's entry (the two share one open file description, hence one offset); a close
//! forgets the entry before the real close, so a racing open that reuses the number is never
//! forgotten by mistake.
//!
//! Exec: the table starts empty in every new program; a random device inherited as standard
//! input is adopted at start-up (`vfs::adopt_stdin`), any other inherited descriptor is a
//! plain file to the new program. Fork: the child inherits descriptors and the table alike.
//!
//! The host root's descriptor a process inside a chroot carries (`chroot.rs`) is kept open:
//! `close` of it fails with `EBADF` (natively the program has no such descriptor),
//! `close_range` and `closefrom` leave it, `dup2`/`dup3` onto its number move it first.
//!
//! Invariants: fixed-size arrays of atomics (no allocation, no lock: safe in signal handlers
//! and forked children); descriptors at or past [`SLOTS`] are never faked; a random entry is
//! checked against the descriptor's inode before it is served, so an entry left stale by a
//! close that bypassed the hooks (`fclose`, a raw syscall) never turns a real file into
//! random bytes.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{chroot, real, sys, vfs};
use core::ffi::{c_int, c_uint, c_ulong, c_void};
use core::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use detbuild_core::key::Key;

/// Descriptors below this number can be faked.
pub const SLOTS: usize = 1024;

/// What a descriptor is to the shim.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u8)]
pub enum Kind {
    /// Not faked.
    Plain = 0,
    /// A random device: reads come from the entry's stream.
    Random = 1,
    /// A timer descriptor on a faked clock.
    Timer = 2,
    /// A provided text file standing for a real one.
    Text = 3,
}

struct Entry {
    kind: AtomicU8,
    ino: AtomicU64,
    key: [AtomicU64; 4],
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Entry = Entry {
    kind: AtomicU8::new(0),
    ino: AtomicU64::new(0),
    key: [const { AtomicU64::new(0) }; 4],
};
static TABLE: [Entry; SLOTS] = [EMPTY; SLOTS];

fn entry(fd: c_int) -> Option<&'static Entry> {
    TABLE.get(usize::try_from(fd).ok()?)
}

/// The kind of `fd`.
#[inline]
pub fn kind(fd: c_int) -> Kind {
    match entry(fd).map(|e| e.kind.load(Ordering::Acquire)) {
        Some(1) => Kind::Random,
        Some(2) => Kind::Timer,
        Some(3) => Kind::Text,
        _ => Kind::Plain,
    }
}

/// Marks `fd` as a timer on a faked clock (`true`) or a plain descriptor.
pub fn set_timer(fd: c_int, faked: bool) {
    if let Some(e) = entry(fd) {
        let k = if faked { Kind::Timer } else { Kind::Plain };
        e.kind.store(k as u8, Ordering::Release);
    }
}

/// Marks `fd` as a random device whose memfd has inode `ino`, streaming `key`.
pub fn set_random(fd: c_int, key: &Key, ino: u64) {
    let Some(e) = entry(fd) else { return };
    for (i, part) in key.chunks_exact(8).enumerate() {
        let mut w = [0u8; 8];
        w.copy_from_slice(part);
        e.key[i].store(u64::from_le_bytes(w), Ordering::Relaxed);
    }
    e.ino.store(ino, Ordering::Relaxed);
    e.kind.store(Kind::Random as u8, Ordering::Release);
}

/// Marks `fd`, a memfd with inode `ino`, as a provided text file standing for the real file
/// `(dev, real_ino)`.
pub fn set_text(fd: c_int, ino: u64, dev: u64, real_ino: u64) {
    let Some(e) = entry(fd) else { return };
    e.key[0].store(dev, Ordering::Relaxed);
    e.key[1].store(real_ino, Ordering::Relaxed);
    e.ino.store(ino, Ordering::Relaxed);
    e.kind.store(Kind::Text as u8, Ordering::Release);
}

/// For a provided text file whose memfd still has inode `ino`: the device and inode of the
/// real file it stands for.
#[inline]
pub fn text_identity(fd: c_int, ino: u64) -> Option<(u64, u64)> {
    let e = entry(fd).filter(|_| kind(fd) == Kind::Text)?;
    (e.ino.load(Ordering::Relaxed) == ino).then(|| {
        (
            e.key[0].load(Ordering::Relaxed),
            e.key[1].load(Ordering::Relaxed),
        )
    })
}

/// The stream key and inode of a random device entry.
pub fn random(fd: c_int) -> Option<(Key, u64)> {
    let e = entry(fd).filter(|_| kind(fd) == Kind::Random)?;
    let mut k = [0u8; 32];
    for (i, part) in k.chunks_exact_mut(8).enumerate() {
        part.copy_from_slice(&e.key[i].load(Ordering::Relaxed).to_le_bytes());
    }
    Some((k, e.ino.load(Ordering::Relaxed)))
}

/// Forgets `fd`.
#[inline]
pub fn forget(fd: c_int) {
    if let Some(e) = entry(fd) {
        if e.kind.load(Ordering::Relaxed) != 0 {
            e.kind.store(0, Ordering::Release);
        }
    }
}

/// Gives `to` the entry of `from` (after a successful duplication).
fn copy(from: c_int, to: c_int) {
    let (Some(src), Some(dst)) = (entry(from), entry(to)) else {
        forget(to);
        return;
    };
    for i in 0..4 {
        dst.key[i].store(src.key[i].load(Ordering::Relaxed), Ordering::Relaxed);
    }
    dst.ino
        .store(src.ino.load(Ordering::Relaxed), Ordering::Relaxed);
    dst.kind
        .store(src.kind.load(Ordering::Acquire), Ordering::Release);
}

/// A raw syscall's result in the C convention.
fn c_result(r: isize) -> c_int {
    if r < 0 {
        set_errno(-r as c_int)
    } else {
        r as c_int
    }
}

/// `read`: a random device reads its stream at the current offset, any length; every other
/// descriptor costs one bounds check and one load before the real `read`.
///
/// # Safety
/// `buf` must point to `len` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn read(fd: c_int, buf: *mut c_void, len: usize) -> isize {
    count(Id::read);
    if kind(fd) == Kind::Random {
        if let Some(n) = vfs::read_random(fd, buf, len) {
            return n;
        }
    }
    match real::read() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(fd, buf, len) },
        None => {
            // SAFETY: caller's contract.
            let r =
                unsafe { sys::syscall6(libc::SYS_read, fd as usize, buf as usize, len, 0, 0, 0) };
            if r < 0 {
                set_errno(-r as c_int) as isize
            } else {
                r
            }
        }
    }
}

/// `close`: forgets the entry, then closes for real.
#[no_mangle]
pub extern "C" fn close(fd: c_int) -> c_int {
    count(Id::close);
    if chroot::carried(fd) {
        return set_errno(libc::EBADF);
    }
    forget(fd);
    match real::close() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(fd) },
        None => c_result(sys::close(fd)),
    }
}

/// A descriptor syscall with plain integer arguments, in the C convention. `dup`, `dup2`,
/// `dup3` and `close_range` are exactly this in glibc (no cancellation point, no
/// translation), so the hooks need no symbol lookup: they are safe in signal handlers and
/// vfork children from the first call, at no cost to process start.
fn fd_syscall(n: libc::c_long, a: usize, b: usize, c: usize) -> c_int {
    // SAFETY: descriptor syscalls with integer arguments touch no memory of ours.
    c_result(unsafe { sys::syscall6(n, a, b, c, 0, 0, 0) })
}

/// `dup`: the new descriptor gets the old one's entry.
#[no_mangle]
pub extern "C" fn dup(fd: c_int) -> c_int {
    count(Id::dup);
    let r = fd_syscall(libc::SYS_dup, fd as usize, 0, 0);
    if r >= 0 {
        copy(fd, r);
    }
    r
}

/// `dup2`: `new` gets `old`'s entry (the real call closed whatever `new` was).
#[no_mangle]
pub extern "C" fn dup2(old: c_int, new: c_int) -> c_int {
    count(Id::dup2);
    if old != new {
        chroot::vacate(new);
    }
    // dup2 of a descriptor onto itself only checks that it is open (there is no dup2 syscall
    // on every architecture; this is glibc's own fallback).
    let r = if old == new {
        fd_syscall(libc::SYS_fcntl, old as usize, libc::F_GETFD as usize, 0).min(0) + old
    } else {
        fd_syscall(libc::SYS_dup3, old as usize, new as usize, 0)
    };
    if r >= 0 && old != new {
        copy(old, r);
    }
    r
}

/// `dup3`: as `dup2`.
#[no_mangle]
pub extern "C" fn dup3(old: c_int, new: c_int, flags: c_int) -> c_int {
    count(Id::dup3);
    chroot::vacate(new);
    let r = fd_syscall(libc::SYS_dup3, old as usize, new as usize, flags as usize);
    if r >= 0 {
        copy(old, r);
    }
    r
}

macro_rules! fcntl_hook {
    ($name:ident) => {
        /// `F_DUPFD` and `F_DUPFD_CLOEXEC` copy the entry; other commands pass through to
        /// libc's `fcntl` (a cancellation point for `F_SETLKW`; `fcntl64` is the same function
        /// on 64-bit targets). The variadic third argument is taken as one machine word,
        /// which is how it is passed (an integer or a pointer) on the supported ABIs.
        #[no_mangle]
        pub extern "C" fn $name(fd: c_int, cmd: c_int, arg: c_ulong) -> c_int {
            count(Id::$name);
            let r = match real::fcntl() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f(fd, cmd, arg) },
                None => return set_errno(libc::ENOSYS),
            };
            if r >= 0 && matches!(cmd, libc::F_DUPFD | libc::F_DUPFD_CLOEXEC) {
                copy(fd, r);
            }
            r
        }
    };
}
fcntl_hook!(fcntl);
fcntl_hook!(fcntl64);

/// Forgets every entry in `first..=last`.
fn forget_range(first: c_uint, last: c_uint) {
    let end = (last as usize).min(SLOTS - 1);
    for fd in first as usize..=end {
        forget(fd as c_int);
    }
}

/// `close_range`: forgets the closed range (nothing for `CLOSE_RANGE_CLOEXEC`, which closes
/// only at exec, when the table goes anyway).
#[no_mangle]
pub extern "C" fn close_range(first: c_uint, last: c_uint, flags: c_int) -> c_int {
    count(Id::close_range);
    if flags as c_uint & libc::CLOSE_RANGE_CLOEXEC == 0 {
        forget_range(first, last);
    }
    let range = |first: c_uint, last: c_uint| {
        fd_syscall(
            libc::SYS_close_range,
            first as usize,
            last as usize,
            flags as usize,
        )
    };
    match chroot::host().map(|fd| fd as c_uint) {
        Some(kept) if (first..=last).contains(&kept) => {
            let below = if kept > first {
                range(first, kept - 1)
            } else {
                0
            };
            let above = if kept < last {
                range(kept + 1, last)
            } else {
                0
            };
            below.min(above)
        }
        _ => range(first, last),
    }
}

/// `closefrom`: forgets every entry from `low` on.
#[no_mangle]
pub extern "C" fn closefrom(low: c_int) {
    count(Id::closefrom);
    forget_range(low.max(0) as c_uint, c_uint::MAX);
    if chroot::host().is_some_and(|fd| fd >= low) {
        close_range(low.max(0) as c_uint, c_uint::MAX, 0);
        return;
    }
    match real::closefrom() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(low) },
        None => {
            close_range(low.max(0) as c_uint, c_uint::MAX, 0);
        }
    }
}
