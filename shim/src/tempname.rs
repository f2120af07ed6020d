//! Temporary names: `mkstemp`, `mkostemp`, `mkstemps`, `mkostemps` (and their `64` twins),
//! `mkdtemp`, `mktemp`, `tmpnam`, `tmpnam_r` and `tempnam`.
//!
//! Faked (while randomness is faked for the program): the six characters glibc would pick
//! from the clock and the address space come from the calling thread's stream
//! (`detbuild_core::tempname`), so two runs of `gcc -c x.c` name their `/tmp/ccXXXXXX.s` alike
//! and pass the same argv to `as`. The file or directory is created as glibc does
//! (`O_CREAT | O_EXCL`, mode 0600; directories 0700); a name that exists already is retried
//! with the next draw, never overwritten, so two identical builds running at once on one
//! machine stay correct (the one that loses a race then differs from a run without it).
//! `mktemp`, `tmpnam` and `tempnam` only pick a name no file has yet.
//!
//! Real: everything when randomness is real for the program. `tmpfile` is not hooked: glibc
//! opens it nameless (`O_TMPFILE`), so there is no name to vary.

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{env, random, real, state, sys};
use core::ffi::{c_char, c_int};
use detbuild_core::tempname::{fill, placeholder, ATTEMPTS};

/// What a name is for.
#[derive(Clone, Copy)]
enum Make {
    /// A file opened with these extra flags.
    File(c_int),
    /// A directory.
    Dir,
    /// Nothing: only a name that does not exist.
    Name,
}

/// Fills the template's placeholder until `make` succeeds. Returns the descriptor (files),
/// 0 (directories, names), or -1 with errno set.
///
/// # Safety
/// `template` must be a writable NUL-terminated string.
unsafe fn generate(p: &state::Process, template: *mut c_char, suffix: c_int, make: Make) -> c_int {
    if template.is_null() {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: the caller's writable NUL-terminated string.
    let len = unsafe { core::ffi::CStr::from_ptr(template) }
        .to_bytes()
        .len();
    // SAFETY: as above; `len` bytes before the NUL.
    let bytes = unsafe { core::slice::from_raw_parts_mut(template.cast::<u8>(), len) };
    let Some(range) = placeholder(bytes, usize::try_from(suffix).unwrap_or(usize::MAX)) else {
        return set_errno(libc::EINVAL);
    };
    for _ in 0..ATTEMPTS {
        let mut draw = [0u8; 8];
        random::fill(p, &mut draw);
        crate::report::bytes(crate::report::Entry::Tempname, draw.len());
        fill(&mut bytes[range.clone()], u64::from_le_bytes(draw));
        let path = template as usize;
        // SAFETY: `template` is a NUL-terminated path; plain integer arguments otherwise.
        let r = unsafe {
            match make {
                Make::File(flags) => {
                    let flags =
                        (flags & !libc::O_ACCMODE) | libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
                    sys::syscall6(
                        libc::SYS_openat,
                        libc::AT_FDCWD as usize,
                        path,
                        flags as usize,
                        0o600,
                        0,
                        0,
                    )
                }
                Make::Dir => sys::syscall6(
                    libc::SYS_mkdirat,
                    libc::AT_FDCWD as usize,
                    path,
                    0o700,
                    0,
                    0,
                    0,
                ),
                Make::Name => {
                    let mut st: libc::stat = core::mem::zeroed();
                    let at = &mut st as *mut libc::stat as usize;
                    let flags = libc::AT_SYMLINK_NOFOLLOW as usize;
                    match sys::syscall6(
                        libc::SYS_newfstatat,
                        libc::AT_FDCWD as usize,
                        path,
                        at,
                        flags,
                        0,
                        0,
                    ) {
                        0 => -(libc::EEXIST as isize),
                        r if r == -(libc::ENOENT as isize) => 0,
                        r => r,
                    }
                }
            }
        };
        if r >= 0 {
            return r as c_int;
        }
        if r != -(libc::EEXIST as isize) {
            return set_errno(-r as c_int);
        }
    }
    set_errno(libc::EEXIST)
}

macro_rules! file_hook {
    ($name:ident ($($arg:ident: $ty:ty),*) => $suffix:expr, $flags:expr) => {
        #[doc = concat!("`", stringify!($name), "`: a fresh file, its name from the stream.")]
        ///
        /// # Safety
        /// `template` must be a writable NUL-terminated string.
        #[no_mangle]
        pub unsafe extern "C" fn $name(template: *mut c_char $(, $arg: $ty)*) -> c_int {
            count(Id::$name);
            if let Some(p) = state::random() {
                // SAFETY: caller's contract.
                return unsafe { generate(p, template, $suffix, Make::File($flags)) };
            }
            match real::$name() {
                // SAFETY: forwarding the caller's arguments.
                Some(f) => unsafe { f(template $(, $arg)*) },
                None => set_errno(libc::ENOSYS),
            }
        }
    };
}

file_hook!(mkstemp() => 0, 0);
file_hook!(mkstemp64() => 0, libc::O_LARGEFILE);
file_hook!(mkostemp(flags: c_int) => 0, flags);
file_hook!(mkostemp64(flags: c_int) => 0, flags | libc::O_LARGEFILE);
file_hook!(mkstemps(suffix: c_int) => suffix, 0);
file_hook!(mkstemps64(suffix: c_int) => suffix, libc::O_LARGEFILE);
file_hook!(mkostemps(suffix: c_int, flags: c_int) => suffix, flags);
file_hook!(mkostemps64(suffix: c_int, flags: c_int) => suffix, flags | libc::O_LARGEFILE);

/// `mkdtemp`: a fresh directory, its name from the stream.
///
/// # Safety
/// `template` must be a writable NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mkdtemp(template: *mut c_char) -> *mut c_char {
    count(Id::mkdtemp);
    if let Some(p) = state::random() {
        // SAFETY: caller's contract.
        let ok = unsafe { generate(p, template, 0, Make::Dir) } == 0;
        return if ok { template } else { core::ptr::null_mut() };
    }
    match real::mkdtemp() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(template) },
        None => core::ptr::null_mut(),
    }
}

/// `mktemp`: a name no file has, from the stream; on failure the template becomes empty.
///
/// # Safety
/// `template` must be a writable NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn mktemp(template: *mut c_char) -> *mut c_char {
    count(Id::mktemp);
    if let Some(p) = state::random() {
        // SAFETY: caller's contract.
        if unsafe { generate(p, template, 0, Make::Name) } != 0 && !template.is_null() {
            // SAFETY: the caller's writable string has at least its NUL.
            unsafe { *template = 0 };
        }
        return template;
    }
    match real::mktemp() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(template) },
        None => template,
    }
}

/// glibc's `L_tmpnam`: room for `/tmp/file` and six characters.
const L_TMPNAM: usize = 20;

/// Writes `dir/prefixXXXXXX` with a NUL into `out`; `None` if it does not fit.
fn compose(out: &mut [u8], dir: &[u8], prefix: &[u8]) -> Option<()> {
    let dir = match dir.strip_suffix(b"/") {
        Some(d) if !d.is_empty() => d,
        _ => dir,
    };
    let len = dir.len() + 1 + prefix.len() + 6;
    let out = out.get_mut(..len + 1)?;
    out[..dir.len()].copy_from_slice(dir);
    out[dir.len()] = b'/';
    out[dir.len() + 1..len - 6].copy_from_slice(prefix);
    out[len - 6..len].copy_from_slice(b"XXXXXX");
    out[len] = 0;
    Some(())
}

/// `tmpnam_r`: a `/tmp/fileXXXXXX` name no file has, into the caller's buffer.
///
/// # Safety
/// `s` must be null or point to `L_tmpnam` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tmpnam_r(s: *mut c_char) -> *mut c_char {
    count(Id::tmpnam_r);
    match state::random() {
        // SAFETY: caller's contract.
        Some(p) if !s.is_null() => unsafe { name_into(p, s) },
        _ => match real::tmpnam_r() {
            // SAFETY: forwarding the caller's argument.
            Some(f) => unsafe { f(s) },
            None => core::ptr::null_mut(),
        },
    }
}

/// # Safety
/// `s` must point to `L_tmpnam` writable bytes.
unsafe fn name_into(p: &state::Process, s: *mut c_char) -> *mut c_char {
    // SAFETY: caller's contract.
    let out = unsafe { core::slice::from_raw_parts_mut(s.cast::<u8>(), L_TMPNAM) };
    if compose(out, b"/tmp", b"file").is_none() {
        return core::ptr::null_mut();
    }
    // SAFETY: `s` now holds a NUL-terminated template.
    match unsafe { generate(p, s, 0, Make::Name) } {
        0 => s,
        _ => core::ptr::null_mut(),
    }
}

/// `tmpnam`: as `tmpnam_r`, into a static buffer when `s` is null (not thread-safe, as in
/// libc).
///
/// # Safety
/// `s` must be null or point to `L_tmpnam` writable bytes.
#[no_mangle]
pub unsafe extern "C" fn tmpnam(s: *mut c_char) -> *mut c_char {
    count(Id::tmpnam);
    static mut BUF: [u8; L_TMPNAM] = [0; L_TMPNAM];
    if let Some(p) = state::random() {
        let s = if s.is_null() {
            // libc's tmpnam(NULL) shares one static buffer in the same way.
            core::ptr::addr_of_mut!(BUF).cast::<c_char>()
        } else {
            s
        };
        // SAFETY: `s` is the caller's buffer or ours, both L_tmpnam bytes.
        return unsafe { name_into(p, s) };
    }
    match real::tmpnam() {
        // SAFETY: forwarding the caller's argument.
        Some(f) => unsafe { f(s) },
        None => core::ptr::null_mut(),
    }
}

/// Whether `dir` (NUL-terminated) is a directory.
fn is_dir(dir: &[u8]) -> bool {
    let mut path = [0u8; 4096];
    let Some(slot) = path.get_mut(..dir.len()) else {
        return false;
    };
    slot.copy_from_slice(dir);
    // SAFETY: an all-zero stat is valid to overwrite; `path` is NUL-terminated.
    unsafe {
        let mut st: libc::stat = core::mem::zeroed();
        let at = &mut st as *mut libc::stat as usize;
        let r = sys::syscall6(
            libc::SYS_newfstatat,
            libc::AT_FDCWD as usize,
            path.as_ptr() as usize,
            at,
            0,
            0,
            0,
        );
        r == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
    }
}

/// `tempnam`: a name no file has, in glibc's directory order ($TMPDIR, `dir`, `/tmp`), with up
/// to five characters of `prefix` (default `file`); allocated with `malloc`.
///
/// # Safety
/// `dir` and `prefix` must each be null or NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn tempnam(dir: *const c_char, prefix: *const c_char) -> *mut c_char {
    count(Id::tempnam);
    let (Some(p), Some(malloc)) = (state::random(), real::malloc()) else {
        return match real::tempnam() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(dir, prefix) },
            None => core::ptr::null_mut(),
        };
    };
    // SAFETY: caller's contract (NUL-terminated or null).
    let text = |s: *const c_char| {
        (!s.is_null()).then(|| unsafe { core::ffi::CStr::from_ptr(s) }.to_bytes())
    };
    let from_env = env::Environ::current().find_map(|(_, e)| e.strip_prefix(b"TMPDIR="));
    let chosen = [from_env, text(dir), Some(&b"/tmp"[..])]
        .into_iter()
        .flatten()
        .find(|d| !d.is_empty() && is_dir(d))
        .unwrap_or(b"/tmp");
    let prefix = text(prefix).map_or(&b"file"[..], |p| &p[..p.len().min(5)]);
    let size = chosen.len() + prefix.len() + 9;
    // SAFETY: libc's malloc; tempnam's result is the caller's to free.
    let buf = unsafe { malloc(size) }.cast::<u8>();
    if buf.is_null() {
        set_errno(libc::ENOMEM);
        return core::ptr::null_mut();
    }
    // SAFETY: `size` bytes just allocated.
    let out = unsafe { core::slice::from_raw_parts_mut(buf, size) };
    // SAFETY: `out` holds a NUL-terminated template after compose.
    if compose(out, chosen, prefix).is_some()
        && unsafe { generate(p, buf.cast(), 0, Make::Name) } == 0
    {
        return buf.cast();
    }
    if let Some(free) = real::free() {
        // SAFETY: our own allocation.
        unsafe { free(buf.cast()) };
    }
    core::ptr::null_mut()
}
