//! Following a build into a chroot: programs started inside a new root keep the shim and all
//! its settings.
//!
//! The problem: `LD_PRELOAD` names the shim by a path of the root the build started in (the
//! *host root*); inside a new root that path does not exist, so the loader would start every
//! program there without the shim.
//!
//! Mechanism (`detbuild_core::chroot` has the entry formats):
//! - `chroot()`, `syscall(SYS_chroot)` and `syscall(SYS_pivot_root)` (glibc has no wrapper)
//!   first open the host root as a directory descriptor (`O_PATH`, close-on-exec, moved to a
//!   high number, [`HIGH`]); a nested chroot keeps the first one. Forked children inherit it.
//! - Every exec or spawn in a process holding it ([`follow`]) names the shim for the new program
//!   through a non-close-on-exec copy of that descriptor: `/proc/self/fd/N/<host path>` when
//!   that resolves here (the new root has `/proc`), else a hard link or copy of the shim
//!   planted in the new root's `/`, named after `N` and `/`'s modification time. The new
//!   program's constructor ([`adopt`]) takes `N` over (close-on-exec again), and for a plant
//!   unlinks it and puts `/`'s modification time back. An exec that fails removes its plant.
//! - Files of the host root the shim opens by path (the clock handoff table in `/dev/shm`,
//!   the `--report` audit file) are opened relative to that descriptor ([`open_host`]), so
//!   clocks carry on and every process still writes its audit line, nothing is created in
//!   the new root.
//! - When neither works (no `/proc` and a read-only or full root, or no copy allowed), the
//!   shim is left out of the new program's `LD_PRELOAD` (the loader stays quiet), one
//!   warning line goes to stderr per chroot and process, and the audit counts it
//!   (`chroot_unshimmed`); the program runs natively, the build goes on.
//!
//! Plants: made and removed under a `flock` of `/`, and a plant records the time of the
//! oldest plant still there, so programs starting at once (a pipeline) put back the time `/`
//! had before the first of them; directory listings leave them out (`detbuild_core::dirs`).
//! A program the shim cannot reach (static, Go) gets no plant, since it could not remove it.
//!
//! The descriptor is protected: `close` of it fails with `EBADF` as it would natively,
//! `close_range` and `closefrom` skip it, a `dup2`/`dup3` onto it moves it first (`fd.rs`).
//! Limits: a program that closes it by raw syscall loses the shim for the programs it starts
//! later (they run natively, without a warning); `ls /proc/self/fd` shows it; the new root
//! is no confinement (it is none for root anyway); a program started with a plant that does
//! not load the shim (a setuid program run by another user, `AT_SECURE`) leaves the plant,
//! named `/.detbuild-shim.*`. A `vfork` child that calls `chroot` records its descriptor in
//! memory it shares with its parent: the parent's later execs see it is not theirs (the
//! host path still resolves) and are unaffected.

pub mod follow;

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{env, sys};
use core::ffi::{c_char, c_int, c_long};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use detbuild_core::chroot::{parse_entry, Carried};

/// Lowest numbers tried for the carried descriptor, in order (the first that the descriptor
/// limit allows): high, so a program's own descriptors never meet it.
pub const HIGH: [c_int; 3] = [1000, 200, 10];

/// The host root's descriptor in this process, or -1.
static HOST: AtomicI32 = AtomicI32::new(-1);
/// Whether this process warned since its last chroot.
static WARNED: AtomicBool = AtomicBool::new(false);
/// Programs started in a new root without the shim, in this process (for the audit).
pub static UNSHIMMED: AtomicU64 = AtomicU64::new(0);

/// The host root's descriptor, if this process holds one.
#[inline]
pub fn host() -> Option<c_int> {
    Some(HOST.load(Ordering::Relaxed)).filter(|&fd| fd >= 0)
}

/// Whether `fd` is the carried descriptor (`fd.rs` keeps it open).
#[inline]
pub fn carried(fd: c_int) -> bool {
    fd >= 0 && HOST.load(Ordering::Relaxed) == fd
}

fn fcntl(fd: c_int, cmd: c_int, arg: usize) -> isize {
    // SAFETY: fcntl with an integer argument touches no memory of ours.
    unsafe { sys::syscall6(libc::SYS_fcntl, fd as usize, cmd as usize, arg, 0, 0, 0) }
}

/// A duplicate of `fd` at the first number of [`HIGH`] the limit allows (`cmd`:
/// `F_DUPFD_CLOEXEC` or `F_DUPFD`).
pub fn dup_high(fd: c_int, cmd: c_int) -> Option<c_int> {
    HIGH.iter()
        .map(|&low| fcntl(fd, cmd, low as usize))
        .find(|&r| r != -(libc::EINVAL as isize))
        .filter(|&r| r >= 0)
        .map(|r| r as c_int)
}

/// Before a `dup2`/`dup3` onto `fd`: if it is the carried descriptor, moves it elsewhere.
pub fn vacate(fd: c_int) {
    if carried(fd) {
        if let Some(moved) = dup_high(fd, libc::F_DUPFD_CLOEXEC) {
            HOST.store(moved, Ordering::Relaxed);
        }
    }
}

/// At start-up (from `state`): takes over the descriptor a program started inside a new root
/// was handed, named by the shim's entry in the saved `LD_PRELOAD`; removes its plant.
pub fn adopt() {
    let saved = env::saved()[env::PRELOAD];
    let value = saved.get(b"LD_PRELOAD=".len()..).unwrap_or(b"");
    let Some((entry, carried)) = value
        .split(|&b| b == b' ' || b == b':')
        .rev()
        .find_map(|e| Some((e, parse_entry(e)?)))
    else {
        return;
    };
    let fd = match carried {
        Carried::Proc { fd, .. } | Carried::Plant { fd, .. } => fd,
    };
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    if sys::fstat(fd, &mut st) >= 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC as usize);
        HOST.store(fd, Ordering::Relaxed);
    }
    if let Carried::Plant { sec, nsec, .. } = carried {
        let mut path = [0u8; 128];
        if entry.len() < path.len() {
            path[..entry.len()].copy_from_slice(entry);
            follow::remove_plant(&path, sec, nsec);
        }
    }
}

/// Opens a path of the host root: relative to the carried descriptor when this process holds
/// one (it may be inside a new root), else as given. Raw result.
///
/// # Safety
/// `path` must be a NUL-terminated string.
pub unsafe fn open_host(path: *const u8, flags: c_int, mode: u32) -> isize {
    // SAFETY: caller's contract; `path + 1` stays inside the string when it starts with `/`.
    unsafe {
        match host() {
            Some(fd) if *path == b'/' => sys::syscall6(
                libc::SYS_openat,
                fd as usize,
                path.add(1) as usize,
                flags as usize,
                mode as usize,
                0,
                0,
            ),
            _ => sys::open(path, flags, mode),
        }
    }
}

/// [`sys::read_file`] of a path of the host root (see [`open_host`]).
pub fn read_host<'b>(path: &core::ffi::CStr, buf: &'b mut [u8]) -> &'b [u8] {
    // SAFETY: `path` is NUL-terminated.
    let fd = unsafe { open_host(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC, 0) };
    sys::read_all(fd, buf)
}

/// `readlink` of a path of the host root (see [`open_host`]): the length read, or `-errno`.
pub fn readlink_host(path: &core::ffi::CStr, buf: &mut [u8]) -> isize {
    let (dir, path) = match host() {
        Some(fd) => (fd, &path.to_bytes_with_nul()[1..]),
        None => (libc::AT_FDCWD, path.to_bytes_with_nul()),
    };
    // SAFETY: a NUL-terminated path and a writable buffer of the given length.
    unsafe {
        sys::syscall6(
            libc::SYS_readlinkat,
            dir as usize,
            path.as_ptr() as usize,
            buf.as_mut_ptr() as usize,
            buf.len(),
            0,
            0,
        )
    }
}

/// Opens the host root before the root changes (a nested chroot keeps the one it has);
/// whether it was opened now.
fn before_new_root() -> bool {
    if !crate::exec::envp::shimmed() || host().is_some() {
        return false;
    }
    let flags = libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC;
    // SAFETY: a literal NUL-terminated path.
    let Ok(fd) = c_int::try_from(unsafe { sys::open(c"/".as_ptr().cast(), flags, 0) }) else {
        return false;
    };
    if fd < 0 {
        return false;
    }
    let high = dup_high(fd, libc::F_DUPFD_CLOEXEC);
    sys::close(fd);
    match high {
        Some(high) => {
            HOST.store(high, Ordering::Relaxed);
            true
        }
        None => false,
    }
}

/// After the root change returned `r` (raw): a failed one gives back a descriptor opened
/// for it; a successful one re-arms the warning.
fn after_new_root(r: isize, opened: bool) {
    if r < 0 && opened {
        sys::close(HOST.swap(-1, Ordering::Relaxed));
    } else if r >= 0 {
        WARNED.store(false, Ordering::Relaxed);
    }
}

/// One warning line per chroot and process, and a count for the audit: a program is being
/// started in a new root without the shim (`errno`: why no plant could be made).
pub fn unshimmed(errno: c_int) {
    UNSHIMMED.fetch_add(1, Ordering::Relaxed);
    if !WARNED.swap(true, Ordering::Relaxed) {
        let mut line = [0u8; 200];
        let n = detbuild_core::chroot::warning_line(errno, &mut line);
        sys::write(2, &line[..n]);
    }
}

/// `chroot`: opens the host root first (see the module docs), then the real call (the next
/// library's, so a preload after ours still sees it; the raw syscall when there is none).
///
/// # Safety
/// As for C `chroot`.
#[no_mangle]
pub unsafe extern "C" fn chroot(path: *const c_char) -> c_int {
    count(Id::chroot);
    let Some(real) = crate::real::chroot() else {
        // SAFETY: caller's contract.
        let r = unsafe { syscall(libc::SYS_chroot, path as c_long, 0) };
        return if r < 0 { set_errno(-r as c_int) } else { 0 };
    };
    let opened = before_new_root();
    // SAFETY: forwarding the caller's argument.
    let r = unsafe { real(path) };
    after_new_root(if r < 0 { -1 } else { 0 }, opened);
    r
}

/// `SYS_chroot` (`a`: the path) and `SYS_pivot_root` (`a`, `b`: new root, where the old one
/// goes) with the host root opened first; raw result.
///
/// # Safety
/// The arguments must be valid for syscall `n`.
pub unsafe fn syscall(n: c_long, a: c_long, b: c_long) -> isize {
    let opened = before_new_root();
    // SAFETY: caller's contract.
    let r = unsafe { sys::syscall6(n, a as usize, b as usize, 0, 0, 0, 0) };
    after_new_root(r, opened);
    r
}
