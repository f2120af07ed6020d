//! The real libc functions behind our hooks, found with `dlsym(RTLD_NEXT)`.
//!
//! Each symbol has a typed accessor that resolves it once and caches it in an atomic slot;
//! racing first calls resolve the same value, so no lock is needed. A symbol this libc lacks
//! is remembered as missing and its accessor returns `None`; callers then fall back to a raw
//! syscall or `ENOSYS`.
//!
//! When: symbols marked `#[eager]` are resolved at load by `resolve_all` (the shim's
//! constructor): every pass-through a hook may need inside a signal handler or a vfork child,
//! where `dlsym` (which locks and may allocate) must not run. The rest resolve on first use:
//! a lookup costs about 0.3 µs and most programs never call most hooks, so resolving them all
//! at every exec would be the larger cost.
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
/// that invokes it, which resolves the `#[eager]` ones. Any hook module may keep its own table:
///
/// ```ignore
/// crate::real::reals! {
///     #[eager] execve(*const c_char, *const *const c_char, *const *const c_char) -> c_int;
///     fopen(*const c_char, *const c_char) -> *mut libc::FILE;
/// }
/// ```
macro_rules! reals {
    (@resolve eager $name:ident) => { let _ = $name(); };
    (@resolve $name:ident) => {};
    ($( $(#[$when:ident])? $name:ident ($($arg:ty),*) -> $ret:ty; )*) => {
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

        /// Resolves this table's `#[eager]` symbols (called once, from the constructor).
        pub fn resolve_all() {
            $( $crate::real::reals!(@resolve $($when)? $name); )*
        }
    };
}
pub(crate) use reals;

type Timespec = libc::timespec;

reals! {
    #[eager] clock_gettime(libc::clockid_t, *mut Timespec) -> c_int;
    #[eager] gettimeofday(*mut libc::timeval, *mut c_void) -> c_int;
    #[eager] time(*mut libc::time_t) -> libc::time_t;
    #[eager] open(*const c_char, c_int, libc::mode_t) -> c_int;
    #[eager] open64(*const c_char, c_int, libc::mode_t) -> c_int;
    #[eager] openat(c_int, *const c_char, c_int, libc::mode_t) -> c_int;
    #[eager] openat64(c_int, *const c_char, c_int, libc::mode_t) -> c_int;
    __open_2(*const c_char, c_int) -> c_int;
    __open64_2(*const c_char, c_int) -> c_int;
    __openat_2(c_int, *const c_char, c_int) -> c_int;
    __openat64_2(c_int, *const c_char, c_int) -> c_int;
    fopen(*const c_char, *const c_char) -> *mut libc::FILE;
    fopen64(*const c_char, *const c_char) -> *mut libc::FILE;
    fdopen(c_int, *const c_char) -> *mut libc::FILE;
    #[eager] read(c_int, *mut c_void, usize) -> isize;
    #[eager] close(c_int) -> c_int;
    #[eager] syscall(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;
    #[eager] getrandom(*mut c_void, usize, c_uint) -> isize;
    getentropy(*mut c_void, usize) -> c_int;
    arc4random() -> u32;
    arc4random_buf(*mut c_void, usize) -> ();
    arc4random_uniform(u32) -> u32;
}
