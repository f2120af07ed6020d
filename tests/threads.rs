//! Threads, forks, signals, early hooks, other preloads and secure programs: values follow the
//! order in which threads and processes are created, never the schedule; nothing deadlocks
//! or crashes in the hard places; fakeroot and ASan keep working; secrets stay real.

use crate::common::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// Limit for one run of a probe that should take well under a second.
const QUICK: Duration = Duration::from_secs(30);
/// Limit for one run of the fork-and-signal stress.
const STRESS: Duration = Duration::from_secs(60);
/// Forks in the stress run.
const STRESS_FORKS: &str = "3000";

/// `NAME clock=S.N random=HEX ...` lines as NAME -> (clock, random).
fn records(out: &str) -> HashMap<String, (String, String)> {
    out.lines()
        .filter(|l| l.contains(" clock=") && l.contains(" random="))
        .map(|l| {
            let name = l.split(' ').next().unwrap().to_string();
            let value = |key: &str| {
                l.split(' ')
                    .find_map(|w| w.strip_prefix(key))
                    .unwrap()
                    .to_string()
            };
            (name, (value("clock="), value("random=")))
        })
        .collect()
}

/// The value of a whitespace-separated `name=value` word anywhere in `text`.
#[track_caller]
fn word<'a>(text: &'a str, name: &str) -> &'a str {
    text.split_whitespace()
        .find_map(|w| w.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {name}= in:\n{text}"))
}

#[track_caller]
fn stable_runs(what: &str, runs: usize, limit: Duration, make: impl Fn() -> Command) -> String {
    let first = run_within(&mut make(), limit).ok();
    for _ in 1..runs {
        let again = run_within(&mut make(), limit).ok();
        assert_eq!(
            first, again,
            "{what}: output changed between runs under detbuild"
        );
    }
    first
}

fn probe_argv(path: &Path) -> String {
    path.to_str().unwrap().to_string()
}

// Promise: the main thread, and every thread created in a fixed order (by the main thread, by
// another thread, through C11 thrd_create), see the same clock and random values on every run,
// while the workers read both an unpredictable number of times; threads that end through
// pthread_exit or cancellation unwind through the shim normally.
#[test]
fn thread_values_follow_creation_order_not_scheduling() {
    let probe = probe_argv(&probe("threads"));
    assert_varies("native threads probe", || native(&[&probe]));
    let out = stable_runs("threads probe", 5, QUICK, || {
        det(&["--epoch", EPOCH], &[&probe])
    });
    let recs = records(&out);
    assert_eq!(recs.len(), 9, "{out}");
    let randoms: HashSet<_> = recs.values().map(|(_, r)| r).collect();
    assert_eq!(randoms.len(), 9, "two threads shared a stream:\n{out}");
    assert!(
        out.contains("exit=42 c11=7 cancelled=1"),
        "thread ends went wrong:\n{out}"
    );
}

/// The step of [`a_threads_clock_never_goes_backwards`]: an odd one, so that real times land on
/// its grid from the epoch only by a one-in-7000 chance each.
const ODD_STEP_NS: u64 = 7_000;

/// The `NAME clock=S.N` records of `out` whose clock is not the epoch plus a whole number of
/// [`ODD_STEP_NS`] steps (every value the shim produces is).
fn off_the_step_grid(out: &str) -> Vec<String> {
    let epoch_ns = EPOCH.parse::<u64>().unwrap() * 1_000_000_000;
    let mut off: Vec<String> = records(out)
        .into_iter()
        .filter(|(_, (clock, _))| {
            let (secs, nanos) = clock.split_once('.').unwrap();
            let ns = secs.parse::<u64>().unwrap() * 1_000_000_000 + nanos.parse::<u64>().unwrap();
            ns < epoch_ns || (ns - epoch_ns) % ODD_STEP_NS != 0
        })
        .map(|(name, (clock, _))| format!("{name} clock={clock}"))
        .collect();
    off.sort();
    off
}

/// Runs probe `name` natively (some record must be off the step grid, or the grid proves
/// nothing) and under detbuild with the odd step (every record must be on it); returns the
/// latter's output.
#[track_caller]
fn on_the_step_grid_under_detbuild(name: &str) -> String {
    let probe = probe_argv(&probe(name));
    let real = run_within(&mut native(&[&probe]), QUICK).ok();
    assert!(
        !off_the_step_grid(&real).is_empty(),
        "natively every {name} record is on the step grid, so that check proves nothing:\n{real}"
    );
    let step = format!("{ODD_STEP_NS}ns");
    let out = run_within(
        &mut det(&["--epoch", EPOCH, "--step", &step], &[&probe]),
        QUICK,
    )
    .ok();
    let off = off_the_step_grid(&out);
    assert!(
        off.is_empty(),
        "{name}: clocks that are not the epoch plus whole steps: {off:?}\n{out}"
    );
    out
}

// Promise: within one thread the wall clock never goes backwards, and a new thread or forked
// child starts no earlier than its creator's clock; every value read, in every thread and
// child, is the epoch plus whole steps (natively the same probes read times off that grid).
#[test]
fn a_threads_clock_never_goes_backwards() {
    let threads = on_the_step_grid_under_detbuild("threads");
    assert!(
        threads.contains("backwards=0 inherit_bad=0"),
        "a thread's clock went back, or started behind its creator's:\n{threads}"
    );
    let forks = on_the_step_grid_under_detbuild("forks");
    assert_eq!(forks.matches("clock_ok=1").count(), 10, "{forks}");
}

// Promise: children forked without exec (fork twice in a row, _Fork, syscall(SYS_fork), a
// grandchild, and forks no hook sees: clone() without CLONE_VM and an inline fork system
// call) each get values of their own, different from the parent's and each other's, and the
// same on every run.
#[test]
fn forked_children_get_their_own_stable_values() {
    let probe = probe_argv(&probe("forks"));
    assert_varies("native forks probe", || native(&[&probe]));
    let out = stable_runs("forks probe", 3, QUICK, || {
        det(&["--epoch", EPOCH], &[&probe])
    });
    let recs = records(&out);
    let expected = [
        "parent",
        "fork0",
        "fork0.fork0",
        "fork1",
        "_Fork",
        "syscall_fork",
        "clone",
        "parent_between",
        "inline_fork",
        "parent_end",
    ];
    for name in expected {
        assert!(recs.contains_key(name), "no {name} line:\n{out}");
    }
    let randoms: HashSet<_> = recs.values().map(|(_, r)| r).collect();
    assert_eq!(
        randoms.len(),
        expected.len(),
        "two processes shared a stream:\n{out}"
    );
}

// Promise: a process forking thousands of times (fork, _Fork, syscall(SYS_fork)) while two
// threads hammer time()/clock_gettime/gettimeofday/getrandom and a 50 µs SIGALRM handler calls
// time() and getrandom neither deadlocks nor crashes, and its children's values are distinct
// and the same on every run even though the signals land at random points.
#[test]
fn fork_and_signal_stress_never_deadlocks() {
    let probe = probe_argv(&probe("forkstress"));
    let native_out = run_within(&mut native(&[&probe, STRESS_FORKS]), STRESS).ok();
    let make = || det(&["--epoch", EPOCH], &[&probe, STRESS_FORKS]);
    let out = stable_runs("fork stress", 2, STRESS, make);
    assert!(
        out.starts_with("forks=3000 failed=0 duplicates=0 signals_seen=1 "),
        "{out}"
    );
    assert_ne!(
        word(&out, "digest"),
        word(&native_out, "digest"),
        "native children matched detbuild's"
    );
}

/// Builds tests/probes/early_lib.c as a shared library and early.c linked against it.
fn early_probe() -> PathBuf {
    let lib = Path::new(env!("CARGO_TARGET_TMPDIR")).join("libdetbuild-early.so");
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/probes/early_lib.c");
    let mut cc = command("gcc");
    cc.args(["-O2", "-Wall", "-Wextra", "-Werror", "-shared", "-fPIC"])
        .args(["-pthread", "-o"])
        .arg(&lib)
        .arg(&src);
    run(&mut cc).ok();
    probe_with("early", &[lib.to_str().unwrap()])
}

// Promise: a program whose own library constructor reads the clock and randomness, starts a
// thread and forks before the shim's constructor ran gets faked, reproducible values.
#[test]
fn library_constructors_before_the_shims_get_faked_values() {
    let probe = probe_argv(&early_probe());
    assert_varies("native early probe", || native(&[&probe]));
    let out = stable_runs("early probe", 3, QUICK, || {
        det(&["--epoch", EPOCH], &[&probe])
    });
    assert_eq!(
        field(&out, "shim_ready_before_ctor"),
        "0",
        "the shim was initialised before the constructor ran, so this tests nothing:\n{out}"
    );
    assert_eq!(field(&out, "ctor_time"), EPOCH, "{out}");
}

// Promise: a program with its own malloc that reads the clock on every call (called by the
// loader, libc and the shim's own setup too) neither deadlocks nor loses the faked clock.
#[test]
fn an_allocator_that_reads_the_clock_does_not_deadlock() {
    let probe = probe_argv(&probe("bumpmalloc"));
    let out = stable_runs("custom malloc probe", 3, QUICK, || {
        det(&["--epoch", EPOCH], &[&probe])
    });
    assert_eq!(word(&out, "calls_seen"), "1", "{out}");
    for name in ["main_time", "child_time", "thread_time"] {
        let secs: i64 = word(&out, name).parse().unwrap();
        assert!(
            (1_700_000_000..1_700_001_000).contains(&secs),
            "{name} is not faked:\n{out}"
        );
    }
}

/// `argv` run as an unprivileged user (uid/gid 65534 via setpriv when we are root).
fn as_nobody(argv: &[&str]) -> Command {
    if !is_root() {
        return native(argv);
    }
    let mut cmd = native(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
    ]);
    cmd.args(argv);
    cmd
}

/// A directory an unprivileged user may write to.
fn shared_dir(name: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir(name);
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    dir
}

/// Whether [`as_nobody`] can run (it needs setpriv when we are root), under the skip policy.
#[track_caller]
fn can_run_as_nobody() -> bool {
    !is_root() || require_tool("setpriv", "util-linux")
}

/// Whether the fakeroot tests can run, under the skip policy.
#[track_caller]
fn require_fakeroot() -> bool {
    require_tool("fakeroot", "fakeroot") && can_run_as_nobody()
}

const FAKEROOT_SCRIPT: &str = "id -u; date +%s; touch f; stat -c %U f";

// Promise: `detbuild -- fakeroot CMD` (fakeroot's preload ahead of the shim): root identity
// and the faked date both hold.
#[test]
fn fakeroot_inside_detbuild_keeps_both_fakes() {
    if !require_fakeroot() {
        return;
    }
    let dir = shared_dir("fakeroot-inside");
    let det_bin = detbuild_bin();
    let mut cmd = as_nobody(&[
        det_bin.to_str().unwrap(),
        "--epoch",
        EPOCH,
        "--",
        "fakeroot",
        "sh",
        "-c",
        FAKEROOT_SCRIPT,
    ]);
    cmd.current_dir(&dir);
    let out = run_within(&mut cmd, QUICK).ok();
    assert_eq!(out, format!("0\n{EPOCH}\nroot\n"));
}

// Promise: `fakeroot detbuild -- CMD` (the shim appended after fakeroot's preload): root
// identity and the faked date both hold.
#[test]
fn detbuild_inside_fakeroot_keeps_both_fakes() {
    if !require_fakeroot() {
        return;
    }
    let dir = shared_dir("fakeroot-outside");
    let det_bin = detbuild_bin();
    let mut cmd = as_nobody(&[
        "fakeroot",
        det_bin.to_str().unwrap(),
        "--epoch",
        EPOCH,
        "--",
        "sh",
        "-c",
        FAKEROOT_SCRIPT,
    ]);
    cmd.current_dir(&dir);
    let out = run_within(&mut cmd, QUICK).ok();
    assert_eq!(out, format!("0\n{EPOCH}\nroot\n"));
}

/// Whether gcc finds its AddressSanitizer runtime, under the skip policy.
#[track_caller]
fn require_asan() -> bool {
    let out = run(&mut native(&["gcc", "-print-file-name=libasan.so"])).ok();
    let found = Path::new(out.trim()).is_absolute() && Path::new(out.trim()).exists();
    require(
        found,
        "gcc's AddressSanitizer runtime",
        "install the Debian package `libasan8` (gcc 12's)",
    )
}

/// tests/probes/NAME.c built with AddressSanitizer (once per test run; tests share it).
fn asan_probe(name: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut done = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("probe-{name}-asan"));
    if done.iter().any(|b| b == name) {
        return out;
    }
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/probes")
        .join(format!("{name}.c"));
    let mut cc = command("gcc");
    cc.args(["-O1", "-g", "-fsanitize=address", "-pthread", "-o"])
        .arg(&out)
        .arg(&src);
    let built = run(&mut cc);
    assert!(
        built.status.success(),
        "cannot build with -fsanitize=address: install the Debian package `libasan8` \
         (gcc 12's AddressSanitizer runtime)\n{}",
        built.describe()
    );
    done.push(name.to_string());
    out
}

// Promise: an ASan-built program runs under detbuild (no "ASan runtime does not come first"
// abort) with a faked clock, and its threads (created through ASan's pthread_create
// interceptor) stay deterministic.
#[test]
fn asan_programs_run_with_a_faked_clock() {
    if !require_asan() {
        return;
    }
    let clock = probe_argv(&asan_probe("clock"));
    let out = run_within(&mut det(&["--epoch", EPOCH], &[&clock]), QUICK).ok();
    assert_eq!(field(&out, "time"), EPOCH, "{out}");
    let threads = probe_argv(&asan_probe("threads"));
    let out = stable_runs("ASan threads probe", 2, QUICK, || {
        det(&["--epoch", EPOCH], &[&threads])
    });
    assert!(out.contains("backwards=0 inherit_bad=0"), "{out}");
}

// Promise: an ASan program started from a cleared environment (`env -i`) still runs: the
// repaired environment carries the shim back together with ASan's link-order exemption.
#[test]
fn asan_programs_run_after_env_i() {
    if !require_asan() {
        return;
    }
    let clock = probe_argv(&asan_probe("clock"));
    let out = run_within(&mut det(&["--epoch", EPOCH], &["env", "-i", &clock]), QUICK).ok();
    assert_eq!(field(&out, "time"), EPOCH, "{out}");
}

// Promise: a setuid-root program run by an unprivileged user sees the real clock (the loader
// drops LD_PRELOAD for secure execution), and the faked one under `detbuild --no-new-privs`.
#[test]
fn setuid_programs_are_real_unless_no_new_privs() {
    use std::os::unix::fs::PermissionsExt;
    if !(require_root("it makes a setuid-root program and runs it as uid 65534")
        && can_run_as_nobody())
    {
        return;
    }
    let dir = tempdir("setuid");
    let copy = dir.join("clock");
    std::fs::copy(probe("clock"), &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let det_bin = detbuild_bin();
    let (det_bin, copy) = (det_bin.to_str().unwrap(), copy.to_str().unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();

    let out = run_within(
        &mut as_nobody(&[det_bin, "--epoch", EPOCH, "--", copy]),
        QUICK,
    )
    .ok();
    let seen: u64 = field(&out, "time").parse().unwrap();
    assert!(
        seen.abs_diff(now) < 600,
        "setuid program saw {seen}, real time is {now}"
    );

    let out = run_within(
        &mut as_nobody(&[det_bin, "--no-new-privs", "--epoch", EPOCH, "--", copy]),
        QUICK,
    )
    .ok();
    assert_eq!(field(&out, "time"), EPOCH, "{out}");
}

/// A copy of the random probe under another name, in a fresh directory.
fn random_probe_named(name: &str) -> (PathBuf, PathBuf) {
    let dir = tempdir(&format!("named-{name}"));
    let copy = dir.join(name);
    std::fs::copy(probe("random"), &copy).unwrap();
    (dir, copy)
}

// Promise: a program named ssh-keygen gets real randomness under detbuild by default, and the
// deterministic stream once detbuild.toml sets `[programs.ssh-keygen] random = "fake"`.
#[test]
fn key_generators_get_real_randomness_unless_configured() {
    let (dir, copy) = random_probe_named("ssh-keygen");
    let copy = probe_argv(&copy);
    let in_dir = |mut cmd: Command| {
        cmd.current_dir(&dir);
        cmd
    };
    assert_varies("ssh-keygen under detbuild", || {
        in_dir(det(&["--epoch", EPOCH], &[&copy]))
    });
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.ssh-keygen]\nrandom = \"fake\"\n",
    )
    .unwrap();
    assert_stable("ssh-keygen listed as shimmed", || {
        in_dir(det(&["--epoch", EPOCH], &[&copy]))
    });
}

// Promise: `openssl genrsa` gets real randomness, `openssl dgst` the deterministic stream.
#[test]
fn openssl_genrsa_is_real_and_dgst_is_faked() {
    let (_dir, copy) = random_probe_named("openssl");
    let copy = probe_argv(&copy);
    assert_varies("openssl genrsa under detbuild", || {
        det(&["--epoch", EPOCH], &[&copy, "genrsa"])
    });
    assert_stable("openssl dgst under detbuild", || {
        det(&["--epoch", EPOCH], &[&copy, "dgst"])
    });
}
