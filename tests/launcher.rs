//! The launcher's settings: epoch sources, config, steps, environment output, and the
//! unshimmed build drivers.

use crate::common::*;
use std::path::Path;

fn in_dir(mut cmd: std::process::Command, dir: &std::path::Path) -> std::process::Command {
    cmd.current_dir(dir);
    cmd
}

// Promise: a malformed SOURCE_DATE_EPOCH fails with exit 2 and one line naming it, and the
// command does not run.
#[test]
fn malformed_source_date_epoch_is_an_error() {
    let dir = tempdir("bad-sde");
    let mut cmd = in_dir(det(&[], &["touch", "ran"]), &dir);
    cmd.env("SOURCE_DATE_EPOCH", "abc");
    assert_one_line_error(&run(&mut cmd), 2, "SOURCE_DATE_EPOCH");
    assert!(!dir.join("ran").exists());
}

// Promise: SOURCE_DATE_EPOCH from the environment sets the clock and reaches the children.
#[test]
fn source_date_epoch_is_honoured_and_exported() {
    let mut cmd = det(&[], &["sh", "-c", "echo $SOURCE_DATE_EPOCH; date +%s"]);
    cmd.env("SOURCE_DATE_EPOCH", "1234567890");
    assert_eq!(run(&mut cmd).ok(), "1234567890\n1234567890\n");
}

// Promise: --epoch beats SOURCE_DATE_EPOCH, which beats detbuild.toml; -v says which won.
#[test]
fn epoch_precedence_and_verbose_source() {
    let dir = tempdir("precedence");
    std::fs::write(dir.join("detbuild.toml"), "epoch = 1111111111\n").unwrap();
    let date = |flags: &[&str], sde: Option<&str>| {
        let mut cmd = in_dir(det(flags, &["date", "+%s"]), &dir);
        if let Some(v) = sde {
            cmd.env("SOURCE_DATE_EPOCH", v);
        }
        run(&mut cmd)
    };
    assert_eq!(date(&[], None).ok(), "1111111111\n");
    assert_eq!(date(&[], Some("1222222222")).ok(), "1222222222\n");
    assert_eq!(
        date(&["--epoch", "1333333333"], Some("1222222222")).ok(),
        "1333333333\n"
    );
    let verbose = date(&["-v"], None);
    assert!(
        verbose.stderr.contains("from detbuild.toml"),
        "{}",
        verbose.describe()
    );
}

// Promise: without any epoch source, the documented default is used with a one-line notice.
#[test]
fn default_epoch_comes_with_a_notice() {
    let dir = tempdir("default-epoch");
    let out = run(&mut in_dir(det(&[], &["date", "-u", "+%Y-%m-%d"]), &dir));
    assert_eq!(out.stdout, "1980-01-01\n", "{}", out.describe());
    assert!(
        out.stderr.contains("notice") && out.stderr.lines().count() == 1,
        "{}",
        out.describe()
    );
}

// Promise: the newest debian/changelog entry is an epoch source.
#[test]
fn debian_changelog_gives_the_epoch() {
    let dir = tempdir("changelog");
    std::fs::create_dir(dir.join("debian")).unwrap();
    std::fs::write(
        dir.join("debian/changelog"),
        "hello (1.0-1) unstable; urgency=medium\n\n  * Initial.\n\n -- A B <a@b.c>  Sun, 09 Sep 2001 01:46:40 +0000\n",
    )
    .unwrap();
    assert_eq!(
        run(&mut in_dir(det(&[], &["date", "+%s"]), &dir)).ok(),
        "1000000000\n"
    );
}

/// Runs git in `dir` with a fixed identity and commit time.
fn git(dir: &Path, args: &[&str]) {
    let mut cmd = command("git");
    cmd.args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_DATE", "@1444444444 +0000");
    run(&mut cmd).ok();
}

/// A repository in `dir` with one commit made at 1444444444.
fn committed_repo(dir: &Path) {
    git(dir, &["init", "-q"]);
    std::fs::write(dir.join("f"), "x").unwrap();
    git(dir, &["add", "f"]);
    git(dir, &["commit", "-q", "-m", "x"]);
}

/// Asserts that detbuild started in `dir` takes the epoch from the commit.
#[track_caller]
fn assert_epoch_from_git(dir: &Path) {
    let out = run(&mut in_dir(det(&["-v"], &["date", "+%s"]), dir));
    assert_eq!(out.stdout, "1444444444\n", "{}", out.describe());
    assert!(
        out.stderr.contains("from the last git commit"),
        "{}",
        out.describe()
    );
}

// Promise: the last git commit of the enclosing repository is an epoch source.
#[test]
fn git_commit_time_gives_the_epoch() {
    let dir = tempdir("git-epoch");
    committed_repo(&dir);
    assert_epoch_from_git(&dir);
}

// Promise: a Debian package's own changelog gives the epoch even when the package is a git
// checkout, as dpkg-buildpackage does: the same package gets the same epoch either way.
#[test]
fn debian_changelog_wins_over_the_enclosing_git_commit() {
    let dir = tempdir("changelog-in-git");
    committed_repo(&dir);
    std::fs::create_dir(dir.join("debian")).unwrap();
    std::fs::write(
        dir.join("debian/changelog"),
        "x (1) unstable; urgency=low\n\n  * x\n\n -- T <t@example.com>  Sun, 01 Jan 2023 00:00:00 +0000\n",
    )
    .unwrap();
    if !require_tool("dpkg-parsechangelog", "dpkg-dev") {
        return;
    }
    // Control: dpkg's own reading of the changelog (the commit says 1444444444).
    let dpkg = run(&mut in_dir(
        native(&["dpkg-parsechangelog", "-S", "Timestamp"]),
        &dir,
    ));
    assert_eq!(dpkg.stdout, "1672531200\n", "{}", dpkg.describe());
    let out = run(&mut in_dir(det(&["-v"], &["date", "+%s"]), &dir));
    assert_eq!(out.stdout, dpkg.stdout, "{}", out.describe());
    assert!(
        out.stderr.contains("from debian/changelog"),
        "{}",
        out.describe()
    );
}

// Promise: a checkout owned by another user (git's "dubious ownership") still gives its
// commit time; the epoch does not depend on who runs the build.
#[test]
fn another_users_checkout_gives_its_commit_time() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root to give the checkout to another user");
        return;
    }
    let dir = tempdir("git-owner");
    committed_repo(&dir);
    run(&mut native(&[
        "chown",
        "-R",
        "65534:65534",
        dir.to_str().unwrap(),
    ]))
    .ok();
    // Control: git itself refuses this checkout.
    let refused = run(&mut in_dir(
        native(&["git", "log", "-1", "--format=%ct"]),
        &dir,
    ));
    assert!(
        !refused.status.success() && refused.stderr.contains("dubious ownership"),
        "{}",
        refused.describe()
    );
    assert_epoch_from_git(&dir);
}

// Promise: a source that is there but unusable is named, with the reason, in the notice.
#[test]
fn a_skipped_epoch_source_says_why() {
    let dir = tempdir("git-empty");
    git(&dir, &["init", "-q"]);
    let out = run(&mut in_dir(det(&[], &["date", "+%s"]), &dir));
    assert_eq!(out.stdout, "315532800\n", "{}", out.describe());
    assert_one_line_error(
        &out,
        0,
        "skipped the last git commit (the git repository has no commits yet)",
    );
    std::fs::create_dir(dir.join("debian")).unwrap();
    std::fs::write(
        dir.join("debian/changelog"),
        "x (1) unstable; urgency=low\n",
    )
    .unwrap();
    let out = run(&mut in_dir(det(&[], &["date", "+%s"]), &dir));
    assert!(
        out.stderr.contains("no commits yet")
            && out
                .stderr
                .contains("skipped debian/changelog (debian/changelog has no entry"),
        "{}",
        out.describe()
    );
}

// Promise: a step needs a unit; the documented range, 1us to 1h, is the accepted one.
#[test]
fn steps_need_a_unit_and_reach_one_hour() {
    let dir = tempdir("steps");
    let units = "h, min, s, ms, us or ns";
    let out = run(&mut in_dir(
        det(&["--epoch", EPOCH, "--step", "10"], &["true"]),
        &dir,
    ));
    assert_one_line_error(&out, 2, units);
    std::fs::write(dir.join("detbuild.toml"), "[clock]\nstep = \"1000\"\n").unwrap();
    let out = run(&mut in_dir(det(&["--epoch", EPOCH], &["true"]), &dir));
    assert_one_line_error(&out, 2, "detbuild.toml:2:8");
    assert!(out.stderr.contains("no unit") && out.stderr.contains(units));
    std::fs::remove_file(dir.join("detbuild.toml")).unwrap();
    let out = run(&mut in_dir(
        det(&["--epoch", EPOCH, "--step", "61min"], &["true"]),
        &dir,
    ));
    assert_one_line_error(&out, 2, "1us to 1h");
    let reads = "import time; a = time.time(); b = time.time(); print(round(b - a))";
    let out = run(&mut in_dir(
        det(
            &["--epoch", EPOCH, "--step", "1h"],
            &["python3", "-c", reads],
        ),
        &dir,
    ));
    assert_eq!(out.ok(), "3600\n");
}

// Promise: a malformed detbuild.toml fails with exit 2 and one line giving file:line:column.
#[test]
fn malformed_config_is_an_error_with_position() {
    let dir = tempdir("bad-config");
    std::fs::write(dir.join("detbuild.toml"), "seed = \"x\"\nstpe = \"1s\"\n").unwrap();
    let out = run(&mut in_dir(det(&[], &["true"]), &dir));
    assert_one_line_error(&out, 2, "detbuild.toml:2:1");
    assert!(out.stderr.contains("stpe"), "{}", out.describe());
    let out = run(&mut in_dir(
        det(&["--config", "nope.toml"], &["true"]),
        &dir,
    ));
    assert_one_line_error(&out, 2, "nope.toml");
}

// Promise: `eval "$(detbuild env)"` puts the shim into the shell's children.
#[test]
fn env_output_evals_in_sh() {
    let det_bin = detbuild_bin();
    let script = format!(
        "eval \"$('{}' env --epoch 1300000000)\"; date +%s.%N",
        det_bin.display()
    );
    let out = assert_stable("eval detbuild env", || native(&["sh", "-c", &script]));
    assert_eq!(out, "1300000000.000000000\n");
}

// Promise: `detbuild env --format make` output included by a Makefile shims its recipes.
#[test]
fn env_output_includes_in_make() {
    if !require_tool("make", "make") {
        return;
    }
    let dir = tempdir("make-include");
    let mut cmd = command(detbuild_bin());
    cmd.args(["env", "--format", "make", "--epoch", "1300000000"]);
    std::fs::write(dir.join("det.mk"), run(&mut cmd).ok()).unwrap();
    std::fs::write(
        dir.join("Makefile"),
        "include det.mk\nall:\n\t@date +%s.%N\n",
    )
    .unwrap();
    let out = run(&mut in_dir(native(&["make", "-s"]), &dir)).ok();
    assert_eq!(out, "1300000000.000000000\n");
}

// Promise: entries already in LD_PRELOAD (fakeroot, ASan) are kept, ahead of the shim.
#[test]
fn existing_preload_entries_are_kept_first() {
    let mut cmd = det(
        &["--epoch", EPOCH],
        &["sh", "-c", "echo $LD_PRELOAD; date +%s"],
    );
    cmd.env("LD_PRELOAD", "libm.so.6");
    let out = run(&mut cmd).ok();
    let expected = format!(
        "libm.so.6:{}\n{EPOCH}\n",
        shim().canonicalize().unwrap().display()
    );
    assert_eq!(out, expected);
}

// Promise: make runs unshimmed by default (no "clock skew" warnings from comparing real file
// times with a faked clock), while its recipes stay shimmed.
#[test]
fn make_itself_keeps_the_real_clock() {
    if !require_tool("make", "make") {
        return;
    }
    let dir = tempdir("make-skew");
    std::fs::write(dir.join("input"), "x").unwrap();
    std::fs::write(dir.join("Makefile"), "out: input\n\t@date +%s > out\n").unwrap();
    let out = run(&mut in_dir(
        det(&["--epoch", "1000000000"], &["make"]),
        &dir,
    ));
    assert!(
        out.status.success() && !out.stderr.contains("skew"),
        "{}",
        out.describe()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("out")).unwrap(),
        "1000000000\n"
    );

    // Control: shimming make itself does produce the warning this default avoids.
    std::fs::remove_file(dir.join("out")).unwrap();
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.make]\nclock = \"fake\"\n",
    )
    .unwrap();
    let out = run(&mut in_dir(
        det(&["--epoch", "1000000000"], &["make"]),
        &dir,
    ));
    assert!(
        out.stderr.contains("skew") || out.stderr.contains("in the future"),
        "{}",
        out.describe()
    );
}
