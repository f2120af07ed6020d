//! Per-program policy: which sources the shim fakes for a program, switch by switch.
//!
//! A [`Policy`] holds one switch per [`Source`]: faked (the deterministic answer) or real
//! (passed through). Every process starts from the run's default policy (everything faked
//! unless `[clock] mode = "real"`), then applies the entries of the program list that match
//! it. The user's list travels in the payload as `prog=ENTRY,ENTRY,...`, each entry
//! `MATCH=LETTERS`:
//! - `MATCH` is a program's basename (`make`), or `name:arg` to match only when the first
//!   argument is `arg` (`openssl:req`); an `arg` that starts with `-` is an option and
//!   matches wherever it comes before a `--` (`gpg:--verify` matches `gpg --batch --verify`);
//! - `LETTERS` set switches, one letter per source: lower case makes the source real, upper
//!   case fakes it (`c`/`C` clock, `r`/`R` randomness, `d`/`D` directory order, `h`/`H` host,
//!   `n`/`N` CPU count, `u`/`U` identity, `t`/`T` file times clamped, `o`/`O` file owners
//!   root, `i`/`I` inode and device numbers renumbered). Unknown letters are ignored, so an older shim runs under a newer launcher.
//!
//! The run's default ([`Policy::FAKE`]) fakes every source but file times, owners and inode
//! numbers. File times are clamped only for the programs [`DEFAULTS`] marks `T` (archivers and
//! image makers) or the user names, inode and device numbers renumbered only for those it marks
//! `I` (the ones that record them); owners only where the user asks. [`DEFAULTS`] is the one list
//! of built-in entries: the shim carries it packed ([`crate::packed`]), the payload carries
//! only the user's entries, the README's tables describe it.
//!
//! Resolution: name-only entries apply first, then `name:arg` entries, each group in order,
//! the defaults before the user's entries, so for every switch the most specific, latest
//! entry wins.
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
    /// Directory listings (`readdir` & co, `scandir`, `glob`, `fts`): byte-wise name order.
    Dirs,
    /// `uname`, `gethostname`, `getdomainname`, `/proc/sys/kernel/{hostname,domainname}`,
    /// `/etc/hostname`: the configured host.
    Host,
    /// `sysconf(_SC_NPROCESSORS_*)`, `get_nprocs*`, `sched_getaffinity`, `/proc/cpuinfo`,
    /// `/sys/devices/system/cpu/{online,possible,present}`: the configured count.
    Cpus,
    /// `getpwuid`/`getpwnam`/`getpwent`, `getgrgid`/`getgrnam`, `getlogin` for the invoking
    /// user and group: the configured names.
    Identity,
    /// File times from the `stat` family, clamped to the epoch ([`crate::clamp`]).
    Mtime,
    /// File owners from the `stat` family, reported as uid and gid 0.
    Owner,
    /// Inode and device numbers from the `stat` family, renumbered in first-sight order
    /// ([`crate::inodes`]).
    Inodes,
}

impl Source {
    /// Every source, in bit order.
    pub const ALL: [Source; 9] = [
        Source::Clock,
        Source::Random,
        Source::Dirs,
        Source::Host,
        Source::Cpus,
        Source::Identity,
        Source::Mtime,
        Source::Owner,
        Source::Inodes,
    ];

    fn bit(self) -> u16 {
        1 << self as u8
    }

    /// The payload letter that makes this source real (upper case fakes it).
    pub fn letter(self) -> u8 {
        match self {
            Source::Clock => b'c',
            Source::Random => b'r',
            Source::Dirs => b'd',
            Source::Host => b'h',
            Source::Cpus => b'n',
            Source::Identity => b'u',
            Source::Mtime => b't',
            Source::Owner => b'o',
            Source::Inodes => b'i',
        }
    }

    /// The config key naming this source.
    pub fn name(self) -> &'static str {
        match self {
            Source::Clock => "clock",
            Source::Random => "random",
            Source::Dirs => "dirs",
            Source::Host => "host",
            Source::Cpus => "cpus",
            Source::Identity => "identity",
            Source::Mtime => "mtime",
            Source::Owner => "owner",
            Source::Inodes => "inodes",
        }
    }
}

/// One switch per [`Source`]: set bits are faked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy(u16);

impl Policy {
    /// Nothing faked: the shim only observes (`detbuild check --no-shim`).
    pub const NONE: Policy = Policy(0);

    /// The run's default: every source faked but file times, owners and inode numbers.
    pub const FAKE: Policy = Policy(0b11_1111);

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

    /// Whether the `stat` family's answers are rewritten (file times, owners or inode
    /// numbers).
    #[inline]
    pub fn rewrites_stat(self) -> bool {
        self.fakes(Source::Mtime) || self.fakes(Source::Owner) || self.fakes(Source::Inodes)
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

    /// As [`Policy::resolve`] with all of the program's arguments: a `name:-x` or `name:--x`
    /// matcher applies when that option appears anywhere before `--` (`gpg:--verify` matches
    /// `gpg --batch --verify`); a `name:word` matcher only when `word` is the first argument.
    ///
    /// Every process runs this once at start, so it is one tight pass over the list that
    /// looks only at entries starting with the program's name; `name:arg` entries are
    /// examined in a second pass only if the first pass saw one.
    pub fn resolve_args<'a, I>(self, list: &[u8], argv0: &[u8], args: I) -> Policy
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        self.resolve_lists(false, list, argv0, args)
    }

    /// As [`Policy::resolve_args`] with [`DEFAULTS`] (packed, [`crate::packed`]) applied
    /// before `list` in each pass: what every shimmed process runs once at start.
    pub fn resolve_with_defaults<'a, I>(self, list: &[u8], argv0: &[u8], args: I) -> Policy
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        self.resolve_lists(true, list, argv0, args)
    }

    fn resolve_lists<'a, I>(self, defaults: bool, list: &[u8], argv0: &[u8], args: I) -> Policy
    where
        I: Iterator<Item = &'a [u8]> + Clone,
    {
        let name = basename(argv0);
        let matches = |arg: &[u8]| {
            let mut args = args.clone();
            if arg.first() == Some(&b'-') {
                args.take_while(|a| *a != b"--").any(|a| a == arg)
            } else {
                args.next() == Some(arg)
            }
        };
        let mut policy = self;
        let mut specific = false;
        each_entry(defaults, list, name, |rest| match rest.split_first() {
            Some((b'=', letters)) => policy = policy.apply(letters),
            Some((b':', _)) => specific = true,
            _ => {}
        });
        if specific {
            each_entry(defaults, list, name, |rest| {
                let Some((b':', rest)) = rest.split_first() else {
                    return;
                };
                let Some(eq) = rest.iter().position(|&b| b == b'=') else {
                    return;
                };
                if matches(&rest[..eq]) {
                    policy = policy.apply(&rest[eq + 1..]);
                }
            });
        }
        policy
    }
}

/// [`for_entries`] over the packed defaults (when `defaults`), then over `list`.
fn each_entry(defaults: bool, list: &[u8], name: &[u8], mut f: impl FnMut(&[u8])) {
    if defaults {
        crate::packed::for_entries(name, &mut f);
    }
    for_entries(list, name, f);
}

/// Calls `f` with what follows `name` in each comma-separated entry of `list` that starts
/// with `name`.
fn for_entries(list: &[u8], name: &[u8], mut f: impl FnMut(&[u8])) {
    let mut start = 0;
    while start < list.len() {
        let end = list[start..]
            .iter()
            .position(|&b| b == b',')
            .map_or(list.len(), |i| start + i);
        if let Some(rest) = list[start..end].strip_prefix(name) {
            f(rest);
        }
        start = end + 1;
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

const SSH: &str = "network client: real clock and randomness for its keys and certificates; it \
                   logs in as the local user by default and its %l/%L tokens name this \
                   machine, so it sees the real user and host names";
/// An archiver or image maker: it copies the times of the files it reads (`why`) into its
/// output, so its `stat` family reports them clamped to the epoch ([`crate::clamp`]).
const fn clamped(matcher: &'static str, why: &'static str) -> Default {
    Default {
        matcher,
        letters: "T",
        why,
    }
}

/// An archiver that also records inode and device numbers (`why`): clamped, and its `stat`
/// family reports them renumbered in first-sight order ([`crate::inodes`]).
const fn renumbered(matcher: &'static str, why: &'static str) -> Default {
    Default {
        matcher,
        letters: "TI",
        why,
    }
}

/// The default program list; the user's `[programs]` entries apply after it.
pub const DEFAULTS: &[Default] = &[
    Default {
        matcher: "make",
        letters: "cr",
        why: DRIVER,
    },
    Default {
        matcher: "gmake",
        letters: "cr",
        why: DRIVER,
    },
    Default {
        matcher: "ninja",
        letters: "cr",
        why: DRIVER,
    },
    entry("xargs", "c", PARALLEL),
    entry("pwgen", "r", KEYGEN),
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
    entry("ssh", "crhu", SSH),
    entry("openssl:s_client", "cr", NETWORK),
    Default {
        matcher: "ssh-keygen",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "gpg",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "gpg2",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "gpgsm",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "gpg-agent",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "certtool",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "keytool",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "age-keygen",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "wg:genkey",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "wg:genpsk",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "minisign:-G",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "signify:-G",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "dropbearkey",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "puttygen",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "mkcert",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "cfssl:genkey",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "sq:key",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "openssl:genrsa",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "openssl:genpkey",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "openssl:gendsa",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "openssl:req",
        letters: "r",
        why: KEYGEN,
    },
    Default {
        matcher: "openssl:ecparam",
        letters: "r",
        why: KEYGEN,
    },
    // Archivers and image makers. Not here, on purpose: build drivers and anything that
    // decides work by comparing times (clamped, every file made during the build looks
    // equally old); `ar` (its `u` modifier compares member dates, and distributions build it
    // deterministic: dates 0); language runtimes such as python3 (setuptools' "newer" copies,
    // .pyc checks; README, "File times").
    renumbered(
        "tar",
        "each member's mtime (and atime/ctime in pax format); -g snapshots record the device \
         and inode numbers of directories",
    ),
    renumbered(
        "bsdtar",
        "libarchive's tar/zip/cpio writer: member mtimes, pax times; --format newc records \
         inode numbers",
    ),
    renumbered(
        "cpio",
        "newc/odc headers carry each member's mtime, inode and device numbers (initramfs \
         images)",
    ),
    renumbered(
        "bsdcpio",
        "libarchive's cpio: member mtimes; newc headers carry inode numbers",
    ),
    clamped("pax", "ustar headers carry each member's mtime"),
    clamped(
        "zip",
        "DOS time and the extended-timestamp extra field of each entry",
    ),
    clamped("jar", "the DOS time of each entry"),
    clamped(
        "gzip",
        "the header's MTIME is the mtime of the compressed file",
    ),
    clamped(
        "pigz",
        "the header's MTIME is the mtime of the compressed file",
    ),
    clamped("7z", "entry mtimes (and ctime/atime with -mtc/-mta)"),
    clamped("7za", "entry mtimes (and ctime/atime with -mtc/-mta)"),
    clamped("7zr", "entry mtimes"),
    clamped("mksquashfs", "inode mtimes of the squashfs image"),
    clamped(
        "mke2fs",
        "-d copies atime/mtime/ctime of the source tree into the inodes",
    ),
    clamped("mkfs.ext2", "mke2fs under another name"),
    clamped("mkfs.ext3", "mke2fs under another name"),
    clamped("mkfs.ext4", "mke2fs under another name"),
    clamped("mkfs.erofs", "inode times copied from the source tree"),
    renumbered(
        "xorriso",
        "ISO 9660 directory records and Rock Ridge TF entries; with hard links on, inode \
         numbers as Rock Ridge serial numbers",
    ),
    renumbered("xorrisofs", "xorriso's mkisofs emulation"),
    clamped(
        "genisoimage",
        "ISO 9660 directory records and Rock Ridge TF entries",
    ),
    clamped("mkisofs", "genisoimage under its old name"),
    clamped(
        "mcopy",
        "with -m, the source file's mtime in the FAT directory entry",
    ),
];

#[cfg(test)]
#[path = "policy_tests.rs"]
mod tests;
