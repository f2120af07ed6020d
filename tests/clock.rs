//! The wall clock: every REALTIME entry point starts at the epoch in each new program and
//! advances a fixed step per read; monotonic and CPU clocks stay real.

use crate::common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// Entry point `name` of the clock probe, alone in a fresh program: it varies natively, is
/// byte-identical across runs under detbuild and moves with the epoch; being the program's
/// first read, it is the epoch itself. The native runs are a second apart for `time`'s
/// seconds, 20 ms for the others (the coarse clock ticks every few milliseconds).
#[track_caller]
fn wall_clock_entry_point(name: &str) {
    let probe = probe("clock");
    let apart = Duration::from_millis(if name == "time" { 1000 } else { 20 });
    let out = assert_promise_apart(&[probe.to_str().unwrap(), name], OTHER_EPOCH, apart);
    assert_eq!(out.lines().count(), 1, "{out}");
    let value = field(&out, name);
    let (secs, fraction) = value.split_once('.').unwrap_or((value, ""));
    assert_eq!(
        secs, EPOCH,
        "{name}: the first read is not the epoch:\n{out}"
    );
    assert!(
        fraction.bytes().all(|b| b == b'0'),
        "{name}: the first read is not the epoch:\n{out}"
    );
}

// Promise: every C wall-clock entry point (time, gettimeofday, clock_gettime REALTIME /
// COARSE / TAI, timespec_get, ftime, syscall(SYS_clock_gettime)) is fixed by the epoch.
one_test_per_case!(
    c_wall_clock_entry_point_is_fixed_by_the_epoch,
    wall_clock_entry_point;
    time,
    gettimeofday,
    realtime,
    realtime_coarse,
    tai,
    timespec_get,
    ftime,
    syscall_clock_gettime,
);

// Promise: `detbuild -- date +%s.%N` prints the same line every run.
#[test]
fn date_prints_the_same_instant_every_run() {
    assert_promise(&["date", "+%s.%N"], OTHER_EPOCH);
}

// Promise: `--epoch` sets the wall clock (the issue's example: 1000000000 is in 2001).
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
    assert_eq!(out.lines().count(), expect.len(), "{out}");
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
    if !require_tool("python3", "python3") {
        return;
    }
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

/// Creates the files `go` and `done` in its directory when dropped, so the two sides of
/// [`processes_outside_the_tree_are_untouched`] end even when the test fails half-way.
struct Release(PathBuf);

impl Release {
    fn signal(&self, name: &str) {
        std::fs::write(self.0.join(name), "").unwrap();
    }
}

impl Drop for Release {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("go"), "");
        let _ = std::fs::write(self.0.join("done"), "");
    }
}

/// `SIDE PROBE`: says it is ready, waits for `go`, runs PROBE; the inside side then stays alive
/// until `done`.
const SIDE: &str = r#"wait_for() { while [ ! -e "$1" ]; do sleep 0.01; done; }
touch "ready-$1"; wait_for go; "$2"; [ "$1" = outside ] || wait_for done"#;

/// The seconds of each `name=secs[.fraction]` line.
fn seconds(out: &str) -> Vec<u64> {
    out.lines()
        .map(|l| {
            let value = l.split_once('=').unwrap().1;
            value.split('.').next().unwrap().parse().unwrap()
        })
        .collect()
}

// Promise: processes outside the launched tree keep the real clock while it runs: released at
// the same moment, a program inside the tree reads the epoch and one outside reads real time.
#[test]
fn processes_outside_the_tree_are_untouched() {
    let dir = tempdir("outside");
    let probe = probe("clock");
    let probe = probe.to_str().unwrap();
    let release = Release(dir.clone());
    let start = |mut cmd: Command| {
        cmd.current_dir(&dir);
        std::thread::spawn(move || run(&mut cmd))
    };
    let inside = start(det(
        &["--epoch", "1000000000"],
        &["sh", "-c", SIDE, "sh", "inside", probe],
    ));
    let outside = start(native(&["sh", "-c", SIDE, "sh", "outside", probe]));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(dir.join("ready-inside").exists() && dir.join("ready-outside").exists()) {
        assert!(
            Instant::now() < deadline && !inside.is_finished() && !outside.is_finished(),
            "the two sides did not both get ready within 30 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    release.signal("go");
    let finished = |side: std::thread::JoinHandle<Output>| {
        side.join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
            .ok()
    };
    let outside = finished(outside);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        !inside.is_finished(),
        "the inside program ended before the outside one had read the clock"
    );
    release.signal("done");
    let inside = finished(inside);

    assert_eq!(field(&inside, "time"), "1000000000", "{inside}");
    for secs in seconds(&inside) {
        assert!(
            (1_000_000_000..1_000_000_100).contains(&secs),
            "the inside program is not at the epoch:\n{inside}"
        );
    }
    assert_eq!(seconds(&outside).len(), 8, "{outside}");
    for secs in seconds(&outside) {
        assert!(
            secs.abs_diff(now) < 60,
            "the outside program saw {secs}, real time is {now}:\n{outside}"
        );
    }
}

// Promise: a build started under libfaketime (how reprotest and `faketime` vary the time of a
// build) still reads the build's clock: the launcher leaves the time faker out.
#[test]
fn an_outer_libfaketime_does_not_move_the_build_clock() {
    let Some(faker) = libfaketime() else {
        return;
    };
    let under_faketime = |mut cmd: std::process::Command| {
        cmd.env("LD_PRELOAD", &faker).env("FAKETIME", "+400d");
        run(&mut cmd).ok()
    };
    // Control: natively, libfaketime moves the clock 400 days ahead.
    let now = run(&mut native(&["date", "+%s"])).ok();
    let moved = under_faketime(native(&["date", "+%s"]));
    let ahead = moved.trim().parse::<i64>().unwrap() - now.trim().parse::<i64>().unwrap();
    assert!(
        ahead > 399 * 86_400,
        "libfaketime did not move the clock: {moved}"
    );
    let out = under_faketime(det(&["--epoch", EPOCH], &["date", "+%s"]));
    assert_eq!(out, format!("{EPOCH}\n"));
    let other = under_faketime(det(OTHER_EPOCH, &["date", "+%s"]));
    assert_eq!(other, format!("{}\n", OTHER_EPOCH[1]));
}
