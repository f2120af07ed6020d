//! Tests of `policy`: the default list, resolution order, matchers.
use super::*;

fn list() -> String {
    DEFAULTS
        .iter()
        .map(|d| format!("{}={}", d.matcher, d.letters))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn defaults_split_drivers_and_key_generators() {
    let l = list();
    let make = Policy::FAKE.resolve(l.as_bytes(), b"/usr/bin/make", Some(b"-j4"));
    assert!(!make.fakes(Source::Clock) && !make.fakes(Source::Random));
    assert!(!make.keyed());
    let req = Policy::FAKE.resolve(l.as_bytes(), b"openssl", Some(b"req"));
    assert!(req.fakes(Source::Clock) && !req.fakes(Source::Random));
    assert!(req.keyed());
    let dgst = Policy::FAKE.resolve(l.as_bytes(), b"openssl", Some(b"dgst"));
    assert_eq!(dgst, Policy::FAKE);
    assert_eq!(
        Policy::FAKE.resolve(l.as_bytes(), b"cc", None),
        Policy::FAKE
    );
}

#[test]
fn ssh_keeps_the_real_user_and_host() {
    let p = Policy::FAKE.resolve(list().as_bytes(), b"/usr/bin/ssh", Some(b"host"));
    assert!(!p.fakes(Source::Host) && !p.fakes(Source::Identity));
    assert!(p.fakes(Source::Dirs));
}

#[test]
fn verifiers_see_the_real_clock_wherever_their_command_option_comes() {
    let l = list();
    let args = |a: &'static [&'static [u8]]| a.iter().copied();
    let verify = Policy::FAKE.resolve_args(
        l.as_bytes(),
        b"/usr/bin/gpg",
        args(&[b"--batch", b"--verify", b"s.asc"]),
    );
    assert!(!verify.fakes(Source::Clock) && !verify.fakes(Source::Random));
    let sign = Policy::FAKE.resolve_args(l.as_bytes(), b"gpg", args(&[b"--sign", b"f"]));
    assert!(sign.fakes(Source::Clock) && !sign.fakes(Source::Random));
    let operand = Policy::FAKE.resolve_args(l.as_bytes(), b"gpg", args(&[b"--", b"--verify"]));
    assert!(operand.fakes(Source::Clock));
    let gpgv = Policy::FAKE.resolve_args(l.as_bytes(), b"gpgv", args(&[b"x"]));
    assert!(!gpgv.fakes(Source::Clock) && gpgv.fakes(Source::Random));
    // A subcommand matcher still needs the first argument.
    let req = Policy::FAKE.resolve_args(l.as_bytes(), b"openssl", args(&[b"x", b"req"]));
    assert_eq!(req, Policy::FAKE);
    let verify = Policy::FAKE.resolve_args(l.as_bytes(), b"openssl", args(&[b"verify"]));
    assert_eq!(verify, Policy::FAKE);
}

#[test]
fn specific_and_later_entries_win() {
    let l = b"tool=cr,tool:x=C,tool=R";
    let p = Policy::FAKE.resolve(l, b"tool", Some(b"x"));
    assert!(p.fakes(Source::Clock) && p.fakes(Source::Random));
    let p = Policy::FAKE.resolve(l, b"tool", Some(b"y"));
    assert!(!p.fakes(Source::Clock) && p.fakes(Source::Random));
}

#[test]
fn unknown_letters_and_malformed_entries_are_ignored() {
    let p = Policy::FAKE.resolve(b"a=zq,noequals,,a=c", b"a", None);
    assert!(!p.fakes(Source::Clock) && p.fakes(Source::Random));
    let real_clock = Policy::FAKE.with(Source::Clock, false);
    assert_eq!(real_clock.resolve(b"a=C", b"a", None), Policy::FAKE);
}

#[test]
fn archivers_are_clamped_build_drivers_are_not() {
    let l = list();
    let clamps = |argv0: &str| {
        Policy::FAKE
            .resolve(l.as_bytes(), argv0.as_bytes(), None)
            .fakes(Source::Mtime)
    };
    for name in [
        "tar",
        "/usr/bin/tar",
        "gzip",
        "zip",
        "jar",
        "mkfs.ext4",
        "cpio",
    ] {
        assert!(clamps(name), "{name}");
        let p = Policy::FAKE.resolve(l.as_bytes(), name.as_bytes(), None);
        assert!(p.keyed() && !p.fakes(Source::Owner), "{name}");
    }
    for name in [
        "make", "ninja", "gmake", "ar", "python3", "cc", "tart", "", "/",
    ] {
        assert!(!clamps(name), "{name}");
    }
    assert!(!Policy::FAKE.fakes(Source::Mtime) && !Policy::FAKE.fakes(Source::Owner));
}

#[test]
fn archivers_that_record_inode_numbers_get_stable_ones() {
    let l = list();
    let renumbers = |argv0: &str| {
        Policy::FAKE
            .resolve(l.as_bytes(), argv0.as_bytes(), None)
            .fakes(Source::Inodes)
    };
    for name in [
        "cpio",
        "/usr/bin/cpio",
        "bsdcpio",
        "tar",
        "bsdtar",
        "xorriso",
    ] {
        assert!(renumbers(name), "{name}");
    }
    for name in ["mksquashfs", "mke2fs", "gzip", "cp", "find", "make", "ls"] {
        assert!(!renumbers(name), "{name}");
    }
    assert!(!Policy::FAKE.fakes(Source::Inodes));
    let p = Policy::FAKE.resolve(b"tool=crI", b"tool", None);
    assert!(p.fakes(Source::Inodes) && !p.keyed());
}

#[test]
fn file_switches_do_not_key_a_program() {
    let p = Policy::FAKE.resolve(b"tool=crTO", b"tool", None);
    assert!(p.fakes(Source::Mtime) && p.fakes(Source::Owner) && !p.keyed());
    let p = Policy::FAKE.resolve(b"tar=t", b"tar", None);
    assert_eq!(p, Policy::FAKE);
}

#[test]
fn default_entries_are_well_formed() {
    for d in DEFAULTS {
        assert!(crate::settings::valid_entry(d.matcher), "{}", d.matcher);
        assert!(d.letters.bytes().all(|l| Source::ALL
            .iter()
            .any(|s| s.letter() == l.to_ascii_lowercase())));
        assert!(!d.why.is_empty() && !d.why.contains('\n'), "{}", d.matcher);
    }
    let mut names: Vec<_> = DEFAULTS.iter().map(|d| d.matcher).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), DEFAULTS.len(), "duplicate entries");
}
