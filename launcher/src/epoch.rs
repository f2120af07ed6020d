//! Which epoch a run uses, and where it came from.
//!
//! Precedence: `--epoch`, `$SOURCE_DATE_EPOCH`, `epoch` in detbuild.toml, the newest entry of
//! the build root's `debian/changelog` (what dpkg-buildpackage itself uses, and more specific
//! than a repository that merely contains the package), the last git commit of the enclosing
//! repository, else [`DEFAULT_EPOCH`].
//! A malformed `--epoch` or `$SOURCE_DATE_EPOCH` is an error, never skipped: the spec says a
//! malformed value SHOULD fail the build. A git repository or changelog that is there but
//! unusable is skipped with its reason ([`Probe::Skipped`]), which the launcher prints: the
//! epoch must never change silently with who runs the build or what git thinks of it.

use crate::error::Error;
use crate::fail;
use detbuild_core::clock::MAX_EPOCH;
use std::ffi::OsStr;
use std::fmt;
use std::io::ErrorKind;
use std::path::Path;
use std::process::{Command, Stdio};

/// The epoch when nothing else gives one: 1980-01-01T00:00:00Z, the earliest time a ZIP
/// archive can store.
pub const DEFAULT_EPOCH: i64 = 315_532_800;

/// Where the epoch came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Flag,
    Env,
    Config,
    Git,
    Changelog,
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Source::Flag => "--epoch",
            Source::Env => "SOURCE_DATE_EPOCH",
            Source::Config => "detbuild.toml",
            Source::Git => "the last git commit",
            Source::Changelog => "debian/changelog",
            Source::Default => "the default (1980-01-01)",
        })
    }
}

/// What an automatic source (git, debian/changelog) gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Probe {
    /// An epoch.
    Found(i64),
    /// Nothing there: no repository, no changelog, no git.
    Absent,
    /// There but unusable, and why.
    Skipped(String),
}

/// The settled epoch, its source, and the sources skipped on the way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resolved {
    pub epoch: i64,
    pub source: Source,
    pub skipped: Vec<(Source, String)>,
}

/// Picks the epoch by precedence; `git` and `changelog` are consulted only when needed.
pub fn resolve(
    flag: Option<&str>,
    env: Option<&OsStr>,
    config: Option<i64>,
    git: impl FnOnce() -> Probe,
    changelog: impl FnOnce() -> Probe,
) -> Result<Resolved, Error> {
    let settled = |epoch, source| Resolved {
        epoch,
        source,
        skipped: Vec::new(),
    };
    if let Some(text) = flag {
        return parse(text, "--epoch").map(|e| settled(e, Source::Flag));
    }
    if let Some(value) = env {
        let text = value.to_str().ok_or_else(|| {
            fail!("SOURCE_DATE_EPOCH is not ASCII; set it to the output of `date +%s`")
        })?;
        return parse(text, "SOURCE_DATE_EPOCH").map(|e| settled(e, Source::Env));
    }
    if let Some(e) = config {
        return Ok(settled(e, Source::Config));
    }
    let mut skipped = Vec::new();
    let mut found = |source, probe| match probe {
        Probe::Found(epoch) => Some((epoch, source)),
        Probe::Skipped(why) => {
            skipped.push((source, why));
            None
        }
        Probe::Absent => None,
    };
    if let Some((epoch, source)) =
        found(Source::Changelog, changelog()).or_else(|| found(Source::Git, git()))
    {
        return Ok(Resolved {
            epoch,
            source,
            skipped,
        });
    }
    Ok(Resolved {
        epoch: DEFAULT_EPOCH,
        source: Source::Default,
        skipped,
    })
}

/// The notice lines for a resolved epoch: one per skipped source, naming why, or the
/// default's notice; none when a source simply won.
pub fn notices(r: &Resolved) -> Vec<String> {
    if r.skipped.is_empty() && r.source == Source::Default {
        return vec![format!(
            "notice: no --epoch, SOURCE_DATE_EPOCH, detbuild.toml epoch, git commit or debian/changelog; using {} (1980-01-01)",
            r.epoch
        )];
    }
    r.skipped
        .iter()
        .map(|(source, why)| {
            format!(
                "notice: skipped {source} ({why}); epoch {} from {}; pass --epoch or set SOURCE_DATE_EPOCH to choose one",
                r.epoch, r.source
            )
        })
        .collect()
}

/// The error for a mode that must not fall back to [`DEFAULT_EPOCH`] (`detbuild env`: its
/// output is saved or exported and reused, where a notice would be lost), naming the sources
/// skipped and how to give one; `None` when a source gave the epoch.
pub fn refusal(r: &Resolved) -> Option<Error> {
    if r.source != Source::Default {
        return None;
    }
    let skipped: String = r
        .skipped
        .iter()
        .map(|(source, why)| format!(" (skipped {source}: {why})"))
        .collect();
    Some(fail!(
        "no epoch to export{skipped}: pass --epoch SECONDS, set SOURCE_DATE_EPOCH, set `epoch` in detbuild.toml, or run it in a git checkout with commits or a tree with debian/changelog"
    ))
}

/// Parses an epoch as the SOURCE_DATE_EPOCH spec defines it: ASCII digits, like `date +%s`.
pub fn parse(text: &str, what: &str) -> Result<i64, Error> {
    let bad = || {
        fail!("{what}={text:?} is not a whole number of seconds since 1970 (like `date +%s`); fix it or unset it")
    };
    if text.is_empty() || text.len() > 18 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let v: i64 = text.parse().map_err(|_| bad())?;
    if v > MAX_EPOCH {
        return Err(fail!(
            "{what}={text} is after the year 9999; use a time in seconds, not milliseconds"
        ));
    }
    Ok(v)
}

/// The committer time of `HEAD` in the git repository containing `dir`.
///
/// git refuses repositories owned by another user ("dubious ownership", common for CI
/// checkouts), which would make the epoch depend on who runs the build. That check protects
/// the user from programs a repository's config can make git run; `git log -1 --format=%ct`
/// runs none of them once signature checks (`gpg.program`) and lazy fetches of partial clones
/// are off, so the lookup trusts the directory for this one read-only command.
pub fn from_git(dir: &Path) -> Probe {
    let out = Command::new("git")
        .args(["-c", "safe.directory=*", "-c", "log.showSignature=false"])
        .args(["log", "-1", "--format=%ct"])
        .current_dir(dir)
        .env("LC_ALL", "C")
        .env("GIT_NO_LAZY_FETCH", "1")
        .env_remove("LANGUAGE")
        .stdin(Stdio::null())
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) if e.kind() == ErrorKind::NotFound => return Probe::Absent,
        Err(e) => return Probe::Skipped(format!("cannot run git: {e}")),
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stderr.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let line = line.trim().trim_start_matches("fatal: ");
        return if line.contains("not a git repository") {
            Probe::Absent
        } else if line.contains("does not have any commits") {
            Probe::Skipped("the git repository has no commits yet".into())
        } else {
            Probe::Skipped(format!("`git log` failed ({}): {line}", out.status))
        };
    }
    let text = String::from_utf8_lossy(&out.stdout);
    match text.trim().parse() {
        Ok(e) if (0..=MAX_EPOCH).contains(&e) => Probe::Found(e),
        _ => Probe::Skipped(format!("git printed {:?}, not a commit time", text.trim())),
    }
}

/// The date of the newest entry of `dir/debian/changelog`.
pub fn from_changelog(dir: &Path) -> Probe {
    let path = dir.join("debian/changelog");
    match std::fs::read_to_string(&path) {
        Ok(text) => match changelog_time(&text) {
            Some(e) => Probe::Found(e),
            None => Probe::Skipped("debian/changelog has no entry with a readable date".into()),
        },
        Err(e) if e.kind() == ErrorKind::NotFound => Probe::Absent,
        Err(e) => Probe::Skipped(format!("cannot read {}: {e}", path.display())),
    }
}

/// The time of the first trailer line (` -- Name <mail>  Thu, 01 Jan 2020 00:00:00 +0000`).
pub fn changelog_time(text: &str) -> Option<i64> {
    let trailer = text.lines().find(|l| l.starts_with(" -- "))?;
    let date = trailer.rsplit_once("  ")?.1;
    rfc2822(date.trim())
}

/// Parses `[Day, ]DD Mon YYYY HH:MM:SS +ZZZZ` into seconds since 1970.
pub fn rfc2822(text: &str) -> Option<i64> {
    let text = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let mut parts = text.split_whitespace();
    let day: i64 = parts.next()?.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| Some(*m) == parts.clone().next())? as i64
        + 1;
    parts.next();
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<i64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next().unwrap_or(Some(0))?);
    let zone = parts.next()?;
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    if digits.len() != 4 || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let offset =
        sign * (digits[..2].parse::<i64>().ok()? * 3600 + digits[2..].parse::<i64>().ok()? * 60);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + s - offset)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never() -> Probe {
        panic!("consulted a lower-precedence source")
    }

    fn settled(epoch: i64, source: Source) -> Result<Resolved, Error> {
        Ok(Resolved {
            epoch,
            source,
            skipped: Vec::new(),
        })
    }

    #[test]
    fn precedence_is_flag_env_config_changelog_git_default() {
        let env = OsStr::new("200");
        assert_eq!(
            resolve(Some("100"), Some(env), Some(300), never, never),
            settled(100, Source::Flag)
        );
        assert_eq!(
            resolve(None, Some(env), Some(300), never, never),
            settled(200, Source::Env)
        );
        assert_eq!(
            resolve(None, None, Some(300), never, never),
            settled(300, Source::Config)
        );
        assert_eq!(
            resolve(None, None, None, || Probe::Found(400), || Probe::Absent),
            settled(400, Source::Git)
        );
        assert_eq!(
            resolve(None, None, None, never, || Probe::Found(500)),
            settled(500, Source::Changelog)
        );
        assert_eq!(
            resolve(None, None, None, || Probe::Absent, || Probe::Absent),
            settled(DEFAULT_EPOCH, Source::Default)
        );
    }

    #[test]
    fn skipped_sources_are_named_with_their_reason() {
        let no_commits = || Probe::Skipped("no commits".into());
        let no_date = || Probe::Skipped("no dated entry".into());
        let r = resolve(None, None, None, no_commits, || Probe::Found(500)).unwrap();
        assert_eq!((r.epoch, r.source), (500, Source::Changelog));
        assert!(
            notices(&r).is_empty(),
            "git is not consulted when the changelog answers"
        );
        let r = resolve(None, None, None, || Probe::Found(500), no_date).unwrap();
        assert_eq!((r.epoch, r.source), (500, Source::Git));
        let lines = notices(&r);
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].contains("debian/changelog (no dated entry)") && lines[0].contains("500"),
            "{lines:?}"
        );
        let r = resolve(None, None, None, no_commits, || Probe::Absent).unwrap();
        assert_eq!(r.source, Source::Default);
        assert!(notices(&r)[0].contains("no commits"));
        let quiet = resolve(None, None, None, || Probe::Found(1), || Probe::Absent).unwrap();
        assert!(notices(&quiet).is_empty());
        let default = resolve(None, None, None, || Probe::Absent, || Probe::Absent).unwrap();
        assert!(notices(&default)[0].contains("1980-01-01"));
    }

    #[test]
    fn exported_settings_refuse_the_default() {
        let found = resolve(None, None, None, || Probe::Found(1), || Probe::Absent).unwrap();
        assert_eq!(refusal(&found), None);
        let why = || Probe::Skipped("no commits".into());
        let none = resolve(None, None, None, why, || Probe::Absent).unwrap();
        let msg = refusal(&none).unwrap().0;
        assert!(!msg.contains('\n') && msg.contains("--epoch"), "{msg}");
        assert!(
            msg.contains("skipped the last git commit: no commits"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_values_fail_and_name_their_source() {
        let e = resolve(None, Some(OsStr::new("abc")), Some(1), never, never).unwrap_err();
        assert!(e.0.contains("SOURCE_DATE_EPOCH=\"abc\""), "{e}");
        for bad in ["", "-1", "1.5", " 1", "1e9", "0x10"] {
            assert!(parse(bad, "X").is_err(), "{bad:?}");
        }
        assert!(parse("1700000000000", "X")
            .unwrap_err()
            .0
            .contains("milliseconds"));
        assert_eq!(parse("0", "X"), Ok(0));
    }

    #[test]
    fn changelog_trailer_dates_parse() {
        let text = "pkg (1.0-1) unstable; urgency=medium\n\n  * x\n\n -- A B <a@b.c>  Thu, 01 Jan 2015 00:00:00 +0100\n\n -- old  Wed, 01 Jan 2014 00:00:00 +0000\n";
        assert_eq!(changelog_time(text), Some(1_420_066_800));
        assert_eq!(
            rfc2822("Sun, 09 Sep 2001 01:46:40 +0000"),
            Some(1_000_000_000)
        );
        assert_eq!(rfc2822("29 Feb 2024 12:00:00 -0230"), Some(1_709_217_000));
        assert_eq!(rfc2822("32 Jan 2020 00:00:00 +0000"), None);
        assert_eq!(rfc2822("01 Foo 2020 00:00:00 +0000"), None);
        assert_eq!(changelog_time("no trailer"), None);
    }
}
