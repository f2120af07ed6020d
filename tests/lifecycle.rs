//! The launcher's process contract: exit codes, signals reach the command, nothing of the
//! build outlives detbuild, and every failure to start is one line with its status.

use crate::common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

// Promise: exit codes are the command's own, 127 not found, 126 not executable, 128+N on a
// signal.
#[test]
fn exit_codes_follow_the_documented_contract() {
    assert_eq!(run(&mut det(&[], &["sh", "-c", "exit 7"])).code(), 7);
    let out = run(&mut det(&[], &["no-such-command-xyz"]));
    assert_eq!(out.code(), 127, "{}", out.describe());
    assert!(
        out.stderr.contains("no-such-command-xyz"),
        "{}",
        out.describe()
    );
    let dir = tempdir("noexec");
    let script = dir.join("script.sh");
    std::fs::write(&script, "#!/bin/sh\n").unwrap();
    assert_eq!(run(&mut det(&[], &[script.to_str().unwrap()])).code(), 126);
    assert_eq!(
        run(&mut det(&[], &["sh", "-c", "kill -USR1 $$"])).code(),
        128 + libc::SIGUSR1
    );
    assert_eq!(run(&mut det(&[], &[])).code(), 2);
}

// Promise: SIGTERM sent to detbuild reaches the command, and detbuild exits 128+15.
#[test]
fn sigterm_is_forwarded_to_the_command() {
    let mut cmd = det(&[], &["sleep", "30"]);
    let mut child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "detbuild did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
}

// Promise: a missing shim is a one-line error naming the expected path.
#[test]
fn missing_shim_is_a_clear_error() {
    let dir = tempdir("lonely");
    let lonely = dir.join("detbuild");
    std::fs::copy(detbuild_bin(), &lonely).unwrap();
    let mut cmd = command(&lonely);
    cmd.args(["--epoch", EPOCH, "--", "true"]);
    let out = run(&mut cmd);
    assert_one_line_error(
        &out,
        2,
        &dir.join("libdetbuild_shim.so").display().to_string(),
    );
}

/// Waits up to 10 s for `path` to exist.
#[track_caller]
fn wait_for_file(path: &Path) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits up to 10 s for `child` to end.
#[track_caller]
fn wait_ended(child: &mut Child) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the process did not end"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Starts `cmd` in `dir` with no standard streams.
fn start_in(mut cmd: Command, dir: &Path) -> Child {
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Whether `pid` is a live (not zombie) process running `sleep`.
fn sleeping(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .next();
    stat.contains("(sleep)") && !matches!(state, None | Some("Z") | Some("X"))
}

/// Waits (up to 10 s) until every pid runs `sleep`: the shell writes `$!` before its child
/// has exec'd, and under load the child may still be the shell for a while.
fn until_sleeping(pids: &[i32]) {
    let start = Instant::now();
    while !pids.iter().all(|&p| sleeping(p)) && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The pids written into `names` in `dir` by the build.
fn pids(dir: &Path, names: &[&str]) -> Vec<i32> {
    names
        .iter()
        .map(|n| {
            let file = dir.join(n);
            wait_for_file(&file);
            let start = Instant::now();
            loop {
                let text = std::fs::read_to_string(&file).unwrap();
                if let Ok(pid) = text.trim().parse() {
                    return pid;
                }
                assert!(start.elapsed() < Duration::from_secs(10), "{n}: {text:?}");
                std::thread::sleep(Duration::from_millis(10));
            }
        })
        .collect()
}

// Promise: SIGKILL sent to detbuild leaves no process of the build running: neither the
// command's children nor the grandchildren they left behind.
#[test]
fn sigkill_to_detbuild_leaves_no_process_of_the_build() {
    let script = "sleep 30 & echo $! > a.pid; (sleep 31 & echo $! > b.pid; wait) & wait";
    let names = ["a.pid", "b.pid"];
    // Control: natively, SIGKILL to the shell leaves both sleeps running.
    let dir = tempdir("sigkill-native");
    let mut shell = start_in(native(&["sh", "-c", script]), &dir);
    let sleeps = pids(&dir, &names);
    until_sleeping(&sleeps);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(shell.id() as i32, libc::SIGKILL) };
    wait_ended(&mut shell);
    std::thread::sleep(Duration::from_millis(200));
    let survivors: Vec<_> = sleeps.iter().filter(|&&p| sleeping(p)).collect();
    for &&p in &survivors {
        // SAFETY: cleaning up the sleeps this control started.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
    assert_eq!(
        survivors.len(),
        2,
        "the control's sleeps did not survive: {sleeps:?}"
    );

    // Outside a PID namespace (the guardian's own work; in one, the pids the build writes
    // are the namespace's, see the next test).
    let dir = tempdir("sigkill");
    let mut det_run = start_in(
        det(
            &["--epoch", EPOCH, "--namespaces", "none"],
            &["sh", "-c", script],
        ),
        &dir,
    );
    let sleeps = pids(&dir, &names);
    until_sleeping(&sleeps);
    assert!(sleeps.iter().all(|&p| sleeping(p)), "{sleeps:?}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(det_run.id() as i32, libc::SIGKILL) };
    wait_ended(&mut det_run);
    let start = Instant::now();
    while sleeps.iter().any(|&p| sleeping(p)) {
        if start.elapsed() > Duration::from_secs(10) {
            for &p in &sleeps {
                // SAFETY: cleaning up what the failed promise left running.
                unsafe { libc::kill(p, libc::SIGKILL) };
            }
            panic!("processes of the build outlived detbuild: {sleeps:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

// Promise: every forwardable signal sent to detbuild reaches the command (which dies of
// it), and detbuild exits 128+N; the command starts with no signal blocked.
#[test]
fn every_forwardable_signal_reaches_the_command() {
    let blocked = run(&mut det(&[], &["grep", "SigBlk", "/proc/self/status"])).ok();
    assert_eq!(blocked, "SigBlk:\t0000000000000000\n");
    for sig in [
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGUSR2,
        libc::SIGALRM,
        libc::SIGTERM,
        libc::SIGRTMIN() + 1,
    ] {
        let dir = tempdir("signal");
        let script = "touch started; exec sleep 30";
        let mut child = start_in(det(&["--epoch", EPOCH], &["sh", "-c", script]), &dir);
        wait_for_file(&dir.join("started"));
        std::thread::sleep(Duration::from_millis(50));
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, sig) };
        let status = wait_ended(&mut child);
        assert_eq!(status.code(), Some(128 + sig), "signal {sig}");
    }
}

/// A copy of detbuild in a fresh directory beside a shim library with `bytes` as content.
fn detbuild_with_shim(bytes: &[u8]) -> (PathBuf, PathBuf) {
    let dir = tempdir("bad-shim");
    let bin = dir.join("detbuild");
    // Copied by `cp`, not by this process: a thread of this test binary that forks while we
    // hold the new file open for writing would make its exec fail with ETXTBSY.
    run(&mut native(&[
        "cp",
        detbuild_bin().to_str().unwrap(),
        bin.to_str().unwrap(),
    ]))
    .ok();
    let lib = dir.join("libdetbuild_shim.so");
    std::fs::write(&lib, bytes).unwrap();
    (bin, lib)
}

// Promise: a shim library the loader would skip (empty, not ELF, truncated, for another
// machine) stops detbuild with exit 2 and one line naming the file, before anything runs.
#[test]
fn an_unloadable_shim_is_refused() {
    let good = std::fs::read(shim()).unwrap();
    let mut foreign = good.clone();
    foreign[18..20].copy_from_slice(&183u16.to_le_bytes()); // EM_AARCH64
    let truncated = &good[..3000];
    // Control: the loader itself only warns and runs the program unshimmed.
    let (_, lib) = detbuild_with_shim(b"");
    let mut cmd = native(&["date", "+%Y"]);
    cmd.env("LD_PRELOAD", &lib);
    let out = run(&mut cmd);
    assert!(
        out.status.success() && out.stdout != "1970\n" && out.stderr.contains("ignored"),
        "{}",
        out.describe()
    );
    for (bytes, problem) in [
        (&b""[..], "is empty"),
        (b"not a library\n", "is not an ELF file"),
        (truncated, "is truncated"),
        (&foreign, "is built for another machine"),
    ] {
        let (bin, lib) = detbuild_with_shim(bytes);
        let ran = lib.with_file_name("ran");
        let mut cmd = command(&bin);
        cmd.args(["--epoch", EPOCH, "--", "touch"]).arg(&ran);
        let out = run(&mut cmd);
        assert_one_line_error(&out, 2, &format!("{} {problem}", lib.display()));
        assert!(!ran.exists(), "the command ran with a broken shim");
    }
}

// Promise: a closed or broken stderr never stops the build (detbuild's notices are dropped).
#[test]
fn a_broken_stderr_never_stops_the_build() {
    let mut fds = [0; 2];
    // SAFETY: a valid array for pipe's two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors are fresh and owned here.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let broken = || Stdio::from(write.try_clone().unwrap());
    // Control: the stderr really is broken (the shell dies of SIGPIPE writing to it).
    let dir = tempdir("broken-stderr");
    let mut cmd = native(&["sh", "-c", "echo x >&2; touch after"]);
    cmd.current_dir(&dir).stdin(Stdio::null()).stderr(broken());
    let status = wait_ended(&mut cmd.spawn().unwrap());
    assert!(!status.success() && !dir.join("after").exists());
    // Without any epoch source detbuild prints a notice first, into the broken pipe.
    let mut cmd = det(&["-v"], &["sh", "-c", "touch ran"]);
    cmd.current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(broken());
    let status = wait_ended(&mut cmd.spawn().unwrap());
    assert_eq!(status.code(), Some(0));
    assert!(dir.join("ran").exists());
}

// Promise: `detbuild make` (no `--`) is one line that suggests `detbuild -- make`, and any
// other usage error is one line too.
#[test]
fn a_command_without_dashes_gets_the_fix() {
    let mut cmd = command(detbuild_bin());
    cmd.args(["--epoch", EPOCH, "make", "-j8"]);
    let out = run(&mut cmd);
    assert_one_line_error(&out, 2, "detbuild --epoch 1700000000 -- make -j8");
    let mut cmd = command(detbuild_bin());
    cmd.args(["--bogus", "--", "true"]);
    assert_one_line_error(&run(&mut cmd), 2, "--bogus");
}

// Promise: a directory given as the command is named as a directory, with exit 126.
#[test]
fn a_directory_as_command_says_so() {
    let dir = tempdir("dir-command");
    let out = run(&mut det(&["--epoch", EPOCH], &[dir.to_str().unwrap()]));
    assert_one_line_error(&out, 126, "is a directory");
}

/// Processes of this machine whose command line is exactly `sleep SECONDS`.
fn sleeps_of(seconds: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
        .filter(|c| c == format!("sleep\0{seconds}\0").as_bytes())
        .count()
}

// Promise: SIGKILL sent to detbuild also ends a build running in its private PID namespace
// (where the guardian is pid 1, so the kernel ends the namespace with it).
#[test]
fn sigkill_to_detbuild_ends_a_build_in_a_pid_namespace() {
    if !can_unshare() {
        return;
    }
    let script = "sleep 3141 & (sleep 3142 & wait) & echo started > ready; wait";
    let dir = tempdir("sigkill-pidns");
    let mut det_run = start_in(det(&["--epoch", EPOCH], &["sh", "-c", script]), &dir);
    wait_for_file(&dir.join("ready"));
    let start = Instant::now();
    while sleeps_of("3141") + sleeps_of("3142") < 2 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the sleeps never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: signalling our own child.
    unsafe { libc::kill(det_run.id() as i32, libc::SIGKILL) };
    wait_ended(&mut det_run);
    let start = Instant::now();
    while sleeps_of("3141") + sleeps_of("3142") > 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the build outlived detbuild"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
