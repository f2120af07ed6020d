//! The real libc functions behind our hooks, found with `dlsym(RTLD_NEXT)`.
//!
//! Each symbol has a typed accessor. All of them are resolved once at load by
//! [`resolve_all`] (called from the shim's constructor); an accessor called earlier (a hook
//! reached from another library's constructor) resolves its symbol on the spot, which is
//! idempotent, so racing threads need no lock. A symbol this libc lacks is remembered as
//! missing and its accessor returns `None`; callers then fall back to a raw syscall or `ENOSYS`.
//!
//! `dlsym` may call `malloc`, and an application's allocator may read the clock, which lands
//! in our hook, which may want a real function: a per-thread flag makes such a nested lookup
//! return `None` at once instead of recursing.

use crate::thread;
use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::sync::atomic::{AtomicPtr, Ordering};

/// Marks a symbol that `dlsym` could not find.
pub const MISSING: *mut c_void = core::ptr::dangling_mut::<c_void>();

/// Looks `name` up in the libraries after ours (see the module docs); null while this thread
/// is already inside a lookup, [`MISSING`] when libc lacks the symbol.
pub fn lookup(slot: &AtomicPtr<c_void>, name: &[u8]) -> *mut c_void {
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

/// Declares typed accessors for real libc functions, plus a `resolve_all()` for the module
/// that invokes it. Any hook module may keep its own table:
///
/// ```ignore
/// crate::real::reals! {
///     execve(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
/// }
/// ```
macro_rules! reals {
    ($( $name:ident ($($arg:ty),*) -> $ret:ty; )*) => {
        $(
            #[doc = concat!("The real `", stringify!($name), "`, if this libc has it.")]
            #[inline]
            #[allow(dead_code)]
            pub fn $name() -> Option<unsafe extern "C" fn($($arg),*) -> $ret> {
                static SLOT: core::sync::atomic::AtomicPtr<core::ffi::c_void> =
                    core::sync::atomic::AtomicPtr::new(core::ptr::null_mut());
                let p = $crate::real::lookup(&SLOT, concat!(stringify!($name), "\0").as_bytes());
                if p.is_null() || p == $crate::real::MISSING {
                    None
                } else {
                    // SAFETY: `p` is the address of the libc function of this name, whose C
                    // signature is the one declared in this table.
                    Some(unsafe { core::mem::transmute::<*mut core::ffi::c_void, unsafe extern "C" fn($($arg),*) -> $ret>(p) })
                }
            }
        )*

        /// Resolves every symbol in this table (called once, from the constructor).
        pub fn resolve_all() {
            $( let _ = $name(); )*
        }
    };
}
pub(crate) use reals;

type Timespec = libc::timespec;
type Sigset = libc::sigset_t;

reals! {
    clock_gettime(libc::clockid_t, *mut Timespec) -> c_int;
    gettimeofday(*mut libc::timeval, *mut c_void) -> c_int;
    time(*mut libc::time_t) -> libc::time_t;
    open(*const c_char, c_int, libc::mode_t) -> c_int;
    open64(*const c_char, c_int, libc::mode_t) -> c_int;
    openat(c_int, *const c_char, c_int, libc::mode_t) -> c_int;
    openat64(c_int, *const c_char, c_int, libc::mode_t) -> c_int;
    __open_2(*const c_char, c_int) -> c_int;
    __open64_2(*const c_char, c_int) -> c_int;
    __openat_2(c_int, *const c_char, c_int) -> c_int;
    __openat64_2(c_int, *const c_char, c_int) -> c_int;
    fopen(*const c_char, *const c_char) -> *mut libc::FILE;
    fopen64(*const c_char, *const c_char) -> *mut libc::FILE;
    fdopen(c_int, *const c_char) -> *mut libc::FILE;
    read(c_int, *mut c_void, usize) -> isize;
    close(c_int) -> c_int;
    syscall(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
    getrandom(*mut c_void, usize, c_uint) -> isize;
    getentropy(*mut c_void, usize) -> c_int;
    arc4random() -> u32;
    arc4random_buf(*mut c_void, usize) -> ();
    arc4random_uniform(u32) -> u32;
    sigprocmask(c_int, *const Sigset, *mut Sigset) -> c_int;
}
