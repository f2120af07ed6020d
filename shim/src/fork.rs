//! Thread and fork hooks: `pthread_create`, `thrd_create`, `fork`, `_Fork`, and the fork-like
//! numbers of `syscall()` (through [`raw_fork`]). They give every thread and every forked child
//! a key derived from its creator's, so what a thread sees depends only on the order in which
//! its creator made it, never on scheduling.
//!
//! Threads. The n-th thread a thread creates (its `threads` counter) gets
//! `child(creator, thread, n)` and starts its clock where the creator's clock stands. The
//! hook hands the real `pthread_create` a trampoline and a small record allocated with libc's
//! real `malloc` (`pthread_create` itself allocates and is not async-signal-safe, so this is
//! the one hook that may); the new thread installs its key and clock from the record, frees
//! it, and calls the user's start routine. A creation that fails still uses up its index.
//! Threads we never see created stay "foreign" (distinct keys, numbered in order of first use,
//! so not reproducible): glibc's internal helpers (`timer_create` with `SIGEV_THREAD`, POSIX
//! AIO, `getaddrinfo_a`), which call glibc's internal `pthread_create`, and threads started by
//! raw `clone`. If libc's `malloc` cannot be found the thread is created unchanged (foreign).
//!
//! Forks map this image's table of exec counts first (`exec::inherit::prepare`), shared with
//! the child, so repeated commands run from forked children are told apart.
//!
//! `fork` and `_Fork` number the calling thread's forks (its `forks` counter, bumped in
//! the parent before the fork, so a failed fork uses up its index too); the child's surviving
//! thread becomes
//! `child(thread, fork, n)` and its clock carries on. `fork` runs the program's
//! `pthread_atfork` child handlers before returning to us; if one of them already used the
//! shim (which then re-keyed it as an unseen fork) the child still ends with the same key.
//! Forks that bypass these hooks (glibc's `clone()` without `CLONE_VM`, `SYS_clone3`, an
//! inline `syscall` instruction) are caught by `thread::ready` through the `MADV_WIPEONFORK`
//! page, keyed from where the forking thread stood (`key::unseen_fork_index`).
//!
//! `vfork` is deliberately not hooked: the child shares the parent's memory and stack until it
//! execs, so a child returning from `vfork` through a frame of ours would leave that frame to
//! be popped twice, the second time by the parent on a stack the child already reused. A vfork
//! child only execs or `_exit`s; `posix_spawn` uses the same mechanism.
//!
//! Invariants: no lock, no panic; no allocation except the thread record; the fork hooks
//! are async-signal-safe (so is `_Fork` in libc; `fork` is, in practice).

use crate::hooks::{count, Id};
use crate::{clock::set_errno, handoff, real, state, thread};
use core::ffi::{c_int, c_long, c_ulong, c_void};
use core::sync::atomic::Ordering;
use detbuild_core::key::{child_key, Child, Key};

/// A pthread start routine.
pub type StartFn = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
/// A C11 `thrd_start_t`.
pub type C11StartFn = unsafe extern "C" fn(*mut c_void) -> c_int;

/// What a new thread needs before its start routine runs; owned by the new thread.
#[repr(C)]
struct Start {
    /// The user's routine: a [`StartFn`] or a [`C11StartFn`], as the trampoline knows.
    routine: *const c_void,
    arg: *mut c_void,
    key: Key,
    clock_ns: u64,
    free: unsafe extern "C" fn(*mut c_void),
}

/// The identity of the creator's next thread, consuming its index.
fn next_thread(t: &thread::Thread) -> (Key, u64) {
    let n = t.threads.fetch_add(1, Ordering::Relaxed);
    (
        child_key(t.key(), Child::Thread, n),
        t.clock_ns.load(Ordering::Relaxed),
    )
}

/// A start record for `routine(arg)` in libc's heap, or `None` (inactive shim, no allocator).
fn prepare(routine: *const c_void, arg: *mut c_void) -> Option<*mut Start> {
    let p = state::active()?;
    let (malloc, free) = (real::malloc()?, real::free()?);
    let t = thread::ready(&p.key);
    // SAFETY: libc's malloc, asked for one record.
    let rec = unsafe { malloc(core::mem::size_of::<Start>()) }.cast::<Start>();
    if rec.is_null() {
        return None;
    }
    let (key, clock_ns) = next_thread(t);
    // SAFETY: rec is a fresh allocation of the right size, and malloc aligns for any type.
    unsafe {
        rec.write(Start {
            routine,
            arg,
            key,
            clock_ns,
            free,
        })
    };
    Some(rec)
}

/// Frees a record the real creation function did not take.
fn discard(rec: *mut Start) {
    // SAFETY: rec came from `prepare` and was not handed to a thread.
    unsafe { ((*rec).free)(rec.cast()) };
}

/// Installs the record's identity on the calling (new) thread, frees the record, and returns
/// the user's routine and argument.
///
/// # Safety
/// `rec` must be a record from `prepare`, handed to this thread and not yet consumed.
unsafe fn adopt(rec: *mut c_void) -> (*const c_void, *mut c_void) {
    // SAFETY: caller's contract; the record is ours alone from here on.
    let start = unsafe { rec.cast::<Start>().read() };
    thread::raw().set(&start.key, start.clock_ns);
    // SAFETY: the record came from the `malloc` that pairs with this `free`.
    unsafe { (start.free)(rec) };
    (start.routine, start.arg)
}

extern "C" fn trampoline(rec: *mut c_void) -> *mut c_void {
    // SAFETY: only `pthread_create` below passes this trampoline, with a fresh record.
    let (routine, arg) = unsafe { adopt(rec) };
    // SAFETY: `routine` was a StartFn when `pthread_create` stored it.
    unsafe { core::mem::transmute::<*const c_void, StartFn>(routine)(arg) }
}

extern "C" fn c11_trampoline(rec: *mut c_void) -> c_int {
    // SAFETY: only `thrd_create` below passes this trampoline, with a fresh record.
    let (routine, arg) = unsafe { adopt(rec) };
    // SAFETY: `routine` was a C11StartFn when `thrd_create` stored it.
    unsafe { core::mem::transmute::<*const c_void, C11StartFn>(routine)(arg) }
}

/// The new thread gets the creator's next thread key and its current clock.
///
/// # Safety
/// As for libc's `pthread_create`.
#[no_mangle]
pub unsafe extern "C" fn pthread_create(
    tid: *mut libc::pthread_t,
    attr: *const libc::pthread_attr_t,
    start: StartFn,
    arg: *mut c_void,
) -> c_int {
    count(Id::pthread_create);
    let Some(real) = real::pthread_create() else {
        return libc::EAGAIN;
    };
    let Some(rec) = prepare(start as *const c_void, arg) else {
        // SAFETY: forwarding the caller's arguments.
        return unsafe { real(tid, attr, start, arg) };
    };
    // SAFETY: the caller's arguments, with our trampoline taking the record.
    let r = unsafe { real(tid, attr, trampoline, rec.cast()) };
    if r != 0 {
        discard(rec);
    }
    r
}

/// C11 threads: glibc's `thrd_create` calls its internal `pthread_create`, so it needs its own
/// hook; same identity rule.
///
/// # Safety
/// As for libc's `thrd_create`.
#[no_mangle]
pub unsafe extern "C" fn thrd_create(
    thr: *mut c_ulong,
    start: C11StartFn,
    arg: *mut c_void,
) -> c_int {
    count(Id::thrd_create);
    const THRD_ERROR: c_int = 2;
    let Some(real) = real::thrd_create() else {
        return THRD_ERROR;
    };
    let Some(rec) = prepare(start as *const c_void, arg) else {
        // SAFETY: forwarding the caller's arguments.
        return unsafe { real(thr, start, arg) };
    };
    // SAFETY: the caller's arguments, with our trampoline taking the record.
    let r = unsafe { real(thr, c11_trampoline, rec.cast()) };
    if r != 0 {
        discard(rec);
    }
    r
}

/// Runs `fork_fn` (a fork-like call returning 0 in the child) under the fork numbering.
///
/// # Safety
/// `fork_fn` must fork the process the way `fork(2)` does: the child is a copy of the calling
/// thread, in a copy of the address space, and returns from `fork_fn` on this same stack.
pub unsafe fn around_fork(fork_fn: impl FnOnce() -> isize) -> isize {
    if state::mode() != state::Mode::Inert {
        // The child's execs count in this image's table (exec/inherit.rs).
        crate::exec::inherit::prepare();
    }
    let Some(p) = state::active() else {
        let pid = fork_fn();
        if pid == 0 {
            handoff::forked();
            crate::report::forked(None);
        }
        return pid;
    };
    let t = thread::ready(&p.key);
    let key = *t.key();
    let n = t.forks.fetch_add(1, Ordering::Relaxed);
    let pid = fork_fn();
    if pid == 0 {
        if t.key() != &key {
            // An atfork child handler used the shim first and re-keyed this thread as an
            // unseen fork; start again from the parent's key (the clock keeps its advance).
            t.set(&key, t.clock_ns.load(Ordering::Relaxed));
        }
        thread::after_fork(t, n);
        crate::report::forked(Some((*t.key(), key)));
    }
    pid
}

/// The child's surviving thread is `child(thread, fork, n)` for this thread's n-th fork.
#[no_mangle]
pub extern "C" fn fork() -> libc::pid_t {
    count(Id::fork);
    match real::fork() {
        // SAFETY: the real fork.
        Some(real) => unsafe { around_fork(|| real() as isize) as libc::pid_t },
        None => set_errno(libc::ENOSYS),
    }
}

/// As `fork` (glibc 2.34's `_Fork` runs no atfork handlers, so only this hook sees it).
#[no_mangle]
pub extern "C" fn _Fork() -> libc::pid_t {
    count(Id::_Fork);
    match real::_Fork() {
        // SAFETY: the real _Fork.
        Some(real) => unsafe { around_fork(|| real() as isize) as libc::pid_t },
        None => set_errno(libc::ENOSYS),
    }
}

/// Whether `syscall(n, a, b, ...)` forks the way `fork(2)` does (a copy of memory, the child
/// on the same stack): `SYS_fork`, and `SYS_clone` without `CLONE_VM` and without a new stack.
pub fn is_raw_fork(n: i64, a: i64, b: i64) -> bool {
    #[cfg(target_arch = "x86_64")]
    if n == libc::SYS_fork {
        return true;
    }
    n == libc::SYS_clone && a & libc::CLONE_VM as i64 == 0 && b == 0
}

/// `syscall(n, ...)` for a number that [`is_raw_fork`]: forwarded to the real `syscall` (or
/// the raw instruction) under the fork numbering.
///
/// # Safety
/// The arguments must be valid for syscall `n`.
pub unsafe fn raw_fork(
    n: c_long,
    a: c_long,
    b: c_long,
    c: c_long,
    d: c_long,
    e: c_long,
    f: c_long,
) -> c_long {
    // SAFETY: forwarding the caller's arguments.
    let call = || unsafe { crate::syscall::forward(n, a, b, c, d, e, f) as isize };
    // SAFETY: `is_raw_fork` admitted only fork-like calls: a copy of memory, same stack.
    unsafe { around_fork(call) as c_long }
}
