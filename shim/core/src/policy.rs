//! Per-program policy: which sources the shim fakes for a program, switch by switch.
//!
//! A [`Policy`] holds one switch per [`Source`]: faked (the deterministic answer) or real
//! (passed through). Every process starts from the run's default policy (everything faked
//! unless `[clock] mode = "real"`), then applies the entries of the program list that match
//! it. The list travels in the payload as `prog=ENTRY,ENTRY,...`, each entry
//! `MATCH=LETTERS`:
//! - `MATCH` is a program's basename (`make`), or `name:arg` to match only when the first
//!   argument is `arg` (`openssl:req`); an `arg` that starts with `-` is an option and
//!   matches wherever it comes before a `--` (`gpg:--verify` matches `gpg --batch --verify`);
//! - `LETTERS` set switches, one letter per source: lower case makes the source real, upper
//!   case fakes it (`c`/`C` clock, `r`/`R` randomness). Unknown letters are ignored, so an
//!   older shim runs under a newer launcher.
//!
//! Resolution: name-only entries apply first, then `name:arg` entries, each group in list
//! order (the launcher lists its defaults before the user's entries), so for every switch the
//! most specific, latest entry wins.
//!
//! A program that fakes neither the clock nor randomness is *transparent*: it takes no key
//! of its own, and its children chain from its parent's key (so `make -C sub` or `make -j8`
//! never changes what its recipes draw).

use crate::settings::basename;

/// A source of non-determinism the shim can answer for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The REALTIME clock family and everything timed on it.
    Clock,
    /// `getrandom` & co, random devices, temporary names.
    Random,
}

impl Source {
    /// Every source, in letter order.
    pub const ALL: [Source; 2] = [Source::Clock, Source::Random];

    fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The payload letter that makes this source real (upper case fakes it).
    pub fn letter(self) -> u8 {
        match self {
            Source::Clock => b'c',
            Source::Random => b'r',
        }
    }

    /// The config key naming this source.
    pub fn name(self) -> &'static str {
        match self {
            Source::Clock => "clock",
            Source::Random => "random",
        }
    }
}

/// One switch per [`Source`]: set bits are faked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy(u8);

impl Policy {
    /// Everything faked.
    pub const FAKE: Policy = Policy(0b11);

    /// Whether `source` is faked.
    #[inline]
    pub fn fakes(self, source: Source) -> bool {
        self.0 & source.bit() != 0
    }

    /// This policy with `source` faked or real.
    pub fn with(self, source: Source, fake: bool) -> Policy {
        if fake {
            Policy(self.0 | source.bit())
        } else {
            Policy(self.0 & !source.bit())
        }
    }

    /// Whether the program takes a key of its own (see the module docs).
    pub fn keyed(self) -> bool {
        self.fakes(Source::Clock) || self.fakes(Source::Random)
    }

    /// Applies one entry's letters.
    fn apply(mut self, letters: &[u8]) -> Policy {
        for &l in letters {
            if let Some(s) = Source::ALL
                .iter()
                .find(|s| s.letter() == l.to_ascii_lowercase())
            {
                self = self.with(*s, l.is_ascii_uppercase());
            }
        }
        self
    }

    /// The policy for a program started as `argv0 arg1...` under the program list `list`
    /// (the payload's `prog=` value), starting from `self`.
    pub fn resolve(self, list: &[u8], argv0: &[u8], arg1: Option<&[u8]>) -> Policy {
        self.resolve_args(list, argv0, arg1.into_iter())
    }

    /// Like [`Policy::resolve`], with every argument after `argv0`, so that option matchers
    /// (`gpg:--verify`) see all of them.
    pub fn resolve_args<'a, I>(self, list: &[u8], argv0: &[u8], args: I) -> Policy
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        let name = basename(argv0);
        let entries = || {
            list.split(|&b| b == b',').filter_map(|e| {
                let eq = e.iter().position(|&b| b == b'=')?;
                Some((&e[..eq], &e[eq + 1..]))
            })
        };
        let matches = |arg: &[u8]| {
            let mut args = args.clone();
            if arg.first() == Some(&b'-') {
                args.take_while(|a| *a != b"--").any(|a| a == arg)
            } else {
                args.next() == Some(arg)
            }
        };
        let mut policy = self;
        for (matcher, letters) in entries() {
            if !matcher.contains(&b':') && matcher == name {
                policy = policy.apply(letters);
            }
        }
        for (matcher, letters) in entries() {
            if let Some(i) = matcher.iter().position(|&b| b == b':') {
                if &matcher[..i] == name && matches(&matcher[i + 1..]) {
                    policy = policy.apply(letters);
                }
            }
        }
        policy
    }
}

/// Why a default entry is on the list, for the README and `--help`.
pub struct Default {
    /// `name` or `name:arg`.
    pub matcher: &'static str,
    /// Payload letters (see the module docs).
    pub letters: &'static str,
    /// One line: why.
    pub why: &'static str,
}

const DRIVER: &str = "build driver: its clock reads only compare file times (a faked clock \
                      prints \"clock skew\" warnings); transparent, so its jobs start where it \
                      started and get the same keys and times at any -j";
const PARALLEL: &str =
    "parallel runner: on the real clock it never moves, so its jobs start where \
                        it started at any -P (their keys already follow its fork order)";
const KEYGEN: &str = "key generator: long-lived secrets must never be predictable; keeps the \
                      build's clock so what it certifies verifies inside the build";
const VERIFIER: &str = "checks signatures and keys made outside the build (release files, \
                        .asc, .dsc): sees the real clock, which is after both the epoch and \
                        their creation";
const NETWORK: &str = "talks to the outside world: real clock for its TLS and SSH \
                       certificates, real randomness for its session keys";

const fn entry(matcher: &'static str, letters: &'static str, why: &'static str) -> Default {
    Default {
        matcher,
        letters,
        why,
    }
}

/// The default program list; the user's `[programs]` entries apply after it.
pub const DEFAULTS: &[Default] = &[
    entry("make", "cr", DRIVER),
    entry("gmake", "cr", DRIVER),
    entry("ninja", "cr", DRIVER),
    entry("xargs", "c", PARALLEL),
    entry("ssh-keygen", "r", KEYGEN),
    entry("gpg", "r", KEYGEN),
    entry("gpg2", "r", KEYGEN),
    entry("gpgsm", "r", KEYGEN),
    entry("gpg-agent", "r", KEYGEN),
    entry("certtool", "r", KEYGEN),
    entry("keytool", "r", KEYGEN),
    entry("dropbearkey", "r", KEYGEN),
    entry("pwgen", "r", KEYGEN),
    entry("openssl:genrsa", "r", KEYGEN),
    entry("openssl:genpkey", "r", KEYGEN),
    entry("openssl:gendsa", "r", KEYGEN),
    entry("openssl:req", "r", KEYGEN),
    entry("openssl:ecparam", "r", KEYGEN),
    entry("wg:genkey", "r", KEYGEN),
    entry("minisign:-G", "r", KEYGEN),
    entry("signify:-G", "r", KEYGEN),
    entry("gpgv", "c", VERIFIER),
    entry("gpgv2", "c", VERIFIER),
    entry("sqv", "c", VERIFIER),
    entry("gpg:--verify", "c", VERIFIER),
    entry("gpg:--verify-files", "c", VERIFIER),
    entry("gpg:--import", "c", VERIFIER),
    entry("gpg2:--verify", "c", VERIFIER),
    entry("gpg2:--import", "c", VERIFIER),
    entry("gpgsm:--verify", "c", VERIFIER),
    entry("gpgsm:--import", "c", VERIFIER),
    entry("minisign:-V", "c", VERIFIER),
    entry("signify:-V", "c", VERIFIER),
    entry("curl", "cr", NETWORK),
    entry("wget", "cr", NETWORK),
    entry("git-remote-http", "cr", NETWORK),
    entry("git-remote-https", "cr", NETWORK),
    entry("ssh", "cr", NETWORK),
    entry("openssl:s_client", "cr", NETWORK),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> String {
        DEFAULTS
            .iter()
            .map(|d| format!("{}={}", d.matcher, d.letters))
            .collect::<Vec<_>>()
            .join(",")
    }

    #[test]
    fn defaults_split_drivers_and_key_generators() {
        let l = list();
        let make = Policy::FAKE.resolve(l.as_bytes(), b"/usr/bin/make", Some(b"-j4"));
        assert!(!make.fakes(Source::Clock) && !make.fakes(Source::Random));
        assert!(!make.keyed());
        let req = Policy::FAKE.resolve(l.as_bytes(), b"openssl", Some(b"req"));
        assert!(req.fakes(Source::Clock) && !req.fakes(Source::Random));
        assert!(req.keyed());
        let dgst = Policy::FAKE.resolve(l.as_bytes(), b"openssl", Some(b"dgst"));
        assert_eq!(dgst, Policy::FAKE);
        assert_eq!(
            Policy::FAKE.resolve(l.as_bytes(), b"cc", None),
            Policy::FAKE
        );
    }

    #[test]
    fn verifiers_see_the_real_clock_wherever_their_command_option_comes() {
        let l = list();
        let args = |a: &'static [&'static [u8]]| a.iter().copied();
        let verify = Policy::FAKE.resolve_args(
            l.as_bytes(),
            b"/usr/bin/gpg",
            args(&[b"--batch", b"--verify", b"s.asc"]),
        );
        assert!(!verify.fakes(Source::Clock) && !verify.fakes(Source::Random));
        let sign = Policy::FAKE.resolve_args(l.as_bytes(), b"gpg", args(&[b"--sign", b"f"]));
        assert!(sign.fakes(Source::Clock) && !sign.fakes(Source::Random));
        let operand = Policy::FAKE.resolve_args(l.as_bytes(), b"gpg", args(&[b"--", b"--verify"]));
        assert!(operand.fakes(Source::Clock));
        let gpgv = Policy::FAKE.resolve_args(l.as_bytes(), b"gpgv", args(&[b"x"]));
        assert!(!gpgv.fakes(Source::Clock) && gpgv.fakes(Source::Random));
        // A subcommand matcher still needs the first argument.
        let req = Policy::FAKE.resolve_args(l.as_bytes(), b"openssl", args(&[b"x", b"req"]));
        assert_eq!(req, Policy::FAKE);
        let verify = Policy::FAKE.resolve_args(l.as_bytes(), b"openssl", args(&[b"verify"]));
        assert_eq!(verify, Policy::FAKE);
    }

    #[test]
    fn specific_and_later_entries_win() {
        let l = b"tool=cr,tool:x=C,tool=R";
        let p = Policy::FAKE.resolve(l, b"tool", Some(b"x"));
        assert!(p.fakes(Source::Clock) && p.fakes(Source::Random));
        let p = Policy::FAKE.resolve(l, b"tool", Some(b"y"));
        assert!(!p.fakes(Source::Clock) && p.fakes(Source::Random));
    }

    #[test]
    fn unknown_letters_and_malformed_entries_are_ignored() {
        let p = Policy::FAKE.resolve(b"a=zq,noequals,,a=c", b"a", None);
        assert!(!p.fakes(Source::Clock) && p.fakes(Source::Random));
        let real_clock = Policy::FAKE.with(Source::Clock, false);
        assert_eq!(real_clock.resolve(b"a=C", b"a", None), Policy::FAKE);
    }

    #[test]
    fn default_entries_are_well_formed() {
        for d in DEFAULTS {
            assert!(crate::settings::valid_entry(d.matcher), "{}", d.matcher);
            assert!(d.letters.bytes().all(|l| Source::ALL
                .iter()
                .any(|s| s.letter() == l.to_ascii_lowercase())));
        }
    }
}
