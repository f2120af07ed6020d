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
    let summary = run(&mut command(detbuild_bin()).arg("report").arg(&file)).ok();
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
    assert_eq!(child[0]["parent"], parent[0]["key"], "the fork child's parent key");
    assert_eq!(parent[1]["parent"], parent[0]["key"], "echo's parent key");
    let exec_child = of(pid("vfork_exec"));
    assert_eq!(exec_child.len(), 1, "{exec_child:#?}");
    assert!(text(exec_child[0], "exe").ends_with("/true"));
    assert!(of(pid("vfork_exit")).is_empty(), "{lines:#?}");
    assert_eq!(lines.len(), 4, "{lines:#?}");
}
