//! Directory order in tree walks: `nftw`, `nftw64`, `ftw`, `ftw64`.
//!
//! glibc's walker reads directories through its internal `__readdir64`, so the `readdir`
//! hooks never see it and it calls back in the filesystem's order. With the `dirs` switch on,
//! these hooks walk the tree themselves, reading each directory whole and in byte-wise order
//! (`dir::Listing`), and otherwise follow glibc 2.36's `io/ftw.c` step for step: the same
//! callback flags (`FTW_F`, `FTW_D`, `FTW_DNR`, `FTW_NS`, `FTW_SL`, `FTW_DP`, `FTW_SLN`, and
//! `ftw`'s reduced set), `base` and `level`, `FTW_PHYS`, `FTW_MOUNT`, `FTW_CHDIR`,
//! `FTW_DEPTH`, `FTW_ACTIONRETVAL` (`FTW_STOP`, `FTW_SKIP_SUBTREE`, `FTW_SKIP_SIBLINGS`),
//! `EINVAL` for unknown flags, and the working directory restored at the end.
//!
//! Differences: one descriptor stays open per level being walked (glibc closes the oldest
//! when `nopenfd` is reached); paths are limited to [`PATH_BUF`] bytes (`ENAMETOOLONG`);
//! when symbolic links are followed, a directory reached twice through links is walked
//! twice (glibc remembers every directory it saw; here only the chain above, which is
//! enough to stop loops); `FTW_CHDIR` fails when the starting directory cannot be opened
//! (glibc falls back to its name). No allocation: the path lives on the stack and each
//! directory in its own mapping, as in `dir.rs`.
//!
//! Real: programs whose `dirs` switch is off, and inert processes.

use crate::clock::{errno, set_errno};
use crate::dirsnap::Listing;
use crate::hooks::{count, Id};
use crate::{real, state, sys};
use core::ffi::{c_char, c_int, CStr};

/// `struct FTW`.
#[repr(C)]
pub struct Ftw {
    base: c_int,
    level: c_int,
}

/// `nftw`'s callback.
pub type NftwFn =
    Option<unsafe extern "C" fn(*const c_char, *const libc::stat, c_int, *mut Ftw) -> c_int>;
/// `ftw`'s callback.
pub type FtwFn = Option<unsafe extern "C" fn(*const c_char, *const libc::stat, c_int) -> c_int>;
type FtwCallback = unsafe extern "C" fn(*const c_char, *const libc::stat, c_int) -> c_int;
type Callback = unsafe extern "C" fn(*const c_char, *const libc::stat, c_int, *mut Ftw) -> c_int;

/// The longest path a walk handles, with its NUL.
pub const PATH_BUF: usize = 4096;

const FTW_F: usize = 0;
const FTW_D: usize = 1;
const FTW_DNR: usize = 2;
const FTW_NS: usize = 3;
const FTW_SL: usize = 4;
const FTW_DP: usize = 5;
const FTW_SLN: usize = 6;
const PHYS: c_int = 1;
const MOUNT: c_int = 2;
const CHDIR: c_int = 4;
const DEPTH: c_int = 8;
const ACTIONRETVAL: c_int = 16;
const STOP: c_int = 1;
const SKIP_SUBTREE: c_int = 2;
const SKIP_SIBLINGS: c_int = 3;
/// The flags `nftw` reports, by internal flag.
const NFTW_FLAGS: [c_int; 7] = [0, 1, 2, 3, 4, 5, 6];
/// The flags `ftw` reports: symbolic links as files, post-order as pre-order directories,
/// dangling links as unstat-able.
const FTW_FLAGS: [c_int; 7] = [0, 1, 2, 3, 0, 1, 3];

struct Walk {
    buf: [u8; PATH_BUF],
    /// The path's length (a NUL follows it).
    len: usize,
    base: usize,
    level: c_int,
    flags: c_int,
    dev: u64,
    func: Callback,
    flag_map: &'static [c_int; 7],
}

/// A directory on the way down, to stop symbolic-link loops.
struct Chain<'a> {
    dev: u64,
    ino: u64,
    up: Option<&'a Chain<'a>>,
}

impl Chain<'_> {
    fn contains(&self, st: &libc::stat) -> bool {
        let mut c = Some(self);
        while let Some(link) = c {
            if link.dev == st.st_dev && link.ino == st.st_ino {
                return true;
            }
            c = link.up;
        }
        false
    }
}

fn zeroed_stat() -> libc::stat {
    // SAFETY: an all-zero stat is a valid value.
    unsafe { core::mem::zeroed() }
}

impl Walk {
    fn has(&self, flag: c_int) -> bool {
        self.flags & flag != 0
    }

    fn call(&mut self, st: &libc::stat, flag: usize) -> c_int {
        let mut ftw = Ftw {
            base: self.base as c_int,
            level: self.level,
        };
        // The callback sees the status the program's stat hooks would report (clamped times,
        // owners, inode numbers); the walk itself keeps comparing the real ones.
        let mut seen = *st;
        crate::stat::rewrite(&mut seen);
        // SAFETY: the path is NUL-terminated at `len`; the callback gets what glibc passes.
        unsafe {
            (self.func)(
                self.buf.as_ptr().cast(),
                &seen,
                self.flag_map[flag],
                &mut ftw,
            )
        }
    }

    /// Sets the path's end at `len`.
    fn cut(&mut self, len: usize) {
        self.len = len;
        self.buf[len] = 0;
    }

    fn ptr(&self, at: usize) -> *const u8 {
        self.buf[at..].as_ptr()
    }

    /// Walks the directory at the path (glibc's `ftw_dir`). `parent` is the descriptor of the
    /// directory holding it, or -1 at the top.
    fn dir(&mut self, st: &libc::stat, parent: c_int, chain: &Chain) -> c_int {
        let (at, name) = if parent >= 0 {
            (parent, self.ptr(self.base))
        } else if self.has(CHDIR) {
            let name = if self.len == self.base {
                c".".as_ptr().cast()
            } else {
                self.ptr(self.base)
            };
            (libc::AT_FDCWD, name)
        } else {
            (libc::AT_FDCWD, self.ptr(0))
        };
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NONBLOCK | libc::O_CLOEXEC;
        // SAFETY: name is NUL-terminated (in `buf` or a literal).
        let fd = unsafe { sys::openat(at, name, flags) };
        if fd < 0 {
            set_errno(-fd as c_int);
            if -fd as c_int == libc::EACCES {
                return self.call(st, FTW_DNR);
            }
            return -1;
        }
        let Some(mut list) = Listing::open(fd as c_int) else {
            return -1;
        };
        if !self.has(DEPTH) {
            let r = self.call(st, FTW_D);
            if r != 0 {
                return r;
            }
        }
        if self.has(CHDIR) && sys::fchdir(list.fd()) < 0 {
            return -1;
        }
        let previous_base = self.base;
        self.level += 1;
        if self.buf[self.len - 1] != b'/' {
            if self.len + 2 > PATH_BUF {
                set_errno(libc::ENAMETOOLONG);
                return -1;
            }
            self.buf[self.len] = b'/';
            self.cut(self.len + 1);
        }
        self.base = self.len;
        let mut result = 0;
        let fd = list.fd();
        while let Some(e) = list.entry() {
            // SAFETY: `e` is an entry with a NUL-terminated name, valid until the next read.
            let name = unsafe { CStr::from_ptr((*e).d_name.as_ptr()) }.to_bytes();
            // SAFETY: as above.
            let kind = unsafe { (*e).d_type };
            result = self.entry(fd, name, kind, chain);
            if result != 0 {
                break;
            }
        }
        drop(list);
        if self.has(ACTIONRETVAL) && result == SKIP_SIBLINGS {
            result = 0;
        }
        self.cut(self.base - 1);
        self.level -= 1;
        self.base = previous_base;
        if result == 0 && self.has(DEPTH) {
            result = self.call(st, FTW_DP);
        }
        let back = result == 0 || (self.has(ACTIONRETVAL) && result != -1 && result != STOP);
        if parent >= 0 && self.has(CHDIR) && back && sys::fchdir(parent) < 0 {
            result = -1;
        }
        result
    }

    /// One entry of a directory (glibc's `process_entry`).
    fn entry(&mut self, dir: c_int, name: &[u8], kind: u8, chain: &Chain) -> c_int {
        if name == b"." || name == b".." {
            return 0;
        }
        if self.base + name.len() + 2 > PATH_BUF {
            set_errno(libc::ENAMETOOLONG);
            return -1;
        }
        self.buf[self.base..self.base + name.len()].copy_from_slice(name);
        self.cut(self.base + name.len());
        let name = self.ptr(self.base);
        let nofollow = if self.has(PHYS) {
            libc::AT_SYMLINK_NOFOLLOW
        } else {
            0
        };
        let mut st = zeroed_stat();
        let mut result = 0;
        // SAFETY: name is NUL-terminated in `buf`.
        let r = unsafe { sys::fstatat(dir, name, &mut st, nofollow) };
        let flag = if r < 0 {
            set_errno(-r as c_int);
            if -r as c_int != libc::EACCES && -r as c_int != libc::ENOENT {
                result = -1;
                FTW_NS
            } else if self.has(PHYS) {
                FTW_NS
            } else {
                // A dangling link: glibc trusts `d_type` and leaves `st` unfilled; the link's
                // own stat is filled here either way (so `FTW_MOUNT` compares its device).
                // SAFETY: as above.
                let l = unsafe { sys::fstatat(dir, name, &mut st, libc::AT_SYMLINK_NOFOLLOW) };
                if kind == libc::DT_LNK || (l == 0 && st.st_mode & libc::S_IFMT == libc::S_IFLNK) {
                    FTW_SLN
                } else {
                    FTW_NS
                }
            }
        } else {
            match st.st_mode & libc::S_IFMT {
                libc::S_IFDIR => FTW_D,
                libc::S_IFLNK => FTW_SL,
                _ => FTW_F,
            }
        };
        if result == 0 && (flag == FTW_NS || !self.has(MOUNT) || st.st_dev == self.dev) {
            if flag == FTW_D {
                if self.has(PHYS) || !chain.contains(&st) {
                    let below = Chain {
                        dev: st.st_dev,
                        ino: st.st_ino,
                        up: Some(chain),
                    };
                    result = self.dir(&st, dir, &below);
                }
            } else {
                result = self.call(&st, flag);
            }
        }
        if self.has(ACTIONRETVAL) && result == SKIP_SUBTREE {
            result = 0;
        }
        result
    }
}

/// Walks from `path` (glibc's `ftw_startup`).
///
/// # Safety
/// `path` is a NUL-terminated string; `func` a callback of the walk's kind.
unsafe fn start(path: *const c_char, func: Callback, flags: c_int, nftw: bool) -> c_int {
    // SAFETY: caller's contract.
    let path = unsafe { CStr::from_ptr(path) }.to_bytes();
    if path.is_empty() {
        return set_errno(libc::ENOENT);
    }
    if path.len() + 1 > PATH_BUF {
        return set_errno(libc::ENAMETOOLONG);
    }
    let mut w = Walk {
        buf: [0; PATH_BUF],
        len: 0,
        base: 0,
        level: 0,
        flags,
        dev: 0,
        func,
        flag_map: if nftw { &NFTW_FLAGS } else { &FTW_FLAGS },
    };
    w.buf[..path.len()].copy_from_slice(path);
    let mut len = path.len();
    while len > 1 && w.buf[len - 1] == b'/' {
        len -= 1;
    }
    w.cut(len);
    w.base = w.buf[..len]
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(0, |i| i + 1);
    let mut result = 0;
    let mut cwd = -1;
    if w.has(CHDIR) {
        // SAFETY: a NUL-terminated literal.
        let fd = unsafe {
            sys::openat(
                libc::AT_FDCWD,
                c".".as_ptr().cast(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return set_errno(-fd as c_int);
        }
        cwd = fd as c_int;
        if w.base == 1 {
            // SAFETY: a NUL-terminated literal.
            result = unsafe { sys::chdir(c"/".as_ptr().cast()) } as c_int;
        } else if w.base > 1 {
            let slash = w.base - 1;
            w.buf[slash] = 0;
            // SAFETY: the directory part is NUL-terminated at `slash` now.
            result = unsafe { sys::chdir(w.ptr(0)) } as c_int;
            w.buf[slash] = b'/';
        }
        if result < 0 {
            set_errno(-result);
            result = -1;
        }
    }
    if result == 0 {
        let name = if !w.has(CHDIR) {
            w.ptr(0)
        } else if w.len == w.base {
            c".".as_ptr().cast()
        } else {
            w.ptr(w.base)
        };
        let mut st = zeroed_stat();
        let nofollow = if w.has(PHYS) {
            libc::AT_SYMLINK_NOFOLLOW
        } else {
            0
        };
        // SAFETY: name is NUL-terminated.
        let r = unsafe { sys::fstatat(libc::AT_FDCWD, name, &mut st, nofollow) };
        result = if r < 0 {
            set_errno(-r as c_int);
            // SAFETY: as above.
            let link = !w.has(PHYS)
                && -r as c_int == libc::ENOENT
                && unsafe {
                    sys::fstatat(libc::AT_FDCWD, name, &mut st, libc::AT_SYMLINK_NOFOLLOW)
                } == 0
                && st.st_mode & libc::S_IFMT == libc::S_IFLNK;
            if link {
                w.call(&st, FTW_SLN)
            } else {
                set_errno(-r as c_int);
                -1
            }
        } else if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
            w.dev = st.st_dev;
            let top = Chain {
                dev: st.st_dev,
                ino: st.st_ino,
                up: None,
            };
            w.dir(&st, -1, &top)
        } else if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
            w.call(&st, FTW_SL)
        } else {
            w.call(&st, FTW_F)
        };
        if w.has(ACTIONRETVAL) && (result == SKIP_SUBTREE || result == SKIP_SIBLINGS) {
            result = 0;
        }
    }
    if cwd >= 0 {
        let saved = errno();
        sys::fchdir(cwd);
        sys::close(cwd);
        set_errno(saved);
    }
    result
}

macro_rules! nftw_hook {
    ($name:ident) => {
        /// Faked: the walk in byte-wise order (see the module docs).
        ///
        /// # Safety
        /// The arguments must satisfy `nftw`'s contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name(
            path: *const c_char,
            func: NftwFn,
            nopenfd: c_int,
            flags: c_int,
        ) -> c_int {
            count(Id::$name);
            if !state::dirs() || path.is_null() {
                return match real::$name() {
                    // SAFETY: forwarding the caller's arguments.
                    Some(f) => unsafe { f(path, func, nopenfd, flags) },
                    None => set_errno(libc::ENOSYS),
                };
            }
            let Some(func) = func else {
                return set_errno(libc::EINVAL);
            };
            if flags & !(PHYS | MOUNT | CHDIR | DEPTH | ACTIONRETVAL) != 0 {
                return set_errno(libc::EINVAL);
            }
            // SAFETY: caller's contract.
            unsafe { start(path, func, flags, true) }
        }
    };
}

nftw_hook!(nftw);
nftw_hook!(nftw64);

macro_rules! ftw_hook {
    ($name:ident) => {
        /// Faked: the walk in byte-wise order, with `ftw`'s flags.
        ///
        /// # Safety
        /// The arguments must satisfy `ftw`'s contract.
        #[no_mangle]
        pub unsafe extern "C" fn $name(path: *const c_char, func: FtwFn, nopenfd: c_int) -> c_int {
            count(Id::$name);
            if !state::dirs() || path.is_null() {
                return match real::$name() {
                    // SAFETY: forwarding the caller's arguments.
                    Some(f) => unsafe { f(path, func, nopenfd) },
                    None => set_errno(libc::ENOSYS),
                };
            }
            let Some(func) = func else {
                return set_errno(libc::EINVAL);
            };
            // SAFETY: an ftw callback takes the first three of the arguments an nftw callback
            // gets; the C calling convention ignores the fourth (glibc relies on the same).
            let func = unsafe { core::mem::transmute::<FtwCallback, Callback>(func) };
            // SAFETY: caller's contract.
            unsafe { start(path, func, 0, false) }
        }
    };
}

ftw_hook!(ftw);
ftw_hook!(ftw64);
