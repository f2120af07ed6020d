//! Sleeps: `nanosleep`, `clock_nanosleep`, `usleep`, `sleep`, `thrd_sleep`; and the deadline
//! translation shared with [`crate::timedwait`] and [`crate::timer`].
//!
//! Faked (when the clock is faked): every sleep still sleeps for real, through the real
//! `nanosleep`/`clock_nanosleep`, and afterwards the calling thread's logical clock has advanced
//! by the slept duration, so `sleep 2; date` logic inside one program sees time pass:
//! - relative sleeps on any clock advance by the request, or by `requested - remaining` when a
//!   signal interrupts them (`EINTR`);
//! - `clock_nanosleep(TIMER_ABSTIME)` on a real clock (Python 3.11's `time.sleep` uses
//!   `CLOCK_MONOTONIC`) advances by the remaining time measured on entry, rounded up to the
//!   millisecond (`round_wait_ns`) so the clock stays deterministic;
//! - `clock_nanosleep(CLOCK_REALTIME, _ALARM or TAI, TIMER_ABSTIME, t)` (`_COARSE` cannot
//!   sleep) has its deadline on the faked clock: it waits for real on `CLOCK_MONOTONIC` for the
//!   translated remaining time (`detbuild_core::wait::deadline`: counted from the last value
//!   the thread read), then leaves the thread as if it had just read `t`; a deadline already
//!   past returns at once.
//!
//! glibc's `sleep`, `usleep` and `thrd_sleep` call the kernel or `__nanosleep` internally,
//! bypassing our `nanosleep`, hence their own hooks.
//!
//! Real: everything when the clock is not faked, and arguments libc rejects (null or invalid
//! `timespec`), which are passed through untouched so errors are native. `select`, `poll`,
//! `epoll_wait`, `ppoll`, `pselect`, `sigtimedwait` take relative timeouts and are not hooked.
//!
//! Invariants: the thread's clock only moves forward; a sleep that completes advances it by an
//! amount fixed by its arguments (not by scheduling). Nothing here allocates or locks.

use crate::clock::{advance, errno, is_faked, offset, real_clock_gettime, set_errno};
use crate::hooks::{count, Id};
use crate::{real, state, sys};
use core::ffi::{c_int, c_uint};
use core::sync::atomic::Ordering;
use detbuild_core::clock::round_wait_ns;
use detbuild_core::wait::{self, deadline, duration_ns, slept, split, until, valid_nsec, Deadline};

type Timespec = libc::timespec;

const ZERO: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 0,
};

/// The process state and the translated deadline when `abs` is a valid deadline on the faked
/// clock of this process; `None` means "pass the call through untouched".
///
/// # Safety
/// `abs` must be null or point to a readable `timespec`.
pub unsafe fn plan(abs: *const Timespec) -> Option<(&'static state::Process, Deadline)> {
    let p = state::clock()?;
    if abs.is_null() {
        return None;
    }
    // SAFETY: non-null and readable by the caller's contract.
    let t = unsafe { *abs };
    if !valid_nsec(t.tv_nsec) {
        return None;
    }
    let now = offset(p).load(Ordering::Relaxed);
    Some((p, deadline(p.epoch, p.step_ns, now, t.tv_sec, t.tv_nsec)))
}

/// Now on the real clock `clock`.
pub fn real_now(clock: libc::clockid_t) -> Timespec {
    let mut ts = ZERO;
    // SAFETY: ts is a local timespec.
    unsafe { real_clock_gettime(clock, &mut ts) };
    ts
}

/// The real absolute deadline on `clock` (`CLOCK_MONOTONIC` or `CLOCK_REALTIME`) that is
/// `d.wait_ns` from now (`detbuild_core::wait::real_deadline`: never zero, in the past when
/// the faked deadline has passed).
pub fn real_deadline(d: &Deadline, clock: libc::clockid_t) -> Timespec {
    let now = real_now(clock);
    let (tv_sec, tv_nsec) = wait::real_deadline((now.tv_sec, now.tv_nsec), d.wait_ns);
    Timespec { tv_sec, tv_nsec }
}

/// Ends a wait on `d`: when it timed out, the thread's clock moves to (at least) its deadline,
/// so `while (now < deadline) timedwait(deadline)` loops end.
pub fn finish(p: &state::Process, d: &Deadline, timed_out: bool) {
    if timed_out {
        offset(p).fetch_max(d.done_ns, Ordering::Relaxed);
    }
}

fn nanos(t: &Timespec) -> u64 {
    duration_ns(t.tv_sec, t.tv_nsec).unwrap_or(0)
}

/// The real relative or absolute `clock_nanosleep`, by raw syscall if libc's is unavailable.
///
/// # Safety
/// `req` must point to a readable `timespec`, `rem` be null or writable.
unsafe fn real_clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const Timespec,
    rem: *mut Timespec,
) -> c_int {
    if let Some(f) = real::clock_nanosleep() {
        // SAFETY: forwarding the caller's arguments.
        return unsafe { f(clock, flags, req, rem) };
    }
    // SAFETY: the caller's contract covers the pointers.
    let r = unsafe {
        sys::syscall6(
            libc::SYS_clock_nanosleep,
            clock as usize,
            flags as usize,
            req as usize,
            rem as usize,
            0,
            0,
        )
    };
    if r < 0 {
        -r as c_int
    } else {
        0
    }
}

/// Sleeps `req` (relative, valid) on `clock` and advances the clock by what was slept; returns
/// 0 or an error number, and fills `rem` on `EINTR`.
///
/// # Safety
/// `rem` must be null or writable.
unsafe fn sleep_for(
    p: &state::Process,
    clock: libc::clockid_t,
    req: &Timespec,
    rem: *mut Timespec,
) -> c_int {
    let mut left = ZERO;
    // SAFETY: req and left are valid timespecs.
    let r = unsafe { real_clock_nanosleep(clock, 0, req, &mut left) };
    match r {
        0 => advance(p, nanos(req)),
        libc::EINTR => {
            advance(p, slept(nanos(req), nanos(&left)));
            if !rem.is_null() {
                // SAFETY: non-null and writable by the caller's contract.
                unsafe { *rem = left };
            }
        }
        _ => {}
    }
    r
}

/// A relative request the hooks fake, or `None` to pass through (null or invalid).
///
/// # Safety
/// `req` must be null or readable.
unsafe fn relative(req: *const Timespec) -> Option<Timespec> {
    if req.is_null() {
        return None;
    }
    // SAFETY: non-null and readable by the caller's contract.
    let t = unsafe { *req };
    duration_ns(t.tv_sec, t.tv_nsec).map(|_| t)
}

/// Real sleep; the clock advances by the request (`requested - remaining` on `EINTR`).
///
/// # Safety
/// `req` must be readable, `rem` null or writable.
#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const Timespec, rem: *mut Timespec) -> c_int {
    count(Id::nanosleep);
    if let Some(p) = state::clock() {
        // SAFETY: caller's contract.
        if let Some(t) = unsafe { relative(req) } {
            // SAFETY: caller's contract for rem.
            let r = unsafe { sleep_for(p, libc::CLOCK_MONOTONIC, &t, rem) };
            return if r == 0 { 0 } else { set_errno(r) };
        }
    }
    match real::nanosleep() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(req, rem) },
        None => {
            // SAFETY: forwarding the caller's arguments.
            let r = unsafe { real_clock_nanosleep(libc::CLOCK_MONOTONIC, 0, req, rem) };
            if r == 0 {
                0
            } else {
                set_errno(r)
            }
        }
    }
}

/// Real sleep on any clock; see the module docs for how each form moves the faked clock.
/// Returns 0 or an error number, like libc.
///
/// # Safety
/// `req` must be readable, `rem` null or writable.
#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: libc::clockid_t,
    flags: c_int,
    req: *const Timespec,
    rem: *mut Timespec,
) -> c_int {
    count(Id::clock_nanosleep);
    if let Some(p) = state::clock() {
        if flags & libc::TIMER_ABSTIME == 0 {
            // SAFETY: caller's contract.
            if let Some(t) = unsafe { relative(req) } {
                // SAFETY: caller's contract for rem.
                return unsafe { sleep_for(p, clock, &t, rem) };
            }
        } else if is_faked(clock) && clock != libc::CLOCK_REALTIME_COARSE {
            // SAFETY: caller's contract.
            if let Some((p, d)) = unsafe { plan(req) } {
                return sleep_until_faked(p, &d);
            }
        } else if let Some(r) = unsafe { sleep_until_real(p, clock, flags, req) } {
            return r;
        }
    }
    // SAFETY: forwarding the caller's arguments.
    unsafe { real_clock_nanosleep(clock, flags, req, rem) }
}

/// `clock_nanosleep(REALTIME, TIMER_ABSTIME)`: waits on `CLOCK_MONOTONIC` for the translated
/// time; on `EINTR` the clock advances by the real time slept, so a retry waits the rest.
fn sleep_until_faked(p: &state::Process, d: &Deadline) -> c_int {
    if d.wait_ns == 0 {
        return 0;
    }
    let start = real_now(libc::CLOCK_MONOTONIC);
    let end = real_deadline(d, libc::CLOCK_MONOTONIC);
    // SAFETY: end is a valid local timespec; no remainder for absolute sleeps.
    let r = unsafe {
        real_clock_nanosleep(
            libc::CLOCK_MONOTONIC,
            libc::TIMER_ABSTIME,
            &end,
            core::ptr::null_mut(),
        )
    };
    match r {
        0 => finish(p, d, true),
        libc::EINTR => advance(p, elapsed_since(libc::CLOCK_MONOTONIC, &start)),
        _ => {}
    }
    r
}

/// `clock_nanosleep(real clock, TIMER_ABSTIME)`: the real call, then the clock advances by the
/// remaining time measured on entry (rounded to the millisecond). `None`: pass through.
///
/// # Safety
/// `req` must be null or readable.
unsafe fn sleep_until_real(
    p: &state::Process,
    clock: libc::clockid_t,
    flags: c_int,
    req: *const Timespec,
) -> Option<c_int> {
    // SAFETY: caller's contract.
    let t = unsafe { req.as_ref() }.filter(|t| valid_nsec(t.tv_nsec))?;
    let mut start = ZERO;
    // SAFETY: start is a local timespec.
    if unsafe { real_clock_gettime(clock, &mut start) } != 0 {
        return None;
    }
    let want = round_wait_ns(until((start.tv_sec, start.tv_nsec), (t.tv_sec, t.tv_nsec)));
    // SAFETY: t is valid; no remainder for absolute sleeps.
    let r = unsafe { real_clock_nanosleep(clock, flags, t, core::ptr::null_mut()) };
    match r {
        0 => advance(p, want),
        libc::EINTR => advance(p, elapsed_since(clock, &start)),
        _ => {}
    }
    Some(r)
}

fn elapsed_since(clock: libc::clockid_t, start: &Timespec) -> u64 {
    let now = real_now(clock);
    round_wait_ns(until(
        (start.tv_sec, start.tv_nsec),
        (now.tv_sec, now.tv_nsec),
    ))
}

/// Real sleep of `usec` microseconds (as glibc: a `nanosleep`); the clock advances by it.
#[no_mangle]
pub extern "C" fn usleep(usec: libc::useconds_t) -> c_int {
    count(Id::usleep);
    if let Some(p) = state::clock() {
        let (tv_sec, tv_nsec) = split(u64::from(usec) * 1_000);
        // SAFETY: a local request, no remainder wanted.
        let r = unsafe {
            sleep_for(
                p,
                libc::CLOCK_MONOTONIC,
                &Timespec { tv_sec, tv_nsec },
                core::ptr::null_mut(),
            )
        };
        return if r == 0 { 0 } else { set_errno(r) };
    }
    match real::usleep() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(usec) },
        None => set_errno(libc::ENOSYS),
    }
}

/// Real sleep of `secs` seconds; the clock advances by what was slept. Returns the whole
/// seconds left when interrupted, as glibc does; errno is preserved otherwise.
#[no_mangle]
pub extern "C" fn sleep(secs: c_uint) -> c_uint {
    count(Id::sleep);
    if let Some(p) = state::clock() {
        let saved = errno();
        let mut left = ZERO;
        let req = Timespec {
            tv_sec: i64::from(secs),
            tv_nsec: 0,
        };
        // SAFETY: local timespecs.
        if unsafe { sleep_for(p, libc::CLOCK_MONOTONIC, &req, &mut left) } == libc::EINTR {
            return left.tv_sec as c_uint;
        }
        set_errno(saved);
        return 0;
    }
    match real::sleep() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(secs) },
        None => secs,
    }
}

/// C11 `thrd_sleep`: real sleep, clock advanced; 0, -1 when interrupted, -2 on error.
///
/// # Safety
/// `req` must be readable, `rem` null or writable.
#[no_mangle]
pub unsafe extern "C" fn thrd_sleep(req: *const Timespec, rem: *mut Timespec) -> c_int {
    count(Id::thrd_sleep);
    if let Some(p) = state::clock() {
        // SAFETY: caller's contract.
        if let Some(t) = unsafe { relative(req) } {
            // SAFETY: caller's contract for rem.
            return match unsafe { sleep_for(p, libc::CLOCK_MONOTONIC, &t, rem) } {
                0 => 0,
                libc::EINTR => -1,
                _ => -2,
            };
        }
    }
    match real::thrd_sleep() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(req, rem) },
        None => -2,
    }
}
