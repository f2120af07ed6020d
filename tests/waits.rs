//! Sleeps and timed waits take their real time under detbuild, exactly as natively: none returns
//! at once and none blocks forever, and the faked clock moves by what was slept or waited.
//!
//! Every program runs natively and under detbuild with a hard time limit; each pair's wall
//! times are printed (`cargo test -- --nocapture` shows them). The C probe `waits.c` reads the
//! wall clock once, waits ~200 ms, and reports the real time taken and the faked difference:
//! under a 1 s step (`ONE_S`, these tests' flags) a read moves the clock 1 s, so a wait that
//! moved the clock by its 200 ms shows `faked_ns=1200000000`, one that left it alone
//! `faked_ns=1000000000`.

use crate::common::*;
use std::time::{Duration, Instant};

/// One step plus 200 ms: the clock moved by the read and by the 200 ms wait.
const MOVED: &str = "1200000000";
/// One step: the wait did not move the clock.
const UNMOVED: &str = "1000000000";
const LIMIT: Duration = Duration::from_secs(30);
/// The epoch with a 1 s step, which makes a read and a wait tell apart in the probe's output.
const ONE_S: [&str; 4] = ["--epoch", EPOCH, "--step", "1s"];

/// Runs `cmd` within `limit`, printing its wall time under `label`.
#[track_caller]
fn timed(label: &str, cmd: &mut Command, limit: Duration) -> (Output, Duration) {
    let t = Instant::now();
    let out = run_within(cmd, limit);
    let wall = t.elapsed();
    eprintln!("{label}: {} ms", wall.as_millis());
    (out, wall)
}

/// Runs `argv` natively and under `detbuild FLAGS`, both within `limit`; returns both outputs
/// (asserting success) and the wall times.
#[track_caller]
fn both(flags: &[&str], argv: &[&str], limit: Duration) -> [(String, Duration); 2] {
    let name = std::path::Path::new(argv[0])
        .file_name()
        .unwrap()
        .to_string_lossy();
    let what: String = std::iter::once(&*name)
        .chain(argv[1..].iter().copied())
        .collect::<Vec<_>>()
        .join(" ")
        .replace('\n', " ")
        .chars()
        .take(70)
        .collect();
    let (n, nt) = timed(&format!("native   {what}"), &mut native(argv), limit);
    let (d, dt) = timed(&format!("detbuild {what}"), &mut det(flags, argv), limit);
    [(n.ok(), nt), (d.ok(), dt)]
}

use std::process::Command;

/// Runs probe case `case` natively and under detbuild: both must take their real time and
/// report the same result; under detbuild the faked clock must have moved by `faked`.
#[track_caller]
fn probe_case(case: &str, faked: &str) -> String {
    probe_case_with(&ONE_S, case, faked)
}

#[track_caller]
fn probe_case_with(flags: &[&str], case: &str, faked: &str) -> String {
    let probe = probe("waits");
    let [(n, _), (d, _)] = both(flags, &[probe.to_str().unwrap(), case], LIMIT);
    assert_eq!(field(&n, "real_ok"), "1", "native run out of range:\n{n}");
    assert_eq!(
        field(&d, "real_ok"),
        "1",
        "{case}: under detbuild the wait did not take its real time:\n{d}"
    );
    assert_eq!(
        field(&d, "result"),
        field(&n, "result"),
        "{case}: different result:\n{n}\n{d}"
    );
    assert_eq!(
        field(&d, "faked_ns"),
        faked,
        "{case}: the faked clock moved by the wrong amount:\n{d}"
    );
    d
}

// Promise: sleeps sleep for real and the faked clock advances by the slept duration, for every
// sleep entry point (glibc's sleep, usleep and thrd_sleep bypass nanosleep, so each counts);
// `sleep` sleeps one second, the others 200 ms.
one_test_per_case!(
    sleeps_take_real_time_and_move_the_clock,
    |case| probe_case(case, if case == "sleep" { "2000000000" } else { MOVED });
    nanosleep,
    usleep,
    thrd_sleep,
    clock_nanosleep_rel_realtime,
    clock_nanosleep_rel_monotonic,
    clock_nanosleep_abs_monotonic,
    sleep,
);

// Promise: a sleep interrupted by a signal moves the clock by the part that was slept.
#[test]
fn interrupted_sleeps_move_the_clock_by_what_they_slept() {
    let probe = probe("waits");
    let [(n, _), (d, _)] = both(&ONE_S, &[probe.to_str().unwrap(), "nanosleep_eintr"], LIMIT);
    for out in [&n, &d] {
        assert_eq!(field(out, "result"), "interrupted", "{out}");
        assert_eq!(field(out, "remaining_over_700ms"), "1", "{out}");
        assert_eq!(field(out, "real_ok"), "1", "{out}");
    }
    let faked: u64 = field(&d, "faked_ns").parse().unwrap();
    assert!(
        (1_150_000_000..1_500_000_000).contains(&faked),
        "one step plus ~200 ms slept, got {faked}:\n{d}"
    );
}

// Promise: clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, t) waits until t on the faked clock
// (for the real time between).
#[test]
fn realtime_deadline_sleeps_wait_until_the_faked_deadline() {
    probe_case("clock_nanosleep_abs_realtime", MOVED);
}

// Promise: clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, t) with t already past on the faked
// clock returns at once.
#[test]
fn past_realtime_deadline_sleeps_return_at_once() {
    let probe = probe("waits");
    let [(n, _), (d, _)] = both(
        &ONE_S,
        &[probe.to_str().unwrap(), "clock_nanosleep_abs_realtime_past"],
        LIMIT,
    );
    for out in [&n, &d] {
        assert!(field(out, "real_ms").parse::<u64>().unwrap() < 100, "{out}");
    }
    assert_eq!(field(&d, "faked_ns"), UNMOVED, "{d}");
}

// Promise: condition-variable waits with a wall-clock deadline take their real time and move
// the clock to the deadline.
one_test_per_case!(
    condvar_waits_take_their_real_time,
    |case| probe_case(case, MOVED);
    cond_timedwait,
    cond_clockwait_realtime,
    cnd_timedwait,
);

// Promise: condition-variable waits on monotonic deadlines (a condvar created with
// CLOCK_MONOTONIC, as JDK 17 uses) take their real time and leave the clock alone.
one_test_per_case!(
    monotonic_condvar_waits_are_untouched,
    |case| probe_case(case, UNMOVED);
    cond_timedwait_monotonic_condvar,
    cond_clockwait_monotonic,
);

// Promise: semaphore waits with a wall-clock deadline take their real time.
one_test_per_case!(
    semaphore_waits_take_their_real_time,
    |case| probe_case(case, MOVED);
    sem_timedwait,
    sem_clockwait_realtime,
);

// Promise: mutex and rwlock waits with a wall-clock deadline take their real time.
one_test_per_case!(
    lock_waits_take_their_real_time,
    |case| probe_case(case, MOVED);
    mutex_timedlock,
    mutex_clocklock_realtime,
    mtx_timedlock,
    rwlock_timedrdlock,
    rwlock_timedwrlock,
    rwlock_clockrdlock_realtime,
    rwlock_clockwrlock_realtime,
);

// Promise: joins with a wall-clock deadline take their real time.
one_test_per_case!(
    join_waits_take_their_real_time,
    |case| probe_case(case, MOVED);
    timedjoin_np,
    clockjoin_np_realtime,
);

// Promise: message-queue sends and receives with a wall-clock deadline take their real time.
one_test_per_case!(
    message_queue_waits_take_their_real_time,
    |case| probe_case(case, MOVED);
    mq_timedreceive,
    mq_timedsend,
);

// Promise: the same through libc's syscall(): nanosleep, clock_nanosleep, and futex waits with
// an absolute REALTIME deadline (abseil's and folly's futex waits; FUTEX_LOCK_PI).
one_test_per_case!(
    raw_syscall_waits_take_their_real_time,
    |case| probe_case(case, MOVED);
    syscall_nanosleep,
    syscall_clock_nanosleep_abs_realtime,
    futex_wait_bitset_realtime,
    futex_lock_pi,
);

// Promise: a thread cancelled while inside a hooked sleep or wait (a cancellation point)
// unwinds through the shim and runs its cleanup handlers, as natively.
#[test]
fn cancelled_threads_unwind_through_the_hooks() {
    // Four 50 ms settling sleeps on the main thread after one read.
    let out = probe_case("cancel", "1200000000");
    assert_eq!(field(&out, "cancelled"), "4", "{out}");
    assert_eq!(field(&out, "cleaned"), "4", "{out}");
}

// Promise: timerfd and POSIX timers armed with an absolute wall-clock expiry fire after the
// intended real time (expirations do not move the clock).
one_test_per_case!(
    absolute_timers_fire_after_their_real_time,
    |case| probe_case(case, UNMOVED);
    timerfd_abs_realtime,
    timer_abs_realtime,
);

// Promise: select, poll, epoll, ppoll and pselect (relative timeouts) take their real time and,
// when they time out, move the clock by their timeout as a sleep does.
one_test_per_case!(
    relative_timeouts_take_their_real_time,
    |case| probe_case(case, MOVED);
    poll,
    select,
    epoll_wait,
    ppoll,
    pselect,
);

// Promise: sigtimedwait takes its real time and leaves the clock alone.
#[test]
fn sigtimedwait_leaves_the_clock_alone() {
    probe_case("sigtimedwait", UNMOVED);
}

/// The deadline loop under `--step STEP`: one real wait of 200 ms, one turn, the clock moved
/// by `faked`.
#[track_caller]
fn deadline_loop(step: &str, faked: &str) {
    let flags = ["--epoch", EPOCH, "--step", step];
    let out = probe_case_with(&flags, "deadline_loop", faked);
    assert_eq!(field(&out, "turns"), "1", "step {step}:\n{out}");
}

// Promise: `while (now < deadline) pthread_cond_timedwait(deadline)` ends after one real wait
// under the default 1 s step.
#[test]
fn deadline_loops_end_after_one_wait() {
    deadline_loop("1s", "2200000000");
}

// Promise: the same under a 1 µs step, where a wait that returned at once would spin through
// thousands of turns.
#[test]
fn deadline_loops_end_after_one_wait_with_a_tiny_step() {
    deadline_loop("1us", "200002000");
}

// Promise: waits neither hang nor spin when the epoch lies in the future (there, an
// untranslated wall-clock deadline is decades ahead of the kernel's clock and blocks forever).
one_test_per_case!(
    waits_work_with_an_epoch_in_the_future,
    |case| probe_case_with(&["--epoch", "4000000000", "--step", "1s"], case, MOVED);
    cond_timedwait,
    sem_timedwait,
    clock_nanosleep_abs_realtime,
);

// Promise: `timeout 5 sleep 1` sleeps one second and succeeds.
#[test]
fn timeout_5_sleep_1_succeeds_in_one_second() {
    let argv = ["timeout", "5", "sleep", "1"];
    for (out, wall) in both(&ONE_S, &argv, LIMIT) {
        assert_eq!(out, "");
        assert!(
            (Duration::from_secs(1)..Duration::from_secs(4)).contains(&wall),
            "took {wall:?}"
        );
    }
}

// Promise: `sleep 1; date` logic inside one process sees the time pass (Python 3.11's
// time.sleep is clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME)).
#[test]
fn python_sees_its_sleep_in_the_wall_clock() {
    if !require_tool("python3", "python3") {
        return;
    }
    let script =
        "import time; t = time.time(); time.sleep(1); d = time.time() - t; print(d >= 1, round(d, 6))";
    let argv = ["python3", "-c", script];
    let [(n, _), (d, _)] = both(&ONE_S, &argv, LIMIT);
    assert!(n.starts_with("True "), "{n}");
    // One step for the first read, one second slept: exactly 2.0, every run.
    assert_eq!(d, "True 2.0\n");
    let (fine, _) = timed(
        "detbuild --step 1ms python sleep",
        &mut det(&["--epoch", EPOCH, "--step", "1ms"], &argv),
        LIMIT,
    );
    assert_eq!(fine.ok(), "True 1.001\n");
}

// Promise: GNU make -j4 runs four sleeping recipes in parallel, in about one second; each
// recipe's `date` sees its own `sleep 1`.
#[test]
fn make_j4_runs_sleeping_recipes_in_parallel() {
    if !require_tool("make", "make") {
        return;
    }
    let dir = tempdir("make-sleeps");
    let recipes: String = (1..=4)
        .map(|i| format!("t{i}:\n\tsleep 1; date +%s > $@\n"))
        .collect();
    std::fs::write(dir.join("Makefile"), format!("all: t1 t2 t3 t4\n{recipes}")).unwrap();
    for flags in [None, Some(["--epoch", EPOCH])] {
        for i in 1..=4 {
            let _ = std::fs::remove_file(dir.join(format!("t{i}")));
        }
        let mut cmd = match flags {
            Some(f) => det(&f, &["make", "-s", "-j4"]),
            None => native(&["make", "-s", "-j4"]),
        };
        cmd.current_dir(&dir);
        let label = if flags.is_some() {
            "detbuild"
        } else {
            "native  "
        };
        let (out, wall) = timed(&format!("{label} make -j4 (4 × sleep 1)"), &mut cmd, LIMIT);
        out.ok();
        assert!(wall < Duration::from_millis(3500), "not parallel: {wall:?}");
        for i in 1..=4 {
            let stamp = std::fs::read_to_string(dir.join(format!("t{i}"))).unwrap();
            if flags.is_some() {
                let after = EPOCH.parse::<i64>().unwrap() + 1;
                assert_eq!(stamp, format!("{after}\n"), "t{i}");
            }
        }
    }
}

const PYTHON_THREADS: &str = r#"
import concurrent.futures as cf, os, queue, subprocess, sys, threading, time

def check(name, low, high, fn):
    t = time.monotonic()
    result = fn()
    took = time.monotonic() - t
    print(f"{name}={result} {'ok' if low <= took <= high else f'took {took:.3f}s'}")

first = time.time()
e = threading.Event()
check("event_wait_expires", 0.2, 2, lambda: e.wait(0.2))
def set_later_and_wait():
    # The timer starts inside the measured span: started before it, it could fire < 0.2 s in.
    threading.Timer(0.2, e.set).start()
    return e.wait(5)
check("event_wait_set", 0.2, 2, set_later_and_wait)
def get_empty():
    try:
        return queue.Queue().get(timeout=0.2)
    except queue.Empty:
        return "empty"
check("queue_get_timeout", 0.2, 2, get_empty)
def run_expiring():
    try:
        return subprocess.run(["sleep", "5"], timeout=0.3).returncode
    except subprocess.TimeoutExpired:
        return "expired"
check("subprocess_timeout_expires", 0.3, 2, run_expiring)
check("subprocess_timeout_not_reached", 0.2, 2,
      lambda: subprocess.run(["sleep", "0.2"], timeout=5).returncode)
pool = cf.ThreadPoolExecutor(2)
def result_expiring():
    try:
        return pool.submit(time.sleep, 1).result(timeout=0.2)
    except cf.TimeoutError:
        return "expired"
check("future_result_expires", 0.2, 2, result_expiring)
check("future_result_in_time", 0.2, 2, lambda: pool.submit(lambda: time.sleep(0.2) or 42).result(timeout=5))
check("futures_wait_timeout", 0.2, 2,
      lambda: len(cf.wait([pool.submit(time.sleep, 1)], timeout=0.2).not_done))
cond = threading.Condition()
with cond:
    check("condition_wait_for", 0.2, 2, lambda: cond.wait_for(lambda: False, timeout=0.2))
print("first_time_near_epoch=" + str(abs(first - int(sys.argv[1])) < 100 if len(sys.argv) > 1 else "n/a"))
sys.stdout.flush()
os._exit(0)
"#;

// Promise: Python threading timeouts (Event.wait, Queue.get, Condition.wait_for,
// subprocess.run(timeout=...) expiring or not, concurrent.futures) behave as natively.
#[test]
fn python_threading_timeouts_behave_as_natively() {
    if !require_tool("python3", "python3") {
        return;
    }
    let argv = ["python3", "-c", PYTHON_THREADS];
    let [(n, _), (d, _)] = both(&ONE_S, &argv, LIMIT);
    let strip = |s: &str| s.replace("first_time_near_epoch=n/a\n", "");
    assert_eq!(strip(&d), strip(&n), "detbuild differs from native");
    assert!(!n.contains("took"), "{n}");
    assert_eq!(n.matches("=").count(), 10, "{n}");
    let mut with_epoch = det(&ONE_S, &argv);
    with_epoch.arg(EPOCH);
    let out = run_within(&mut with_epoch, LIMIT).ok();
    assert_eq!(field(&out, "first_time_near_epoch"), "True", "{out}");
}

// Promise: Java (OpenJDK 17) sleeps, parks, waits and scheduled executors take their real
// time under detbuild, and System.currentTimeMillis is faked (at the epoch).
#[test]
fn java_waits_take_their_real_time_and_millis_are_faked() {
    if !require_tool("java", "default-jdk-headless") {
        return;
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/probes/Waits.java");
    let argv = ["java", src.to_str().unwrap()];
    let limit = Duration::from_secs(120);
    let [(n, _), (d, _)] = both(&ONE_S, &argv, limit);
    let without_millis = |s: &str| {
        s.lines()
            .filter(|l| !l.starts_with("first_millis="))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        without_millis(&d),
        without_millis(&n),
        "native:\n{n}\ndetbuild:\n{d}"
    );
    assert!(
        !n.contains("took") && n.contains("millis_moved_forward=true"),
        "{n}"
    );
    let millis: i64 = field(&d, "first_millis").parse().unwrap();
    let epoch_ms: i64 = EPOCH.parse::<i64>().unwrap() * 1000;
    assert!(
        (epoch_ms..epoch_ms + 3_600_000).contains(&millis),
        "currentTimeMillis not near the epoch: {millis}"
    );
}
