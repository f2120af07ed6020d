//! The builder's identity: the invoking user's name is `builder` (and its group's) for
//! `whoami`, `id`, `logname`, `USER`/`LOGNAME`, Python's `getpass`/`pwd`/`grp`, and the owner
//! names tar records, whoever runs the build (uids and gids stay real). The native control runs each probe as root and
//! as `nobody` (`setpriv`), which changes what it prints. Under fakeroot, root wins.

use crate::common::*;
use std::process::Command;

/// What a build learns about who runs it, one line each.
const SCRIPT: &str = "whoami; id -un; id -gn; id | tr -d 0-9; echo \"$USER $LOGNAME\"; \
    python3 -c 'import getpass, pwd, grp, os; \
print(getpass.getuser(), pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name)'; \
    logname 2>/dev/null || echo no-login";

/// `sh -c SCRIPT` as root or as nobody, natively or under detbuild (launched by that user).
fn as_user(nobody: bool, under: bool, script: &str) -> Command {
    let mut argv: Vec<String> = Vec::new();
    if nobody {
        argv.extend(
            [
                "setpriv",
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                "--",
            ]
            .map(String::from),
        );
    }
    if under {
        argv.extend([
            detbuild_bin().display().to_string(),
            "--epoch".into(),
            EPOCH.into(),
            "--".into(),
        ]);
    }
    argv.extend(["sh".into(), "-c".into(), script.into()]);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut cmd = native(&argv);
    cmd.current_dir("/")
        .env("USER", if nobody { "nobody" } else { "root" });
    cmd
}

#[track_caller]
fn assert_same_for_everyone(script: &str) -> String {
    let (root, nobody) = (
        run(&mut as_user(false, false, script)).ok(),
        run(&mut as_user(true, false, script)).ok(),
    );
    assert_ne!(
        root, nobody,
        "native control: root and nobody print the same:\n{root}"
    );
    let fixed = run(&mut as_user(false, true, script)).ok();
    assert_eq!(
        fixed,
        run(&mut as_user(true, true, script)).ok(),
        "{script}"
    );
    fixed
}

// Promise: whoami, id -un, id -gn, id, USER, LOGNAME, logname and Python's getpass.getuser,
// pwd.getpwuid and grp.getgrgid all name the builder, whoever runs the build.
#[test]
fn the_builder_is_named_builder_for_everyone() {
    if !can_run_as_nobody() {
        return;
    }
    let out = assert_same_for_everyone(SCRIPT);
    let mut lines = out.lines();
    for _ in 0..3 {
        assert_eq!(lines.next(), Some("builder"), "{out}");
    }
    let id = lines.next().unwrap();
    assert_eq!(id, "uid=(builder) gid=(builder) groups=(builder)", "{out}");
    assert_eq!(lines.next(), Some("builder builder"));
    assert_eq!(lines.next(), Some("builder builder builder"));
    assert_eq!(lines.next(), Some("builder"));
}

// Promise: the owner names tar records for the builder's files are builder/builder.
#[test]
fn archives_record_the_builder_as_owner() {
    if !can_run_as_nobody() {
        return;
    }
    let script = "d=$(mktemp -d) && cd \"$d\" && touch f && tar -cf - f | tar -tvf - | \
                  cut -d' ' -f2 && cd / && rm -rf \"$d\"";
    let out = assert_same_for_everyone(script);
    assert_eq!(out, "builder/builder\n");
}

// Promise: under fakeroot (inside detbuild) fakeroot's view wins: whoami, id -un and id -gn
// say root.
#[test]
fn fakeroot_still_makes_root() {
    if !can_run_as_nobody() || !have("fakeroot", "fakeroot") {
        return;
    }
    let script = "fakeroot sh -c 'whoami; id -un; id -gn'";
    for nobody in [false, true] {
        let out = run(&mut as_user(nobody, true, script)).ok();
        assert_eq!(out, "root\nroot\nroot\n", "as nobody: {nobody}");
    }
}

// Promise: `[identity]` in detbuild.toml names the builder, and `user = "inherit"` leaves the
// real names.
#[test]
fn identity_names_are_configurable() {
    let dir = tempdir("identity");
    let config = dir.join("detbuild.toml");
    std::fs::write(&config, "[identity]\nuser = \"ci\"\ngroup = \"staff\"\n").unwrap();
    let cfg = config.to_str().unwrap();
    let argv = ["sh", "-c", "id -un; id -gn; echo $USER"];
    let out = run(&mut det(&["--epoch", EPOCH, "--config", cfg], &argv)).ok();
    assert_eq!(out, "ci\nstaff\nci\n");
    std::fs::write(&config, "[identity]\nuser = \"inherit\"\n").unwrap();
    let out = run(&mut det(
        &["--epoch", EPOCH, "--config", cfg],
        &["id", "-un"],
    ))
    .ok();
    assert_eq!(out, run(&mut native(&["id", "-un"])).ok());
}

// Promise: ssh (on the default list) logs in as the real user: `ssh -G` names it, while the
// build's other programs see the builder.
#[test]
fn ssh_keeps_the_real_user() {
    if !have("ssh", "openssh-client") {
        return;
    }
    let real = run(&mut native(&["id", "-un"])).ok();
    let script = "ssh -G somehost </dev/null 2>/dev/null | grep '^user '; whoami";
    let out = run(&mut det(&["--epoch", EPOCH], &["sh", "-c", script])).ok();
    assert_eq!(out, format!("user {real}builder\n"));
}
