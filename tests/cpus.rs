//! The CPU count: every way a program counts CPUs reports the configured number (4 by
//! default, `--cpus N`, `--cpus real`), whatever the machine has and whatever the caller's
//! affinity. The native control runs each probe with all CPUs and pinned to CPU 0
//! (`taskset -c 0`), which changes what it prints.

use crate::common::*;

/// What a build learns about the CPU count, one line each.
const SCRIPT: &str = "nproc; nproc --all; getconf _NPROCESSORS_ONLN; \
    python3 -c 'import os; print(os.cpu_count(), len(os.sched_getaffinity(0)))'; \
    cat /sys/devices/system/cpu/online /sys/devices/system/cpu/possible \
        /sys/devices/system/cpu/present; \
    grep -c ^processor /proc/cpuinfo; grep ^siblings /proc/cpuinfo | sort -u; \
    grep -c ^flags /proc/cpuinfo";

fn pinned(argv: &[&str]) -> Vec<String> {
    ["taskset", "-c", "0"]
        .iter()
        .chain(argv)
        .map(|s| s.to_string())
        .collect()
}

/// Asserts the native control (all CPUs vs CPU 0 differ) and returns the output under
/// `detbuild FLAGS` with all CPUs, checked equal to the pinned run.
#[track_caller]
fn counted(flags: &[&str], argv: &[&str]) -> String {
    let all = run(&mut native(argv)).ok();
    let one = pinned(argv);
    let one: Vec<&str> = one.iter().map(String::as_str).collect();
    assert_ne!(
        all,
        run(&mut native(&one)).ok(),
        "native control: pinning to CPU 0 changed nothing (a one-CPU machine?):\n{all}"
    );
    let mut f = vec!["--epoch", EPOCH];
    f.extend(flags);
    let fixed = assert_stable(&format!("{argv:?}"), || det(&f, argv));
    assert_eq!(
        fixed,
        run(&mut det(&f, &one)).ok(),
        "pinned run differs under detbuild"
    );
    fixed
}

// Promise: nproc, getconf, Python's os.cpu_count and os.sched_getaffinity, the /sys CPU
// lists and /proc/cpuinfo all report 4 CPUs by default.
#[test]
fn tools_count_four_cpus_by_default() {
    let out = counted(&[], &["sh", "-c", SCRIPT]);
    assert_eq!(
        out, "4\n4\n4\n4 4\n0-3\n0-3\n0-3\n4\nsiblings\t: 4\n4\n",
        "{out}"
    );
}

// Promise: a C program's sysconf, get_nprocs, get_nprocs_conf, sched_getaffinity and
// syscall(SYS_sched_getaffinity) report the --cpus count.
#[test]
fn c_entry_points_report_the_configured_count() {
    let probe = probe("cpus");
    let out = counted(&["--cpus", "3"], &[probe.to_str().unwrap()]);
    assert_eq!(
        out,
        "sched_getaffinity=3\nsyscall_getaffinity=3\nget_nprocs=3\nget_nprocs_conf=3\n\
         sysconf_onln=3\nsysconf_conf=3\n"
    );
}

// Promise: Rust's available_parallelism reports the configured count.
#[test]
fn rust_available_parallelism_is_the_configured_count() {
    let probe = rust_probe("parallelism");
    let out = counted(&["--cpus", "5"], &[probe.to_str().unwrap()]);
    assert_eq!(out, "available_parallelism=5\n");
}

// Promise: `--cpus real` (or `cpus = "real"` in detbuild.toml) leaves the count alone, and a
// bad value is refused with exit 2 before anything runs.
#[test]
fn cpus_real_leaves_the_machines_count() {
    let native_out = run(&mut native(&["nproc"])).ok();
    let out = run(&mut det(&["--epoch", EPOCH, "--cpus", "real"], &["nproc"])).ok();
    assert_eq!(out, native_out);
    let dir = tempdir("cpus-config");
    std::fs::write(dir.join("detbuild.toml"), "cpus = \"real\"\n").unwrap();
    let mut cmd = det(&["--epoch", EPOCH], &["nproc"]);
    cmd.current_dir(&dir);
    assert_eq!(run(&mut cmd).ok(), native_out);
    for bad in ["0", "many", "1025"] {
        let out = run(&mut det(&["--epoch", EPOCH, "--cpus", bad], &["true"]));
        assert_eq!(out.code(), 2, "{}", out.describe());
        assert!(out.stderr.contains("--cpus"), "{}", out.describe());
    }
}
