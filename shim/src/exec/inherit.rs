//! What a new program inherits from the exec that starts it, besides the repaired
//! environment: the parent key of a repeated command, and the build root when the exec
//! happens outside the current one.
//!
//! - **Repeats** ([`detbuild_core::occur`]): this program image keeps a table of exec counts
//!   ([`prepare`]), mapped `MAP_SHARED` before its first fork (the fork hooks call
//!   [`prepare`]) so that a forked child's exec counts in it; a `vfork` child shares it
//!   anyway. The n-th identical exec (n >= 1) hands the new program `DETBUILD_KEY =
//!   child(parent, exec, n)`. A fork the hooks did not see, made before the table existed,
//!   counts in a table of its own, so its repeats share the first one's stream.
//! - **Re-rooting**: an exec from a working directory outside the build root hands the new
//!   program `DETBUILD_ROOT=<that directory>`, so `make -C /srv/pkg-1234/src` and `cd
//!   /elsewhere && make` key their recipes relative to the tree they work in, wherever it is.
//!
//! Both entries are built on the caller's stack; nothing in the caller's environment is
//! written (an exec hook may run in a `vfork` child, whose memory is its parent's).
//! Invariants: no heap, no lock; raw syscalls only; safe in a `vfork` child.

use super::envp::Envp;
use super::Argv;
use crate::env::{self, Environ, KEY, ROOT};
use crate::sys;
use core::ffi::{c_char, CStr};
use core::sync::atomic::{AtomicPtr, Ordering};
use detbuild_core::key::{child_key, from_hex, to_hex, Child, Key};
use detbuild_core::normalize::relative_dir;
use detbuild_core::occur::{self, Slot, SLOTS};

const KEY_NAME: &[u8] = b"DETBUILD_KEY=";
const ROOT_NAME: &[u8] = b"DETBUILD_ROOT=";
const KEY_ENTRY: usize = KEY_NAME.len() + 64 + 1;
/// Room for `DETBUILD_ROOT=`, a working directory of up to `PATH_MAX` bytes and the NUL.
const ROOT_ENTRY: usize = ROOT_NAME.len() + 4096 + 1;

/// This image's table of exec counts.
static TABLE: AtomicPtr<Slot> = AtomicPtr::new(core::ptr::null_mut());

/// The table, mapped on first use (by the first fork, spawn or exec); `None` if `mmap` fails.
pub fn prepare() -> Option<&'static [Slot]> {
    let mut table = TABLE.load(Ordering::Acquire);
    if table.is_null() {
        let size = SLOTS * core::mem::size_of::<Slot>();
        let fresh = sys::mmap_shared(size)?.cast::<Slot>();
        table = match TABLE.compare_exchange(
            core::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => fresh,
            Err(other) => {
                // SAFETY: our own fresh mapping, never published.
                unsafe { sys::munmap(fresh.cast(), size) };
                other
            }
        };
    }
    // SAFETY: a zero-filled mapping of SLOTS slots (all-zero is an empty slot), never
    // unmapped once published; the slots are atomics, so shared access is sound.
    Some(unsafe { core::slice::from_raw_parts(table, SLOTS) })
}

/// The program an exec call starts.
#[derive(Clone, Copy)]
pub struct Program {
    /// The path or file name given to the exec call.
    pub path: *const c_char,
    /// Its argument vector (may be null).
    pub argv: Argv,
}

/// The entries a new program gets instead of the inherited ones (see the module docs).
pub struct Inherit {
    key: [u8; KEY_ENTRY],
    root: [u8; ROOT_ENTRY],
    has_key: bool,
    has_root: bool,
}

impl Inherit {
    /// Nothing to hand down.
    pub const NONE: Inherit = Inherit {
        key: [0; KEY_ENTRY],
        root: [0; ROOT_ENTRY],
        has_key: false,
        has_root: false,
    };

    /// Counts this exec of `program` with environment `envp` and works out the entries.
    pub fn compute(envp: Envp, program: Program) -> Inherit {
        let mut out = Inherit::NONE;
        out.root[..ROOT_NAME.len()].copy_from_slice(ROOT_NAME);
        let n = sys::getcwd(&mut out.root[ROOT_NAME.len()..ROOT_ENTRY - 1]);
        let cwd_len = if n > 1 { n as usize - 1 } else { 0 };
        let cwd: &[u8] = match cwd_len {
            0 => b"?",
            len => &out.root[ROOT_NAME.len()..ROOT_NAME.len() + len],
        };
        let (parent, root) = inherited(envp);
        if let Some(parent) = parent {
            let path = cstr(program.path);
            // An argv has the shape of an environment: a NULL-terminated array of C strings.
            let args = Environ::of(program.argv).map(|(_, arg)| arg);
            let id = occur::identity(&parent, path, args, cwd);
            let n = prepare().and_then(|t| occur::next(t, id)).unwrap_or(0);
            if n > 0 {
                let hex = to_hex(&child_key(&parent, Child::Exec, n));
                out.key[..KEY_NAME.len()].copy_from_slice(KEY_NAME);
                out.key[KEY_NAME.len()..KEY_ENTRY - 1].copy_from_slice(&hex);
                out.has_key = true;
            }
        }
        if cwd_len > 0 && cwd != root && relative_dir(root, cwd).is_none() {
            out.root[ROOT_NAME.len() + cwd_len] = 0;
            out.has_root = true;
        }
        out
    }

    /// `DETBUILD_KEY=...` for a repeat, as a C string.
    pub fn key_entry(&self) -> Option<*const c_char> {
        self.has_key.then_some(self.key.as_ptr().cast())
    }

    /// `DETBUILD_ROOT=...` for an exec outside the root, as a C string.
    pub fn root_entry(&self) -> Option<*const c_char> {
        self.has_root.then_some(self.root.as_ptr().cast())
    }

    /// Whether the new program gets anything of ours.
    pub fn any(&self) -> bool {
        self.has_key || self.has_root
    }
}

/// The parent key and build root the new program would inherit: from `envp`, else from what
/// this process saved at init (the exec repair puts those back).
fn inherited(envp: Envp) -> (Option<Key>, &'static [u8]) {
    let (mut key, mut root) = (None, None);
    for (_, entry) in Environ::of(envp) {
        if let Some(v) = entry.strip_prefix(KEY_NAME) {
            key = from_hex(v);
        } else if let Some(v) = entry.strip_prefix(ROOT_NAME) {
            root = Some(v);
        }
    }
    let saved = env::saved();
    let value = |i: usize, name: &[u8]| saved[i].get(name.len()..).unwrap_or(b"");
    (
        key.or_else(|| from_hex(value(KEY, KEY_NAME))),
        root.unwrap_or_else(|| value(ROOT, ROOT_NAME)),
    )
}

fn cstr(p: *const c_char) -> &'static [u8] {
    if p.is_null() {
        return b"";
    }
    // SAFETY: exec callers pass NUL-terminated strings that outlive the call.
    unsafe { CStr::from_ptr(p) }.to_bytes()
}
