//! File-status hooks: the `stat` family, for programs whose policy rewrites what it reports.
//!
//! Rewritten, only for programs whose `mtime` switch is on (archivers and image makers by
//! default, `detbuild_core::policy::DEFAULTS`), whose `inodes` switch is on (the archivers
//! that record inode numbers) or whose `owner` switch is on (none by default):
//! - `mtime`: atime, mtime, ctime (and `statx`'s birth time) read `min(real, epoch)`
//!   (`detbuild_core::clamp::clamp`), so an archive of files made during the build records the
//!   epoch for them, as `tar --clamp-mtime --mtime=@$SOURCE_DATE_EPOCH` would;
//! - `owner`: uid and gid read 0, so archivers write `root` (they look the names up with
//!   `getpwuid(0)`), as `tar --owner=0 --group=0` would;
//! - `inodes`: device and inode read their first-sight numbers ([`crate::inodes`],
//!   `detbuild_core::inodes`): consistent within the process, so hard links stay hard links,
//!   and the same for the same walk of the same tree wherever it sits. `st_rdev` (a device
//!   file's own number) and `d_ino` in directory listings stay real.
//!
//! Hooked: `stat`, `lstat`, `fstat`, `fstatat`, `statx`, their `*64` names, and the
//! `__xstat`, `__lxstat`, `__fxstat`, `__fxstatat` (+ `64`) entry points that programs built
//! against glibc before 2.33 import (mtools and libisofs on Debian 12 still do). On the 64-bit
//! targets the shim builds for, `struct stat64` is `struct stat` and each `*64` name is an
//! alias of the plain one in glibc, so the `*64` hooks forward to the plain name's real
//! function (one lookup per pair).
//!
//! Every program: `fstat` (and `AT_EMPTY_PATH`) of a provided text file (`/etc/hostname`,
//! `/proc/cpuinfo`...: a memfd, `vfs.rs`) reports the device and inode of the real file it
//! stands for, so `cp` of it does not fail with "replaced while being copied".
//!
//! Real: everything else for other programs (one policy check, then the real call), every other
//! field, and every failed call (errno untouched). When the real function cannot be looked up
//! (a `stat` inside `dlsym`'s own allocation), the system call answers instead. Calls inside libc (`fts`, `glob`) and
//! raw `syscall(SYS_statx)` are not seen; `nftw` and `ftw`, which the shim walks itself
//! (`ftw.rs`), give their callback what these hooks would report ([`rewrite`]).
//!
//! Invariants: clamping is idempotent and the same in every process, so two `stat`s of an
//! unchanged file agree (tar's "file changed as we read it" check keeps working); nothing here
//! allocates, locks or calls another hooked function.

use crate::hooks::{count, Id};
use crate::{real, state, sys};
use core::ffi::{c_char, c_int, c_uint};
use detbuild_core::clamp::{clamp, FileTime};
use detbuild_core::policy::Source;

type Stat = libc::stat;
type Stat64 = libc::stat64;
type Statx = libc::statx;

// The `*64` hooks hand their buffer to the plain function (see the module docs).
const _: () = assert!(core::mem::size_of::<Stat>() == core::mem::size_of::<Stat64>());
const _: () = assert!(core::mem::align_of::<Stat>() == core::mem::align_of::<Stat64>());

/// What to rewrite for this program, if anything.
#[derive(Clone, Copy)]
struct View {
    /// The epoch, when times are clamped.
    clamp: Option<i64>,
    /// Whether uid and gid read 0.
    root: bool,
    /// Whether device and inode numbers are renumbered.
    inodes: bool,
}

#[inline]
fn view() -> Option<View> {
    let p = state::files()?;
    Some(View {
        clamp: p.policy.fakes(Source::Mtime).then_some(p.epoch),
        root: p.policy.fakes(Source::Owner),
        inodes: p.policy.fakes(Source::Inodes),
    })
}

/// Clamps one `(seconds, nanoseconds)` pair in place.
#[inline]
fn clamp_pair(sec: &mut i64, nsec: &mut i64, epoch: i64) {
    let t = clamp(
        FileTime {
            sec: *sec,
            nsec: *nsec,
        },
        epoch,
    );
    *sec = t.sec;
    *nsec = t.nsec;
}

/// Rewrites a filled `struct stat` per `v`.
fn fix(st: &mut Stat, v: View) {
    if let Some(epoch) = v.clamp {
        clamp_pair(&mut st.st_atime, &mut st.st_atime_nsec, epoch);
        clamp_pair(&mut st.st_mtime, &mut st.st_mtime_nsec, epoch);
        clamp_pair(&mut st.st_ctime, &mut st.st_ctime_nsec, epoch);
    }
    if v.root {
        st.st_uid = 0;
        st.st_gid = 0;
    }
    if v.inodes {
        if let Some((dev, ino)) = crate::inodes::renumber(st.st_dev, st.st_ino) {
            st.st_dev = dev;
            st.st_ino = ino;
        }
    }
}

/// Rewrites a `struct stat` the shim filled itself (`nftw`'s walk) as this program's `stat`
/// hooks would.
pub fn rewrite(st: &mut Stat) {
    if let Some(v) = view() {
        fix(st, v);
    }
}

/// Rewrites a filled `struct statx` per `v` (only the fields its mask says were filled).
fn fix_statx(st: &mut Statx, v: View) {
    if let Some(epoch) = v.clamp {
        for (bit, ts) in [
            (libc::STATX_ATIME, &mut st.stx_atime),
            (libc::STATX_MTIME, &mut st.stx_mtime),
            (libc::STATX_CTIME, &mut st.stx_ctime),
            (libc::STATX_BTIME, &mut st.stx_btime),
        ] {
            if st.stx_mask & bit != 0 {
                let mut nsec = i64::from(ts.tv_nsec);
                clamp_pair(&mut ts.tv_sec, &mut nsec, epoch);
                ts.tv_nsec = nsec as u32;
            }
        }
    }
    if v.root {
        if st.stx_mask & libc::STATX_UID != 0 {
            st.stx_uid = 0;
        }
        if st.stx_mask & libc::STATX_GID != 0 {
            st.stx_gid = 0;
        }
    }
    if v.inodes && st.stx_mask & libc::STATX_INO != 0 {
        let dev = libc::makedev(st.stx_dev_major, st.stx_dev_minor);
        if let Some((dev, ino)) = crate::inodes::renumber(dev, st.stx_ino) {
            st.stx_dev_major = libc::major(dev);
            st.stx_dev_minor = libc::minor(dev);
            st.stx_ino = ino;
        }
    }
}

/// After a real call that returned `r` into `buf`: rewrites `buf` when the call succeeded and
/// this program's policy asks.
#[inline]
fn after(r: c_int, buf: *mut Stat) -> c_int {
    if r == 0 && !buf.is_null() {
        if let Some(v) = view() {
            // SAFETY: the real call succeeded, so `buf` points to a filled `struct stat`.
            fix(unsafe { &mut *buf }, v);
        }
    }
    r
}

/// Whether `(dirfd, path)` names the descriptor itself (`fstat`, `AT_EMPTY_PATH`) and that
/// descriptor is a provided text file (`vfs.rs`): then the device and inode of the real file it
/// stands for, given the memfd's inode `ino`.
#[inline]
fn provided(dirfd: c_int, path: *const c_char, ino: u64) -> Option<(u64, u64)> {
    if dirfd < 0 || crate::fd::kind(dirfd) != crate::fd::Kind::Text {
        return None;
    }
    // SAFETY: a non-null path is NUL-terminated by the caller's contract.
    if !path.is_null() && unsafe { *path } != 0 {
        return None;
    }
    crate::fd::text_identity(dirfd, ino)
}

/// After a successful real call into `buf`: a provided text file reports the real file's
/// device and inode (every program: `cp` compares them with its `stat` of the path).
#[inline]
fn identity(r: c_int, dirfd: c_int, path: *const c_char, buf: *mut Stat) -> c_int {
    if r == 0 && !buf.is_null() {
        // SAFETY: the real call succeeded, so `buf` points to a filled `struct stat`.
        let st = unsafe { &mut *buf };
        if let Some((dev, ino)) = provided(dirfd, path, st.st_ino) {
            st.st_dev = dev;
            st.st_ino = ino;
        }
    }
    r
}

/// A raw system call's result in the C convention (-1 and errno on failure).
fn c_result(r: isize) -> c_int {
    if r < 0 {
        crate::clock::set_errno(-r as c_int)
    } else {
        0
    }
}

/// Defines a hook that calls the real `$real` with the same arguments, or, when it cannot be
/// looked up (a lookup nested in `dlsym`'s own allocation), the system call
/// `fstatat($raw)`; then [`after`].
macro_rules! stat_hook {
    ($name:ident => $real:ident ( $($arg:ident : $ty:ty),* ; $buf:ident : $bt:ty $(; $flag:ident : $ft:ty)? ) raw ($dirfd:expr, $path:expr, $flags:expr)) => {
        #[doc = concat!("`", stringify!($name), "`: the real `", stringify!($real), "`, then the policy's rewrite.")]
        #[no_mangle]
        pub unsafe extern "C" fn $name($($arg: $ty,)* $buf: *mut $bt $(, $flag: $ft)?) -> c_int {
            count(Id::$name);
            let r = match real::$real() {
                // SAFETY: forwarding the caller's arguments; `$bt` has the layout of the real
                // function's buffer type (the same type, or `stat64` == `stat`, asserted above).
                Some(f) => unsafe { f($($arg,)* $buf.cast() $(, $flag)?) },
                // SAFETY: the caller's path and buffer, as the real function would pass them.
                None => c_result(unsafe { sys::fstatat($dirfd, $path.cast(), $buf.cast(), $flags) }),
            };
            after(identity(r, $dirfd, $path.cast(), $buf.cast()), $buf.cast())
        }
    };
}

const CWD: c_int = libc::AT_FDCWD;
const NOFOLLOW: c_int = libc::AT_SYMLINK_NOFOLLOW;
const EMPTY: *const c_char = c"".as_ptr();
const BY_FD: c_int = libc::AT_EMPTY_PATH;

stat_hook!(stat => stat(path: *const c_char; buf: Stat) raw(CWD, path, 0));
stat_hook!(stat64 => stat(path: *const c_char; buf: Stat64) raw(CWD, path, 0));
stat_hook!(lstat => lstat(path: *const c_char; buf: Stat) raw(CWD, path, NOFOLLOW));
stat_hook!(lstat64 => lstat(path: *const c_char; buf: Stat64) raw(CWD, path, NOFOLLOW));
stat_hook!(fstat => fstat(fd: c_int; buf: Stat) raw(fd, EMPTY, BY_FD));
stat_hook!(fstat64 => fstat(fd: c_int; buf: Stat64) raw(fd, EMPTY, BY_FD));
stat_hook!(fstatat => fstatat(dirfd: c_int, path: *const c_char; buf: Stat; flags: c_int) raw(dirfd, path, flags));
stat_hook!(fstatat64 => fstatat(dirfd: c_int, path: *const c_char; buf: Stat64; flags: c_int) raw(dirfd, path, flags));
stat_hook!(__xstat => __xstat(ver: c_int, path: *const c_char; buf: Stat) raw(CWD, path, 0));
stat_hook!(__xstat64 => __xstat(ver: c_int, path: *const c_char; buf: Stat64) raw(CWD, path, 0));
stat_hook!(__lxstat => __lxstat(ver: c_int, path: *const c_char; buf: Stat) raw(CWD, path, NOFOLLOW));
stat_hook!(__lxstat64 => __lxstat(ver: c_int, path: *const c_char; buf: Stat64) raw(CWD, path, NOFOLLOW));
stat_hook!(__fxstat => __fxstat(ver: c_int, fd: c_int; buf: Stat) raw(fd, EMPTY, BY_FD));
stat_hook!(__fxstat64 => __fxstat(ver: c_int, fd: c_int; buf: Stat64) raw(fd, EMPTY, BY_FD));
stat_hook!(__fxstatat => __fxstatat(ver: c_int, dirfd: c_int, path: *const c_char; buf: Stat; flags: c_int) raw(dirfd, path, flags));
stat_hook!(__fxstatat64 => __fxstatat(ver: c_int, dirfd: c_int, path: *const c_char; buf: Stat64; flags: c_int) raw(dirfd, path, flags));

/// `statx`: the real one, then the policy's rewrite of the fields the kernel filled.
#[no_mangle]
pub unsafe extern "C" fn statx(
    dirfd: c_int,
    path: *const c_char,
    flags: c_int,
    mask: c_uint,
    buf: *mut Statx,
) -> c_int {
    count(Id::statx);
    let r = match real::statx() {
        // SAFETY: forwarding the caller's arguments to the real function.
        Some(f) => unsafe { f(dirfd, path, flags, mask, buf) },
        // SAFETY: as above, to the system call.
        None => c_result(unsafe { sys::statx(dirfd, path.cast(), flags, mask, buf) }),
    };
    if r == 0 && !buf.is_null() {
        // SAFETY: the real call succeeded, so `buf` points to a filled `struct statx`.
        let st = unsafe { &mut *buf };
        if let Some((dev, ino)) = provided(dirfd, path, st.stx_ino) {
            st.stx_dev_major = libc::major(dev);
            st.stx_dev_minor = libc::minor(dev);
            st.stx_ino = ino;
        }
        if let Some(v) = view() {
            fix_statx(st, v);
        }
    }
    r
}
