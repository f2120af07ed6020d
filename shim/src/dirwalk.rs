//! Directory order inside glibc: `scandir`, `scandir64`, `scandirat`, `scandirat64`, `glob`,
//! `glob64`, `fts_open`, `fts64_open` (`nftw` and `ftw` are in `ftw.rs`). These read directories through glibc's internal
//! `__readdir64`, which the `readdir` hooks (`dir.rs`) never see, so each is fixed at its
//! own entry point (switch `dirs`):
//!
//! - `scandir*` run the real function with a byte-wise comparison, so the list comes back in
//!   `strcmp` order; a caller's comparison is then applied to that list with `qsort`, which
//!   is deterministic for a given input, so ties in the caller's order (entries it deems
//!   equal) no longer depend on the filesystem.
//! - `glob*` with `GLOB_NOSORT`: the paths the call added are sorted byte-wise afterwards.
//!   Without it glob sorts them itself (by the locale's collation, which the launcher fixes).
//! - `fts*_open` without a comparison get a byte-wise one for the entries below the roots.
//!   The roots keep the caller's order: the comparison calls them equal and glibc 2.36's
//!   `qsort` (a merge sort) keeps equal elements in place.
//!
//! Real: programs whose `dirs` switch is off; the first `glob` ABI (`glob@GLIBC_2.2.5`, binaries linked before glibc 2.27) is
//! answered by the current one.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{real, state};
use core::cmp::Ordering;
use core::ffi::{c_char, c_int, c_void, CStr};
use libc::{dirent64, glob_t};

/// `int (*)(const struct dirent **, const struct dirent **)`.
pub type DirCompar =
    Option<unsafe extern "C" fn(*const *const dirent64, *const *const dirent64) -> c_int>;
/// `int (*)(const struct dirent *)`.
pub type DirFilter = Option<unsafe extern "C" fn(*const dirent64) -> c_int>;
/// `int (*)(const char *, int)`.
pub type GlobErr = Option<unsafe extern "C" fn(*const c_char, c_int) -> c_int>;
/// `int (*)(const FTSENT **, const FTSENT **)`.
pub type FtsCompar =
    Option<unsafe extern "C" fn(*const *const c_void, *const *const c_void) -> c_int>;
type DirCmpFn = unsafe extern "C" fn(*const *const dirent64, *const *const dirent64) -> c_int;
/// `qsort`'s comparison.
pub type QCompar = unsafe extern "C" fn(*const c_void, *const c_void) -> c_int;

extern "C" {
    /// Byte-wise order of two `FTSENT`s' names, roots all equal (`c/shim.c`, which knows the
    /// `FTSENT` layout from `<fts.h>`).
    fn detbuild_fts_bytewise(a: *const *const c_void, b: *const *const c_void) -> c_int;
}

fn c_order(o: Ordering) -> c_int {
    o as c_int
}

/// # Safety
/// `p` points to a NUL-terminated string.
unsafe fn bytes<'a>(p: *const c_char) -> &'a [u8] {
    // SAFETY: caller's contract.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}

/// Byte-wise order of two directory entries' names (a `scandir` comparison).
unsafe extern "C" fn bytewise(a: *const *const dirent64, b: *const *const dirent64) -> c_int {
    // SAFETY: scandir passes pointers to two entries of its list.
    let (a, b) = unsafe { (bytes((**a).d_name.as_ptr()), bytes((**b).d_name.as_ptr())) };
    c_order(detbuild_core::dirs::compare(a, b))
}

/// Runs a real `scandir` variant with the byte-wise comparison, then the caller's.
///
/// # Safety
/// `list` is the caller's out-parameter; `scan` calls the real function.
unsafe fn scan_sorted(
    list: *mut *mut *mut dirent64,
    compar: DirCompar,
    scan: impl FnOnce(DirCompar) -> c_int,
) -> c_int {
    if !state::dirs() {
        return scan(compar);
    }
    let n = scan(Some(bytewise));
    if let (Some(cmp), Some(qsort), true) = (compar, real::qsort(), n > 1) {
        // SAFETY: scandir returned `n` entry pointers in `*list`; both comparisons take two
        // pointers to elements, so the function types agree.
        unsafe {
            qsort(
                (*list).cast(),
                n as usize,
                core::mem::size_of::<*mut dirent64>(),
                core::mem::transmute::<DirCmpFn, QCompar>(cmp),
            )
        };
    }
    n
}

macro_rules! scandir_hook {
    ($name:ident ($($at:ident: $at_ty:ty)?)) => {
        /// Faked: the list in byte-wise order, then the caller's (see the module docs).
        ///
        /// # Safety
        /// The arguments must satisfy `scandir`'s (or `scandirat`'s) contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            $($at: $at_ty,)?
            dir: *const c_char,
            list: *mut *mut *mut dirent64,
            filter: DirFilter,
            compar: DirCompar,
        ) -> c_int {
            count(Id::$name);
            let Some(f) = real::$name() else {
                return set_errno(libc::ENOSYS);
            };
            // SAFETY: forwarding the caller's arguments.
            unsafe { scan_sorted(list, compar, |c| f($($at,)? dir, list, filter, c)) }
        }
    };
}

scandir_hook!(scandir());
scandir_hook!(scandir64());
scandir_hook!(scandirat(fd: c_int));
scandir_hook!(scandirat64(fd: c_int));

macro_rules! glob_hook {
    ($name:ident) => {
        /// Faked: with `GLOB_NOSORT`, the paths this call added in byte-wise order.
        ///
        /// # Safety
        /// The arguments must satisfy `glob`'s contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            pattern: *const c_char,
            flags: c_int,
            err: GlobErr,
            g: *mut glob_t,
        ) -> c_int {
            count(Id::$name);
            let Some(f) = real::$name() else {
                return libc::GLOB_NOSPACE;
            };
            let sort = flags & libc::GLOB_NOSORT != 0 && !g.is_null() && state::dirs();
            // SAFETY: g is the caller's glob_t; with GLOB_APPEND it holds an earlier result.
            let before = if sort && flags & libc::GLOB_APPEND != 0 {
                unsafe { (*g).gl_pathc }
            } else {
                0
            };
            // SAFETY: forwarding the caller's arguments.
            let r = unsafe { f(pattern, flags, err, g) };
            if sort {
                // SAFETY: glob filled `g`.
                unsafe { sort_paths(g, before) };
            }
            r
        }
    };
}

glob_hook!(glob);
glob_hook!(glob64);

/// Sorts the paths after the first `before` of a glob result byte-wise.
///
/// # Safety
/// `g` is a glob result (`gl_pathv` null or holding `gl_offs + gl_pathc` entries).
unsafe fn sort_paths(g: *mut glob_t, before: usize) {
    // SAFETY: caller's contract.
    let g = unsafe { &*g };
    if g.gl_pathv.is_null() || g.gl_pathc <= before {
        return;
    }
    // SAFETY: entries gl_offs .. gl_offs + gl_pathc are the (non-null) paths.
    let paths = unsafe {
        core::slice::from_raw_parts_mut(g.gl_pathv.add(g.gl_offs + before), g.gl_pathc - before)
    };
    // SAFETY: every entry is a NUL-terminated path.
    paths.sort_unstable_by(|&a, &b| unsafe { bytes(a).cmp(bytes(b)) });
}

macro_rules! fts_hook {
    ($name:ident) => {
        /// Faked: without a comparison, entries below the roots come in byte-wise order.
        ///
        /// # Safety
        /// The arguments must satisfy `fts_open`'s contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            argv: *const *mut c_char,
            options: c_int,
            compar: FtsCompar,
        ) -> *mut c_void {
            count(Id::$name);
            let Some(f) = real::$name() else {
                set_errno(libc::ENOSYS);
                return core::ptr::null_mut();
            };
            let compar = match compar {
                None if state::dirs() => Some(detbuild_fts_bytewise as _),
                c => c,
            };
            // SAFETY: forwarding the caller's arguments.
            unsafe { f(argv, options, compar) }
        }
    };
}

fts_hook!(fts_open);
fts_hook!(fts64_open);
