//! Starting the command: the program is looked up and checked (a static or Go program gets
//! the shim's warning), and a failure to start is one line with the documented status: 127
//! not found, 126 a directory or not executable.

use crate::error::Error;
use crate::{fail, say};
use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The command for `argv` with `env` applied (and `no_new_privs` set in the child); with
/// `pad`, its environment ends with the stack pads the shim gives every later exec
/// (detbuild_core::stack), so the command's own stack does not move with the caller's
/// environment either.
pub fn command(
    argv: &[OsString],
    env: &[(&str, OsString)],
    unset: &[&str],
    no_new_privs: bool,
    pad: bool,
) -> Result<Command, Error> {
    let Some((program, args)) = argv.split_first() else {
        return Err(fail!(
            "no command given; usage: detbuild [OPTIONS] -- COMMAND [ARGS...]"
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for name in unset {
        cmd.env_remove(name);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    if pad {
        for (name, value) in pads(program, args, env, unset) {
            cmd.env(name, value);
        }
    }
    // SAFETY: sigemptyset, pthread_sigmask and prctl are async-signal-safe, as the pre_exec
    // contract requires.
    unsafe {
        cmd.pre_exec(move || {
            // The guardian blocks the signals it forwards; the command starts with none blocked.
            let mut none: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut none);
            libc::pthread_sigmask(libc::SIG_SETMASK, &none, std::ptr::null_mut());
            if no_new_privs && libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    warn_if_unshimmable(program);
    Ok(cmd)
}

/// The stack pads (`DETBUILD_FILL`, `DETBUILD_PAD`, the empty `DETBUILD_PAD_x`) for
/// `program args` started with the launcher's environment changed by `env` and `unset` (as
/// `Command` builds it: one entry per name); none when they would not fit under the kernel's
/// limit.
fn pads(
    program: &OsStr,
    args: &[OsString],
    env: &[(&str, OsString)],
    unset: &[&str],
) -> Vec<(&'static str, OsString)> {
    use detbuild_core::stack::{fill_entry, is_pad, pads_for, FILLERS, FILL_NAME};
    let mut vars: std::collections::BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    for name in unset {
        vars.remove(OsStr::new(name));
    }
    vars.extend(env.iter().map(|(n, v)| (OsString::from(n), v.clone())));
    vars.retain(|name, _| !is_pad(&[name.as_bytes(), b"="].concat()));
    let file = find_program(program).map_or(program.len(), |p| p.as_os_str().len());
    let args = std::iter::once(program).chain(args.iter().map(|a| a.as_os_str()));
    let env = vars.iter().map(|(n, v)| n.len() + v.len() + 1);
    // SAFETY: getauxval reads the auxiliary vector; the platform string lives as long as the
    // process.
    let platform = unsafe {
        let p = libc::getauxval(libc::AT_PLATFORM) as *const libc::c_char;
        if p.is_null() {
            0
        } else {
            std::ffi::CStr::from_ptr(p).to_bytes().len() + 1
        }
    };
    let stack_limit = || {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit.
        unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut limit) };
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    };
    let Some(pads) = pads_for(file, args.map(OsStr::len), env, platform, stack_limit) else {
        return Vec::new();
    };
    let Some(fill) = fill_entry(pads.units) else {
        return Vec::new();
    };
    let fill = &fill[FILL_NAME.len()..fill.len() - 1];
    let mut out = vec![
        ("DETBUILD_FILL", OsStr::from_bytes(fill).to_owned()),
        ("DETBUILD_PAD", ".".repeat(pads.dots).into()),
    ];
    for filler in &FILLERS[..pads.fillers] {
        let name = std::str::from_utf8(&filler[..filler.len() - 2]).expect("ASCII names");
        out.push((name, OsString::new()));
    }
    out
}

/// Starts `cmd`: its pid, or the exit status after a one-line message.
pub fn start(mut cmd: Command) -> Result<libc::pid_t, u8> {
    let program = cmd.get_program().to_owned();
    let name = program.to_string_lossy();
    match cmd.spawn() {
        Ok(child) => Ok(child.id() as libc::pid_t),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            say!("{name}: command not found (check the name and PATH)");
            Err(127)
        }
        Err(_) if program.as_bytes().contains(&b'/') && Path::new(&program).is_dir() => {
            say!("{name}: is a directory, not a program (name the program inside it)");
            Err(126)
        }
        Err(e) if e.kind() == ErrorKind::PermissionDenied => {
            say!("{name}: permission denied (is it executable? try chmod +x)");
            Err(126)
        }
        Err(e) => {
            say!("cannot run {name}: {e}");
            Err(126)
        }
    }
}

/// Prints the shim's one-line warning when the command is a static or Go program, which the
/// shim cannot reach (the shim checks every later exec itself; see shim/src/exec/check.rs).
fn warn_if_unshimmable(program: &OsStr) {
    use detbuild_core::exec::{classify, is_loader, warning_line, Kind};
    let Some(path) = find_program(program) else {
        return;
    };
    let head = read_head(&path);
    let (shown, inner);
    let kind = match classify(&head) {
        Kind::Script(interp) => {
            shown = PathBuf::from(OsStr::from_bytes(interp));
            inner = read_head(&shown);
            classify(&inner)
        }
        kind => {
            shown = path;
            kind
        }
    };
    let shown = shown.as_os_str().as_bytes();
    let mut line = [0u8; 640];
    if let Some(n) = warning_line(shown, kind, &mut line).filter(|_| !is_loader(shown)) {
        let _ = std::io::stderr().write_all(&line[..n]);
    }
}

/// The first bytes of a file that `classify` looks at (empty if unreadable).
fn read_head(path: &Path) -> Vec<u8> {
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file
            .take(detbuild_core::exec::HEAD as u64)
            .read_to_end(&mut head);
    }
    head
}

/// Where `program` is found, as `execvp` would search `PATH`.
fn find_program(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}
