//! A minimal Debian image, end to end: `debootstrap --variant=minbase bookworm` under detbuild,
//! then the README's post-processing and tarball, twice, in two directories at two times.
//!
//! SLOW: four debootstrap runs (two native, two under detbuild), about 1.5 min each on two
//! cores. The packages are downloaded once (`debootstrap --make-tarball`, about 30 s) into
//! `target/cache/image/` and every later run unpacks them offline.

use crate::common::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SUITE: &str = "bookworm";
const MIRROR: &str = "http://deb.debian.org/debian";
/// The suite's Release file inside the package tarball (its `Date:` is the image's epoch).
const RELEASE: &str = "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_Release";

fn progress(msg: &str) {
    crate::common::progress("image", msg);
}

/// The package tarball, downloaded into `target/cache/image/` on first use.
fn packages() -> PathBuf {
    let cache = cache_dir("image");
    let tgz = cache.join(format!("{SUITE}-minbase.tgz"));
    if tgz.is_file() {
        return tgz;
    }
    progress(&format!(
        "downloading {SUITE} minbase packages into {}",
        tgz.display()
    ));
    let part = cache.join(format!("{SUITE}-minbase.tgz.part"));
    let work = tempdir("image-download");
    let argv = [
        "debootstrap",
        "--variant=minbase",
        &format!("--make-tarball={}", part.display()),
        SUITE,
        work.to_str().unwrap(),
        MIRROR,
    ];
    run_within(&mut native(&argv), Duration::from_secs(900)).ok();
    std::fs::rename(&part, &tgz).unwrap();
    let _ = std::fs::remove_dir_all(&work);
    tgz
}

/// The image epoch: the `Date:` of the suite's Release file the packages came with.
fn release_epoch(tgz: &Path) -> String {
    let release = run(&mut native(&[
        "tar",
        "-xOzf",
        tgz.to_str().unwrap(),
        RELEASE,
    ]))
    .ok();
    let date = release
        .lines()
        .find_map(|l| l.strip_prefix("Date: "))
        .unwrap_or_else(|| panic!("no Date: in {RELEASE}"));
    run(&mut native(&["date", "-u", "-d", date, "+%s"]))
        .ok()
        .trim()
        .to_string()
}

/// The README's commands ("Building an image"): debootstrap from the package tarball, the
/// post-processing step for what the shim cannot reach, then the tarball.
fn script(tgz: &Path) -> String {
    format!(
        "debootstrap --variant=minbase --unpack-tarball={tgz} {SUITE} root {MIRROR} >log 2>&1 \
         || {{ tail -n 30 log root/debootstrap/debootstrap.log; exit 1; }}
         rm -f root/var/cache/ldconfig/aux-cache root/etc/resolv.conf
         tar --sort=name --numeric-owner --xattrs --xattrs-include='*' \
             --mtime=@$SOURCE_DATE_EPOCH --clamp-mtime \
             --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
             -C root -cf image.tar .",
        tgz = tgz.display()
    )
}

/// One build in a fresh directory named `name`, natively or under detbuild, with
/// `SOURCE_DATE_EPOCH` set either way; returns the tarball.
fn build(name: &str, under_detbuild: bool, tgz: &Path, epoch: &str) -> Vec<u8> {
    let dir = tempdir(name);
    let argv = ["sh", "-c", &script(tgz)];
    let mut cmd = if under_detbuild {
        det(&[], &argv)
    } else {
        native(&argv)
    };
    cmd.env("SOURCE_DATE_EPOCH", epoch).current_dir(&dir);
    let how = if under_detbuild { "detbuild" } else { "native" };
    progress(&format!("{how} debootstrap in {} ...", dir.display()));
    let start = Instant::now();
    run_within(&mut cmd, Duration::from_secs(900)).ok();
    progress(&format!(
        "{how} debootstrap + tar: {:.0} s",
        start.elapsed().as_secs_f64()
    ));
    let image = std::fs::read(dir.join("image.tar")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    image
}

/// Member names of a tar file.
fn names(tar: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(tar);
    archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().display().to_string())
        .collect()
}

// Promise (slow): a minimal Debian image made by `debootstrap --variant=minbase` under detbuild
// with the README's post-processing and tar command is bit-identical in two runs at different
// times in two directories, and holds nothing of detbuild's; natively (SOURCE_DATE_EPOCH set,
// same commands) the two tarballs differ (dpkg's and update-alternatives' logs carry the wall
// clock).
#[test]
fn debootstrap_minbase_image_is_identical() {
    if !require_root("debootstrap unpacks as root") || !have_tools(&["debootstrap"], "debootstrap")
    {
        return;
    }
    let tgz = packages();
    let epoch = release_epoch(&tgz);
    progress(&format!("epoch {epoch} (the Release file's Date)"));
    let native_a = build("image-native-a", false, &tgz, &epoch);
    let native_b = build("image-native-bbbbbb", false, &tgz, &epoch);
    assert!(
        native_a != native_b,
        "natively the two images were identical, so this proves nothing"
    );
    let det_a = build("image-det-a", true, &tgz, &epoch);
    let det_b = build("image-det-bbbbbb", true, &tgz, &epoch);
    let listed = names(&det_a);
    assert!(listed.len() > 5000, "{} members", listed.len());
    assert!(
        !listed.iter().any(|n| n.contains("detbuild")),
        "detbuild's files in the image: {:?}",
        listed
            .iter()
            .filter(|n| n.contains("detbuild"))
            .collect::<Vec<_>>()
    );
    if det_a != det_b {
        let (a, b) = (names(&det_a), names(&det_b));
        panic!(
            "the two images under detbuild differ ({} and {} bytes; members only in one: {:?})",
            det_a.len(),
            det_b.len(),
            a.iter()
                .filter(|n| !b.contains(n))
                .chain(b.iter().filter(|n| !a.contains(n)))
                .collect::<Vec<_>>()
        );
    }
}
