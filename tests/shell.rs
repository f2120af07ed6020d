//! The builder's shell: the time zone, the locale, the umask and address-space randomization
//! the build runs with are fixed by the launcher (TZ=UTC, C.UTF-8 without LANGUAGE, umask
//! 022, ASLR off), whatever the caller's shell had. Each promise's native control runs the
//! probe under two values in the caller's environment, which changes what it prints.

use crate::common::*;
use std::process::Command;

/// `argv` natively or under detbuild, from a caller whose environment sets `vars`.
fn with_env(under: bool, vars: &[(&str, &str)], argv: &[&str]) -> Command {
    let mut cmd = if under {
        det(&["--epoch", EPOCH], argv)
    } else {
        native(argv)
    };
    for (k, v) in vars {
        cmd.env(k, v);
    }
    cmd
}

/// The promise for two caller environments: they differ natively, and give one stable
/// output under detbuild, which is returned.
#[track_caller]
fn assert_normalized(a: &[(&str, &str)], b: &[(&str, &str)], argv: &[&str]) -> String {
    let na = run(&mut with_env(false, a, argv)).ok();
    let nb = run(&mut with_env(false, b, argv)).ok();
    assert_ne!(
        na, nb,
        "native control: {a:?} and {b:?} print the same:\n{na}"
    );
    let fixed = assert_stable(&format!("{argv:?}"), || with_env(true, a, argv));
    assert_eq!(
        fixed,
        run(&mut with_env(true, b, argv)).ok(),
        "{argv:?} under {b:?}"
    );
    fixed
}

// Promise: dates print in UTC whatever TZ the caller has: `date` of the epoch is the same day
// from a GMT+12 and a GMT-14 shell.
#[test]
fn dates_print_in_utc() {
    let out = assert_normalized(
        &[("TZ", "EAST-14")],
        &[("TZ", "WEST+12")],
        &["date", "-d", "@1672531200", "+%F %T %Z"],
    );
    assert_eq!(out, "2023-01-01 00:00:00 UTC\n");
}

// Promise: the locale is C.UTF-8 whatever LANG, LC_ALL and LANGUAGE the caller has: character
// counts and ls's quoting of non-ASCII names agree.
#[test]
fn locale_is_c_utf8() {
    let dir = tempdir("locale");
    std::fs::write(dir.join("caf\u{e9}"), "").unwrap();
    let script = format!(
        "printf 'caf\\303\\251' | wc -m; ls {}; locale | grep -E '^(LANG|LC_ALL|LANGUAGE)='",
        dir.display()
    );
    let out = assert_normalized(
        &[("LC_ALL", "C"), ("LANG", "C"), ("LANGUAGE", "fr")],
        &[("LC_ALL", "C.UTF-8"), ("LANG", "C.UTF-8")],
        &["sh", "-c", &script],
    );
    assert_eq!(
        out,
        "4\ncaf\u{e9}\nLANG=C.UTF-8\nLANGUAGE=\nLC_ALL=C.UTF-8\n"
    );
}

/// A directory holding a compiled en_US.UTF-8 locale (made once with `localedef`), for
/// `LOCPATH`; `None` (skipped, or failing under `CI=true`) without the `locales` package.
fn en_us_locale() -> Option<std::path::PathBuf> {
    let source = std::path::Path::new("/usr/share/i18n/locales/en_US").exists();
    if !have("localedef", "locales")
        || !capable(
            source,
            "no en_US locale source: install the Debian package `locales`",
        )
    {
        return None;
    }
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("locales");
    let target = dir.join("en_US.UTF-8");
    if !target.join("LC_COLLATE").exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = native(&["localedef", "-i", "en_US", "-f", "UTF-8"]);
        cmd.arg(&target);
        run_within(&mut cmd, std::time::Duration::from_secs(180)).ok();
    }
    Some(dir)
}

// Promise: `ls` sorts in byte order whatever locale the caller's shell has (en_US.UTF-8
// sorts case-insensitively natively).
#[test]
fn ls_sorts_in_byte_order_whatever_the_callers_locale() {
    let Some(locales) = en_us_locale() else {
        return;
    };
    let dir = tempdir("collate");
    for name in ["B", "a", "C", "b"] {
        std::fs::write(dir.join(name), "").unwrap();
    }
    let locpath = locales.to_str().unwrap();
    let d = dir.to_str().unwrap();
    let out = assert_normalized(
        &[
            ("LOCPATH", locpath),
            ("LC_ALL", "en_US.UTF-8"),
            ("LANG", "en_US.UTF-8"),
        ],
        &[("LOCPATH", locpath), ("LC_ALL", "C"), ("LANG", "C")],
        &["ls", d],
    );
    assert_eq!(out, "B\nC\na\nb\n");
}

// Promise: files are created with umask 022 whatever the caller's umask.
#[test]
fn files_are_created_with_umask_022() {
    let dir = tempdir("umask");
    let make = |under: bool, mask: &str| {
        let inner = "rm -f f; touch f; mkdir -p d; stat -c '%a %n' f d; rm -rf d";
        let cmd = if under {
            format!(
                "umask {mask}; exec {} --epoch {EPOCH} -- sh -c \"{inner}\"",
                detbuild_bin().display()
            )
        } else {
            format!("umask {mask}; {inner}")
        };
        let mut c = native(&["sh", "-c", &cmd]);
        c.current_dir(&dir);
        c
    };
    let (a, b) = (
        run(&mut make(false, "077")).ok(),
        run(&mut make(false, "002")).ok(),
    );
    assert_ne!(a, b, "native control");
    let fixed = run(&mut make(true, "077")).ok();
    assert_eq!(fixed, run(&mut make(true, "002")).ok());
    assert_eq!(fixed, "644 f\n755 d\n");
}

// Promise: address-space randomization is off, so a program that prints pointers prints the
// same ones on every run; `--aslr` keeps it on.
#[test]
fn pointers_agree_across_runs() {
    let probe = probe("pointers");
    let p = probe.to_str().unwrap();
    assert_varies("native pointers", || native(&[p]));
    assert_stable("pointers", || det(&["--epoch", EPOCH], &[p]));
    assert_varies("pointers with --aslr", || {
        det(&["--epoch", EPOCH, "--aslr"], &[p])
    });
}

// Promise: `detbuild env` shows the shell settings: the exported TZ, LANG and LC_ALL, the
// removed LANGUAGE and the umask; `[shell]` in detbuild.toml changes or inherits them.
#[test]
fn env_shows_the_shell_settings() {
    let mut cmd = command(detbuild_bin());
    cmd.args(["env", "--epoch", EPOCH]);
    let out = run(&mut cmd).ok();
    for line in [
        "export TZ='UTC'",
        "export LANG='C.UTF-8'",
        "export LC_ALL='C.UTF-8'",
        "unset LANGUAGE",
        "umask 022",
    ] {
        assert!(out.lines().any(|l| l == line), "no {line:?} in:\n{out}");
    }
    let dir = tempdir("shell-config");
    std::fs::write(
        dir.join("detbuild.toml"),
        "[shell]\ntz = \"inherit\"\numask = \"027\"\n",
    )
    .unwrap();
    let mut cmd = command(detbuild_bin());
    cmd.args(["env", "--epoch", EPOCH]).current_dir(&dir);
    let out = run(&mut cmd).ok();
    assert!(!out.contains("TZ="), "{out}");
    assert!(out.lines().any(|l| l == "umask 027"), "{out}");
}

// Promise: with address-space randomization off, OpenSSL's generator (`openssl rand`) is
// fixed by the seed: it seeds from getrandom, and what still varied was addresses it mixes in.
#[test]
fn openssl_rand_is_fixed_by_the_seed() {
    if !have("openssl", "openssl") {
        return;
    }
    assert_promise(&["openssl", "rand", "-hex", "16"], OTHER_SEED);
    assert_varies("openssl rand with --aslr", || {
        det(
            &["--epoch", EPOCH, "--aslr"],
            &["openssl", "rand", "-hex", "16"],
        )
    });
}

// Promise: Node's crypto.randomBytes, crypto.randomUUID and Math.random are fixed by the seed.
#[test]
fn node_randomness_is_fixed_by_the_seed() {
    if !have("node", "nodejs") {
        return;
    }
    let script = "const c = require('crypto'); \
                  console.log(c.randomBytes(8).toString('hex'), c.randomUUID(), Math.random())";
    assert_promise(&["node", "-e", script], OTHER_SEED);
}
