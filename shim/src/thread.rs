//! Per-thread state: the logical clock, the stream position, and the thread's key.
//!
//! The state lives in a zero-initialised TLS block owned by `c/shim.c` (stable no_std Rust has
//! no TLS), so it never allocates and has no destructor. Fields are atomics only so that a
//! signal handler interrupting a hook on the same thread sees a consistent value: each read of
//! the clock or the stream is one `fetch_add` on this thread's own cache line, with no sharing
//! and no lock.
//!
//! Identity. The main thread's key is the process key. A thread created through our
//! `pthread_create` hook gets `child(creator, thread, n)` for the creator's n-th creation and
//! starts its clock where the creator's clock stood, so threads created in a deterministic
//! order see deterministic values however they are scheduled. A thread we did not see created
//! (glibc-internal helpers, raw `clone`) gets a distinct but unordered key.
//!
//! Fork. A child of our `fork`/`_Fork` hooks (and of `syscall(SYS_fork)`) re-keys its
//! surviving thread with `child(thread, fork, n)`. A fork we did not see (glibc's `clone()`
//! without `CLONE_VM`, an inline `syscall` instruction) is noticed through a `MADV_WIPEONFORK`
//! page whose marker reads zero in the child, which then re-keys itself from the thread's
//! counters as it finds them (`key::unseen_fork_index`). A `vfork` child shares the page and
//! the parent's thread block, so it draws from the parent's streams until it execs.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use detbuild_core::key::{child_key, unseen_fork_index, Child, Key};

extern "C" {
    fn detbuild_thread() -> *mut u8;
    fn detbuild_thread_size() -> usize;
}

const READY: u32 = 1;

/// One thread's state. `#[repr(C)]` over the C TLS block; see the module docs.
#[repr(C)]
pub struct Thread {
    /// Nanoseconds this thread's clock has advanced past the epoch.
    pub clock_ns: AtomicU64,
    /// Next unused block of this thread's random stream.
    pub blocks: AtomicU64,
    /// Random devices opened by this thread.
    pub files: AtomicU64,
    /// Threads created by this thread.
    pub threads: AtomicU64,
    /// Forks made by this thread.
    pub forks: AtomicU64,
    status: AtomicU32,
    busy: AtomicU32,
    key: UnsafeCell<Key>,
}

const _: () = assert!(core::mem::size_of::<Thread>() <= 256);
const _: () = assert!(core::mem::align_of::<Thread>() <= 64);

/// The calling thread's state block (possibly not yet set up; see [`ready`]).
#[inline]
pub fn raw() -> &'static Thread {
    // SAFETY: detbuild_thread returns this thread's TLS block: 256 zero-initialised bytes,
    // 64-aligned, live for the thread's lifetime, and all-zero is a valid `Thread`. The
    // 'static lifetime is only ever used within one hook call on this thread.
    unsafe { &*(detbuild_thread() as *const Thread) }
}

/// Sanity check for the C side's block size (used once at load).
pub fn block_fits() -> bool {
    // SAFETY: a plain C function without arguments.
    unsafe { detbuild_thread_size() >= core::mem::size_of::<Thread>() }
}

static MAIN_CLAIMED: AtomicBool = AtomicBool::new(false);
static FOREIGN: AtomicU64 = AtomicU64::new(0);
/// The WIPEONFORK page, or null when the kernel lacks it.
static FORK_PAGE: AtomicPtr<u64> = AtomicPtr::new(core::ptr::null_mut());
const FORK_MAGIC: u64 = 0x6465_7462_7569_6c64;

impl Thread {
    /// This thread's key.
    #[inline]
    pub fn key(&self) -> &Key {
        // SAFETY: the key is written only by `set` on this same thread, never while a hook of
        // this thread holds the reference (set runs before any stream use on the thread).
        unsafe { &*self.key.get() }
    }

    /// Installs a key and clock for this thread and resets its counters.
    pub fn set(&self, key: &Key, clock_ns: u64) {
        // SAFETY: only this thread touches its own block; see `key`.
        unsafe { *self.key.get() = *key };
        self.clock_ns.store(clock_ns, Ordering::Relaxed);
        for c in [&self.blocks, &self.files, &self.threads, &self.forks] {
            c.store(0, Ordering::Relaxed);
        }
        self.status.store(READY, Ordering::Release);
    }
}

/// The calling thread, set up for a process whose main key is `process_key`.
#[inline]
pub fn ready(process_key: &Key) -> &'static Thread {
    let t = raw();
    if t.status.load(Ordering::Acquire) != READY {
        adopt(t, process_key);
    } else if forked_unseen() {
        unseen_fork(t);
    }
    t
}

/// An unseen fork: the parent did not count it, so the index comes from where the parent
/// stood (see key::unseen_fork_index). Out of line, to keep [`ready`] small.
#[cold]
#[inline(never)]
fn unseen_fork(t: &Thread) {
    let counters = [&t.forks, &t.clock_ns, &t.blocks, &t.files, &t.threads];
    let parent = *t.key();
    after_fork(
        t,
        unseen_fork_index(&counters.map(|c| c.load(Ordering::Relaxed))),
    );
    crate::report::forked(Some((*t.key(), parent)));
}

#[cold]
fn adopt(t: &Thread, process_key: &Key) {
    if MAIN_CLAIMED
        .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        t.set(process_key, crate::handoff::start());
    } else {
        let n = FOREIGN.fetch_add(1, Ordering::Relaxed);
        t.set(
            &child_key(process_key, Child::Thread, n | 1 << 63),
            crate::handoff::start(),
        );
    }
}

/// Re-keys the calling thread as the surviving thread of the `n`-th fork; the clock carries on
/// (and the child's hand-off slot starts empty).
pub fn after_fork(t: &Thread, n: u64) {
    let key = child_key(t.key(), Child::Fork, n);
    t.set(&key, t.clock_ns.load(Ordering::Relaxed));
    arm_fork_page();
    crate::handoff::forked();
}

/// FORK_PAGE's value when the kernel cannot wipe a page on fork (before Linux 4.14).
const NO_PAGE: *mut u64 = core::ptr::dangling_mut();

/// Whether this process is the child of a fork nobody numbered. The page is mapped on the
/// first call in each process, not at load: a mapping costs about 14 µs per exec, and most
/// programs never read the clock or randomness (forks before that first call share a key).
fn forked_unseen() -> bool {
    let p = FORK_PAGE.load(Ordering::Relaxed);
    if p.is_null() {
        arm_fork_page();
        return false;
    }
    // SAFETY: any other value than NO_PAGE points to our own page-sized, 8-aligned mapping
    // that is never unmapped.
    p != NO_PAGE && unsafe { AtomicU64::from_ptr(p) }.load(Ordering::Relaxed) != FORK_MAGIC
}

/// Maps the fork-detection page (once per process) and writes the marker.
pub fn arm_fork_page() {
    let mut p = FORK_PAGE.load(Ordering::Relaxed);
    if p.is_null() {
        let page = match crate::sys::mmap_anon(4096) {
            // SAFETY: `page` is the mapping we just created.
            Some(page)
                if unsafe { crate::sys::madvise(page, 4096, libc::MADV_WIPEONFORK) } == 0 =>
            {
                page.cast()
            }
            Some(page) => {
                // SAFETY: our own mapping, unused.
                unsafe { crate::sys::munmap(page, 4096) };
                NO_PAGE
            }
            None => NO_PAGE,
        };
        p = match FORK_PAGE.compare_exchange(
            core::ptr::null_mut(),
            page,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => page,
            Err(theirs) => {
                if page != NO_PAGE {
                    // SAFETY: our own mapping, lost the race, never published.
                    unsafe { crate::sys::munmap(page.cast(), 4096) };
                }
                theirs
            }
        };
    }
    if p != NO_PAGE {
        // SAFETY: as in forked_unseen.
        unsafe { AtomicU64::from_ptr(p) }.store(FORK_MAGIC, Ordering::Relaxed);
    }
}

/// A re-entry guard for the calling thread: `None` when a hook of this thread is already
/// inside a section that must not nest (symbol lookup, init).
pub struct Busy(&'static Thread);

impl Busy {
    /// Enters the guarded section, or returns `None` if this thread is already inside one.
    pub fn enter() -> Option<Busy> {
        let t = raw();
        if t.busy.swap(1, Ordering::Acquire) != 0 {
            return None;
        }
        Some(Busy(t))
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.busy.store(0, Ordering::Release);
    }
}
