//! In-kernel tests of preemption (`kernel/src/cont/runtime/preempt.rs`):
//! a guest that never yields, run with `resume_for`, comes back preempted
//! within two periods and goes on exactly where it was; a tick in a lock
//! or a runtime operation waits for its end; a preempted continuation
//! dropped gives everything back; preemption never nests; a scheduler
//! written as a guest shares the CPU between three tasks that never yield.
//! Wasm guests are preempted at the interpreter's safe points (a branch, a
//! call), and a call with a deadline ends "timed out". The last group is
//! hostile. Safe code only, like the other hostile
//! suites. Booted under `-icount shift=0` (`ICOUNT_SUITES`), so that
//! periods are exact instruction counts.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod lanes;
use lanes::{SEED, checksum, step};

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::hint::black_box;
use core::pin::Pin;
use core::time::Duration;

use kernel::Machine;
use kernel::cont::dynamic;
use kernel::cont::preempt;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Timed, Trap, TrapKind};
use kernel::stacks::KernelStacks;
use kernel::sync::Mutex;
use kernel::testing::TestResult;
use kernel::timer::{self, Timer};
use kernel::wasm::{Error, Instance, Module, Val};
use kernel::{check, check_eq};
use x86_64::instructions::interrupts::are_enabled as interrupts_on;

kernel::suite!(
    "preempt",
    [
        machine a_looping_guest_with_a_budget_of_one_tick_is_preempted_within_two_periods,
        machine a_preempted_computation_resumed_ten_times_ends_with_the_exact_result,
        machine a_preempted_counter_goes_on_from_its_last_value_without_loss_or_repeat,
        machine a_lock_held_across_five_periods_defers_the_preemption_to_its_release,
        machine a_budget_of_three_ticks_lets_exactly_three_ticks_land_in_the_guest,
        machine a_guest_that_suspends_within_its_budget_comes_back_suspended,
        machine a_preempted_guest_dropped_runs_its_destructors_and_gives_heap_and_stack_back,
        machine a_preempted_guest_that_never_suspends_again_is_abandoned_by_its_drop,
        machine preemption_never_nests_in_500_preemptions_at_the_shortest_period,
        machine a_guest_scheduler_gives_three_never_yielding_tasks_25_to_42_percent_of_300_ticks,
        machine the_dynamic_door_preempts_and_resumes_as_the_typed_one,
        // Wasm epochs: the interpreter's safe points.
        machine a_wasm_loop_with_a_budget_of_one_tick_is_preempted_at_a_safe_point_within_two_periods,
        machine a_preempted_wasm_count_goes_on_without_a_lost_or_repeated_step,
        machine a_wasm_chain_of_tail_calls_without_a_branch_is_preempted_at_a_call,
        machine a_wasm_guest_preempted_at_a_safe_point_and_dropped_returns_through_its_frames,
        machine a_wasm_guest_preempted_at_a_safe_point_and_dropped_with_the_timer_stopped_gives_its_heap_back,
        machine a_wasm_call_past_its_tick_budget_traps_timed_out_and_the_next_call_runs,
        // Hostile, from safe code.
        machine resume_for_with_the_timer_stopped_is_a_plain_resume,
        machine resume_throw_into_a_preempted_continuation_is_refused_and_it_still_resumes,
        machine a_used_handle_given_to_resume_for_is_refused,
        machine a_preempted_looping_guest_dropped_with_the_timer_stopped_is_abandoned_at_once,
        // A budget covers the chain under it.
        machine a_budgeted_guest_whose_child_never_returns_is_preempted_inside_the_child_within_two_periods,
        machine a_preempted_child_resumed_slice_after_slice_loses_and_repeats_no_step,
        machine a_guest_running_its_child_under_budgets_of_its_own_is_preempted_by_its_own_budget,
        machine a_preempted_parent_and_child_dropped_run_both_destructors_and_give_both_stacks_back,
        machine a_child_holding_a_lock_past_its_parents_budget_is_ended_and_the_parent_preempted,
        machine a_wasm_count_in_a_child_continuation_is_preempted_in_the_child_and_ends_exact,
        machine a_budgeted_continuation_that_switches_to_one_that_never_yields_is_preempted_in_the_target,
        machine a_preempted_chain_whose_parent_ignores_the_cancellation_is_abandoned_whole,
        machine a_store_dropped_by_a_budgeted_guest_whose_guest_loops_when_cancelled_is_abandoned,
        machine resume_for_at_every_depth_near_the_stack_limit_traps_with_no_budget_left_armed,
        // Guest locks under a budget (`cont/runtime/overdue.rs`).
        machine a_guest_that_forgets_a_lock_guard_and_loops_is_ended_lock_held_after_the_grace,
        machine a_guest_holding_its_guard_in_a_loop_is_ended_and_the_lock_stays_taken,
        machine a_guest_looping_on_allocations_inside_its_lock_is_ended_and_the_heap_stays_whole,
        machine a_guest_taking_a_lock_with_try_lock_and_nesting_a_second_is_ended_naming_the_inner,
        machine a_wasm_guest_whose_print_hook_forgets_a_lock_is_ended_lock_held,
    ]
);

/// The period most tests tick at: 100 000 instructions under icount.
const PERIOD: Duration = Duration::from_micros(100);
const STACK: usize = 64 * 1024;

fn tsc_per_period(timer: &Timer, period: Duration) -> u64 {
    timer.calibration().tsc_per(period)
}

/// Starts `timer` at `period`, runs `body`, and stops it whatever `body`
/// returned.
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

/// A guest that counts in `counter` for ever (each increment stored, so
/// the kernel sees it), or until `stop` is set; returns the count.
fn counter_guest<'s>(
    store: &'s Store,
    counter: &Rc<Cell<i64>>,
    stop: &Rc<Cell<bool>>,
) -> Result<Func<'s, (), i64>, String> {
    let (counter, stop) = (counter.clone(), stop.clone());
    Func::wrap(store, move |_: &Store, (): ()| -> Result<i64, Trap> {
        let mut n = counter.get();
        while !black_box(&stop).get() {
            n += 1;
            black_box(&counter).set(n);
        }
        Ok(n)
    })
    .map_err(|e| format!("{e:?}"))
}

fn preempted<'s, R: kernel::cont::WasmValues>(
    outcome: Result<Timed<'s, R>, Trap>,
) -> Result<Cont<'s, (), R>, String> {
    match outcome {
        Ok(Timed::Preempted(k)) => Ok(k),
        Ok(Timed::InTime(Resumed::Returned(_))) => Err("it returned".into()),
        Ok(Timed::InTime(Resumed::Suspended(_))) => Err("it suspended".into()),
        Err(trap) => Err(format!("it trapped: {trap}")),
    }
}

/// The dynamic door's [`preempted`]: the handle of a preempted
/// continuation, or what happened instead.
fn preempted_dynamic<R: core::fmt::Debug>(
    outcome: Result<dynamic::Timed<R>, Trap>,
) -> Result<kernel::cont::dynamic::ContObj, String> {
    match outcome {
        Ok(dynamic::Timed::Preempted(k)) => Ok(k),
        other => Err(format!("not preempted: {other:?}")),
    }
}

fn a_looping_guest_with_a_budget_of_one_tick_is_preempted_within_two_periods(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let before = preempt::preemptions();
        let start = timer::tsc();
        let k = preempted(k.resume_for(1, (), &[]))?;
        let took = timer::tsc() - start;
        check!(
            took <= 2 * tsc_per_period(&timer, PERIOD),
            "preempted after {took} TSC counts, two periods are {}",
            2 * tsc_per_period(&timer, PERIOD)
        );
        check!(counter.get() > 0, "the guest counted before the tick");
        check_eq!(preempt::preemptions() - before, 1);
        check!(interrupts_on(), "the resume came back with interrupts on");
        stop.set(true);
        match k.resume((), &[]) {
            Ok(Resumed::Returned(n)) => check_eq!(n, counter.get()),
            _ => return Err("the resumed guest did not return".into()),
        }
        Ok(())
    })
}

fn a_preempted_computation_resumed_ten_times_ends_with_the_exact_result(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let stop = Rc::new(Cell::new(false));
    let seen = stop.clone();
    // Every register the computation keeps is live across the ticks.
    let guest = Func::wrap(
        &store,
        move |_: &Store, (): ()| -> Result<(i64, i64), Trap> {
            let mut lanes = SEED;
            let mut steps = 0i64;
            while !black_box(&seen).get() {
                lanes = step(black_box(lanes));
                steps += 1;
            }
            Ok((steps, checksum(lanes)))
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    let mut result = None;
    ticking(&timer, PERIOD, || {
        let mut k = preempted(
            Cont::new(&store, guest)
                .map_err(|t| format!("{t}"))?
                .resume_for(1, (), &[]),
        )?;
        for _ in 0..9 {
            k = preempted(k.resume_for(1, (), &[]))?;
        }
        stop.set(true);
        match k.resume((), &[]) {
            Ok(Resumed::Returned(r)) => result = Some(r),
            _ => return Err("the guest did not return".into()),
        }
        Ok(())
    })?;
    let (steps, sum) = result.ok_or("no result")?;
    check!(steps > 0);
    let mut lanes = SEED;
    for _ in 0..steps {
        lanes = step(black_box(lanes));
    }
    check_eq!(sum, checksum(lanes));
    Ok(())
}

fn a_preempted_counter_goes_on_from_its_last_value_without_loss_or_repeat(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    // Besides the shared counter, the guest keeps its own in a register
    // and checks at every step that the two agree: a lost or repeated
    // increment, or a register not restored, makes it return early.
    let (shared, halt) = (counter.clone(), stop.clone());
    let guest = Func::wrap(
        &store,
        move |_: &Store, (): ()| -> Result<(i64, i64), Trap> {
            let mut mine = 0i64;
            while !black_box(&halt).get() {
                if black_box(&shared).get() != mine {
                    return Ok((mine, shared.get()));
                }
                mine += 1;
                shared.set(mine);
            }
            Ok((mine, shared.get()))
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let mut k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let mut values = Vec::new();
        for _ in 0..20 {
            k = match k.resume_for(1, (), &[]) {
                Ok(Timed::Preempted(next)) => next,
                Ok(Timed::InTime(Resumed::Returned((mine, shared)))) => {
                    return Err(format!(
                        "the guest saw {mine} in its register, {shared} shared"
                    ));
                }
                _ => return Err("the guest did not come back preempted".into()),
            };
            values.push(counter.get());
        }
        check!(
            values.windows(2).all(|w| w[0] < w[1]),
            "the count moved on at every slice: {values:?}"
        );
        stop.set(true);
        match k.resume((), &[]) {
            Ok(Resumed::Returned((mine, shared))) => {
                check_eq!((mine, shared), (counter.get(), counter.get()))
            }
            _ => return Err("the guest did not return".into()),
        }
        Ok(())
    })
}

static GUEST_LOCK: Mutex<u64> = Mutex::new("guest's", 0);

fn a_lock_held_across_five_periods_defers_the_preemption_to_its_release(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let five_periods = 5 * tsc_per_period(&timer, PERIOD);
    let after_release = Rc::new(Cell::new(0u64));
    let ticks_in_lock = Rc::new(Cell::new(u64::MAX));
    let deferred_in_lock = Rc::new(Cell::new(u64::MAX));
    let (after, in_lock) = (after_release.clone(), ticks_in_lock.clone());
    let deferred_inside = deferred_in_lock.clone();
    let guest = Func::wrap(&store, move |_: &Store, (): ()| -> Result<(), Trap> {
        let mut guard = GUEST_LOCK.lock();
        let (ticks, deferred) = (timer::ticks(), kernel::sync::deferred_ticks());
        let end = timer::tsc() + five_periods;
        while timer::tsc() < end {
            *guard += 1;
        }
        let (ticks, deferred) = (
            timer::ticks() - ticks,
            kernel::sync::deferred_ticks() - deferred,
        );
        in_lock.set(ticks);
        deferred_inside.set(deferred);
        drop(guard);
        // The deferred tick preempts at the release: this loop has not
        // begun when the kernel looks.
        loop {
            black_box(&after).set(after.get() + 1);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let (ended_before, at_end_before) = (
            preempt::ended_holding_locks(),
            preempt::preemptions_at_deferral_end(),
        );
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(1, (), &[]))?;
        // A guest lock under a budget leaves interrupts on: the ticks of
        // the five periods land inside it, each one deferred.
        check!(ticks_in_lock.get() >= 4, "{} ticks", ticks_in_lock.get());
        check_eq!(deferred_in_lock.get(), ticks_in_lock.get());
        check_eq!(after_release.get(), 0);
        check_eq!(preempt::preemptions_at_deferral_end() - at_end_before, 1);
        // Four ticks past its budget of one: within the grace, not ended.
        check_eq!(preempt::ended_holding_locks() - ended_before, 0);
        check!(!GUEST_LOCK.is_locked());
        // A looping guest: its drop abandons it.
        drop(k);
        Ok(())
    })
}

fn a_budget_of_three_ticks_lets_exactly_three_ticks_land_in_the_guest(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let ticks = timer::ticks();
        let k = preempted(k.resume_for(3, (), &[]))?;
        check_eq!(timer::ticks() - ticks, 3);
        stop.set(true);
        check!(matches!(k.resume((), &[]), Ok(Resumed::Returned(_))));
        Ok(())
    })
}

fn a_guest_that_suspends_within_its_budget_comes_back_suspended(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let yld = Tag::<i32, ()>::new(&store).map_err(|e| format!("{e:?}"))?;
    let guest = Func::wrap(&store, move |s: &Store, (): ()| -> Result<i32, Trap> {
        yld.suspend(s, 5)?;
        Ok(6)
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let s = match k.resume_for(100, (), &[yld.on()]) {
            Ok(Timed::InTime(Resumed::Suspended(s))) => s,
            _ => return Err("no suspension".into()),
        };
        let (five, k) = s.take(yld).map_err(|t| format!("{t}"))?;
        check_eq!(five, 5);
        match k.resume_for(100, (), &[]) {
            Ok(Timed::InTime(Resumed::Returned(six))) => check_eq!(six, 6),
            _ => return Err("no return".into()),
        }
        Ok(())
    })
}

/// Counts its drops in a shared cell.
struct Dropped(Rc<Cell<u32>>);
impl Drop for Dropped {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

fn a_preempted_guest_dropped_runs_its_destructors_and_gives_heap_and_stack_back(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let yld = Tag::<(), ()>::new(&store).map_err(|e| format!("{e:?}"))?;
    let drops = Rc::new(Cell::new(0u32));
    let give_up = Rc::new(Cell::new(false));
    let (d, g) = (drops.clone(), give_up.clone());
    // It computes with heap memory and suspends only once told to.
    let guest = Func::wrap(&store, move |s: &Store, (): ()| -> Result<i64, Trap> {
        let guard = Dropped(d.clone());
        let boxed = Box::new([3u64; 64]);
        let mut list: Vec<u64> = (0..1000).collect();
        let mut i = 0;
        loop {
            list[i % 1000] = list[i % 1000].wrapping_add(boxed[i % 64]);
            i += 1;
            if black_box(&g).get() {
                yld.suspend(s, ())?;
            }
            black_box(&guard);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    // A first continuation puts the store's record and cache in place.
    drop(Cont::new(&store, guest).map_err(|t| format!("{t}"))?);
    let (heap, stacks) = (kernel::heap::used_bytes(), store.outstanding_stacks());
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(2, (), &[]))?;
        check!(kernel::heap::used_bytes() >= heap + 8 * 1000 + 8 * 64);
        give_up.set(true);
        drop(k);
        Ok(())
    })?;
    check_eq!(drops.get(), 1);
    check_eq!(kernel::heap::used_bytes(), heap);
    check_eq!(store.outstanding_stacks(), stacks);
    Ok(())
}

fn a_preempted_guest_that_never_suspends_again_is_abandoned_by_its_drop(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    drop(Cont::new(&store, guest).map_err(|t| format!("{t}"))?);
    let stacks = store.outstanding_stacks();
    ticking(&timer, PERIOD, || {
        let abandoned = preempt::abandoned_in_drop();
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(1, (), &[]))?;
        let at_drop = counter.get();
        drop(k);
        check!(counter.get() > at_drop, "the drop let it run on");
        check_eq!(preempt::abandoned_in_drop() - abandoned, 1);
        Ok(())
    })?;
    check_eq!(store.outstanding_stacks(), stacks);
    // The store goes on: a new continuation runs and returns.
    stop.set(true);
    let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
    check!(matches!(k.resume((), &[]), Ok(Resumed::Returned(_))));
    Ok(())
}

fn preemption_never_nests_in_500_preemptions_at_the_shortest_period(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    ticking(&timer, timer::MIN_PERIOD, || {
        let before = preempt::preemptions();
        let mut k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        for _ in 0..500 {
            k = preempted(k.resume_for(1, (), &[]))?;
        }
        check_eq!(preempt::preemptions() - before, 500);
        check_eq!(preempt::nested_preemptions(), 0);
        stop.set(true);
        check!(matches!(k.resume((), &[]), Ok(Resumed::Returned(_))));
        Ok(())
    })
}

fn a_guest_scheduler_gives_three_never_yielding_tasks_25_to_42_percent_of_300_ticks(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let stop = Rc::new(Cell::new(false));
    let counters: Vec<Rc<Cell<i64>>> = (0..3).map(|_| Rc::new(Cell::new(0))).collect();
    let mut tasks = Vec::new();
    for c in &counters {
        tasks.push(counter_guest(&store, c, &stop)?.detach());
    }
    // The scheduler is a guest: round robin, one tick per slice, until
    // 300 ticks have been shared; it returns each task's ticks.
    let sched = Func::wrap(
        &store,
        move |s: &Store, (): ()| -> Result<(i64, i64, i64), Trap> {
            let mut queue: Vec<(usize, Cont<'_, (), i64>)> = Vec::new();
            for (i, f) in tasks.iter().enumerate() {
                queue.push((i, Cont::new(s, *f)?));
            }
            let mut got = [0i64; 3];
            while got.iter().sum::<i64>() < 300 {
                let (i, k) = queue.remove(0);
                let before = timer::ticks();
                match k.resume_for(1, (), &[])? {
                    Timed::Preempted(k) => queue.push((i, k)),
                    Timed::InTime(_) => return Err(Trap::new(TrapKind::Guest, "a task ended")),
                }
                got[i] += (timer::ticks() - before) as i64;
            }
            Ok((got[0], got[1], got[2]))
        },
    )
    .map_err(|e| format!("{e:?}"))?;
    let mut shares = None;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, sched).map_err(|t| format!("{t}"))?;
        match k.resume((), &[]) {
            Ok(Resumed::Returned(r)) => shares = Some(r),
            Ok(_) => return Err("the scheduler suspended".into()),
            Err(trap) => return Err(format!("the scheduler trapped: {trap}")),
        }
        Ok(())
    })?;
    let (a, b, c) = shares.ok_or("no shares")?;
    let total = a + b + c;
    check!(total >= 300, "{total} ticks");
    for (name, n) in [("A", a), ("B", b), ("C", c)] {
        let percent = n * 100 / total;
        check!(
            (25..=42).contains(&percent),
            "task {name} got {n} of {total} ticks ({percent} %)"
        );
    }
    for c in &counters {
        check!(c.get() > 0, "every task counted");
    }
    Ok(())
}

fn the_dynamic_door_preempts_and_resumes_as_the_typed_one(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    ticking(&timer, PERIOD, || {
        let k = store
            .cont_new(guest.untyped())
            .map_err(|t| format!("{t}"))?;
        let k = preempted_dynamic(store.resume_for::<(), i64>(k, 1, (), &[]))?;
        check_eq!(store.state(k), Some(kernel::cont::State::Suspended));
        let k = preempted_dynamic(store.resume_for::<(), i64>(k, 1, (), &[]))
            .map_err(|e| format!("again: {e}"))?;
        stop.set(true);
        check_eq!(
            store.resume_for::<(), i64>(k, 1, (), &[]),
            Ok(dynamic::Timed::InTime(dynamic::Resumed::Returned(
                counter.get()
            )))
        );
        Ok(())
    })
}

// ----- hostile ------------------------------------------------------------

fn resume_for_with_the_timer_stopped_is_a_plain_resume(_m: &Machine) -> TestResult {
    let store = Store::new(KernelStacks, STACK);
    let spin = Func::wrap(&store, |_: &Store, (): ()| -> Result<i64, Trap> {
        let mut lanes = SEED;
        for _ in 0..300_000 {
            lanes = step(black_box(lanes));
        }
        Ok(checksum(lanes))
    })
    .map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(&store, spin).map_err(|t| format!("{t}"))?;
    check!(matches!(
        k.resume_for(0, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(_)))
    ));
    Ok(())
}

fn resume_throw_into_a_preempted_continuation_is_refused_and_it_still_resumes(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    let oops = Tag::<i32, ()>::new(&store).map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(1, (), &[]))?.into_raw();
        let thrown = store.resume_throw::<i32, i64>(k, oops.untyped(), 1, &[]);
        check_eq!(
            thrown.map_err(|t| (t.kind(), t.message())),
            Err((
                TrapKind::SignatureMismatch,
                "resume_throw into a preempted continuation: it stopped at no suspend"
            ))
        );
        stop.set(true);
        check_eq!(
            store.resume::<(), i64>(k, (), &[]),
            Ok(dynamic::Resumed::Returned(counter.get()))
        );
        Ok(())
    })
}

fn a_used_handle_given_to_resume_for_is_refused(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    ticking(&timer, PERIOD, || {
        let k = store
            .cont_new(guest.untyped())
            .map_err(|t| format!("{t}"))?;
        let next = preempted_dynamic(store.resume_for::<(), i64>(k, 1, (), &[]))?;
        check_eq!(
            store
                .resume_for::<(), i64>(k, 1, (), &[])
                .map_err(|t| t.kind()),
            Err(TrapKind::ConsumedContinuation)
        );
        stop.set(true);
        check_eq!(
            store.resume::<(), i64>(next, (), &[]),
            Ok(dynamic::Resumed::Returned(counter.get()))
        );
        Ok(())
    })
}

/// A parent that resumes `child` with a plain `resume` and returns what
/// it returned plus 1000; it suspends to nothing itself.
fn parent_of<'s>(store: &'s Store, child: Func<'s, (), i64>) -> Result<Func<'s, (), i64>, String> {
    let child = child.detach();
    Func::wrap(store, move |s: &Store, (): ()| -> Result<i64, Trap> {
        let k = Cont::new(s, child)?;
        match k.resume((), &[])? {
            Resumed::Returned(n) => Ok(n + 1000),
            Resumed::Suspended(_) => Err(Trap::new(TrapKind::Guest, "the child suspended")),
        }
    })
    .map_err(|e| format!("{e:?}"))
}

/// Before the budget covered the chain under it, this hung the boot: only
/// the parent could be preempted, and the child never gave the CPU back.
fn a_budgeted_guest_whose_child_never_returns_is_preempted_inside_the_child_within_two_periods(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let parent = parent_of(&store, counter_guest(&store, &counter, &stop)?)?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
        let before = preempt::preemptions();
        let start = timer::tsc();
        let k = preempted(k.resume_for(1, (), &[]))?;
        let took = timer::tsc() - start;
        check!(
            took <= 2 * tsc_per_period(&timer, PERIOD),
            "preempted after {took} TSC counts, two periods are {}",
            2 * tsc_per_period(&timer, PERIOD)
        );
        check!(counter.get() > 0, "the child counted before the tick");
        check_eq!(preempt::preemptions() - before, 1);
        check_eq!(preempt::armed(), false);
        check!(interrupts_on(), "the resume came back with interrupts on");
        // The handle resumes the child where it was, its parent waiting.
        stop.set(true);
        match k.resume((), &[]) {
            Ok(Resumed::Returned(n)) => check_eq!(n, counter.get() + 1000),
            _ => return Err("the resumed chain did not return".into()),
        }
        Ok(())
    })
}

fn a_preempted_child_resumed_slice_after_slice_loses_and_repeats_no_step(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let parent = parent_of(&store, counter_guest(&store, &counter, &stop)?)?;
    ticking(&timer, PERIOD, || {
        let mut k = preempted(
            Cont::new(&store, parent)
                .map_err(|t| format!("{t}"))?
                .resume_for(1, (), &[]),
        )?;
        let mut last = counter.get();
        for slice in 1..=10 {
            k = preempted(k.resume_for(1, (), &[]))?;
            let now = counter.get();
            check!(now > last, "no step in slice {slice}");
            last = now;
        }
        stop.set(true);
        match k.resume_for(1, (), &[]) {
            Ok(Timed::InTime(Resumed::Returned(n))) => check_eq!(n, counter.get() + 1000),
            Ok(Timed::Preempted(_)) => return Err("preempted after the stop".into()),
            _ => return Err("the chain did not return".into()),
        }
        Ok(())
    })
}

/// Before a nested budget spent the enclosing one, this parent held the
/// CPU for ever: every tick landed in its child, under the child's own
/// budget, and the parent's never ran down.
fn a_guest_running_its_child_under_budgets_of_its_own_is_preempted_by_its_own_budget(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let child = counter_guest(&store, &counter, &stop)?.detach();
    let slices = Rc::new(Cell::new(0u32));
    let seen = slices.clone();
    let parent = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        let mut k = Cont::new(s, child)?;
        loop {
            match k.resume_for(1, (), &[])? {
                Timed::Preempted(next) => k = next,
                Timed::InTime(_) => return Err(Trap::new(TrapKind::Guest, "the child stopped")),
            }
            seen.set(seen.get() + 1);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
        let ticks = timer::ticks();
        let k = preempted(k.resume_for(3, (), &[]))?;
        let took = timer::ticks() - ticks;
        check!((3..=4).contains(&took), "preempted after {took} ticks");
        check!(slices.get() >= 2, "the child had {} slices", slices.get());
        check_eq!(preempt::armed(), false);
        drop(k);
        Ok(())
    })
}

fn a_preempted_parent_and_child_dropped_run_both_destructors_and_give_both_stacks_back(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let yld = Tag::<(), ()>::new(&store).map_err(|e| format!("{e:?}"))?;
    let drops = Rc::new(Cell::new(0u32));
    let give_up = Rc::new(Cell::new(false));
    let (d, g) = (drops.clone(), give_up.clone());
    // The child loops until told to give up, then suspends to a tag no
    // one handles once it is cancelled: its suspend fails and it returns.
    let child = Func::wrap(&store, move |s: &Store, (): ()| -> Result<i64, Trap> {
        let guard = Dropped(d.clone());
        while !black_box(&g).get() {}
        yld.suspend(s, ())?;
        black_box(&guard);
        Ok(0)
    })
    .map_err(|e| format!("{e:?}"))?
    .detach();
    let d = drops.clone();
    let parent = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        let guard = Dropped(d.clone());
        Cont::new(s, child)?.resume((), &[])?;
        black_box(&guard);
        Ok(())
    })
    .map_err(|e| format!("{e:?}"))?;
    // Two records and their stacks in the store's books first: the
    // parent's and the child's.
    let first = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
    drop(Cont::new(&store, parent).map_err(|t| format!("{t}"))?);
    drop(first);
    let (heap, stacks) = (kernel::heap::used_bytes(), store.outstanding_stacks());
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(1, (), &[]))?;
        check_eq!(store.outstanding_stacks(), stacks + 2);
        give_up.set(true);
        drop(k);
        Ok(())
    })?;
    check_eq!(drops.get(), 2);
    check_eq!(kernel::heap::used_bytes(), heap);
    check_eq!(store.outstanding_stacks(), stacks);
    Ok(())
}

/// Before a budget belonged to its `resume_for` rather than to the
/// record it ran, this hung the boot: the budgeted continuation switched
/// away, and the one that took its place was never preempted.
fn a_budgeted_continuation_that_switches_to_one_that_never_yields_is_preempted_in_the_target(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let sw = store.tag_new(&[], &[]).map_err(|e| format!("{e:?}"))?;
    let (counter, stop) = (Rc::new(Cell::new(0i64)), Rc::new(Cell::new(false)));
    let (c, st) = (counter.clone(), stop.clone());
    // The target counts until told to stop and returns the count.
    let target = store
        .func_wrap(
            move |_: &Store, _switched_from: dynamic::ContObj| -> Result<i64, Trap> {
                let mut n = c.get();
                while !black_box(&st).get() {
                    n += 1;
                    black_box(&c).set(n);
                }
                Ok(n)
            },
        )
        .map_err(|e| format!("{e:?}"))?;
    // The budgeted one hands the CPU to a new target at once.
    let first = store
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            let k = s.cont_new(target)?;
            let _back: dynamic::ContObj = s.switch(k, sw, ())?;
            Err(Trap::new(TrapKind::Guest, "switched back to"))
        })
        .map_err(|e| format!("{e:?}"))?;
    let handlers = [dynamic::Handler::switch(sw)];
    ticking(&timer, PERIOD, || {
        let k = store.cont_new(first).map_err(|t| format!("{t}"))?;
        let next = preempted_dynamic(store.resume_for::<(), i64>(k, 1, (), &handlers))?;
        check!(counter.get() > 0, "the target counted before the tick");
        check_eq!(preempt::armed(), false);
        stop.set(true);
        check_eq!(
            store.resume::<(), i64>(next, (), &handlers),
            Ok(dynamic::Resumed::Returned(counter.get()))
        );
        Ok(())
    })
}

/// A parent that ignores what its child's resume returns and resumes a
/// new child for ever, every child looping.
fn a_preempted_chain_whose_parent_ignores_the_cancellation_is_abandoned_whole(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let child = counter_guest(&store, &counter, &stop)?.detach();
    let parent = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        loop {
            let _ = Cont::new(s, child)?.resume((), &[]);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    // The parent's and the child's records and stacks in place first.
    let warm = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
    drop(Cont::new(&store, parent).map_err(|t| format!("{t}"))?);
    drop(warm);
    let stacks = store.outstanding_stacks();
    ticking(&timer, PERIOD, || {
        let abandoned = preempt::abandoned_in_drop();
        let k = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(1, (), &[]))?;
        check_eq!(store.outstanding_stacks(), stacks + 2);
        // The drop runs the chain on for its budget: the child loops, is
        // preempted again, and both records go with their frames.
        drop(k);
        check_eq!(preempt::abandoned_in_drop() - abandoned, 1);
        Ok(())
    })?;
    check_eq!(store.outstanding_stacks(), stacks);
    Ok(())
}

/// Before the cancellations of a store dropped inside a budgeted chain got
/// budgets of their own, this hung the boot: the dropped store's guest,
/// cancelled, ignored it and looped, on top of the chain but not under
/// its `resume_for`, so no tick ended it.
fn a_store_dropped_by_a_budgeted_guest_whose_guest_loops_when_cancelled_is_abandoned(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    // The inner store's guest, suspended from the kernel's level: when it
    // is cancelled its suspend fails, and it goes on anyway.
    let inner = Store::new(KernelStacks, STACK);
    let yld = inner.tag_new(&[], &[]).map_err(|e| format!("{e:?}"))?;
    let stubborn = inner
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _ = s.suspend::<(), ()>(yld, ());
            loop {
                black_box(0);
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = inner.cont_new(stubborn).map_err(|t| format!("{t}"))?;
    match inner.resume::<(), ()>(k, (), &[dynamic::Handler::suspend(yld)]) {
        Ok(dynamic::Resumed::Suspended { .. }) => {}
        other => return Err(format!("not suspended: {other:?}")),
    }
    // The budgeted guest owns the inner store and drops it.
    let owned = Rc::new(Cell::new(Some(inner)));
    let (held, dropped) = (owned.clone(), Rc::new(Cell::new(false)));
    let flag = dropped.clone();
    let guest = Func::wrap(&store, move |_: &Store, (): ()| -> Result<(), Trap> {
        drop(held.take());
        flag.set(true);
        loop {
            black_box(&flag);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let abandoned = preempt::abandoned_in_drop();
        let k = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(10, (), &[]))?;
        check!(dropped.get(), "the inner store's drop did not come back");
        check_eq!(preempt::abandoned_in_drop() - abandoned, 1);
        drop(k);
        Ok(())
    })
}

static HELD_BY_A_CHILD: Mutex<u64> = Mutex::new("held by a child", 0);

fn a_child_holding_a_lock_past_its_parents_budget_is_ended_and_the_parent_preempted(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let child = Func::wrap(&store, |_: &Store, (): ()| -> Result<i64, Trap> {
        core::mem::forget(HELD_BY_A_CHILD.lock());
        loop {
            black_box(0);
        }
    })
    .map_err(|e| format!("{e:?}"))?
    .detach();
    let trap_seen = Rc::new(Cell::new(None));
    let seen = trap_seen.clone();
    let parent = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        let outcome = Cont::new(s, child)?.resume((), &[]);
        seen.set(outcome.err().map(|t| t.kind()));
        loop {
            black_box(&seen);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let (ended, stacks) = (preempt::ended_holding_locks(), store.outstanding_stacks());
        let k = Cont::new(&store, parent).map_err(|t| format!("{t}"))?;
        let mut k = preempted(k.resume_for(2, (), &[]))?;
        // The parent is preempted at its first point after the trap: in
        // its resume's bookkeeping (a deferred tick waits there) or in its
        // loop. One more slice reaches the loop.
        if trap_seen.get().is_none() {
            k = preempted(k.resume_for(1, (), &[]))?;
        }
        check_eq!(trap_seen.get(), Some(TrapKind::LockHeld));
        check_eq!(preempt::ended_holding_locks() - ended, 1);
        check_eq!(
            (kernel::sync::held(), preempt::armed(), interrupts_on()),
            (0, false, true)
        );
        check_eq!(store.outstanding_stacks(), stacks + 1);
        drop(k);
        Ok(())
    })
}

/// Before the fix, the drop ran the guest on for a budget of ticks that
/// never came: the boot hung.
fn a_preempted_looping_guest_dropped_with_the_timer_stopped_is_abandoned_at_once(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let guest = counter_guest(&store, &counter, &stop)?;
    drop(Cont::new(&store, guest).map_err(|t| format!("{t}"))?);
    let stacks = store.outstanding_stacks();
    let mut k = None;
    ticking(&timer, PERIOD, || {
        let cont = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
        k = Some(preempted(cont.resume_for(1, (), &[]))?);
        Ok(())
    })?;
    let (abandoned, at_drop) = (preempt::abandoned_in_drop(), counter.get());
    drop(k);
    check_eq!(counter.get(), at_drop);
    check_eq!(preempt::abandoned_in_drop() - abandoned, 1);
    check_eq!(store.outstanding_stacks(), stacks);
    Ok(())
}

// ----- Wasm epochs ----------------------------------------------------------

/// `kernel/wat/epochs.wat`: `count_to`, `forever`, `tail_calls_forever`,
/// and the global `n` each of them adds 1 to per step.
const EPOCHS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/epochs.wasm"));

fn epochs() -> Result<Pin<Box<Instance>>, String> {
    let module = Module::new(EPOCHS).map_err(|e| format!("module refused: {e:?}"))?;
    Instance::new(Arc::new(module), Store::new(KernelStacks, STACK))
        .map_err(|e| format!("instantiation failed: {e:?}"))
}

fn export(i: &Instance, name: &str) -> Result<dynamic::Func, String> {
    i.exported_func(name)
        .ok_or_else(|| format!("no exported function {name}"))
}

/// The global `n`: the steps taken so far.
fn steps(i: &Instance) -> Result<i64, String> {
    match i.get_global("n") {
        Ok(Val::I64(n)) => Ok(n),
        other => Err(format!("global n: {other:?}")),
    }
}

fn a_wasm_loop_with_a_budget_of_one_tick_is_preempted_at_a_safe_point_within_two_periods(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let i = epochs()?;
    let store = i.store();
    let forever = export(&i, "forever")?;
    ticking(&timer, PERIOD, || {
        let k = store.cont_new(forever).map_err(|t| format!("{t}"))?;
        let (all, at_safe_points) = (
            preempt::preemptions(),
            preempt::preemptions_at_safe_points(),
        );
        let start = timer::tsc();
        let k = preempted_dynamic(store.resume_for::<(), ()>(k, 1, (), &[]))?;
        let took = timer::tsc() - start;
        check!(
            took <= 2 * tsc_per_period(&timer, PERIOD),
            "preempted after {took} TSC counts, two periods are {}",
            2 * tsc_per_period(&timer, PERIOD)
        );
        check_eq!(preempt::preemptions() - all, 1);
        check_eq!(preempt::preemptions_at_safe_points() - at_safe_points, 1);
        check!(interrupts_on(), "the resume came back with interrupts on");
        let first = steps(&i)?;
        check!(first > 0, "the loop ran before the tick");
        // Resumed, it loops on from where it stopped.
        let k = preempted_dynamic(store.resume_for::<(), ()>(k, 1, (), &[]))?;
        check!(steps(&i)? > first, "no step after the resume");
        check_eq!(preempt::preemptions_at_safe_points() - at_safe_points, 2);
        check_eq!(store.drop_cont(k), Ok(()));
        Ok(())
    })
}

/// Runs the export `name` of `epochs.wat` with `steps` under budgets of
/// one tick, resumed slice after slice, each slice checked to have
/// stepped the global on; returns its result and the preemptions, each
/// of them checked to have been taken at a safe point or at the end of a
/// deferral, never by the stub in the middle of interpreted code.
fn count_in_slices(m: &Machine, name: &str, steps_to: i64) -> Result<(i64, u64, i64), String> {
    let timer = Timer::new(m);
    let i = epochs()?;
    let store = i.store();
    let count = export(&i, name)?;
    let mut counted = (0, 0, 0);
    ticking(&timer, PERIOD, || {
        let at_safe_points = preempt::preemptions_at_safe_points();
        let at_deferral_ends = preempt::preemptions_at_deferral_end();
        let k = store.cont_new(count).map_err(|t| format!("{t}"))?;
        let mut outcome = store.resume_for::<i64, i64>(k, 1, steps_to, &[]);
        let (mut preemptions, mut last) = (0u64, 0);
        let result = loop {
            match outcome {
                Ok(dynamic::Timed::Preempted(k)) => {
                    preemptions += 1;
                    let now = steps(&i)?;
                    check!(now > last, "no step in slice {preemptions}");
                    last = now;
                    outcome = store.resume_for::<(), i64>(k, 1, (), &[]);
                }
                Ok(dynamic::Timed::InTime(dynamic::Resumed::Returned(n))) => break n,
                other => return Err(format!("after {preemptions} slices: {other:?}")),
            }
        };
        // Each at a safe point, or where a deferred tick's section ends
        // (a tick in a lock the runtime takes, as the child's stack goes
        // back to the pool once the count is done): none by the stub in
        // the middle of interpreted code.
        check_eq!(
            preempt::preemptions_at_safe_points() - at_safe_points
                + (preempt::preemptions_at_deferral_end() - at_deferral_ends),
            preemptions
        );
        counted = (result, preemptions, steps(&i)?);
        Ok(())
    })?;
    Ok(counted)
}

fn a_preempted_wasm_count_goes_on_without_a_lost_or_repeated_step(m: &Machine) -> TestResult {
    /// Some hundreds of periods of counting.
    const STEPS: i64 = 200_000;
    let (result, preemptions, global) = count_in_slices(m, "count_to", STEPS)?;
    // The local and the global were stepped in turn: both exact.
    check_eq!(result, STEPS);
    check_eq!(global, STEPS);
    check!(preemptions >= 50, "only {preemptions} preemptions");
    Ok(())
}

fn a_wasm_count_in_a_child_continuation_is_preempted_in_the_child_and_ends_exact(
    m: &Machine,
) -> TestResult {
    /// Some tens of periods of counting.
    const STEPS: i64 = 50_000;
    let (result, preemptions, global) = count_in_slices(m, "count_in_a_child", STEPS)?;
    check_eq!(result, STEPS + 1000);
    check_eq!(global, STEPS);
    check!(preemptions >= 10, "only {preemptions} preemptions");
    Ok(())
}

fn a_wasm_chain_of_tail_calls_without_a_branch_is_preempted_at_a_call(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let i = epochs()?;
    let store = i.store();
    let tail = export(&i, "tail_calls_forever")?;
    ticking(&timer, PERIOD, || {
        let at_safe_points = preempt::preemptions_at_safe_points();
        let k = store.cont_new(tail).map_err(|t| format!("{t}"))?;
        let k = preempted_dynamic(store.resume_for::<(), ()>(k, 1, (), &[]))?;
        check_eq!(preempt::preemptions_at_safe_points() - at_safe_points, 1);
        let first = steps(&i)?;
        let k = preempted_dynamic(store.resume_for::<(), ()>(k, 1, (), &[]))?;
        check!(steps(&i)? > first, "no call after the resume");
        check_eq!(store.drop_cont(k), Ok(()));
        Ok(())
    })
}

/// A guest preempted by the stub cannot be cancelled at once (its drop
/// runs it on, then abandons its frames); one preempted at a safe point is
/// told, and its interpreter's frames return: nothing is abandoned, the
/// heap and stacks go back to the byte.
fn a_wasm_guest_preempted_at_a_safe_point_and_dropped_returns_through_its_frames(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let i = epochs()?;
    let store = i.store();
    let forever = export(&i, "forever")?;
    // A first run puts the store's record and stack cache in place.
    let k = store.cont_new(forever).map_err(|t| format!("{t}"))?;
    check_eq!(store.drop_cont(k), Ok(()));
    let (heap, stacks) = (kernel::heap::used_bytes(), store.outstanding_stacks());
    ticking(&timer, PERIOD, || {
        let abandoned = preempt::abandoned_in_drop();
        let k = store.cont_new(forever).map_err(|t| format!("{t}"))?;
        let k = preempted_dynamic(store.resume_for::<(), ()>(k, 1, (), &[]))?;
        check_eq!(store.drop_cont(k), Ok(()));
        check_eq!(preempt::abandoned_in_drop(), abandoned);
        Ok(())
    })?;
    check_eq!(kernel::heap::used_bytes(), heap);
    check_eq!(store.outstanding_stacks(), stacks);
    Ok(())
}

/// Before, this drop abandoned the guest's frames (no tick would end a
/// run of it), and the heap of its value stack was never given back.
fn a_wasm_guest_preempted_at_a_safe_point_and_dropped_with_the_timer_stopped_gives_its_heap_back(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let i = epochs()?;
    let store = i.store();
    let forever = export(&i, "forever")?;
    // A first run puts the store's record and stack cache in place.
    let k = store.cont_new(forever).map_err(|t| format!("{t}"))?;
    check_eq!(store.drop_cont(k), Ok(()));
    let (heap, stacks) = (kernel::heap::used_bytes(), store.outstanding_stacks());
    let (abandoned, at_safe_points) = (
        preempt::abandoned_in_drop(),
        preempt::preemptions_at_safe_points(),
    );
    let mut preempted = None;
    ticking(&timer, PERIOD, || {
        let k = store.cont_new(forever).map_err(|t| format!("{t}"))?;
        preempted = Some(preempted_dynamic(store.resume_for::<(), ()>(
            k,
            1,
            (),
            &[],
        ))?);
        Ok(())
    })?;
    check_eq!(preempt::preemptions_at_safe_points() - at_safe_points, 1);
    let k = preempted.ok_or("no preempted handle")?;
    check_eq!(store.drop_cont(k), Ok(()));
    check_eq!(preempt::abandoned_in_drop(), abandoned);
    check_eq!(kernel::heap::used_bytes(), heap);
    check_eq!(store.outstanding_stacks(), stacks);
    Ok(())
}

fn a_wasm_call_past_its_tick_budget_traps_timed_out_and_the_next_call_runs(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let i = epochs()?;
    i.set_tick_budget(Some(3));
    ticking(&timer, PERIOD, || {
        for name in ["forever", "tail_calls_forever"] {
            let start = timer::tsc();
            match i.invoke(name, &[]) {
                Err(e @ Error::Trap(_)) => check_eq!(e.trap_reason(), Some("timed out")),
                other => return Err(format!("{name}: {other:?}")),
            }
            let took = timer::tsc() - start;
            check!(
                (2 * tsc_per_period(&timer, PERIOD)..=4 * tsc_per_period(&timer, PERIOD))
                    .contains(&took),
                "{name} timed out after {took} TSC counts, a period is {}",
                tsc_per_period(&timer, PERIOD)
            );
            check!(!preempt::armed(), "the deadline is still armed");
        }
        check_eq!(
            i.invoke("count_to", &[Val::I64(1000)])
                .map_err(|e| format!("{e:?}"))?,
            [Val::I64(1000)]
        );
        Ok(())
    })
}

// ----- hostile: a resumer out of stack ------------------------------------

/// Bytes each level of [`at_depth`] keeps on the stack (its frame is a
/// little more).
const PAD: usize = 112;

/// Calls `f` with `depth` frames of [`at_depth`] below the caller.
#[inline(never)]
fn at_depth(depth: u32, f: &mut dyn FnMut() -> Result<(), Trap>) -> Result<(), Trap> {
    let pad = black_box([depth as u8; PAD]);
    let r = if depth == 0 {
        f()
    } else {
        at_depth(depth - 1, f)
    };
    black_box(&pad);
    r
}

/// `run_budgeted` touches the page below its stack pointer before it arms
/// the budget (`STACK_PROBE`), so that a resumer about to overflow faults
/// with nothing armed. Every depth from the shallowest to the one at
/// which the recursion alone overflows: a `resume_for` that overflows is
/// a stack-overflow trap of the resumer, nothing stays armed, and a plain
/// resume of a guest that loops two periods then yields is not preempted.
/// With the probe taken out, this fails at the depth where the switch's
/// own push meets the guard page: that `resume_for` of a child that
/// returns at once comes back "preempted".
fn resume_for_at_every_depth_near_the_stack_limit_traps_with_no_budget_left_armed(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let two_periods = 2 * tsc_per_period(&timer, PERIOD);
    let child = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| format!("{e:?}"))?
        .detach();
    let reached = Rc::new(Cell::new(false));
    let flag = reached.clone();
    // The child is made before the recursion: at the bottom, the
    // `resume_for` is the deepest call there has been on this stack.
    let sweeper = Func::wrap(&store, move |s: &Store, depth: i32| -> Result<(), Trap> {
        let mut k = Some(Cont::new(s, child)?);
        at_depth(depth as u32, &mut || {
            flag.set(true);
            let k = k
                .take()
                .ok_or_else(|| Trap::new(TrapKind::Guest, "no child"))?;
            // Only a return is right: before the probe, an overflow in the
            // switch made this come back "preempted". A budget of two: the
            // first tick after the switch does not preempt, so a child that
            // returns within a period is never preempted for its budget
            // (with one, a tick landing in the child's few hundred
            // instructions preempted it, as it should: at some depth, for
            // some phase of the clock).
            let wrong = match k.resume_for(2, (), &[])? {
                Timed::InTime(Resumed::Returned(())) => return Ok(()),
                Timed::InTime(Resumed::Suspended(_)) => "the child came back suspended",
                Timed::Preempted(_) => "the child came back preempted",
            };
            Err(Trap::new(TrapKind::Guest, wrong))
        })
    })
    .map_err(|e| format!("{e:?}"))?;
    let yld = Tag::<(), ()>::new(&store).map_err(|e| format!("{e:?}"))?;
    let looper = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        let end = timer::tsc() + two_periods;
        while timer::tsc() < end {
            black_box(end);
        }
        yld.suspend(s, ())
    })
    .map_err(|e| format!("{e:?}"))?;
    ticking(&timer, PERIOD, || {
        let mut overflowed_after_the_recursion = 0;
        for depth in 0.. {
            reached.set(false);
            let k = Cont::new(&store, sweeper).map_err(|t| format!("{t}"))?;
            match k.resume(depth, &[]) {
                Ok(Resumed::Returned(())) => {}
                Err(t) if matches!(t.kind(), TrapKind::StackOverflow { .. }) => {
                    if !reached.get() {
                        // The recursion itself overflowed: past the limit.
                        break;
                    }
                    overflowed_after_the_recursion += 1;
                }
                Err(t) => return Err(format!("depth {depth}: trapped: {t}")),
                Ok(Resumed::Suspended(_)) => return Err(format!("depth {depth}: suspended")),
            }
            check!(!preempt::armed(), "depth {depth}: a budget left armed");
            let before = preempt::preemptions();
            let l = Cont::new(&store, looper).map_err(|t| format!("{t}"))?;
            match l.resume((), &[yld.on()]) {
                Ok(Resumed::Suspended(s)) => drop(s),
                Ok(Resumed::Returned(())) => return Err(format!("depth {depth}: it returned")),
                Err(t) => return Err(format!("depth {depth}: the looper trapped: {t}")),
            }
            check_eq!(preempt::preemptions(), before);
        }
        check!(
            overflowed_after_the_recursion > 0,
            "no depth overflowed after the recursion"
        );
        Ok(())
    })
}

// ----- Guest locks under a budget ---------------------------------------------

/// What a guest ended for holding a lock past its budget traps with.
fn ended_holding(lock: &str) -> String {
    format!(
        "trap: LockHeld: {lock}: held past its budget: ended {} ticks after the budget ran out",
        preempt::LOCK_GRACE + 1
    )
}

/// Runs `guest` with a budget of two ticks (the first lands after the
/// guest has taken its lock) and checks that it comes back ended for
/// holding `lock`, within `2 + LOCK_GRACE + 1` ticks (one more if a tick
/// fell between the count's read and the switch), with nothing left
/// counted or armed, interrupts on, and its stack back.
fn ended_within_the_grace(
    timer: &Timer,
    store: &Store,
    guest: Func<'_, (), ()>,
    lock: &str,
) -> TestResult {
    ticking(timer, PERIOD, || {
        let (ended, stacks) = (preempt::ended_holding_locks(), store.outstanding_stacks());
        let k = Cont::new(store, guest).map_err(|t| format!("{t}"))?;
        let ticks = timer::ticks();
        let outcome = k.resume_for(2, (), &[]);
        let took = timer::ticks() - ticks;
        let trap = match outcome {
            Err(trap) => trap,
            Ok(Timed::Preempted(_)) => return Err("it came back preempted".into()),
            Ok(Timed::InTime(_)) => return Err("it came back in time".into()),
        };
        check!(matches!(trap.kind(), TrapKind::LockHeld), "{trap}");
        check_eq!(format!("{trap}"), ended_holding(lock));
        let exact = u64::from(2 + preempt::LOCK_GRACE + 1);
        check!(
            took == exact || took == exact + 1,
            "ended after {took} ticks"
        );
        check_eq!(preempt::ended_holding_locks() - ended, 1);
        check_eq!(
            (kernel::sync::held(), preempt::armed(), interrupts_on()),
            (0, false, true)
        );
        check_eq!(store.outstanding_stacks(), stacks);
        Ok(())
    })
}

static FORGOTTEN: Mutex<u64> = Mutex::new("forgotten by a guest", 0);

/// Before guest locks under a budget left interrupts on, this guest hung
/// the boot: its lock turned interrupts off, so no tick came.
fn a_guest_that_forgets_a_lock_guard_and_loops_is_ended_lock_held_after_the_grace(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> {
        core::mem::forget(FORGOTTEN.lock());
        let mut n = 0u64;
        loop {
            n = black_box(n + 1);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ended_within_the_grace(&timer, &store, guest, "forgotten by a guest")?;
    // Its lock stays taken (its data may be half written); the kernel
    // goes on, and a looping guest without a lock is preempted as ever.
    check!(FORGOTTEN.is_locked(), "the forgotten lock was freed");
    let (counter, stop) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(false)));
    let counting = counter_guest(&store, &counter, &stop)?;
    ticking(&timer, PERIOD, || {
        let k = Cont::new(&store, counting).map_err(|t| format!("{t}"))?;
        let k = preempted(k.resume_for(1, (), &[]))?;
        stop.set(true);
        match k.resume((), &[]) {
            Ok(Resumed::Returned(n)) => check_eq!(n, counter.get()),
            _ => return Err("the counter did not return".into()),
        }
        Ok(())
    })
}

static HELD_IN_A_LOOP: Mutex<u64> = Mutex::new("held in a loop", 0);

fn a_guest_holding_its_guard_in_a_loop_is_ended_and_the_lock_stays_taken(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> {
        let mut guard = HELD_IN_A_LOOP.lock();
        loop {
            *guard = black_box(*guard + 1);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ended_within_the_grace(&timer, &store, guest, "held in a loop")?;
    // Abandoned with its holder: the next taker is told, not made to wait.
    check!(HELD_IN_A_LOOP.try_lock().is_none(), "the lock was freed");
    check_eq!(kernel::sync::held(), 0);
    let taker = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> {
        drop(HELD_IN_A_LOOP.lock());
        Ok(())
    })
    .map_err(|e| format!("{e:?}"))?;
    let k = Cont::new(&store, taker).map_err(|t| format!("{t}"))?;
    match k.resume((), &[]) {
        Err(trap) => check!(matches!(trap.kind(), TrapKind::Panic), "{trap}"),
        Ok(_) => return Err("the next taker got the abandoned lock".into()),
    }
    Ok(())
}

static AROUND_ALLOCATIONS: Mutex<u64> = Mutex::new("around allocations", 0);

/// Most of this guest's time is inside the heap's lock, a kernel lock
/// (interrupts off) taken inside its own: the ticks that fall due there
/// land at the heap's release, where the guest cannot be ended, and the
/// end comes at that release's preemption point or at a later tick.
fn a_guest_looping_on_allocations_inside_its_lock_is_ended_and_the_heap_stays_whole(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> {
        let mut guard = AROUND_ALLOCATIONS.lock();
        loop {
            let block: Vec<u64> = black_box(Vec::with_capacity(64));
            *guard += block.capacity() as u64;
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ended_within_the_grace(&timer, &store, guest, "around allocations")?;
    check!(!kernel::heap::locked(), "the heap's lock was left taken");
    let after: Vec<u64> = (1..=1000).collect();
    check_eq!(after.iter().sum::<u64>(), 500_500);
    Ok(())
}

static OUTER_GUEST_LOCK: Mutex<()> = Mutex::new("outer guest lock", ());
static INNER_GUEST_LOCK: Mutex<()> = Mutex::new("inner guest lock", ());

fn a_guest_taking_a_lock_with_try_lock_and_nesting_a_second_is_ended_naming_the_inner(
    m: &Machine,
) -> TestResult {
    let timer = Timer::new(m);
    let store = Store::new(KernelStacks, STACK);
    let guest = Func::wrap(&store, |_: &Store, (): ()| -> Result<(), Trap> {
        let outer = OUTER_GUEST_LOCK
            .try_lock()
            .ok_or_else(|| Trap::new(TrapKind::Guest, "the outer lock was taken"))?;
        let inner = INNER_GUEST_LOCK.lock();
        core::mem::forget(outer);
        core::mem::forget(inner);
        let mut n = 0u64;
        loop {
            n = black_box(n + 1);
        }
    })
    .map_err(|e| format!("{e:?}"))?;
    ended_within_the_grace(&timer, &store, guest, "inner guest lock")?;
    check_eq!(
        (OUTER_GUEST_LOCK.is_locked(), INNER_GUEST_LOCK.is_locked()),
        (true, true)
    );
    Ok(())
}

/// `kernel/wat/print_forever.wat`: `print_then_forever` prints one value
/// through the instance's print hook, then loops.
const PRINT_FOREVER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/print_forever.wasm"));

static PRINT_HOOK_LOCK: Mutex<()> = Mutex::new("print hook's", ());

/// A Wasm program cannot name a kernel lock; the embedder's print hook,
/// Rust on the guest's stack under the guest's budget, can.
fn a_wasm_guest_whose_print_hook_forgets_a_lock_is_ended_lock_held(m: &Machine) -> TestResult {
    let timer = Timer::new(m);
    let module = Module::new(PRINT_FOREVER).map_err(|e| format!("module refused: {e:?}"))?;
    let i = Instance::new(Arc::new(module), Store::new(KernelStacks, STACK))
        .map_err(|e| format!("instantiation failed: {e:?}"))?;
    let printed = Rc::new(Cell::new(0u32));
    let count = printed.clone();
    i.set_print(move |_| {
        count.set(count.get() + 1);
        core::mem::forget(PRINT_HOOK_LOCK.lock());
    });
    let store = i.store();
    let f = export(&i, "print_then_forever")?;
    ticking(&timer, PERIOD, || {
        let ended = preempt::ended_holding_locks();
        let k = store.cont_new(f).map_err(|t| format!("{t}"))?;
        match store.resume_for::<(), ()>(k, 2, (), &[]) {
            Err(trap) => check_eq!(format!("{trap}"), ended_holding("print hook's")),
            other => return Err(format!("not ended: {other:?}")),
        }
        check_eq!(printed.get(), 1);
        check_eq!(preempt::ended_holding_locks() - ended, 1);
        check_eq!(
            (kernel::sync::held(), preempt::armed(), interrupts_on()),
            (0, false, true)
        );
        check!(PRINT_HOOK_LOCK.is_locked(), "the hook's lock was freed");
        Ok(())
    })
}
