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

use crate::cli::{HookKind, Opts};
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

/// The first option given that a fixed text cannot carry.
fn ignored_option(opts: &Opts) -> Option<&'static str> {
    let given = [
        (opts.epoch.is_some(), "--epoch"),
        (opts.seed.is_some(), "--seed"),
        (opts.step.is_some(), "--step"),
        (opts.cpus.is_some(), "--cpus"),
        (opts.aslr, "--aslr"),
        (opts.namespaces.is_some(), "--namespaces"),
        (opts.build_path.is_some(), "--build-path"),
        (opts.config.is_some(), "--config"),
        (opts.no_new_privs, "--no-new-privs"),
    ];
    given
        .into_iter()
        .find(|(set, _)| *set)
        .map(|(_, name)| name)
}

/// Prints the hook for `kind`; a closed stdout is not an error. Options that would change the
/// build are refused: the text is fixed, and the build's own `detbuild env` settles them.
pub fn main(kind: HookKind, opts: &Opts) -> Result<u8, Error> {
    if let Some(name) = ignored_option(opts) {
        return Err(fail!(
            "detbuild hook prints a fixed text, so {name} would have no effect; the build takes its epoch from the package's changelog"
        ));
    }
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
    fn options_a_fixed_text_cannot_carry_are_named() {
        assert_eq!(ignored_option(&Opts::default()), None);
        let opts = Opts {
            epoch: Some("1".into()),
            verbose: true,
            ..Opts::default()
        };
        assert_eq!(ignored_option(&opts), Some("--epoch"));
    }

    #[test]
    fn hooks_fail_when_detbuild_does() {
        assert!(DPKG.contains("$(error detbuild hook"));
        assert!(DPKG.contains("ifeq (,$(DETBUILD))"));
        assert!(RPM.contains("exit 2"));
    }
}
