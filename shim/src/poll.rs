//! Relative waits on descriptors: `poll`, `ppoll`, `select`, `pselect`, `epoll_wait`,
//! `epoll_pwait`.
//!
//! Faked (when the clock is faked): nothing about the wait itself; it takes its real time and
//! returns what the kernel says. A wait that *times out* (returns 0 after a finite, non-zero
//! timeout) then moves the calling thread's clock by the timeout it was given, as a sleep does.
//! So `while (time(NULL) < end) select(0, 0, 0, 0, &quarter_second)` (Perl's and old Python's
//! sleep) ends after as many turns as natively instead of spinning on one step per read. A
//! wait that returns early because a descriptor is ready or a signal came leaves the clock
//! alone: how long it really waited depends on scheduling, and the clock must not.
//!
//! Real: everything when the clock is not faked, zero and infinite timeouts, errors.
//!
//! Invariants: the clock moves by an amount fixed by the arguments; no allocation, no lock.

use crate::clock::advance;
use crate::hooks::{count, Id};
use crate::{clock::set_errno, real, state};
use core::ffi::{c_int, c_ulong, c_void};
use detbuild_core::clock::NANOS;

/// Moves the clock by `ns` after a wait that timed out (`result == 0`).
fn timed_out(result: c_int, ns: Option<u64>) {
    if result != 0 {
        return;
    }
    if let (Some(p), Some(ns)) = (state::clock(), ns.filter(|&n| n > 0)) {
        advance(p, ns);
    }
}

/// A millisecond timeout (negative: infinite) in nanoseconds.
fn millis(ms: c_int) -> Option<u64> {
    u64::try_from(ms).ok().map(|ms| ms * 1_000_000)
}

/// A `timespec` timeout (null: infinite) in nanoseconds, read before the call.
fn spec(ts: *const libc::timespec) -> Option<u64> {
    // SAFETY: a non-null timeout points to a timespec, by the caller's contract.
    let ts = unsafe { ts.as_ref() }?;
    let (s, ns) = (
        u64::try_from(ts.tv_sec).ok()?,
        u64::try_from(ts.tv_nsec).ok()?,
    );
    s.checked_mul(NANOS)?.checked_add(ns)
}

/// A `timeval` timeout (null: infinite) in nanoseconds, read before the call (Linux's
/// `select` overwrites it with the time left).
fn val(tv: *const libc::timeval) -> Option<u64> {
    // SAFETY: a non-null timeout points to a timeval, by the caller's contract.
    let tv = unsafe { tv.as_ref() }?;
    let (s, us) = (
        u64::try_from(tv.tv_sec).ok()?,
        u64::try_from(tv.tv_usec).ok()?,
    );
    s.checked_mul(NANOS)?.checked_add(us.checked_mul(1_000)?)
}

/// # Safety
/// As for C `poll`.
#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut c_void, n: c_ulong, ms: c_int) -> c_int {
    count(Id::poll);
    let Some(f) = real::poll() else {
        return set_errno(libc::ENOSYS);
    };
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { f(fds, n, ms) };
    timed_out(r, millis(ms));
    r
}

/// # Safety
/// As for C `ppoll`.
#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut c_void,
    n: c_ulong,
    ts: *const libc::timespec,
    mask: *const c_void,
) -> c_int {
    count(Id::ppoll);
    let Some(f) = real::ppoll() else {
        return set_errno(libc::ENOSYS);
    };
    let ns = spec(ts);
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { f(fds, n, ts, mask) };
    timed_out(r, ns);
    r
}

/// # Safety
/// As for C `select`.
#[no_mangle]
pub unsafe extern "C" fn select(
    n: c_int,
    r: *mut c_void,
    w: *mut c_void,
    e: *mut c_void,
    tv: *mut libc::timeval,
) -> c_int {
    count(Id::select);
    let Some(f) = real::select() else {
        return set_errno(libc::ENOSYS);
    };
    let ns = val(tv);
    // SAFETY: forwarding the caller's arguments.
    let res = unsafe { f(n, r, w, e, tv) };
    timed_out(res, ns);
    res
}

/// # Safety
/// As for C `pselect`.
#[no_mangle]
pub unsafe extern "C" fn pselect(
    n: c_int,
    r: *mut c_void,
    w: *mut c_void,
    e: *mut c_void,
    ts: *const libc::timespec,
    mask: *const c_void,
) -> c_int {
    count(Id::pselect);
    let Some(f) = real::pselect() else {
        return set_errno(libc::ENOSYS);
    };
    let ns = spec(ts);
    // SAFETY: forwarding the caller's arguments.
    let res = unsafe { f(n, r, w, e, ts, mask) };
    timed_out(res, ns);
    res
}

/// # Safety
/// As for C `epoll_wait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_wait(ep: c_int, ev: *mut c_void, max: c_int, ms: c_int) -> c_int {
    count(Id::epoll_wait);
    let Some(f) = real::epoll_wait() else {
        return set_errno(libc::ENOSYS);
    };
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { f(ep, ev, max, ms) };
    timed_out(r, millis(ms));
    r
}

/// # Safety
/// As for C `epoll_pwait`.
#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    ep: c_int,
    ev: *mut c_void,
    max: c_int,
    ms: c_int,
    mask: *const c_void,
) -> c_int {
    count(Id::epoll_pwait);
    let Some(f) = real::epoll_pwait() else {
        return set_errno(libc::ENOSYS);
    };
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { f(ep, ev, max, ms, mask) };
    timed_out(r, millis(ms));
    r
}
