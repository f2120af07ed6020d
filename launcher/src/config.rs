//! `detbuild.toml`: parsed into raw TOML types, then validated into [`Config`].
//!
//! ```toml
//! # detbuild.toml — every key is optional.
//! epoch = 1700000000          # clock start (after --epoch and $SOURCE_DATE_EPOCH)
//! seed = "release-1.4"        # seed of all randomness (default: the epoch)
//!
//! [clock]
//! step = "1s"                 # advance per read, with a unit: 1s, 10ms, 1us... (1us to 1h)
//! mode = "logical"            # "logical" (default) or "real" (leave the clock alone)
//!
//! [programs]
//! real = ["mytool", "openssl:req"]   # also run unshimmed (name, or name:first-argument)
//! shimmed = ["make"]                 # remove from the default unshimmed list
//! ```
//!
//! Unknown keys and bad values are errors that name the file, line and column.

use crate::error::Error;
use crate::fail;
use detbuild_core::clock::{
    parse_duration, DurationError, DURATION_UNITS, MAX_EPOCH, MAX_STEP_NS, MIN_STEP_NS,
};
use detbuild_core::settings::valid_entry;
use serde::Deserialize;
use std::path::Path;
use toml::Spanned;

/// Programs that run unshimmed unless the config says otherwise: build drivers whose clock
/// reads only compare file times (faking them prints "clock skew" warnings), and programs
/// that make long-lived secrets, which must never get predictable bytes. An entry is a
/// program's base name as it appears in `argv[0]`, or `name:first-argument` for tools whose
/// key generation is one subcommand (`wg genkey`). The JDK's `keytool` is a native launcher
/// that runs the JVM in its own process, so its name is what the shim sees; a Java program
/// that generates keys through `java ... KeyPairGenerator` cannot be told from any other
/// `java` run, and needs an entry of its own (`java` makes every JVM real).
pub const DEFAULT_REAL: &[&str] = &[
    "make",
    "gmake",
    "ninja",
    "ssh-keygen",
    "gpg",
    "gpg2",
    "gpgsm",
    "gpg-agent",
    "certtool",
    "keytool",
    "age-keygen",
    "wg:genkey",
    "wg:genpsk",
    "minisign:-G",
    "signify:-G",
    "dropbearkey",
    "puttygen",
    "mkcert",
    "cfssl:genkey",
    "sq:key",
    "openssl:genrsa",
    "openssl:genpkey",
    "openssl:gendsa",
    "openssl:req",
    "openssl:ecparam",
];

/// The validated config; `None` fields were not set.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub epoch: Option<i64>,
    pub seed: Option<String>,
    pub step_ns: Option<u64>,
    pub fake_clock: bool,
    pub real_add: Vec<String>,
    pub real_remove: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    epoch: Option<Spanned<i64>>,
    seed: Option<Spanned<String>>,
    clock: Option<RawClock>,
    programs: Option<RawPrograms>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClock {
    step: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrograms {
    #[serde(default)]
    real: Vec<Spanned<String>>,
    #[serde(default)]
    shimmed: Vec<Spanned<String>>,
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
    if let Some(programs) = raw.programs {
        config.real_add = entries(programs.real)?;
        config.real_remove = entries(programs.shimmed)?;
    }
    Ok(config)
}

fn entries(list: Vec<Spanned<String>>) -> Result<Vec<String>, (usize, String)> {
    list.into_iter()
        .map(|e| {
            if valid_entry(e.get_ref()) {
                Ok(e.into_inner())
            } else {
                Err((
                    e.span().start,
                    format!(
                        "{:?} is not a program name or name:first-argument",
                        e.get_ref()
                    ),
                ))
            }
        })
        .collect()
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
             [programs]\nreal = [\"gcc\", \"openssl:req\"]\nshimmed = [\"make\"]\n",
        )
        .unwrap();
        assert_eq!(
            c,
            Config {
                epoch: Some(1_700_000_000),
                seed: Some("s".into()),
                step_ns: Some(10_000_000),
                fake_clock: false,
                real_add: vec!["gcc".into(), "openssl:req".into()],
                real_remove: vec!["make".into()],
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
        assert!(parse("[programs]\nreal = [\"a b\"]").is_err());
        assert!(parse("seed = \"\"").is_err());
    }

    #[test]
    fn defaults_are_valid_entries() {
        assert!(DEFAULT_REAL.iter().all(|e| valid_entry(e)));
    }
}
