//! Test harness: run real programs natively and under `detbuild`, with hard time limits, and
//! show command, status, stdout and stderr whenever an expectation fails.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The epoch most tests use.
pub const EPOCH: &str = "1700000000";
/// Default hard limit for one command.
pub const LIMIT: Duration = Duration::from_secs(60);

/// The `detbuild` binary under test; fails early if the shim was not built beside it.
pub fn detbuild_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_detbuild"));
    let shim = bin.with_file_name("libdetbuild_shim.so");
    assert!(
        shim.is_file(),
        "{} is missing: run `cargo build --workspace` before `cargo test --workspace`",
        shim.display()
    );
    bin
}

/// The shim library under test.
pub fn shim() -> PathBuf {
    detbuild_bin().with_file_name("libdetbuild_shim.so")
}

/// A fresh empty directory for one test, outside any git repository (so the launcher's git
/// epoch lookup finds nothing unless a test makes a repository).
pub fn tempdir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join("detbuild-tests").join(format!(
        "{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A command with a clean, fixed environment (no inherited SOURCE_DATE_EPOCH or preload).
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_remove("SOURCE_DATE_EPOCH")
        .env_remove("LD_PRELOAD")
        .env_remove("DETBUILD")
        .env_remove("DETBUILD_ROOT")
        .env("LC_ALL", "C")
        .env("TZ", "UTC");
    cmd
}

/// `argv` run natively.
pub fn native(argv: &[&str]) -> Command {
    let mut cmd = command(argv[0]);
    cmd.args(&argv[1..]);
    cmd
}

/// `detbuild FLAGS -- argv`.
pub fn det(flags: &[&str], argv: &[&str]) -> Command {
    let mut cmd = command(detbuild_bin());
    cmd.args(flags).arg("--").args(argv);
    cmd
}

/// What a finished command did.
pub struct Output {
    pub shown: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Everything about the run, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.shown, self.status, self.stdout, self.stderr
        )
    }

    /// Asserts success and returns stdout.
    #[track_caller]
    pub fn ok(self) -> String {
        assert!(self.status.success(), "command failed\n{}", self.describe());
        self.stdout
    }

    /// The exit code (panics, with details, when killed by a signal).
    #[track_caller]
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("no exit code\n{}", self.describe()))
    }
}

/// Runs `cmd` to completion within [`LIMIT`].
#[track_caller]
pub fn run(cmd: &mut Command) -> Output {
    run_within(cmd, LIMIT)
}

/// Runs `cmd` to completion; past `limit` its whole process group is killed and the test fails.
#[track_caller]
pub fn run_within(cmd: &mut Command, limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {shown}: {e}"));
    let pgid = child.id() as i32;
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out_pipe.read_to_end(&mut v);
        v
    });
    let err = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err_pipe.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if start.elapsed() > limit {
            // SAFETY: signalling a process group we created.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
            let _ = child.wait();
            let (o, e) = (out.join().unwrap(), err.join().unwrap());
            panic!(
                "HANG: {shown} did not finish within {limit:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
                String::from_utf8_lossy(&o),
                String::from_utf8_lossy(&e)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Grandchildren left running in the group would hold the pipes open.
    // SAFETY: signalling a process group we created.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    Output {
        shown,
        status,
        stdout: String::from_utf8_lossy(&out.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err.join().unwrap()).into_owned(),
    }
}

/// Compiles `tests/probes/NAME.c` once per test run and returns the executable.
pub fn probe(name: &str) -> PathBuf {
    probe_with(name, &[])
}

/// Like [`probe`], with extra compiler flags (the flags become part of the binary's name).
pub fn probe_with(name: &str, flags: &[&str]) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let tag = format!("{name}{}", flags.join("").replace(['-', '=', '/'], "_"));
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(&tag) {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/probes")
        .join(format!("{name}.c"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("probe-{tag}"));
    let mut cc = command("gcc");
    cc.args(["-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o"])
        .arg(&out)
        .arg(&src)
        .args(flags);
    run(&mut cc).ok();
    built.insert(tag, out.clone());
    out
}

/// Asserts that two runs of `make()` print different stdout (the probe really varies).
#[track_caller]
pub fn assert_varies(what: &str, make: impl Fn() -> Command) -> String {
    let a = run(&mut make()).ok();
    let b = run(&mut make()).ok();
    assert_ne!(
        a, b,
        "{what}: two runs printed the same thing, so this probe proves nothing:\n{a}"
    );
    a
}

/// Asserts that three runs of `make()` print byte-identical stdout, and returns it.
#[track_caller]
pub fn assert_stable(what: &str, make: impl Fn() -> Command) -> String {
    let a = run(&mut make()).ok();
    for _ in 0..2 {
        let b = run(&mut make()).ok();
        assert_eq!(a, b, "{what}: output changed between runs under detbuild");
    }
    a
}

/// The three-part promise for `argv`: it varies natively; it is byte-identical across runs
/// under `detbuild --epoch EPOCH`; and it changes under `detbuild CHANGED` (another epoch or
/// seed).
#[track_caller]
pub fn assert_promise(argv: &[&str], changed: &[&str]) -> String {
    assert_varies(&format!("native {argv:?}"), || native(argv));
    let fixed = assert_stable(&format!("{argv:?}"), || det(&["--epoch", EPOCH], argv));
    let other = run(&mut det(changed, argv)).ok();
    assert_ne!(
        fixed, other,
        "{argv:?}: output did not change with {changed:?}:\n{fixed}"
    );
    fixed
}

/// Flags that change only the epoch.
pub const OTHER_EPOCH: &[&str] = &["--epoch", "1700000777"];
/// Flags that change only the seed.
pub const OTHER_SEED: &[&str] = &["--epoch", EPOCH, "--seed", "another seed"];

/// The value of `name=` in `key=value` lines.
#[track_caller]
pub fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= line in:\n{text}"))
}

/// Whether every tool in `tools` is on `PATH`. A missing one fails the test when `CI=true`
/// (CI installs everything `.ci/run` lists); elsewhere the test prints why and skips.
#[track_caller]
pub fn have(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !run(&mut native(&["sh", "-c", &format!("command -v {t}")]))
                .status
                .success()
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "missing tools {missing:?}: .ci/run installs them"
    );
    eprintln!("skipped: {missing:?} not installed");
    false
}
