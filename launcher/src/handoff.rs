//! The run's clock table (`detbuild_core::handoff`): the launcher names it in the payload
//! (`run=<16 hex>`) and removes it after the command.
//!
//! `detbuild -- CMD` makes a fresh id per run, so runs never see each other's slots, and
//! removes `/dev/shm/detbuild-<id>` when the command ends. `detbuild env` cannot know when
//! the shell's children are done: its id is the root key's first 16 hex digits, so every
//! `eval "$(detbuild env)"` with the same seed shares one table and leaves it in place.

use std::ffi::OsString;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

/// A fresh id from the system's random source (the time and pid if it cannot be read).
pub fn fresh_id() -> String {
    let mut bytes = [0u8; 8];
    let read = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if read.is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id()) << 40).to_le_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The id for `detbuild env`: the first 16 hex digits of the payload's root key.
pub fn stable_id(payload: &[u8]) -> Option<String> {
    let key = payload
        .split(|&b| b == b';')
        .find_map(|f| f.strip_prefix(b"key="))?;
    Some(String::from_utf8_lossy(key.get(..16)?).into_owned())
}

/// Appends `;run=ID` to the `DETBUILD` payload in `env`.
pub fn name_table(env: &mut [(&str, OsString)], id: &str) {
    for (name, value) in env.iter_mut() {
        if *name == detbuild_core::settings::VAR {
            value.push(format!(";run={id}"));
        }
    }
}

/// The payload in `env`, as bytes.
pub fn payload<'a>(env: &'a [(&str, OsString)]) -> &'a [u8] {
    env.iter()
        .find(|(n, _)| *n == detbuild_core::settings::VAR)
        .map_or(&b""[..], |(_, v)| v.as_bytes())
}

/// Removes the table of run `id` (nothing if no process made one).
pub fn remove(id: &str) {
    let _ = std::fs::remove_file(format!("/dev/shm/detbuild-{id}"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use detbuild_core::handoff::run_id;

    #[test]
    fn ids_name_a_table_the_shim_accepts() {
        let fresh = fresh_id();
        assert_ne!(fresh, fresh_id());
        let mut env = vec![(
            "DETBUILD",
            OsString::from("v1;epoch=1;key=0123456789abcdef99"),
        )];
        let stable = stable_id(payload(&env)).unwrap();
        assert_eq!(stable, "0123456789abcdef");
        name_table(&mut env, &fresh);
        assert_eq!(
            run_id(payload(&env)).map(|id| String::from_utf8(id.to_vec()).unwrap()),
            Some(fresh)
        );
    }
}
