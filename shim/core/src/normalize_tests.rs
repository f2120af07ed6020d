//! Test vectors and cases for `normalize` (frozen with key v2).
use super::*;

/// The normalized bytes of `argv` and `cwd` under `root`, with markers made visible.
fn norm(root: &str, argv: &[&str], cwd: &str) -> String {
    let mut n = Normalizer::new(root.as_bytes());
    let mut bytes = Vec::new();
    let mut out = |b: &[u8]| bytes.extend_from_slice(b);
    for a in argv {
        n.arg(a.as_bytes(), &mut out);
    }
    n.end_args(&mut out);
    out(b"|");
    n.dir(cwd.as_bytes(), &mut out);
    String::from_utf8(bytes)
        .unwrap()
        .replace("\0\0", "¶")
        .replace("\0\u{1}", "<root>")
        .replace("\0\u{3}", "<out>")
}

#[test]
fn job_words() {
    for w in [
        "-j",
        "--jobs",
        "--parallel",
        "--load-average",
        "--max-load",
        "--max-procs",
    ] {
        assert_eq!(job_word(w.as_bytes()), Job::DropWithCount, "{w}");
    }
    for w in [
        "-j8",
        "-l2.5",
        "-P0",
        "--jobs=4",
        "--parallel=16",
        "--max-procs=3",
        "--load-average=1.5",
        "--jobserver-auth=fifo:/tmp/GMfifo77",
        "--jobserver-fds=3,4",
    ] {
        assert_eq!(job_word(w.as_bytes()), Job::Drop, "{w}");
    }
    assert_eq!(job_word(b"-l"), Job::IfCount(b"-l"));
    assert_eq!(job_word(b"-P"), Job::IfCount(b"-P"));
    assert_eq!(job_word(b"-sj8"), Job::Trim(2));
    assert_eq!(job_word(b"-kwj16"), Job::Trim(3));
    for w in [
        "-jx", "-lm", "-cjf", "-xj", "-j8x", "-sj1.5", "-", "make", "8", "-l.5", "-j-1",
    ] {
        assert_eq!(job_word(w.as_bytes()), Job::Keep, "{w}");
    }
}

#[test]
fn counts() {
    for c in ["0", "8", "16", "2.5", "10.0"] {
        assert!(is_count(c.as_bytes()), "{c}");
    }
    for c in ["", ".", "2.", ".5", "1.2.3", "x", "-1", "1e3"] {
        assert!(!is_count(c.as_bytes()), "{c}");
    }
}

#[test]
fn job_counts_vanish_in_every_form() {
    let base = norm("/r", &["make", "all"], "/r");
    for argv in [
        &["make", "-j8", "all"][..],
        &["make", "-j", "8", "all"],
        &["make", "-j", "all"],
        &["make", "--jobs=3", "all"],
        &["make", "--jobs", "3", "all"],
        &["make", "-l", "4", "all"],
        &["make", "-l4", "all"],
        &["make", "--load-average=2.5", "all"],
        &["make", "all", "--max-load", "2"],
    ] {
        assert_eq!(norm("/r", argv, "/r"), base, "{argv:?}");
    }
    let script = norm("/r", &["sh", "-c", "make all"], "/r");
    for s in [
        "make -j8 all",
        "make -j 16 all",
        "  make   -j1  all ",
        "make all -l 2",
        "MAKEFLAGS=-j8 make all",
        "make --jobserver-auth=fifo:/tmp/GMfifo123 all",
    ] {
        let with_flags = norm("/r", &["sh", "-c", s], "/r");
        let without = if s.starts_with("MAKEFLAGS") {
            norm("/r", &["sh", "-c", "MAKEFLAGS= make all"], "/r")
        } else {
            script.clone()
        };
        assert_eq!(with_flags, without, "{s:?}");
    }
    assert_eq!(
        norm("/r", &["sh", "-c", "make -sj8 all"], "/r"),
        norm("/r", &["sh", "-c", "make -s all"], "/r")
    );
    assert_eq!(
        norm("/r", &["cmake", "--build", "b", "--parallel", "8"], "/r"),
        norm("/r", &["cmake", "--build", "b"], "/r")
    );
    assert_eq!(
        norm("/r", &["xargs", "-P8", "-n1", "sh"], "/r"),
        norm("/r", &["xargs", "-P", "1", "-n1", "sh"], "/r")
    );
    assert_eq!(
        norm("/r", &["env", "MAKEFLAGS=-j8", "make"], "/r"),
        norm("/r", &["env", "MAKEFLAGS=-j1", "make"], "/r")
    );
    assert_eq!(
        norm("/r", &["sh", "-c", "make -j8;echo"], "/r"),
        norm("/r", &["sh", "-c", "make;echo"], "/r")
    );
}

#[test]
fn lookalikes_are_kept() {
    assert_eq!(norm("/r", &["ls", "-l", "x"], "/r"), "ls¶-l¶x¶|.");
    assert_eq!(norm("/r", &["ls", "-l"], "/r"), "ls¶-l¶|.");
    assert_eq!(norm("/r", &["grep", "-P", "a+"], "/r"), "grep¶-P¶a+¶|.");
    assert_eq!(
        norm("/r", &["sh", "-c", "ls -l x"], "/r"),
        "sh¶-c¶ls -l x¶|."
    );
    assert_eq!(
        norm("/r", &["sh", "-c", "grep -P"], "/r"),
        "sh¶-c¶grep -P¶|."
    );
    assert_eq!(norm("/r", &["cc", "-lm"], "/r"), "cc¶-lm¶|.");
    assert_eq!(norm("/r", &["tar", "-cjf", "a"], "/r"), "tar¶-cjf¶a¶|.");
    assert_eq!(
        norm("/r", &["cargo", "build", "4"], "/r"),
        "cargo¶build¶4¶|."
    );
    assert_eq!(norm("/r", &["a", ""], "/r"), "a¶¶|.");
    assert_ne!(norm("/r", &["a", ""], "/r"), norm("/r", &["a"], "/r"));
}

#[test]
fn separators_and_whitespace() {
    assert_eq!(
        norm("/r", &["sh", "-c", " a  b\t&& c>d 'e' "], "/r"),
        "sh¶-c¶a b && c>d 'e'¶|."
    );
    assert_ne!(
        norm("/r", &["x", "a b"], "/r"),
        norm("/r", &["x", "a", "b"], "/r")
    );
}

#[test]
fn root_is_a_marker_even_with_separators_in_it() {
    assert_eq!(
        norm(
            "/home/a/src",
            &["cc", "-I/home/a/src/inc", "x.c"],
            "/home/a/src/sub"
        ),
        "cc¶-I<root>/inc¶x.c¶|sub"
    );
    assert_eq!(
        norm(
            "/tmp/my dir",
            &["sh", "-c", "cd '/tmp/my dir/x' && ls"],
            "/tmp/my dir"
        ),
        "sh¶-c¶cd '<root>/x' && ls¶|."
    );
    assert_eq!(
        norm("/a:b", &["x", "PATH=/a:b/bin:/usr/bin"], "/a:b"),
        "x¶PATH=<root>/bin:<out>bin¶|."
    );
}

#[test]
fn outside_paths_keep_their_last_component() {
    assert_eq!(
        norm("/r", &["/usr/bin/python3", "/srv/b/pkg-1/src/"], "/r"),
        "<out>python3¶<out>src¶|."
    );
    assert_eq!(
        norm("/r", &["sh", "-c", "cd /srv/b/src && make -C /x/y"], "/r"),
        "sh¶-c¶cd <out>src && make -C <out>y¶|."
    );
    assert_eq!(
        norm(
            "/r",
            &[
                "cc",
                "-I/opt/x/include",
                "--prefix=/usr/local",
                "-Wl,-rpath,/o/lib"
            ],
            "/r"
        ),
        "cc¶-I<out>include¶--prefix=<out>local¶-Wl,-rpath,<out>lib¶|."
    );
    assert_eq!(
        norm(
            "/r",
            &["git", "clone", "https://h/a/b", "//srv/x", "a/b/c", "/"],
            "/r"
        ),
        "git¶clone¶https://h/a/b¶//srv/x¶a/b/c¶<out>¶|."
    );
    assert_eq!(
        norm("/r", &["make", "-C", "/tmp/a/src"], "/r"),
        norm("/r", &["make", "-C", "/tmp/bb/longer/src"], "/r")
    );
}

#[test]
fn directories() {
    assert_eq!(relative_dir(b"/r", b"/r"), Some(&b"."[..]));
    assert_eq!(relative_dir(b"/r", b"/r/a/b"), Some(&b"a/b"[..]));
    assert_eq!(relative_dir(b"/r", b"/rx"), None);
    assert_eq!(relative_dir(b"/r", b"/other"), None);
    assert_eq!(relative_dir(b"", b"/x"), None);
    assert_eq!(norm("/r", &[], "/r/a/b"), "|a/b");
    assert_eq!(norm("/r", &[], "/srv/x/src"), "|<out>src");
    assert_eq!(norm("/", &[], "/srv/x/src"), "|<out>src");
    assert_eq!(norm("/r", &[], "/"), "|<out>");
    assert_eq!(last_component(b"/a/b//"), b"b");
    assert_eq!(last_component(b"/"), b"");
}
