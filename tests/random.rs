//! Randomness: getrandom, getentropy, arc4random*, syscall(SYS_getrandom), /dev/urandom,
//! /dev/random and the kernel's uuid file come from a stream fixed by the seed, the command
//! line and its directory relative to the build root; so does the stack-protector guard.

use crate::common::*;
use std::collections::HashSet;
use std::path::Path;

/// Entry point `name` of the random probe, alone in a fresh program: it varies natively, is
/// byte-identical across runs under detbuild and changes with the seed.
#[track_caller]
fn random_entry_point(name: &str) {
    let probe = probe("random");
    let out = assert_promise(&[probe.to_str().unwrap(), name], OTHER_SEED);
    assert_eq!(out.lines().count(), 1, "{out}");
    assert_ne!(field(&out, name), "error", "{out}");
}

// Promise: every C randomness entry point, and every way of opening the random devices, is
// fixed by the seed.
one_test_per_case!(
    c_random_entry_point_is_fixed_by_the_seed,
    random_entry_point;
    getrandom,
    getentropy,
    arc4random,
    arc4random_buf,
    arc4random_uniform,
    syscall_getrandom,
    open_urandom,
    open_random,
    openat_urandom,
    open_2_urandom,
    open64_2_urandom,
    openat_2_urandom,
    fopen_urandom,
    uuid,
);

// Promise: one program drawing from every entry point in turn gets fixed bytes, and no two
// entry points hand it the same bytes (they share one stream, none restarts it).
#[test]
fn c_random_entry_points_share_one_stream() {
    let probe = probe("random");
    let out = assert_promise(&[probe.to_str().unwrap()], OTHER_SEED);
    assert!(!out.contains("error"), "{out}");
    assert_eq!(out.lines().count(), 14, "{out}");
    let values: HashSet<_> = out.lines().map(|l| l.split('=').nth(1).unwrap()).collect();
    assert_eq!(
        values.len(),
        14,
        "two entry points returned the same bytes:\n{out}"
    );
}

// Promise: coreutils reading /dev/urandom get fixed bytes.
#[test]
fn head_of_urandom_is_fixed() {
    assert_promise(
        &["sh", "-c", "head -c 32 /dev/urandom | od -An -tx1"],
        OTHER_SEED,
    );
}

// Promise: a random device never ends early, however much is read, and reads are fixed.
#[test]
fn long_urandom_reads_never_end_early() {
    let argv = [
        "sh",
        "-c",
        "head -c 3000000 /dev/urandom | wc -c; head -c 3000000 /dev/urandom | cksum",
    ];
    let out = assert_stable("3 MB of urandom", || det(&["--epoch", EPOCH], &argv));
    assert!(out.starts_with("3000000\n"), "{out}");
}

// Promise: a random device inherited as standard input reads endlessly, with direct reads
// (tr, head) and with stdio (od), and the bytes are fixed by the seed.
#[test]
fn inherited_urandom_reads_past_its_prefill() {
    let script =
        "head -c 200000 < /dev/urandom | cksum; od -An -N 60000 -tx1 < /dev/urandom | wc -w";
    let out = assert_promise(&["sh", "-c", script], OTHER_SEED);
    assert!(out.ends_with("\n60000\n"), "{out}");
    assert!(out.contains(" 200000\n"), "{out}");
}

// Promise: a shell redirection hands the program a fixed stream too (the fd survives exec).
#[test]
fn redirected_urandom_is_fixed() {
    assert_promise(&["sh", "-c", "od -An -N16 -tx1 < /dev/urandom"], OTHER_SEED);
}

// Promise: the stack-protector guard (the canary glibc fills from the kernel's AT_RANDOM at
// every exec, which programs leak into their output through uninitialized stack bytes) is
// fixed by the seed, in the main thread and in the threads it starts, and the same in every
// process of the build, whatever its arguments or parent (a `make PATH=...` above it).
#[test]
fn stack_guard_is_fixed_by_the_seed() {
    let probe = probe("guard");
    let p = probe.to_str().unwrap();
    let out = assert_promise(&[p], OTHER_SEED);
    let elsewhere = run(&mut det(
        &["--epoch", EPOCH],
        &["sh", "-c", &format!("PATH=$PATH:/x {p} another-argument")],
    ))
    .ok();
    assert_eq!(out, elsewhere, "the guard depends on the process");
    let guard = field(&out, "guard");
    assert_eq!(guard, field(&out, "thread"), "{out}");
    assert!(
        guard.ends_with("00"),
        "the guard's low byte is zero, as glibc's: {out}"
    );
}

// Promise: Python's os.urandom, uuid4, random, and set iteration order are fixed by the seed.
#[test]
fn python_randomness_is_fixed() {
    if !require_tool("python3", "python3") {
        return;
    }
    let script = "import os, random, uuid\n\
                  print(os.urandom(8).hex(), uuid.uuid4(), random.random())\n\
                  print(list({'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta', 'eta'}))";
    assert_promise(&["python3", "-c", script], OTHER_SEED);
}

fn write_makefile(dir: &Path) {
    let mut text = String::from("all:");
    for i in 0..6 {
        text.push_str(&format!(" t{i}"));
    }
    text.push('\n');
    for i in 0..6 {
        text.push_str(&format!(
            "t{i}:\n\tsleep 0.0{i}; head -c 16 /dev/urandom | od -An -tx1 > $@\n"
        ));
    }
    std::fs::write(dir.join("Makefile"), text).unwrap();
}

fn outputs(dir: &Path) -> Vec<String> {
    (0..6)
        .map(|i| std::fs::read_to_string(dir.join(format!("t{i}"))).unwrap())
        .collect()
}

// Promise: the same command in the same directory (relative to the build root) gets the same
// stream whatever the -j level, the scheduling and the absolute build path; different
// commands get different streams.
#[test]
fn streams_depend_on_the_command_not_on_scheduling_or_build_path() {
    if !require_tool("make", "make") {
        return;
    }
    let mut seen = Vec::new();
    for (name, jobs) in [("one", "-j1"), ("two-deeper/x", "-j6"), ("three", "-j3")] {
        let dir = tempdir("streams").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        write_makefile(&dir);
        let mut cmd = det(&["--epoch", EPOCH], &["make", "-s", jobs]);
        cmd.current_dir(&dir);
        run(&mut cmd).ok();
        seen.push(outputs(&dir));
    }
    assert_eq!(seen[0], seen[1], "-j1 vs -j6 in another directory");
    assert_eq!(seen[0], seen[2], "-j1 vs -j3");
    let distinct: HashSet<_> = seen[0].iter().collect();
    assert_eq!(
        distinct.len(),
        6,
        "different recipes shared a stream: {:?}",
        seen[0]
    );

    let dir = tempdir("streams-native");
    write_makefile(&dir);
    let mut cmd = native(&["make", "-s", "-j6"]);
    cmd.current_dir(&dir);
    run(&mut cmd).ok();
    assert_ne!(
        outputs(&dir),
        seen[0],
        "native run matched detbuild's streams"
    );
}
