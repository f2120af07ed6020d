//! The settings payload: one environment variable, `DETBUILD`, written by the launcher and read
//! once per process by the shim without allocating.
//!
//! ```text
//! DETBUILD=v2;epoch=1700000000;step=1000000000;key=<64 hex>;prog=make=C,cc1:-O0=r
//! ```
//!
//! - `epoch`: whole seconds, `0..=MAX_EPOCH`.
//! - `step`: nanoseconds added to a thread's clock per read, `MIN_STEP_NS..=MAX_STEP_NS`.
//! - `key`: the root key of the run (see [`crate::key`]); `DETBUILD_KEY` carries the chain.
//! - `prog`: the user's per-program switches (see [`crate::policy`] for the entries and how
//!   they resolve); the built-in list applies before them and is not sent
//!   ([`crate::packed`]). Version 1 payloads carried the built-in list too.
//! - `clock`: `logical` (default) or `real`: the default policy's clock switch (programs'
//!   entries may still turn it back on or off).
//! - `cpus`: the CPU count the build sees, `1..=1024`; absent: real.
//! - `uid`, `gid`, `user`, `group`: the invoking user and the names reported for it
//!   ([`crate::identity`]); absent: real.
//! - `host`, `domain`, `release`, `version`, `machine`: the host the build sees
//!   ([`crate::host`]; defaults there).
//! - `stack`: `fixed` (default) or `real`: whether exec hooks pad the environment so a new
//!   program's stack addresses do not move with its size ([`crate::stack`]); `real` when
//!   address-space randomization is kept, which moves them anyway.
//! - `shim`: the shim's absolute path, so a program started inside a chroot can copy it from
//!   the host root ([`crate::chroot`]); absent when the path holds a `;`.
//!
//! Fields may come in any order; unknown fields are ignored so an older shim can run under a
//! newer launcher. A payload that lacks `v2`, `epoch` or `key`, or has a malformed value, is
//! rejected and the shim stays inert (everything real) rather than guessing.

use crate::clock::{DEFAULT_STEP_NS, MAX_EPOCH, MAX_STEP_NS, MIN_STEP_NS};
use crate::host::Host;
use crate::identity::Identity;
use crate::key::{from_hex, to_hex, Key};
use crate::policy::{Policy, Source};

/// The name of the environment variable carrying the payload.
pub const VAR: &str = "DETBUILD";
/// The name of the environment variable carrying the build root directory.
pub const ROOT_VAR: &str = "DETBUILD_ROOT";
/// The name of the environment variable carrying the parent's key (64 hex digits), which each
/// shimmed process overwrites in place with its own (see `key`).
pub const KEY_VAR: &str = "DETBUILD_KEY";
/// The name of the environment variable naming the audit file (`detbuild --report FILE`):
/// every shimmed process appends its one JSON line there (see the shim's `report` module).
pub const REPORT_VAR: &str = "DETBUILD_REPORT";

/// Parsed settings; `programs` borrows the payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings<'a> {
    /// Clock epoch in seconds.
    pub epoch: i64,
    /// Clock step in nanoseconds.
    pub step_ns: u64,
    /// Root key.
    pub key: Key,
    /// The `prog=` list: comma-separated `MATCH=LETTERS` entries ([`crate::policy`]).
    pub programs: &'a [u8],
    /// Whether the wall clock is faked (`clock=logical`) or left real (`clock=real`).
    pub fake_clock: bool,
    /// The host the build sees (`host=`, `domain=`, `release=`, `version=`, `machine=`;
    /// [`crate::host`]).
    pub host: Host,
    /// The CPU count the build sees (`cpus=N`), or `None` to leave it real; the default
    /// policy's `cpus` switch is on exactly when it is set.
    pub cpus: Option<u32>,
    /// The invoking user's uid and gid and the names reported for them (`uid=`, `gid=`,
    /// `user=`, `group=`); the default policy's `identity` switch is on when all are set.
    pub identity: Identity,
    /// Whether randomness is faked (the default) or left real for every program
    /// (`random=real`; with `clock=real` and no `prog=` entries, every process is transparent
    /// and the shim only observes, for the audit of `detbuild check --no-shim`).
    pub fake_random: bool,
    /// The shim's absolute path (`shim=`; empty when absent).
    pub shim: &'a [u8],
    /// Whether exec hooks pad the environment to a fixed stack depth (`stack=fixed`, the
    /// default, or `stack=real`).
    pub fixed_stack: bool,
}

/// Why a payload was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadError {
    /// Not a `v2` payload.
    Version,
    /// A field is missing or malformed; the name of the field.
    Field(&'static str),
}

/// Parses a payload (the value of `DETBUILD`).
pub fn parse(payload: &[u8]) -> Result<Settings<'_>, PayloadError> {
    let mut fields = payload.split(|&b| b == b';');
    if fields.next() != Some(b"v2") {
        return Err(PayloadError::Version);
    }
    let (mut epoch, mut step_ns, mut key, mut programs) = (None, DEFAULT_STEP_NS, None, &[][..]);
    let mut fake_clock = true;
    let mut host = Host::default();
    let mut cpus = None;
    let mut identity = Identity::UNSET;
    let mut fake_random = true;
    let mut shim = &[][..];
    let mut fixed_stack = true;
    for field in fields {
        let (name, value) = match field.iter().position(|&b| b == b'=') {
            Some(i) => (&field[..i], &field[i + 1..]),
            None => continue,
        };
        match name {
            b"epoch" => {
                epoch = Some(
                    parse_u64(value)
                        .filter(|&e| e <= MAX_EPOCH as u64)
                        .ok_or(PayloadError::Field("epoch"))? as i64,
                )
            }
            b"step" => {
                step_ns = parse_u64(value)
                    .filter(|s| (MIN_STEP_NS..=MAX_STEP_NS).contains(s))
                    .ok_or(PayloadError::Field("step"))?
            }
            b"key" => key = Some(from_hex(value).ok_or(PayloadError::Field("key"))?),
            b"prog" => programs = value,
            b"shim" => shim = value,
            b"cpus" => {
                cpus = Some(
                    parse_u64(value)
                        .filter(|n| (1..=u64::from(crate::cpus::MAX)).contains(n))
                        .ok_or(PayloadError::Field("cpus"))? as u32,
                )
            }
            b"clock" => {
                fake_clock = match value {
                    b"logical" => true,
                    b"real" => false,
                    _ => return Err(PayloadError::Field("clock")),
                }
            }
            b"random" => {
                fake_random = match value {
                    b"fake" => true,
                    b"real" => false,
                    _ => return Err(PayloadError::Field("random")),
                }
            }
            b"stack" => {
                fixed_stack = match value {
                    b"fixed" => true,
                    b"real" => false,
                    _ => return Err(PayloadError::Field("stack")),
                }
            }
            _ => {
                if !identity.set(name, value).map_err(PayloadError::Field)? {
                    host.set(name, value).map_err(PayloadError::Field)?;
                }
            }
        }
    }
    Ok(Settings {
        epoch: epoch.ok_or(PayloadError::Field("epoch"))?,
        step_ns,
        key: key.ok_or(PayloadError::Field("key"))?,
        programs,
        fake_clock,
        host,
        cpus,
        identity,
        fake_random,
        shim,
        fixed_stack,
    })
}

impl Settings<'_> {
    /// Whether exec hooks pad environments ([`crate::stack`]): asked for, and the shim does
    /// more than observe.
    pub fn pads(&self) -> bool {
        self.fixed_stack && self.default_policy() != Policy::NONE
    }

    /// The run's default policy, before any program entry. With both the clock and randomness
    /// real (`clock=real;random=real`, what `detbuild check --no-shim` sends) nothing is faked:
    /// the shim only observes, for the audit.
    fn default_policy(&self) -> Policy {
        if !self.fake_clock && !self.fake_random {
            return Policy::NONE;
        }
        Policy::FAKE
            .with(Source::Clock, self.fake_clock)
            .with(Source::Random, self.fake_random)
            .with(Source::Cpus, self.cpus.is_some())
            .with(Source::Identity, self.identity.is_set())
    }

    /// The policy of a program started as `argv0 arg1...`.
    pub fn policy(&self, argv0: &[u8], arg1: Option<&[u8]>) -> Policy {
        self.policy_args(argv0, arg1.into_iter())
    }

    /// The policy of a program started as `argv0 args...` (all arguments, so option matchers
    /// such as `gpg:--verify` apply).
    pub fn policy_args<'a, I>(&self, argv0: &[u8], args: I) -> Policy
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        let policy = self.default_policy();
        if policy == Policy::NONE {
            // Observing only: the built-in entries would turn clamping back on.
            return policy.resolve_args(self.programs, argv0, args);
        }
        policy.resolve_with_defaults(self.programs, argv0, args)
    }

    /// Writes the payload. The launcher validates `programs` matchers with [`valid_entry`]
    /// first.
    pub fn encode(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        let hex = to_hex(&self.key);
        let hex = core::str::from_utf8(&hex).map_err(|_| core::fmt::Error)?;
        let programs = core::str::from_utf8(self.programs).map_err(|_| core::fmt::Error)?;
        write!(
            out,
            "v2;epoch={};step={};key={};prog={}",
            self.epoch, self.step_ns, hex, programs
        )?;
        if !self.fake_clock {
            out.write_str(";clock=real")?;
        }
        if !self.fake_random {
            out.write_str(";random=real")?;
        }
        if !self.fixed_stack {
            out.write_str(";stack=real")?;
        }
        if let Some(n) = self.cpus {
            write!(out, ";cpus={n}")?;
        }
        if self.identity.is_set() {
            self.identity.encode(out)?;
        }
        self.host.encode(out)?;
        if !self.shim.is_empty() && !self.shim.contains(&b';') {
            let shim = core::str::from_utf8(self.shim).map_err(|_| core::fmt::Error)?;
            write!(out, ";shim={shim}")?;
        }
        Ok(())
    }
}

/// Whether `entry` can match programs in the `prog` list: `name` or `name:arg`, neither empty, with
/// no `/`, `,`, `;`, `:` (beyond the one separator), `=`, whitespace or control characters.
pub fn valid_entry(entry: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| !c.is_whitespace() && !c.is_control() && !"/,;:=".contains(c))
    };
    match entry.split_once(':') {
        None => ok(entry),
        Some((name, arg)) => ok(name) && ok(arg),
    }
}

/// The part of `path` after its last `/`.
pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

fn parse_u64(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 20 {
        return None;
    }
    text.iter().try_fold(0u64, |acc, &b| {
        if b.is_ascii_digit() {
            acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::root_key;

    fn sample(programs: &[u8]) -> Settings<'_> {
        Settings {
            epoch: 1_700_000_000,
            step_ns: 1_000,
            key: root_key(b"s"),
            programs,
            fake_clock: true,
            host: Host::default(),
            cpus: Some(4),
            identity: Identity::new(1000, 1000),
            fake_random: true,
            shim: b"/opt/det/libdetbuild_shim.so",
            fixed_stack: true,
        }
    }

    #[test]
    fn encode_then_parse_round_trips() {
        let s = sample(b"make=cr,openssl:genrsa=r");
        let mut text = String::new();
        s.encode(&mut text).unwrap();
        assert!(text.starts_with("v2;epoch=1700000000;step=1000;key="));
        assert_eq!(parse(text.as_bytes()), Ok(s));
        let s = Settings {
            fake_clock: false,
            ..s
        };
        let mut text = String::new();
        s.encode(&mut text).unwrap();
        assert!(text.contains(
            ";clock=real;cpus=4;uid=1000;gid=1000;user=builder;group=builder;host=detbuild;"
        ));
        assert_eq!(parse(text.as_bytes()), Ok(s));
        let s = Settings {
            fake_random: false,
            ..s
        };
        let mut text = String::new();
        s.encode(&mut text).unwrap();
        assert!(text.contains(";clock=real;random=real;"));
        assert_eq!(parse(text.as_bytes()), Ok(s));
        let observe = Settings { programs: b"", ..s };
        assert!(!observe.policy(b"python3", None).keyed());
        assert!(!observe.pads(), "observing only, yet padding environments");
        let real_stack = Settings {
            fixed_stack: false,
            ..sample(b"")
        };
        let mut text = String::new();
        real_stack.encode(&mut text).unwrap();
        assert!(text.contains(";stack=real"));
        assert_eq!(parse(text.as_bytes()), Ok(real_stack));
        assert!(!real_stack.pads() && sample(b"").pads());
    }

    #[test]
    fn parse_rejects_bad_payloads() {
        let key = String::from_utf8(to_hex(&root_key(b"s")).to_vec()).unwrap();
        // Version 1 carried the built-in program list; its meaning changed, so it is refused.
        let p = format!("v1;epoch=1;key={key}");
        assert_eq!(parse(p.as_bytes()), Err(PayloadError::Version));
        assert_eq!(parse(b"v3;epoch=1"), Err(PayloadError::Version));
        assert_eq!(parse(b""), Err(PayloadError::Version));
        let p = format!("v2;key={key}");
        assert_eq!(parse(p.as_bytes()), Err(PayloadError::Field("epoch")));
        let p = format!("v2;epoch=-1;key={key}");
        assert_eq!(parse(p.as_bytes()), Err(PayloadError::Field("epoch")));
        let p = format!("v2;epoch=1;step=10;key={key}");
        assert_eq!(parse(p.as_bytes()), Err(PayloadError::Field("step")));
        assert_eq!(
            parse(b"v2;epoch=1;key=abc"),
            Err(PayloadError::Field("key"))
        );
        let p = format!("v2;epoch=5;key={key};future=x;junk");
        assert_eq!(parse(p.as_bytes()).map(|s| s.epoch), Ok(5));
    }

    #[test]
    fn policy_starts_from_the_clock_mode_then_applies_programs() {
        let s = sample(b"make=cr,ssh-keygen=r,openssl:genrsa=r,,");
        assert!(!s.policy(b"/usr/bin/make", Some(b"-j4")).keyed());
        let keygen = s.policy(b"ssh-keygen", None);
        assert!(keygen.fakes(Source::Clock) && !keygen.fakes(Source::Random));
        assert_eq!(s.policy(b"openssl", Some(b"dgst")), Policy::FAKE);
        let real_clock = Settings {
            fake_clock: false,
            ..sample(b"date=C")
        };
        assert!(!real_clock.policy(b"cc", None).fakes(Source::Clock));
        assert!(real_clock.policy(b"/bin/date", None).fakes(Source::Clock));
    }

    #[test]
    fn the_cpu_switch_follows_the_count() {
        let s = sample(b"");
        assert!(s.policy(b"cc", None).fakes(Source::Cpus));
        let real = Settings { cpus: None, ..s };
        assert!(!real.policy(b"cc", None).fakes(Source::Cpus));
        let mut text = String::new();
        real.encode(&mut text).unwrap();
        assert!(!text.contains("cpus="), "{text}");
        assert_eq!(parse(text.as_bytes()).map(|p| p.cpus), Ok(None));
        let key = String::from_utf8(to_hex(&root_key(b"s")).to_vec()).unwrap();
        for bad in ["0", "1025", "x"] {
            let p = format!("v2;epoch=1;key={key};cpus={bad}");
            assert_eq!(parse(p.as_bytes()), Err(PayloadError::Field("cpus")));
        }
    }

    #[test]
    fn entries_are_validated() {
        assert!(valid_entry("make"));
        assert!(valid_entry("openssl:genrsa"));
        for bad in ["", "a/b", "a,b", "a;b", "a b", ":x", "x:", "a:b:c", "a=b"] {
            assert!(!valid_entry(bad), "{bad:?}");
        }
    }
}
