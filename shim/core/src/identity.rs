//! The builder's identity: the user and group names the build sees for the invoking user.
//!
//! The launcher writes the invoking user's real uid and gid and the names to report into the
//! payload (`uid=`, `gid=`, `user=`, `group=`); the shim answers lookups of that uid and gid
//! (and of the reported names) with those names. Names are 1 to [`MAX_NAME`] characters of
//! `[A-Za-z0-9._-]`, not starting with `-` (what `useradd` accepts, within utmp's limit).

use crate::host::Text;

/// The user and group name when none is configured.
pub const DEFAULT_NAME: &str = "builder";
/// The longest name.
pub const MAX_NAME: usize = 32;

/// Whether `name` can be a user or group name (see the module docs).
pub fn valid(name: &[u8]) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name[0] != b'-'
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// What the shim answers for the invoking user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The invoking user's real uid.
    pub uid: u32,
    /// The invoking user's real gid.
    pub gid: u32,
    /// The user name reported for `uid`.
    pub user: Text,
    /// The group name reported for `gid`.
    pub group: Text,
}

impl Identity {
    /// No identity (static storage before the settings are read, or none in the payload).
    pub const UNSET: Identity = Identity {
        uid: u32::MAX,
        gid: u32::MAX,
        user: Text::EMPTY,
        group: Text::EMPTY,
    };

    /// The identity for `uid`/`gid` with the default names.
    pub fn new(uid: u32, gid: u32) -> Identity {
        let name = Text::new(DEFAULT_NAME.as_bytes()).expect("valid default");
        Identity {
            uid,
            gid,
            user: name,
            group: name,
        }
    }

    /// Whether all four fields are set.
    pub fn is_set(&self) -> bool {
        self.uid != u32::MAX
            && self.gid != u32::MAX
            && !self.user.as_bytes().is_empty()
            && !self.group.as_bytes().is_empty()
    }

    /// Sets the field a payload entry names; `Err` with its name when malformed, `Ok(false)`
    /// for a name that is not an identity field.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> Result<bool, &'static str> {
        let number = |name| {
            core::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<u32>().ok())
                .filter(|&n| n != u32::MAX)
                .ok_or(name)
        };
        let name = |field| Text::new(value).filter(|_| valid(value)).ok_or(field);
        match field {
            b"uid" => self.uid = number("uid")?,
            b"gid" => self.gid = number("gid")?,
            b"user" => self.user = name("user")?,
            b"group" => self.group = name("group")?,
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The payload fields.
    pub fn encode(&self, out: &mut impl core::fmt::Write) -> core::fmt::Result {
        write!(
            out,
            ";uid={};gid={};user={};group={}",
            self.uid,
            self.gid,
            self.user.as_str(),
            self.group.as_str()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked() {
        for ok in ["builder", "b_1.x-y", "a"] {
            assert!(valid(ok.as_bytes()), "{ok}");
        }
        for bad in ["", "-x", "a b", "a;b", "é", &"x".repeat(33)] {
            assert!(!valid(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn fields_round_trip_through_the_payload() {
        let id = Identity::new(1000, 100);
        let mut text = String::new();
        id.encode(&mut text).unwrap();
        assert_eq!(text, ";uid=1000;gid=100;user=builder;group=builder");
        let mut back = Identity::UNSET;
        assert!(!back.is_set());
        for field in text.split(';').skip(1) {
            let (k, v) = field.split_once('=').unwrap();
            assert_eq!(back.set(k.as_bytes(), v.as_bytes()), Ok(true));
        }
        assert_eq!(back, id);
        assert!(back.is_set());
        assert_eq!(back.set(b"uid", b"x"), Err("uid"));
        assert_eq!(back.set(b"user", b"a b"), Err("user"));
        assert_eq!(back.set(b"host", b"x"), Ok(false));
    }
}
