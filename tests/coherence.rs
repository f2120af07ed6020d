//! Time that agrees across processes and with the world: a certificate made in the build
//! verifies in the build, a signature made before the build verifies in it, key generators
//! keep real randomness but the build's dates, timed reads end as natively, and sequences of
//! programs see time pass while `-j`/`-P` levels still give identical bytes.
//!
//! Every case runs natively too, as the control: natively the dates are today's and vary, and
//! natively the checks pass (so a failure under detbuild is detbuild's).

use crate::common::*;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// A self-signed certificate valid 30 days, made with a fresh key.
const MAKE_CERT: &str = "openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem \
                         -days 30 -subj /CN=x 2>/dev/null";
const VERIFY_CERT: &str = "openssl verify -CAfile c.pem c.pem";
const CERT_DATES: &str = "openssl x509 -noout -startdate -enddate -in c.pem";

/// `cmd` run in `dir`.
fn inside(dir: &Path, mut cmd: Command) -> Command {
    cmd.current_dir(dir);
    cmd
}

/// `argv` natively (`None`) or under `detbuild flags`.
fn either(flags: Option<&[&str]>, argv: &[&str]) -> Command {
    match flags {
        Some(f) => det(f, argv),
        None => native(argv),
    }
}

/// `sh -c text` in `dir`, natively or under `detbuild flags`.
fn script_in(dir: &Path, flags: Option<&[&str]>, text: &str) -> Output {
    run(&mut inside(dir, either(flags, &["sh", "-c", text])))
}

/// `sh -c text` in a fresh directory, natively or under `detbuild flags`.
fn script(label: &str, flags: Option<&[&str]>, text: &str) -> Output {
    script_in(&tempdir(label), flags, text)
}

/// OpenSSL's rendering of `epoch` (`notBefore=Nov 14 22:13:20 2023 GMT`), from `date`.
fn openssl_date(epoch: &str) -> String {
    let mut cmd = native(&["date", "-u", "-d", &format!("@{epoch}"), "+%b %e %T %Y GMT"]);
    run(&mut cmd).ok().trim_end().to_string()
}

// Promise: a certificate made by `openssl req` and verified by `openssl verify` in the same
// script verifies under detbuild, and carries the build's dates (the epoch), identical across
// runs; natively it verifies too but carries today's date.
#[test]
fn a_certificate_made_in_a_script_verifies_in_it() {
    if !have_tools(&["openssl"], "see .ci/run") {
        return;
    }
    let text = format!("{MAKE_CERT} && {CERT_DATES} && {VERIFY_CERT}");
    let start = format!("notBefore={}", openssl_date(EPOCH));
    let n = script("cert-native", None, &text).ok();
    assert!(n.contains("c.pem: OK"), "{n}");
    assert!(
        !n.contains(&start),
        "natively the certificate is dated today:\n{n}"
    );
    let flags = ["--epoch", EPOCH];
    let d1 = script("cert-det", Some(&flags), &text).ok();
    let d2 = script("cert-det", Some(&flags), &text).ok();
    assert_eq!(d1, d2, "the certificate's dates changed between runs");
    assert!(d1.contains("c.pem: OK") && d1.contains(&start), "{d1}");
    let other = script("cert-other", Some(OTHER_EPOCH), &text).ok();
    assert!(other.contains("c.pem: OK") && other != d1, "{other}");
}

/// A Makefile whose `verified` recipe checks the certificate an earlier recipe made, beside
/// independent jobs that keep a `-j4` build busy.
const CERT_MAKEFILE: &str = "\
all: verified a b c
c.pem:
\topenssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 30 -subj /CN=x 2>/dev/null
verified: c.pem
\topenssl verify -CAfile c.pem c.pem > $@
\topenssl x509 -noout -startdate -in c.pem >> $@
a b c:
\tsleep 0.2; date +%s > $@
";

fn make_cert(label: &str, flags: Option<&[&str]>, jobs: &str) -> String {
    let dir = tempdir(label);
    std::fs::write(dir.join("Makefile"), CERT_MAKEFILE).unwrap();
    run(&mut inside(&dir, either(flags, &["make", "-s", jobs]))).ok();
    std::fs::read_to_string(dir.join("verified")).unwrap()
}

// Promise: a certificate made in one make recipe verifies in a dependent recipe, at -j1 and at
// -j4, with the same bytes (the epoch's date) either way; natively it is dated today.
#[test]
fn a_certificate_made_in_one_recipe_verifies_in_the_next() {
    if !have_tools(&["openssl", "make"], "see .ci/run") {
        return;
    }
    let start = format!("notBefore={}", openssl_date(EPOCH));
    let n = make_cert("mkcert-native", None, "-j1");
    assert!(n.contains("c.pem: OK") && !n.contains(&start), "{n}");
    let flags = ["--epoch", EPOCH];
    let j1 = make_cert("mkcert-j1", Some(&flags), "-j1");
    let j4 = make_cert("mkcert-j4", Some(&flags), "-j4");
    assert!(j1.contains("c.pem: OK") && j1.contains(&start), "{j1}");
    assert_eq!(j1, j4, "-j1 and -j4 differ");
}

/// A GnuPG home with a key, a file and its detached signature, all made natively (before the
/// build); returns (home, directory). Every gpg call is bounded and the agent is stopped.
fn signed_file(label: &str) -> (String, std::path::PathBuf) {
    let dir = tempdir(label);
    let home = dir.join("h");
    std::fs::create_dir(&home).unwrap();
    std::fs::write(dir.join("data"), "signed before the build\n").unwrap();
    let home = home.to_str().unwrap().to_string();
    let gpg = |args: &[&str]| {
        let mut cmd = native(&["gpg", "--batch", "--no-tty", "--homedir", &home]);
        cmd.args(args);
        run_within(&mut inside(&dir, cmd), Duration::from_secs(60))
    };
    let steps: [&[&str]; 3] = [
        &[
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Signer <s@example.org>",
            "ed25519",
            "sign",
            "never",
        ],
        &["--detach-sign", "-o", "data.sig", "data"],
        &["--export", "-o", "pub.gpg"],
    ];
    let mut outs = Vec::new();
    for args in steps {
        outs.push(gpg(args));
    }
    let mut kill = native(&["gpgconf", "--homedir", &home, "--kill", "all"]);
    run_within(&mut kill, Duration::from_secs(20));
    for o in outs {
        o.ok();
    }
    (home, dir)
}

// Promise: a detached signature made natively before the build verifies with gpgv under
// detbuild with an epoch before the key existed, as natively; with gpgv switched to the build's
// clock it fails ("created in the future"), which is what the default prevents.
#[test]
fn a_signature_made_before_the_build_verifies_with_gpgv() {
    if !have_tools(&["gpg", "gpgv", "gpgconf"], "see .ci/run") {
        return;
    }
    let (_, dir) = signed_file("gpgv");
    let argv = ["gpgv", "--keyring", "./pub.gpg", "data.sig", "data"];
    let limit = Duration::from_secs(30);
    let n = run_within(&mut inside(&dir, native(&argv)), limit);
    assert!(n.stderr.contains("Good signature"), "{}", n.describe());
    n.ok();
    let d = run_within(&mut inside(&dir, det(&["--epoch", EPOCH], &argv)), limit);
    assert!(d.stderr.contains("Good signature"), "{}", d.describe());
    d.ok();
    std::fs::write(
        dir.join("detbuild.toml"),
        "[programs.gpgv]\nclock = \"fake\"\n",
    )
    .unwrap();
    let faked = run_within(&mut inside(&dir, det(&["--epoch", EPOCH], &argv)), limit);
    assert!(
        !faked.status.success() && faked.stderr.contains("in the future"),
        "gpgv on the build's clock should reject a key from after the epoch:\n{}",
        faked.describe()
    );
}

// Promise: `gpg --import` then `gpg --verify` of a key and signature made before the build work
// under detbuild with an epoch in the past, as natively.
#[test]
fn gpg_imports_and_verifies_a_signature_made_before_the_build() {
    if !have_tools(&["gpg", "gpgconf"], "see .ci/run") {
        return;
    }
    let (_, dir) = signed_file("gpg-verify");
    for flags in [None, Some(["--epoch", EPOCH])] {
        let home = tempdir("gpg-verify-home");
        let home = home.to_str().unwrap();
        let text = format!(
            "gpg --batch --no-tty --homedir {home} --import pub.gpg && \
             gpg --batch --no-tty --homedir {home} --verify data.sig data; s=$?; \
             gpgconf --homedir {home} --kill all; exit $s"
        );
        let cmd = either(flags.as_ref().map(|f| &f[..]), &["sh", "-c", &text]);
        let out = run_within(&mut inside(&dir, cmd), Duration::from_secs(60));
        assert!(out.stderr.contains("Good signature"), "{}", out.describe());
        out.ok();
    }
}

// Promise: key generators draw real randomness under detbuild (two runs give different keys)
// while the certificates they make carry the build's dates (identical across runs); natively
// the dates are today's.
#[test]
fn key_generators_get_real_randomness_and_the_builds_dates() {
    if !have_tools(&["openssl", "ssh-keygen"], "see .ci/run") {
        return;
    }
    let text = format!(
        "{MAKE_CERT} && {CERT_DATES} && openssl pkey -pubout -in k.pem && \
         ssh-keygen -q -t ed25519 -N '' -C x -f id && cat id.pub"
    );
    let split = |out: &str| -> (String, String) {
        let (dates, keys): (Vec<&str>, Vec<&str>) = out.lines().partition(|l| l.starts_with("not"));
        (dates.join("\n"), keys.join("\n"))
    };
    let (native_dates, _) = split(&script("keygen-native", None, &text).ok());
    let start = format!("notBefore={}", openssl_date(EPOCH));
    assert!(!native_dates.contains(&start), "{native_dates}");
    let flags = ["--epoch", EPOCH];
    let (dates1, keys1) = split(&script("keygen-det", Some(&flags), &text).ok());
    let (dates2, keys2) = split(&script("keygen-det", Some(&flags), &text).ok());
    assert!(dates1.contains(&start), "{dates1}");
    assert_eq!(dates1, dates2, "the certificate dates changed between runs");
    assert!(keys1.contains("BEGIN PUBLIC KEY") && keys1.contains("ssh-ed25519"));
    // Each key whole: the RSA key's base64 lines joined, and the ssh key's line. (Single lines
    // may repeat by chance: the RSA key's last line holds one byte of the modulus and the
    // fixed exponent, "...IDAQAB".)
    let keys = |text: &str| -> (String, String) {
        let rsa = text
            .lines()
            .filter(|l| !l.contains("-----") && !l.starts_with("ssh-"))
            .collect();
        let ssh = text.lines().filter(|l| l.starts_with("ssh-")).collect();
        (rsa, ssh)
    };
    let ((rsa1, ssh1), (rsa2, ssh2)) = (keys(&keys1), keys(&keys2));
    assert_ne!(rsa1, rsa2, "the RSA key repeated across runs");
    assert_ne!(ssh1, ssh2, "the ssh key repeated across runs");
}

// Promise: bash's `read -t 5` gets input that arrives after 2 s, in about 2 s, as natively
// (bash computes its deadline on the wall clock and re-reads it before waiting).
#[test]
fn read_with_a_timeout_gets_late_input() {
    let argv = [
        "bash",
        "-c",
        "read -t 5 x < <(sleep 2; echo hi); echo \"x=$x\"",
    ];
    for flags in [None, Some(["--epoch", EPOCH])] {
        let mut cmd = either(flags.as_ref().map(|f| &f[..]), &argv);
        let t = Instant::now();
        let out = run_within(&mut cmd, Duration::from_secs(20)).ok();
        let took = t.elapsed();
        assert_eq!(out, "x=hi\n", "{flags:?}");
        assert!(
            took >= Duration::from_millis(1900) && took < Duration::from_millis(4500),
            "{flags:?}: took {took:?}"
        );
    }
}

/// Runs `argv` natively or under `detbuild --epoch EPOCH` within 30 s; returns stdout and the
/// wall time.
fn timed(flags: Option<&[&str]>, argv: &[&str]) -> (String, Duration) {
    let t = Instant::now();
    let out = run_within(&mut either(flags, argv), Duration::from_secs(30)).ok();
    (out, t.elapsed())
}

fn seconds(line: &str) -> i64 {
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("not seconds: {line:?}"))
}

// Promise: a shell's `date; sleep 2; date` prints two times 2 s apart under detbuild, as
// natively (each program starts where the shell stands, and the shell takes on the time its
// `sleep` child spent), starting at the epoch and identical across runs.
#[test]
fn a_shell_sees_the_time_its_children_spent() {
    let argv = ["sh", "-c", "date +%s; sleep 2; date +%s"];
    let (n, _) = timed(None, &argv);
    let n: Vec<i64> = n.lines().map(seconds).collect();
    assert!((2..=3).contains(&(n[1] - n[0])), "natively: {n:?}");
    let flags = ["--epoch", EPOCH];
    let (d1, _) = timed(Some(&flags), &argv);
    let (d2, _) = timed(Some(&flags), &argv);
    assert_eq!(d1, d2);
    let e: i64 = EPOCH.parse().unwrap();
    assert_eq!(d1, format!("{e}\n{}\n", e + 2));
}

// Promise: a shell loop that polls `date` for a deadline 3 s ahead, sleeping 1 s a turn, ends
// after the same 3 turns and about 3 s as natively (it used to spin forever at the epoch).
#[test]
fn a_shell_loop_polling_date_for_a_deadline_ends() {
    let argv = [
        "sh",
        "-c",
        "end=$(($(date +%s) + 3)); n=0; \
         while [ $(date +%s) -lt $end ]; do sleep 1; n=$((n+1)); done; echo $n",
    ];
    let (n, took) = timed(None, &argv);
    assert!(
        ["2\n", "3\n", "4\n"].contains(&n.as_str()),
        "natively {n:?} in {took:?}"
    );
    let (d, took) = timed(Some(&["--epoch", EPOCH]), &argv);
    assert_eq!(d, "3\n");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

// Promise: a C loop `while (time(NULL) < end) select(.., 250 ms)` (Perl's and old Python's
// sleep) ends after as many turns as natively: a wait that times out moves the clock by its
// timeout, as a sleep does.
#[test]
fn a_select_sleep_loop_ends_as_natively() {
    let argv = [
        "perl",
        "-e",
        "my $end = time + 2; my $n = 0; \
         while (time < $end) { select(undef, undef, undef, 0.25); $n++ } print \"$n\\n\"",
    ];
    if !have_tools(&["perl"], "see .ci/run") {
        return;
    }
    let (n, _) = timed(None, &argv);
    let n: u32 = n.trim().parse().unwrap();
    assert!((4..=8).contains(&n), "natively {n} turns");
    let (d, took) = timed(Some(&["--epoch", EPOCH]), &argv);
    assert_eq!(
        d, "8\n",
        "under detbuild the deadline is exactly 2 s of 250 ms turns"
    );
    assert!(took < Duration::from_secs(4), "took {took:?}");
}

/// Six jobs that print the time before and after sleeping 0.1 to 0.3 s.
const TIMED_JOBS: &str = "\
all: a b c d e f
\t@cat a b c d e f
a b c d e f:
\t@date +%s.%N > $@; sleep 0.$$(( $$(printf %d \"'$@\") % 3 + 1)); date +%s.%N >> $@
";

fn make_times(label: &str, flags: Option<&[&str]>, jobs: &str) -> String {
    let dir = tempdir(label);
    std::fs::write(dir.join("Makefile"), TIMED_JOBS).unwrap();
    script_in(&dir, flags, &format!("make -s {jobs} && date +%s.%N")).ok()
}

// Promise: `make -j1` and `make -j4` over recipes that print the time give identical output
// under detbuild (every job starts where make started; after make, the shell stands at the
// latest job's end), while natively the times differ from run to run.
#[test]
fn make_j1_and_j4_print_the_same_times() {
    if !have_tools(&["make"], "see .ci/run") {
        return;
    }
    let n1 = make_times("times-native", None, "-j1");
    let n4 = make_times("times-native", None, "-j4");
    assert_ne!(n1, n4, "natively the times vary");
    let flags = ["--epoch", EPOCH];
    let j1 = make_times("times-j1", Some(&flags), "-j1");
    let j4 = make_times("times-j4", Some(&flags), "-j4");
    assert_eq!(j1, j4, "-j1 and -j4 differ");
    assert_eq!(j1, make_times("times-j4", Some(&flags), "-j4"));
    let last = j1.lines().last().unwrap();
    let latest = j1.lines().max().unwrap();
    assert_eq!(
        last, latest,
        "after make the shell stands at the latest job's end:\n{j1}"
    );
}

fn xargs_times(label: &str, flags: Option<&[&str]>, procs: &str) -> String {
    let text = format!(
        "printf '%s\\n' 1 3 2 1 3 2 | xargs {procs} -n1 sh -c 'sleep 0.$1; date +%s.%N > out.$$' sh; \
         ls out.* | wc -l; cat out.* | sort; date +%s.%N"
    );
    script(label, flags, &text).ok()
}

// Promise: `xargs -P1` and `xargs -P4` over jobs that print the time give identical output
// under detbuild, while natively the times differ.
#[test]
fn xargs_p1_and_p4_print_the_same_times() {
    let n1 = xargs_times("xargs-native", None, "-P1");
    let n4 = xargs_times("xargs-native", None, "-P4");
    assert_ne!(n1, n4, "natively the times vary");
    let flags = ["--epoch", EPOCH];
    let p1 = xargs_times("xargs-p1", Some(&flags), "-P1");
    let p4 = xargs_times("xargs-p4", Some(&flags), "-P4");
    assert!(p1.starts_with("6\n"), "{p1}");
    assert_eq!(p1, p4, "-P1 and -P4 differ");
}

// Promise: `gpg --quick-gen-key` under detbuild makes a different key each run (real
// randomness) dated at the epoch (the build's clock), identical across runs; natively the
// date is today's.
#[test]
fn gpg_key_generation_gets_real_randomness_and_the_builds_date() {
    if !have_tools(&["gpg", "gpgconf"], "see .ci/run") {
        return;
    }
    let text = "gpg --batch --no-tty --homedir h --pinentry-mode loopback --passphrase '' \
                --quick-gen-key 'K <k@example.org>' ed25519 sign never 2>/dev/null; s=$?; \
                gpg --batch --no-tty --homedir h --with-colons --list-keys 2>/dev/null \
                | grep -E '^(pub|fpr)' | cut -d: -f1,6,10; \
                gpgconf --homedir h --kill all; exit $s";
    let keygen = |label: &str, flags: Option<&[&str]>| {
        let dir = tempdir(label);
        std::fs::create_dir(dir.join("h")).unwrap();
        let cmd = either(flags, &["sh", "-c", text]);
        let out = run_within(&mut inside(&dir, cmd), Duration::from_secs(60)).ok();
        let field = |tag: &str| {
            out.lines()
                .find(|l| l.starts_with(tag))
                .unwrap_or_else(|| panic!("no {tag} in:\n{out}"))
                .to_string()
        };
        (field("pub:"), field("fpr:"))
    };
    let (native_date, _) = keygen("gpg-keygen-native", None);
    let epoch_date = format!("pub:{EPOCH}:");
    assert_ne!(native_date, epoch_date, "natively the key is dated today");
    let flags = ["--epoch", EPOCH];
    let (date1, fpr1) = keygen("gpg-keygen-det", Some(&flags));
    let (date2, fpr2) = keygen("gpg-keygen-det", Some(&flags));
    assert_eq!((&date1, &date2), (&epoch_date, &epoch_date));
    assert_ne!(
        fpr1, fpr2,
        "the same key twice: gpg drew the build's randomness"
    );
}

// Promise (the design's trade-off, see README "Programs by purpose"): `openssl verify` keeps
// the build's clock, so a 30-day certificate made in the build verifies; on the real clock
// (`[programs."openssl:verify"] clock = "real"`) the same certificate has long expired.
#[test]
fn openssl_verify_keeps_the_builds_clock() {
    if !have_tools(&["openssl"], "see .ci/run") {
        return;
    }
    let dir = tempdir("verify-clock");
    let text = format!("{MAKE_CERT} && {VERIFY_CERT}");
    let flags = ["--epoch", EPOCH];
    let out = script_in(&dir, Some(&flags), &text).ok();
    assert!(out.contains("c.pem: OK"), "{out}");
    let toml = "[programs.\"openssl:verify\"]\nclock = \"real\"\n";
    std::fs::write(dir.join("detbuild.toml"), toml).unwrap();
    let real = script_in(&dir, Some(&flags), &text);
    assert!(
        !real.status.success() && format!("{}{}", real.stdout, real.stderr).contains("expired"),
        "{}",
        real.describe()
    );
}
