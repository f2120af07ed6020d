//! Private namespaces for the build, where the machine allows them (root, `CAP_SYS_ADMIN`).
//!
//! - `pid`: the build runs in a new PID namespace (with its own `/proc` in a private mount
//!   namespace), so pids start at a fixed value and a sequential build sees the same pids on
//!   every run: `$$` in temporary names, bash's `$RANDOM`, util-linux's UUIDs (seeded from
//!   pid and ppid) agree. The launcher forks a small init (pid 1) that starts the command as
//!   pid 2, forwards signals to it and exits with its status; processes the build leaves
//!   running are killed when it ends.
//! - `uts`: a new UTS namespace whose host and domain names are the configured ones, so
//!   statically linked and Go programs see them too. Off by default: in it the kernel itself
//!   reports the configured name, so a program whose `host` switch is real (`ssh`) cannot see
//!   the machine's name any more.
//!
//! - `--build-path DIR`: a private mount namespace in which the working directory is also
//!   mounted (bind) at `DIR`, and the build runs there, so a tree built from `/home/a/src`
//!   and from `/tmp/x/src` records the same paths (`DW_AT_comp_dir`, `__FILE__` of absolute
//!   includes, paths in generated files). `DIR` is created if missing (an empty directory
//!   left on the machine); nothing else is mounted over.
//!
//! Where the kernel refuses the PID or UTS namespace (no privilege), one notice line says so
//! and the build runs without them (the shim's answers still apply); a refused build path is
//! an error, since nothing else can stand in for it.

use crate::error::Error;
use crate::fail;
use detbuild_core::host::Host;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Which namespaces to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespaces {
    pub pid: bool,
    pub uts: bool,
}

impl Default for Namespaces {
    fn default() -> Namespaces {
        Namespaces {
            pid: true,
            uts: false,
        }
    }
}

/// Parses `none` or a comma-separated list of `pid` and `uts`.
pub fn parse(text: &str) -> Result<Namespaces, String> {
    let mut ns = Namespaces {
        pid: false,
        uts: false,
    };
    if text == "none" {
        return Ok(ns);
    }
    for part in text.split(',') {
        match part.trim() {
            "pid" => ns.pid = true,
            "uts" => ns.uts = true,
            other => {
                return Err(format!(
                    "namespace {other:?} is not \"pid\" or \"uts\" (or the whole value \"none\")"
                ))
            }
        }
    }
    Ok(ns)
}

/// Runs `command` (which spawns the build and returns its exit status) inside the chosen
/// namespaces, or directly when none are chosen or the kernel refuses them.
pub fn run(
    ns: Namespaces,
    host: &Host,
    build_path: Option<&Path>,
    command: impl FnOnce() -> Result<u8, Error>,
) -> Result<u8, Error> {
    let mut flags = 0;
    if build_path.is_some() {
        flags |= libc::CLONE_NEWNS;
    }
    if ns.pid {
        flags |= libc::CLONE_NEWPID | libc::CLONE_NEWNS;
    }
    if ns.uts {
        flags |= libc::CLONE_NEWUTS;
    }
    if flags == 0 {
        return command();
    }
    // SAFETY: unshare only changes this process's namespaces (the PID one: its children's).
    if unsafe { libc::unshare(flags) } != 0 {
        let err = std::io::Error::last_os_error();
        if let Some(path) = build_path {
            return Err(fail!(
                "--build-path {}: cannot make a private mount namespace ({err}); run as root, or drop --build-path",
                path.display()
            ));
        }
        eprintln!(
            "detbuild: notice: no private namespaces ({err}; they need root): pids and the \
             kernel's host name stay the machine's (--namespaces none silences this)"
        );
        return command();
    }
    if flags & libc::CLONE_NEWNS != 0 {
        private_mounts();
    }
    if let Some(path) = build_path {
        bind_here(path)?;
    }
    if ns.uts {
        set_names(host);
    }
    if ns.pid {
        // The next process this one forks is the namespace's pid 1: the guardian
        // (guard.rs), which mounts the namespace's /proc before it starts the command, so the
        // command is pid 2. When the guardian leaves, the kernel kills whatever is left.
        PID_NAMESPACE.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    command()
}

/// Set once this process entered a new PID namespace (its children are inside it).
static PID_NAMESPACE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// In the first child after a PID namespace was entered (the guardian): mounts the
/// namespace's own `/proc`, so `/proc/self` and `ps` see the build's pids.
pub fn enter_init() {
    if PID_NAMESPACE.load(std::sync::atomic::Ordering::Relaxed) {
        mount_proc();
    }
}

fn set_names(host: &Host) {
    let (name, domain) = (host.name.as_bytes(), host.domain.as_bytes());
    // SAFETY: both point to `len` readable bytes; only this UTS namespace changes.
    unsafe {
        libc::sethostname(name.as_ptr().cast(), name.len());
        libc::setdomainname(domain.as_ptr().cast(), domain.len());
    }
}

/// Makes every mount of the new mount namespace private, so nothing mounted here shows
/// outside.
fn private_mounts() {
    // SAFETY: literal NUL-terminated strings; only this mount namespace changes.
    unsafe {
        libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        );
    }
}

/// Mounts the working directory at `path` too and moves there.
fn bind_here(path: &Path) -> Result<(), Error> {
    let shown = path.display();
    let cwd =
        std::env::current_dir().map_err(|e| fail!("cannot read the working directory: {e}"))?;
    std::fs::create_dir_all(path)
        .map_err(|e| fail!("--build-path {shown}: cannot create it: {e}"))?;
    let c = |p: &Path| {
        std::ffi::CString::new(p.as_os_str().as_bytes())
            .map_err(|_| fail!("--build-path {shown}: the path holds a NUL byte"))
    };
    let (from, to) = (c(&cwd)?, c(path)?);
    // SAFETY: NUL-terminated paths; the bind mount is private to our mount namespace.
    let r = unsafe {
        libc::mount(
            from.as_ptr(),
            to.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND | libc::MS_REC,
            std::ptr::null(),
        )
    };
    if r != 0 {
        let err = std::io::Error::last_os_error();
        return Err(fail!(
            "--build-path {shown}: cannot mount the tree there: {err}"
        ));
    }
    std::env::set_current_dir(path).map_err(|e| fail!("--build-path {shown}: {e}"))
}

/// Mounts a `/proc` of the new PID namespace (best effort: without it `/proc` still lists the
/// machine's pids).
fn mount_proc() {
    // SAFETY: literal NUL-terminated strings; only this mount namespace changes.
    unsafe {
        libc::mount(
            c"proc".as_ptr(),
            c"/proc".as_ptr(),
            c"proc".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse() {
        assert_eq!(
            parse("none"),
            Ok(Namespaces {
                pid: false,
                uts: false
            })
        );
        assert_eq!(parse("pid"), Ok(Namespaces::default()));
        assert_eq!(
            parse("pid,uts"),
            Ok(Namespaces {
                pid: true,
                uts: true
            })
        );
        assert_eq!(
            parse("uts"),
            Ok(Namespaces {
                pid: false,
                uts: true
            })
        );
        assert!(parse("net").unwrap_err().contains("\"net\""));
        assert!(parse("").is_err());
    }
}
