//! The wall clock: every REALTIME entry point starts at the epoch in each new program and
//! advances a fixed step per read; monotonic and CPU clocks stay real.

use crate::common::*;

// Promise: every C wall-clock entry point (time, gettimeofday, clock_gettime REALTIME /
// COARSE / TAI, timespec_get, ftime, syscall(SYS_clock_gettime)) is fixed by the epoch.
#[test]
fn c_wall_clock_entry_points_are_fixed_by_the_epoch() {
    let probe = probe("clock");
    let out = assert_promise(&[probe.to_str().unwrap()], OTHER_EPOCH);
    assert_eq!(
        field(&out, "time"),
        EPOCH,
        "the first read is the epoch itself:\n{out}"
    );
    assert_eq!(out.lines().count(), 8, "{out}");
    for line in out.lines() {
        let secs: i64 = line
            .split('=')
            .nth(1)
            .unwrap()
            .split('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            (1_700_000_000..1_700_000_100).contains(&secs),
            "{line} is not near the epoch"
        );
    }
}

// Promise: `detbuild -- date +%s.%N` prints the same line every run.
#[test]
fn date_prints_the_same_instant_every_run() {
    assert_promise(&["date", "+%s.%N"], OTHER_EPOCH);
}

// Promise: `--epoch` sets the wall clock (the example: 1000000000 is in 2001).
#[test]
fn epoch_flag_sets_the_year() {
    let out = run(&mut det(&["--epoch", "1000000000"], &["date", "-u", "+%Y"])).ok();
    assert_eq!(out, "2001\n");
}

// Promise: each read advances the reading thread's clock by exactly --step.
#[test]
fn each_read_advances_by_the_step() {
    let probe = probe("clock");
    let out = run(&mut det(
        &["--epoch", EPOCH, "--step", "1ms"],
        &[probe.to_str().unwrap()],
    ))
    .ok();
    let expect = [
        ("time", "1700000000".to_string()),
        ("gettimeofday", "1700000000.001000".to_string()),
        ("realtime", "1700000000.002000000".to_string()),
        ("realtime_coarse", "1700000000.003000000".to_string()),
        ("tai", "1700000000.004000000".to_string()),
        ("timespec_get", "1700000000.005000000".to_string()),
        ("ftime", "1700000000.006".to_string()),
        ("syscall_clock_gettime", "1700000000.007000000".to_string()),
    ];
    for (name, value) in expect {
        assert_eq!(field(&out, name), value, "{name} in\n{out}");
    }
}

// Promise: the first program starts at the epoch and each next one where the shell stood, which
// took on the one read of the `date` before it (see tests/coherence.rs for sleeps and -j).
#[test]
fn every_program_starts_at_the_epoch() {
    let out = run(&mut det(
        &["--epoch", EPOCH],
        &["sh", "-c", "date +%s.%N; date +%s.%N; date +%s.%N"],
    ))
    .ok();
    assert_eq!(
        out,
        format!("{EPOCH}.000000000\n{EPOCH}.000001000\n{EPOCH}.000002000\n")
    );
}

// Promise: CLOCK_MONOTONIC stays real, so timeouts and elapsed-time measurements still work.
#[test]
fn monotonic_clock_stays_real() {
    let probe = probe("monotonic");
    let a = run(&mut det(&["--epoch", EPOCH], &[probe.to_str().unwrap()])).ok();
    let b = run(&mut det(&["--epoch", EPOCH], &[probe.to_str().unwrap()])).ok();
    assert_eq!(field(&a, "elapsed_at_least_50ms"), "1", "{a}");
    assert_ne!(
        field(&a, "monotonic"),
        field(&b, "monotonic"),
        "monotonic was faked"
    );
}

// Promise: Python's time.time() and time.time_ns() are fixed by the epoch.
#[test]
fn python_time_is_fixed() {
    assert_promise(
        &[
            "python3",
            "-c",
            "import time; print(time.time(), time.time_ns())",
        ],
        OTHER_EPOCH,
    );
}

// Promise: `[clock] mode = "real"` in detbuild.toml leaves the clock alone.
#[test]
fn clock_mode_real_leaves_the_clock_alone() {
    let dir = tempdir("clock-real");
    std::fs::write(dir.join("detbuild.toml"), "[clock]\nmode = \"real\"\n").unwrap();
    let make = || {
        let mut c = det(&["--epoch", EPOCH], &["date", "+%s.%N"]);
        c.current_dir(&dir);
        c
    };
    assert_varies("date under clock mode real", make);
}

// Promise: processes outside the launched tree keep the real clock while it runs.
#[test]
fn processes_outside_the_tree_are_untouched() {
    let mut inside = det(&["--epoch", "1000000000"], &["sleep", "2"]);
    let child = inside.spawn().unwrap();
    let probe = probe("clock");
    let out = run(&mut native(&[probe.to_str().unwrap()])).ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let seen: u64 = field(&out, "time").parse().unwrap();
    assert!(
        seen.abs_diff(now) < 60,
        "outside process saw {seen}, real time is {now}"
    );
    let mut child = child;
    let _ = child.kill();
    let _ = child.wait();
}
