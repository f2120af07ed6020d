//! Environment repair: puts detbuild's variables back into an environment a build cleared.
//!
//! [`with_env`] hands the exec call either the caller's `envp` untouched (the common case:
//! nothing missing, no copy) or a repaired copy: the caller's entries in their order, the last
//! `LD_PRELOAD` entry replaced by `LD_PRELOAD=<its value>:<shim>` when it lacks the shim, then
//! whichever of `DETBUILD`, `DETBUILD_ROOT`, `DETBUILD_KEY`, `DETBUILD_REPORT` and `LD_PRELOAD=<shim>` were
//! missing, taken from the copies saved at init ([`env::saved`]). The copy lives on the stack
//! (up to [`STACK_PTRS`] entries) or, for huge environments, in an anonymous mapping made by
//! raw syscall and unmapped when the call returns; no heap, so it is safe in a `vfork` child.
//! (A `vfork` child whose exec of a huge environment succeeds leaves that one mapping in the
//! parent.) If the mapping fails, the call goes ahead unrepaired.
//!
//! The copy also carries what [`Inherit`] says the new program gets instead of the inherited
//! `DETBUILD_KEY` (a repeated command) and `DETBUILD_ROOT` (an exec outside the root).
//!
//! [`with_environ`] is the variant for `system` and `popen`, which spawn `/bin/sh` inside
//! glibc with `environ`: it `putenv`s the saved static entries into `environ` itself (and
//! `setenv`s a repaired `LD_PRELOAD`), so the change stays visible to the program afterwards;
//! [`Inherit`]'s entries are `putenv`ed only for the duration of the call (a thread that
//! execs meanwhile would see them too).
//!
//! Inside a chroot (`crate::chroot`) the shim's entry is always rewritten: every shim entry of
//! `LD_PRELOAD` is replaced by the one [`Follow`] prepared for this program (or dropped when
//! the shim cannot follow), and [`with_env`]'s caller says whether the program started, so a
//! failed exec or spawn removes what was prepared for it.
//!
//! When this process pads, the copy is in the canonical order and ends with the stack pads
//! ([`pad`]), in place of any inherited ones; then every exec gets a copy.
//!
//! Not re-added: `SOURCE_DATE_EPOCH` (a build that clears it means it) and other preloads that
//! were in `LD_PRELOAD` at init (only the shim is put back).

use super::inherit::{Inherit, Program};
use super::pad::{self, PAD_TEXT};
use crate::chroot::follow::Follow;
use crate::clock::set_errno;
use crate::env::{self, Environ, KEY, PRELOAD, RESTORED, ROOT};
use crate::{state, sys};
use core::ffi::{c_char, c_int};
use detbuild_core::chroot::replace_shim;
use detbuild_core::exec::{preload_entry, shim_in, EnvScan};

/// A NULL-terminated array of C strings.
pub type Envp = *const *const c_char;

/// Environment entries kept on the stack; more go to an mmap'd buffer.
pub const STACK_PTRS: usize = 512;
/// Bytes of a repaired `LD_PRELOAD` entry kept on the stack.
const STACK_TEXT: usize = 2048;
const PRELOAD_NAME: usize = b"LD_PRELOAD=".len();

/// Whether exec hooks do anything in this process (active or real mode).
#[inline]
pub fn shimmed() -> bool {
    state::mode() != state::Mode::Inert
}

/// What a repair must do.
struct Plan<'a> {
    scan: EnvScan,
    /// Entries to put in place of `DETBUILD_KEY` and `DETBUILD_ROOT` (see [`Inherit`]).
    key: Option<*const c_char>,
    root: Option<*const c_char>,
    add: [bool; RESTORED.len()],
    /// The shim's path, when `LD_PRELOAD` must be repaired.
    shim: Option<&'a [u8]>,
    /// Inside a chroot: `shim` replaces every shim entry (empty: drops them).
    follow: bool,
    /// Value of the `LD_PRELOAD` entry being replaced (empty when there is none).
    old: &'static [u8],
    /// Add [`ASAN_LINK_ORDER`]: the shim goes back into a preload list of an environment
    /// without `ASAN_OPTIONS`, where an ASan program would abort on the library order.
    asan: bool,
    /// Drop inherited stack pads and append new ones ([`pad`]).
    pads: bool,
}

/// What the launcher sets for ASan programs, re-added with a repaired `LD_PRELOAD`.
const ASAN_LINK_ORDER: &core::ffi::CStr = c"ASAN_OPTIONS=verify_asan_link_order=0";

fn plan<'a>(envp: Envp, inherit: &Inherit, follow: Option<&'a [u8]>) -> Option<Plan<'a>> {
    if !shimmed() {
        return None;
    }
    let scan = EnvScan::new(Environ::of(envp).map(|(_, e)| e));
    let (key, root) = (inherit.key_entry(), inherit.root_entry());
    let mut add = [false; RESTORED.len()];
    for (slot, &i) in RESTORED.iter().enumerate() {
        let replaced = (i == ROOT && root.is_some()) || (i == KEY && key.is_some());
        add[slot] = env::saved_cstr(i).is_some() && !scan.has[slot] && !replaced;
    }
    let saved = env::saved()[PRELOAD];
    let shim = match follow {
        // Nothing to drop when there is no LD_PRELOAD at all.
        Some(entry) if entry.is_empty() && scan.preload.is_none() => None,
        Some(entry) => Some(entry),
        None => shim_in(saved.get(PRELOAD_NAME..).unwrap_or(b"")).filter(|_| !scan.preload_ok()),
    };
    let pads = pad::enabled();
    if !add.contains(&true) && shim.is_none() && !inherit.any() && !pads {
        return None;
    }
    let old = match scan.preload {
        Some((i, _)) => Environ::of(envp)
            .nth(i)
            .and_then(|(_, e)| e.get(PRELOAD_NAME..))
            .unwrap_or(b""),
        None => b"",
    };
    let asan = shim.is_some_and(|s| !s.is_empty()) && !scan.asan && follow.is_none();
    Some(Plan {
        scan,
        key,
        root,
        add,
        shim,
        follow: follow.is_some(),
        old,
        asan,
        pads,
    })
}

/// What kind of call [`with_env`] wraps, to tell from its result whether a program started.
#[derive(Clone, Copy)]
pub enum Call {
    /// An exec: returning at all means it failed.
    Exec,
    /// A spawn: 0 means the program started.
    Spawn,
}

/// Calls `f` with `envp`, repaired if it lacks detbuild's variables and carrying what the
/// new `program` inherits (see the module docs).
pub fn with_env(envp: Envp, program: Program, call: Call, f: impl FnOnce(Envp) -> c_int) -> c_int {
    if !shimmed() {
        return f(envp);
    }
    let follow = Follow::prepare(|| super::path::unreachable(program.path));
    let inherit = Inherit::compute(envp, program);
    let r = match plan(envp, &inherit, follow.as_ref().map(Follow::entry)) {
        Some(plan) => repaired(&plan, program, envp, f),
        None => f(envp),
    };
    if let Some(follow) = follow {
        follow.finish(matches!(call, Call::Spawn) && r == 0);
    }
    r
}

/// Calls `f` with the environment `plan` makes of `envp` for `program`.
fn repaired(plan: &Plan, program: Program, envp: Envp, f: impl FnOnce(Envp) -> c_int) -> c_int {
    let ptrs = plan.scan.len + RESTORED.len() + 3 + pad::ENTRIES;
    let text = PRELOAD_NAME + plan.old.len() + plan.shim.map_or(0, |s| s.len()) + 2;
    let mut pads = [0u8; PAD_TEXT];
    if ptrs <= STACK_PTRS && text <= STACK_TEXT {
        let mut array = [core::ptr::null(); STACK_PTRS];
        let mut buf = [0u8; STACK_TEXT];
        let bufs = (&mut buf[..], &mut pads);
        return match build(plan, program, envp, &mut array, bufs) {
            Some(()) => f(array.as_ptr()),
            None => f(envp),
        };
    }
    let size = ptrs * core::mem::size_of::<*const c_char>() + text;
    let Some(mem) = sys::mmap_anon(size) else {
        return f(envp);
    };
    // SAFETY: `mem` is a fresh private mapping of `size` bytes, page-aligned; the pointer
    // array takes its first `ptrs` words and the text the rest, without overlap.
    let (array, buf) = unsafe {
        (
            core::slice::from_raw_parts_mut(mem.cast::<*const c_char>(), ptrs),
            core::slice::from_raw_parts_mut(mem.add(size - text), text),
        )
    };
    let result = match build(plan, program, envp, array, (buf, &mut pads)) {
        Some(()) => f(array.as_ptr()),
        None => f(envp),
    };
    // SAFETY: our own mapping; the exec call that used it has returned.
    unsafe { sys::munmap(mem, size) };
    result
}

/// Fills `array` with the repaired environment (NULL-terminated), using `buf` for a new
/// `LD_PRELOAD` entry and `pads` for the short stack pad; `None` if either is too small (the
/// environment changed under us).
fn build(
    plan: &Plan,
    program: Program,
    envp: Envp,
    array: &mut [*const c_char],
    (buf, pads): (&mut [u8], &mut [u8; PAD_TEXT]),
) -> Option<()> {
    let preload = match plan.shim {
        Some(shim) if plan.follow => {
            replace_shim(plan.old, shim, buf)?;
            buf.as_ptr().cast::<c_char>()
        }
        Some(shim) => {
            preload_entry(plan.old, shim, buf)?;
            buf.as_ptr().cast::<c_char>()
        }
        None => core::ptr::null(),
    };
    let replace = plan
        .scan
        .preload
        .map(|(i, _)| i)
        .filter(|_| !preload.is_null());
    let mut n = 0;
    let mut push = |p: *const c_char| -> Option<()> {
        *array.get_mut(n)? = p;
        n += 1;
        Some(())
    };
    let mut inherited = [plan.key, plan.root];
    for (i, (p, entry)) in Environ::of(envp).enumerate().take(plan.scan.len) {
        if plan.pads && pad::is_pad(entry) {
            continue;
        }
        let ours = [KEY, ROOT].map(|v| entry.starts_with(env::NAMES[v]));
        push(match ours.iter().position(|&o| o) {
            Some(v) if inherited[v].is_some() => inherited[v].take()?,
            _ if Some(i) == replace => preload,
            _ => p,
        })?;
    }
    for (slot, &i) in RESTORED.iter().enumerate() {
        if plan.add[slot] {
            push(env::saved_cstr(i)?)?;
        }
    }
    for entry in inherited.into_iter().flatten() {
        push(entry)?;
    }
    if !preload.is_null() && replace.is_none() {
        push(preload)?;
    }
    if plan.asan {
        push(ASAN_LINK_ORDER.as_ptr())?;
    }
    if plan.pads {
        pad::order(&mut array[..n]);
        n = pad::append(program.path, program.argv, array, n, pads);
    }
    *array.get_mut(n)? = core::ptr::null();
    Some(())
}

/// Runs `f` (`system` or `popen` running `sh -c command`) with detbuild's variables put back
/// into `environ` itself, and [`Inherit`]'s entries in place while it runs (see the module
/// docs). Inside a chroot, `environ`'s `LD_PRELOAD` names the shim as [`Follow`] prepared it
/// while `f` runs; `started` tells from `f`'s result whether the shell started. Allocates
/// inside libc (`putenv`, `setenv`), as those functions do anyway.
pub fn with_environ<R>(
    command: *const c_char,
    started: fn(&R) -> bool,
    f: impl FnOnce() -> R,
) -> R {
    if !shimmed() {
        return f();
    }
    repair_environ();
    let Some(follow) = Follow::prepare(|| false) else {
        return with_inherited(command, f);
    };
    let mut buf = [0u8; STACK_TEXT];
    let old = Environ::current().find(|(_, e)| e.starts_with(b"LD_PRELOAD="));
    let value = old.map_or(&b""[..], |(_, e)| &e[PRELOAD_NAME..]);
    let put = crate::real::putenv();
    let swapped = match (put, replace_shim(value, follow.entry(), &mut buf)) {
        // SAFETY: a NUL-terminated entry on our stack, which outlives the call below, after
        // which the old entry is put back (or the variable removed).
        (Some(put), Some(_)) => unsafe { put(buf.as_mut_ptr().cast()) == 0 },
        _ => false,
    };
    let result = with_inherited(command, f);
    follow.finish(started(&result));
    match (swapped, old, put, crate::real::unsetenv()) {
        // SAFETY: the entry that was in `environ` before; it is still alive.
        (true, Some((old, _)), Some(put), _) => unsafe { put(old.cast_mut()) },
        // SAFETY: a literal name.
        (true, None, _, Some(unset)) => unsafe { unset(c"LD_PRELOAD".as_ptr()) },
        _ => 0,
    };
    result
}

/// Runs `f` with [`Inherit`]'s entries in `environ` (see [`with_environ`]).
fn with_inherited<R>(command: *const c_char, f: impl FnOnce() -> R) -> R {
    let argv = [c"sh".as_ptr(), c"-c".as_ptr(), command, core::ptr::null()];
    let program = Program {
        path: c"/bin/sh".as_ptr(),
        argv: argv.as_ptr(),
    };
    let inherit = Inherit::compute(env::environ_ptr(), program);
    let Some(put) = crate::real::putenv().filter(|_| inherit.any()) else {
        return f();
    };
    let swap = [KEY, ROOT].map(|v| {
        let new = match v {
            KEY => inherit.key_entry(),
            _ => inherit.root_entry(),
        }?;
        let old = Environ::current()
            .find(|(_, e)| e.starts_with(env::NAMES[v]))?
            .0;
        // SAFETY: a NUL-terminated `NAME=value` entry on our stack, which outlives the call
        // below, after which the old entry is put back.
        unsafe { put(new.cast_mut()) };
        Some(old)
    });
    let result = f();
    for old in swap.into_iter().flatten() {
        // SAFETY: the entry that was in `environ` before; it is still alive.
        unsafe { put(old.cast_mut()) };
    }
    result
}

/// Puts detbuild's variables back into `environ` itself (see [`with_environ`]).
fn repair_environ() {
    let Some(plan) = plan(env::environ_ptr(), &Inherit::NONE, None) else {
        return;
    };
    if let Some(put) = crate::real::putenv() {
        for (slot, &i) in RESTORED.iter().enumerate() {
            if let Some(entry) = env::saved_cstr(i).filter(|_| plan.add[slot]) {
                // SAFETY: a NUL-terminated entry in a static buffer that is never written
                // again, so it may become part of the environment.
                unsafe { put(entry.cast_mut()) };
            }
        }
    }
    let (Some(shim), Some(set)) = (plan.shim, crate::real::setenv()) else {
        return;
    };
    if plan.asan {
        let value = &ASAN_LINK_ORDER.to_bytes_with_nul()[b"ASAN_OPTIONS=".len()..];
        // SAFETY: a literal name and a NUL-terminated static value; setenv copies both.
        unsafe { set(c"ASAN_OPTIONS".as_ptr(), value.as_ptr().cast(), 0) };
    }
    let mut buf = [0u8; STACK_TEXT];
    if preload_entry(plan.old, shim, &mut buf).is_some() {
        // SAFETY: a literal name and a NUL-terminated value in `buf`; setenv copies both.
        unsafe {
            set(
                c"LD_PRELOAD".as_ptr(),
                buf[PRELOAD_NAME..].as_ptr().cast(),
                1,
            )
        };
    }
}

/// Sets errno and returns -1 (the exec functions' failure).
pub fn fail(errno: c_int) -> c_int {
    set_errno(errno)
}
