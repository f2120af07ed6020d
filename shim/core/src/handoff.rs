//! The clock hand-off between processes: where a new program's clock starts, and what a parent
//! learns of a child's clock when it reaps it.
//!
//! The shims of one run share a table of one `u64` slot per pid: a sparse file,
//! [`table_path`], named by the payload's `run=` id, which the launcher makes fresh for each
//! run and removes after it. A slot is empty (0) or holds a state in its
//! top two bits and a clock offset (nanoseconds past the epoch, saturated to 62 bits) below:
//! - [`EXEC`]: written by a process just before it execs; the new program (same pid) starts its
//!   clock there and empties the slot;
//! - [`SPAWN`]: written by a process just before it spawns (`posix_spawn`, `system`, `popen`);
//!   a new program that finds no `EXEC` in its own slot starts at its parent's `SPAWN`;
//! - [`EXIT`]: written by a process as it exits (`exit`, `_exit`): its final clock; the parent
//!   that reaps it reads it and empties the slot.
//!
//! What a process then does with a child's `EXIT` depends on its policy (see the shim's
//! `handoff.rs`): a process on the build's clock moves its clock to the later of the two; one
//! on the real clock (`make`, `xargs`) keeps its own start for its next jobs and only reports,
//! at its own exit, the latest of its jobs' clocks.

/// The state bits of a slot.
const STATE: u64 = 3 << 62;
/// The clock bits of a slot.
const CLOCK: u64 = !STATE;
/// A program exec'd by this pid starts here.
pub const EXEC: u64 = 1 << 62;
/// A program spawned by this pid starts here.
pub const SPAWN: u64 = 2 << 62;
/// This pid exited with this clock.
pub const EXIT: u64 = 3 << 62;

/// Pids are below 2^22 (the kernel's `PID_MAX_LIMIT`); one slot each.
pub const SLOTS: usize = 1 << 22;
/// The table's size in bytes (sparse: only the pages of pids in use are ever touched).
pub const TABLE_BYTES: usize = SLOTS * 8;

/// A slot holding `state` and `clock_ns` (saturated to the slot's 62 bits).
pub fn slot(state: u64, clock_ns: u64) -> u64 {
    state | clock_ns.min(CLOCK)
}

/// The clock of `value` if it is in `state`.
pub fn clock_in(value: u64, state: u64) -> Option<u64> {
    (value & STATE == state).then_some(value & CLOCK)
}

/// Where a new program's clock starts: its own slot's `EXEC` (it was exec'd by a process that
/// handed off), else its parent's `SPAWN`, else the epoch.
pub fn start(own: u64, parent: u64) -> u64 {
    clock_in(own, EXEC)
        .or_else(|| clock_in(parent, SPAWN))
        .unwrap_or(0)
}

/// The payload field naming the run's table (16 hex digits, fresh per `detbuild --` run).
pub const RUN_FIELD: &[u8] = b"run=";

/// The run id from a payload (`...;run=<16 hex>`), if present and well-formed; without one
/// (an older launcher) there is no table and every program starts at the epoch.
pub fn run_id(payload: &[u8]) -> Option<[u8; 16]> {
    let value = payload
        .split(|&b| b == b';')
        .find_map(|f| f.strip_prefix(RUN_FIELD))?;
    let id: [u8; 16] = value.try_into().ok()?;
    id.iter()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        .then_some(id)
}

/// The table's path, NUL-terminated: `/dev/shm/detbuild-<run id>`.
pub fn table_path(run: &[u8; 16]) -> [u8; 35] {
    let mut out = [0u8; 35];
    out[..18].copy_from_slice(b"/dev/shm/detbuild-");
    out[18..34].copy_from_slice(run);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_keep_state_and_clock_apart() {
        let v = slot(EXIT, 5_000);
        assert_eq!(clock_in(v, EXIT), Some(5_000));
        assert_eq!(clock_in(v, EXEC), None);
        assert_eq!(clock_in(0, EXIT), None);
        assert_eq!(clock_in(slot(EXEC, u64::MAX), EXEC), Some(CLOCK));
    }

    #[test]
    fn a_program_starts_at_its_exec_then_its_parents_spawn_then_the_epoch() {
        assert_eq!(start(slot(EXEC, 7), slot(SPAWN, 9)), 7);
        assert_eq!(start(slot(EXIT, 7), slot(SPAWN, 9)), 9);
        assert_eq!(start(0, slot(EXEC, 9)), 0);
        assert_eq!(start(0, 0), 0);
    }

    #[test]
    fn run_ids_name_the_table() {
        let id = run_id(b"v1;epoch=1;run=0123456789abcdef;key=00").unwrap();
        assert_eq!(
            &table_path(&id)[..],
            b"/dev/shm/detbuild-0123456789abcdef\0"
        );
        assert_eq!(run_id(b"v1;epoch=1"), None);
        assert_eq!(run_id(b"v1;run=0123456789ABCDEF"), None);
        assert_eq!(run_id(b"v1;run=0123"), None);
        assert_eq!(run_id(b"v1;run=../../etc/passwdxx"), None);
    }
}
