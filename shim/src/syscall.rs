//! libc's `syscall()` function, for programs that ask the kernel directly through it:
//! `SYS_getrandom`, `SYS_clock_gettime`, `SYS_gettimeofday`, `SYS_time`, `SYS_nanosleep` and
//! `SYS_clock_nanosleep` are answered by the same hooks as their libc wrappers;
//! `SYS_chroot` and `SYS_pivot_root` keep the shim in the new root (`chroot`);
//! `SYS_sched_getaffinity` reports the configured CPU count (`cpus`); `SYS_getdents64`
//! lists in byte-wise order (`getdents.rs`); `SYS_futex`
//! waits with a REALTIME deadline are translated ([`crate::timedwait::futex`]); `SYS_fork` and
//! a fork-like `SYS_clone` (no `CLONE_VM`, no new stack) are numbered like `fork()` (see
//! `fork`); every other number passes through untouched.
//!
//! An inline `syscall` instruction (static binaries, Go, rustix's raw backend) never reaches
//! this function and stays real.
//!
//! C declares `syscall(long number, ...)`; on x86_64 and aarch64 a fixed seven-argument
//! definition receives the same registers, so forwarding all six possible arguments is exact.

use crate::hooks::{count, Id};
use crate::{clock, fork, random, real, timedwait, wait};
use core::ffi::{c_long, c_void};

/// Dispatches the faked numbers to their hooks; the rest go to the real `syscall`.
///
/// # Safety
/// The arguments must be valid for syscall `n`.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    n: c_long,
    a: c_long,
    b: c_long,
    c: c_long,
    d: c_long,
    e: c_long,
    f: c_long,
) -> c_long {
    count(Id::syscall);
    // SAFETY (all arms): the arguments are forwarded under the caller's contract for `n`.
    unsafe {
        match n {
            libc::SYS_getrandom => {
                return random::getrandom(a as *mut c_void, b as usize, c as u32) as c_long;
            }
            libc::SYS_clock_gettime => {
                return clock::clock_gettime(a as libc::clockid_t, b as *mut libc::timespec).into();
            }
            #[cfg(target_arch = "x86_64")]
            libc::SYS_gettimeofday => {
                return clock::gettimeofday(a as *mut libc::timeval, b as *mut c_void).into();
            }
            #[cfg(target_arch = "x86_64")]
            libc::SYS_time => return clock::time(a as *mut libc::time_t),
            libc::SYS_nanosleep => {
                return wait::nanosleep(a as *const libc::timespec, b as *mut libc::timespec)
                    .into();
            }
            libc::SYS_clock_nanosleep => {
                let r = wait::clock_nanosleep(
                    a as libc::clockid_t,
                    b as i32,
                    c as *const libc::timespec,
                    d as *mut libc::timespec,
                );
                return if r == 0 {
                    0
                } else {
                    clock::set_errno(r).into()
                };
            }
            libc::SYS_chroot | libc::SYS_pivot_root => {
                let r = crate::chroot::syscall(n, a, b);
                return if r < 0 {
                    clock::set_errno(-r as i32).into()
                } else {
                    r as c_long
                };
            }
            libc::SYS_sched_getaffinity => return crate::cpus::raw_getaffinity(a, b, c),
            libc::SYS_getdents64 => return crate::getdents::raw(a, b, c),
            libc::SYS_futex => {
                if let Some(r) = timedwait::futex(a, b, c, d, e, f) {
                    return r;
                }
            }
            _ => {}
        }
        if fork::is_raw_fork(n, a, b) {
            return fork::raw_fork(n, a, b, c, d, e, f);
        }
        forward(n, a, b, c, d, e, f)
    }
}

/// The real `syscall(n, ...)`, or the raw instruction with libc's errno convention when libc's
/// function cannot be found.
///
/// # Safety
/// The arguments must be valid for syscall `n`.
pub unsafe fn forward(
    n: c_long,
    a: c_long,
    b: c_long,
    c: c_long,
    d: c_long,
    e: c_long,
    f: c_long,
) -> c_long {
    // SAFETY (both arms): forwarding the caller's arguments under its contract for `n`.
    unsafe {
        match real::syscall() {
            Some(real) => real(n, a, b, c, d, e, f),
            None => {
                let r = crate::sys::syscall6(
                    n, a as usize, b as usize, c as usize, d as usize, e as usize, f as usize,
                );
                if r < 0 {
                    clock::set_errno(-r as i32) as c_long
                } else {
                    r as c_long
                }
            }
        }
    }
}
