//! Per-program switches: each source is faked or real per program, independently.

use crate::common::*;
use std::path::PathBuf;

/// A copy of probe `name` called `as_name`, in a fresh directory.
fn probe_named(name: &str, as_name: &str) -> (PathBuf, String) {
    let dir = tempdir(&format!("policy-{as_name}"));
    let copy = dir.join(as_name);
    std::fs::copy(probe(name), &copy).unwrap();
    (dir, copy.to_str().unwrap().to_string())
}

// Promise: a key generator (here a probe named ssh-keygen) gets real randomness but the
// build's clock, so what it stamps agrees with the rest of the build.
#[test]
fn a_key_generator_keeps_the_builds_clock() {
    let (_dir, clock) = probe_named("clock", "ssh-keygen");
    let out = run(&mut native(&[&clock])).ok();
    assert_ne!(
        field(&out, "time"),
        EPOCH,
        "natively the probe reads the real clock"
    );
    let out = run(&mut det(&["--epoch", EPOCH], &[&clock])).ok();
    assert_eq!(field(&out, "time"), EPOCH, "{out}");
    let (_dir, random) = probe_named("random", "ssh-keygen");
    assert_varies("ssh-keygen's randomness under detbuild", || {
        det(&["--epoch", EPOCH], &[&random])
    });
}

/// `python3 -c` printing the wall clock's second and four random bytes.
const TIME_AND_RANDOM: &[&str] = &[
    "python3",
    "-c",
    "import os, time; print(int(time.time()), os.urandom(4).hex())",
];

// Promise: `[programs.NAME] clock = "real"` gives that program the real clock while its
// randomness stays deterministic.
#[test]
fn one_switch_changes_one_source() {
    if !require_tool("python3", "python3") {
        return;
    }
    let dir = tempdir("one-switch");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.python3]\nclock = \"real\"\n",
    )
    .unwrap();
    let in_dir = || {
        let mut cmd = det(&["--epoch", EPOCH], TIME_AND_RANDOM);
        cmd.current_dir(&dir);
        cmd
    };
    let a = run(&mut in_dir()).ok();
    let (time, bytes) = a.trim().split_once(' ').unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        time.parse::<u64>().unwrap().abs_diff(now) < 60,
        "clock not real: {a}"
    );
    let b = run(&mut in_dir()).ok();
    assert_eq!(
        b.trim().split_once(' ').unwrap().1,
        bytes,
        "randomness not fixed"
    );
    let natively = run(&mut native(TIME_AND_RANDOM)).ok();
    assert_ne!(natively.trim().split_once(' ').unwrap().1, bytes);
}

// Promise: the old `[programs] real = [...]` list is refused with one line showing the new
// spelling, and nothing runs.
#[test]
fn the_old_program_list_is_refused_with_the_new_spelling() {
    let dir = tempdir("old-spelling");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs]\nreal = [\"mytool\"]\n",
    )
    .unwrap();
    let mut cmd = det(&[], &["touch", "ran"]);
    let out = run(cmd.current_dir(&dir));
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert_eq!(out.stderr.lines().count(), 1, "{}", out.describe());
    assert!(
        out.stderr
            .contains("[programs.\"mytool\"] clock = \"real\" and random = \"real\""),
        "{}",
        out.describe()
    );
    assert!(
        out.stderr.contains("detbuild.toml:2:1"),
        "{}",
        out.describe()
    );
    assert!(!dir.join("ran").exists());
}
