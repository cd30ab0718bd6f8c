//! In-kernel tests of the clock (`kernel/src/timer.rs`): the local APIC
//! timer ticks at the period asked for, each tick is acknowledged, the
//! 8259s stay silent, a tick in a lock waits for the release and is
//! deferred there, locks nest the interrupt flag exactly, guests never
//! notice a tick, and a stopped timer is silent. The last group is
//! hostile: the API called in the wrong order, twice, with absurd periods,
//! and from a guest. Safe code only, like the other hostile suites.
//!
//! Durations are measured with the time-stamp counter (instructions under
//! `-icount shift=0`, the host's clock under plain TCG), never by wall
//! time; a wait that never ends fails after a bounded number of periods.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod lanes;
use lanes::{SEED, checksum, step};

use alloc::format;
use alloc::vec::Vec;
use core::hint::black_box;
use core::time::Duration;

use kernel::Machine;
use kernel::apic::legacy_pic_masks;
use kernel::cont::{Cont, Func, Resumed, Store, Trap, TrapKind};
use kernel::stacks::KernelStacks;
use kernel::sync::{self, Mutex};
use kernel::testing::TestResult;
use kernel::timer::{self, Timer, TimerError};
use kernel::{check, check_eq};
use x86_64::instructions::interrupts::are_enabled as interrupts_on;

kernel::suite!(
    "timer",
    [
        // First: it needs the calibration not yet made.
        machine a_guest_whose_stack_overflows_inside_the_first_timer_new_leaves_the_next_one_working,
        machine calibration_finds_qemus_apic_clock_of_1_ghz_over_16_within_one_percent,
        machine a_second_timer_shares_the_first_calibration,
        machine ticks_arrive_at_the_programmed_period_within_ten_percent_of_the_tsc,
        machine every_tick_is_acknowledged_so_the_next_arrives_and_none_stays_in_service,
        machine every_tick_moves_the_epoch_by_exactly_one,
        machine the_legacy_pics_are_masked_and_no_stray_vector_arrives_in_120_ticks,
        machine ticks_with_no_lock_held_are_not_deferred,
        machine a_tick_during_a_held_lock_waits_for_the_release_and_is_deferred_once,
        machine nested_locks_keep_interrupts_off_until_the_outer_release_restores_them,
        machine a_lock_taken_with_interrupts_off_leaves_them_off,
        machine a_guest_trapping_inside_a_lock_leaves_interrupts_off_until_the_next_release,
        machine a_guest_overflowing_its_stack_with_the_timer_on_leaves_interrupts_on,
        machine a_guest_spinning_twenty_periods_returns_its_exact_result,
        machine ticks_keep_arriving_while_fresh_guests_fault_their_stacks_in,
        machine a_stopped_timer_raises_no_more_ticks_and_interrupts_are_off,
        // Hostile, from safe code.
        machine stop_before_start_is_refused_and_changes_nothing,
        machine start_twice_is_refused_and_keeps_the_first_period,
        machine periods_the_counter_cannot_hold_are_refused,
        tsc_increments_of_a_period_longer_than_64_bits_can_count_saturate,
        machine a_guest_handed_a_timer_can_start_it_and_the_kernel_can_stop_it,
        machine a_guest_starting_the_timer_inside_a_lock_gets_ticks_only_after_the_release,
    ]
);

/// The period most tests tick at.
const PERIOD: Duration = Duration::from_micros(200);
/// A wait longer than this many periods has failed.
const PATIENCE: u64 = 50;

fn tsc_per_period(timer: &Timer, period: Duration) -> u64 {
    timer.calibration().tsc_per(period)
}

/// Spins until the tick counter moves; returns the TSC just after it did.
/// Gives up after [`PATIENCE`] periods, and never before 20 ms: under
/// plain TCG a tick is a host timer, late by whatever the host is doing.
fn next_tick(timer: &Timer) -> Result<u64, alloc::string::String> {
    let period = timer.period().ok_or("the timer is stopped")?;
    let patience = (period * PATIENCE as u32).max(Duration::from_millis(20));
    let deadline = timer::tsc() + tsc_per_period(timer, patience);
    let seen = timer::ticks();
    while timer::ticks() == seen {
        if timer::tsc() > deadline {
            return Err(format!("no tick in {PATIENCE} periods of {period:?}"));
        }
    }
    Ok(timer::tsc())
}

/// Spins for `periods` periods of the TSC.
fn spin_periods(timer: &Timer, period: Duration, periods: u64) {
    let end = timer::tsc() + periods * tsc_per_period(timer, period);
    while timer::tsc() < end {
        black_box(());
    }
}

/// Starts `timer` at `period`, runs `body`, and stops it whatever `body`
/// returned, so that a failed test leaves the next one a stopped timer.
fn ticking(timer: &Timer, period: Duration, body: impl FnOnce() -> TestResult) -> TestResult {
    timer
        .start(period)
        .map_err(|e| format!("start({period:?}): {e:?}"))?;
    let result = body();
    let stopped = timer.stop();
    result?;
    check_eq!(stopped, Ok(()));
    Ok(())
}

/// About 256 bytes of stack a level, `big` levels, then [`small_frames`].
#[inline(never)]
fn big_frames(big: usize, small: usize, f: &dyn Fn() -> u64) -> u64 {
    let pad = black_box([0u8; 224]);
    if big == 0 {
        return small_frames(small, f);
    }
    big_frames(big - 1, small, f) + u64::from(pad[big % 224])
}

/// About 32 bytes of stack a level, `small` levels, then `f`.
#[inline(never)]
fn small_frames(small: usize, f: &dyn Fn() -> u64) -> u64 {
    let pad = black_box([0u8; 8]);
    if small == 0 {
        return f();
    }
    small_frames(small - 1, f) + u64::from(pad[small % 8])
}

/// A guest given the `Machine` makes the boot's first `Timer` with its
/// stack nearly full, at depths 32 bytes apart, from one where the stack
/// has room for the recursion alone up to the first where `Timer::new`
/// fits too: each attempt before that one overflows (somewhere in the
/// measuring, or before it), a trap, and the one that fits calibrates as
/// the kernel's own would. (The measuring once ran inside the `Once`
/// that keeps its result: an overflow there left it "running", and the
/// next `Timer::new` spun on it for ever.)
fn a_guest_whose_stack_overflows_inside_the_first_timer_new_leaves_the_next_one_working(
    m: &'static Machine,
) -> TestResult {
    let store = Store::new(KernelStacks, 64 * 1024);
    let attempt = |big: usize, small: usize, make: bool| -> Result<i64, Trap> {
        let guest = Func::wrap(&store, move |_: &Store, (): ()| -> Result<i64, Trap> {
            let hz = big_frames(big, small, &|| match make {
                true => Timer::new(m).calibration().apic_timer_hz,
                false => 1,
            });
            Ok(hz as i64)
        })
        .map_err(|_| Trap::guest("Func::wrap refused"))?;
        match Cont::new(&store, guest)?.resume((), &[])? {
            Resumed::Returned(hz) => Ok(hz),
            Resumed::Suspended(_) => Err(Trap::guest("suspended")),
        }
    };
    let overflowed = |r: &Result<i64, Trap>| matches!(r, Err(t) if matches!(t.kind(), TrapKind::StackOverflow { .. }));
    // The most big levels the stack holds with nothing below them.
    let deepest = (1..256)
        .find(|&big| overflowed(&attempt(big, 0, false)))
        .ok_or("a 64 KiB stack held 256 levels of 256 bytes")?
        - 1;
    let mut overflows = 0;
    for big in (0..=deepest).rev() {
        for small in (0..8).rev() {
            let got = attempt(big, small, true);
            if overflowed(&got) {
                overflows += 1;
                continue;
            }
            let hz = got.map_err(|t| format!("{t:?}"))?;
            check!(
                overflows > 0,
                "the first attempt fitted: nothing was abandoned"
            );
            check_eq!(hz as u64, Timer::new(m).calibration().apic_timer_hz);
            check!(
                (61_875_000..=63_125_000).contains(&hz),
                "APIC timer at {hz} Hz"
            );
            return Ok(());
        }
    }
    Err("no depth left room for Timer::new".into())
}

fn calibration_finds_qemus_apic_clock_of_1_ghz_over_16_within_one_percent(
    m: &Machine,
) -> TestResult {
    let calibration = Timer::new(m).calibration();
    let hz = calibration.apic_timer_hz;
    check!(
        (61_875_000..=63_125_000).contains(&hz),
        "APIC timer at {hz} Hz, QEMU's is 62 500 000 after the divide by 16 ({calibration:?})"
    );
    Ok(())
}

fn a_second_timer_shares_the_first_calibration(m: &Machine) -> TestResult {
    let first = Timer::new(m).calibration();
    check_eq!(Timer::new(m).calibration(), first);
    Ok(())
}

fn ticks_arrive_at_the_programmed_period_within_ten_percent_of_the_tsc(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let period = Duration::from_millis(1);
    let expected = tsc_per_period(&timer, period);
    ticking(&timer, period, || {
        let mut at = Vec::new();
        for _ in 0..21 {
            at.push(next_tick(&timer)?);
        }
        let mut gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        gaps.sort_unstable();
        // The median gap: one late tick (the host busy) cannot move it.
        let median = gaps[gaps.len() / 2];
        check!(
            median.abs_diff(expected) <= expected / 10,
            "median gap {median} TSC, expected {expected} ± 10 %: gaps {gaps:?}"
        );
        Ok(())
    })
}

fn every_tick_is_acknowledged_so_the_next_arrives_and_none_stays_in_service(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    ticking(&timer, PERIOD, || {
        for i in 0..10 {
            next_tick(&timer).map_err(|e| format!("tick {i}: {e}"))?;
            check!(!timer::tick_in_service(), "tick {i} left in service");
        }
        Ok(())
    })
}

fn every_tick_moves_the_epoch_by_exactly_one(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let (ticks, epoch) = (timer::ticks(), timer::epoch());
    ticking(&timer, PERIOD, || {
        for _ in 0..10 {
            next_tick(&timer)?;
        }
        Ok(())
    })?;
    check!(timer::ticks() - ticks >= 10);
    check_eq!(timer::epoch() - epoch, timer::ticks() - ticks);
    Ok(())
}

fn the_legacy_pics_are_masked_and_no_stray_vector_arrives_in_120_ticks(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    check_eq!(legacy_pic_masks(), (0xff, 0xff));
    let stray = timer::stray_interrupts();
    // 120 ms: the BIOS leaves the PIT's channel 0 running at 18.2 Hz,
    // so an unmasked IRQ 0 would have come twice.
    ticking(&timer, Duration::from_millis(1), || {
        for _ in 0..120 {
            next_tick(&timer)?;
        }
        Ok(())
    })?;
    check_eq!(timer::stray_interrupts() - stray, 0);
    check_eq!(legacy_pic_masks(), (0xff, 0xff));
    Ok(())
}

fn ticks_with_no_lock_held_are_not_deferred(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let deferred = sync::deferred_ticks();
    ticking(&timer, PERIOD, || {
        for _ in 0..10 {
            next_tick(&timer)?;
        }
        Ok(())
    })?;
    check_eq!(sync::deferred_ticks() - deferred, 0);
    Ok(())
}

static HELD_ACROSS_TICKS: Mutex<u64> = Mutex::new("held across ticks", 0);

fn a_tick_during_a_held_lock_waits_for_the_release_and_is_deferred_once(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    ticking(&timer, PERIOD, || {
        next_tick(&timer)?;
        let (deferred, seen) = (sync::deferred_ticks(), sync::deferred_ticks_seen());
        let mut guard = HELD_ACROSS_TICKS.lock();
        let ticks = timer::ticks();
        check!(!interrupts_on(), "a held lock leaves interrupts off");
        // Five periods: five ticks fall due, and the APIC keeps one.
        spin_periods(&timer, PERIOD, 5);
        *guard += 1;
        check_eq!(timer::ticks() - ticks, 0);
        drop(guard);
        // The release let the waiting tick in while the lock still
        // counted, then saw it once the count was zero.
        let (deferred, seen) = (
            sync::deferred_ticks() - deferred,
            sync::deferred_ticks_seen() - seen,
        );
        let arrived = timer::ticks() - ticks;
        check!(arrived > 0, "the waiting tick arrived at the release");
        check_eq!((deferred, seen, arrived), (1, 1, 1));
        check!(!sync::preempt_pending());
        check!(interrupts_on());
        Ok(())
    })
}

static OUTER: Mutex<()> = Mutex::new("outer", ());
static INNER: Mutex<()> = Mutex::new("inner", ());

fn nested_locks_keep_interrupts_off_until_the_outer_release_restores_them(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    ticking(&timer, PERIOD, || {
        let mut seen = Vec::new();
        seen.push(interrupts_on());
        let outer = OUTER.lock();
        seen.push(interrupts_on());
        let inner = INNER.lock();
        seen.push(interrupts_on());
        drop(inner);
        seen.push(interrupts_on());
        drop(outer);
        seen.push(interrupts_on());
        check_eq!(seen, [true, false, false, false, true]);
        Ok(())
    })
}

fn a_lock_taken_with_interrupts_off_leaves_them_off(m: &Machine) -> TestResult {
    let _timer = Timer::new(m);
    check!(!interrupts_on(), "no timer running: interrupts are off");
    let outer = OUTER.lock();
    let inner = INNER.lock();
    drop(outer);
    drop(inner);
    check!(!interrupts_on());
    Ok(())
}

static ABANDONED: Mutex<()> = Mutex::new("abandoned by a trap", ());

fn a_guest_trapping_inside_a_lock_leaves_interrupts_off_until_the_next_release(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, 64 * 1024);
    let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> {
        let _guard = ABANDONED.lock();
        // A panic is a trap that never runs the guard's drop.
        panic!("a guest panics holding a lock");
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|e| format!("{e:?}"))?;
        let trapped = k.resume((), &[]).is_err();
        check!(trapped, "the guest trapped");
        // The trap abandoned the lock's nest: interrupts stay off (a tick
        // waits) ...
        let off_after_trap = !interrupts_on();
        let ticks = timer::ticks();
        spin_periods(&timer, PERIOD, 3);
        let ticks_while_off = timer::ticks() - ticks;
        // ... until the next lock's release restores the flag that nest
        // found.
        drop(OUTER.lock());
        check_eq!(
            (off_after_trap, ticks_while_off, interrupts_on()),
            (true, 0, true)
        );
        next_tick(&timer)?;
        Ok(())
    })
}

/// Recurses until the guard page: a page fault, taken through an
/// interrupt gate, that becomes a trap.
fn bottomless(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if frame[0] == u64::MAX {
        return 0;
    }
    bottomless(frame[0] + 1) + frame[31]
}

fn a_guest_overflowing_its_stack_with_the_timer_on_leaves_interrupts_on(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, 64 * 1024);
    let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<i64, Trap> {
        Ok(bottomless(black_box(0)) as i64)
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|e| format!("{e:?}"))?;
        let outcome = k.resume((), &[]);
        let on = interrupts_on();
        check!(
            matches!(&outcome, Err(t) if matches!(t.kind(), TrapKind::StackOverflow { .. })),
            "a stack-overflow trap: {outcome:?}"
        );
        check!(on, "the fault's gate cleared IF; the trap restored it");
        next_tick(&timer)?;
        Ok(())
    })
}

fn a_guest_spinning_twenty_periods_returns_its_exact_result(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, 64 * 1024);
    // The guest computes until twenty ticks have passed, and returns how
    // many steps it made, their checksum, and the ticks it saw.
    let guest = Func::wrap(
        &store,
        |_: &Store, (): ()| -> Result<(i64, i64, i64), Trap> {
            let start = timer::ticks();
            let mut lanes = SEED;
            let mut steps = 0i64;
            while timer::ticks() < start + 20 {
                lanes = step(black_box(lanes));
                steps += 1;
            }
            Ok((steps, checksum(lanes), (timer::ticks() - start) as i64))
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    let on_stacks = timer::ticks_on_continuation_stacks();
    let mut result = None;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|e| format!("{e:?}"))?;
        match k.resume((), &[]) {
            Ok(Resumed::Returned(r)) => result = Some(r),
            Ok(_) => return Err("the guest suspended".into()),
            Err(trap) => return Err(format!("the guest trapped: {trap:?}")),
        }
        Ok(())
    })?;
    let (steps, sum, ticks) = result.ok_or("no result")?;
    check_eq!(ticks, 20);
    check!(
        timer::ticks_on_continuation_stacks() - on_stacks >= 20,
        "the twenty ticks landed on the guest's stack"
    );
    // The same computation with the timer stopped.
    let mut lanes = SEED;
    for _ in 0..steps {
        lanes = step(black_box(lanes));
    }
    check_eq!(sum, checksum(lanes));
    Ok(())
}

/// Writes a page-sized frame, then recurses: each level touches the next
/// page down, which the page-fault handler maps on demand.
fn grow(depth: u32) -> u64 {
    let mut page = [0u8; 4096];
    page[0] = depth as u8;
    let page = black_box(page);
    if depth == 0 {
        return page[0] as u64;
    }
    page[4095] as u64 + grow(depth - 1)
}

fn ticks_keep_arriving_while_fresh_guests_fault_their_stacks_in(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    // A short period, so that ticks land in and around the faults.
    let period = Duration::from_micros(20);
    let ticks = timer::ticks();
    ticking(&timer, period, || {
        for round in 0..20 {
            // A fresh store: its stacks come from the pool, with only the
            // top page mapped.
            let store = Store::new(KernelStacks, 64 * 1024);
            let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<i64, Trap> {
                Ok(grow(black_box(12)) as i64)
            })
            .map_err(|e| format!("{e:?}"))?;
            let k = Cont::new(&store, guest).map_err(|e| format!("{e:?}"))?;
            match k.resume((), &[]) {
                Ok(Resumed::Returned(r)) => check_eq!(r, 0),
                Ok(_) => return Err(format!("round {round}: the guest suspended")),
                Err(trap) => return Err(format!("round {round}: trapped: {trap:?}")),
            }
        }
        // The clock still runs: a tick in service without EOI would stop it.
        next_tick(&timer)?;
        next_tick(&timer)?;
        Ok(())
    })?;
    check!(timer::ticks() - ticks >= 2);
    check!(!timer::tick_in_service());
    Ok(())
}

fn a_stopped_timer_raises_no_more_ticks_and_interrupts_are_off(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    check_eq!(timer.start(PERIOD), Ok(()));
    for _ in 0..3 {
        next_tick(&timer)?;
    }
    check_eq!(timer.stop(), Ok(()));
    let ticks = timer::ticks();
    spin_periods(&timer, PERIOD, 20);
    check_eq!(timer::ticks(), ticks);
    check!(!interrupts_on());
    check_eq!(timer.period(), None);
    Ok(())
}

fn stop_before_start_is_refused_and_changes_nothing(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let ticks = timer::ticks();
    check_eq!(timer.stop(), Err(TimerError::NotRunning));
    check_eq!(timer.period(), None);
    check!(!interrupts_on());
    spin_periods(&timer, PERIOD, 5);
    check_eq!(timer::ticks(), ticks);
    Ok(())
}

fn start_twice_is_refused_and_keeps_the_first_period(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let first = Duration::from_millis(1);
    check_eq!(timer.start(first), Ok(()));
    check_eq!(Timer::new(m).start(PERIOD), Err(TimerError::AlreadyRunning));
    check_eq!(timer.period(), Some(first));
    check_eq!(timer.stop(), Ok(()));
    check_eq!(timer.stop(), Err(TimerError::NotRunning));
    check!(!interrupts_on());
    Ok(())
}

/// `Calibration::tsc_per` of any `Duration`: a period whose increments do
/// not fit 64 bits is `u64::MAX`, never a wrapped (small) count: a
/// deadline made of it was in the past.
fn tsc_increments_of_a_period_longer_than_64_bits_can_count_saturate() -> TestResult {
    let ghz = timer::Calibration {
        apic_timer_hz: 62_500_000,
        tsc_hz: 1_000_000_000,
    };
    check_eq!(ghz.tsc_per(Duration::MAX), u64::MAX);
    check_eq!(
        ghz.tsc_per(Duration::from_secs(u64::MAX / 1_000_000_000)),
        18_446_744_073_000_000_000
    );
    check_eq!(
        ghz.tsc_per(Duration::from_secs(u64::MAX / 1_000_000_000 + 1)),
        u64::MAX
    );
    check_eq!(ghz.tsc_per(Duration::from_micros(200)), 200_000);
    Ok(())
}

fn periods_the_counter_cannot_hold_are_refused(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let refused = [
        (Duration::ZERO, TimerError::PeriodTooShort),
        (Duration::from_micros(9), TimerError::PeriodTooShort),
        // 3600 s at 62.5 MHz: 2.25e11 counts, past 32 bits.
        (Duration::from_secs(3600), TimerError::PeriodTooLong),
        (Duration::MAX, TimerError::PeriodTooLong),
    ];
    for (period, error) in refused {
        check_eq!(timer.start(period), Err(error));
        check_eq!(timer.period(), None);
        check!(!interrupts_on());
    }
    // The shortest period accepted does tick.
    ticking(&timer, timer::MIN_PERIOD, || next_tick(&timer).map(|_| ()))
}

fn a_guest_handed_a_timer_can_start_it_and_the_kernel_can_stop_it(m: &Machine) -> TestResult {
    let store = Store::new(KernelStacks, 64 * 1024);
    let lent = Timer::new(m);
    let guest = Func::wrap(
        &store,
        move |_: &Store, (): ()| -> Result<(i32, i32), Trap> {
            let first = lent.start(PERIOD).is_ok() as i32;
            let second = (lent.start(PERIOD) == Err(TimerError::AlreadyRunning)) as i32;
            let start = timer::ticks();
            let end = timer::tsc() + lent.calibration().tsc_per(Duration::from_millis(20));
            while timer::ticks() < start + 3 {
                if timer::tsc() > end {
                    return Err(Trap::guest("no tick in the guest"));
                }
            }
            Ok((first, second))
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(&store, guest).map_err(|e| format!("{e:?}"))?;
    let result = k.resume((), &[]);
    let timer = Timer::new(m);
    let period = timer.period();
    let stopped = timer.stop();
    match result {
        Ok(Resumed::Returned(r)) => check_eq!(r, (1, 1)),
        Ok(_) => return Err("the guest suspended".into()),
        Err(trap) => return Err(format!("the guest trapped: {trap:?}")),
    }
    check_eq!(period, Some(PERIOD));
    check_eq!(stopped, Ok(()));
    check!(!interrupts_on());
    Ok(())
}

static GUEST_LOCK: Mutex<()> = Mutex::new("guest's lock", ());

fn a_guest_starting_the_timer_inside_a_lock_gets_ticks_only_after_the_release(
    m: &Machine,
) -> TestResult {
    let store = Store::new(KernelStacks, 64 * 1024);
    let lent = Timer::new(m);
    let guest = Func::wrap(
        &store,
        move |_: &Store, (): ()| -> Result<(i32, i64, i32), Trap> {
            let guard = GUEST_LOCK.lock();
            let started = lent.start(PERIOD).is_ok() as i32;
            let ticks = timer::ticks();
            let end = timer::tsc() + 5 * lent.calibration().tsc_per(PERIOD);
            while timer::tsc() < end {}
            let inside = (timer::ticks() - ticks) as i64;
            drop(guard);
            let on = interrupts_on() as i32;
            Ok((started, inside, on))
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(&store, guest).map_err(|e| format!("{e:?}"))?;
    let result = k.resume((), &[]);
    let timer = Timer::new(m);
    let after = timer.period().map(|_| next_tick(&timer));
    let stopped = timer.stop();
    match result {
        Ok(Resumed::Returned(r)) => check_eq!(r, (1, 0, 1)),
        Ok(_) => return Err("the guest suspended".into()),
        Err(trap) => return Err(format!("the guest trapped: {trap:?}")),
    }
    check!(
        matches!(after, Some(Ok(_))),
        "ticks after the release: {after:?}"
    );
    check_eq!(stopped, Ok(()));
    Ok(())
}
