//! `detbuild normalize PATH...` and `detbuild --normalize GLOB -- CMD`: rewrite finished
//! archives canonically, after the build.
//!
//! Contract:
//! - Formats are recognised by their bytes, never by their names: gzip (a gzip whose content
//!   is a tar is handled as `tar.gz`), tar (ustar or GNU magic), zip (and so jar, whl, apk),
//!   and `ar` (static libraries, `.deb`). Anything else is reported as skipped and not touched.
//! - Rewritten: times newer than the epoch become the epoch (the `SOURCE_DATE_EPOCH` clamping
//!   rule, [`detbuild_core::clamp`]); owners become 0/`root` unless `--owner keep`; tar pax
//!   `atime`/`ctime` records are dropped; tar and zip permissions become `0644`/`0755` only
//!   with `--mode canonical`; `ar` members get mode `644` as `ar D` writes them.
//! - Kept: every member's contents, the member order, names, link targets, comments and every
//!   field not listed. gzip, zip and ar are patched field by field, their compressed data
//!   copied byte for byte. Only a `.tar.gz` is recompressed (its tar changed), by the built-in
//!   deflate at the level its header records (see [`gzip`]).
//! - A damaged or truncated archive is an error, and every file is replaced atomically (a
//!   temporary file in the same directory, renamed over it), so a file is either fully
//!   rewritten or byte-for-byte as it was. The new file keeps the old one's permissions,
//!   times and (as root) owner; a symbolic link is followed and its target replaced; other
//!   hard links to the file keep the old bytes. A file whose canonical form equals its bytes
//!   is not written at all, so normalizing twice changes nothing.
//! - An installed `strip-nondeterminism` or `add-det` is deliberately not used: its output
//!   differs from this one (it sorts zip members, sets rather than clamps times, writes uid
//!   1000 into zip extra fields), so the mere presence of a tool on one machine would change
//!   the bytes of the build.
//!
//! Exit status: 0 when every path was handled or skipped; 2 if any could not be (missing,
//! damaged, unwritable), each with one line naming the file.

mod ar;
mod gzip;
mod tar;
mod zip;

use crate::error::Error;
use crate::fail;
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::{Path, PathBuf};

const AFTER_HELP: &str = "\
What is rewritten (formats are recognised by content, not by name):
  gzip     header: mtime clamped to the epoch (0 stays 0), original file name dropped,
           header CRC dropped, OS byte set to 3 (Unix); compressed data copied as is
  tar      header and pax mtimes clamped; pax atime/ctime dropped; uid/gid 0 and names
           root (--owner root); modes canonical with --mode canonical
  tar.gz   the tar as above, recompressed at the level the gzip header records
           (best: 9, fastest: 1, otherwise 6), by detbuild's built-in deflate
  zip/jar  DOS times and the times in extended-timestamp, NTFS and Unix extra fields
           clamped; uid/gid in Unix extra fields 0 (--owner root); compressed data and
           field sizes unchanged
  ar       member dates clamped, uid/gid 0, mode 644 as `ar D` writes them

Clamped: a time after the epoch becomes the epoch; older times stay (SOURCE_DATE_EPOCH).
The epoch comes from --epoch, $SOURCE_DATE_EPOCH, detbuild.toml, git or debian/changelog.

Examples:
  detbuild normalize dist/*.tar.gz build/libfoo.a      rewrite these files in place
  detbuild normalize --epoch 1700000000 out.zip        clamp to an explicit epoch
  detbuild --normalize 'dist/*' -- make dist           run the build, then normalize

Exit status: 0 every file normalized, already canonical or skipped (not an archive);
2 a file is missing, damaged or truncated (it is left byte-for-byte as it was).";

/// `detbuild normalize`: rewrite archives canonically (times clamped to the epoch).
#[derive(Args, Debug, Clone)]
#[command(after_help = AFTER_HELP)]
pub struct NormalizeArgs {
    /// Owner fields: `root` sets uid/gid 0 and user/group names `root`; `keep` leaves them.
    #[arg(long, value_enum, default_value_t = Owner::Root)]
    pub owner: Owner,

    /// Permissions in tar and zip: `keep` leaves them; `canonical` makes them as
    /// `tar --mode=go=rX,u+rw,a-s` would (0644, or 0755 for directories and executables).
    #[arg(long, value_enum, default_value_t = ModeRule::Keep)]
    pub mode: ModeRule,

    /// Archives to rewrite in place.
    #[arg(value_name = "PATH", required = true)]
    pub paths: Vec<PathBuf>,
}

/// What happens to owner fields.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// uid and gid 0, user and group names `root` (empty names stay empty).
    Root,
    /// Leave owners as they are.
    Keep,
}

/// What happens to tar and zip permissions.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModeRule {
    /// Leave them as they are.
    Keep,
    /// `go=rX,u+rw,a-s`: 0644, or 0755 for directories and anything executable.
    Canonical,
}

/// The rules one run applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub epoch: i64,
    pub owner: Owner,
    pub mode: ModeRule,
}

impl Rules {
    /// `mode` made canonical as `go=rX,u+rw,a-s` does, when the rules ask for it.
    pub fn mode(&self, mode: u32, is_dir: bool) -> u32 {
        if self.mode == ModeRule::Keep {
            return mode;
        }
        let exec = is_dir || mode & 0o111 != 0;
        (mode & !0o7777) | (mode & 0o1100) | 0o644 | if exec { 0o011 } else { 0 }
    }
}

/// What changed in one archive, for the report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    pub entries: usize,
    pub times: usize,
    pub owners: usize,
    pub modes: usize,
    pub dropped: usize,
    pub names: usize,
    /// Set when the archive was recompressed, with how.
    pub recompressed: Option<String>,
}

impl Stats {
    fn describe(&self) -> String {
        let plural = if self.entries == 1 {
            "entry"
        } else {
            "entries"
        };
        let mut parts = vec![format!("{} {plural}", self.entries)];
        let counts = [
            (self.times, "times clamped"),
            (self.owners, "owner fields set"),
            (self.modes, "modes set"),
            (self.dropped, "time records dropped"),
            (self.names, "file names dropped"),
        ];
        parts.extend(
            counts
                .iter()
                .filter(|(n, _)| *n > 0)
                .map(|(n, what)| format!("{n} {what}")),
        );
        if let Some(how) = &self.recompressed {
            parts.push(how.clone());
        }
        parts.join(", ")
    }
}

/// The canonical form of an archive: its format's name, the new bytes and what changed.
pub struct Canonical {
    pub format: &'static str,
    pub bytes: Vec<u8>,
    pub stats: Stats,
}

/// The canonical form of `data`, `Ok(None)` when it is no archive this module knows, or a
/// description of the damage.
pub fn canonical(data: &[u8], rules: &Rules) -> Result<Option<Canonical>, String> {
    let (format, result) = if gzip::detect(data) {
        let (format, out) = gzip::normalize(data, rules)?;
        (format, out)
    } else if tar::detect(data) {
        ("tar", tar::normalize(data, rules)?)
    } else if zip::detect(data) {
        ("zip", zip::normalize(data, rules)?)
    } else if ar::detect(data) {
        ("ar", ar::normalize(data, rules)?)
    } else {
        return Ok(None);
    };
    let (bytes, stats) = result;
    Ok(Some(Canonical {
        format,
        bytes,
        stats,
    }))
}

/// What happened to one path.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Rewritten(&'static str, Stats),
    Unchanged(&'static str, Stats),
    Skipped(&'static str),
}

/// Normalizes one file in place (a symbolic link is followed: its target is rewritten).
pub fn normalize_file(path: &Path, rules: &Rules) -> Result<Outcome, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read it: {e}"))?;
    if meta.is_dir() {
        return Err("is a directory; name the archives in it (e.g. dir/*)".into());
    }
    if !meta.is_file() {
        return Ok(Outcome::Skipped("not a regular file"));
    }
    let data = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let left = |e: String| format!("{e}; the file was left as it was");
    let Some(c) = canonical(&data, rules).map_err(left)? else {
        return Ok(Outcome::Skipped("not an archive"));
    };
    if c.bytes == data {
        return Ok(Outcome::Unchanged(c.format, c.stats));
    }
    let target = std::fs::canonicalize(path).map_err(|e| format!("cannot resolve it: {e}"))?;
    replace(&target, &c.bytes, &meta).map_err(|e| left(format!("cannot rewrite it: {e}")))?;
    Ok(Outcome::Rewritten(c.format, c.stats))
}

/// Writes `bytes` to a temporary file beside `path` with its permissions, times and (where
/// allowed) owner, then renames it over `path`.
fn replace(path: &Path, bytes: &[u8], meta: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".detbuild-normalize-")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    let file = tmp.as_file();
    // Only root may give a file away; anyone else keeps owning what they rewrite.
    let _ = std::os::unix::fs::fchown(file, Some(meta.uid()), Some(meta.gid()));
    file.set_permissions(meta.permissions())?;
    let times = std::fs::FileTimes::new()
        .set_accessed(meta.accessed()?)
        .set_modified(meta.modified()?);
    file.set_times(times)?;
    file.sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

/// The report line for one path.
fn line(path: &Path, outcome: &Outcome) -> String {
    let shown = path.display();
    match outcome {
        Outcome::Rewritten(f, s) => {
            format!("normalized {shown} ({f} by detbuild: {})", s.describe())
        }
        Outcome::Unchanged(f, s) => {
            let s = Stats {
                recompressed: None,
                ..s.clone()
            };
            format!(
                "unchanged {shown} ({f} by detbuild: {}; already canonical)",
                s.describe()
            )
        }
        Outcome::Skipped(why) => format!("skipped {shown} ({why})"),
    }
}

/// Normalizes every path, reporting each on `report`; errors go to stderr, one line each.
/// Returns 0, or 2 when any path failed.
pub fn run(paths: &[PathBuf], rules: &Rules, report: &mut dyn Write) -> u8 {
    let mut status = 0;
    for path in paths {
        match normalize_file(path, rules) {
            Ok(outcome) => {
                let _ = writeln!(report, "detbuild: {}", line(path, &outcome));
            }
            Err(why) => {
                eprintln!("detbuild: {}: {why}", path.display());
                status = crate::error::EXIT_TROUBLE;
            }
        }
    }
    status
}

/// `detbuild normalize`: the report goes to stdout.
pub fn main(args: &NormalizeArgs, epoch: i64) -> u8 {
    let rules = Rules {
        epoch,
        owner: args.owner,
        mode: args.mode,
    };
    run(&args.paths, &rules, &mut std::io::stdout().lock())
}

/// `--normalize GLOB` after a successful build: every regular file matching a pattern
/// (relative to the starting directory), with the default rules; the report goes to stderr,
/// so the build's own stdout stays clean. A pattern matching nothing is an error.
pub fn after_build(patterns: &[String], epoch: i64) -> Result<u8, Error> {
    let mut paths: Vec<PathBuf> = Vec::new();
    for pattern in patterns {
        let matches = glob::glob(pattern)
            .map_err(|e| fail!("--normalize {pattern:?}: bad pattern: {e}"))?
            .filter_map(Result::ok)
            .filter(|p| p.is_file())
            .collect::<Vec<_>>();
        if matches.is_empty() {
            return Err(fail!(
                "--normalize {pattern:?} matched no file after the build; check the pattern (it is relative to the starting directory)"
            ));
        }
        for path in matches {
            if !paths.contains(&path) {
                paths.push(path);
            }
        }
    }
    let rules = Rules {
        epoch,
        owner: Owner::Root,
        mode: ModeRule::Keep,
    };
    Ok(run(&paths, &rules, &mut std::io::stderr().lock()))
}

/// A tiny `min(time, epoch)` for unsigned seconds fields.
fn clamp_u64(time: u64, epoch: i64) -> u64 {
    let epoch = epoch.max(0) as u64;
    time.min(epoch)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(mode: ModeRule) -> Rules {
        Rules {
            epoch: 1_700_000_000,
            owner: Owner::Root,
            mode,
        }
    }

    #[test]
    fn canonical_modes_follow_go_rx_u_rw_a_s() {
        let r = rules(ModeRule::Canonical);
        assert_eq!(r.mode(0o600, false), 0o644);
        assert_eq!(r.mode(0o664, false), 0o644);
        assert_eq!(r.mode(0o700, false), 0o755);
        assert_eq!(r.mode(0o775, false), 0o755);
        assert_eq!(r.mode(0o4755, false), 0o755);
        assert_eq!(r.mode(0o1777, true), 0o1755);
        assert_eq!(r.mode(0o700, true), 0o755);
        assert_eq!(r.mode(0o100_640, false), 0o100_644);
        assert_eq!(rules(ModeRule::Keep).mode(0o4700, false), 0o4700);
    }

    #[test]
    fn plain_text_is_not_an_archive() {
        let r = rules(ModeRule::Keep);
        assert!(canonical(b"hello\n", &r).unwrap().is_none());
        assert!(canonical(b"", &r).unwrap().is_none());
    }
}
