//! Which programs of a build are behind a file, from the audit: the processes whose command
//! line names the file (a make recipe `sh -c '... > out/x.h'`, a compiler's `-o out/x`),
//! then, among them and everything they started (linked by pid and parent pid within one
//! build), those that read the wall clock or randomness. A heuristic: a program that writes a
//! file it was not told about on its command line is not found this way, and a pid reused
//! during a long build can link two unrelated processes.

use crate::report::Proc;
use std::collections::{BTreeMap, BTreeSet};

/// A program that consumed time or randomness, with its totals.
pub struct Suspect {
    /// The executable.
    pub exe: String,
    /// Wall-clock reads.
    pub wall: u64,
    /// Bytes served from the stream.
    pub bytes: u64,
    /// Randomness calls and device opens answered by the kernel.
    pub real: u64,
}

impl Suspect {
    /// "3 clock reads, 16 random bytes" (the non-zero parts).
    pub fn what(&self) -> String {
        let parts = [
            (self.wall, "clock reads"),
            (self.bytes, "random bytes"),
            (self.real, "calls for kernel randomness"),
        ];
        let shown: Vec<String> = parts
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, what)| format!("{n} {what}"))
            .collect();
        shown.join(", ")
    }
}

/// The programs that consumed time or randomness, by executable.
pub fn suspects(audit: &[Proc]) -> Vec<Suspect> {
    let mut by: BTreeMap<&str, Suspect> = BTreeMap::new();
    for p in audit.iter().filter(|p| p.consumed()) {
        let s = by.entry(p.exe.as_str()).or_insert_with(|| Suspect {
            exe: p.exe.clone(),
            wall: 0,
            bytes: 0,
            real: 0,
        });
        s.wall += p.wall_reads;
        s.bytes += p.random_bytes;
        s.real += p.real_random_calls;
    }
    by.into_values().collect()
}

/// The programs behind `path` (relative to the tree): the command lines that name it, and
/// what they and their descendants read.
pub fn behind(audit: &[Proc], path: &str) -> (Vec<String>, Vec<Suspect>) {
    let names = |p: &Proc| p.argv.iter().any(|a| names_path(a, path));
    let makers: Vec<&Proc> = audit.iter().filter(|p| names(p)).collect();
    let mut children: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for p in audit {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut seen: BTreeSet<u64> = BTreeSet::new();
    let mut todo: Vec<u64> = makers.iter().map(|p| p.pid).collect();
    while let Some(pid) = todo.pop() {
        if seen.insert(pid) {
            todo.extend(children.get(&pid).into_iter().flatten());
        }
    }
    let mut lines: Vec<String> = makers.iter().map(|p| short(&p.argv.join(" "))).collect();
    lines.dedup();
    let tree: Vec<Proc> = audit
        .iter()
        .filter(|p| seen.contains(&p.pid))
        .cloned()
        .collect();
    (lines, suspects(&tree))
}

/// Whether `arg` mentions `path` as a whole path: not as the start of a longer name
/// (`out/x` in `out/x.o`) or the end of one (`out/x` in `bout/x`).
fn names_path(arg: &str, path: &str) -> bool {
    let part = |c: char| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+');
    arg.match_indices(path).any(|(i, _)| {
        let before = arg[..i].chars().next_back();
        let after = arg[i + path.len()..].chars().next();
        !before.is_some_and(part) && !after.is_some_and(part)
    })
}

fn short(line: &str) -> String {
    const MAX: usize = 100;
    match line.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}...", &line[..i]),
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(pid: u64, ppid: u64, argv: &[&str], exe: &str, wall: u64) -> Proc {
        let v = serde_json::json!({
            "event": "exit", "pid": pid, "ppid": ppid, "argv": argv, "exe": exe,
            "mode": "active", "clock": "fake", "random": "fake",
            "clocks": {"realtime": wall},
        });
        Proc::from_json(&v)
    }

    #[test]
    fn the_recipe_naming_a_file_and_its_descendants_are_behind_it() {
        let audit = [
            proc(10, 1, &["make"], "/usr/bin/make", 1),
            proc(
                11,
                10,
                &["/bin/sh", "-c", "date > out/d.h"],
                "/usr/bin/dash",
                0,
            ),
            proc(12, 11, &["date"], "/usr/bin/date", 2),
            proc(13, 10, &["cc", "-o", "out/x"], "/usr/bin/cc", 0),
        ];
        assert!(names_path("./out/x", "out/x") && names_path("a>out/x;", "out/x"));
        assert!(!names_path("out/x.o", "out/x") && !names_path("bout/x", "out/x"));
        let (makers, readers) = behind(&audit, "out/d.h");
        assert_eq!(makers, ["/bin/sh -c date > out/d.h"]);
        assert_eq!(readers.len(), 1);
        assert_eq!(
            (readers[0].exe.as_str(), readers[0].wall),
            ("/usr/bin/date", 2)
        );
        assert!(behind(&audit, "out/x").1.is_empty());
    }
}
