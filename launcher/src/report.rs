//! The audit's launcher side: `--report FILE` creates the file the shim appends to (one JSON
//! line per process; format in `shim/src/report.rs`), and `detbuild report FILE` summarizes
//! it as a table: per program, how many processes, the policy it ran under, the wall-clock
//! reads and the random bytes it consumed, and the execs of programs the shim cannot reach.
//!
//! Exit status of `detbuild report`: 0, or 2 when the file is missing or a line is not JSON
//! (the message names the line).

use crate::error::Error;
use crate::fail;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Empties (or creates) the audit file and returns its absolute path, for `DETBUILD_REPORT`.
pub fn create(file: &Path) -> Result<PathBuf, Error> {
    std::fs::File::create(file).map_err(|e| {
        fail!(
            "--report {}: cannot create it: {e}; give a writable path",
            file.display()
        )
    })?;
    std::fs::canonicalize(file).map_err(|e| fail!("--report {}: {e}", file.display()))
}

/// One line of the audit, with the figures the summaries use.
#[derive(Debug, Clone)]
pub struct Proc {
    /// `exit`, `_exit` or `exec`.
    pub event: String,
    /// Process id and parent's (to link a process to the programs it started).
    pub pid: u64,
    /// The parent's process id.
    pub ppid: u64,
    /// The command line.
    pub argv: Vec<String>,
    /// The executable (`/proc/self/exe`).
    pub exe: String,
    /// `active` or `transparent`.
    pub mode: String,
    /// The clock switch: `fake` or `real`.
    pub clock: String,
    /// The randomness switch: `fake` or `real`.
    pub random: String,
    /// Reads of the wall clock (REALTIME family, `gettimeofday`, `time`, ...).
    pub wall_reads: u64,
    /// Bytes of randomness served from the stream.
    pub random_bytes: u64,
    /// Calls for randomness and random-device opens answered by the kernel (the `random`
    /// switch real).
    pub real_random_calls: u64,
    /// Execs of static or Go programs.
    pub static_execs: u64,
}

fn count(v: &Value, object: &str, names: &[&str]) -> u64 {
    names
        .iter()
        .filter_map(|n| v.get(object)?.get(n)?.as_u64())
        .sum()
}

fn text(v: &Value, name: &str) -> String {
    v.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Proc {
    /// Reads the figures out of one parsed line.
    pub fn from_json(v: &Value) -> Proc {
        let wall = count(
            v,
            "clocks",
            &["realtime", "realtime_coarse", "realtime_alarm", "tai"],
        ) + count(
            v,
            "calls",
            &["gettimeofday", "time", "timespec_get", "ftime"],
        );
        let random_calls = count(
            v,
            "calls",
            &[
                "getrandom",
                "getentropy",
                "arc4random",
                "arc4random_buf",
                "arc4random_uniform",
            ],
        );
        let random_bytes = v
            .get("random_bytes")
            .and_then(Value::as_object)
            .map_or(0, |o| o.values().filter_map(Value::as_u64).sum());
        let random = text(v, "random");
        Proc {
            event: text(v, "event"),
            pid: v.get("pid").and_then(Value::as_u64).unwrap_or(0),
            ppid: v.get("ppid").and_then(Value::as_u64).unwrap_or(0),
            argv: v
                .get("argv")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|s| Some(s.as_str()?.to_string()))
                        .collect()
                })
                .unwrap_or_default(),
            exe: text(v, "exe"),
            mode: text(v, "mode"),
            clock: text(v, "clock"),
            real_random_calls: if random == "real" { random_calls } else { 0 }
                + v.get("real_random_opens")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            random,
            wall_reads: wall,
            random_bytes,
            static_execs: v.get("static_execs").and_then(Value::as_u64).unwrap_or(0),
        }
    }

    /// The policy in one word: `fake`, `real clock`, `real random`, `transparent`.
    pub fn policy(&self) -> &'static str {
        match (
            self.mode.as_str(),
            self.clock.as_str(),
            self.random.as_str(),
        ) {
            ("transparent", _, _) => "transparent",
            (_, "fake", "fake") => "fake",
            (_, "real", "fake") => "real clock",
            (_, "fake", "real") => "real random",
            _ => "real",
        }
    }

    /// Whether the program consumed time or randomness.
    pub fn consumed(&self) -> bool {
        self.wall_reads > 0 || self.random_bytes > 0 || self.real_random_calls > 0
    }
}

/// Reads an audit file: one [`Proc`] per line.
pub fn read(file: &Path) -> Result<Vec<Proc>, Error> {
    let content = std::fs::read_to_string(file).map_err(|e| {
        fail!(
            "cannot read the audit {}: {e}; write one with detbuild --report FILE -- CMD",
            file.display()
        )
    })?;
    content
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str::<Value>(line)
                .map(|v| Proc::from_json(&v))
                .map_err(|e| fail!("{}:{}: not an audit line: {e}", file.display(), i + 1))
        })
        .collect()
}

/// Totals for one program.
#[derive(Default)]
struct Row {
    procs: u64,
    policies: Vec<&'static str>,
    wall: u64,
    bytes: u64,
    real_random: u64,
    statics: u64,
}

/// The summary table (see the module docs).
pub fn summary(procs: &[Proc]) -> String {
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    for p in procs {
        let row = rows.entry(p.exe.as_str()).or_default();
        // An exec line and the exec'd program's line are one process; count images that end.
        if p.event != "exec" {
            row.procs += 1;
        }
        if !row.policies.contains(&p.policy()) {
            row.policies.push(p.policy());
        }
        row.wall += p.wall_reads;
        row.bytes += p.random_bytes;
        row.real_random += p.real_random_calls;
        row.statics += p.static_execs;
    }
    let mut out = String::new();
    let w = rows.keys().map(|e| e.len()).max().unwrap_or(0).max(7);
    let _ = writeln!(
        out,
        "{:<w$} {:>5}  {:<12} {:>10} {:>12} {:>6}",
        "PROGRAM", "PROCS", "POLICY", "WALL-READS", "RANDOM-BYTES", "STATIC"
    );
    for (exe, r) in &rows {
        let random = if r.real_random > 0 {
            format!("{}+{}real", r.bytes, r.real_random)
        } else {
            r.bytes.to_string()
        };
        let _ = writeln!(
            out,
            "{:<w$} {:>5}  {:<12} {:>10} {:>12} {:>6}",
            exe,
            r.procs,
            r.policies.join(","),
            r.wall,
            random,
            r.statics
        );
    }
    let time: Vec<&str> = names(&rows, |r| r.wall > 0);
    let random: Vec<&str> = names(&rows, |r| r.bytes > 0 || r.real_random > 0);
    let transparent: Vec<&str> = names(&rows, |r| r.policies.contains(&"transparent"));
    let statics: u64 = rows.values().map(|r| r.statics).sum();
    let _ = writeln!(out, "read the wall clock: {}", list(&time));
    let _ = writeln!(out, "consumed randomness: {}", list(&random));
    let _ = writeln!(
        out,
        "ran transparent (real clock and randomness): {}",
        list(&transparent)
    );
    let _ = writeln!(
        out,
        "execs of unshimmed (static or Go) programs: {statics}{}",
        if statics > 0 {
            " (the shim warned about each on stderr)"
        } else {
            ""
        }
    );
    out
}

fn names<'a>(rows: &BTreeMap<&'a str, Row>, keep: impl Fn(&Row) -> bool) -> Vec<&'a str> {
    rows.iter()
        .filter(|(_, r)| keep(r))
        .map(|(e, _)| *e)
        .collect()
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// `detbuild report FILE`: prints the summary; the exit status.
pub fn main(file: &Path) -> Result<u8, Error> {
    let procs = read(file)?;
    print!("{}", summary(&procs));
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_come_from_the_counters() {
        let v: Value = serde_json::from_str(
            r#"{"event":"exit","exe":"/bin/x","mode":"active","clock":"fake","random":"real",
                "clocks":{"realtime":2,"monotonic":9},"calls":{"time":1,"getrandom":3},
                "random_bytes":{"device":16},"static_execs":1}"#,
        )
        .unwrap();
        let p = Proc::from_json(&v);
        assert_eq!(
            (p.wall_reads, p.random_bytes, p.real_random_calls),
            (3, 16, 3)
        );
        assert_eq!(p.policy(), "real random");
        let s = summary(&[p]);
        assert!(s.contains("read the wall clock: /bin/x"), "{s}");
        assert!(
            s.contains("execs of unshimmed (static or Go) programs: 1"),
            "{s}"
        );
    }
}
