//! The child's environment, computed as a pure function of the settled options and the
//! inherited environment. `detbuild -- CMD` applies it on top of the inherited environment;
//! `detbuild env` prints it.
//!
//! Set: `SOURCE_DATE_EPOCH` (the chosen epoch), `DETBUILD` (the shim's payload),
//! `DETBUILD_ROOT` (where paths are made relative), and `LD_PRELOAD` with the shim *appended*
//! to any entries already there (fakeroot, ASan's runtime must stay first), minus any other
//! copy of the shim, but before a clock-faking preload (libfaketime), whose answer would
//! otherwise replace the build's clock. [`asan_options`] adds `verify_asan_link_order=0` to `ASAN_OPTIONS`: an
//! ASan-built program aborts when a preload comes before its runtime, and the shim always does.
//!
//! The builder's shell ([`Shell`], [`shell_env`]): `TZ=UTC`, `LANG` and `LC_ALL` set to
//! `C.UTF-8` with `LANGUAGE` removed (it overrides `LC_ALL` for translated messages), umask
//! 022 and address-space randomization off, each configurable or inherited. Everything else
//! in the caller's environment passes through unchanged; none of it is hashed or embedded.

use detbuild_core::host::Host;
use detbuild_core::identity::Identity;
use detbuild_core::key::root_key;
use detbuild_core::key::to_hex;
use detbuild_core::settings::{Settings, KEY_VAR, ROOT_VAR, VAR};
use std::ffi::OsString;
use std::path::PathBuf;

/// Everything the launcher settled before spawning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub epoch: i64,
    pub seed: String,
    pub step_ns: u64,
    pub fake_clock: bool,
    /// False only for the observing audit of `check --no-shim` (randomness real for all).
    pub fake_random: bool,
    /// The per-program list (`MATCH=LETTERS`): the defaults, then the config's entries.
    pub programs: Vec<String>,
    /// The build root (the launcher's working directory).
    pub root: PathBuf,
    /// Absolute path of the shim library.
    pub shim: PathBuf,
    /// The host the build sees.
    pub host: Host,
    /// The CPU count the build sees (`None`: real).
    pub cpus: Option<u32>,
    /// The builder's shell.
    pub shell: Shell,
    /// The invoking user and the names reported for it (`Identity::UNSET`: real).
    pub identity: Identity,
    /// Private namespaces to make (`isolate.rs`).
    pub namespaces: crate::isolate::Namespaces,
}

/// The builder's shell: what the launcher normalizes; `None` passes the caller's through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shell {
    /// `TZ`.
    pub tz: Option<String>,
    /// `LANG` and `LC_ALL` (and `LANGUAGE` removed).
    pub locale: Option<String>,
    /// The umask the command starts with.
    pub umask: Option<u32>,
    /// Keep address-space randomization (off by default: `personality(ADDR_NO_RANDOMIZE)`).
    pub aslr: bool,
}

impl Default for Shell {
    fn default() -> Shell {
        Shell {
            tz: Some("UTC".into()),
            locale: Some("C.UTF-8".into()),
            umask: Some(0o022),
            aslr: false,
        }
    }
}

/// The variables the shell settings and the identity set (`USER` and `LOGNAME` when the
/// identity is faked), and those they remove, in a fixed order.
pub fn shell_env(
    shell: &Shell,
    identity: &Identity,
) -> (Vec<(&'static str, OsString)>, Vec<&'static str>) {
    let mut set = Vec::new();
    let mut unset = Vec::new();
    if identity.is_set() {
        set.push(("USER", identity.user.as_str().into()));
        set.push(("LOGNAME", identity.user.as_str().into()));
    }
    if let Some(tz) = &shell.tz {
        set.push(("TZ", tz.into()));
    }
    if let Some(locale) = &shell.locale {
        set.push(("LANG", locale.into()));
        set.push(("LC_ALL", locale.into()));
        unset.push("LANGUAGE");
    }
    (set, unset)
}

/// Variables to set in the child, in a fixed order.
pub fn child_env(
    plan: &Plan,
    inherited_preload: Option<&OsString>,
) -> Vec<(&'static str, OsString)> {
    let programs = plan.programs.join(",");
    let root = root_key(plan.seed.as_bytes());
    let settings = Settings {
        epoch: plan.epoch,
        step_ns: plan.step_ns,
        key: root,
        programs: programs.as_bytes(),
        fake_clock: plan.fake_clock,
        host: plan.host,
        cpus: plan.cpus,
        identity: plan.identity,
        fake_random: plan.fake_random,
        shim: plan.shim.as_os_str().as_encoded_bytes(),
        // With randomization kept, stack addresses move anyway: no pads.
        fixed_stack: !plan.shell.aslr,
    };
    let mut payload = String::new();
    settings
        .encode(&mut payload)
        .expect("writing to a String cannot fail");
    vec![
        ("SOURCE_DATE_EPOCH", plan.epoch.to_string().into()),
        (VAR, payload.into()),
        (ROOT_VAR, plan.root.clone().into_os_string()),
        (
            KEY_VAR,
            String::from_utf8_lossy(&to_hex(&root)).into_owned().into(),
        ),
        ("LD_PRELOAD", preload(inherited_preload, &plan.shim)),
    ]
}

/// Preloads that fake the clock themselves (libfaketime, as reprotest and `faketime` use it;
/// datefudge). The build's clock is the shim's, so they are left out of the build's
/// `LD_PRELOAD`: kept after the shim they would answer only the programs whose clock is real
/// (`make`), and their mapping would move every library and heap address of every program by
/// how the build was started.
const CLOCK_FAKERS: [&str; 2] = ["libfaketime", "libdatefudge"];

/// Whether the preload entry `path` is a clock faker ([`CLOCK_FAKERS`]).
fn is_clock_faker(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    CLOCK_FAKERS.iter().any(|f| name.starts_with(f))
}

/// The entries of `LD_PRELOAD` (split on spaces and colons, as the loader does).
fn preload_entries(existing: Option<&OsString>) -> Vec<String> {
    existing
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .split([' ', ':'])
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The clock fakers in `existing` that [`preload`] leaves out (for the launcher's notice).
pub fn dropped_preloads(existing: Option<&OsString>) -> Vec<String> {
    preload_entries(existing)
        .into_iter()
        .filter(|e| is_clock_faker(e))
        .collect()
}

/// The variables among `names` that configure the clock fakers in `dropped` (what
/// [`dropped_preloads`] found), sorted: left out with their libraries, so the build's
/// environment does not depend on them either.
pub fn faker_settings(
    names: impl IntoIterator<Item = OsString>,
    dropped: &[String],
) -> Vec<String> {
    let has = |faker: &str| {
        dropped
            .iter()
            .any(|d| d.rsplit('/').next().unwrap_or(d).starts_with(faker))
    };
    let mut out: Vec<String> = names
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| {
            (has("libfaketime")
                && (n.starts_with("FAKETIME")
                    || ["NO_FAKE_STAT", "DONT_FAKE_MONOTONIC", "FAKERANDOM_SEED"]
                        .contains(&n.as_str())))
                || (has("libdatefudge") && n.starts_with("DATEFUDGE"))
        })
        .collect();
    out.sort();
    out
}

/// `existing` without any copy of the shim or any clock faker, then `shim`.
fn preload(existing: Option<&OsString>, shim: &std::path::Path) -> OsString {
    let mut entries: Vec<String> = preload_entries(existing)
        .into_iter()
        .filter(|e| !e.ends_with(crate::layout::SHIM) && !is_clock_faker(e))
        .collect();
    entries.push(shim.to_string_lossy().into_owned());
    entries.join(":").into()
}

/// `ASAN_OPTIONS` for the child: the inherited options plus `verify_asan_link_order=0`,
/// unless they already say something about that flag.
pub fn asan_options(existing: Option<&OsString>) -> OsString {
    const FLAG: &str = "verify_asan_link_order";
    let existing = existing
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if existing.contains(FLAG) {
        return existing.into();
    }
    if existing.is_empty() {
        return format!("{FLAG}=0").into();
    }
    format!("{existing}:{FLAG}=0").into()
}

/// The per-program list the payload carries: the config's entries only. The shim applies
/// `detbuild_core::policy::DEFAULTS` (built in, packed) before them, so they win where both
/// set a switch.
pub fn program_list(config: &[String]) -> Vec<String> {
    config.to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use detbuild_core::settings;

    fn plan() -> Plan {
        Plan {
            epoch: 1_700_000_000,
            seed: "1700000000".into(),
            step_ns: 1_000_000_000,
            fake_clock: true,
            fake_random: true,
            programs: vec!["make=cr".into(), "openssl:genrsa=r".into()],
            root: "/src/proj".into(),
            shim: "/opt/det/libdetbuild_shim.so".into(),
            host: Host::default(),
            cpus: Some(4),
            shell: Shell::default(),
            identity: Identity::UNSET,
            namespaces: Default::default(),
        }
    }

    #[test]
    fn env_carries_epoch_payload_root_and_preload() {
        let env = child_env(&plan(), None);
        let names: Vec<_> = env.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "SOURCE_DATE_EPOCH",
                "DETBUILD",
                "DETBUILD_ROOT",
                "DETBUILD_KEY",
                "LD_PRELOAD"
            ]
        );
        assert_eq!(env[0].1, "1700000000");
        let payload = env[1].1.to_str().unwrap();
        let s = settings::parse(payload.as_bytes()).unwrap();
        assert_eq!(
            (s.epoch, s.step_ns, s.key),
            (1_700_000_000, 1_000_000_000, root_key(b"1700000000"))
        );
        assert_eq!(s.programs, b"make=cr,openssl:genrsa=r");
        assert_eq!(env[2].1, "/src/proj");
        assert_eq!(
            env[3].1.to_str().unwrap().as_bytes(),
            to_hex(&root_key(b"1700000000"))
        );
        assert_eq!(env[4].1, "/opt/det/libdetbuild_shim.so");
    }

    #[test]
    fn preload_appends_after_existing_entries_once() {
        let existing =
            OsString::from("/usr/lib/libfakeroot.so /lib/libasan.so:/old/libdetbuild_shim.so");
        let env = child_env(&plan(), Some(&existing));
        assert_eq!(
            env[4].1,
            "/usr/lib/libfakeroot.so:/lib/libasan.so:/opt/det/libdetbuild_shim.so"
        );
    }

    #[test]
    fn preload_leaves_out_clock_fakers() {
        let existing = OsString::from(
            "/usr/lib/libfakeroot.so:/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 \
             /usr/lib/x86_64-linux-gnu/datefudge/libdatefudge.so",
        );
        let env = child_env(&plan(), Some(&existing));
        assert_eq!(
            env[4].1,
            "/usr/lib/libfakeroot.so:/opt/det/libdetbuild_shim.so"
        );
        assert_eq!(
            dropped_preloads(Some(&existing)),
            [
                "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
                "/usr/lib/x86_64-linux-gnu/datefudge/libdatefudge.so"
            ]
        );
        assert!(dropped_preloads(None).is_empty());
        let names = [
            "PATH",
            "FAKETIME",
            "NO_FAKE_STAT",
            "DATEFUDGE",
            "FAKETIME_NO_CACHE",
        ]
        .map(OsString::from);
        let faketime = ["/usr/$LIB/faketime/libfaketime.so.1".to_string()];
        assert_eq!(
            faker_settings(names.clone(), &faketime),
            ["FAKETIME", "FAKETIME_NO_CACHE", "NO_FAKE_STAT"]
        );
        assert!(faker_settings(names.clone(), &[]).is_empty());
        let datefudge = ["/usr/lib/datefudge/libdatefudge.so".to_string()];
        assert_eq!(faker_settings(names, &datefudge), ["DATEFUDGE"]);
    }

    #[test]
    fn asan_options_keep_the_users_and_allow_a_preload_first() {
        assert_eq!(asan_options(None), "verify_asan_link_order=0");
        let mine = OsString::from("detect_leaks=0");
        assert_eq!(
            asan_options(Some(&mine)),
            "detect_leaks=0:verify_asan_link_order=0"
        );
        let explicit = OsString::from("verify_asan_link_order=1");
        assert_eq!(asan_options(Some(&explicit)), "verify_asan_link_order=1");
    }

    #[test]
    fn seed_changes_only_the_key() {
        let a = child_env(&plan(), None);
        let b = child_env(
            &Plan {
                seed: "other".into(),
                ..plan()
            },
            None,
        );
        assert_ne!(a[1].1, b[1].1);
        assert_eq!(a[0], b[0]);
    }

    #[test]
    fn the_shell_is_normalized_unless_inherited() {
        let (set, unset) = shell_env(&Shell::default(), &Identity::UNSET);
        assert_eq!(
            set,
            [
                ("TZ", OsString::from("UTC")),
                ("LANG", "C.UTF-8".into()),
                ("LC_ALL", "C.UTF-8".into())
            ]
        );
        assert_eq!(unset, ["LANGUAGE"]);
        let inherit = Shell {
            tz: None,
            locale: None,
            umask: None,
            aslr: true,
        };
        assert_eq!(shell_env(&inherit, &Identity::UNSET), (vec![], vec![]));
        let (set, _) = shell_env(&inherit, &Identity::new(1000, 1000));
        assert_eq!(
            set,
            [("USER", "builder".into()), ("LOGNAME", "builder".into())]
        );
        let fr = Shell {
            locale: Some("fr_FR.UTF-8".into()),
            ..Shell::default()
        };
        assert_eq!(
            shell_env(&fr, &Identity::UNSET).0[2],
            ("LC_ALL", "fr_FR.UTF-8".into())
        );
    }

    #[test]
    fn config_entries_follow_the_defaults() {
        let l = program_list(&["make=C".into()]);
        assert_eq!(l, ["make=C"]);
        let s = l.join(",");
        let p = detbuild_core::policy::Policy::FAKE.resolve_with_defaults(
            s.as_bytes(),
            b"make",
            None.into_iter(),
        );
        assert!(p.fakes(detbuild_core::policy::Source::Clock));
        let d = detbuild_core::policy::Policy::FAKE.resolve_with_defaults(
            b"",
            b"make",
            None.into_iter(),
        );
        assert!(!d.fakes(detbuild_core::policy::Source::Clock));
    }
}
