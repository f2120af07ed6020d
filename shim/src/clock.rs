//! Wall-clock hooks: `clock_gettime`, `gettimeofday`, `time`, `timespec_get`, `ftime`.
//!
//! Faked: the REALTIME family (`CLOCK_REALTIME`, `_COARSE`, `_ALARM`, and `CLOCK_TAI`, which
//! reads the same as REALTIME, as on a host whose TAI offset was never set). A read returns
//! `epoch + offset` of the calling thread and then advances that thread's offset by `step`,
//! so the first read in a freshly exec'd program is exactly the epoch.
//!
//! Real: `CLOCK_MONOTONIC`, `_RAW`, `_COARSE`, `CLOCK_BOOTTIME`, the CPU-time clocks and
//! dynamic clock ids. They order events and drive timeouts; faking them is what makes
//! libfaketime hang the JVM. They pass through to libc's vDSO-backed function.
//!
//! Invariants: within one thread the faked clock never goes backwards; values depend only on
//! the thread's own history (reads and sleeps), never on other threads or processes; nothing
//! here allocates, locks or calls another hooked function, so every hook is async-signal-safe.

use crate::hooks::{count, Id};
use crate::{real, state, sys, thread};
use core::ffi::{c_int, c_void};
use core::sync::atomic::Ordering;
use detbuild_core::clock::{wall_time, WallTime};

/// Whether a clock id belongs to the faked REALTIME family.
#[inline]
pub fn is_faked(clock: libc::clockid_t) -> bool {
    matches!(
        clock,
        libc::CLOCK_REALTIME
            | libc::CLOCK_REALTIME_COARSE
            | libc::CLOCK_REALTIME_ALARM
            | libc::CLOCK_TAI
    )
}

/// Reads the calling thread's faked clock and advances it by one step.
///
/// Only this thread writes its clock, so a plain load and store suffice (a locked
/// read-modify-write would cost more than the rest of the hook). A signal handler that
/// interrupts between them and reads the clock too returns the same value as the interrupted
/// read: a repeat, never a step backwards.
#[inline]
pub fn tick(p: &state::Process) -> WallTime {
    let clock = &thread::ready(&p.key).clock_ns;
    let now = clock.load(Ordering::Relaxed);
    clock.store(now.wrapping_add(p.step_ns), Ordering::Relaxed);
    wall_time(p.epoch, now)
}

/// The calling thread's clock offset (ns past the epoch), for sleeps and waits.
pub fn offset(p: &state::Process) -> &'static core::sync::atomic::AtomicU64 {
    &thread::ready(&p.key).clock_ns
}

/// Advances the calling thread's faked clock by `ns` (a completed sleep or wait).
pub fn advance(p: &state::Process, ns: u64) {
    offset(p).fetch_add(ns, Ordering::Relaxed);
}

/// The real clock, through libc when resolved, else by raw syscall.
///
/// # Safety
/// `tp` must be null or point to a writable `timespec`.
pub unsafe fn real_clock_gettime(clock: libc::clockid_t, tp: *mut libc::timespec) -> c_int {
    if let Some(f) = real::clock_gettime() {
        // SAFETY: forwarding the caller's arguments to the real function.
        return unsafe { f(clock, tp) };
    }
    if tp.is_null() {
        return set_errno(libc::EFAULT);
    }
    // SAFETY: tp is non-null and, by the caller's contract, points to a timespec.
    let r = sys::clock_gettime(clock, unsafe { &mut *tp });
    if r < 0 {
        set_errno(-r as c_int)
    } else {
        0
    }
}

/// This thread's errno.
pub fn errno() -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() }
}

/// Sets errno and returns -1.
pub fn set_errno(e: c_int) -> c_int {
    // SAFETY: __errno_location returns this thread's errno slot.
    unsafe { *libc::__errno_location() = e };
    -1
}

/// Faked for the REALTIME family; every other clock is real.
///
/// # Safety
/// `tp` must be null or point to a writable `timespec`.
#[no_mangle]
pub unsafe extern "C" fn clock_gettime(clock: libc::clockid_t, tp: *mut libc::timespec) -> c_int {
    // The one counter of this hook is per clock id (the audit's `clocks`), in place of the
    // table's `count`: a second counter would cost a measurable share of a faked read.
    crate::report::clock(clock);
    if is_faked(clock) {
        if let Some(p) = state::clock() {
            if tp.is_null() {
                return set_errno(libc::EFAULT);
            }
            let now = tick(p);
            // SAFETY: tp is non-null and writable by the caller's contract.
            unsafe {
                *tp = libc::timespec {
                    tv_sec: now.sec,
                    tv_nsec: now.nsec as i64,
                }
            };
            return 0;
        }
    }
    // SAFETY: caller's contract.
    unsafe { real_clock_gettime(clock, tp) }
}

/// Faked (microseconds of the faked clock); the obsolete timezone is reported as UTC.
///
/// # Safety
/// `tv` and `tz` must each be null or point to writable memory of their type.
#[no_mangle]
pub unsafe extern "C" fn gettimeofday(tv: *mut libc::timeval, tz: *mut c_void) -> c_int {
    count(Id::gettimeofday);
    if let Some(p) = state::clock() {
        if !tv.is_null() {
            let now = tick(p);
            // SAFETY: tv is non-null and writable by the caller's contract.
            unsafe {
                *tv = libc::timeval {
                    tv_sec: now.sec,
                    tv_usec: i64::from(now.nsec / 1000),
                }
            };
        }
        if !tz.is_null() {
            // SAFETY: a non-null tz points to a struct timezone (two ints).
            unsafe { *tz.cast::<[c_int; 2]>() = [0, 0] };
        }
        return 0;
    }
    match real::gettimeofday() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(tv, tz) },
        None => {
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            sys::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
            if !tv.is_null() {
                // SAFETY: as above.
                unsafe {
                    *tv = libc::timeval {
                        tv_sec: ts.tv_sec,
                        tv_usec: ts.tv_nsec / 1000,
                    }
                };
            }
            0
        }
    }
}

/// Faked (whole seconds of the faked clock).
///
/// # Safety
/// `out` must be null or point to a writable `time_t`.
#[no_mangle]
pub unsafe extern "C" fn time(out: *mut libc::time_t) -> libc::time_t {
    count(Id::time);
    let now = match state::clock() {
        Some(p) => tick(p).sec,
        None => {
            if let Some(f) = real::time() {
                // SAFETY: forwarding the caller's argument.
                return unsafe { f(out) };
            }
            let mut ts = libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            sys::clock_gettime(libc::CLOCK_REALTIME, &mut ts);
            ts.tv_sec
        }
    };
    if !out.is_null() {
        // SAFETY: out is non-null and writable by the caller's contract.
        unsafe { *out = now };
    }
    now
}

/// C11 `timespec_get`: `TIME_UTC` is the faked REALTIME clock; other bases are unsupported
/// by this glibc and return 0, as libc does.
///
/// # Safety
/// `ts` must point to a writable `timespec`.
#[no_mangle]
pub unsafe extern "C" fn timespec_get(ts: *mut libc::timespec, base: c_int) -> c_int {
    count(Id::timespec_get);
    const TIME_UTC: c_int = 1;
    // SAFETY: forwarding the caller's pointer.
    if base == TIME_UTC && unsafe { clock_gettime(libc::CLOCK_REALTIME, ts) } == 0 {
        return base;
    }
    0
}

/// `struct timeb` from `<sys/timeb.h>`.
#[repr(C)]
pub struct Timeb {
    time: libc::time_t,
    millitm: u16,
    timezone: i16,
    dstflag: i16,
}

/// Obsolete `ftime`: the faked REALTIME clock in milliseconds, timezone UTC.
///
/// # Safety
/// `tb` must point to a writable `struct timeb`.
#[no_mangle]
pub unsafe extern "C" fn ftime(tb: *mut Timeb) -> c_int {
    count(Id::ftime);
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a local timespec.
    unsafe { clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    if !tb.is_null() {
        // SAFETY: tb is non-null and writable by the caller's contract.
        unsafe {
            *tb = Timeb {
                time: ts.tv_sec,
                millitm: (ts.tv_nsec / 1_000_000) as u16,
                timezone: 0,
                dstflag: 0,
            }
        };
    }
    0
}
