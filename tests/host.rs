//! The host: every way a program learns the host name (`uname`, `gethostname`,
//! `getdomainname`, `/proc/sys/kernel/hostname`, `/etc/hostname`, and the tools built on
//! them) reports the configured value, `detbuild` by default.
//!
//! The native control runs each probe in a private UTS and mount namespace (`unshare`, as
//! root) under two different host names, with `/etc/hostname` bind-mounted to match, so the
//! probe really varies with the machine.

use crate::common::*;
use std::path::Path;

/// What a build learns about its host, one line each.
const SCRIPT: &str = "hostname; uname -n; \
    python3 -c 'import socket, os; print(socket.gethostname(), os.uname().nodename)'; \
    cat /proc/sys/kernel/hostname /etc/hostname /proc/sys/kernel/domainname";

/// `sh -c` that renames the host to `name` in private namespaces, then runs `then`.
fn as_host(dir: &Path, name: &str, then: &str) -> Vec<String> {
    let file = dir.join(format!("hostname-{name}"));
    std::fs::write(&file, format!("{name}\n")).unwrap();
    let inner = format!(
        "hostname {name} && domainname {name}.example && mount --bind {} /etc/hostname && {then}",
        file.display()
    );
    ["unshare", "--uts", "--mount", "sh", "-c", &inner]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn run_as(dir: &Path, name: &str, then: &str) -> String {
    let argv = as_host(dir, name, then);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    run(&mut native(&argv)).ok()
}

/// `detbuild FLAGS -- sh -c SCRIPT`, quoted for an inner shell.
fn under_detbuild(flags: &str, script: &str) -> String {
    format!(
        "exec {} --epoch {EPOCH} {flags} -- sh -c '{}'",
        detbuild_bin().display(),
        script.replace('\'', r"'\''")
    )
}

// Promise: hostname, uname -n, Python's socket.gethostname and os.uname, and reads of
// /proc/sys/kernel/hostname, /etc/hostname and /proc/sys/kernel/domainname all report the
// default host (`detbuild`, domain `(none)`) whatever the machine's name.
#[test]
fn host_name_is_the_same_on_every_machine() {
    if !can_unshare() {
        return;
    }
    let dir = tempdir("host");
    let (a, b) = (run_as(&dir, "alpha", SCRIPT), run_as(&dir, "beta", SCRIPT));
    assert_ne!(
        a, b,
        "native control: two host names gave the same output:\n{a}"
    );
    assert!(a.contains("alpha.example"), "{a}");
    let fixed = run_as(&dir, "alpha", &under_detbuild("", SCRIPT));
    assert_eq!(fixed, run_as(&dir, "beta", &under_detbuild("", SCRIPT)));
    assert_eq!(
        fixed,
        "detbuild\ndetbuild\ndetbuild detbuild\ndetbuild\ndetbuild\n(none)\n"
    );
}

// Promise: a C program's uname (every field), gethostname (also into a buffer too small,
// which fails with ENAMETOOLONG after copying what fits) and getdomainname report the values
// configured in [host].
#[test]
fn configured_host_values_reach_c_programs() {
    if !can_unshare() {
        return;
    }
    let dir = tempdir("host-config");
    let config = dir.join("detbuild.toml");
    std::fs::write(
        &config,
        "[host]\nname = \"b1host\"\ndomain = \"lab\"\nrelease = \"6.1.0-det\"\n\
         version = \"#1 SMP det\"\nmachine = \"detarch\"\n",
    )
    .unwrap();
    let probe = probe("host");
    let probe = probe.to_str().unwrap();
    let (a, b) = (run_as(&dir, "alpha", probe), run_as(&dir, "beta", probe));
    assert_ne!(
        a, b,
        "native control: two host names gave the same output:\n{a}"
    );
    let flags = format!("--config {}", config.display());
    let fixed = run_as(&dir, "alpha", &under_detbuild(&flags, probe));
    assert_eq!(fixed, run_as(&dir, "beta", &under_detbuild(&flags, probe)));
    assert_eq!(
        fixed,
        "sysname=Linux\nnodename=b1host\nrelease=6.1.0-det\nversion=#1 SMP det\n\
         machine=detarch\ndomainname=lab\ngethostname=b1host\ngetdomainname=lab\n\
         tiny=-1 File name too long b1h\n"
    );
}

// Promise: with `[programs.hostname] host = "real"`, hostname prints the machine's name
// while other programs still see the configured one.
#[test]
fn host_switch_real_shows_the_machines_name() {
    if !can_unshare() {
        return;
    }
    let dir = tempdir("host-real");
    let config = dir.join("detbuild.toml");
    std::fs::write(&config, "[programs.hostname]\nhost = \"real\"\n").unwrap();
    let flags = format!("--config {}", config.display());
    let out = run_as(&dir, "alpha", &under_detbuild(&flags, "hostname; uname -n"));
    assert_eq!(out, "alpha\ndetbuild\n");
}

/// The addresses (first column) of `getent hosts` output, sorted.
fn addresses(getent: &str) -> Vec<String> {
    let mut all: Vec<String> = getent
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect();
    all.sort();
    all.dedup();
    all
}

// Promise: a program that looks up its own host name finds this machine's addresses under the
// fake name, as it finds them natively under the real one: `hostname -f` (getaddrinfo with
// AI_CANONNAME), `getent hosts` (gethostbyname2), `getent ahosts` (getaddrinfo), Perl's
// gethostbyname, Python's gethostbyname_ex (gethostbyname_r) and Java's getLocalHost (as Maven
// and Gradle call it). The resolver does not know the fake name, so without the shim's help
// these fail (lsof's test suite did).
#[test]
fn own_host_name_resolves_to_this_machine() {
    if !have_tools(
        &["hostname", "getent", "perl", "python3", "java"],
        "hostname libc-bin perl python3 default-jdk-headless",
    ) {
        return;
    }
    let real = run(&mut native(&["hostname"])).ok().trim().to_string();
    let natively = run(&mut native(&["getent", "hosts", &real]));
    if !capable(
        natively.status.success(),
        &format!("a resolvable host name (`getent hosts {real}` fails; add it to /etc/hosts)"),
    ) {
        return;
    }
    let expected = addresses(&natively.stdout);
    let unknown = run(&mut native(&["getent", "hosts", "detbuild"]));
    assert!(
        !unknown.status.success(),
        "native control: the resolver knows `detbuild`, so this test proves nothing:\n{}",
        unknown.describe()
    );
    let java = tempdir("own-host").join("LocalHost.java");
    std::fs::write(
        &java,
        "public class LocalHost { public static void main(String[] a) throws Exception {\n\
         System.out.println(java.net.InetAddress.getLocalHost().getHostName()); } }\n",
    )
    .unwrap();
    let script = format!(
        r#"hostname -f; echo --
        getent hosts "$(hostname)"; echo --
        getent ahosts DetBuild.; echo --
        perl -e '@h = gethostbyname("detbuild") or die "no answer\n"; print "$h[0]\n"'
        python3 -c 'import socket; print(socket.gethostbyname_ex(socket.gethostname())[0])'
        java {}"#,
        java.display()
    );
    let out = run(&mut det(&["--epoch", EPOCH], &["sh", "-c", &script])).ok();
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 4, "{out}");
    assert_eq!(parts[0], "detbuild\n", "hostname -f");
    assert_eq!(addresses(parts[1]), expected, "getent hosts:\n{out}");
    assert!(
        parts[1]
            .lines()
            .all(|l| l.split_whitespace().nth(1) == Some("detbuild")),
        "getent hosts names another host:\n{out}"
    );
    assert_eq!(addresses(parts[2]), expected, "getent ahosts:\n{out}");
    assert_eq!(
        parts[3], "detbuild\ndetbuild\ndetbuild\n",
        "Perl, Python, Java:\n{out}"
    );
}

// Promise: the fake name resolves even on a machine whose own name does not (a builder missing
// from /etc/hosts; reprotest's host variation): to the loopback addresses, under the fake name,
// so a build's self-lookup (lsof's test suite) works there too. Natively the lookup fails.
#[test]
fn own_host_name_resolves_where_the_machines_name_does_not() {
    if !can_unshare() || !have_tools(&["getent", "python3"], "libc-bin python3") {
        return;
    }
    let dir = tempdir("unresolvable-host");
    let name = "i-capture-the-hostname";
    let native = run_as(&dir, name, "getent hosts \"$(hostname)\"; echo status=$?");
    assert_eq!(native, "status=2\n", "native control: {name} resolves");
    let script = r#"getent hosts "$(hostname)"; echo --
        python3 -c 'import socket; print(socket.gethostbyname_ex(socket.gethostname())[0])'"#;
    let out = run_as(&dir, name, &under_detbuild("", script));
    let parts: Vec<&str> = out.split("--\n").collect();
    assert_eq!(parts.len(), 2, "{out}");
    let loopback = addresses(parts[0]);
    assert!(
        !loopback.is_empty() && loopback.iter().all(|a| a.starts_with("127.") || a == "::1"),
        "not the loopback addresses:\n{out}"
    );
    assert!(
        parts[0].lines().all(|l| l.ends_with(" detbuild")),
        "getent hosts names another host:\n{out}"
    );
    assert_eq!(parts[1], "detbuild\n", "Python:\n{out}");
}

// Promise: copying the host-name files (`cp /etc/hostname DIR/etc/`, as debootstrap does) and
// the CPU list works under detbuild and copies what the build sees: their `fstat` reports the
// real file's device and inode, as `cp` checks ("replaced while being copied").
#[test]
fn provided_files_can_be_copied() {
    let dir = tempdir("copy-hostname");
    let script = "cp /etc/hostname h && cp /proc/sys/kernel/hostname k && cp /proc/cpuinfo c \
                  && cat h k && grep -c ^processor c";
    let mut cmd = det(&["--epoch", EPOCH], &["sh", "-c", script]);
    let out = run(cmd.current_dir(&dir)).ok();
    assert_eq!(out, "detbuild\ndetbuild\n4\n");
}
