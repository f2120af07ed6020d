//! The hook table: the one list of every symbol the shim exports or looks up.
//!
//! Each line of the [`table!`] invocation below is `KIND WHEN name(args) -> ret;`:
//! - `hook`: a function the shim defines and exports (in the family file named in the comment
//!   above its group), with a typed accessor for the real one in [`real`];
//! - `c`: a hook defined in `c/shim.c` (the C-variadic `execl*`); exported, never forwarded;
//! - `real`: a libc function the shim calls but does not hook (`malloc`, `fdopen`, ...).
//!
//! `WHEN` is `eager` for reals resolved by the constructor ([`resolve_eager`]): everything a
//! hook may need inside a signal handler or a vfork child, where `dlsym` (which locks and may
//! allocate) must not run. `lazy` reals resolve on first use: a lookup costs about 0.3 µs and
//! most programs call few hooks. A symbol this libc lacks is remembered as missing and its
//! accessor returns `None`; callers then fall back to a raw syscall or `ENOSYS`.
//!
//! From this one list come: the real-symbol accessors, the eager set, a call counter per
//! entry ([`count`], read by the audit), the exports version script (`build.rs` reads this
//! file), and the export test, which checks that `nm -D` of the built library lists exactly
//! the `hook` and `c` names.
//!
//! `dlsym` may call `malloc`, and an application's allocator may read the clock, which lands
//! in our hook, which may want a real function: a per-thread flag makes such a nested lookup
//! return `None` at once instead of recursing.

use crate::thread;
use core::ffi::c_void;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

/// Marks a symbol that `dlsym` could not find.
const MISSING: *mut c_void = core::ptr::dangling_mut::<c_void>();

/// Looks `name` up in the libraries after ours (see the module docs); null while this thread
/// is already inside a lookup, [`MISSING`] when libc lacks the symbol.
fn lookup(slot: &AtomicPtr<c_void>, name: &[u8]) -> *mut c_void {
    let p = slot.load(Ordering::Acquire);
    if !p.is_null() {
        return p;
    }
    let Some(_guard) = thread::Busy::enter() else {
        return core::ptr::null_mut();
    };
    // SAFETY: `name` is a NUL-terminated literal; RTLD_NEXT asks for the definition after ours.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr().cast()) };
    let value = if found.is_null() { MISSING } else { found };
    slot.store(value, Ordering::Release);
    value
}

/// Counts one call of entry `id`. A plain load and store (no locked add: it would double the
/// cost of a clock read), so concurrent calls from several threads may undercount; exact in
/// a single-threaded process.
#[inline(always)]
pub fn count(id: Id) {
    let c = &CALLS[id as usize];
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// Calls of entry `id` so far in this process (reset by `exec`, and by the audit in a forked
/// child and after a failed exec it reported).
pub fn calls(id: Id) -> u64 {
    CALLS[id as usize].load(Ordering::Relaxed)
}

/// Every entry's calls, in table order (for the audit). The names come from one
/// NUL-separated string: an array of `&str` would cost the loader a relocation per entry in
/// every exec.
pub fn all_calls() -> impl Iterator<Item = (&'static [u8], u64)> {
    JOINED
        .as_bytes()
        .split(|&b| b == 0)
        .zip(CALLS.iter())
        .map(|(name, c)| (name, c.load(Ordering::Relaxed)))
}

/// Sets every call counter back to zero (the audit's fork child and failed exec).
pub fn reset_calls() {
    for c in &CALLS {
        c.store(0, Ordering::Relaxed);
    }
}

macro_rules! table {
    ($( $kind:ident $when:ident $name:ident ( $($arg:ty),* ) -> $ret:ty ; )*) => {
        /// One entry of the table.
        #[allow(non_camel_case_types, dead_code)]
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        #[repr(usize)]
        pub enum Id { $($name),* }

        /// The entries' names, in table order.
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
        /// The same names, NUL-separated, in one string.
        const JOINED: &str = concat!($(stringify!($name), "\0"),*);
        const N: usize = NAMES.len();
        static SLOTS: [AtomicPtr<c_void>; N] = [const { AtomicPtr::new(core::ptr::null_mut()) }; N];
        static CALLS: [AtomicU64; N] = [const { AtomicU64::new(0) }; N];

        /// Typed accessors for the real functions (see the module docs).
        #[allow(non_snake_case, dead_code, clippy::type_complexity)]
        pub mod real {
            use super::*;
            $(
                #[doc = concat!("The real `", stringify!($name), "`, if this libc has it.")]
                #[inline]
                pub fn $name() -> Option<unsafe extern "C" fn($($arg),*) -> $ret> {
                    let p = lookup(&SLOTS[Id::$name as usize], concat!(stringify!($name), "\0").as_bytes());
                    if p.is_null() || p == MISSING {
                        None
                    } else {
                        // SAFETY: `p` is the address of the libc function of this name, whose
                        // C signature is the one declared in the table.
                        Some(unsafe { core::mem::transmute::<*mut c_void, unsafe extern "C" fn($($arg),*) -> $ret>(p) })
                    }
                }
            )*
        }

        /// Resolves the `eager` entries (called once, from the constructor).
        pub fn resolve_eager() {
            $( table!(@resolve $when $name); )*
        }
    };
    (@resolve eager $name:ident) => { let _ = real::$name(); };
    (@resolve lazy $name:ident) => {};
}

use core::ffi::{c_char, c_int, c_long, c_uint, c_ulong};
use libc::{
    clockid_t, itimerspec, mqd_t, pid_t, pthread_attr_t, pthread_cond_t, pthread_mutex_t,
    pthread_rwlock_t, pthread_t, sem_t, sigevent, timer_t, timespec, timeval, FILE,
};
type Argv = *const *const c_char;
type Actions = libc::posix_spawn_file_actions_t;
type Attr = libc::posix_spawnattr_t;
type Start = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type C11Start = unsafe extern "C" fn(*mut c_void) -> c_int;
type Cond = *mut pthread_cond_t;
type Mutex = *mut pthread_mutex_t;
type Rw = *mut pthread_rwlock_t;
type Abs = *const timespec;
type Mode = libc::mode_t;
use crate::dirwalk::{DirCompar, DirFilter, FtsCompar, GlobErr, QCompar};
use libc::{dirent, dirent64, DIR};
type DirList = *mut *mut *mut dirent64;
type Stat = *mut libc::stat;
type Stat64 = *mut libc::stat64;

// The table. `build.rs` reads the `hook` and `c` lines of this invocation (one entry a line).
table! {
    // clock.rs
    hook eager clock_gettime(clockid_t, *mut timespec) -> c_int;
    hook eager gettimeofday(*mut timeval, *mut c_void) -> c_int;
    hook eager time(*mut libc::time_t) -> libc::time_t;
    hook lazy timespec_get(*mut timespec, c_int) -> c_int;
    hook lazy ftime(*mut c_void) -> c_int;
    // random.rs
    hook eager getrandom(*mut c_void, usize, c_uint) -> isize;
    hook lazy getentropy(*mut c_void, usize) -> c_int;
    hook lazy arc4random() -> u32;
    hook lazy arc4random_buf(*mut c_void, usize) -> ();
    hook lazy arc4random_uniform(u32) -> u32;
    // syscall.rs
    hook eager syscall(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
    // vfs.rs: opens of virtual files
    hook eager open(*const c_char, c_int, Mode) -> c_int;
    hook eager open64(*const c_char, c_int, Mode) -> c_int;
    hook eager openat(c_int, *const c_char, c_int, Mode) -> c_int;
    hook eager openat64(c_int, *const c_char, c_int, Mode) -> c_int;
    hook lazy __open_2(*const c_char, c_int) -> c_int;
    hook lazy __open64_2(*const c_char, c_int) -> c_int;
    hook lazy __openat_2(c_int, *const c_char, c_int) -> c_int;
    hook lazy __openat64_2(c_int, *const c_char, c_int) -> c_int;
    hook lazy fopen(*const c_char, *const c_char) -> *mut FILE;
    hook lazy fopen64(*const c_char, *const c_char) -> *mut FILE;
    real lazy fdopen(c_int, *const c_char) -> *mut FILE;
    // chroot.rs: following the build into a new root (and SYS_chroot, SYS_pivot_root in
    // syscall.rs)
    hook lazy chroot(*const c_char) -> c_int;
    // fd.rs: the descriptor table (dup*, close_range: raw syscalls; fcntl64 forwards to fcntl)
    hook eager read(c_int, *mut c_void, usize) -> isize;
    hook eager close(c_int) -> c_int;
    hook lazy dup(c_int) -> c_int;
    hook lazy dup2(c_int, c_int) -> c_int;
    hook lazy dup3(c_int, c_int, c_int) -> c_int;
    hook eager fcntl(c_int, c_int, c_ulong) -> c_int;
    hook lazy fcntl64(c_int, c_int, c_ulong) -> c_int;
    hook lazy close_range(c_uint, c_uint, c_int) -> c_int;
    hook lazy closefrom(c_int) -> ();
    // tempname.rs
    hook lazy mkstemp(*mut c_char) -> c_int;
    hook lazy mkstemp64(*mut c_char) -> c_int;
    hook lazy mkostemp(*mut c_char, c_int) -> c_int;
    hook lazy mkostemp64(*mut c_char, c_int) -> c_int;
    hook lazy mkstemps(*mut c_char, c_int) -> c_int;
    hook lazy mkstemps64(*mut c_char, c_int) -> c_int;
    hook lazy mkostemps(*mut c_char, c_int, c_int) -> c_int;
    hook lazy mkostemps64(*mut c_char, c_int, c_int) -> c_int;
    hook lazy mkdtemp(*mut c_char) -> *mut c_char;
    hook lazy mktemp(*mut c_char) -> *mut c_char;
    hook lazy tmpnam(*mut c_char) -> *mut c_char;
    hook lazy tmpnam_r(*mut c_char) -> *mut c_char;
    hook lazy tempnam(*const c_char, *const c_char) -> *mut c_char;
    real lazy malloc(usize) -> *mut c_void;
    real lazy free(*mut c_void) -> ();
    // exec.rs
    hook eager execve(*const c_char, Argv, Argv) -> c_int;
    hook eager execveat(c_int, *const c_char, Argv, Argv, c_int) -> c_int;
    hook lazy execv(*const c_char, Argv) -> c_int;
    hook lazy execvp(*const c_char, Argv) -> c_int;
    hook lazy execvpe(*const c_char, Argv, Argv) -> c_int;
    hook lazy fexecve(c_int, Argv, Argv) -> c_int;
    c lazy execl(*const c_char, *const c_char) -> c_int;
    c lazy execle(*const c_char, *const c_char) -> c_int;
    c lazy execlp(*const c_char, *const c_char) -> c_int;
    hook lazy posix_spawn(*mut pid_t, *const c_char, *const Actions, *const Attr, Argv, Argv) -> c_int;
    hook lazy posix_spawnp(*mut pid_t, *const c_char, *const Actions, *const Attr, Argv, Argv) -> c_int;
    hook lazy pidfd_spawn(*mut c_int, *const c_char, *const Actions, *const Attr, Argv, Argv) -> c_int;
    hook lazy pidfd_spawnp(*mut c_int, *const c_char, *const Actions, *const Attr, Argv, Argv) -> c_int;
    hook lazy system(*const c_char) -> c_int;
    hook lazy popen(*const c_char, *const c_char) -> *mut FILE;
    real lazy putenv(*mut c_char) -> c_int;
    real lazy setenv(*const c_char, *const c_char, c_int) -> c_int;
    real lazy unsetenv(*const c_char) -> c_int;
    // reap.rs: the final clock and the audit line (report.rs) before the process ends (never
    // forwarded: the hooks end
    // the process with the exit_group syscall, as glibc's _exit does, so a vfork child never
    // needs a lookup)
    hook lazy _exit(c_int) -> ();
    hook lazy _Exit(c_int) -> ();
    // fork.rs
    hook lazy pthread_create(*mut pthread_t, *const pthread_attr_t, Start, *mut c_void) -> c_int;
    hook lazy thrd_create(*mut c_ulong, C11Start, *mut c_void) -> c_int;
    hook eager fork() -> pid_t;
    hook eager _Fork() -> pid_t;
    // wait.rs
    hook eager nanosleep(*const timespec, *mut timespec) -> c_int;
    hook eager clock_nanosleep(clockid_t, c_int, *const timespec, *mut timespec) -> c_int;
    hook eager usleep(libc::useconds_t) -> c_int;
    hook eager sleep(c_uint) -> c_uint;
    hook lazy thrd_sleep(*const timespec, *mut timespec) -> c_int;
    // timedwait.rs
    hook lazy pthread_cond_timedwait(Cond, Mutex, Abs) -> c_int;
    hook lazy pthread_cond_clockwait(Cond, Mutex, clockid_t, Abs) -> c_int;
    hook lazy sem_timedwait(*mut sem_t, Abs) -> c_int;
    hook lazy sem_clockwait(*mut sem_t, clockid_t, Abs) -> c_int;
    hook lazy pthread_mutex_timedlock(Mutex, Abs) -> c_int;
    hook lazy pthread_mutex_clocklock(Mutex, clockid_t, Abs) -> c_int;
    hook lazy pthread_rwlock_timedrdlock(Rw, Abs) -> c_int;
    hook lazy pthread_rwlock_timedwrlock(Rw, Abs) -> c_int;
    hook lazy pthread_rwlock_clockrdlock(Rw, clockid_t, Abs) -> c_int;
    hook lazy pthread_rwlock_clockwrlock(Rw, clockid_t, Abs) -> c_int;
    hook lazy pthread_timedjoin_np(pthread_t, *mut *mut c_void, Abs) -> c_int;
    hook lazy pthread_clockjoin_np(pthread_t, *mut *mut c_void, clockid_t, Abs) -> c_int;
    hook lazy mq_timedreceive(mqd_t, *mut c_char, usize, *mut c_uint, Abs) -> isize;
    hook lazy mq_timedsend(mqd_t, *const c_char, usize, c_uint, Abs) -> c_int;
    hook lazy cnd_timedwait(*mut c_void, *mut c_void, Abs) -> c_int;
    hook lazy mtx_timedlock(*mut c_void, Abs) -> c_int;
    real lazy pthread_mutex_trylock(Mutex) -> c_int;
    real lazy pthread_rwlock_tryrdlock(Rw) -> c_int;
    real lazy pthread_rwlock_trywrlock(Rw) -> c_int;
    real lazy pthread_tryjoin_np(pthread_t, *mut *mut c_void) -> c_int;
    real lazy sem_trywait(*mut sem_t) -> c_int;
    // dir.rs: directory order
    hook lazy opendir(*const c_char) -> *mut DIR;
    hook lazy fdopendir(c_int) -> *mut DIR;
    hook lazy readdir(*mut DIR) -> *mut dirent;
    hook lazy readdir64(*mut DIR) -> *mut dirent64;
    hook lazy readdir_r(*mut DIR, *mut dirent, *mut *mut dirent) -> c_int;
    hook lazy readdir64_r(*mut DIR, *mut dirent64, *mut *mut dirent64) -> c_int;
    hook lazy telldir(*mut DIR) -> c_long;
    hook lazy seekdir(*mut DIR, c_long) -> ();
    hook lazy rewinddir(*mut DIR) -> ();
    hook lazy closedir(*mut DIR) -> c_int;
    // dirwalk.rs: directory order inside glibc
    hook lazy scandir(*const c_char, DirList, DirFilter, DirCompar) -> c_int;
    hook lazy scandir64(*const c_char, DirList, DirFilter, DirCompar) -> c_int;
    hook lazy scandirat(c_int, *const c_char, DirList, DirFilter, DirCompar) -> c_int;
    hook lazy scandirat64(c_int, *const c_char, DirList, DirFilter, DirCompar) -> c_int;
    hook lazy glob(*const c_char, c_int, GlobErr, *mut libc::glob_t) -> c_int;
    hook lazy glob64(*const c_char, c_int, GlobErr, *mut libc::glob_t) -> c_int;
    hook lazy fts_open(*const *mut c_char, c_int, FtsCompar) -> *mut c_void;
    hook lazy fts64_open(*const *mut c_char, c_int, FtsCompar) -> *mut c_void;
    real lazy qsort(*mut c_void, usize, usize, QCompar) -> ();
    // getdents.rs: directory order for raw reads
    hook lazy getdents64(c_int, *mut c_void, usize) -> isize;
    // ftw.rs: directory order in tree walks
    hook lazy nftw(*const c_char, crate::ftw::NftwFn, c_int, c_int) -> c_int;
    hook lazy nftw64(*const c_char, crate::ftw::NftwFn, c_int, c_int) -> c_int;
    hook lazy ftw(*const c_char, crate::ftw::FtwFn, c_int) -> c_int;
    hook lazy ftw64(*const c_char, crate::ftw::FtwFn, c_int) -> c_int;
    // host.rs
    hook lazy uname(*mut libc::utsname) -> c_int;
    hook lazy gethostname(*mut c_char, usize) -> c_int;
    hook lazy getdomainname(*mut c_char, usize) -> c_int;
    // cpus.rs
    hook lazy sysconf(c_int) -> c_long;
    hook lazy get_nprocs() -> c_int;
    hook lazy get_nprocs_conf() -> c_int;
    hook lazy sched_getaffinity(pid_t, usize, *mut libc::cpu_set_t) -> c_int;
    // identity.rs
    hook lazy getpwuid(libc::uid_t) -> *mut libc::passwd;
    hook lazy getpwnam(*const c_char) -> *mut libc::passwd;
    hook lazy getpwent() -> *mut libc::passwd;
    hook lazy getpwuid_r(libc::uid_t, *mut libc::passwd, *mut c_char, usize, *mut *mut libc::passwd) -> c_int;
    hook lazy getpwnam_r(*const c_char, *mut libc::passwd, *mut c_char, usize, *mut *mut libc::passwd) -> c_int;
    hook lazy getgrgid(libc::gid_t) -> *mut libc::group;
    hook lazy getgrnam(*const c_char) -> *mut libc::group;
    hook lazy getgrent() -> *mut libc::group;
    hook lazy getgrgid_r(libc::gid_t, *mut libc::group, *mut c_char, usize, *mut *mut libc::group) -> c_int;
    hook lazy getgrnam_r(*const c_char, *mut libc::group, *mut c_char, usize, *mut *mut libc::group) -> c_int;
    hook lazy getlogin() -> *mut c_char;
    hook lazy getlogin_r(*mut c_char, usize) -> c_int;
    // poll.rs
    hook eager poll(*mut c_void, c_ulong, c_int) -> c_int;
    hook lazy ppoll(*mut c_void, c_ulong, *const timespec, *const c_void) -> c_int;
    hook eager select(c_int, *mut c_void, *mut c_void, *mut c_void, *mut timeval) -> c_int;
    hook lazy pselect(c_int, *mut c_void, *mut c_void, *mut c_void, *const timespec, *const c_void) -> c_int;
    hook lazy epoll_wait(c_int, *mut c_void, c_int, c_int) -> c_int;
    hook lazy epoll_pwait(c_int, *mut c_void, c_int, c_int, *const c_void) -> c_int;
    // reap.rs
    hook eager wait(*mut c_int) -> pid_t;
    hook eager waitpid(pid_t, *mut c_int, c_int) -> pid_t;
    hook eager wait3(*mut c_int, c_int, *mut c_void) -> pid_t;
    hook eager wait4(pid_t, *mut c_int, c_int, *mut c_void) -> pid_t;
    hook eager waitid(c_int, c_uint, *mut libc::siginfo_t, c_int) -> c_int;
    // timer.rs
    hook lazy timerfd_create(clockid_t, c_int) -> c_int;
    hook lazy timerfd_settime(c_int, c_int, *const itimerspec, *mut itimerspec) -> c_int;
    hook lazy timer_create(clockid_t, *mut sigevent, *mut timer_t) -> c_int;
    hook lazy timer_settime(timer_t, c_int, *const itimerspec, *mut itimerspec) -> c_int;
    hook lazy timer_delete(timer_t) -> c_int;
    // uuid.rs (libuuid)
    hook lazy uuid_generate(*mut u8) -> ();
    hook lazy uuid_generate_random(*mut u8) -> ();
    // stat.rs (the *64 hooks forward to the plain name's real function)
    hook eager stat(*const c_char, Stat) -> c_int;
    hook lazy stat64(*const c_char, Stat64) -> c_int;
    hook eager lstat(*const c_char, Stat) -> c_int;
    hook lazy lstat64(*const c_char, Stat64) -> c_int;
    hook eager fstat(c_int, Stat) -> c_int;
    hook lazy fstat64(c_int, Stat64) -> c_int;
    hook eager fstatat(c_int, *const c_char, Stat, c_int) -> c_int;
    hook lazy fstatat64(c_int, *const c_char, Stat64, c_int) -> c_int;
    hook eager statx(c_int, *const c_char, c_int, c_uint, *mut libc::statx) -> c_int;
    hook lazy __xstat(c_int, *const c_char, Stat) -> c_int;
    hook lazy __xstat64(c_int, *const c_char, Stat64) -> c_int;
    hook lazy __lxstat(c_int, *const c_char, Stat) -> c_int;
    hook lazy __lxstat64(c_int, *const c_char, Stat64) -> c_int;
    hook lazy __fxstat(c_int, c_int, Stat) -> c_int;
    hook lazy __fxstat64(c_int, c_int, Stat64) -> c_int;
    hook lazy __fxstatat(c_int, c_int, *const c_char, Stat, c_int) -> c_int;
    hook lazy __fxstatat64(c_int, c_int, *const c_char, Stat64, c_int) -> c_int;
}
