//! `detbuild.toml`: parsed into raw TOML types, then validated into [`Config`].
//!
//! ```toml
//! # detbuild.toml — every key is optional.
//! epoch = 1700000000          # clock start (after --epoch and $SOURCE_DATE_EPOCH)
//! seed = "release-1.4"        # seed of all randomness (default: the epoch)
//!
//! [clock]
//! step = "1us"                # advance per read: 1s, 10ms, 1us... (default and least: 1us)
//! mode = "logical"            # "logical" (default) or "real" (leave the clock alone)
//!
//! # Per-program switches, after the defaults (`detbuild_core::policy::DEFAULTS`). A table
//! # is a program's name, or "name:first-argument"; each switch is "fake" or "real".
//! [programs."openssl:req"]
//! random = "real"             # real randomness, the build's clock
//! [programs.make]
//! clock = "fake"              # undo a default
//! ```
//!
//! Unknown keys and bad values are errors that name the file, line and column. The old
//! `real = [...]` and `shimmed = [...]` lists are refused with the new spelling.

use crate::error::Error;
use crate::fail;
use detbuild_core::clock::{parse_duration, MAX_EPOCH, MAX_STEP_NS, MIN_STEP_NS};
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    epoch: Option<Spanned<i64>>,
    seed: Option<Spanned<String>>,
    clock: Option<RawClock>,
    programs: Option<BTreeMap<Spanned<String>, Spanned<toml::Value>>>,
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

/// Checks a step duration against the accepted range; the message names the fix.
pub fn validate_step(text: &str) -> Result<u64, String> {
    let ns = parse_duration(text)
        .map_err(|_| format!("step {text:?} is not a duration like 1s, 10ms or 1us"))?;
    if !(MIN_STEP_NS..=MAX_STEP_NS).contains(&ns) {
        return Err(format!("step {text:?} is outside 1us..=1h"));
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
