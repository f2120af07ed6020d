//! Process-wide state: the settings and this process's key, computed once.
//!
//! Initialisation runs in the shim's constructor with the `(argc, argv, envp)` that glibc hands
//! to `.init_array` entries, or lazily from the first hook when another library's constructor
//! calls one earlier (then argv comes from `/proc/self/cmdline`). It uses raw syscalls only,
//! allocates nothing, and publishes with one atomic store; a hook that races with it (another
//! thread, or a signal handler on the initialising thread) sees "not active" and passes the
//! call through to the real function instead of waiting.
//!
//! Modes:
//! - **active**: a valid `DETBUILD` payload, not `AT_SECURE`, and a policy that fakes the clock
//!   or randomness: the process has a key, and each hook fakes what its switch says
//!   ([`clock`], [`random`]; `detbuild_core::policy`).
//! - **transparent**: the policy fakes neither (`make`, `ninja`): no key of its own, hooks pass
//!   through, and exec hooks still keep the shim in its children.
//! - **inert**: no or malformed payload, or a setuid/setcap program (`AT_SECURE`); hooks pass
//!   through and the shim changes nothing.

use crate::{env, sys};
use core::cell::UnsafeCell;
use core::ffi::c_char;
use core::sync::atomic::{AtomicU8, Ordering};
use detbuild_core::host::Host;
use detbuild_core::identity::Identity;
use detbuild_core::key::{Key, ProcessKey};
use detbuild_core::policy::{self, Policy};
use detbuild_core::settings;

/// What the shim does in this process.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Mode {
    /// Keyed; hooks fake what the policy says.
    Active,
    /// Hooks pass through (the policy fakes neither the clock nor randomness).
    Transparent,
    /// Hooks pass through (no settings, or a secure-execution program).
    Inert,
}

/// Settings and identity of this process.
pub struct Process {
    /// Clock epoch, seconds.
    pub epoch: i64,
    /// Clock step per read, nanoseconds.
    pub step_ns: u64,
    /// The process key (the main thread's key).
    pub key: Key,
    /// The run's root key (for values shared by the whole build, like the boot id).
    pub root: Key,
    /// The key this process's key was derived from (its parent's; the root key for the
    /// first process). For the audit.
    pub parent: Key,
    /// What this program gets faked.
    pub policy: Policy,
    /// The host the build sees.
    pub host: Host,
    /// The CPU count the build sees (0: real).
    pub cpus: u32,
    /// The invoking user and the names reported for it.
    pub identity: Identity,
    /// Whether exec hooks pad environments to a fixed stack depth (`crate::exec::pad`).
    pub pads: bool,
}

const UNINIT: u8 = 0;
const BUSY: u8 = 1;
const ACTIVE: u8 = 2;
const REAL: u8 = 3;
const INERT: u8 = 4;

static STATE: AtomicU8 = AtomicU8::new(UNINIT);

struct Slot(UnsafeCell<Process>);
// SAFETY: written once by the thread that moved STATE from UNINIT to BUSY, read only after
// STATE is ACTIVE or REAL (Release/Acquire), never written again.
unsafe impl Sync for Slot {}
static PROCESS: Slot = Slot(UnsafeCell::new(Process {
    epoch: 0,
    step_ns: 0,
    key: [0; 32],
    root: [0; 32],
    parent: [0; 32],
    policy: Policy::FAKE,
    host: Host::UNSET,
    cpus: 0,
    identity: Identity::UNSET,
    pads: false,
}));

/// The process state if the shim is active here, initialising lazily on first use.
#[inline]
pub fn active() -> Option<&'static Process> {
    match STATE.load(Ordering::Acquire) {
        ACTIVE => {
            // SAFETY: see Slot.
            Some(unsafe { &*PROCESS.0.get() })
        }
        UNINIT => {
            init(Args::Proc);
            active_if_ready()
        }
        _ => None,
    }
}

/// The process state in active and transparent modes (in transparent mode only the settings
/// and `parent` are meaningful).
pub fn process() -> Option<&'static Process> {
    // SAFETY: see Slot (PROCESS is written before ACTIVE or REAL is published).
    (mode() != Mode::Inert).then(|| unsafe { &*PROCESS.0.get() })
}

/// The process state if the shim is active here and fakes the clock.
#[inline]
pub fn clock() -> Option<&'static Process> {
    active().filter(|p| p.policy.fakes(policy::Source::Clock))
}

/// The process state if the shim is active here and fakes randomness.
#[inline]
pub fn random() -> Option<&'static Process> {
    active().filter(|p| p.policy.fakes(policy::Source::Random))
}

/// Whether this program's policy fakes `source`, for sources that need no key (directory
/// order, host, CPUs): true for transparent programs like `make` too, false when inert.
#[inline]
pub fn fakes(source: policy::Source) -> bool {
    policy().is_some_and(|p| p.fakes(source))
}

/// Whether directory listings come in byte-wise order here.
#[inline]
pub fn dirs() -> bool {
    fakes(policy::Source::Dirs)
}

/// The configured host, when this program's policy fakes it.
#[inline]
pub fn host() -> Option<&'static Host> {
    if !fakes(policy::Source::Host) {
        return None;
    }
    // SAFETY: see Slot (fakes() saw ACTIVE or REAL, so PROCESS is written).
    Some(unsafe { &(*PROCESS.0.get()).host })
}

/// The configured CPU count, when this program's policy fakes it.
#[inline]
pub fn cpus() -> Option<u32> {
    if !fakes(policy::Source::Cpus) {
        return None;
    }
    // SAFETY: see Slot (fakes() saw ACTIVE or REAL, so PROCESS is written).
    Some(unsafe { (*PROCESS.0.get()).cpus }).filter(|&n| n > 0)
}

/// The invoking user and its reported names, when this program's policy fakes them.
#[inline]
pub fn identity() -> Option<&'static Identity> {
    // A program told to report files as root's (`owner = "fake"`) must also name uid 0 root.
    if !fakes(policy::Source::Identity) || fakes(policy::Source::Owner) {
        return None;
    }
    // SAFETY: see Slot (fakes() saw ACTIVE or REAL, so PROCESS is written).
    Some(unsafe { &(*PROCESS.0.get()).identity }).filter(|i| i.is_set())
}

/// The process state if this program's `stat` results are rewritten (file times clamped,
/// owners root or inode numbers renumbered), whether the shim is active or transparent here.
/// Two loads for the others.
#[inline]
pub fn files() -> Option<&'static Process> {
    match mode() {
        Mode::Active | Mode::Transparent => {
            // SAFETY: see Slot (PROCESS is written before ACTIVE or REAL is published).
            let p = unsafe { &*PROCESS.0.get() };
            p.policy.rewrites_stat().then_some(p)
        }
        Mode::Inert => None,
    }
}

/// The policy of this program when the shim is active or transparent here.
pub fn policy() -> Option<Policy> {
    match mode() {
        // SAFETY: see Slot (PROCESS is written before ACTIVE or REAL is published).
        Mode::Active | Mode::Transparent => Some(unsafe { (*PROCESS.0.get()).policy }),
        Mode::Inert => None,
    }
}

fn active_if_ready() -> Option<&'static Process> {
    // SAFETY: see Slot.
    (STATE.load(Ordering::Acquire) == ACTIVE).then(|| unsafe { &*PROCESS.0.get() })
}

/// The current mode, initialising lazily if needed (`Inert` while another thread initialises).
pub fn mode() -> Mode {
    if STATE.load(Ordering::Acquire) == UNINIT {
        init(Args::Proc);
    }
    match STATE.load(Ordering::Acquire) {
        ACTIVE => Mode::Active,
        REAL => Mode::Transparent,
        _ => Mode::Inert,
    }
}

/// Where argv comes from.
pub enum Args {
    /// From the constructor.
    Vector(usize, *const *const c_char),
    /// From `/proc/self/cmdline`.
    Proc,
}

/// Initialises once; later and concurrent calls return at once.
pub fn init(args: Args) {
    if STATE
        .compare_exchange(UNINIT, BUSY, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        return;
    }
    let state = match compute(args) {
        Some((process, mode)) => {
            // SAFETY: we hold BUSY; nobody reads PROCESS before ACTIVE or REAL is published.
            unsafe { *PROCESS.0.get() = process };
            if mode == Mode::Active {
                ACTIVE
            } else {
                REAL
            }
        }
        None => INERT,
    };
    STATE.store(state, Ordering::Release);
    if state != INERT {
        crate::report::init();
    }
}

fn compute(args: Args) -> Option<(Process, Mode)> {
    // SAFETY: getauxval reads the auxiliary vector; no hooks involved.
    if unsafe { libc::getauxval(libc::AT_SECURE) } != 0 {
        return None;
    }
    let vars = env::capture()?;
    let s = settings::parse(vars.payload).ok()?;
    // Before the first file of the host root is opened (the handoff table).
    crate::chroot::adopt();
    crate::handoff::attach(vars.payload);
    let mut argv = ArgIter::new(args);
    let argv0 = argv.next().unwrap_or(b"");
    let mut process = Process {
        epoch: s.epoch,
        step_ns: s.step_ns,
        key: s.key,
        root: s.key,
        parent: vars.parent.unwrap_or(s.key),
        policy: s.policy_args(argv0, argv.clone()),
        host: s.host,
        cpus: s.cpus.unwrap_or(0),
        identity: s.identity,
        pads: s.pads(),
    };
    if under_fakeroot() {
        // fakeroot's view of the user (root) wins over the configured names.
        process.policy = process.policy.with(policy::Source::Identity, false);
    }
    if !process.policy.keyed() {
        return Some((process, Mode::Transparent));
    }
    let parent = process.parent;
    let mut key = ProcessKey::new(&parent, vars.root);
    for arg in argv.restart() {
        key.arg(arg);
    }
    let cwd = cwd();
    process.key = key.finish(cwd);
    env::publish_key(&process.key);
    Some((process, Mode::Active))
}

/// Whether this process runs under fakeroot (its `FAKEROOTKEY` is in the environment).
fn under_fakeroot() -> bool {
    env::Environ::current().any(|(_, entry)| entry.starts_with(b"FAKEROOTKEY="))
}

/// Scratch for getcwd and /proc/self/cmdline; touched only by the initialising thread.
struct Scratch(UnsafeCell<[u8; 4096]>, UnsafeCell<[u8; 128 * 1024]>);
// SAFETY: only the thread holding STATE == BUSY uses it.
unsafe impl Sync for Scratch {}
static SCRATCH: Scratch = Scratch(UnsafeCell::new([0; 4096]), UnsafeCell::new([0; 128 * 1024]));

fn cwd() -> &'static [u8] {
    // SAFETY: see Scratch.
    let buf = unsafe { &mut *SCRATCH.0.get() };
    let n = sys::getcwd(buf);
    if n <= 1 {
        return b"?";
    }
    &buf[..n as usize - 1]
}

/// argv as byte strings, from the constructor's vector or /proc/self/cmdline.
#[derive(Clone)]
struct ArgIter {
    source: Source,
    index: usize,
}

#[derive(Clone, Copy)]
enum Source {
    Vector(usize, *const *const c_char),
    Bytes(&'static [u8]),
}

impl ArgIter {
    fn new(args: Args) -> Self {
        let source = match args {
            Args::Vector(argc, argv) if !argv.is_null() => Source::Vector(argc, argv),
            _ => Source::Bytes(cmdline()),
        };
        ArgIter { source, index: 0 }
    }

    fn restart(&self) -> Self {
        ArgIter {
            source: self.source,
            index: 0,
        }
    }
}

impl Iterator for ArgIter {
    type Item = &'static [u8];
    fn next(&mut self) -> Option<&'static [u8]> {
        match self.source {
            Source::Vector(argc, argv) => {
                if self.index >= argc {
                    return None;
                }
                // SAFETY: argv has argc valid C strings (the constructor's arguments).
                let p = unsafe { *argv.add(self.index) };
                self.index += 1;
                if p.is_null() {
                    return None;
                }
                // SAFETY: p is a NUL-terminated string that lives as long as the process.
                Some(unsafe { core::ffi::CStr::from_ptr(p) }.to_bytes())
            }
            Source::Bytes(all) => {
                let rest = all.get(self.index..).filter(|r| !r.is_empty())?;
                let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
                self.index += end + 1;
                Some(&rest[..end])
            }
        }
    }
}

fn cmdline() -> &'static [u8] {
    // SAFETY: see Scratch.
    let buf = unsafe { &mut *SCRATCH.1.get() };
    sys::read_file(c"/proc/self/cmdline", buf)
}
