//! `detbuild hook KIND`: the text a package build includes to run its recipes under the shim,
//! for builders that cannot be wrapped in `detbuild -- CMD` as a whole.
//!
//! - `dpkg`: a make fragment for `debian/rules` (`hooks/dpkg.mk`). It runs `detbuild env
//!   --format make` with dpkg's epoch and evaluates it, so the recipes (dh and what it runs)
//!   are shimmed and make is not; already shimmed builds are left alone.
//! - `rpm`: a macros file (`hooks/rpm.macros`) that exports `detbuild env` at the start of
//!   the %conf, %build, %install and %check scriptlets and sets rpm's own reproducibility
//!   macros (`%source_date_epoch_from_changelog`, `%use_source_date_epoch_as_buildtime`,
//!   `%clamp_mtime_to_source_date_epoch`, `%_buildhost`) to agree with it.
//!
//! Both fail the build with detbuild's message when it is missing or refuses: a build that
//! asked for detbuild never goes on unshimmed. The texts are fixed (no paths, no epoch), so a
//! maintainer can commit them; they call `detbuild` from PATH unless told otherwise.

use crate::cli::HookKind;
use crate::error::Error;
use crate::fail;
use std::io::{ErrorKind, Write};

/// The make fragment for `debian/rules`.
const DPKG: &str = include_str!("../hooks/dpkg.mk");
/// The rpm macros.
const RPM: &str = include_str!("../hooks/rpm.macros");

/// The hook text for `kind`.
pub fn text(kind: HookKind) -> &'static str {
    match kind {
        HookKind::Dpkg => DPKG,
        HookKind::Rpm => RPM,
    }
}

/// Prints the hook for `kind`; a closed stdout is not an error.
pub fn main(kind: HookKind) -> Result<u8, Error> {
    let mut out = std::io::stdout().lock();
    match out
        .write_all(text(kind).as_bytes())
        .and_then(|_| out.flush())
    {
        Err(e) if e.kind() != ErrorKind::BrokenPipe => Err(fail!("cannot write to stdout: {e}")),
        _ => Ok(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpm_build_host_is_the_host_the_build_sees() {
        let line = format!("\n%_buildhost {}\n", detbuild_core::host::DEFAULT_NAME);
        assert!(RPM.contains(&line), "{RPM}");
    }

    #[test]
    fn every_build_scriptlet_enters_the_shim() {
        for stage in ["conf", "build", "install", "check"] {
            let def = format!("%__spec_{stage}_pre %{{___build_pre}}\\\n%{{__detbuild_enter}}\n");
            assert!(RPM.contains(&def), "{stage}");
        }
    }

    #[test]
    fn hooks_fail_when_detbuild_does() {
        assert!(DPKG.contains("$(error detbuild hook"));
        assert!(DPKG.contains("ifeq (,$(DETBUILD))"));
        assert!(RPM.contains("exit 2"));
    }
}
