//! Stress mode: the in-kernel suites built with the `stress` feature run
//! with the timer firing every few thousand instructions, at a distance
//! drawn anew at each tick, and with every resume budgeted, so that ticks
//! land inside every runtime operation, lock and fault path, and preempt
//! wherever the runtime lets them.
//!
//! Why a build and not a switch: a switch would be a test on every resume,
//! and the cooperative round trip is counted to the instruction
//! (`./qemu-run.sh bench`). The feature changes `run_segment` (every
//! resume, `resume_throw` and cancellation goes through it) into a loop of
//! budgeted runs whose preemptions are resumed at once
//! (`Store::run_stressed`), so a test sees what a plain run shows; the
//! ordinary build compiles none of it.
//!
//! The harness (`testing::run_suite`) calls [`begin`] before the first
//! test and [`report`] after the last: a line of counts (how many ticks,
//! how many preempted a guest, how many were deferred inside runtime
//! operations or under locks), and one more test, which fails if the
//! mode did not do what it exists for. `docs/interrupts.md`, "Stress
//! mode", says how to run it and what the counts mean.
//!
//! The distances come from a fixed seed: under `-icount shift=0` (how the
//! runner boots these suites) a run is the same instruction for
//! instruction every time, so a failure it finds is found again.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use core::time::Duration;

use alloc::format;
use alloc::string::String;

use crate::cont::runtime::preempt;
use crate::cpu_local::cpu_local;
use crate::timer::{self, Timer};

/// The shortest distance between two ticks: 2 µs, 2 000 instructions
/// under `-icount shift=0`, five times a preemption's round trip, so the
/// code between ticks always makes progress.
pub const SHORTEST: Duration = Duration::from_micros(2);
/// The longest distance between two ticks: 6 µs.
pub const LONGEST: Duration = Duration::from_micros(6);
/// The seed of the distances: `STRESS_SEED` (a decimal number) in the
/// environment of the build, or [`DEFAULT_SEED`]. Another seed is another
/// run: `STRESS_SEED=7 ./qemu-run.sh test stress`.
pub const SEED: u64 = match option_env!("STRESS_SEED") {
    Some(s) => parse_seed(s),
    None => DEFAULT_SEED,
};
/// The seed `./qemu-run.sh test` runs with.
pub const DEFAULT_SEED: u64 = 0x005e_ed0f_71c5;

/// A decimal number, at compile time (a build with a seed that is not one
/// fails). 0 would keep xorshift at 0 for ever, so it is refused too.
const fn parse_seed(s: &str) -> u64 {
    let bytes = s.as_bytes();
    let mut n: u64 = 0;
    let mut i = 0;
    while i < bytes.len() {
        assert!(
            bytes[i].is_ascii_digit(),
            "STRESS_SEED is not a decimal number"
        );
        n = n * 10 + (bytes[i] - b'0') as u64;
        i += 1;
    }
    assert!(n != 0, "STRESS_SEED must not be 0");
    n
}

cpu_local! {
    /// The generator's state (xorshift64), advanced by each tick.
    static STATE: Cell<u64> = Cell::new(SEED);
    /// Deferred ticks that found no kernel lock held: a `no_preempt`
    /// section (a runtime operation) alone held them back. Written only by
    /// the tick.
    static DEFERRED_IN_OPERATIONS: AtomicU64 = AtomicU64::new(0);
}

/// The next distance between ticks, in [`SHORTEST`]..=[`LONGEST`].
fn next_distance() -> Duration {
    let mut x = STATE.get();
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.set(x);
    let (lo, hi) = (SHORTEST.as_nanos() as u64, LONGEST.as_nanos() as u64);
    Duration::from_nanos(lo + x % (hi - lo + 1))
}

/// Starts the stress clock.
pub fn begin(machine: &crate::Machine) {
    let timer = Timer::new(machine);
    timer
        .start_stress(next_distance())
        .expect("stress mode: the timer was stopped at boot");
}

/// The tick's part (interrupts off): counts a tick `deferred` with no
/// lock held (a section open, then: `sync::tick_must_wait`), and draws
/// the distance to the next tick.
pub(crate) fn tick(deferred: bool) {
    if deferred && crate::sync::held() == 0 {
        DEFERRED_IN_OPERATIONS.store(DEFERRED_IN_OPERATIONS.load(Relaxed) + 1, Relaxed);
    }
    Timer::next_period(next_distance());
}

/// What the suite's run under stress did, read at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Ticks taken.
    pub ticks: u64,
    /// Of those, ticks that interrupted code on a continuation stack.
    pub on_continuation_stacks: u64,
    /// Preemptions of stressed runs, each resumed at once.
    pub preempted: u64,
    /// Of those, taken where a deferred tick was seen (a lock released, a
    /// runtime operation's end) rather than by a tick.
    pub at_deferral_end: u64,
    /// Ticks deferred inside a runtime operation: a `no_preempt` section
    /// open, no kernel lock held.
    pub deferred_in_operations: u64,
    /// Ticks deferred with a kernel lock held (inside a section or not).
    pub deferred_under_locks: u64,
    /// Ticks that found a budget spent where its continuation could not be
    /// preempted (a `suspend` or `switch` under way, a child running).
    pub not_preemptible_there: u64,
    /// Preemptions begun while another was in progress: must be 0.
    pub nested: u64,
}

/// The counts since boot (the suite's, since only it ran).
pub fn counts() -> Counts {
    let (preempted, not_here) = preempt::stress_counts();
    let deferred = crate::sync::deferred_ticks();
    let in_sections = DEFERRED_IN_OPERATIONS.load(Relaxed);
    Counts {
        ticks: timer::ticks(),
        on_continuation_stacks: timer::ticks_on_continuation_stacks(),
        preempted,
        at_deferral_end: preempt::preemptions_at_deferral_end(),
        deferred_in_operations: in_sections,
        deferred_under_locks: deferred - in_sections,
        not_preemptible_there: not_here,
        nested: preempt::nested_preemptions(),
    }
}

/// The line the runner shows for the suite `label`:
/// `stress LABEL: N ticks, ...`.
pub fn report(label: &str, c: &Counts) -> String {
    format!(
        "stress {label}: seed {SEED}, {} ticks ({} on continuation stacks), {} preemptions \
         resumed at once ({} at a deferral's end), {} ticks deferred inside runtime operations, \
         {} under locks, {} where the guest could not be preempted, {} nested",
        c.ticks,
        c.on_continuation_stacks,
        c.preempted,
        c.at_deferral_end,
        c.deferred_in_operations,
        c.deferred_under_locks,
        c.not_preemptible_there,
        c.nested
    )
}

/// The harness's closing test of a stress run: ticks came, preempted
/// guests (so the suite ran with preemption possible, not merely with the
/// clock on), and no preemption began inside another. `Err` names what
/// was missing. (How many were deferred inside runtime operations is
/// reported, not required: a suite whose guests create few continuations
/// sees few such ticks, and `wasm`'s interpreter runs mostly on the
/// kernel's stack.)
pub fn verdict(c: &Counts) -> Result<(), String> {
    if c.preempted == 0 {
        return Err(format!("no tick preempted a guest: {c:?}"));
    }
    if c.nested != 0 {
        return Err(format!("{} nested preemptions", c.nested));
    }
    Ok(())
}
