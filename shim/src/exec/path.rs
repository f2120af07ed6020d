//! The `PATH` search of `execvp`, `execvpe` and `execlp`, redone on top of our `execve` so that
//! every candidate is checked and gets the repaired environment (glibc's own search calls its
//! internal `__execve`, which no hook sees).
//!
//! Same algorithm as glibc 2.36: a name with a `/` is run as is; otherwise each `PATH` entry
//! (from `environ`, not `envp`; `/bin:/usr/bin` when unset; an empty entry is the working
//! directory) is tried in turn. `ENOEXEC` runs the file with `/bin/sh`; `EACCES` is remembered
//! and reported if nothing runs; `ENOENT`, `ESTALE`, `ENOTDIR`, `ENODEV`, `ETIMEDOUT` move on;
//! any other error stops the search. Names longer than `NAME_MAX` fail with `ENAMETOOLONG`;
//! `PATH` is read up to `PATH_MAX - 1` bytes. Buffers live on the stack (vfork-safe).

use super::envp::{fail, Envp};
use super::{check, run, Argv};
use crate::clock::errno;
use crate::env::Environ;
use crate::sys;
use core::ffi::{c_char, c_int, CStr};

const NAME_MAX: usize = 255;
const PATH_MAX: usize = 4096;
/// Arguments a `/bin/sh` fallback keeps on the stack; longer lists use a mapping.
const STACK_ARGS: usize = 256;

/// `PATH` from `environ`, or glibc's default, cut at `PATH_MAX - 1` bytes.
fn search_path() -> &'static [u8] {
    let path = Environ::current()
        .find_map(|(_, e)| e.strip_prefix(b"PATH="))
        .unwrap_or(b"/bin:/usr/bin");
    &path[..path.len().min(PATH_MAX - 1)]
}

/// Calls `f` with each `dir/file` candidate (NUL-terminated) until it returns `false`.
fn each_candidate(file: &[u8], mut f: impl FnMut(*const c_char) -> bool) {
    let mut buf = [0u8; PATH_MAX + NAME_MAX + 2];
    for dir in search_path().split(|&b| b == b':') {
        let sep = usize::from(!dir.is_empty());
        buf[..dir.len()].copy_from_slice(dir);
        buf[dir.len()] = b'/';
        let start = dir.len() + sep;
        buf[start..start + file.len()].copy_from_slice(file);
        buf[start + file.len()] = 0;
        if !f(buf.as_ptr().cast()) {
            return;
        }
    }
}

/// The file name, or the errno to fail with.
fn name_of<'a>(file: *const c_char) -> Result<&'a [u8], c_int> {
    if file.is_null() {
        return Err(libc::EFAULT);
    }
    // SAFETY: a non-null file name is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(file) }.to_bytes();
    match name.len() {
        0 => Err(libc::ENOENT),
        n if n > NAME_MAX && !name.contains(&b'/') => Err(libc::ENAMETOOLONG),
        _ => Ok(name),
    }
}

/// glibc's `execvpe` over our checked `execve`; `envp` is already repaired.
///
/// # Safety
/// As for `execvpe`.
pub unsafe fn execvpe(file: *const c_char, argv: Argv, envp: Envp) -> c_int {
    let name = match name_of(file) {
        Ok(name) => name,
        Err(e) => return fail(e),
    };
    if name.contains(&b'/') {
        // SAFETY: caller's contract.
        unsafe { attempt(file, argv, envp) };
        return -1;
    }
    let mut denied = false;
    let mut stop = false;
    each_candidate(name, |path| {
        // SAFETY: `path` is NUL-terminated; the rest is the caller's contract.
        match unsafe { attempt(path, argv, envp) } {
            libc::EACCES => denied = true,
            libc::ENOENT | libc::ESTALE | libc::ENOTDIR | libc::ENODEV | libc::ETIMEDOUT => {}
            _ => stop = true,
        }
        !stop
    });
    if denied && !stop {
        return fail(libc::EACCES);
    }
    -1
}

/// One exec attempt, with the `/bin/sh` fallback on `ENOEXEC`; the resulting errno.
unsafe fn attempt(path: *const c_char, argv: Argv, envp: Envp) -> c_int {
    // SAFETY: caller's contract.
    unsafe { run(path, argv, envp) };
    if errno() == libc::ENOEXEC {
        // SAFETY: caller's contract.
        unsafe { script(path, argv, envp) };
    }
    errno()
}

/// Runs `path` with `/bin/sh path argv[1..]`, as glibc does for files without a magic number.
unsafe fn script(path: *const c_char, argv: Argv, envp: Envp) {
    let mut argc = 0;
    // SAFETY: argv is a NULL-terminated array (or null).
    while !argv.is_null() && !unsafe { *argv.add(argc) }.is_null() {
        argc += 1;
    }
    let len = argc.max(1) + 2;
    let mut stack = [core::ptr::null::<c_char>(); STACK_ARGS];
    let size = len * core::mem::size_of::<*const c_char>();
    let mapped = if len > STACK_ARGS {
        match sys::mmap_anon(size) {
            Some(p) => p,
            None => {
                fail(libc::E2BIG);
                return;
            }
        }
    } else {
        core::ptr::null_mut()
    };
    let args: &mut [*const c_char] = if mapped.is_null() {
        &mut stack[..len]
    } else {
        // SAFETY: a fresh mapping of `len` pointers, page-aligned.
        unsafe { core::slice::from_raw_parts_mut(mapped.cast(), len) }
    };
    args[0] = c"/bin/sh".as_ptr();
    args[1] = path;
    for i in 1..argc {
        // SAFETY: i < argc, within argv.
        args[i + 1] = unsafe { *argv.add(i) };
    }
    args[len - 1] = core::ptr::null();
    // SAFETY: a NULL-terminated argument array and the caller's environment.
    unsafe { run(args[0], args.as_ptr(), envp) };
    if !mapped.is_null() {
        let e = errno();
        // SAFETY: our own mapping, no longer used.
        unsafe { sys::munmap(mapped, size) };
        fail(e);
    }
}

/// Calls `f` with the program `posix_spawnp` will run for `file`: `file` itself when it holds
/// a `/`, else the first executable candidate; `f`'s result, or `false` when there is none.
fn with_target(file: *const c_char, f: impl FnOnce(*const c_char) -> bool) -> bool {
    let Ok(name) = name_of(file) else {
        return false;
    };
    if name.contains(&b'/') {
        return f(file);
    }
    let (mut f, mut result) = (Some(f), false);
    each_candidate(name, |path| {
        // SAFETY: `path` is NUL-terminated.
        if unsafe { sys::access(path.cast(), libc::X_OK) } != 0 {
            return true;
        }
        result = f.take().is_some_and(|f| f(path));
        false
    });
    result
}

/// Checks the program `posix_spawnp` will run: the first executable candidate.
pub fn check_spawnp(file: *const c_char) {
    with_target(file, |path| {
        check::program(check::Target::Path(path));
        false
    });
}

/// Whether the program `execvp` or `posix_spawnp` would run for `file` is one the shim cannot
/// reach ([`check::unreachable`]: judged afresh, nothing counted or printed).
pub fn unreachable(file: *const c_char) -> bool {
    // SAFETY: `with_target` passes `file` or a NUL-terminated candidate.
    with_target(file, |path| unsafe { check::unreachable(path) })
}
