//! Settling the options, then either printing the environment or running the command.

use crate::cli::{Cli, Format, Mode, Opts};
use crate::config::{self, Config};
use crate::epoch::{self, Source};
use crate::error::Error;
use crate::plan::{self, Plan};
use crate::{fail, layout};
use detbuild_core::settings::REPORT_VAR;
use std::ffi::{OsStr, OsString};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicI32, Ordering};

/// Runs the chosen mode; `Ok` carries the exit status.
pub fn main(cli: Cli) -> Result<u8, Error> {
    if let Some(Mode::Normalize(args)) = &cli.mode {
        let (_, _, epoch, _) = settle_epoch(&cli.opts)?;
        return Ok(crate::normalize::main(args, epoch));
    }
    match &cli.mode {
        Some(Mode::Report { file }) => return crate::report::main(file),
        Some(Mode::Check(args)) => return crate::check::main(args, &cli.opts),
        Some(Mode::Record(args)) => return crate::record::main(args, &cli.opts),
        _ => {}
    }
    let plan = settle(&cli.opts)?;
    let mut env = plan::child_env(&plan, std::env::var_os("LD_PRELOAD").as_ref());
    let asan = plan::asan_options(std::env::var_os("ASAN_OPTIONS").as_ref());
    env.push(("ASAN_OPTIONS", asan));
    match cli.mode {
        Some(Mode::Env { format }) => {
            let text = render(&env, format)?;
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
                Err(e) if e.kind() != ErrorKind::BrokenPipe => {
                    Err(fail!("cannot write to stdout: {e}"))
                }
                _ => Ok(0),
            }
        }
        None => {
            if cli.opts.verbose {
                for (name, value) in env.iter().filter(|(n, _)| *n == "LD_PRELOAD") {
                    eprintln!("detbuild: {name}={}", value.to_string_lossy());
                }
            }
            if let Some(file) = &cli.report {
                env.push((REPORT_VAR, crate::report::create(file)?.into_os_string()));
            }
            match spawn(&cli.command, &env, cli.opts.no_new_privs)? {
                0 if !cli.normalize.is_empty() => {
                    crate::normalize::after_build(&cli.normalize, plan.epoch)
                }
                code => Ok(code),
            }
        }
        Some(Mode::Normalize(_) | Mode::Report { .. } | Mode::Check(_) | Mode::Record(_)) => {
            unreachable!("handled before settling")
        }
    }
}

/// Loads the config and settles epoch, seed, step and the unshimmed list.
pub fn settle(opts: &Opts) -> Result<Plan, Error> {
    settle_full(opts).map(|(plan, _)| plan)
}

/// [`settle`], also saying where the epoch came from.
pub fn settle_full(opts: &Opts) -> Result<(Plan, Source), Error> {
    let (cwd, config, epoch, source) = settle_epoch(opts)?;
    let step_ns = match &opts.step {
        Some(text) => config::validate_step(text).map_err(|m| fail!("--step: {m}"))?,
        None => config
            .step_ns
            .unwrap_or(detbuild_core::clock::DEFAULT_STEP_NS),
    };
    let seed = match &opts.seed {
        Some(s) if s.is_empty() => {
            return Err(fail!(
                "--seed must not be empty; give any text, e.g. --seed release-1"
            ))
        }
        Some(s) => s.clone(),
        None => config.seed.clone().unwrap_or_else(|| epoch.to_string()),
    };
    let plan = Plan {
        epoch,
        seed,
        step_ns,
        fake_clock: config.fake_clock,
        fake_random: true,
        programs: plan::program_list(&config.programs),
        root: cwd,
        shim: layout::find_shim()?,
    };
    if opts.verbose {
        eprintln!(
            "detbuild: epoch {} (from {source}), step {} ns, seed {:?}, clock {}, programs: {}",
            plan.epoch,
            plan.step_ns,
            plan.seed,
            if plan.fake_clock { "logical" } else { "real" },
            plan.programs.join(" ")
        );
    }
    Ok((plan, source))
}

/// The working directory, the config, and the epoch with where it came from: all that
/// `normalize` needs, settled without looking for the shim.
pub fn settle_epoch(opts: &Opts) -> Result<(PathBuf, Config, i64, Source), Error> {
    let cwd =
        std::env::current_dir().map_err(|e| fail!("cannot read the working directory: {e}"))?;
    let config = match &opts.config {
        Some(path) => config::load(path)?,
        None if Path::new("detbuild.toml").is_file() => config::load(Path::new("detbuild.toml"))?,
        None => Config {
            fake_clock: true,
            ..Config::default()
        },
    };
    let sde = std::env::var_os("SOURCE_DATE_EPOCH");
    let (epoch, source) = epoch::resolve(
        opts.epoch.as_deref(),
        sde.as_deref(),
        config.epoch,
        || epoch::from_git(&cwd),
        || epoch::from_changelog(&cwd),
    )?;
    if source == Source::Default {
        eprintln!(
            "detbuild: notice: no --epoch, SOURCE_DATE_EPOCH, detbuild.toml epoch, git commit or debian/changelog; using {epoch} (1980-01-01)"
        );
    }
    Ok((cwd, config, epoch, source))
}

/// The environment as shell or make assignments.
fn render(env: &[(&str, OsString)], format: Format) -> Result<String, Error> {
    let mut out = String::new();
    for (name, value) in env {
        let value = value
            .to_str()
            .filter(|v| !v.contains('\n'))
            .ok_or_else(|| fail!("{name} holds a newline or non-UTF-8 bytes and cannot be printed; run from a plainer directory"))?;
        match format {
            Format::Sh => out.push_str(&format!(
                "export {name}='{}'\n",
                value.replace('\'', r"'\''")
            )),
            Format::Make => out.push_str(&format!(
                "export {name} := {}\n",
                value.replace('$', "$$").replace('#', r"\#")
            )),
        }
    }
    Ok(out)
}

/// The child's pid while it runs, for the signal forwarder (0 before the spawn).
static CHILD: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let pid = CHILD.load(Ordering::Relaxed);
    // SAFETY: the kernel passes a valid siginfo to an SA_SIGINFO handler.
    let code = unsafe { (*info).si_code };
    // A terminal's ^C already reached the whole foreground group (si_code > 0, from the
    // kernel); only a signal sent to detbuild alone (kill, si_code <= 0) is passed on.
    if pid > 0 && code <= 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

fn install_forwarding() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT] {
        // SAFETY: a zeroed sigaction is valid; we fill the handler and flags before use.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as *const () as usize;
            sa.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Spawns the command with `env` applied and mirrors its exit.
fn spawn(argv: &[OsString], env: &[(&str, OsString)], no_new_privs: bool) -> Result<u8, Error> {
    let Some((program, args)) = argv.split_first() else {
        return Err(fail!(
            "no command given; usage: detbuild [OPTIONS] -- COMMAND [ARGS...]"
        ));
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for (name, value) in env {
        cmd.env(name, value);
    }
    if no_new_privs {
        // SAFETY: prctl is async-signal-safe, as the pre_exec contract requires.
        unsafe {
            cmd.pre_exec(
                || match libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) {
                    0 => Ok(()),
                    _ => Err(std::io::Error::last_os_error()),
                },
            );
        }
    }
    warn_if_unshimmable(program);
    install_forwarding();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let name = program.to_string_lossy();
            return Ok(match e.kind() {
                ErrorKind::NotFound => {
                    eprintln!("detbuild: {name}: command not found (check the name and PATH)");
                    127
                }
                ErrorKind::PermissionDenied => {
                    eprintln!("detbuild: {name}: permission denied (is it executable?)");
                    126
                }
                _ => {
                    eprintln!("detbuild: cannot run {name}: {e}");
                    126
                }
            });
        }
    };
    CHILD.store(child.id() as i32, Ordering::Relaxed);
    let status = child
        .wait()
        .map_err(|e| fail!("lost track of the command: {e}"))?;
    Ok(match (status.code(), status.signal()) {
        (Some(code), _) => code as u8,
        (None, Some(sig)) => 128u8.wrapping_add(sig as u8),
        _ => 2,
    })
}

/// Prints the shim's one-line warning when the command is a static or Go program, which the
/// shim cannot reach (the shim checks every later exec itself; see shim/src/exec/check.rs).
fn warn_if_unshimmable(program: &OsStr) {
    use detbuild_core::exec::{classify, is_loader, warning_line, Kind};
    let Some(path) = find_program(program) else {
        return;
    };
    let head = read_head(&path);
    let (shown, inner);
    let kind = match classify(&head) {
        Kind::Script(interp) => {
            shown = PathBuf::from(OsStr::from_bytes(interp));
            inner = read_head(&shown);
            classify(&inner)
        }
        kind => {
            shown = path;
            kind
        }
    };
    let shown = shown.as_os_str().as_bytes();
    let mut line = [0u8; 640];
    if let Some(n) = warning_line(shown, kind, &mut line).filter(|_| !is_loader(shown)) {
        let _ = std::io::stderr().write_all(&line[..n]);
    }
}

/// The first bytes of a file that `classify` looks at (empty if unreadable).
fn read_head(path: &Path) -> Vec<u8> {
    let mut head = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file
            .take(detbuild_core::exec::HEAD as u64)
            .read_to_end(&mut head);
    }
    head
}

/// Where `program` is found, as `execvp` would search `PATH`.
fn find_program(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/bin:/usr/bin".into());
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_quotes_for_sh_and_make() {
        let env = vec![("A", OsString::from("it's $x #1"))];
        assert_eq!(
            render(&env, Format::Sh).unwrap(),
            "export A='it'\\''s $x #1'\n"
        );
        assert_eq!(
            render(&env, Format::Make).unwrap(),
            "export A := it's $$x \\#1\n"
        );
        assert!(render(&[("B", OsString::from("a\nb"))], Format::Sh).is_err());
    }
}
