//! The config tables that describe the machine the build sees: `[host]` (and, beside it, the
//! other machine-facing tables), parsed from raw TOML into core types. Errors carry the byte
//! offset of the offending value; `config.rs` turns it into a line and column.
//!
//! ```toml
//! cpus = 4                   # CPU count every program sees, or "real" (default 4)
//!
//! [host]
//! name = "detbuild"          # node name: uname -n, hostname, /etc/hostname (default "detbuild")
//! domain = "(none)"          # NIS domain: getdomainname, domainname (default "(none)")
//! release = "6.1.0"          # uname -r (default: real)
//! version = "#1 SMP"         # uname -v (default: real)
//! machine = "x86_64"         # uname -m (default: real)
//!
//! [identity]
//! user = "builder"           # the invoking user's name (default "builder"; "inherit": real)
//! group = "builder"          # its primary group's name (default "builder")
//!
//! [shell]                    # "inherit" passes the caller's value through
//! tz = "UTC"                 # TZ (default "UTC")
//! locale = "C.UTF-8"         # LANG and LC_ALL, LANGUAGE removed (default "C.UTF-8")
//! umask = "022"              # octal (default "022")
//! aslr = false               # keep address-space randomization (default false: off)
//! ```

use crate::plan::Shell;
use detbuild_core::host::{self, Host, Text};
use detbuild_core::identity;
use serde::Deserialize;
use toml::Spanned;

/// `[host]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    name: Option<Spanned<String>>,
    domain: Option<Spanned<String>>,
    release: Option<Spanned<String>>,
    version: Option<Spanned<String>>,
    machine: Option<Spanned<String>>,
}

/// Validates `[host]`.
pub fn host(raw: RawHost) -> Result<Host, (usize, String)> {
    let mut out = Host::default();
    for (key, value) in [
        ("host", raw.name),
        ("domain", raw.domain),
        ("release", raw.release),
        ("version", raw.version),
        ("machine", raw.machine),
    ] {
        let Some(value) = value else { continue };
        if !host::valid(value.get_ref().as_bytes()) {
            let shown = if key == "host" { "name" } else { key };
            return Err((
                value.span().start,
                format!(
                    "[host] {shown} = {:?} must be 1 to {} printable ASCII characters without `;`",
                    value.get_ref(),
                    host::MAX
                ),
            ));
        }
        out.set(key.as_bytes(), value.get_ref().as_bytes())
            .map_err(|_| (value.span().start, format!("[host] {key} is invalid")))?;
    }
    Ok(out)
}

/// Validates `cpus = N | "real"`: `None` is real.
pub fn cpus(value: &Spanned<toml::Value>) -> Result<Option<u32>, (usize, String)> {
    let text = match value.get_ref() {
        toml::Value::Integer(n) => n.to_string(),
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    detbuild_core::cpus::parse(&text)
        .map_err(|e| (value.span().start, format!("cpus = {text} {e}")))
}

/// `[shell]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawShell {
    tz: Option<Spanned<String>>,
    locale: Option<Spanned<String>>,
    umask: Option<Spanned<String>>,
    aslr: Option<bool>,
}

/// Validates `[shell]`.
pub fn shell(raw: RawShell) -> Result<Shell, (usize, String)> {
    let mut out = Shell::default();
    let text = |key: &str, v: Spanned<String>| -> Result<Option<String>, (usize, String)> {
        let s = v.get_ref();
        if s == "inherit" {
            return Ok(None);
        }
        if s.is_empty() || s.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err((
                v.span().start,
                format!("[shell] {key} = {s:?} must be a value without spaces, or \"inherit\""),
            ));
        }
        Ok(Some(s.clone()))
    };
    if let Some(v) = raw.tz {
        out.tz = text("tz", v)?;
    }
    if let Some(v) = raw.locale {
        out.locale = text("locale", v)?;
    }
    if let Some(v) = raw.umask {
        let at = v.span().start;
        out.umask = match text("umask", v)? {
            None => None,
            Some(m) => Some(
                u32::from_str_radix(&m, 8)
                    .ok()
                    .filter(|&m| m <= 0o777)
                    .ok_or_else(|| {
                        (at, format!("[shell] umask = {m:?} is not an octal mask like \"022\", or \"inherit\""))
                    })?,
            ),
        };
    }
    if let Some(aslr) = raw.aslr {
        out.aslr = aslr;
    }
    Ok(out)
}

/// `[identity]` as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawIdentity {
    user: Option<Spanned<String>>,
    group: Option<Spanned<String>>,
}

/// Validates `[identity]` (`None`: the defaults); `Ok(None)` for `user = "inherit"`.
pub fn identity(raw: Option<RawIdentity>) -> Result<Option<(Text, Text)>, (usize, String)> {
    let default = || Text::new(identity::DEFAULT_NAME.as_bytes()).expect("valid default");
    let Some(raw) = raw else {
        return Ok(Some((default(), default())));
    };
    if raw.user.as_ref().is_some_and(|u| u.get_ref() == "inherit") {
        return Ok(None);
    }
    let name = |key: &str, v: Option<Spanned<String>>| -> Result<Text, (usize, String)> {
        let Some(v) = v else { return Ok(default()) };
        Text::new(v.get_ref().as_bytes())
            .filter(|_| identity::valid(v.get_ref().as_bytes()))
            .ok_or_else(|| {
                (
                    v.span().start,
                    format!(
                        "[identity] {key} = {:?} must be 1 to {} characters of A-Z a-z 0-9 . _ - (not starting with -)",
                        v.get_ref(),
                        identity::MAX_NAME
                    ),
                )
            })
    };
    Ok(Some((name("user", raw.user)?, name("group", raw.group)?)))
}
