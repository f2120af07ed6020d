//! Source trees for `check` and `record`: walking with excludes, copying, finding what a build
//! created or changed, and hashing.
//!
//! - **Excludes**: `--exclude GLOB` and the simple lines of the source's top `.gitignore`
//!   (no `!` negations; a pattern with a `/` inside matches the relative path, one without
//!   matches any path component; a trailing `/` is dropped). An excluded directory is skipped
//!   whole.
//! - **Copying** keeps regular files (through `std::fs::copy`, so the kernel copies the data
//!   and this process reads nothing), their permissions, symlinks (as links) and directories;
//!   special files (fifos, sockets, devices) are skipped and counted. The order in which files
//!   are created can be reversed, to vary directory order the way reprotest does.
//! - **What a build made**: after the copy each file's (size, mtime, inode) is remembered; after
//!   the build every file whose triple changed, or that is new, is an artifact. Unchanged
//!   files are never read.
//! - **Hashing** streams each file through SHA-256 in 64 KiB blocks; a symlink's digest is its
//!   target's text's with a `symlink:` prefix, a special file's that of `special`.

use crate::error::Error;
use crate::fail;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Which paths to leave out.
pub struct Excludes {
    patterns: Vec<glob::Pattern>,
}

impl Excludes {
    /// From `--exclude` patterns and `src/.gitignore`; a bad pattern is an error.
    pub fn new(src: &Path, given: &[String]) -> Result<Excludes, Error> {
        let mut patterns = Vec::new();
        for g in given {
            patterns.push(
                glob::Pattern::new(g.trim_end_matches('/'))
                    .map_err(|e| fail!("--exclude {g:?}: {e}; use shell-style patterns"))?,
            );
        }
        if let Ok(text) = std::fs::read_to_string(src.join(".gitignore")) {
            for line in text.lines().map(str::trim) {
                if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                    continue;
                }
                let line = line.trim_start_matches('/').trim_end_matches('/');
                if let Ok(p) = glob::Pattern::new(line) {
                    patterns.push(p);
                }
            }
        }
        Ok(Excludes { patterns })
    }

    /// Whether `rel` (relative to the source root) is excluded.
    pub fn excluded(&self, rel: &Path) -> bool {
        let text = rel.to_string_lossy();
        self.patterns.iter().any(|p| {
            p.matches(&text)
                || (!p.as_str().contains('/')
                    && rel
                        .components()
                        .any(|c| p.matches(&c.as_os_str().to_string_lossy())))
        })
    }
}

/// A file's identity for change detection.
pub type Stamp = (u64, i64, i64, u64);

fn stamp(m: &std::fs::Metadata) -> Stamp {
    (m.size(), m.mtime(), m.mtime_nsec(), m.ino())
}

/// Every non-directory entry under `root` (relative paths, sorted), skipping `excludes`.
pub fn walk(root: &Path, excludes: Option<&Excludes>) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| fail!("cannot list {}: {e}", dir.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| fail!("cannot list {}: {e}", dir.display()))?;
            let path = rel.join(entry.file_name());
            if excludes.is_some_and(|x| x.excluded(&path)) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| fail!("cannot stat {}: {e}", root.join(&path).display()))?;
            if kind.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// What a copy left behind: each copied file's stamp, and how many special files were skipped.
pub struct Copy {
    /// Stamps of the copied entries (files and symlinks), by relative path.
    pub stamps: BTreeMap<PathBuf, Stamp>,
    /// Special files not copied.
    pub skipped: usize,
}

/// Copies the `entries` of `src` (from [`walk`]) into `dst`, in reverse order if `reverse`.
pub fn copy(src: &Path, dst: &Path, entries: &[PathBuf], reverse: bool) -> Result<Copy, Error> {
    let mut result = Copy {
        stamps: BTreeMap::new(),
        skipped: 0,
    };
    std::fs::create_dir_all(dst).map_err(|e| fail!("cannot create {}: {e}", dst.display()))?;
    let order: Box<dyn Iterator<Item = &PathBuf>> = if reverse {
        Box::new(entries.iter().rev())
    } else {
        Box::new(entries.iter())
    };
    for rel in order {
        let (from, to) = (src.join(rel), dst.join(rel));
        let meta = std::fs::symlink_metadata(&from)
            .map_err(|e| fail!("cannot stat {}: {e}", from.display()))?;
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| fail!("cannot create {}: {e}", parent.display()))?;
        }
        let kind = meta.file_type();
        let made = if kind.is_dir() {
            std::fs::create_dir_all(&to).map(|_| ())
        } else if kind.is_symlink() {
            std::fs::read_link(&from).and_then(|t| std::os::unix::fs::symlink(t, &to))
        } else if kind.is_file() {
            std::fs::copy(&from, &to).map(|_| ())
        } else {
            result.skipped += 1;
            continue;
        };
        made.map_err(|e| fail!("cannot copy {} to {}: {e}", from.display(), to.display()))?;
        if !kind.is_dir() {
            let m = std::fs::symlink_metadata(&to)
                .map_err(|e| fail!("cannot stat {}: {e}", to.display()))?;
            result.stamps.insert(rel.clone(), stamp(&m));
        }
    }
    Ok(result)
}

/// The entries under `root` that are new or changed since `before` (directories excluded).
pub fn changed(root: &Path, before: &BTreeMap<PathBuf, Stamp>) -> Result<Vec<PathBuf>, Error> {
    let mut out = Vec::new();
    for rel in walk(root, None)? {
        let Ok(m) = std::fs::symlink_metadata(root.join(&rel)) else {
            continue;
        };
        if !m.is_dir() && before.get(&rel) != Some(&stamp(&m)) {
            out.push(rel);
        }
    }
    Ok(out)
}

/// The entries under `root` matching any of `globs` (relative to `root`).
pub fn matching(root: &Path, globs: &[glob::Pattern]) -> Result<Vec<PathBuf>, Error> {
    Ok(walk(root, None)?
        .into_iter()
        .filter(|rel| {
            let text = rel.to_string_lossy();
            globs.iter().any(|g| g.matches(&text))
                && std::fs::symlink_metadata(root.join(rel)).is_ok_and(|m| !m.is_dir())
        })
        .collect())
}

/// Size and SHA-256 (hex) of one entry; `None` if it does not exist.
pub fn hash(path: &Path) -> Result<Option<(u64, String)>, Error> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(fail!("cannot stat {}: {e}", path.display())),
    };
    let mut h = Sha256::new();
    let kind = meta.file_type();
    if kind.is_symlink() {
        let target = std::fs::read_link(path).map_err(|e| fail!("{}: {e}", path.display()))?;
        h.update(b"symlink:");
        h.update(target.as_os_str().as_encoded_bytes());
    } else if kind.is_file() {
        let mut f =
            std::fs::File::open(path).map_err(|e| fail!("cannot read {}: {e}", path.display()))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f
                .read(&mut buf)
                .map_err(|e| fail!("cannot read {}: {e}", path.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    } else if kind.is_fifo() || kind.is_socket() || kind.is_block_device() || kind.is_char_device()
    {
        h.update(b"special");
    }
    let hex = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(Some((meta.size(), hex)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excludes_match_paths_and_components() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(".gitignore"),
            "# c\n/build/\n*.o\n!keep.o\n",
        )
        .unwrap();
        let x = Excludes::new(dir.path(), &["docs/*.pdf".into()]).unwrap();
        assert!(x.excluded(Path::new("build")));
        assert!(x.excluded(Path::new("src/a.o")));
        assert!(x.excluded(Path::new("docs/a.pdf")));
        assert!(!x.excluded(Path::new("src/a.c")));
        assert!(Excludes::new(dir.path(), &["[".into()]).is_err());
    }

    #[test]
    fn copy_then_changed_finds_only_what_changed() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("d")).unwrap();
        std::fs::write(src.path().join("d/a"), "a").unwrap();
        std::fs::write(src.path().join("b"), "b").unwrap();
        std::os::unix::fs::symlink("b", src.path().join("l")).unwrap();
        let fifo =
            std::ffi::CString::new(src.path().join("p").into_os_string().into_encoded_bytes())
                .unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
        let entries = walk(src.path(), None).unwrap();
        let out = dst.path().join("t");
        let copy = copy(src.path(), &out, &entries, true).unwrap();
        assert_eq!(copy.stamps.len(), 3);
        assert_eq!(copy.skipped, 1, "the fifo is skipped, not opened");
        assert!(std::fs::symlink_metadata(out.join("l"))
            .unwrap()
            .is_symlink());
        std::fs::write(out.join("new"), "n").unwrap();
        std::fs::remove_file(out.join("b")).unwrap();
        std::fs::write(out.join("b"), "bb").unwrap();
        let changed = changed(&out, &copy.stamps).unwrap();
        assert_eq!(changed, [PathBuf::from("b"), PathBuf::from("new")]);
        let (size, link) = hash(&out.join("l")).unwrap().unwrap();
        assert_eq!(size, 1);
        assert_ne!(link, hash(&out.join("b")).unwrap().unwrap().1);
        assert_eq!(hash(&out.join("none")).unwrap(), None);
    }
}
