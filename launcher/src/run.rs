//! Settling the options, then either printing the environment or running the command.

use crate::cli::{Cli, Format, Mode, Opts};
use crate::config::{self, Config};
use crate::epoch::{self, Source};
use crate::error::Error;
use crate::plan::{self, Plan};
use crate::{fail, guard, handoff, layout, say, spawn};
use detbuild_core::settings::REPORT_VAR;
use std::ffi::OsString;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

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
        Some(Mode::Hook { kind }) => return crate::hook::main(*kind, &cli.opts),
        _ => {}
    }
    let mut opts = cli.opts.clone();
    opts.require_epoch = matches!(cli.mode, Some(Mode::Env { .. }));
    let plan = settle(&opts)?;
    let inherited_preload = std::env::var_os("LD_PRELOAD");
    let dropped = plan::dropped_preloads(inherited_preload.as_ref());
    for faker in &dropped {
        say!("notice: {faker} left out of the build's LD_PRELOAD, with its settings (detbuild fakes the clock itself; the faker would move every program's memory layout)");
    }
    let faker_vars = plan::faker_settings(std::env::vars_os().map(|(name, _)| name), &dropped);
    let mut env = plan::child_env(&plan, inherited_preload.as_ref());
    let asan = plan::asan_options(std::env::var_os("ASAN_OPTIONS").as_ref());
    env.push(("ASAN_OPTIONS", asan));
    let (shell_vars, mut unset) = plan::shell_env(&plan.shell, &plan.identity);
    unset.extend(faker_vars.iter().map(String::as_str));
    env.extend(shell_vars);
    match cli.mode {
        Some(Mode::Env { format }) => {
            if let Some(id) = handoff::stable_id(handoff::payload(&env)) {
                handoff::name_table(&mut env, &id);
            }
            let text = render(&env, format)? + &render_shell(&plan.shell, &unset, format);
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
                    say!("{name}={}", value.to_string_lossy());
                }
            }
            enter_shell(&plan.shell);
            let build_path = cli.opts.build_path.as_deref();
            if let Some(p) = build_path {
                // Shells trust an inherited PWD that names the same directory as ".", and
                // the bind mount does; make them see the build path.
                env.push(("PWD", p.into()));
            }
            if let Some(file) = &cli.report {
                env.push((REPORT_VAR, crate::report::create(file)?.into_os_string()));
            }
            let id = handoff::fresh_id();
            handoff::name_table(&mut env, &id);
            let code = crate::isolate::run(plan.namespaces, &plan.host, build_path, || {
                let pad = !plan.shell.aslr;
                let cmd = spawn::command(&cli.command, &env, &unset, cli.opts.no_new_privs, pad)?;
                guard::supervise(|| spawn::start(cmd))
            });
            handoff::remove(&id);
            match code? {
                0 if !cli.normalize.is_empty() => {
                    crate::normalize::after_build(&cli.normalize, plan.epoch)
                }
                code => Ok(code),
            }
        }
        Some(
            Mode::Normalize(_)
            | Mode::Report { .. }
            | Mode::Check(_)
            | Mode::Record(_)
            | Mode::Hook { .. },
        ) => {
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
    let cpus = match &opts.cpus {
        Some(text) => detbuild_core::cpus::parse(text)
            .map_err(|e| fail!("--cpus {text:?} {e}; e.g. --cpus 4 or --cpus real"))?,
        None => config.cpus.unwrap_or(Some(detbuild_core::cpus::DEFAULT)),
    };
    let plan = Plan {
        epoch,
        seed,
        step_ns,
        fake_clock: config.fake_clock,
        fake_random: true,
        programs: plan::program_list(&config.programs),
        root: match &opts.build_path {
            Some(p) if p.is_absolute() => p.clone(),
            Some(p) => {
                return Err(fail!(
                    "--build-path {} must be an absolute path, e.g. /build/src",
                    p.display()
                ))
            }
            None => cwd,
        },
        shim: layout::find_shim()?,
        host: config.host,
        cpus,
        identity: match &config.identity {
            Some((user, group)) => {
                // SAFETY: getuid and getgid cannot fail.
                let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
                detbuild_core::identity::Identity {
                    user: *user,
                    group: *group,
                    ..detbuild_core::identity::Identity::new(uid, gid)
                }
            }
            None => detbuild_core::identity::Identity::UNSET,
        },
        namespaces: match &opts.namespaces {
            Some(text) => crate::isolate::parse(text).map_err(|m| {
                fail!("--namespaces: {m}; e.g. --namespaces pid,uts or --namespaces none")
            })?,
            None => config.namespaces,
        },
        shell: plan::Shell {
            aslr: opts.aslr || config.shell.aslr,
            ..config.shell.clone()
        },
    };
    if opts.verbose {
        say!(
            "epoch {} (from {source}), step {} ns, seed {:?}, clock {}, programs: built-in{}",
            plan.epoch,
            plan.step_ns,
            plan.seed,
            if plan.fake_clock { "logical" } else { "real" },
            plan.programs
                .iter()
                .map(|p| format!(" {p}"))
                .collect::<String>()
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
        None => config::parse("").map_err(|(_, m)| fail!("default config: {m}"))?,
    };
    let sde = std::env::var_os("SOURCE_DATE_EPOCH");
    let resolved = epoch::resolve(
        opts.epoch.as_deref(),
        sde.as_deref(),
        config.epoch,
        || epoch::from_git(&cwd),
        || epoch::from_changelog(&cwd),
    )?;
    if let Some(refused) = epoch::refusal(&resolved).filter(|_| opts.require_epoch) {
        return Err(refused);
    }
    for line in epoch::notices(&resolved) {
        say!("{line}");
    }
    Ok((cwd, config, resolved.epoch, resolved.source))
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

/// The umask and ASLR settings, applied to the launcher itself just before it spawns (the
/// child inherits both; the launcher creates no files and maps nothing after).
fn enter_shell(shell: &plan::Shell) {
    if let Some(mask) = shell.umask {
        // SAFETY: umask only changes this process's file-creation mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    if !shell.aslr {
        // SAFETY: personality(0xffffffff) reads the current persona; setting it again with
        // ADDR_NO_RANDOMIZE affects only address layouts of later execs.
        unsafe {
            let current = libc::personality(0xffff_ffff);
            if current != -1 {
                libc::personality((current | libc::ADDR_NO_RANDOMIZE) as libc::c_ulong);
            }
        }
    }
}

/// The parts of the shell settings `detbuild env` cannot export: removals, the umask, ASLR.
fn render_shell(shell: &plan::Shell, unset: &[&str], format: Format) -> String {
    let mut out = String::new();
    for name in unset {
        out.push_str(&match format {
            Format::Sh => format!("unset {name}\n"),
            Format::Make => format!("unexport {name}\n"),
        });
    }
    if let Some(mask) = shell.umask {
        out.push_str(&match format {
            Format::Sh => format!("umask {mask:03o}\n"),
            Format::Make => format!("# umask {mask:03o}: set it in the shell that runs make\n"),
        });
    }
    if !shell.aslr {
        out.push_str(
            "# address-space randomization: run the build under `setarch -R` to turn it off\n",
        );
    }
    out
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
