//! The clock across processes: a new program starts where the process that started it stood,
//! and a parent learns its children's final clocks when it reaps them
//! (`detbuild_core::handoff` has the table's format).
//!
//! - Start: an exec'd program starts at the clock its pre-exec image handed off ([`exec`]); a
//!   spawned one (`posix_spawn`, `system`, `popen`) at its parent's ([`spawn`]); otherwise (the
//!   launcher's child, a missing table) at the epoch. A `fork` child keeps its parent's clock
//!   in memory and only empties its slot ([`forked`]).
//! - Exit: `exit` (through the shim's destructor) and `_exit` publish the exiting thread's
//!   clock ([`exiting`]).
//! - Reap: a `wait*` that reaps a child reads its final clock ([`reaped`]). A process on the
//!   faked clock moves the reaping thread's clock to the later of the two, so `date; sleep 2;
//!   date` in a shell prints two times 2 s apart. A process that does not fake the clock (a
//!   driver such as `make` or `xargs`, a verifier) never moves: every job it starts begins
//!   at its own start, whatever `-j`; it only remembers the latest of its children's clocks
//!   and reports that when it exits, which does not depend on their order.
//!
//! Inside a chroot the table is opened relative to the host root's descriptor (`chroot`), so
//! the clock carries on into and out of the new root.
//!
//! Modes: active and transparent processes take part; inert ones do not. Without a table
//! (older launcher, no `/dev/shm`) everything here is a no-op and programs start at the epoch.
//!
//! Invariants: atomics on a shared mapping only, raw syscalls, no allocation, no lock, so every
//! entry point is async-signal-safe and safe in a `vfork` child. One race is left: a reap in a
//! signal handler (shells reap in `SIGCHLD` handlers) that lands between the load and the
//! store of a clock read on the same thread is overwritten by that read's store; the window
//! is two instructions, against a locked add on every read to close it.

use crate::{state, sys, thread};
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use detbuild_core::handoff::{self as h, EXEC, EXIT, SLOTS, SPAWN, TABLE_BYTES};

/// The mapped table, or null.
static TABLE: AtomicPtr<AtomicU64> = AtomicPtr::new(core::ptr::null_mut());
/// Where this program's clock started (ns past the epoch).
static START: AtomicU64 = AtomicU64::new(0);
/// The latest final clock of the children this process reaped.
static LATEST: AtomicU64 = AtomicU64::new(0);

fn getpid() -> usize {
    // SAFETY: getpid takes no arguments and cannot fail.
    unsafe { sys::syscall6(libc::SYS_getpid, 0, 0, 0, 0, 0, 0) as usize }
}

fn getppid() -> usize {
    // SAFETY: getppid takes no arguments and cannot fail.
    unsafe { sys::syscall6(libc::SYS_getppid, 0, 0, 0, 0, 0, 0) as usize }
}

/// The slot of `pid`, if there is a table and the pid fits it.
fn slot(pid: usize) -> Option<&'static AtomicU64> {
    let table = TABLE.load(Ordering::Acquire);
    if table.is_null() || pid == 0 || pid >= SLOTS {
        return None;
    }
    // SAFETY: the table maps SLOTS atomics for the life of the process and pid < SLOTS.
    Some(unsafe { &*table.add(pid) })
}

/// Maps the run's table named in `payload` and settles where this program's clock starts.
/// A table that is not ours alone (another owner, group or world access) is not used.
/// Called once by the initialising thread.
pub fn attach(payload: &[u8]) {
    let Some(run) = h::run_id(payload) else {
        return;
    };
    let path = h::table_path(&run);
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_CLOEXEC | libc::O_NOFOLLOW;
    // SAFETY: a NUL-terminated path (of the host root, also inside a chroot).
    let fd = unsafe { crate::chroot::open_host(path.as_ptr(), flags, 0o600) };
    if fd < 0 {
        return;
    }
    let fd = fd as i32;
    // SAFETY: ftruncate and mmap on our own descriptor; the mapping is new memory.
    let table = unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        let euid = sys::syscall6(libc::SYS_geteuid, 0, 0, 0, 0, 0, 0) as u32;
        if sys::fstat(fd, &mut st) < 0
            || st.st_uid != euid
            || st.st_mode & 0o077 != 0
            || ((st.st_size as usize) < TABLE_BYTES
                && sys::syscall6(libc::SYS_ftruncate, fd as usize, TABLE_BYTES, 0, 0, 0, 0) < 0)
        {
            -1
        } else {
            sys::syscall6(
                libc::SYS_mmap,
                0,
                TABLE_BYTES,
                (libc::PROT_READ | libc::PROT_WRITE) as usize,
                libc::MAP_SHARED as usize,
                fd as usize,
                0,
            )
        }
    };
    sys::close(fd);
    if table < 0 {
        return;
    }
    TABLE.store(table as *mut AtomicU64, Ordering::Release);
    let (Some(own), parent) = (slot(getpid()), slot(getppid())) else {
        return;
    };
    let mine = own.swap(0, Ordering::AcqRel);
    let theirs = parent.map_or(0, |p| p.load(Ordering::Acquire));
    START.store(h::start(mine, theirs), Ordering::Relaxed);
}

/// Where this program's clock started (the main thread's first read).
pub fn start() -> u64 {
    START.load(Ordering::Relaxed)
}

/// The clock this process hands on: the calling thread's when the clock is faked, else where
/// the process started.
fn current() -> u64 {
    match state::clock() {
        Some(p) => thread::ready(&p.key).clock_ns.load(Ordering::Relaxed),
        None => start(),
    }
}

fn publish(state: u64, clock: u64) {
    if let Some(own) = slot(getpid()) {
        own.store(h::slot(state, clock), Ordering::Release);
    }
}

/// Before an exec: the new program starts at this thread's clock.
pub fn exec() {
    publish(EXEC, current());
}

/// Before a spawn: the spawned program starts at this thread's clock.
pub fn spawn() {
    publish(SPAWN, current());
}

/// In a `fork` child: its slot starts empty (it continues the parent's clock in memory).
pub fn forked() {
    if let Some(own) = slot(getpid()) {
        own.store(0, Ordering::Release);
    }
}

/// At exit: the final clock, for the parent that reaps us.
pub fn exiting() {
    let clock = match state::clock() {
        Some(_) => current(),
        None => start().max(LATEST.load(Ordering::Relaxed)),
    };
    publish(EXIT, clock);
}

/// After a `wait*` reaped `pid` (it exited or was killed): takes its final clock, if it
/// published one, into the reaping thread's clock or into [`LATEST`] (see the module docs).
pub fn reaped(pid: libc::pid_t) {
    let Some(child) = slot(pid as usize) else {
        return;
    };
    let Some(end) = h::clock_in(child.swap(0, Ordering::AcqRel), EXIT) else {
        return;
    };
    match state::clock() {
        Some(p) => thread::ready(&p.key)
            .clock_ns
            .fetch_max(end, Ordering::Relaxed),
        None => LATEST.fetch_max(end, Ordering::Relaxed),
    };
}
