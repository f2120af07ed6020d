//! Every way a process starts keeps the shim: each exec and spawn entry point, with the
//! environment cleared the way builds clear it; and the programs the shim cannot reach
//! (static, Go) are named on stderr, once.

use crate::common::*;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

fn exec_probe() -> PathBuf {
    probe("exec")
}

fn child() -> String {
    probe("exec_child").to_str().unwrap().to_owned()
}

/// `probe-exec METHOD CHILD`: under detbuild the child must read the epoch and fixed random
/// bytes although its environment was stripped; natively both vary (the promise's control).
#[track_caller]
fn assert_method_keeps_the_shim(method: &str) -> String {
    let probe = exec_probe();
    let child = child();
    let argv = [probe.to_str().unwrap(), method, &child];
    let out = assert_promise(&argv, OTHER_SEED);
    assert_eq!(
        field(&out, "time"),
        EPOCH,
        "{method}: child not shimmed\n{out}"
    );
    assert!(
        field(&out, "preload").ends_with("/libdetbuild_shim.so"),
        "{method}: {out}"
    );
    out
}

// Promise: fork + execve with an empty envp keeps the shim.
#[test]
fn fork_execve_with_an_empty_environment() {
    assert_method_keeps_the_shim("fork");
}

// Promise: vfork + execve with an empty envp keeps the shim (the hook runs in the vfork
// child, sharing the parent's memory, without the heap).
#[test]
fn vfork_execve_with_an_empty_environment() {
    assert_method_keeps_the_shim("vfork");
}

// Promise: execve with an empty envp keeps the shim.
#[test]
fn execve_with_an_empty_environment() {
    assert_method_keeps_the_shim("execve");
}

// Promise: execv after clearenv keeps the shim.
#[test]
fn execv_after_clearenv() {
    assert_method_keeps_the_shim("execv");
}

// Promise: execvp after clearenv keeps the shim (and finds the program through PATH).
#[test]
fn execvp_after_clearenv() {
    assert_method_keeps_the_shim("execvp");
}

// Promise: execvpe with an empty envp keeps the shim.
#[test]
fn execvpe_with_an_empty_environment() {
    assert_method_keeps_the_shim("execvpe");
}

// Promise: the C-variadic execl (exported from the shim's C part) keeps the shim.
#[test]
fn execl_after_clearenv() {
    assert_method_keeps_the_shim("execl");
}

// Promise: execle with an empty envp keeps the shim.
#[test]
fn execle_with_an_empty_environment() {
    assert_method_keeps_the_shim("execle");
}

// Promise: execlp after clearenv keeps the shim.
#[test]
fn execlp_after_clearenv() {
    assert_method_keeps_the_shim("execlp");
}

// Promise: execveat relative to a directory descriptor, empty envp, keeps the shim.
#[test]
fn execveat_with_an_empty_environment() {
    assert_method_keeps_the_shim("execveat");
}

// Promise: fexecve with an empty envp keeps the shim.
#[test]
fn fexecve_with_an_empty_environment() {
    assert_method_keeps_the_shim("fexecve");
}

// Promise: posix_spawn with an empty envp keeps the shim.
#[test]
fn posix_spawn_with_an_empty_environment() {
    assert_method_keeps_the_shim("posix_spawn");
}

// Promise: posix_spawnp with an empty envp keeps the shim.
#[test]
fn posix_spawnp_with_an_empty_environment() {
    assert_method_keeps_the_shim("posix_spawnp");
}

// Promise: system() after clearenv keeps the shim in /bin/sh and its child.
#[test]
fn system_after_clearenv() {
    assert_method_keeps_the_shim("system");
}

// Promise: popen() after clearenv keeps the shim in /bin/sh and its child.
#[test]
fn popen_after_clearenv() {
    assert_method_keeps_the_shim("popen");
}

// Promise: an LD_PRELOAD rewritten without the shim gets the shim appended, the program's
// own entries first.
#[test]
fn rewritten_ld_preload_gets_the_shim_back() {
    let out = assert_method_keeps_the_shim("preload");
    let shim = shim().canonicalize().unwrap();
    assert_eq!(
        field(&out, "preload"),
        format!("libm.so.6:{}", shim.display())
    );
}

// Promise: a program whose switches are all real (like make) runs with the real clock, but
// the children it starts with a stripped environment are still shimmed.
#[test]
fn children_of_unshimmed_programs_stay_shimmed() {
    let dir = tempdir("real-parent");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.probe-exec]\nclock = \"real\"\nrandom = \"real\"\n",
    )
    .unwrap();
    let probe = exec_probe();
    let mut cmd = det(
        &["--epoch", EPOCH],
        &[probe.to_str().unwrap(), "execve", &child()],
    );
    cmd.current_dir(&dir);
    let out = run(&mut cmd).ok();
    assert_ne!(field(&out, "parent"), EPOCH, "parent was shimmed:\n{out}");
    assert_eq!(field(&out, "time"), EPOCH, "child lost the shim:\n{out}");
}

/// `argv` under detbuild prints the epoch to the millisecond, every run; natively it varies.
/// (The exec'd `date` starts where its parent's clock stood: a few 1 µs reads past the epoch.)
#[track_caller]
fn assert_prints_the_epoch(argv: &[&str]) {
    let out = assert_promise(argv, OTHER_EPOCH);
    assert!(out.starts_with(&format!("{EPOCH}.000")), "{argv:?}: {out}");
}

// Promise: `env -i CMD` (coreutils env clears environ, then execvp) keeps the shim.
#[test]
fn env_i_keeps_the_shim() {
    assert_prints_the_epoch(&["env", "-i", "date", "+%s.%N"]);
}

// Promise: `env -i sh -c CMD` keeps the shim in the shell and in what it runs.
#[test]
fn env_i_shell_keeps_the_shim() {
    assert_prints_the_epoch(&["env", "-i", "sh", "-c", "date +%s.%N"]);
}

// Promise: Python's os.execve with an empty environment keeps the shim.
#[test]
fn python_execve_with_empty_env_keeps_the_shim() {
    if !require_tool("python3", "python3") {
        return;
    }
    assert_prints_the_epoch(&[
        "python3",
        "-c",
        "import os; os.execve('/bin/date', ['date', '+%s.%N'], {})",
    ]);
}

// Promise: Python's subprocess.run(env={}) keeps the shim.
#[test]
fn python_subprocess_with_empty_env_keeps_the_shim() {
    if !require_tool("python3", "python3") {
        return;
    }
    assert_prints_the_epoch(&[
        "python3",
        "-c",
        "import subprocess; subprocess.run(['/bin/date', '+%s.%N'], env={}, check=True)",
    ]);
}

// Promise: Perl's exec after `%ENV = ()` keeps the shim.
#[test]
fn perl_exec_with_empty_env_keeps_the_shim() {
    if !require_tool("perl", "perl") {
        return;
    }
    assert_prints_the_epoch(&["perl", "-e", "%ENV = (); exec 'date', '+%s.%N'"]);
}

// Promise: a cleared environment too big for the hooks' stack buffers (600 variables, a 3 KB
// LD_PRELOAD) is repaired all the same.
#[test]
fn huge_cleared_environment_is_repaired() {
    let vars: Vec<String> = (0..600).map(|i| format!("V{i}=x")).collect();
    let preload = format!("LD_PRELOAD={}", "libm.so.6:".repeat(300));
    let mut argv = vec!["env", "-i", &preload];
    argv.extend(vars.iter().map(String::as_str));
    argv.extend(["sh", "-c", "date +%s.%N; env | wc -l; echo $LD_PRELOAD"]);
    let out = run(&mut det(&["--epoch", EPOCH], &argv)).ok();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{EPOCH}.000000000"), "{out}");
    assert!(lines[1].trim().parse::<usize>().unwrap() > 600, "{out}");
    assert!(lines[2].ends_with("/libdetbuild_shim.so"), "{out}");
    assert!(lines[2].starts_with("libm.so.6:libm.so.6:"), "{out}");
}

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("detbuild: warning:"))
        .collect()
}

/// Seconds since the epoch, now.
fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

// Promise: a statically linked program started in the tree gets exactly one warning line per
// path per process however often it runs, and it keeps the real clock (no pretence).
#[test]
fn static_program_is_named_once_and_stays_real() {
    let fixed = probe_with("exec_child", &["-static"]);
    let probe = exec_probe();
    for method in ["posix_spawn", "vfork"] {
        let argv = [
            probe.to_str().unwrap(),
            method,
            fixed.to_str().unwrap(),
            "3",
        ];
        let out = run(&mut det(&["--epoch", EPOCH], &argv));
        assert!(out.status.success(), "{}", out.describe());
        let warned = warnings(&out.stderr);
        assert_eq!(warned.len(), 1, "{method}: {}", out.describe());
        assert!(
            warned[0].contains(fixed.to_str().unwrap()) && warned[0].contains("statically linked"),
            "{}",
            out.describe()
        );
        let times: Vec<i64> = out
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("time="))
            .map(|t| t.parse().unwrap())
            .collect();
        assert_eq!(times.len(), 3, "{}", out.describe());
        assert!(
            times.iter().all(|&t| t > now() - 3600),
            "{}",
            out.describe()
        );
        // The dynamic parent is still shimmed.
        assert_eq!(field(&out.stdout, "parent"), EPOCH);
    }
}

// Promise: a program carrying Go's build-id note is named as a Go program.
#[test]
fn go_program_is_named() {
    let go = probe_with("exec_child", &["-DGO_NOTE"]);
    let probe = exec_probe();
    let argv = [probe.to_str().unwrap(), "posix_spawn", go.to_str().unwrap()];
    let out = run(&mut det(&["--epoch", EPOCH], &argv));
    let warned = warnings(&out.stderr);
    assert_eq!(warned.len(), 1, "{}", out.describe());
    assert!(warned[0].contains("is a Go program"), "{}", out.describe());
}

// Promise: the launcher names a static top-level command too, in one line, and dynamic
// commands get no warning.
#[test]
fn launcher_names_a_static_command() {
    let fixed = probe_with("exec_child", &["-static"]);
    let out = run(&mut det(&["--epoch", EPOCH], &[fixed.to_str().unwrap()]));
    assert!(out.status.success(), "{}", out.describe());
    let warned = warnings(&out.stderr);
    assert_eq!(warned.len(), 1, "{}", out.describe());
    assert!(
        warned[0].contains("statically linked"),
        "{}",
        out.describe()
    );
    assert_ne!(field(&out.stdout, "time"), EPOCH);

    let out = run(&mut det(&["--epoch", EPOCH], &[&child()]));
    assert!(warnings(&out.stderr).is_empty(), "{}", out.describe());
}
