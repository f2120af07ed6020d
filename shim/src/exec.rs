//! Exec and spawn hooks: every way a process starts keeps the shim.
//!
//! Hooked: `execve`, `execv`, `execvp`, `execvpe`, `execveat`, `fexecve`, `posix_spawn`,
//! `posix_spawnp`, `pidfd_spawn`, `pidfd_spawnp` (glibc 2.39+; `ENOSYS` where libc lacks
//! them), `system` and `popen`. The C-variadic `execl`, `execle` and `execlp` live in
//! `c/shim.c` and call our `execve`/`execvp`. glibc's own `execv`, `execvp`, `execl*`,
//! `posix_spawn*`, `system` and `popen` reach the kernel through its internal `__execve`, which
//! no hook sees, so each entry point does its own work:
//! - the environment the new program gets is repaired ([`envp`]): if a build cleared it (`env
//!   -i`, an empty `envp`, a rewritten `LD_PRELOAD`), `DETBUILD`, `DETBUILD_ROOT`,
//!   `DETBUILD_KEY` and the shim's `LD_PRELOAD` entry are put back (`SOURCE_DATE_EPOCH` is not:
//!   a build that clears it means it);
//! - the program is checked ([`check`]): a statically linked or Go program gets one warning
//!   line on stderr per path, and is counted in [`STATIC_EXECS`];
//! - `execvp`, `execvpe` and `execlp` search `PATH` themselves ([`path`]), with glibc's rules,
//!   so each candidate goes through the checked `execve`;
//! - the exec is counted ([`inherit`]): a repeat of an identical command hands the new program
//!   a parent key of its own, and an exec from outside the build root makes the working
//!   directory the new program's root.
//!
//! - the clock is handed to the new program ([`handoff::exec`], [`handoff::spawn`]).
//! - in a process that entered a new root, the new program's `LD_PRELOAD` names the shim
//!   through the host root's descriptor or a plant ([`crate::chroot`]), and a failed exec or
//!   spawn removes what was prepared for it ([`envp::Call`] says which result is a start).
//!
//! Modes: active and real (the children of `make` must stay shimmed) repair and check; inert
//! passes every call through untouched. Nothing is faked here.
//!
//! Invariants: the `exec*` hooks may run in a `vfork` child, so they use no heap and no lock
//! (stack buffers, raw syscalls, atomics); their real functions are resolved at load, and
//! an `execve`/`execveat` reached before that falls back to the raw syscall. The spawn,
//! `system` and `popen` hooks never run in a `vfork` child and resolve their real functions
//! on first use. errno is left as the real call sets it.

pub mod check;
pub mod envp;
pub mod inherit;
pub mod pad;
pub mod path;

use crate::clock::set_errno;
use crate::hooks::{count, Id};
use crate::{env, handoff, real, report, sys};
use core::ffi::{c_char, c_int};
use core::sync::atomic::Ordering;
use envp::{shimmed, with_env, Call, Envp};
use inherit::Program;

pub use check::STATIC_EXECS;

/// A NULL-terminated argument array.
pub type Argv = *const *const c_char;
type Actions = libc::posix_spawn_file_actions_t;
type Attr = libc::posix_spawnattr_t;

/// Execs of programs the shim cannot reach so far in this process.
pub fn static_execs() -> u64 {
    STATIC_EXECS.load(Ordering::Relaxed)
}

/// Checks `path` and execs it with `envp` as given (already repaired).
///
/// # Safety
/// As for `execve`.
unsafe fn run(path: *const c_char, argv: Argv, envp: Envp) -> c_int {
    handoff::exec();
    if shimmed() {
        check::program(check::Target::Path(path));
    }
    // SAFETY: an exec path is a NUL-terminated string (caller's contract).
    let reported = unsafe { report::before_exec(path) };
    let r = match real::execve() {
        // SAFETY: forwarding the caller's arguments.
        Some(f) => unsafe { f(path, argv, envp) },
        // SAFETY: as above.
        None => set_errno(-unsafe { sys::execve(path.cast(), argv.cast(), envp.cast()) } as c_int),
    };
    report::exec_failed(reported);
    r
}

/// Repaired environment, checked program, then the real call.
///
/// # Safety
/// As for C `execve`.
#[no_mangle]
pub unsafe extern "C" fn execve(path: *const c_char, argv: Argv, envp: Envp) -> c_int {
    count(Id::execve);
    let program = Program { path, argv };
    // SAFETY: caller's contract; `envp` is the caller's or its repaired copy.
    with_env(envp, program, Call::Exec, |envp| unsafe {
        run(path, argv, envp)
    })
}

/// `execve` with `environ`.
///
/// # Safety
/// As for C `execv`.
#[no_mangle]
pub unsafe extern "C" fn execv(path: *const c_char, argv: Argv) -> c_int {
    count(Id::execv);
    // SAFETY: caller's contract.
    unsafe { execve(path, argv, env::environ_ptr()) }
}

/// Our `PATH` search ([`path`]) over the checked `execve`, with `environ` repaired.
///
/// # Safety
/// As for C `execvp`.
#[no_mangle]
pub unsafe extern "C" fn execvp(file: *const c_char, argv: Argv) -> c_int {
    count(Id::execvp);
    // SAFETY: caller's contract.
    unsafe { execvpe(file, argv, env::environ_ptr()) }
}

/// Our `PATH` search ([`path`]) over the checked `execve`, with `envp` repaired.
///
/// # Safety
/// As for C `execvpe`.
#[no_mangle]
pub unsafe extern "C" fn execvpe(file: *const c_char, argv: Argv, envp: Envp) -> c_int {
    count(Id::execvpe);
    let program = Program { path: file, argv };
    // SAFETY: caller's contract; `envp` is the caller's or its repaired copy.
    with_env(envp, program, Call::Exec, |envp| unsafe {
        path::execvpe(file, argv, envp)
    })
}

/// Repaired environment, checked program (by path, or by descriptor with `AT_EMPTY_PATH`),
/// then the real call.
///
/// # Safety
/// As for C `execveat`.
#[no_mangle]
pub unsafe extern "C" fn execveat(
    dir: c_int,
    path: *const c_char,
    argv: Argv,
    envp: Envp,
    flags: c_int,
) -> c_int {
    count(Id::execveat);
    handoff::exec();
    if shimmed() {
        check::program(check::Target::At(dir, path, flags));
    }
    // SAFETY: an exec path is a NUL-terminated string (caller's contract).
    let reported = unsafe { report::before_exec_at(dir, path) };
    let r = with_env(envp, Program { path, argv }, Call::Exec, |envp| {
        match real::execveat() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(dir, path, argv, envp, flags) },
            // SAFETY: as above.
            None => set_errno(-unsafe {
                sys::execveat(dir, path.cast(), argv.cast(), envp.cast(), flags)
            } as c_int),
        }
    });
    report::exec_failed(reported);
    r
}

/// `execveat(fd, "", argv, envp, AT_EMPTY_PATH)`, as glibc implements it; `EINVAL` for a
/// negative descriptor or null arrays.
///
/// # Safety
/// As for C `fexecve`.
#[no_mangle]
pub unsafe extern "C" fn fexecve(fd: c_int, argv: Argv, envp: Envp) -> c_int {
    count(Id::fexecve);
    handoff::exec();
    if fd < 0 || argv.is_null() || envp.is_null() {
        return set_errno(libc::EINVAL);
    }
    // SAFETY: caller's contract; "" is a NUL-terminated literal.
    unsafe { execveat(fd, c"".as_ptr(), argv, envp, libc::AT_EMPTY_PATH) }
}

/// Repaired environment, checked program, then the real call.
///
/// # Safety
/// As for C `posix_spawn`.
#[no_mangle]
pub unsafe extern "C" fn posix_spawn(
    pid: *mut libc::pid_t,
    path: *const c_char,
    actions: *const Actions,
    attr: *const Attr,
    argv: Argv,
    envp: Envp,
) -> c_int {
    count(Id::posix_spawn);
    handoff::spawn();
    if shimmed() {
        check::program(check::Target::Path(path));
    }
    let program = Program { path, argv };
    with_env(envp, program, Call::Spawn, |envp| {
        match real::posix_spawn() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(pid, path, actions, attr, argv, envp) },
            None => libc::ENOSYS,
        }
    })
}

/// Repaired environment, checked program (the first executable `PATH` candidate), then the
/// real call.
///
/// # Safety
/// As for C `posix_spawnp`.
#[no_mangle]
pub unsafe extern "C" fn posix_spawnp(
    pid: *mut libc::pid_t,
    file: *const c_char,
    actions: *const Actions,
    attr: *const Attr,
    argv: Argv,
    envp: Envp,
) -> c_int {
    count(Id::posix_spawnp);
    handoff::spawn();
    if shimmed() {
        path::check_spawnp(file);
    }
    let program = Program { path: file, argv };
    with_env(
        envp,
        program,
        Call::Spawn,
        |envp| match real::posix_spawnp() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(pid, file, actions, attr, argv, envp) },
            None => libc::ENOSYS,
        },
    )
}

/// glibc 2.39's `pidfd_spawn`: repaired environment, checked program, then the real call;
/// `ENOSYS` where libc lacks it.
///
/// # Safety
/// As for C `pidfd_spawn`.
#[no_mangle]
pub unsafe extern "C" fn pidfd_spawn(
    pidfd: *mut c_int,
    path: *const c_char,
    actions: *const Actions,
    attr: *const Attr,
    argv: Argv,
    envp: Envp,
) -> c_int {
    count(Id::pidfd_spawn);
    handoff::spawn();
    if shimmed() {
        check::program(check::Target::Path(path));
    }
    let program = Program { path, argv };
    with_env(envp, program, Call::Spawn, |envp| {
        match real::pidfd_spawn() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(pidfd, path, actions, attr, argv, envp) },
            None => libc::ENOSYS,
        }
    })
}

/// glibc 2.39's `pidfd_spawnp`: as [`posix_spawnp`]; `ENOSYS` where libc lacks it.
///
/// # Safety
/// As for C `pidfd_spawnp`.
#[no_mangle]
pub unsafe extern "C" fn pidfd_spawnp(
    pidfd: *mut c_int,
    file: *const c_char,
    actions: *const Actions,
    attr: *const Attr,
    argv: Argv,
    envp: Envp,
) -> c_int {
    count(Id::pidfd_spawnp);
    handoff::spawn();
    if shimmed() {
        path::check_spawnp(file);
    }
    let program = Program { path: file, argv };
    with_env(
        envp,
        program,
        Call::Spawn,
        |envp| match real::pidfd_spawnp() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(pidfd, file, actions, attr, argv, envp) },
            None => libc::ENOSYS,
        },
    )
}

/// `environ` repaired in place (glibc runs `/bin/sh` with it), then the real call.
///
/// # Safety
/// As for C `system`.
#[no_mangle]
pub unsafe extern "C" fn system(command: *const c_char) -> c_int {
    count(Id::system);
    handoff::spawn();
    envp::with_environ(
        command,
        |r| *r != -1,
        || match real::system() {
            // SAFETY: forwarding the caller's argument.
            Some(f) => unsafe { f(command) },
            None => set_errno(libc::ENOSYS),
        },
    )
}

/// `environ` repaired in place (glibc runs `/bin/sh` with it), then the real call.
///
/// # Safety
/// As for C `popen`.
#[no_mangle]
pub unsafe extern "C" fn popen(command: *const c_char, mode: *const c_char) -> *mut libc::FILE {
    count(Id::popen);
    handoff::spawn();
    envp::with_environ(
        command,
        |r| !r.is_null(),
        || match real::popen() {
            // SAFETY: forwarding the caller's arguments.
            Some(f) => unsafe { f(command, mode) },
            None => {
                set_errno(libc::ENOSYS);
                core::ptr::null_mut()
            }
        },
    )
}
