//! Reaps and exits: `wait`, `waitpid`, `wait3`, `wait4`, `waitid`, `_exit`, `_Exit`, and the
//! shim's destructor (run by `exit`). They carry clocks between a child and its parent
//! ([`crate::handoff`]).
//!
//! Faked: nothing is changed in what the calls return. A call that reaps a child (it exited or
//! was killed; not stopped, continued, or peeked at with `WNOWAIT`) takes the child's final
//! clock. `_exit`, `_Exit` and `exit` publish the exiting thread's clock first.
//!
//! Real: every call, always; inert processes do nothing else. Reaps that bypass these hooks
//! (glibc's `system` and `pclose`, which wait internally, `syscall(SYS_wait4)`) take nothing:
//! a parent does not see the time its `system()` child spent.
//!
//! Invariants: no allocation, no lock; async-signal-safe (shells reap in `SIGCHLD` handlers).

use crate::hooks::{count, Id};
use crate::{clock::set_errno, handoff, real, sys};
use core::ffi::{c_int, c_uint, c_void};

/// Whether a `wait` status means the child is gone (exited or killed).
fn gone(status: c_int) -> bool {
    libc::WIFEXITED(status) || libc::WIFSIGNALED(status)
}

/// Calls `f` with a status slot (the caller's, or ours when it passed null), then hands a
/// reaped child to [`handoff::reaped`].
fn reap(status: *mut c_int, f: impl FnOnce(*mut c_int) -> libc::pid_t) -> libc::pid_t {
    let mut own: c_int = 0;
    let slot = if status.is_null() { &mut own } else { status };
    let pid = f(slot);
    // SAFETY: `slot` is the caller's writable status or our local.
    if pid > 0 && gone(unsafe { *slot }) {
        handoff::reaped(pid);
    }
    pid
}

/// # Safety
/// As for C `wait`.
#[no_mangle]
pub unsafe extern "C" fn wait(status: *mut c_int) -> libc::pid_t {
    count(Id::wait);
    // SAFETY: forwarding to the real waitpid with the caller's contract.
    reap(status, |s| match real::waitpid() {
        Some(f) => unsafe { f(-1, s, 0) },
        None => set_errno(libc::ENOSYS),
    })
}

/// # Safety
/// As for C `waitpid`.
#[no_mangle]
pub unsafe extern "C" fn waitpid(
    pid: libc::pid_t,
    status: *mut c_int,
    options: c_int,
) -> libc::pid_t {
    count(Id::waitpid);
    // SAFETY: forwarding the caller's arguments.
    reap(status, |s| match real::waitpid() {
        Some(f) => unsafe { f(pid, s, options) },
        None => set_errno(libc::ENOSYS),
    })
}

/// # Safety
/// As for C `wait3`.
#[no_mangle]
pub unsafe extern "C" fn wait3(
    status: *mut c_int,
    options: c_int,
    usage: *mut c_void,
) -> libc::pid_t {
    count(Id::wait3);
    // SAFETY: forwarding the caller's arguments.
    reap(status, |s| match real::wait4() {
        Some(f) => unsafe { f(-1, s, options, usage) },
        None => set_errno(libc::ENOSYS),
    })
}

/// # Safety
/// As for C `wait4`.
#[no_mangle]
pub unsafe extern "C" fn wait4(
    pid: libc::pid_t,
    status: *mut c_int,
    options: c_int,
    usage: *mut c_void,
) -> libc::pid_t {
    count(Id::wait4);
    // SAFETY: forwarding the caller's arguments.
    reap(status, |s| match real::wait4() {
        Some(f) => unsafe { f(pid, s, options, usage) },
        None => set_errno(libc::ENOSYS),
    })
}

/// # Safety
/// As for C `waitid`.
#[no_mangle]
pub unsafe extern "C" fn waitid(
    idtype: c_int,
    id: c_uint,
    info: *mut libc::siginfo_t,
    options: c_int,
) -> c_int {
    count(Id::waitid);
    let Some(f) = real::waitid() else {
        return set_errno(libc::ENOSYS);
    };
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { f(idtype, id, info, options) };
    if r == 0 && !info.is_null() && options & libc::WNOWAIT == 0 {
        // SAFETY: the real waitid filled the caller's siginfo.
        let (code, pid) = unsafe { ((*info).si_code, (*info).si_pid()) };
        if pid > 0 && matches!(code, libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED) {
            handoff::reaped(pid);
        }
    }
    r
}

/// Publishes the final clock and writes the audit line ([`crate::report`]), then ends the
/// process with `exit_group`, which is all glibc's `_exit` and `_Exit` do: no lookup of the
/// real one (a `vfork` child may be the caller, and an eager lookup would cost every exec a
/// `dlsym`).
fn leave(status: c_int) -> ! {
    handoff::exiting();
    crate::report::at_exit("_exit");
    sys::exit_group(status)
}

/// Publishes the final clock, then the real `_exit`.
#[no_mangle]
pub extern "C" fn _exit(status: c_int) -> ! {
    count(Id::_exit);
    leave(status)
}

/// As `_exit` (a separate symbol in glibc).
#[no_mangle]
pub extern "C" fn _Exit(status: c_int) -> ! {
    count(Id::_Exit);
    leave(status)
}

/// Run by `exit` after the program's handlers: publishes the final clock.
extern "C" fn fini() {
    handoff::exiting();
}

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = fini;
