//! The host the build sees: node name, NIS domain name, and optionally the kernel release,
//! version and machine that `uname` reports.
//!
//! The launcher writes them into the payload (`host=`, `domain=`, `release=`, `version=`,
//! `machine=`); the shim copies them into a [`Host`] at start-up (fixed buffers, so a program
//! that rewrites its environment cannot change them). A value is 1 to [`MAX`] bytes of
//! printable ASCII other than `;` (the payload's separator). Release, version and machine stay
//! real unless configured: kernel-module builds look up `/lib/modules/$(uname -r)`, and the
//! machine picks toolchains.

/// The node name when none is configured.
pub const DEFAULT_NAME: &str = "detbuild";
/// The domain name when none is configured (what the kernel reports when none is set).
pub const DEFAULT_DOMAIN: &str = "(none)";
/// The longest value (`struct utsname` fields hold 65 bytes with the NUL).
pub const MAX: usize = 64;

/// One value, held inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Text {
    bytes: [u8; MAX],
    len: u8,
}

impl Text {
    /// No bytes (never a valid value; see [`Host::UNSET`]).
    pub const EMPTY: Text = Text {
        bytes: [0; MAX],
        len: 0,
    };

    /// The value, if `value` is valid (see [`valid`]).
    pub fn new(value: &[u8]) -> Option<Text> {
        if !valid(value) {
            return None;
        }
        let mut bytes = [0; MAX];
        bytes[..value.len()].copy_from_slice(value);
        Some(Text {
            bytes,
            len: value.len() as u8,
        })
    }

    /// The bytes, without a NUL.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The value as text (values are ASCII by construction).
    pub fn as_str(&self) -> &str {
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }

    /// The value as a C string, when it is shorter than [`MAX`] (the NUL then follows it).
    pub fn as_cstr(&self) -> Option<&core::ffi::CStr> {
        core::ffi::CStr::from_bytes_until_nul(&self.bytes).ok()
    }

    /// Copies the value and its NUL into `out`, or as many of those bytes as fit (then not
    /// NUL-terminated, as glibc's `gethostname` does); whether all fit.
    pub fn copy_to(&self, out: &mut [u8]) -> bool {
        let v = self.as_bytes();
        let n = (v.len() + 1).min(out.len());
        for (i, o) in out[..n].iter_mut().enumerate() {
            *o = v.get(i).copied().unwrap_or(0);
        }
        n == v.len() + 1
    }

    /// The value followed by a newline, as `/proc/sys/kernel/hostname` reads; its length.
    pub fn line(&self, out: &mut [u8; MAX + 1]) -> usize {
        let v = self.as_bytes();
        out[..v.len()].copy_from_slice(v);
        out[v.len()] = b'\n';
        v.len() + 1
    }
}

/// Whether `value` can be a host value: 1 to [`MAX`] bytes of printable ASCII (space
/// included), no `;`.
pub fn valid(value: &[u8]) -> bool {
    (1..=MAX).contains(&value.len())
        && value
            .iter()
            .all(|&b| (b' '..=b'~').contains(&b) && b != b';')
}

/// What the shim answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Host {
    /// `nodename`, `gethostname`, `/proc/sys/kernel/hostname`, `/etc/hostname`.
    pub name: Text,
    /// `domainname`, `getdomainname`, `/proc/sys/kernel/domainname`.
    pub domain: Text,
    /// `uname -r`, when configured.
    pub release: Option<Text>,
    /// `uname -v`, when configured.
    pub version: Option<Text>,
    /// `uname -m`, when configured.
    pub machine: Option<Text>,
}

impl Default for Host {
    fn default() -> Host {
        Host {
            name: Text::new(DEFAULT_NAME.as_bytes()).expect("valid default"),
            domain: Text::new(DEFAULT_DOMAIN.as_bytes()).expect("valid default"),
            release: None,
            version: None,
            machine: None,
        }
    }
}

impl Host {
    /// All fields empty: a placeholder for static storage before the settings are read.
    pub const UNSET: Host = Host {
        name: Text::EMPTY,
        domain: Text::EMPTY,
        release: None,
        version: None,
        machine: None,
    };

    /// Sets the field a payload entry names (`host`, `domain`, `release`, `version`,
    /// `machine`); `Err` with the field's name for a malformed value, `Ok(false)` for a name
    /// that is not a host field.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> Result<bool, &'static str> {
        let slot = match field {
            b"host" => {
                self.name = Text::new(value).ok_or("host")?;
                return Ok(true);
            }
            b"domain" => {
                self.domain = Text::new(value).ok_or("domain")?;
                return Ok(true);
            }
            b"release" => (&mut self.release, "release"),
            b"version" => (&mut self.version, "version"),
            b"machine" => (&mut self.machine, "machine"),
            _ => return Ok(false),
        };
        *slot.0 = Some(Text::new(value).ok_or(slot.1)?);
        Ok(true)
    }

    /// Whether a name lookup for `query` asks for this host: the node name, ASCII case
    /// ignored (host names are), with or without one trailing dot (the absolute form).
    pub fn is_own_name(&self, query: &[u8]) -> bool {
        let bare = query.strip_suffix(b".").unwrap_or(query);
        !self.name.as_bytes().is_empty() && bare.eq_ignore_ascii_case(self.name.as_bytes())
    }

    /// The payload fields for this host (`;host=...` and the configured others).
    pub fn encode(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        fn text(t: &Text) -> &str {
            core::str::from_utf8(t.as_bytes()).unwrap_or("?")
        }
        write!(
            out,
            ";host={};domain={}",
            text(&self.name),
            text(&self.domain)
        )?;
        for (name, value) in [
            ("release", &self.release),
            ("version", &self.version),
            ("machine", &self.machine),
        ] {
            if let Some(v) = value {
                write!(out, ";{name}={}", v.as_str())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert!(valid(b"detbuild"));
        assert!(valid(
            b"#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)"
        ));
        for bad in [&b""[..], b"a;b", b"a\nb", b"\xc3\xa9", &[b'x'; 65]] {
            assert!(!valid(bad), "{bad:?}");
        }
        assert!(valid(&[b'x'; 64]));
    }

    #[test]
    fn own_name_ignores_case_and_one_trailing_dot() {
        let h = Host::default();
        for yes in [&b"detbuild"[..], b"DetBuild", b"detbuild."] {
            assert!(h.is_own_name(yes), "{yes:?}");
        }
        for no in [
            &b"detbuild.."[..],
            b"detbuild2",
            b"detbuil",
            b"detbuild.example",
            b"",
            b".",
        ] {
            assert!(!h.is_own_name(no), "{no:?}");
        }
        assert!(!Host::UNSET.is_own_name(b""));
    }

    #[test]
    fn copies_truncate_and_report_it() {
        let t = Text::new(b"builder").unwrap();
        let mut big = [0xffu8; 10];
        assert!(t.copy_to(&mut big));
        assert_eq!(&big[..8], b"builder\0");
        let mut small = [0xffu8; 4];
        assert!(!t.copy_to(&mut small));
        assert_eq!(&small, b"buil");
        assert!(!t.copy_to(&mut []));
        let mut exact = [0xffu8; 8];
        assert!(t.copy_to(&mut exact));
        assert_eq!(&exact, b"builder\0");
        let mut line = [0u8; MAX + 1];
        let n = t.line(&mut line);
        assert_eq!(&line[..n], b"builder\n");
    }

    #[test]
    fn fields_round_trip_through_the_payload() {
        let mut h = Host::default();
        assert_eq!(h.set(b"release", b"6.1.0"), Ok(true));
        assert_eq!(h.set(b"epoch", b"5"), Ok(false));
        assert_eq!(h.set(b"host", b""), Err("host"));
        let mut text = String::new();
        h.encode(&mut text).unwrap();
        assert_eq!(text, ";host=detbuild;domain=(none);release=6.1.0");
        let mut back = Host::default();
        for field in text.split(';').skip(1) {
            let (k, v) = field.split_once('=').unwrap();
            assert_eq!(back.set(k.as_bytes(), v.as_bytes()), Ok(true));
        }
        assert_eq!(back, h);
    }
}
