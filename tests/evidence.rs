//! Evidence: the audit (`--report`, `detbuild report`), `detbuild check` and `detbuild record`.

use crate::common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Every line of an audit file, parsed (a line that is not JSON fails the test).
fn audit_lines(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn num(v: &Value, path: &[&str]) -> u64 {
    path.iter()
        .try_fold(v, |v, p| v.get(p))
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

fn text<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or("")
}

/// A fresh copy of examples/hello.
pub fn hello_copy(label: &str) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello");
    let dir = tempdir(label).join("hello");
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["Makefile", "hello.c", "stamp.py"] {
        std::fs::copy(src.join(name), dir.join(name)).unwrap();
    }
    dir
}

// Promise: `detbuild --report FILE -- make` writes one JSON line per process of a real build,
// naming the programs that read the wall clock (date, python) and consumed randomness
// (head of /dev/urandom, python), while the build itself sees the faked values.
#[test]
fn the_audit_names_the_programs_that_read_the_clock_in_a_real_build() {
    if !require_tool("make", "make") || !require_tool("python3", "python3") {
        return;
    }
    let dir = hello_copy("audit-hello");
    let file = dir.join("../audit.jsonl");
    let flags = ["--epoch", EPOCH, "--report", file.to_str().unwrap()];
    run(det(&flags, &["make", "-s"]).current_dir(&dir)).ok();
    let lines = audit_lines(&file);
    let reads = |name: &str| -> u64 {
        lines
            .iter()
            .filter(|l| text(l, "exe").rsplit('/').next().unwrap().starts_with(name))
            .map(|l| num(l, &["clocks", "realtime"]) + num(l, &["calls", "time"]))
            .sum()
    };
    assert!(reads("date") >= 2, "date read no clock: {lines:#?}");
    assert!(reads("python3") >= 1, "python read no clock");
    let head = lines
        .iter()
        .find(|l| text(l, "exe").ends_with("/head"))
        .expect("a line for head");
    assert!(num(head, &["random_bytes", "device"]) >= 8, "{head}");
    let make = lines
        .iter()
        .find(|l| text(l, "exe").ends_with("/make"))
        .expect("a line for make");
    assert_eq!(text(make, "mode"), "transparent");
    assert!(make["key"].is_null());
    // Every shimmed process reports: the keyed ones derive from a key another line names or
    // from the run's root.
    assert!(lines.len() >= 15, "{} lines", lines.len());
    let summary = run(command(detbuild_bin()).arg("report").arg(&file)).ok();
    let wall = summary
        .lines()
        .find(|l| l.starts_with("read the wall clock:"))
        .unwrap();
    for program in ["/date", "python3"] {
        assert!(wall.contains(program), "{program} missing in: {summary}");
    }
    // Control: the same build without --report writes no audit anywhere.
    let quiet = hello_copy("audit-hello-quiet");
    run(det(&["--epoch", EPOCH], &["make", "-s"]).current_dir(&quiet)).ok();
    assert!(!quiet.join("../audit.jsonl").exists());
}

// Promise: the audit writes one valid JSON line per process image: a forked child reports
// only its own calls (at `_exit`), the parent reports before a successful exec (not before a
// failed one), the exec'd program reports at exit, and a vfork child writes nothing of its own
// (neither from `execve` nor from `_exit`); its exec'd program reports itself.
#[test]
fn the_audit_writes_one_json_line_per_fork_exec_exit_and_vfork() {
    let file = tempdir("audit-shapes").join("audit.jsonl");
    let out = run(&mut det(
        &["--epoch", EPOCH, "--report", file.to_str().unwrap()],
        &[probe("audit").to_str().unwrap()],
    ))
    .ok();
    let pid = |name: &str| -> u64 { field(&out, name).parse().unwrap() };
    let lines = audit_lines(&file);
    let of = |p: u64| -> Vec<&Value> { lines.iter().filter(|l| num(l, &["pid"]) == p).collect() };
    let child = of(pid("fork"));
    assert_eq!(child.len(), 1, "{lines:#?}");
    assert_eq!(text(child[0], "event"), "_exit");
    assert_eq!(num(child[0], &["clocks", "realtime"]), 2, "{}", child[0]);
    let parent = of(pid("parent"));
    assert_eq!(parent.len(), 2, "{parent:#?}");
    assert_eq!(text(parent[0], "event"), "exec");
    assert_eq!(text(parent[0], "target"), "/bin/echo");
    assert_eq!(num(parent[0], &["clocks", "realtime"]), 1, "{}", parent[0]);
    assert_eq!(text(parent[1], "event"), "exit");
    assert!(text(parent[1], "exe").ends_with("/echo"));
    assert_eq!(
        child[0]["parent"], parent[0]["key"],
        "the fork child's parent key"
    );
    assert_eq!(parent[1]["parent"], parent[0]["key"], "echo's parent key");
    let exec_child = of(pid("vfork_exec"));
    assert_eq!(exec_child.len(), 1, "{exec_child:#?}");
    assert!(text(exec_child[0], "exe").ends_with("/true"));
    assert!(of(pid("vfork_exit")).is_empty(), "{lines:#?}");
    assert_eq!(lines.len(), 4, "{lines:#?}");
}

fn detbuild_in(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = command(detbuild_bin());
    cmd.args(args).current_dir(dir);
    run_within(&mut cmd, LIMIT * 3)
}

// Promise: `detbuild check -- make` says "reproducible" for examples/hello (two copies at
// different paths, TZ, locale, umask, HOME, affinity, file order and time varied), while the
// same check without detbuild (`--no-shim`) exits 1 and names the files that differ and the
// programs that read the clock or randomness (date, head of /dev/urandom, python).
#[test]
fn check_says_identical_for_hello_under_detbuild_and_names_the_files_without() {
    if !require_tool("make", "make") || !require_tool("python3", "python3") {
        return;
    }
    let dir = hello_copy("check-hello");
    let native = detbuild_in(&dir, &["check", "--no-shim", "--", "make", "-s"]);
    assert_eq!(native.code(), 1, "{}", native.describe());
    assert!(
        native.stdout.starts_with("NOT reproducible:"),
        "{}",
        native.stdout
    );
    for file in ["  out/hello\n", "  out/manifest.txt\n", "  out/salt.h\n"] {
        assert!(
            native.stdout.contains(file),
            "{file} not named: {}",
            native.stdout
        );
    }
    // The shim, preloaded only to observe, names the programs behind the differences: per
    // file, the command that names it and what it started that read randomness or the clock.
    let salt: Vec<&str> = native
        .stdout
        .lines()
        .skip_while(|l| *l != "  out/salt.h")
        .skip(1)
        .take_while(|l| l.starts_with("    "))
        .collect();
    let salt = salt.join("\n");
    assert!(
        salt.contains("named by /bin/sh -c echo \"#define SALT"),
        "{salt}"
    );
    assert!(salt.contains("reading  /usr/bin/head: "), "{salt}");
    for program in ["/date: ", "/head: ", "python3"] {
        assert!(
            native.stdout.contains(program),
            "{program} not named: {}",
            native.stdout
        );
    }
    let det = detbuild_in(&dir, &["check", "--epoch", EPOCH, "--", "make", "-s"]);
    assert_eq!(det.code(), 0, "{}", det.describe());
    assert!(
        det.stdout
            .starts_with("reproducible: 6 artifacts identical in run 1, run 2"),
        "{}",
        det.stdout
    );
    assert!(
        det.stderr.contains("run 2/2: building"),
        "no progress: {}",
        det.stderr
    );
    // The source tree itself is untouched: the builds ran in copies.
    assert!(!dir.join("out").exists());
}

// Promise: when artifacts still differ under detbuild (here: `date` formats the faked time in
// the local time zone, which check varies and detbuild.toml tells detbuild to pass through),
// check exits 1, names the file with its size and
// SHA-256 per build, and names the program that read the clock, from the audit.
#[test]
fn check_names_the_differing_file_and_the_programs_that_read_the_clock() {
    if !require_tool("make", "make") {
        return;
    }
    let dir = tempdir("check-tz").join("tz");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("Makefile"),
        "stamp.txt:\n\tdate '+%Y-%m-%d %H:%M %z' > $@\n",
    )
    .unwrap();
    std::fs::write(dir.join("detbuild.toml"), "[shell]\ntz = \"inherit\"\n").unwrap();
    let out = detbuild_in(
        &dir,
        &["check", "--epoch", EPOCH, "--json", "--", "make", "-s"],
    );
    assert_eq!(out.code(), 1, "{}", out.describe());
    let doc: Value = serde_json::from_str(&out.stdout).expect("--json prints JSON");
    assert_eq!(doc["verdict"], "different");
    let differing = &doc["differing"][0];
    assert_eq!(differing["path"], "stamp.txt");
    let builds = differing["builds"].as_array().unwrap();
    assert_ne!(builds[0]["sha256"], builds[1]["sha256"]);
    assert_eq!(builds[0]["size"].as_u64(), Some(23));
    let readers = differing["readers"].as_array().unwrap();
    assert!(
        readers.iter().any(|p| text(p, "exe").ends_with("/date")),
        "date not behind stamp.txt: {differing}"
    );
    let programs = doc["programs"].as_array().unwrap();
    assert!(
        programs.iter().any(|p| text(p, "exe").ends_with("/date")),
        "date not named: {programs:?}"
    );
    let plain = detbuild_in(&dir, &["check", "--epoch", EPOCH, "--", "make", "-s"]);
    assert!(
        plain
            .stdout
            .contains("  stamp.txt\n    run 1    23 bytes  sha256:"),
        "{}",
        plain.stdout
    );
    assert!(
        plain.stdout.contains("/date: 1 clock reads"),
        "{}",
        plain.stdout
    );
}

// Promise: a build that fails in one copy makes check exit 2 and show the tail of both
// builds' logs.
#[test]
fn check_exits_2_with_both_logs_when_a_build_fails_in_one_copy() {
    let dir = tempdir("check-fail").join("src");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("build.sh"),
        "echo \"log line from $PWD\"\ncase $PWD in */run2*) echo 'cc: error: broken' >&2; exit 3;; esac\necho x > out\n",
    )
    .unwrap();
    let out = detbuild_in(&dir, &["check", "--epoch", EPOCH, "--", "sh", "build.sh"]);
    assert_eq!(out.code(), 2, "{}", out.describe());
    assert!(
        out.stderr
            .contains("run 2: the build failed (exit status: 3)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--- run 1 log"), "{}", out.stderr);
    assert!(out.stderr.contains("--- run 2 log"), "{}", out.stderr);
    assert!(
        out.stderr.contains("/run1/src"),
        "run 1's log tail missing: {}",
        out.stderr
    );
    assert!(out.stderr.contains("cc: error: broken"), "{}", out.stderr);
}

// Promise: bad arguments to check, record and report exit 2 with one clear line, and record
// writes nothing.
#[test]
fn bad_evidence_arguments_exit_2_with_a_clear_message() {
    let dir = tempdir("evidence-args");
    let manifest = dir.join("m.json");
    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, "{\"event\":\"exit\"}\nnot json\n").unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["check"], "no command given; usage: detbuild check"),
        (
            &["check", "--runs", "1", "--", "true"],
            "--runs 1: at least 2 builds",
        ),
        (
            &["check", "--src", "/nonexistent/src", "--", "true"],
            "--src /nonexistent/src: not a directory",
        ),
        (
            &["check", "--artifact", "[", "--", "true"],
            "--artifact \"[\"",
        ),
        (
            &["check", "--against", "/nonexistent/m.json", "--", "true"],
            "--against /nonexistent/m.json",
        ),
        (
            &["record", manifest.to_str().unwrap()],
            "no command given; usage: detbuild record",
        ),
        (
            &["report", bad.to_str().unwrap()],
            "bad.jsonl:2: not an audit line",
        ),
    ];
    for (args, message) in cases {
        let out = detbuild_in(&dir, args);
        assert_eq!(out.code(), 2, "{args:?}: {}", out.describe());
        assert!(out.stderr.contains(message), "{args:?}: {}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{args:?}: {}", out.stderr);
    }
    assert!(!manifest.exists());
}

// Promise: `detbuild record FILE -- make` writes a manifest (settings, programs with their
// Debian packages, artifact hashes) that `detbuild check --against FILE -- make` rebuilds
// identically; with one recorded hash tampered with, check --against exits 1 naming that file.
#[test]
fn record_and_check_against_round_trip_and_name_a_tampered_artifact() {
    if !require_tool("make", "make") || !require_tool("python3", "python3") {
        return;
    }
    let dir = hello_copy("record-hello");
    let manifest = dir.join("../manifest.json");
    let m = manifest.to_str().unwrap();
    let rec = detbuild_in(&dir, &["record", m, "--epoch", EPOCH, "--", "make", "-s"]);
    assert_eq!(rec.code(), 0, "{}", rec.describe());
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    assert_eq!(doc["format"], "detbuild-record/1");
    assert_eq!(
        doc["settings"]["epoch"].as_i64(),
        Some(EPOCH.parse().unwrap())
    );
    assert_eq!(doc["settings"]["epoch_source"], "--epoch");
    assert_eq!(
        doc["detbuild"]["shim_sha256"].as_str().map(str::len),
        Some(64)
    );
    assert!(
        doc["artifacts"]["out/hello"]["sha256"].is_string(),
        "{doc:#}"
    );
    let programs = doc["programs"].as_array().unwrap();
    let make = programs
        .iter()
        .find(|p| text(p, "path").ends_with("/make"))
        .expect("make in programs");
    if have_tools(&["dpkg"], "dpkg") {
        assert_eq!(make["package"], "make", "{make}");
        assert!(make["version"].is_string());
    }
    // Rebuilt with no --epoch: the manifest's settings are used.
    let again = detbuild_in(&dir, &["check", "--against", m, "--", "make", "-s"]);
    assert_eq!(again.code(), 0, "{}", again.describe());
    assert!(again
        .stdout
        .starts_with("reproducible: 6 artifacts identical in recorded, rebuilt"));
    // Tamper with one recorded hash.
    let hash = doc["artifacts"]["out/hello"]["sha256"].as_str().unwrap();
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace(hash, &"0".repeat(64))).unwrap();
    let tampered = detbuild_in(&dir, &["check", "--against", m, "--", "make", "-s"]);
    assert_eq!(tampered.code(), 1, "{}", tampered.describe());
    assert!(
        tampered.stdout.starts_with("NOT reproducible: 1 of 6"),
        "{}",
        tampered.stdout
    );
    assert!(
        tampered.stdout.contains("\n  out/hello\n"),
        "{}",
        tampered.stdout
    );
}

// Promise: a build that clears the environment (`env -i`) still reports: exec repair puts
// DETBUILD_REPORT back with detbuild's other variables, so the cleared child writes its line.
#[test]
fn the_audit_survives_a_cleared_environment() {
    let file = tempdir("audit-env-i").join("audit.jsonl");
    run(&mut det(
        &["--epoch", EPOCH, "--report", file.to_str().unwrap()],
        &["env", "-i", "date", "+%s"],
    ))
    .ok();
    let lines = audit_lines(&file);
    let date = lines
        .iter()
        .find(|l| text(l, "exe").ends_with("/date"))
        .unwrap_or_else(|| panic!("no line from date after env -i: {lines:#?}"));
    assert_eq!(num(date, &["clocks", "realtime"]), 1, "{date}");
    assert!(lines.iter().any(|l| text(l, "target").ends_with("/date")));
}
