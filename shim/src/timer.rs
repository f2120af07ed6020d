//! Timers armed with an absolute expiry: `timerfd_settime(TFD_TIMER_ABSTIME)` and
//! `timer_settime(TIMER_ABSTIME)` on a REALTIME-family clock.
//!
//! Faked (when the clock is faked): the expiry is a time on the *faked* clock; it is translated
//! like every other deadline (`wait::plan`) into a real `CLOCK_REALTIME` expiry the same
//! distance away, so the timer fires after the intended real duration instead of at once (a
//! faked time is years in the kernel's past). The clock of a timer is not queryable, so
//! `timerfd_create` and `timer_create` remember which descriptors and timer ids run on a
//! REALTIME clock: descriptors below 1024 in the descriptor table ([`crate::fd`], which
//! follows `dup`s and closes), and up to 256 timer ids in a small lock-free set
//! (`detbuild_core::ids`), forgotten by `timer_delete`. Interval periods are relative and stay as they are.
//!
//! Real: relative timers (coreutils `timeout` arms a relative `CLOCK_REALTIME` timer), timers
//! on real clocks, a zero expiry (which disarms), descriptors the table does not know (one
//! inherited across exec, numbers ≥ 1024), the `*_gettime` calls (they report relative
//! times already), and everything when the clock is not faked. Expirations do not move the
//! faked clock. Callers of the pre-2.3.3 `timer_*@GLIBC_2.2.5` ABI are forwarded to the
//! current one.
//!
//! Invariants: a call that is not translated reaches libc with its arguments untouched. No
//! allocation, no lock.

use crate::clock::{is_faked, set_errno};
use crate::hooks::{count, Id};
use crate::wait::{plan, real_deadline};
use crate::{real, state};
use core::ffi::c_int;
use detbuild_core::ids::IdSet;
use libc::{clockid_t, itimerspec, sigevent, timer_t, CLOCK_REALTIME, ENOSYS};

/// POSIX timer ids on a REALTIME-family clock.
static TIMERS: IdSet<256> = IdSet::new();

/// `new` with its absolute faked expiry translated to a real REALTIME one, or `None` when it
/// is not one to translate (see the module docs).
///
/// # Safety
/// `new` must be null or point to a readable `itimerspec`.
unsafe fn translated(new: *const itimerspec) -> Option<itimerspec> {
    // SAFETY: caller's contract.
    let spec = *unsafe { new.as_ref() }?;
    if spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0 {
        return None;
    }
    // SAFETY: points into the local copy.
    let (_, d) = unsafe { plan(&spec.it_value) }?;
    Some(itimerspec {
        it_interval: spec.it_interval,
        it_value: real_deadline(&d, CLOCK_REALTIME),
    })
}

/// Real; remembers whether the new descriptor runs on a faked clock.
#[no_mangle]
pub extern "C" fn timerfd_create(clock: clockid_t, flags: c_int) -> c_int {
    count(Id::timerfd_create);
    let Some(f) = real::timerfd_create() else {
        return set_errno(ENOSYS);
    };
    // SAFETY: forwarding the caller's arguments.
    let fd = unsafe { f(clock, flags) };
    if fd >= 0 && state::clock().is_some() {
        crate::fd::set_timer(fd, is_faked(clock));
    }
    fd
}

/// Translated for an absolute expiry on a known REALTIME timer descriptor.
///
/// # Safety
/// As `timerfd_settime`.
#[no_mangle]
pub unsafe extern "C" fn timerfd_settime(
    fd: c_int,
    flags: c_int,
    new: *const itimerspec,
    old: *mut itimerspec,
) -> c_int {
    count(Id::timerfd_settime);
    let Some(f) = real::timerfd_settime() else {
        return set_errno(ENOSYS);
    };
    if flags & libc::TFD_TIMER_ABSTIME != 0 && crate::fd::kind(fd) == crate::fd::Kind::Timer {
        // SAFETY: caller's contract for new.
        if let Some(spec) = unsafe { translated(new) } {
            // SAFETY: the caller's descriptor and out-param, a local itimerspec.
            return unsafe { f(fd, flags, &spec, old) };
        }
    }
    // SAFETY: forwarding the caller's arguments.
    unsafe { f(fd, flags, new, old) }
}

/// Real; remembers whether the new timer runs on a faked clock.
///
/// # Safety
/// As `timer_create`.
#[no_mangle]
pub unsafe extern "C" fn timer_create(
    clock: clockid_t,
    sev: *mut sigevent,
    id: *mut timer_t,
) -> c_int {
    count(Id::timer_create);
    let Some(f) = real::timer_create() else {
        return set_errno(ENOSYS);
    };
    // SAFETY: forwarding the caller's arguments.
    let r = unsafe { f(clock, sev, id) };
    if r == 0 && !id.is_null() && state::clock().is_some() {
        // SAFETY: libc just wrote the new id there.
        let key = unsafe { *id } as u64;
        if is_faked(clock) {
            TIMERS.insert(key);
        } else {
            TIMERS.remove(key);
        }
    }
    r
}

/// Translated for an absolute expiry on a known REALTIME timer.
///
/// # Safety
/// As `timer_settime`.
#[no_mangle]
pub unsafe extern "C" fn timer_settime(
    id: timer_t,
    flags: c_int,
    new: *const itimerspec,
    old: *mut itimerspec,
) -> c_int {
    count(Id::timer_settime);
    let Some(f) = real::timer_settime() else {
        return set_errno(ENOSYS);
    };
    if flags & libc::TIMER_ABSTIME != 0 && TIMERS.contains(id as u64) {
        // SAFETY: caller's contract for new.
        if let Some(spec) = unsafe { translated(new) } {
            // SAFETY: the caller's timer and out-param, a local itimerspec.
            return unsafe { f(id, flags, &spec, old) };
        }
    }
    // SAFETY: forwarding the caller's arguments.
    unsafe { f(id, flags, new, old) }
}

/// Real; forgets the timer first.
///
/// # Safety
/// As `timer_delete`.
#[no_mangle]
pub unsafe extern "C" fn timer_delete(id: timer_t) -> c_int {
    count(Id::timer_delete);
    TIMERS.remove(id as u64);
    match real::timer_delete() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(id) },
        None => set_errno(ENOSYS),
    }
}
