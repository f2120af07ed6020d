//! Timed waits with an absolute deadline: condition variables, semaphores, mutexes, rwlocks,
//! joins, message queues, their C11 forms, and `syscall(SYS_futex)` with a REALTIME deadline.
//!
//! Faked (when the clock is faked): a `CLOCK_REALTIME` deadline is a deadline on the *faked*
//! clock, so passed to libc as is it would lie decades away from the real clock (the wait
//! blocks forever) or long past (it returns at once and the program spins). The lock,
//! semaphore and join hooks first try the non-blocking form (`*trylock`, `sem_trywait`,
//! `pthread_tryjoin_np`), so an uncontended call never reads a clock. Then each translates the deadline (`wait::plan`:
//! remaining = deadline - the thread's faked now) into a `CLOCK_MONOTONIC` deadline for
//! libc's `*clock*` variant (`pthread_cond_clockwait`, `sem_clockwait`,
//! `pthread_mutex_clocklock`, `pthread_rwlock_clock*lock`, `pthread_clockjoin_np`), or into a
//! real `CLOCK_REALTIME` deadline where no variant exists (`mq_timedreceive`, `mq_timedsend`,
//! glibc < 2.30, and PI mutexes when the kernel refuses a monotonic one). When the wait times
//! out, the thread's clock moves to the deadline (`wait::finish`), so
//! `while (now < deadline) timedwait(deadline)` loops terminate.
//!
//! Real: deadlines on real clocks, which includes `pthread_cond_timedwait` on a condvar created
//! with `CLOCK_MONOTONIC` (JDK 17 and most runtimes use those). glibc records a condvar's clock
//! in bit 1 of `__wrefs`, byte 36 of `pthread_cond_t` (`detbuild_core::wait`, checked on glibc
//! 2.36); getting this wrong hangs Java. Also real: null or invalid deadlines (libc reports the
//! error), everything when the clock is not faked. Callers of the pre-2.3.2 condvar ABI
//! (`pthread_cond_timedwait@GLIBC_2.2.5`) are forwarded to the current one.
//!
//! Invariants: a call that is not translated reaches libc with its arguments untouched; the
//! return value and errno are libc's. Nothing here allocates or locks (besides the caller's
//! own lock, inside libc).

use crate::clock::errno;
use crate::hooks::{count, Id};
use crate::wait::{finish, plan, real_deadline};
use crate::{real, sys};
use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::sync::atomic::{AtomicU32, Ordering};
use detbuild_core::wait::{cond_is_monotonic, futex_timeout, FutexTimeout, COND_WREFS_OFFSET};
use libc::{
    clockid_t, pthread_cond_t, pthread_mutex_t, pthread_rwlock_t, pthread_t, sem_t, timespec,
    CLOCK_MONOTONIC, CLOCK_REALTIME, EBUSY, EINVAL, ENOSYS, ETIMEDOUT,
};

type Cond = *mut pthread_cond_t;
type Mutex = *mut pthread_mutex_t;
type Rw = *mut pthread_rwlock_t;
type Abs = *const timespec;

/// C11 `thrd_*` results (glibc's `<threads.h>`).
const THRD_SUCCESS: c_int = 0;
const THRD_ERROR: c_int = 2;
const THRD_TIMEDOUT: c_int = 4;

/// Whether a `*clock*` variant's deadline is on the faked clock. These functions accept only
/// `CLOCK_REALTIME` and `CLOCK_MONOTONIC` (other ids get libc's `EINVAL`, untouched), and
/// translate only while the clock is faked.
fn faked_clock(clock: clockid_t) -> bool {
    clock == CLOCK_REALTIME && crate::state::clock().is_some()
}

/// Whether a `-1` return with errno means "timed out" (semaphores, message queues).
fn errno_timed_out(r: isize) -> bool {
    r == -1 && errno() == ETIMEDOUT
}

/// Runs a pthread-style wait (returns an error number) until the faked deadline `abs`: first
/// `attempt`, a non-blocking try (`Some(result)` ends the call, sparing an uncontended lock the
/// clock reads); then `clocked(CLOCK_MONOTONIC, ..)` when libc has the clock variant and
/// accepts it, else `timed(real CLOCK_REALTIME deadline)`. `None`: not a faked deadline, pass
/// through.
///
/// # Safety
/// `abs` must be null or readable; the closures must be the matching libc calls.
unsafe fn pthread_wait(
    abs: Abs,
    attempt: impl FnOnce() -> Option<c_int>,
    clocked: Option<impl FnOnce(&timespec) -> c_int>,
    timed: impl FnOnce(&timespec) -> c_int,
) -> Option<c_int> {
    // SAFETY: caller's contract.
    let (p, d) = unsafe { plan(abs) }?;
    if let Some(r) = attempt() {
        return Some(r);
    }
    let mut r = EINVAL;
    if let Some(f) = clocked {
        r = f(&real_deadline(&d, CLOCK_MONOTONIC));
    }
    if r == EINVAL {
        r = timed(&real_deadline(&d, CLOCK_REALTIME));
    }
    finish(p, &d, r == ETIMEDOUT);
    Some(r)
}

/// An error number for a missing real function.
fn missing() -> c_int {
    ENOSYS
}

/// Whether `cond` was created with `CLOCK_MONOTONIC` (see the module docs).
///
/// # Safety
/// `cond` must point to an initialised `pthread_cond_t`.
unsafe fn cond_monotonic(cond: Cond) -> bool {
    // SAFETY: __wrefs is a 4-aligned u32 inside the 48-byte, 8-aligned pthread_cond_t, updated
    // by glibc with atomic operations.
    let wrefs = unsafe { AtomicU32::from_ptr(cond.cast::<u8>().add(COND_WREFS_OFFSET).cast()) };
    cond_is_monotonic(wrefs.load(Ordering::Relaxed))
}

/// Translated for a REALTIME condvar; a `CLOCK_MONOTONIC` one passes through.
///
/// # Safety
/// As `pthread_cond_timedwait`.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(cond: Cond, m: Mutex, abs: Abs) -> c_int {
    count(Id::pthread_cond_timedwait);
    // SAFETY: a non-null cond points to an initialised condvar by the caller's contract.
    if !cond.is_null() && !unsafe { cond_monotonic(cond) } {
        let clocked = real::pthread_cond_clockwait().map(|f| {
            // SAFETY: the caller's condvar and mutex, a valid deadline.
            move |t: &timespec| unsafe { f(cond, m, CLOCK_MONOTONIC, t) }
        });
        // SAFETY: the closures forward the caller's arguments to libc.
        let timed = |t: &timespec| match real::pthread_cond_timedwait() {
            Some(f) => unsafe { f(cond, m, t) },
            None => missing(),
        };
        // SAFETY: caller's contract for abs.
        if let Some(r) = unsafe { pthread_wait(abs, || None, clocked, timed) } {
            return r;
        }
    }
    match real::pthread_cond_timedwait() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(cond, m, abs) },
        None => missing(),
    }
}

/// Generates a `*clock*` hook: translated on a faked clock, real otherwise; and its `*timed*`
/// sibling: always a REALTIME deadline, so translated.
macro_rules! clock_pair {
    ($timed:ident, $clocked:ident, $try:ident, ($($arg:ident: $ty:ty),*)) => {
        #[doc = concat!("Translated for a REALTIME-family deadline; see the module docs.\n\n",
                        "# Safety\nAs libc's `", stringify!($timed), "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $timed($($arg: $ty,)* abs: Abs) -> c_int {
            count(Id::$timed);
            let clocked = real::$clocked().map(|f| {
                // SAFETY: the caller's object, a valid deadline.
                move |t: &timespec| unsafe { f($($arg,)* CLOCK_MONOTONIC, t) }
            });
            let timed = |t: &timespec| match real::$timed() {
                // SAFETY: the caller's object, a valid deadline.
                Some(f) => unsafe { f($($arg,)* t) },
                None => missing(),
            };
            // EBUSY: it would block; any other result is what the timed call returns too.
            // SAFETY: the caller's object.
            let attempt = || real::$try().map(|f| unsafe { f($($arg),*) }).filter(|&r| r != EBUSY);
            // SAFETY: caller's contract for abs.
            if let Some(r) = unsafe { pthread_wait(abs, attempt, clocked, timed) } {
                return r;
            }
            match real::$timed() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f($($arg,)* abs) },
                None => missing(),
            }
        }

        #[doc = concat!("Translated when `clock` is in the REALTIME family.\n\n",
                        "# Safety\nAs libc's `", stringify!($clocked), "`.")]
        #[no_mangle]
        pub unsafe extern "C" fn $clocked($($arg: $ty,)* clock: clockid_t, abs: Abs) -> c_int {
            count(Id::$clocked);
            if faked_clock(clock) {
                // SAFETY: forwarding to our REALTIME hook, which translates.
                return unsafe { $timed($($arg,)* abs) };
            }
            match real::$clocked() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f($($arg,)* clock, abs) },
                None => missing(),
            }
        }
    };
}

clock_pair!(pthread_mutex_timedlock, pthread_mutex_clocklock, pthread_mutex_trylock, (m: Mutex));
clock_pair!(pthread_rwlock_timedrdlock, pthread_rwlock_clockrdlock, pthread_rwlock_tryrdlock, (rw: Rw));
clock_pair!(pthread_rwlock_timedwrlock, pthread_rwlock_clockwrlock, pthread_rwlock_trywrlock, (rw: Rw));
clock_pair!(pthread_timedjoin_np, pthread_clockjoin_np, pthread_tryjoin_np, (th: pthread_t, ret: *mut *mut c_void));

/// Translated when `clock` is in the REALTIME family (the condvar's own clock is ignored, as
/// libc does).
///
/// # Safety
/// As `pthread_cond_clockwait`.
#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    cond: Cond,
    m: Mutex,
    clock: clockid_t,
    abs: Abs,
) -> c_int {
    count(Id::pthread_cond_clockwait);
    let real = real::pthread_cond_clockwait();
    if faked_clock(clock) {
        let clocked = real.map(|f| {
            // SAFETY: the caller's condvar and mutex, a valid deadline.
            move |t: &timespec| unsafe { f(cond, m, CLOCK_MONOTONIC, t) }
        });
        // SAFETY: libc's own clockwait with a real REALTIME deadline.
        let timed = |t: &timespec| match real {
            Some(f) => unsafe { f(cond, m, CLOCK_REALTIME, t) },
            None => missing(),
        };
        // SAFETY: caller's contract for abs.
        if let Some(r) = unsafe { pthread_wait(abs, || None, clocked, timed) } {
            return r;
        }
    }
    match real {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(cond, m, clock, abs) },
        None => missing(),
    }
}

/// Runs an errno-style wait until the faked deadline `abs`, like [`pthread_wait`].
///
/// # Safety
/// As [`pthread_wait`].
unsafe fn errno_wait(
    abs: Abs,
    attempt: impl FnOnce() -> Option<isize>,
    clocked: Option<impl FnOnce(&timespec) -> c_int>,
    timed: impl FnOnce(&timespec) -> isize,
) -> Option<isize> {
    // SAFETY: caller's contract.
    let (p, d) = unsafe { plan(abs) }?;
    if let Some(r) = attempt() {
        return Some(r);
    }
    let r = match clocked {
        Some(f) => f(&real_deadline(&d, CLOCK_MONOTONIC)) as isize,
        None => timed(&real_deadline(&d, CLOCK_REALTIME)),
    };
    finish(p, &d, errno_timed_out(r));
    Some(r)
}

/// Translated (a REALTIME deadline).
///
/// # Safety
/// As `sem_timedwait`.
#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(sem: *mut sem_t, abs: Abs) -> c_int {
    count(Id::sem_timedwait);
    let clocked = real::sem_clockwait().map(|f| {
        // SAFETY: the caller's semaphore, a valid deadline.
        move |t: &timespec| unsafe { f(sem, CLOCK_MONOTONIC, t) }
    });
    let timed = |t: &timespec| match real::sem_timedwait() {
        // SAFETY: the caller's semaphore, a valid deadline.
        Some(f) => unsafe { f(sem, t) as isize },
        None => crate::clock::set_errno(ENOSYS) as isize,
    };
    // EAGAIN: it would block; success or another error is what sem_timedwait returns too.
    let attempt = || {
        // SAFETY: the caller's semaphore.
        let r = unsafe { real::sem_trywait()?(sem) };
        (r == 0 || errno() != libc::EAGAIN).then_some(r as isize)
    };
    // SAFETY: caller's contract for abs.
    if let Some(r) = unsafe { errno_wait(abs, attempt, clocked, timed) } {
        return r as c_int;
    }
    match real::sem_timedwait() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(sem, abs) },
        None => crate::clock::set_errno(ENOSYS),
    }
}

/// Translated when `clock` is in the REALTIME family.
///
/// # Safety
/// As `sem_clockwait`.
#[no_mangle]
pub unsafe extern "C" fn sem_clockwait(sem: *mut sem_t, clock: clockid_t, abs: Abs) -> c_int {
    count(Id::sem_clockwait);
    if faked_clock(clock) {
        // SAFETY: forwarding to our REALTIME hook, which translates.
        return unsafe { sem_timedwait(sem, abs) };
    }
    match real::sem_clockwait() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(sem, clock, abs) },
        None => crate::clock::set_errno(ENOSYS),
    }
}

/// Translated to a real REALTIME deadline (no clock variant exists).
///
/// # Safety
/// As `mq_timedreceive`.
#[no_mangle]
pub unsafe extern "C" fn mq_timedreceive(
    q: libc::mqd_t,
    buf: *mut c_char,
    len: usize,
    prio: *mut c_uint,
    abs: Abs,
) -> isize {
    count(Id::mq_timedreceive);
    let Some(real) = real::mq_timedreceive() else {
        return crate::clock::set_errno(ENOSYS) as isize;
    };
    let none: Option<fn(&timespec) -> c_int> = None;
    // SAFETY: the caller's queue and buffer, a valid deadline.
    let timed = |t: &timespec| unsafe { real(q, buf, len, prio, t) };
    // SAFETY: caller's contract for abs.
    if let Some(r) = unsafe { errno_wait(abs, || None, none, timed) } {
        return r;
    }
    // SAFETY: forwarding the caller's arguments.
    unsafe { real(q, buf, len, prio, abs) }
}

/// Translated to a real REALTIME deadline (no clock variant exists).
///
/// # Safety
/// As `mq_timedsend`.
#[no_mangle]
pub unsafe extern "C" fn mq_timedsend(
    q: libc::mqd_t,
    msg: *const c_char,
    len: usize,
    prio: c_uint,
    abs: Abs,
) -> c_int {
    count(Id::mq_timedsend);
    let Some(real) = real::mq_timedsend() else {
        return crate::clock::set_errno(ENOSYS);
    };
    let none: Option<fn(&timespec) -> c_int> = None;
    // SAFETY: the caller's queue and message, a valid deadline.
    let timed = |t: &timespec| unsafe { real(q, msg, len, prio, t) as isize };
    // SAFETY: caller's contract for abs.
    if let Some(r) = unsafe { errno_wait(abs, || None, none, timed) } {
        return r as c_int;
    }
    // SAFETY: forwarding the caller's arguments.
    unsafe { real(q, msg, len, prio, abs) }
}

/// A pthread error number as a C11 `thrd_*` result.
fn thrd_result(r: c_int) -> c_int {
    match r {
        0 => THRD_SUCCESS,
        ETIMEDOUT => THRD_TIMEDOUT,
        _ => THRD_ERROR,
    }
}

/// C11 `cnd_timedwait` (a `TIME_UTC` deadline; glibc calls its internal condvar wait, which
/// bypasses our pthread hooks). A `cnd_t` is a `pthread_cond_t` created without attributes.
///
/// # Safety
/// As `cnd_timedwait`.
#[no_mangle]
pub unsafe extern "C" fn cnd_timedwait(cond: *mut c_void, mtx: *mut c_void, abs: Abs) -> c_int {
    count(Id::cnd_timedwait);
    if crate::state::clock().is_some() {
        // SAFETY: cnd_t and mtx_t are glibc's pthread types under another name.
        let r = unsafe { pthread_cond_timedwait(cond.cast(), mtx.cast(), abs) };
        return thrd_result(r);
    }
    match real::cnd_timedwait() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(cond, mtx, abs) },
        None => THRD_ERROR,
    }
}

/// C11 `mtx_timedlock` (a `TIME_UTC` deadline), translated like `pthread_mutex_timedlock`.
///
/// # Safety
/// As `mtx_timedlock`.
#[no_mangle]
pub unsafe extern "C" fn mtx_timedlock(mtx: *mut c_void, abs: Abs) -> c_int {
    count(Id::mtx_timedlock);
    if crate::state::clock().is_some() {
        // SAFETY: mtx_t is glibc's pthread_mutex_t under another name.
        return thrd_result(unsafe { pthread_mutex_timedlock(mtx.cast(), abs) });
    }
    match real::mtx_timedlock() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(mtx, abs) },
        None => THRD_ERROR,
    }
}

/// `syscall(SYS_futex, ...)` with an absolute REALTIME deadline (abseil's and folly's futex
/// waits, `FUTEX_LOCK_PI`): the deadline is translated (`detbuild_core::wait::futex_timeout`)
/// and the call issued as a raw syscall; `None` for every other operation, which
/// [`crate::syscall`] passes through untouched. Returns the `syscall()` convention.
///
/// # Safety
/// The arguments must be valid for `SYS_futex`.
pub unsafe fn futex(
    word: c_long,
    op: c_long,
    val: c_long,
    timeout: c_long,
    word2: c_long,
    val3: c_long,
) -> Option<c_long> {
    let (new_op, clock) = match futex_timeout(op as c_int) {
        FutexTimeout::Untouched => return None,
        FutexTimeout::Monotonic(new_op) => (new_op, CLOCK_MONOTONIC),
        FutexTimeout::Realtime => (op as c_int, CLOCK_REALTIME),
    };
    // SAFETY: the timeout argument is null or a timespec by the caller's contract.
    let (p, d) = unsafe { plan(timeout as Abs) }?;
    let t = real_deadline(&d, clock);
    // SAFETY: the caller's futex words and values, a local deadline.
    let r = unsafe {
        sys::syscall6(
            libc::SYS_futex,
            word as usize,
            new_op as usize,
            val as usize,
            &t as *const timespec as usize,
            word2 as usize,
            val3 as usize,
        )
    };
    finish(p, &d, r == -(ETIMEDOUT as isize));
    Some(if r < 0 {
        crate::clock::set_errno(-r as c_int) as c_long
    } else {
        r as c_long
    })
}
