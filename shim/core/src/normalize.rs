//! What of a command line and a directory goes into a process key (see [`crate::key`]): the
//! normalization that keeps keys independent of the job count, the build path and the location
//! of tools, frozen with the key construction (changing it is a new key version).
//!
//! Each argument is read as text: *words* separated by whitespace and the shell's
//! metacharacters `; & | ( ) < > ' " `` ` ``, so a command line inside `sh -c "..."` is
//! normalized like one given as separate arguments. Rules, each with its reason:
//!
//! 1. **Job counts are left out**: `-j`, `--jobs`, `--parallel`, `--load-average`,
//!    `--max-load` and `--max-procs`, each with the count that follows it (`-j 8`) or without
//!    one; `-jN`, `-lN`, `-PN` and `--jobs=`, `--parallel=`, `--load-average=`, `--max-load=`,
//!    `--max-procs=` with any value; `-l N` and `-P N` only with a count (alone they are
//!    `ls -l`, `grep -P`); the `jN` at the end of a cluster of short flags (`-sj8` keeps
//!    `-s`); make's `--jobserver-auth=`/`--jobserver-fds=` (they name per-run descriptors
//!    or fifos). A count is digits, optionally with a decimal part (`-l 2.5`). Reason: make,
//!    ninja, cmake, cargo, xargs, GNU parallel and their wrappers take the machine's core
//!    count, and a build must give the same bytes on 2 and on 16 cores. A left-out word also
//!    takes the whitespace before it, so `make -j8 all` reads as `make all`.
//! 2. **`NAME=VALUE` words look at the value**: `MAKEFLAGS=-j8` reads as `MAKEFLAGS=`. Reason:
//!    `env MAKEFLAGS=-j8 make` and `sh -c "MAKEFLAGS=-j$n make"` pass the count that way.
//! 3. **Whitespace runs read as one space**, and leading and trailing whitespace as none.
//!    Reason: left-out words must not leave a trace, and `"a  b"` vs `"a b"` never matters
//!    to what a command does with randomness.
//! 4. **The build root is a marker**: every occurrence of the root path reads as `00 01`
//!    (arguments cannot contain NUL, so the marker is unambiguous). Reason: the same tree
//!    built from `/home/a/src` and `/tmp/b` must give the same bytes.
//! 5. **Absolute paths outside the root read as their last component** after the marker
//!    `00 03`: `/usr/bin/python3` reads as `00 03 python3`, `/srv/pkg-1234/src` as `00 03
//!    src`. A path is a word or a part of one after `=`, `:` or `,` that starts with one `/`
//!    (not `//`, as in URLs), or an option with letters glued to it (`-I/opt/x/include`
//!    reads as `-I 00 03 include`). Reason: a builder that names its tree by absolute path
//!    (`sh -c "cd /srv/pkg-1234/src && make"`, `make -C /srv/...`) and tools installed in
//!    different prefixes must not change the keys. Commands that differ only in the
//!    directories of such paths share a key; they still get distinct streams when one parent
//!    runs several of them (see [`crate::occur`]).
//! 6. **The directory** is the working directory relative to the root (`.` for the root), or
//!    `00 03` and its last component when it lies outside (rule 5, same reason). The shim
//!    re-roots a program exec'd from outside its parent's root at that directory, so outside
//!    directories are rare (see `DETBUILD_ROOT` in the README).
//!
//! Element boundaries count too: an argument that is exactly a job flag is left out together
//! with its count argument (`make -j 8` reads as `make`), while an empty argument still counts.

/// Marks where the root path was (rule 4).
pub const ROOT_MARK: &[u8] = &[0, 1];
/// Marks an absolute path or directory outside the root (rules 5 and 6).
pub const OUTSIDE_MARK: &[u8] = &[0, 3];
/// Ends each argument that is not left out.
pub const ARG_END: &[u8] = &[0, 0];

/// What rule 1 does with one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Job {
    /// Not a job-count word.
    Keep,
    /// Left out.
    Drop,
    /// Left out, and so is a count right after it.
    DropWithCount,
    /// Left out with a count right after it; kept otherwise. The flag.
    IfCount(&'static [u8]),
    /// Only the first `n` bytes are kept (`-sj8` keeps `-s`).
    Trim(usize),
}

/// Rule 1 for one word.
pub fn job_word(w: &[u8]) -> Job {
    const PREFIXES: [&[u8]; 7] = [
        b"--jobs=",
        b"--parallel=",
        b"--load-average=",
        b"--max-load=",
        b"--max-procs=",
        b"--jobserver-auth=",
        b"--jobserver-fds=",
    ];
    match w {
        b"-j" | b"--jobs" | b"--parallel" | b"--load-average" | b"--max-load" | b"--max-procs" => {
            Job::DropWithCount
        }
        b"-l" => Job::IfCount(b"-l"),
        b"-P" => Job::IfCount(b"-P"),
        [b'-', b'j' | b'l' | b'P', n @ ..] if is_count(n) => Job::Drop,
        _ if PREFIXES.iter().any(|p| w.starts_with(p)) => Job::Drop,
        [b'-', rest @ ..] => match rest.iter().position(|&b| b == b'j') {
            Some(at)
                if at > 0
                    && rest[..at].iter().all(u8::is_ascii_alphabetic)
                    && is_count(&rest[at + 1..])
                    && !rest[at + 1..].contains(&b'.') =>
            {
                Job::Trim(at + 1)
            }
            _ => Job::Keep,
        },
        _ => Job::Keep,
    }
}

/// A job count: digits, optionally `.` and more digits.
pub fn is_count(w: &[u8]) -> bool {
    let (whole, frac) = match w.iter().position(|&b| b == b'.') {
        Some(at) => (&w[..at], Some(&w[at + 1..])),
        None => (w, None),
    };
    let digits = |s: &[u8]| !s.is_empty() && s.iter().all(u8::is_ascii_digit);
    digits(whole) && frac.is_none_or(digits)
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn is_sep(b: u8) -> bool {
    is_space(b)
        || matches!(
            b,
            b';' | b'&' | b'|' | b'(' | b')' | b'<' | b'>' | b'\'' | b'"' | b'`'
        )
}

/// The last component of an absolute path (`""` for `/`).
pub fn last_component(path: &[u8]) -> &[u8] {
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    let path = &path[..end];
    match path.iter().rposition(|&b| b == b'/') {
        Some(at) => &path[at + 1..],
        None => path,
    }
}

/// `cwd` relative to `root`: `.` for the root itself, the remainder for a directory below it,
/// `None` outside it (and always when `root` is empty, i.e. disabled).
pub fn relative_dir<'a>(root: &[u8], cwd: &'a [u8]) -> Option<&'a [u8]> {
    if root.is_empty() {
        return None;
    }
    match cwd.strip_prefix(root)? {
        [] => Some(b"."),
        [b'/', rest @ ..] if !rest.is_empty() => Some(rest),
        _ => None,
    }
}

/// Position of the first occurrence of `needle` in `hay` (`None` for an empty needle).
pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// What the previous argument left pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    Nothing,
    /// A job flag: a count argument next is left out.
    Count,
    /// `-l` or `-P`: left out with a count argument next, written out otherwise.
    Deferred(&'static [u8]),
}

/// Streams the normalized form of a command line and a directory into a sink.
pub struct Normalizer<'r> {
    root: &'r [u8],
    after: After,
}

impl<'r> Normalizer<'r> {
    /// A normalizer for a build rooted at `root` (absolute, no trailing slash; `/` or empty
    /// disables rule 4).
    pub fn new(root: &'r [u8]) -> Self {
        let root = if root.len() <= 1 { &[][..] } else { root };
        Normalizer {
            root,
            after: After::Nothing,
        }
    }

    /// Writes the next argument's normalized bytes and [`ARG_END`], or nothing when the
    /// argument is left out.
    pub fn arg(&mut self, arg: &[u8], out: &mut impl FnMut(&[u8])) {
        match core::mem::replace(&mut self.after, After::Nothing) {
            After::Count if is_count(arg) => return,
            After::Deferred(_) if is_count(arg) => return,
            After::Deferred(flag) => {
                out(flag);
                out(ARG_END);
            }
            _ => {}
        }
        match job_word(arg) {
            Job::Keep => self.text(arg, out),
            Job::Drop => return,
            Job::DropWithCount => {
                self.after = After::Count;
                return;
            }
            Job::IfCount(flag) => {
                self.after = After::Deferred(flag);
                return;
            }
            Job::Trim(n) => out(&arg[..n]),
        }
        out(ARG_END);
    }

    /// Writes what is still pending after the last argument (a trailing `-l` or `-P`).
    pub fn end_args(&mut self, out: &mut impl FnMut(&[u8])) {
        if let After::Deferred(flag) = core::mem::replace(&mut self.after, After::Nothing) {
            out(flag);
            out(ARG_END);
        }
    }

    /// Writes the directory `cwd` (rule 6).
    pub fn dir(&self, cwd: &[u8], out: &mut impl FnMut(&[u8])) {
        match relative_dir(self.root, cwd) {
            Some(rel) => out(rel),
            None => {
                out(OUTSIDE_MARK);
                out(last_component(cwd));
            }
        }
    }

    fn root_at(&self, s: &[u8], at: usize) -> bool {
        !self.root.is_empty() && s[at..].starts_with(self.root)
    }

    /// End of the run starting at `at` that `stop` does not end, skipping root occurrences.
    fn run_end(&self, s: &[u8], mut at: usize, stop: impl Fn(u8) -> bool) -> usize {
        while at < s.len() {
            if self.root_at(s, at) {
                at += self.root.len();
            } else if stop(s[at]) {
                break;
            } else {
                at += 1;
            }
        }
        at
    }

    /// One argument as words and separators (rules 1 to 3).
    fn text(&self, a: &[u8], out: &mut impl FnMut(&[u8])) {
        let (mut at, mut emitted, mut space) = (0, false, false);
        while at < a.len() {
            if is_sep(a[at]) {
                if is_space(a[at]) {
                    space = true;
                } else {
                    if space && emitted {
                        out(b" ");
                    }
                    out(&a[at..at + 1]);
                    (emitted, space) = (true, false);
                }
                at += 1;
                continue;
            }
            let end = self.run_end(a, at, is_sep);
            let w = &a[at..end];
            at = end;
            let job = match find(w, self.root) {
                Some(_) => Job::Keep,
                None => job_word(w),
            };
            // A left-out word takes the whitespace before it along.
            let keep = match job {
                Job::Keep => w,
                Job::Drop => {
                    space = false;
                    continue;
                }
                Job::DropWithCount => {
                    at = count_after(a, at).unwrap_or(at);
                    space = false;
                    continue;
                }
                Job::IfCount(_) => match count_after(a, at) {
                    Some(next) => {
                        at = next;
                        space = false;
                        continue;
                    }
                    None => w,
                },
                Job::Trim(n) => &w[..n],
            };
            if space && emitted {
                out(b" ");
            }
            self.word(keep, out);
            (emitted, space) = (true, false);
        }
    }

    /// One kept word (rules 2, 4 and 5).
    fn word(&self, w: &[u8], out: &mut impl FnMut(&[u8])) {
        if let Some(eq) = assignment(w) {
            let value = &w[eq + 1..];
            match job_word(value) {
                Job::Drop | Job::DropWithCount => return out(&w[..=eq]),
                Job::Trim(n) => {
                    out(&w[..=eq]);
                    return out(&value[..n]);
                }
                _ => {}
            }
        }
        let mut at = 0;
        loop {
            let end = self.run_end(w, at, |b| matches!(b, b'=' | b':' | b','));
            self.part(&w[at..end], out);
            if end == w.len() {
                return;
            }
            out(&w[end..end + 1]);
            at = end + 1;
        }
    }

    /// One part of a word between `=`, `:` and `,` (rules 4 and 5).
    fn part(&self, mut p: &[u8], out: &mut impl FnMut(&[u8])) {
        if find(p, self.root).is_some() {
            while let Some(at) = find(p, self.root) {
                out(&p[..at]);
                out(ROOT_MARK);
                p = &p[at + self.root.len()..];
            }
            return out(p);
        }
        let letters = match p {
            [b'-', rest @ ..] => rest.iter().take_while(|b| b.is_ascii_alphabetic()).count() + 1,
            _ => 0,
        };
        if letters == 1 {
            return out(p);
        }
        let (option, path) = p.split_at(letters);
        if path.starts_with(b"/") && !path.starts_with(b"//") {
            out(option);
            out(OUTSIDE_MARK);
            out(last_component(path));
        } else {
            out(p);
        }
    }
}

/// The index of `=` when `w` is `NAME=VALUE` with a shell variable name.
fn assignment(w: &[u8]) -> Option<usize> {
    let eq = w.iter().position(|&b| b == b'=')?;
    let name = &w[..eq];
    let first_ok = name.first()?.is_ascii_alphabetic() || name[0] == b'_';
    (first_ok && name.iter().all(|&b| b.is_ascii_alphanumeric() || b == b'_')).then_some(eq)
}

/// After a job flag ending at `at` in `a`: the end of the count word that follows it across
/// whitespace, if one does.
fn count_after(a: &[u8], at: usize) -> Option<usize> {
    let start = at + a[at..].iter().take_while(|&&b| is_space(b)).count();
    let end = start + a[start..].iter().take_while(|&&b| !is_sep(b)).count();
    is_count(&a[start..end]).then_some(end)
}

#[cfg(test)]
#[path = "normalize_tests.rs"]
mod tests;
