//! The audit (`detbuild --report FILE`): one JSON line per process of the tree, appended to
//! the file named by `DETBUILD_REPORT`.
//!
//! What a line holds: the event that wrote it (`exit`: the shim's `.fini_array` destructor at
//! `exit`; `_exit`: our `_exit`/`_Exit` hooks, which then end the process by `exit_group`; `exec`: an exec hook, just before the exec
//! replaces the image, with the `target`), `pid`, `ppid`, `exe` (`/proc/self/exe`), `argv`
//! (`/proc/self/cmdline`), the `mode` (`active` or `transparent`) and the two switches
//! (`clock`, `random`: `fake` or `real`), the process `key` (null when transparent) and the
//! `parent` key it derives from, then the counters: `calls` (the hook table's per-entry
//! counters), `clocks` (`clock_gettime` reads per clock id; that hook's only counter, so it is
//! absent from `calls`), `random_bytes` (bytes served from
//! the stream per entry point), `real_random_opens` (random devices and uuid files opened
//! while randomness is real, answered by the kernel) and `static_execs` (execs of programs
//! the shim cannot reach), and when not zero `chroot_unshimmed` (programs started inside a new
//! root without the shim, see `chroot`).
//! Only non-zero counters are listed. The format is [`detbuild_core::report::Line`]'s.
//!
//! Each line counts what happened since the process's previous line (none, or a failed
//! exec's), so the lines of one process add up. Mechanism and costs:
//! - counting is the hook table's plain load-and-store counters plus two small arrays here
//!   (measured: a faked `clock_gettime` runs the same number of instructions as before the
//!   audit, a real one 4 more; an exec 2% fewer, see the README); nothing else happens unless
//!   `DETBUILD_REPORT` is set;
//! - the line is formatted on the stack and written with one `write` of at most 4096 bytes to
//!   the file opened `O_APPEND` by raw syscall, so lines from parallel processes never
//!   interleave;
//! - a forked child (our `fork`/`_Fork`, `syscall(SYS_fork)`, and forks [`crate::thread`]
//!   notices) resets the counters and reports only its own calls;
//! - the line belongs to the pid that owns the counters: a `vfork` child (shared memory, other
//!   pid) writes nothing, neither from `execve` nor from `_exit`; its exec'd program reports
//!   itself;
//! - an exec line is written only for a target that `access(X_OK)` accepts; if the exec still
//!   fails, the counters restart, so the next line of this image counts only what followed;
//! - inside a chroot the file, `/proc/self/exe` and `/proc/self/cmdline` are reached through
//!   the host root's descriptor (`chroot`), so a root without `/proc` still gets full lines;
//! - a process killed by a signal, or a child of a raw `clone` that never used the shim,
//!   writes no line. `DETBUILD_REPORT` is restored by exec repair like the other variables.
//!   Setuid programs (inert) never write.

use crate::{env, exec, state, sys};
use core::cell::UnsafeCell;
use core::ffi::{c_char, c_int, CStr};
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use detbuild_core::key::Key;
use detbuild_core::report::{Line, MAX};

static ENABLED: AtomicBool = AtomicBool::new(false);
/// The pid whose counters these are.
static OWNER: AtomicI32 = AtomicI32::new(0);
/// This image's final line is written (no second one).
static DONE: AtomicBool = AtomicBool::new(false);

/// Names of the `clocks` slots: clock ids 0 to 11, then every other id. Name lists here are
/// single NUL-separated strings: arrays of `&str` cost the loader a relocation per name in
/// every exec.
const CLOCKS: &str = "realtime\0monotonic\0process_cputime\0thread_cputime\0monotonic_raw\0\
                      realtime_coarse\0monotonic_coarse\0boottime\0realtime_alarm\0\
                      boottime_alarm\0id10\0tai\0other";
static CLOCK_READS: [AtomicU64; 13] = [const { AtomicU64::new(0) }; 13];

/// Entry points that serve bytes of the stream.
#[derive(Clone, Copy)]
pub enum Entry {
    /// `getrandom` and `syscall(SYS_getrandom)`.
    Getrandom,
    /// `getentropy`.
    Getentropy,
    /// `arc4random`, `arc4random_buf`, `arc4random_uniform`.
    Arc4random,
    /// Reads of `/dev/urandom`, `/dev/random` (including bytes prefilled for stdio).
    Device,
    /// `/proc/sys/kernel/random/uuid` and `boot_id` opens.
    Uuid,
    /// Temporary names (`mkstemp` & co).
    Tempname,
}
const ENTRIES: &str = "getrandom\0getentropy\0arc4random\0device\0uuid\0tempname";
static BYTES: [AtomicU64; 6] = [const { AtomicU64::new(0) }; 6];
/// Opens of random devices and uuid files left to the kernel (randomness real).
static REAL_OPENS: AtomicU64 = AtomicU64::new(0);

/// Keys for a forked child: (key, parent), set once in the child.
struct ForkKeys(UnsafeCell<Option<(Key, Key)>>);
// SAFETY: written only by a fork child right after the fork, while it has one thread, and
// read afterwards by whichever thread writes the line.
unsafe impl Sync for ForkKeys {}
static FORK_KEYS: ForkKeys = ForkKeys(UnsafeCell::new(None));

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

/// Counts one `clock_gettime` read of `id`.
#[inline(always)]
pub fn clock(id: libc::clockid_t) {
    // Negative (dynamic, CPU-time) ids wrap to huge values: all land in the last slot.
    let slot = (id as u32 as usize).min(CLOCK_READS.len() - 1);
    bump(&CLOCK_READS[slot], 1);
}

/// Counts `n` bytes of the stream served through `entry`.
#[inline(always)]
pub fn bytes(entry: Entry, n: usize) {
    bump(&BYTES[entry as usize], n as u64);
}

/// Counts an open of a random device or uuid file that the kernel answers.
pub fn real_open() {
    bump(&REAL_OPENS, 1);
}

/// Turns the audit on for this process when `DETBUILD_REPORT` is set (from `state::init`,
/// once, in active and transparent modes).
pub fn init() {
    if report_path().is_some() {
        OWNER.store(sys::getpid(), Ordering::Relaxed);
        ENABLED.store(true, Ordering::Release);
    }
}

/// The file's path: the saved entry's value, NUL-terminated in the arena.
fn report_path() -> Option<&'static [u8]> {
    let entry = env::saved()[env::REPORT];
    entry
        .get(env::NAMES[env::REPORT].len()..)
        .filter(|v| !v.is_empty())
}

/// Whether this process writes lines now: enabled and the owner of the counters.
fn mine() -> bool {
    ENABLED.load(Ordering::Acquire) && sys::getpid() == OWNER.load(Ordering::Relaxed)
}

fn reset() {
    crate::hooks::reset_calls();
    for c in CLOCK_READS.iter().chain(BYTES.iter()).chain([&REAL_OPENS]) {
        c.store(0, Ordering::Relaxed);
    }
    exec::STATIC_EXECS.store(0, Ordering::Relaxed);
    crate::chroot::UNSHIMMED.store(0, Ordering::Relaxed);
}

/// In a forked child: take the counters over and start them at zero; `keys` is the child's
/// key and the parent's (`None` when the process is transparent and has no key).
pub fn forked(keys: Option<(Key, Key)>) {
    if !ENABLED.load(Ordering::Acquire) {
        return;
    }
    OWNER.store(sys::getpid(), Ordering::Relaxed);
    reset();
    DONE.store(false, Ordering::Relaxed);
    if let Some(keys) = keys {
        // SAFETY: see ForkKeys.
        unsafe { *FORK_KEYS.0.get() = Some(keys) };
    }
}

/// Writes the final line of this image (once).
pub fn at_exit(event: &str) {
    if mine() && !DONE.swap(true, Ordering::Relaxed) {
        write_line(event, None);
    }
}

/// Before an exec of `path`: writes the `exec` line if the target may run; returns whether
/// it did, for [`exec_failed`].
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn before_exec(path: *const c_char) -> bool {
    if path.is_null() || !mine() || DONE.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: a non-null exec path is a NUL-terminated string.
    if unsafe { sys::access(path.cast(), libc::X_OK) } != 0 {
        return false;
    }
    // SAFETY: as above.
    write_line("exec", Some(unsafe { CStr::from_ptr(path) }.to_bytes()));
    DONE.store(true, Ordering::Relaxed);
    true
}

/// [`before_exec`] for `execveat`: a target relative to another directory descriptor, or the
/// descriptor itself (`fexecve`), is reported without the `access` check.
///
/// # Safety
/// `path` must be null or a NUL-terminated string.
pub unsafe fn before_exec_at(dir: c_int, path: *const c_char) -> bool {
    if path.is_null() || !mine() || DONE.load(Ordering::Relaxed) {
        return false;
    }
    // SAFETY: a non-null exec path is a NUL-terminated string.
    let name = unsafe { CStr::from_ptr(path) }.to_bytes();
    if dir == libc::AT_FDCWD || name.starts_with(b"/") {
        // SAFETY: caller's contract.
        return unsafe { before_exec(path) };
    }
    write_line(
        "exec",
        Some(if name.is_empty() {
            b"(descriptor)"
        } else {
            name
        }),
    );
    DONE.store(true, Ordering::Relaxed);
    true
}

/// After an exec reported by [`before_exec`] returned (it failed): the counters restart.
pub fn exec_failed(reported: bool) {
    if reported {
        reset();
        DONE.store(false, Ordering::Relaxed);
    }
}

#[inline(never)]
fn write_line(event: &str, target: Option<&[u8]>) {
    let (Some(path), Some(p)) = (report_path(), state::process()) else {
        return;
    };
    let mut buf = [0u8; MAX];
    let mut line = Line::new(&mut buf);
    line.str("event", event.as_bytes());
    line.num("pid", sys::getpid().into());
    line.num("ppid", sys::getppid().into());
    let mut exe = [0u8; 1024];
    let n = crate::chroot::readlink_host(c"/proc/self/exe", &mut exe);
    line.str("exe", &exe[..n.clamp(0, exe.len() as isize) as usize]);
    let mut argv = [0u8; 2048];
    line.strings(
        "argv",
        crate::chroot::read_host(c"/proc/self/cmdline", &mut argv),
    );
    let active = state::mode() == state::Mode::Active;
    line.str("mode", if active { b"active" } else { b"transparent" });
    use detbuild_core::policy::Source;
    for (name, source) in [("clock", Source::Clock), ("random", Source::Random)] {
        let fake = active && p.policy.fakes(source);
        line.str(name, if fake { b"fake" } else { b"real" });
    }
    // SAFETY: see ForkKeys.
    let (key, parent) = unsafe { *FORK_KEYS.0.get() }.unwrap_or((p.key, p.parent));
    if active {
        line.key("key", &key);
    } else {
        line.null("key");
    }
    line.key("parent", &parent);
    line.num("static_execs", exec::static_execs() as i64);
    let unshimmed = crate::chroot::UNSHIMMED.load(Ordering::Relaxed);
    if unshimmed > 0 {
        line.num("chroot_unshimmed", unshimmed as i64);
    }
    line.num(
        "real_random_opens",
        REAL_OPENS.load(Ordering::Relaxed) as i64,
    );
    if let Some(target) = target {
        line.str("target", target);
    }
    let names = |names: &'static str, counts: &'static [AtomicU64]| {
        names
            .as_bytes()
            .split(|&b| b == 0)
            .zip(counts)
            .map(|(n, c)| (n, c.load(Ordering::Relaxed)))
    };
    line.counts("clocks", names(CLOCKS, &CLOCK_READS));
    line.counts("random_bytes", names(ENTRIES, &BYTES));
    line.counts("calls", crate::hooks::all_calls());
    let out = line.finish();
    let flags = libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT | libc::O_CLOEXEC;
    // SAFETY: the saved entry is NUL-terminated in the arena (see env::saved_cstr); inside a
    // chroot it is opened in the host root (`chroot`).
    let fd = unsafe { crate::chroot::open_host(path.as_ptr(), flags, 0o644) };
    if fd >= 0 {
        sys::write(fd as i32, out);
        sys::close(fd as i32);
    }
}

extern "C" fn fini() {
    at_exit("exit");
}

#[used]
#[link_section = ".fini_array"]
static FINI: extern "C" fn() = fini;
