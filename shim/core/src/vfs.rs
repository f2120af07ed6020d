//! Virtual files: which paths the shim answers itself, matched after normalization.
//!
//! The registry maps a normalized absolute path to a [`File`] (a provider in the shim's
//! `vfs.rs`). Matching is lexical: `.` and empty components are dropped, `..` removes the
//! previous component, and a relative path is joined to the directory it is relative to (the
//! working directory, or the directory an `openat` descriptor names). So `/dev/./urandom`,
//! `//dev/urandom` and `openat(dev_fd, "urandom")` all reach the random device. Symbolic
//! links are not followed (`/dev/fd/N` stays real).
//!
//! Each provider belongs to a policy switch ([`File::source`]).
//!
//! Cost: an open whose last component is no provider's name ([`may_be_virtual`], a few byte
//! compares) is never normalized, so ordinary opens pay nothing but that check.

use crate::policy::Source;

/// A file the shim provides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    /// `/dev/urandom`, `/dev/random`: an endless random stream.
    RandomDevice,
    /// `/proc/sys/kernel/random/uuid`: a fresh random UUID per open.
    Uuid,
    /// `/proc/sys/kernel/random/boot_id`: one UUID for the whole run.
    BootId,
    /// `/proc/sys/kernel/hostname`, `/etc/hostname`: the configured host name.
    HostName,
    /// `/proc/sys/kernel/domainname`: the configured domain name.
    DomainName,
    /// `/proc/cpuinfo`: the first CPU's block once per configured CPU.
    CpuInfo,
    /// `/sys/devices/system/cpu/{online,possible,present}`: `0-(N-1)`.
    CpuRange,
}

impl File {
    /// The policy switch that decides whether this file is provided.
    pub fn source(self) -> Source {
        match self {
            File::RandomDevice | File::Uuid | File::BootId => Source::Random,
            File::HostName | File::DomainName => Source::Host,
            File::CpuInfo | File::CpuRange => Source::Cpus,
        }
    }
}

/// The registry: normalized path and provider.
pub const FILES: &[(&[u8], File)] = &[
    (b"/dev/urandom", File::RandomDevice),
    (b"/dev/random", File::RandomDevice),
    (b"/proc/sys/kernel/random/uuid", File::Uuid),
    (b"/proc/sys/kernel/random/boot_id", File::BootId),
    (b"/proc/sys/kernel/hostname", File::HostName),
    (b"/etc/hostname", File::HostName),
    (b"/proc/sys/kernel/domainname", File::DomainName),
    (b"/proc/cpuinfo", File::CpuInfo),
    (b"/sys/devices/system/cpu/online", File::CpuRange),
    (b"/sys/devices/system/cpu/possible", File::CpuRange),
    (b"/sys/devices/system/cpu/present", File::CpuRange),
];

/// The longest path [`normalize`] produces.
pub const PATH_MAX: usize = 4096;

/// The last component of `path` (after its last `/`).
fn last(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

/// Whether `path` can name a registered file at all: its last component is the last
/// component of some entry.
#[inline]
pub fn may_be_virtual(path: &[u8]) -> bool {
    let name = last(path);
    !name.is_empty() && FILES.iter().any(|(p, _)| last(p) == name)
}

/// The provider registered for a normalized absolute path.
pub fn lookup(normalized: &[u8]) -> Option<File> {
    FILES
        .iter()
        .find(|(p, _)| *p == normalized)
        .map(|&(_, f)| f)
}

/// Joins `path` to `dir` (when `path` is relative) and normalizes lexically into `out`;
/// `None` if `dir` is needed but not absolute, or the result does not fit.
pub fn normalize<'a>(dir: &[u8], path: &[u8], out: &'a mut [u8]) -> Option<&'a [u8]> {
    let mut len = 0;
    let parts = if path.first() == Some(&b'/') {
        [&b""[..], path]
    } else {
        if dir.first() != Some(&b'/') {
            return None;
        }
        [dir, path]
    };
    for part in parts {
        for comp in part.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => {}
                b".." => {
                    len = out[..len].iter().rposition(|&b| b == b'/').unwrap_or(0);
                }
                _ => {
                    let end = len + 1 + comp.len();
                    if end > out.len() {
                        return None;
                    }
                    out[len] = b'/';
                    out[len + 1..end].copy_from_slice(comp);
                    len = end;
                }
            }
        }
    }
    if len == 0 {
        *out.first_mut()? = b'/';
        len = 1;
    }
    Some(&out[..len])
}

/// A version-4 (random, RFC 4122 variant) UUID made from 16 random bytes: the version and
/// variant bits set, the other 122 bits kept.
pub fn uuid_v4(mut b: [u8; 16]) -> [u8; 16] {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

/// The text form of a version-4 UUID made from the first 16 bytes of `bytes`, with a
/// newline, as the kernel prints `/proc/sys/kernel/random/uuid`.
pub fn uuid_text(bytes: &[u8; 32]) -> [u8; 37] {
    let mut b = *bytes;
    let mut first = [0; 16];
    first.copy_from_slice(&b[..16]);
    b[..16].copy_from_slice(&uuid_v4(first));
    let hex = crate::key::to_hex(&b);
    let mut out = [b'-'; 37];
    let mut o = 0;
    for (i, pair) in hex[..32].chunks(2).enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            o += 1;
        }
        out[o..o + 2].copy_from_slice(pair);
        o += 2;
    }
    out[36] = b'\n';
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(dir: &str, path: &str) -> Option<String> {
        let mut out = [0u8; PATH_MAX];
        normalize(dir.as_bytes(), path.as_bytes(), &mut out)
            .map(|p| String::from_utf8(p.to_vec()).unwrap())
    }

    #[test]
    fn spellings_of_one_device_normalize_alike() {
        for (dir, path) in [
            ("/", "/dev/urandom"),
            ("/x", "/dev/./urandom"),
            ("/x", "//dev//urandom"),
            ("/x", "/dev/../dev/urandom"),
            ("/dev", "urandom"),
            ("/dev/", "./urandom"),
            ("/proc/sys", "../../dev/urandom"),
        ] {
            assert_eq!(
                norm(dir, path).as_deref(),
                Some("/dev/urandom"),
                "{dir} {path}"
            );
        }
        assert_eq!(norm("/", "/.."), Some("/".into()));
        assert_eq!(norm("relative", "x"), None);
        let mut tiny = [0u8; 4];
        assert_eq!(normalize(b"/", b"/dev/urandom", &mut tiny), None);
    }

    #[test]
    fn registry_matches_whole_paths_only() {
        assert_eq!(lookup(b"/dev/urandom"), Some(File::RandomDevice));
        assert_eq!(lookup(b"/dev/urandomx"), None);
        assert_eq!(
            lookup(b"/proc/sys/kernel/random/boot_id"),
            Some(File::BootId)
        );
        assert!(may_be_virtual(b"urandom"));
        assert!(may_be_virtual(b"/x/uuid"));
        assert!(!may_be_virtual(b"main.c"));
        assert!(!may_be_virtual(b"/dev/"));
        assert_eq!(lookup(b"/etc/hostname"), Some(File::HostName));
        assert_eq!(File::DomainName.source(), Source::Host);
        assert_eq!(File::Uuid.source(), Source::Random);
    }

    #[test]
    fn uuid_v4_sets_only_version_and_variant() {
        assert_eq!(uuid_v4([0; 16])[6..9], [0x40, 0, 0x80]);
        let u = uuid_v4([0xff; 16]);
        assert_eq!((u[6], u[8]), (0x4f, 0xbf));
        assert!(u
            .iter()
            .enumerate()
            .all(|(i, &b)| i == 6 || i == 8 || b == 0xff));
    }

    #[test]
    fn uuid_text_is_version_4() {
        let t = uuid_text(&[0xff; 32]);
        assert_eq!(&t, b"ffffffff-ffff-4fff-bfff-ffffffffffff\n");
    }
}
