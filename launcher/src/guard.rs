//! Running the command so that signals reach it and nothing of it outlives detbuild.
//!
//! ```text
//! detbuild (D) ── guardian (G, a fork of D) ── the command (C) ── the rest of the build
//! ```
//!
//! - **Forwarding.** D and G block every forwardable signal ([`forwardable`]: all but the
//!   uncatchable ones, SIGCHLD, faults, SIGPIPE/SIGXFSZ from their own writes, and the
//!   terminal's stop signals, which keep their default) and take them with `sigwaitinfo`, so
//!   there is no handler and no window. A signal sent to D alone (`kill`, `si_code <= 0`)
//!   goes on to G and from G to C; one the terminal sent (`si_code > 0`) already reached the
//!   whole foreground group, so it is not sent twice.
//! - **Nothing outlives D.** G is a child subreaper (`PR_SET_CHILD_SUBREAPER`), so every
//!   process of the build that loses its parent is re-parented to G rather than to init, and
//!   G asked for a signal when D dies (`PR_SET_PDEATHSIG`; D is single-threaded, so "D's
//!   thread" is D). When D dies, however it dies, SIGKILL included, G kills its children
//!   with SIGKILL, again and again as their orphans come to it, until none is left.
//! - Why this and not the alternatives: forwarding alone never sees SIGKILL;
//!   `PR_SET_PDEATHSIG` on the command alone kills the command but not what it started
//!   (make's jobs would run on); exec'ing the command in place of detbuild makes detbuild's
//!   death the command's death, which natively leaves its children running as well. The
//!   price is one fork, a fraction of a millisecond.
//!
//! Exit status: C's own code, or 128+N when C dies of signal N (G exits with that, D repeats
//! it). Processes the build leaves behind once C has ended (daemons) are left alone, as
//! natively; while C runs, orphans are reaped by G.

use crate::error::Error;
use crate::fail;
use std::io;

/// Whether detbuild passes signal `sig` on to the command (see the module docs).
pub fn forwardable(sig: i32) -> bool {
    use libc::*;
    let excluded = [
        SIGKILL, SIGSTOP, SIGCHLD, SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGPIPE, SIGXFSZ,
        SIGTSTP, SIGTTIN, SIGTTOU,
    ];
    (1..=SIGRTMAX()).contains(&sig) && !excluded.contains(&sig) && (sig < 32 || sig >= SIGRTMIN())
}

/// The forwarded signals plus SIGCHLD.
fn waited_set() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: valid set; the signal numbers are in range.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        for sig in (1..=libc::SIGRTMAX()).filter(|&s| forwardable(s)) {
            libc::sigaddset(&mut set, sig);
        }
    }
    set
}

/// Runs the command that `start` launches (returning its pid, or the exit status to report
/// when it could not start) under a guardian, and returns the exit status to mirror.
/// Must be called while the process has a single thread.
pub fn supervise(start: impl FnOnce() -> Result<libc::pid_t, u8>) -> Result<u8, Error> {
    let set = waited_set();
    // SAFETY: blocking signals for this (only) thread; G inherits the mask, and the command
    // gets an empty one (spawn::command's pre_exec clears it).
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    // SAFETY: getpid has no preconditions.
    let parent = unsafe { libc::getpid() };
    // A descriptor on D itself: readable once D has exited, which G checks when a signal
    // arrives. In a new PID namespace G's getppid() reads 0 whether D lives or not, so the
    // parent pid alone cannot tell; without pidfds (Linux < 5.3) G falls back to it.
    // SAFETY: pidfd_open with integer arguments.
    let me = unsafe { libc::syscall(libc::SYS_pidfd_open, parent, 0) } as i32;
    // SAFETY: the process is single-threaded (the caller's contract), so the child may go on
    // running ordinary Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(fail!(
            "cannot fork: {}; free some processes or memory",
            io::Error::last_os_error()
        )),
        0 => guardian(
            Parent {
                pid: parent,
                fd: me,
            },
            &set,
            start,
        ),
        g => {
            if me >= 0 {
                // SAFETY: our own descriptor, not used again here.
                unsafe { libc::close(me) };
            }
            Ok(wait_for(g, &set, None))
        }
    }
}

/// G: sets up the subreaper and the parent-death signal, starts the command, and exits with
/// its status.
/// How G tells whether D still lives.
#[derive(Clone, Copy)]
struct Parent {
    pid: libc::pid_t,
    /// A pidfd on D, or -1.
    fd: i32,
}

impl Parent {
    fn gone(self) -> bool {
        if self.fd >= 0 {
            let mut p = libc::pollfd {
                fd: self.fd,
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd, no wait.
            return unsafe { libc::poll(&mut p, 1, 0) } > 0;
        }
        // SAFETY: getppid has no preconditions.
        unsafe { libc::getppid() != self.pid }
    }
}

fn guardian(
    parent: Parent,
    set: &libc::sigset_t,
    start: impl FnOnce() -> Result<libc::pid_t, u8>,
) -> ! {
    // SAFETY: prctl with integer arguments; SIGTERM is one of the signals G waits for (any
    // would do: G tells D's death from a forwarded signal by its parent pid).
    unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGTERM as libc::c_ulong,
            0,
            0,
            0,
        );
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0);
    }
    if parent.gone() {
        // D died before the parent-death signal was armed: start nothing.
        std::process::exit(128 + libc::SIGKILL);
    }
    crate::isolate::enter_init();
    let status = match start() {
        Ok(pid) => wait_for(pid, set, Some(parent)),
        Err(status) => status,
    };
    std::process::exit(i32::from(status))
}

/// Waits for `child` while forwarding signals to it; with `guard` (D's pid, in G), kills the
/// whole build as soon as D is gone. Returns the exit status to report.
fn wait_for(child: libc::pid_t, set: &libc::sigset_t, guard: Option<Parent>) -> u8 {
    loop {
        // SAFETY: siginfo_t is plain data, filled by sigwaitinfo.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: a valid set and out-pointer.
        let sig = unsafe { libc::sigwaitinfo(set, &mut info) };
        if sig < 0 {
            continue;
        }
        if sig == libc::SIGCHLD {
            if let Some(status) = reap(child) {
                return status;
            }
            continue;
        }
        if guard.is_some_and(Parent::gone) {
            kill_build(child);
            std::process::exit(128 + libc::SIGKILL);
        }
        if info.si_code <= 0 {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(child, sig) };
        }
    }
}

/// Reaps every finished child; `child`'s exit status once it has ended.
fn reap(child: libc::pid_t) -> Option<u8> {
    loop {
        let mut status = 0;
        // SAFETY: a valid out-pointer.
        let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG) };
        if pid <= 0 {
            return None;
        }
        if pid == child {
            return Some(if libc::WIFSIGNALED(status) {
                128u8.wrapping_add(libc::WTERMSIG(status) as u8)
            } else {
                libc::WEXITSTATUS(status) as u8
            });
        }
    }
}

/// Kills every process of the build: G's children, then the orphans that come to G (a
/// subreaper) as their parents die, until G has no child left.
fn kill_build(child: libc::pid_t) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child, libc::SIGKILL) };
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    loop {
        let children = children_of(me);
        for &pid in &children {
            // SAFETY: signalling a child of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut status = 0;
        let flags = if children.is_empty() {
            libc::WNOHANG
        } else {
            0
        };
        // SAFETY: a valid out-pointer.
        if unsafe { libc::waitpid(-1, &mut status, flags) } <= 0 {
            // No child left, or (without /proc) none we can see.
            return;
        }
    }
}

/// The pids whose parent is `parent`, from `/proc/*/stat` (empty without `/proc`).
fn children_of(parent: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| parent_in_stat(&stat))
                == Some(parent)
        })
        .collect()
}

/// The parent pid in a `/proc/PID/stat` line (`pid (comm) state ppid ...`; comm may hold
/// spaces and parentheses, so fields are counted after the last `)`).
fn parent_in_stat(stat: &str) -> Option<libc::pid_t> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_signals() {
        for sig in [
            libc::SIGHUP,
            libc::SIGINT,
            libc::SIGQUIT,
            libc::SIGUSR1,
            libc::SIGUSR2,
            libc::SIGALRM,
            libc::SIGTERM,
            libc::SIGWINCH,
            libc::SIGRTMIN(),
            libc::SIGRTMAX(),
        ] {
            assert!(forwardable(sig), "{sig}");
        }
        for sig in [
            libc::SIGKILL,
            libc::SIGSTOP,
            libc::SIGCHLD,
            libc::SIGSEGV,
            libc::SIGPIPE,
            libc::SIGTSTP,
            32,
            0,
            libc::SIGRTMAX() + 1,
        ] {
            assert!(!forwardable(sig), "{sig}");
        }
    }

    #[test]
    fn stat_lines_give_the_parent() {
        assert_eq!(parent_in_stat("12 (sh) S 7 12 12 0"), Some(7));
        assert_eq!(parent_in_stat("12 (a) b) (c) R 99 1"), Some(99));
        assert_eq!(parent_in_stat("garbage"), None);
    }
}
