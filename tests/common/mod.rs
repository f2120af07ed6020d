//! Test harness: run real programs natively and under `detbuild`, with hard time limits, and
//! show command, status, stdout and stderr whenever an expectation fails.

#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
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

/// `target/cache/NAME`, created if needed: downloads that slow tests keep between runs (never
/// committed), so reruns are offline.
pub fn cache_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("target/tmp has a parent")
        .join("cache")
        .join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One progress line `AREA: LINE` of a slow test, straight to the stderr descriptor (the test
/// harness captures `eprintln!`), so a long first run shows what it is doing.
pub fn progress(area: &str, line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{area}: {line}");
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

/// Compiles `tests/probes/NAME.rs` with `rustc -O` once per test run and returns the
/// executable.
pub fn rust_probe(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/probes")
        .join(format!("{name}.rs"));
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rust-probe-{name}"));
    let mut rustc = command("rustc");
    rustc
        .args(["-O", "--edition", "2021", "-o"])
        .arg(&out)
        .arg(&src);
    run_within(&mut rustc, Duration::from_secs(300)).ok();
    built.insert(name.to_string(), out.clone());
    out
}

/// Whether a test can run here: `ok`, or else [`require`]'s policy with `missing` as the
/// reason (fails under `CI=true`, skips with the reason printed elsewhere).
#[track_caller]
pub fn capable(ok: bool, missing: &str) -> bool {
    require(ok, missing, "see .ci/run")
}

/// Whether this machine lets us make PID, UTS and mount namespaces (root with
/// `CAP_SYS_ADMIN`; see [`capable`]).
#[track_caller]
pub fn can_unshare() -> bool {
    let ok = run(&mut native(&[
        "unshare", "--pid", "--fork", "--uts", "--mount", "true",
    ]))
    .status
    .success();
    capable(
        ok,
        "unshare (PID, UTS, mount namespaces) is refused: run the tests as root",
    )
}

/// `setpriv` arguments that run a command as `nobody`.
pub const AS_NOBODY: [&str; 4] = [
    "setpriv",
    "--reuid=nobody",
    "--regid=nogroup",
    "--clear-groups",
];

/// Whether commands can run as `nobody` here (root and setpriv; see [`capable`]).
#[track_caller]
pub fn can_run_as_nobody() -> bool {
    if !have("setpriv", "util-linux") {
        return false;
    }
    let mut argv = AS_NOBODY.to_vec();
    argv.push("true");
    let ok = run(&mut native(&argv)).status.success();
    capable(ok, "setpriv cannot switch to nobody: run the tests as root")
}

/// Asserts that two runs of `make()` print different stdout (the probe really varies).
#[track_caller]
pub fn assert_varies(what: &str, make: impl Fn() -> Command) -> String {
    assert_varies_apart(what, Duration::ZERO, make)
}

/// Like [`assert_varies`], with the second run starting at least `apart` after the first ended
/// (for a probe whose output changes only that often, such as `time()`'s seconds).
#[track_caller]
pub fn assert_varies_apart(what: &str, apart: Duration, make: impl Fn() -> Command) -> String {
    let a = run(&mut make()).ok();
    std::thread::sleep(apart);
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
    assert_promise_apart(argv, changed, Duration::ZERO)
}

/// [`assert_promise`] with the two native runs at least `apart` from each other (see
/// [`assert_varies_apart`]).
#[track_caller]
pub fn assert_promise_apart(argv: &[&str], changed: &[&str], apart: Duration) -> String {
    assert_varies_apart(&format!("native {argv:?}"), apart, || native(argv));
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

/// Whether a test's requirement is met (the one skip policy). A missing one fails the test when
/// `CI=true` (CI installs everything `.ci/run` lists, so a gap there is a bug) and elsewhere is
/// skipped with the reason printed: callers `return` when this is false.
#[track_caller]
pub fn require(available: bool, what: &str, fix: &str) -> bool {
    if available {
        return true;
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(!ci, "{what} is missing, and CI=true requires it: {fix}");
    // Straight to the stderr descriptor: the test harness captures eprintln!, and a skip must
    // show in a plain `cargo test`.
    let _ = writeln!(
        std::io::stderr().lock(),
        "skipped {}: {what} is missing ({fix})",
        std::thread::current().name().unwrap_or("a test")
    );
    false
}

/// Whether `program` is on PATH, under the [`require`] policy; `package` is the Debian package
/// that provides it (listed in `.ci/run`).
#[track_caller]
pub fn require_tool(program: &str, package: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    });
    require(
        found,
        &format!("`{program}`"),
        &format!("install the Debian package `{package}`"),
    )
}

/// Whether the tests run as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Whether the tests run as root (setuid programs, other users), under the [`require`] policy.
#[track_caller]
pub fn require_root(why: &str) -> bool {
    require(
        is_root(),
        "root privilege",
        &format!("run the tests as root: {why}"),
    )
}

/// One `#[test]` per case, so the first failing case does not hide the rest:
/// `one_test_per_case!(promise, check; a, b)` defines `promise::a` running `check("a")` and
/// `promise::b` running `check("b")`; `check` is a function or closure of the enclosing module.
macro_rules! one_test_per_case {
    ($module:ident, $check:expr; $($case:ident),+ $(,)?) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $case() {
                    ($check)(stringify!($case));
                }
            )+
        }
    };
}
pub(crate) use one_test_per_case;

/// Whether every program in `tools` is on PATH, under the [`require`] policy; `package` names
/// the Debian packages that bring them.
#[track_caller]
pub fn have_tools(tools: &[&str], package: &str) -> bool {
    tools.iter().all(|t| require_tool(t, package))
}

/// [`require_tool`] under its older name.
#[track_caller]
pub fn have(tool: &str, package: &str) -> bool {
    require_tool(tool, package)
}

/// Asserts that `out` exited with `code` after exactly one `detbuild: ...` line on stderr
/// containing `needle`.
#[track_caller]
pub fn assert_one_line_error(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.code(), code, "{}", out.describe());
    assert_eq!(
        out.stderr.lines().count(),
        1,
        "not one line:\n{}",
        out.describe()
    );
    assert!(out.stderr.starts_with("detbuild: "), "{}", out.describe());
    assert!(
        out.stderr.contains(needle),
        "no {needle:?} in:\n{}",
        out.describe()
    );
}

/// libfaketime's library (Debian's `libfaketime` package), or `None` after [`require`] said
/// why (a failure under CI).
#[track_caller]
pub fn libfaketime() -> Option<PathBuf> {
    let multiarch = run(&mut native(&["gcc", "-print-multiarch"])).ok();
    let faker = Path::new("/usr/lib")
        .join(multiarch.trim())
        .join("faketime/libfaketime.so.1");
    require(
        faker.is_file(),
        &format!("libfaketime ({})", faker.display()),
        "install the Debian package `libfaketime`",
    )
    .then_some(faker)
}
