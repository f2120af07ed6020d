//! `detbuild.toml`: parsed into raw TOML types, then validated into [`Config`].
//!
//! ```toml
//! # detbuild.toml — every key is optional.
//! epoch = 1700000000          # clock start (after --epoch and $SOURCE_DATE_EPOCH)
//! seed = "release-1.4"        # seed of all randomness (default: the epoch)
//!
//! [clock]
//! step = "1us"                # advance per read, with a unit: 1s, 10ms, 1us... (1us to 1h; default 1us)
//! mode = "logical"            # "logical" (default) or "real" (leave the clock alone)
//!
//! # Per-program switches, after the defaults (`detbuild_core::policy::DEFAULTS`). A table
//! # is a program's name, or "name:first-argument"; each switch (clock, random, dirs, host,
//! # cpus, identity, mtime, owner, inodes) is "fake" or "real".
//! [programs."openssl:req"]
//! random = "real"             # real randomness, the build's clock
//! [programs.mke2fs]
//! owner = "fake"              # file owners read as root (file times: clamped by default)
//! [programs.make]
//! clock = "fake"              # undo a default
//! ```
//!
//! `cpus`, `[host]`, `[identity]` and `[shell]` are described in `sections.rs`.
//!
//! Unknown keys and bad values are errors that name the file, line and column. The old
//! `real = [...]` and `shimmed = [...]` lists are refused with the new spelling.

use crate::error::Error;
use crate::plan::Shell;
use crate::{fail, sections};
use detbuild_core::clock::{
    parse_duration, DurationError, DURATION_UNITS, MAX_EPOCH, MAX_STEP_NS, MIN_STEP_NS,
};
use detbuild_core::host::{Host, Text};
use detbuild_core::policy::Source;
use detbuild_core::settings::valid_entry;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;
use toml::Spanned;

/// The validated config; `None` fields were not set.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub epoch: Option<i64>,
    pub seed: Option<String>,
    pub step_ns: Option<u64>,
    pub fake_clock: bool,
    /// `[programs]` entries as payload entries `MATCH=LETTERS` (`detbuild_core::policy`).
    pub programs: Vec<String>,
    /// `[host]` (`sections.rs`), defaults where not set.
    pub host: Host,
    /// `cpus = N | "real"`: `Some(None)` is real.
    pub cpus: Option<Option<u32>>,
    /// `[shell]`, defaults where not set.
    pub shell: Shell,
    /// `[identity]`: the user and group names to report, or `None` (`user = "inherit"`).
    pub identity: Option<(Text, Text)>,
    /// `namespaces = ["pid", "uts"]` (default `["pid"]`).
    pub namespaces: crate::isolate::Namespaces,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    epoch: Option<Spanned<i64>>,
    seed: Option<Spanned<String>>,
    clock: Option<RawClock>,
    programs: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
    host: Option<sections::RawHost>,
    cpus: Option<Spanned<toml::Value>>,
    shell: Option<sections::RawShell>,
    identity: Option<sections::RawIdentity>,
    namespaces: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    step: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
}

/// Reads and validates a config file.
pub fn load(path: &Path) -> Result<Config, Error> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail!("cannot read config {}: {e}", path.display()))?;
    parse(&text).map_err(|(span, msg)| {
        let (line, col) = line_col(&text, span);
        fail!("{}:{line}:{col}: {msg}", path.display())
    })
}

/// Parses config text; errors carry the byte offset of the offending value.
pub fn parse(text: &str) -> Result<Config, (usize, String)> {
    let raw: Raw = toml::from_str(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        (at, e.message().trim_end().replace('\n', " "))
    })?;
    let mut config = Config {
        fake_clock: true,
        identity: sections::identity(None)?,
        ..Config::default()
    };
    if let Some(e) = raw.epoch {
        let v = *e.get_ref();
        if !(0..=MAX_EPOCH).contains(&v) {
            return Err((
                e.span().start,
                format!("epoch {v} is out of range 0..={MAX_EPOCH}"),
            ));
        }
        config.epoch = Some(v);
    }
    if let Some(s) = raw.seed {
        if s.get_ref().is_empty() {
            return Err((s.span().start, "seed must not be empty".into()));
        }
        config.seed = Some(s.into_inner());
    }
    if let Some(clock) = raw.clock {
        if let Some(step) = clock.step {
            config.step_ns =
                Some(validate_step(step.get_ref()).map_err(|m| (step.span().start, m))?);
        }
        if let Some(mode) = clock.mode {
            config.fake_clock = match mode.get_ref().as_str() {
                "logical" => true,
                "real" => false,
                other => {
                    return Err((
                        mode.span().start,
                        format!("clock mode {other:?} is not \"logical\" or \"real\""),
                    ))
                }
            };
        }
    }
    if let Some(c) = raw.cpus {
        config.cpus = Some(sections::cpus(&c)?);
    }
    if let Some(ns) = raw.namespaces {
        let text = if ns.get_ref().is_empty() {
            "none".to_string()
        } else {
            ns.get_ref().join(",")
        };
        config.namespaces = crate::isolate::parse(&text)
            .map_err(|m| (ns.span().start, format!("namespaces: {m}")))?;
    }
    if let Some(id) = raw.identity {
        config.identity = sections::identity(Some(id))?;
    }
    if let Some(sh) = raw.shell {
        config.shell = sections::shell(sh)?;
    }
    if let Some(h) = raw.host {
        config.host = sections::host(h)?;
    }
    for (name, value) in raw.programs.unwrap_or_default() {
        config.programs.push(program(&name, &value)?);
    }
    Ok(config)
}

/// One `[programs.NAME]` table as a payload entry.
fn program(
    name: &Spanned<String>,
    value: &Spanned<toml::Value>,
) -> Result<String, (usize, String)> {
    let at = value.span().start;
    if let (Some(old @ ("real" | "shimmed")), toml::Value::Array(list)) =
        (Some(name.get_ref().as_str()), value.get_ref())
    {
        let switch = if old == "real" { "real" } else { "fake" };
        let first = list.first().and_then(|v| v.as_str()).unwrap_or("mytool");
        return Err((
            name.span().start,
            format!(
                "`{old} = [...]` is the old spelling; write one table per program: \
                 [programs.\"{first}\"] clock = \"{switch}\" and random = \"{switch}\""
            ),
        ));
    }
    if !valid_entry(name.get_ref()) {
        return Err((
            name.span().start,
            format!(
                "[programs] {:?} is not a program name or \"name:first-argument\"",
                name.get_ref()
            ),
        ));
    }
    let toml::Value::Table(switches) = value.get_ref() else {
        return Err((
            at,
            format!(
                "[programs] {:?} must be a table of switches, e.g. [programs.\"{}\"] clock = \"real\"",
                name.get_ref(),
                name.get_ref()
            ),
        ));
    };
    let mut letters = String::new();
    for (key, v) in switches {
        let Some(source) = Source::ALL.iter().find(|s| s.name() == key) else {
            let known: Vec<_> = Source::ALL.iter().map(|s| s.name()).collect();
            return Err((
                at,
                format!(
                    "[programs.\"{}\"] has unknown switch `{key}`; the switches are: {}",
                    name.get_ref(),
                    known.join(", ")
                ),
            ));
        };
        let letter = char::from(source.letter());
        letters.push(match v.as_str() {
            Some("real") => letter,
            Some("fake") => letter.to_ascii_uppercase(),
            _ => {
                return Err((
                    at,
                    format!(
                        "[programs.\"{}\"] {key} = {v} must be \"fake\" or \"real\"",
                        name.get_ref()
                    ),
                ))
            }
        });
    }
    Ok(format!("{}={letters}", name.get_ref()))
}

/// Checks a step duration against the accepted range (1us to 1h, both included); the
/// message names the fix.
pub fn validate_step(text: &str) -> Result<u64, String> {
    let ns = parse_duration(text).map_err(|e| match e {
        DurationError::NoUnit => format!(
            "step {text:?} has no unit; add one of {DURATION_UNITS} (e.g. \"{}s\" or \"{}ms\")",
            text.trim(),
            text.trim()
        ),
        _ => format!(
            "step {text:?} is not a duration; write a number and a unit ({DURATION_UNITS}), e.g. \"10ms\""
        ),
    })?;
    if !(MIN_STEP_NS..=MAX_STEP_NS).contains(&ns) {
        return Err(format!(
            "step {text:?} is outside the accepted range, 1us to 1h"
        ));
    }
    Ok(ns)
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let before = &text[..at.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |i| before.len() - i - 1)
        + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_config_parses() {
        let c = parse(
            "epoch = 1700000000\nseed = \"s\"\n[clock]\nstep = \"10ms\"\nmode = \"real\"\n\
             [programs.gcc]\nclock = \"real\"\nrandom = \"real\"\n\
             [programs.\"openssl:req\"]\nrandom = \"real\"\n[programs.make]\nclock = \"fake\"\n",
        )
        .unwrap();
        assert_eq!(
            c,
            Config {
                epoch: Some(1_700_000_000),
                seed: Some("s".into()),
                step_ns: Some(10_000_000),
                fake_clock: false,
                programs: vec!["gcc=cr".into(), "make=C".into(), "openssl:req=r".into()],
                host: Host::default(),
                cpus: None,
                shell: Shell::default(),
                identity: sections::identity(None).unwrap(),
                namespaces: Default::default(),
            }
        );
        assert!(parse("").unwrap().fake_clock);
    }

    #[test]
    fn errors_point_at_the_value() {
        let text = "seed = \"x\"\nbogus = 1\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (2, 1));
        assert!(msg.contains("unknown field `bogus`"), "{msg}");

        let text = "[clock]\nstep = \"1h30\"\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (2, 8));
        assert!(msg.contains("not a duration"), "{msg}");

        assert!(parse("epoch = -5").unwrap_err().1.contains("out of range"));
        assert!(parse("epoch = \"x\"").is_err());
        assert!(parse("[clock]\nstep = \"1ns\"")
            .unwrap_err()
            .1
            .contains("outside"));
        let msg = parse("[clock]\nstep = \"1000\"").unwrap_err().1;
        assert!(msg.contains("no unit") && msg.contains("ms"), "{msg}");
        assert!(parse("[clock]\nstep = \"2h\"")
            .unwrap_err()
            .1
            .contains("1us to 1h"));
        assert_eq!(
            parse("[clock]\nstep = \"1h\"").unwrap().step_ns,
            Some(MAX_STEP_NS)
        );
        assert_eq!(
            parse("[clock]\nstep = \"1us\"").unwrap().step_ns,
            Some(MIN_STEP_NS)
        );
        assert!(parse("[clock]\nmode = \"frozen\"").is_err());
        assert!(parse("[programs.\"a b\"]\nclock = \"real\"").is_err());
        assert!(parse("seed = \"\"").is_err());
    }

    #[test]
    fn program_switches_are_checked() {
        let text = "[programs.gcc]\nclok = \"real\"\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at).0, 1, "points at the table: {msg}");
        assert!(
            msg.contains("unknown switch `clok`") && msg.contains("clock, random"),
            "{msg}"
        );
        let (_, msg) = parse("[programs.gcc]\nrandom = \"maybe\"\n").unwrap_err();
        assert!(msg.contains("must be \"fake\" or \"real\""), "{msg}");
        let (_, msg) = parse("[programs]\ngcc = 1\n").unwrap_err();
        assert!(msg.contains("must be a table"), "{msg}");
    }

    #[test]
    fn every_source_is_a_switch_with_line_numbered_errors() {
        let c = parse("[programs.ls]\ndirs = \"real\"\n[programs.cc]\ndirs = \"fake\"\n").unwrap();
        assert_eq!(c.programs, ["cc=D", "ls=d"]);
        for source in Source::ALL {
            let text = format!(
                "seed = \"x\"\n[programs.tool]\n{} = \"sometimes\"\n",
                source.name()
            );
            let (at, msg) = parse(&text).unwrap_err();
            assert_eq!(line_col(&text, at).0, 2, "{msg}");
            assert!(msg.contains("must be \"fake\" or \"real\""), "{msg}");
        }
    }

    #[test]
    fn shell_settings_are_read_and_checked() {
        let c = parse(
            "[shell]\ntz = \"inherit\"\nlocale = \"fr_FR.UTF-8\"\numask = \"027\"\naslr = true\n",
        )
        .unwrap();
        assert_eq!(
            c.shell,
            Shell {
                tz: None,
                locale: Some("fr_FR.UTF-8".into()),
                umask: Some(0o027),
                aslr: true
            }
        );
        assert_eq!(parse("").unwrap().shell, Shell::default());
        let text = "[shell]\ntz = \"UTC\"\numask = \"999\"\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (3, 9));
        assert!(msg.contains("octal"), "{msg}");
        let text = "[shell]\nlocale = \"C UTF\"\n";
        assert_eq!(line_col(text, parse(text).unwrap_err().0).0, 2);
        let text = "[shell]\naslr = \"no\"\n";
        assert_eq!(line_col(text, parse(text).unwrap_err().0).0, 2);
        assert!(parse("[shell]\nlang = \"C\"\n").is_err());
    }

    #[test]
    fn identity_names_are_read_and_checked() {
        let name = |c: &Config| {
            c.identity
                .map(|(u, g)| (u.as_str().to_string(), g.as_str().to_string()))
        };
        assert_eq!(
            name(&parse("").unwrap()),
            Some(("builder".into(), "builder".into()))
        );
        let c = parse("[identity]\nuser = \"ci\"\ngroup = \"staff\"\n").unwrap();
        assert_eq!(name(&c), Some(("ci".into(), "staff".into())));
        assert_eq!(
            parse("[identity]\nuser = \"inherit\"\n").unwrap().identity,
            None
        );
        let text = "[identity]\ngroup = \"a b\"\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (2, 9));
        assert!(msg.contains("[identity] group"), "{msg}");
    }

    #[test]
    fn namespaces_are_a_list() {
        use crate::isolate::Namespaces;
        assert_eq!(parse("").unwrap().namespaces, Namespaces::default());
        let both = Namespaces {
            pid: true,
            uts: true,
        };
        assert_eq!(
            parse("namespaces = [\"pid\", \"uts\"]").unwrap().namespaces,
            both
        );
        let none = Namespaces {
            pid: false,
            uts: false,
        };
        assert_eq!(parse("namespaces = []").unwrap().namespaces, none);
        let text = "seed = \"x\"\nnamespaces = [\"net\"]\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (2, 14));
        assert!(msg.contains("\"net\""), "{msg}");
    }

    #[test]
    fn cpus_are_a_count_or_real() {
        assert_eq!(parse("cpus = 8").unwrap().cpus, Some(Some(8)));
        assert_eq!(parse("cpus = \"real\"").unwrap().cpus, Some(None));
        assert_eq!(parse("").unwrap().cpus, None);
        let text = "seed = \"x\"\ncpus = 0\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (2, 8));
        assert!(msg.contains("from 1 to 1024"), "{msg}");
        assert!(parse("cpus = \"many\"").is_err());
        assert!(parse("cpus = 2.5").is_err());
    }

    #[test]
    fn host_values_are_read_and_checked() {
        let c = parse("[host]\nname = \"b1\"\nrelease = \"6.1.0\"\n").unwrap();
        assert_eq!(c.host.name.as_bytes(), b"b1");
        assert_eq!(c.host.release.unwrap().as_bytes(), b"6.1.0");
        assert_eq!(c.host.domain.as_bytes(), b"(none)");
        assert!(c.host.machine.is_none());
        let text = "seed = \"x\"\n[host]\nname = \"a;b\"\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (3, 8));
        assert!(msg.contains("[host] name = \"a;b\""), "{msg}");
        let text = "[host]\nnmae = \"x\"\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at).0, 2, "{msg}");
        assert!(parse("[host]\nversion = \"\"\n").is_err());
    }

    #[test]
    fn the_old_lists_are_refused_with_the_new_spelling() {
        let text = "[programs]\nreal = [\"mytool\"]\n";
        let (at, msg) = parse(text).unwrap_err();
        assert_eq!(line_col(text, at), (2, 1));
        assert!(
            msg.contains("[programs.\"mytool\"] clock = \"real\" and random = \"real\""),
            "{msg}"
        );
        let (_, msg) = parse("[programs]\nshimmed = [\"make\"]\n").unwrap_err();
        assert!(
            msg.contains("[programs.\"make\"] clock = \"fake\""),
            "{msg}"
        );
    }
}
