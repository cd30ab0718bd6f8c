//! Hostile tests, in safe Rust only: each is a way that guest code once took
//! the kernel down (a crash, a hang), and now gets a trap while the boot
//! goes on. The host module `kernel/tests/cont_hostile/safe_code.rs` checks the
//! rules that need no CPU; these need the kernel's own stacks, console,
//! locks and panic handler. `docs/guarantees.md` lists every rule and the
//! test that checks it.
//!
//! Every test ends by running an ordinary continuation in the same store,
//! to show that whatever went wrong before left the runtime whole. The
//! last group attacks the store's stack cache on the kernel's own stacks
//! (guard pages, demand paging, an exhausted pool, overflows inside the
//! pool's own calls) and trap reports (overflow reports, a panicking
//! writer, a dropped store's trap); its host half is
//! `kernel/tests/cont_hostile/cache/`.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::fmt;
use core::hint::black_box;
use core::pin::Pin;

use alloc::boxed::Box;
use kernel::cont::dynamic::{ContObj, Handler, Resumed, Tag};
use kernel::cont::{Store, Trap, TrapKind};
use kernel::stacks::KernelStacks;
use kernel::sync::{self, Mutex};
use kernel::testing::TestResult;
use kernel::{check, check_eq, println, serial};

kernel::suite!(
    "hostile",
    [
        // First: it cuts the pool down, which needs no stack out, and
        // stores leaked by the Rc cycles of later tests keep theirs.
        an_exhausted_pool_traps_out_of_stacks_but_a_store_with_cached_stacks_still_runs,
        guest_resuming_another_stores_continuation_is_refused_and_both_stores_go_on,
        dropping_a_suspended_chain_leaves_the_other_stores_continuations_whole,
        guest_that_suspends_inside_a_println_argument_leaves_the_console_free,
        guest_that_traps_inside_a_println_argument_leaves_the_console_free,
        guest_that_suspends_holding_a_kernel_lock_traps_naming_the_lock,
        guest_that_switches_holding_a_kernel_lock_traps_naming_the_lock,
        lock_abandoned_by_a_trapped_guest_is_reported_to_the_next_taker_not_waited_for,
        index_out_of_bounds_in_a_guest_is_a_panic_trap,
        checked_division_by_zero_in_a_guest_is_a_panic_trap,
        unwrap_of_none_in_a_guest_is_a_panic_trap,
        explicit_panic_in_a_guest_is_a_panic_trap,
        panic_three_continuations_deep_frees_every_stack_of_the_chain,
        scheduler_guest_survives_a_task_that_divides_by_zero_and_finishes_the_others,
        dropping_a_suspended_guest_gives_back_its_box_vec_and_rc_to_the_byte,
        symbol_lookup_of_addresses_outside_the_kernel_finds_nothing_and_never_faults,
        report_of_a_trap_kept_past_the_ring_shows_its_own_first_frames_not_another_traps,
        guest_trap_made_on_the_kernel_stack_walks_the_kernel_stack_only,
        trap_kept_after_its_continuation_ended_still_reports_where_it_was_made,
        a_stack_that_overflowed_into_its_guard_is_cached_and_overflows_the_same_way_when_reused,
        a_panicked_guests_stack_is_cached_and_runs_a_twelve_argument_function_next,
        a_guest_whose_child_ends_at_the_bottom_of_its_stack_overflows_and_loses_no_stack,
        a_guest_of_one_store_filling_anothers_cache_keeps_every_count_exact,
        cont_new_overflowing_at_the_bottom_of_a_guests_stack_fifty_times_loses_no_record,
        a_store_dropped_at_the_bottom_of_a_guests_stack_traps_the_guest_and_keeps_its_stacks,
        a_switch_target_that_overflows_ends_alone_and_every_stack_comes_back,
        a_trap_in_a_target_switched_to_from_two_levels_down_walks_its_own_stack_then_the_kernels,
        an_overflow_report_shows_the_recursion_once_and_counts_its_repeats,
        a_guest_whose_writer_panics_midway_through_a_report_traps_and_the_report_stays_whole,
        a_report_of_a_dropped_stores_trap_read_in_another_stores_guest_is_unchanged,
        a_func_of_a_dropped_store_is_refused_as_foreign_never_called,
        a_func_of_another_live_store_is_refused_as_foreign,
        a_store_dropped_inside_another_stores_guest_cancels_its_suspended_guests_to_the_byte,
        a_store_with_a_suspended_guest_dropped_at_the_bottom_of_a_guests_stack_traps_the_guest_only,
        a_refused_switch_target_of_another_store_is_freed_by_its_own_store,
        a_store_dropped_by_a_guest_cancelled_inside_a_third_stores_guest_cancels_every_level,
        a_guest_cancelled_inside_another_stores_guest_cannot_resume_suspend_or_switch_through_it,
        a_guest_cancelled_inside_another_stores_guest_that_panics_traps_alone,
        a_store_dropped_by_a_guest_its_own_store_is_cancelling_cancels_its_guests_too,
        a_guest_cancelled_inside_another_stores_guest_that_overflows_its_stack_traps_alone,
        an_outer_stores_handle_dropped_by_a_guest_cancelled_inside_it_is_deferred_then_cancelled,
        a_guest_function_whose_captured_value_panics_on_drop_is_a_trap_when_the_kernel_drops_the_store,
        a_store_whose_closures_have_no_drop_glue_touches_no_stack_page_when_it_drops,
        a_stack_name_of_any_address_is_text_never_a_panic,
    ]
);

const STACK: usize = 64 * 1024;

fn store() -> Rc<Pin<Box<Store>>> {
    Rc::new(Store::new(KernelStacks, STACK))
}

/// A continuation that returns 42 runs to completion in `s`, and no stack
/// of it is left over (its continuations hold none): the runtime is whole
/// after whatever the test did.
fn runs_normally(s: &Store) -> TestResult {
    let f = s
        .func_wrap(|_: &Store, x: i32| -> Result<i32, Trap> { Ok(x * 2) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(s.resume::<i32, i32>(k, 21, &[]), Ok(Resumed::Returned(42)));
    check_eq!(s.outstanding_stacks(), 0);
    check_eq!(sync::held(), 0);
    check!(!s.in_continuation());
    Ok(())
}

/// The trap a one-continuation chain running `f` ends with.
fn trap_of<F>(s: &Store, f: F) -> Result<Trap, alloc::string::String>
where
    F: Fn(&Store, ()) -> Result<i32, Trap> + 'static,
{
    let func = s.func_wrap(f).map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(func).map_err(|t| alloc::format!("{t}"))?;
    match s.resume::<(), i32>(k, (), &[]) {
        Err(trap) => Ok(trap),
        other => Err(alloc::format!("expected a trap, got {other:?}")),
    }
}

// ----- D1: stores do not nest --------------------------------------------

/// The report's trap variant: S1's guest resumes S2's continuation, whose
/// guest would suspend to S1. The resume is refused with a trap the S1
/// guest receives, and S2's next trapping continuation comes back as an
/// ordinary `Err` (it once jumped into a freed stack).
fn guest_resuming_another_stores_continuation_is_refused_and_both_stores_go_on() -> TestResult {
    let (s1, s2) = (store(), store());
    let t1 = s1.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let s1c = s1.clone();
    let inner = s2
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> { s1c.suspend::<(), ()>(t1, ()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let s2c = s2.clone();
    let seen = Rc::new(Cell::new(None));
    let seen_in = seen.clone();
    let g = s1
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            let k2 = s2c.cont_new(inner)?;
            seen_in.set(s2c.resume::<(), ()>(k2, (), &[]).err().map(|t| t.kind()));
            s2c.drop_cont(k2)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s1.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(
        s1.resume::<(), ()>(k, (), &[Handler::suspend(t1)]),
        Ok(Resumed::Returned(()))
    );
    check_eq!(seen.get(), Some(TrapKind::OtherStoreRunning));
    check!(!s2.in_continuation());
    let bad = s2
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Err(Trap::guest("x")) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let kbad = s2.cont_new(bad).map_err(|t| alloc::format!("{t}"))?;
    let trap = s2.resume::<(), ()>(kbad, (), &[]).err();
    check_eq!(trap.map(|t| t.kind()), Some(TrapKind::Guest));
    runs_normally(&s1)?;
    runs_normally(&s2)
}

/// The report's drop variant: S1's suspended continuation is dropped after
/// its guest tried to run S2's continuation; only S1's stack is freed, and
/// S2 runs its own continuations afterwards.
fn dropping_a_suspended_chain_leaves_the_other_stores_continuations_whole() -> TestResult {
    let (s1, s2) = (store(), store());
    let t1 = s1.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let s1c = s1.clone();
    let inner = s2
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> { s1c.suspend::<(), ()>(t1, ()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let s2c = s2.clone();
    let kept: Rc<Cell<ContObj>> = Rc::new(Cell::new(ContObj::NULL));
    let kept_in = kept.clone();
    let g = s1
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let k2 = s2c.cont_new(inner)?;
            let _ = s2c.resume::<(), ()>(k2, (), &[]);
            kept_in.set(k2);
            s.suspend::<(), ()>(t1, ())
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s1.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    let cont = match s1.resume::<(), ()>(k, (), &[Handler::suspend(t1)]) {
        Ok(Resumed::Suspended { cont, handler: 0 }) => cont,
        other => return Err(alloc::format!("expected a suspension, got {other:?}")),
    };
    check_eq!(s1.outstanding_stacks() + s2.outstanding_stacks(), 2);
    check_eq!(s1.drop_cont(cont), Ok(()));
    check_eq!(s1.outstanding_stacks() + s2.outstanding_stacks(), 1);
    // The continuation of S2 the guest made never ran and is S2's to drop.
    check_eq!(s2.drop_cont(kept.get()), Ok(()));
    runs_normally(&s2)?;
    runs_normally(&s1)
}

// ----- D3: locks and the console -----------------------------------------

/// Its `Display` suspends to the kernel, then prints what the resume sent.
struct SuspendsWhenShown {
    store: Rc<Pin<Box<Store>>>,
    tag: Tag,
}

impl fmt::Display for SuspendsWhenShown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v: i32 = self.store.suspend(self.tag, ()).unwrap_or(-1);
        write!(f, "{v}")
    }
}

/// A guest suspends in the middle of formatting a `println!` line. The
/// kernel prints while it is suspended (this hung for ever when the console
/// lock was held across the `Display`), then resumes it to finish its line.
fn guest_that_suspends_inside_a_println_argument_leaves_the_console_free() -> TestResult {
    let s = store();
    let tag = s
        .tag_new(&[], &[ValI32])
        .map_err(|e| alloc::format!("{e:?}"))?;
    let sc = s.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let shown = SuspendsWhenShown {
                store: sc.clone(),
                tag,
            };
            println!("  guest: the kernel sent {shown}");
            Ok(1)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
    let cont = match s.resume::<(), i32>(k, (), &[Handler::suspend(tag)]) {
        Ok(Resumed::Suspended { cont, .. }) => cont,
        other => return Err(alloc::format!("expected a suspension, got {other:?}")),
    };
    check!(
        !serial::locked(),
        "the console is locked while the guest is suspended"
    );
    println!("  kernel: prints while the guest is suspended mid-line");
    check_eq!(
        s.resume::<i32, i32>(cont, 7, &[Handler::suspend(tag)]),
        Ok(Resumed::Returned(1))
    );
    runs_normally(&s)
}

/// Its `Display` panics: a trap that ends the guest's continuation in the
/// middle of formatting, abandoning its frames.
struct PanicsWhenShown;

impl fmt::Display for PanicsWhenShown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let none: &[u8] = black_box(&[]);
        write!(f, "never shown {}", none[0])
    }
}

/// A guest traps in the middle of formatting a `println!` line; the
/// console is free for the kernel's next line (this hung for ever).
fn guest_that_traps_inside_a_println_argument_leaves_the_console_free() -> TestResult {
    let s = store();
    let trap = trap_of(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
        println!("  guest: {}", PanicsWhenShown);
        Ok(1)
    })?;
    check_eq!(trap.kind(), TrapKind::Panic);
    check!(!serial::locked(), "the console is locked after the trap");
    println!("  kernel: prints after the guest trapped mid-line");
    runs_normally(&s)
}

/// A guest takes a kernel lock and suspends: a trap naming the lock (the
/// lock would stay taken by code that only runs when someone resumes it).
fn guest_that_suspends_holding_a_kernel_lock_traps_naming_the_lock() -> TestResult {
    let s = store();
    let tag = s.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let table = Rc::new(Mutex::new("guest table", 0u32));
    let t = table.clone();
    let trap = {
        let f = s
            .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
                let mut entries = t.lock();
                *entries += 1;
                s.suspend::<(), ()>(tag, ())?;
                Ok(0)
            })
            .map_err(|e| alloc::format!("{e:?}"))?;
        let k = s.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
        s.resume::<(), i32>(k, (), &[Handler::suspend(tag)]).err()
    };
    check_eq!(
        trap.map(|t| (t.kind(), t.message())),
        Some((TrapKind::LockHeld, "guest table"))
    );
    runs_normally(&s)
}

/// The same for `switch`: the lock check comes before the target is
/// touched, so the target is still fresh afterwards and can be dropped.
fn guest_that_switches_holding_a_kernel_lock_traps_naming_the_lock() -> TestResult {
    let s = store();
    let tag = s.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let target = s
        .func_wrap(|_: &Store, _prev: ContObj| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let kt = s.cont_new(target).map_err(|t| alloc::format!("{t}"))?;
    let lock = Rc::new(Mutex::new("scheduler queue", ()));
    let l = lock.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _queue = l.lock();
            s.switch::<(), ()>(kt, tag, ())
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
    let trap = s.resume::<(), ()>(k, (), &[Handler::switch(tag)]).err();
    check_eq!(
        trap.map(|t| (t.kind(), t.message())),
        Some((TrapKind::LockHeld, "scheduler queue"))
    );
    check_eq!(s.drop_cont(kt), Ok(()));
    runs_normally(&s)
}

/// A guest that traps while holding a lock abandons it taken. The next
/// guest that takes it is told so, as a trap, instead of waiting for a
/// holder that will never run again (one CPU: that wait would be for ever).
fn lock_abandoned_by_a_trapped_guest_is_reported_to_the_next_taker_not_waited_for() -> TestResult {
    let s = store();
    let lock = Rc::new(Mutex::new("abandoned", ()));
    let l = lock.clone();
    let first = trap_of(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
        let _held = l.lock();
        panic!("fails while holding the lock");
    })?;
    check_eq!(first.kind(), TrapKind::Panic);
    check!(lock.is_locked());
    let l = lock.clone();
    let second = trap_of(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
        let _held = l.lock();
        Ok(0)
    })?;
    check_eq!(second.kind(), TrapKind::Panic);
    check!(
        second.text().contains("the abandoned lock is already held"),
        "text: {}",
        second.text()
    );
    runs_normally(&s)
}

// ----- D4: guest panics ---------------------------------------------------

/// Checks that `trap` is a panic whose text starts with `message` and
/// names this file as where it happened.
fn check_panic(trap: &Trap, message: &str) -> TestResult {
    check_eq!(trap.kind(), TrapKind::Panic);
    check!(
        trap.text().starts_with(message),
        "text {:?} does not start with {:?}",
        trap.text(),
        message
    );
    check!(
        trap.text().contains("tests/hostile.rs:"),
        "text {:?} does not name where",
        trap.text()
    );
    Ok(())
}

fn index_out_of_bounds_in_a_guest_is_a_panic_trap() -> TestResult {
    let s = store();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        let v: Vec<i32> = vec![1, 2, 3];
        Ok(v[black_box(7)])
    })?;
    check_panic(
        &trap,
        "index out of bounds: the len is 3 but the index is 7",
    )?;
    runs_normally(&s)
}

fn checked_division_by_zero_in_a_guest_is_a_panic_trap() -> TestResult {
    let s = store();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        Ok(black_box(1) / black_box(0))
    })?;
    check_panic(&trap, "attempt to divide by zero")?;
    runs_normally(&s)
}

fn unwrap_of_none_in_a_guest_is_a_panic_trap() -> TestResult {
    let s = store();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        Ok(black_box(None::<i32>).unwrap())
    })?;
    check_panic(&trap, "called `Option::unwrap()` on a `None` value")?;
    runs_normally(&s)
}

fn explicit_panic_in_a_guest_is_a_panic_trap() -> TestResult {
    let s = store();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        if black_box(true) {
            panic!("the guest gives up on round {}", black_box(3));
        }
        Ok(0)
    })?;
    check_panic(&trap, "the guest gives up on round 3")?;
    check!(
        alloc::format!("{trap}").starts_with("trap: Panic: guest panicked: the guest gives up"),
        "{trap}"
    );
    runs_normally(&s)
}

/// A panic in the innermost of three nested continuations ends it; its
/// trap travels one parent at a time (each guest passes it on with `?`),
/// and all three stacks come back.
fn panic_three_continuations_deep_frees_every_stack_of_the_chain() -> TestResult {
    let s = store();
    let innermost = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> {
            let empty: &[i32] = black_box(&[]);
            Ok(empty[0])
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let middle = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let k = s.cont_new(innermost)?;
            match s.resume::<(), i32>(k, (), &[])? {
                Resumed::Returned(v) => Ok(v),
                Resumed::Suspended { .. } => Ok(-1),
            }
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let trap = trap_of(&s, move |s: &Store, (): ()| -> Result<i32, Trap> {
        let k = s.cont_new(middle)?;
        match s.resume::<(), i32>(k, (), &[])? {
            Resumed::Returned(v) => Ok(v),
            Resumed::Suspended { .. } => Ok(-1),
        }
    })?;
    check_panic(
        &trap,
        "index out of bounds: the len is 0 but the index is 0",
    )?;
    check_eq!(s.outstanding_stacks(), 0);
    runs_normally(&s)
}

// ----- traps travel one parent at a time; drops cancel --------------------

/// A scheduler written as a guest runs three tasks round-robin; each task
/// yields its progress. Task B divides by zero on its second turn (Rust's
/// `/` panics: a trap of that task alone). The scheduler gets the trap as
/// the `Err` of its own `resume`, logs it, and finishes the other tasks.
fn scheduler_guest_survives_a_task_that_divides_by_zero_and_finishes_the_others() -> TestResult {
    let s = store();
    let yld = s
        .tag_new(&[ValI32], &[])
        .map_err(|e| alloc::format!("{e:?}"))?;
    let task = s
        .func_wrap(
            move |s: &Store, (id, divisor): (i32, i32)| -> Result<i32, Trap> {
                for turn in 0..3 {
                    s.suspend::<i32, ()>(yld, id * 10 + turn)?;
                    if turn == 1 {
                        // Task B has divisor 0.
                        black_box(100 / black_box(divisor));
                    }
                }
                Ok(id)
            },
        )
        .map_err(|e| alloc::format!("{e:?}"))?;
    let log: Rc<core::cell::RefCell<Vec<alloc::string::String>>> = Rc::default();
    let l = log.clone();
    let scheduler = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let mut queue = alloc::collections::VecDeque::new();
            for (id, divisor) in [(1, 1), (2, 0), (3, 1)] {
                let k = s.cont_new(task)?;
                queue.push_back(s.bind(k, (id, divisor))?);
            }
            let mut finished = 0;
            while let Some(k) = queue.pop_front() {
                match s.resume::<(), i32>(k, (), &[Handler::suspend(yld)]) {
                    Ok(Resumed::Suspended { cont, .. }) => {
                        let progress: i32 = s.payload(cont)?;
                        l.borrow_mut().push(alloc::format!("yield {progress}"));
                        queue.push_back(cont);
                    }
                    Ok(Resumed::Returned(id)) => {
                        l.borrow_mut().push(alloc::format!("task {id} done"));
                        finished += 1;
                    }
                    Err(trap) => l
                        .borrow_mut()
                        .push(alloc::format!("task trapped: {:?}", trap.kind())),
                }
            }
            Ok(finished)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(scheduler).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(2)));
    check_eq!(
        *log.borrow(),
        [
            "yield 10",
            "yield 20",
            "yield 30",
            "yield 11",
            "yield 21",
            "yield 31",
            "yield 12",
            "task trapped: Panic",
            "yield 32",
            "task 1 done",
            "task 3 done",
        ]
    );
    runs_normally(&s)
}

/// Dropping a suspended guest cancels it: its pending `suspend` fails, it
/// passes that on with `?`, and its `Box`, `Vec` and `Rc` are dropped on
/// the way out. The heap comes back to the byte, the `Rc` count exactly.
fn dropping_a_suspended_guest_gives_back_its_box_vec_and_rc_to_the_byte() -> TestResult {
    let s = store();
    let tag = s.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let shared = Rc::new(7i64);
    let sh = shared.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            let boxed = Box::new([1i64; 64]);
            let list: Vec<i64> = (0..1000).collect();
            let counted = sh.clone();
            s.suspend::<(), ()>(tag, ())?;
            Ok(boxed[0] + list[999] + *counted)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
    // After `cont_new`: the store keeps the continuation's record (a few
    // hundred bytes) for reuse, which is not the guest's to give back.
    let heap_before = kernel::heap::used_bytes();
    let cont = match s.resume::<(), i64>(k, (), &[Handler::suspend(tag)]) {
        Ok(Resumed::Suspended { cont, .. }) => cont,
        other => return Err(alloc::format!("expected a suspension, got {other:?}")),
    };
    check!(kernel::heap::used_bytes() >= heap_before + 8 * 1000 + 8 * 64);
    check_eq!(Rc::strong_count(&shared), 3);
    check_eq!(s.drop_cont(cont), Ok(()));
    check_eq!(kernel::heap::used_bytes(), heap_before);
    check_eq!(Rc::strong_count(&shared), 2);
    runs_normally(&s)
}

use kernel::cont::ValType::I32 as ValI32;

// ----- trap reports: symbols, the ring of full backtraces ----------------

fn symbol_lookup_of_addresses_outside_the_kernel_finds_nothing_and_never_faults() -> TestResult {
    let heap_address = Box::new(0u64);
    let here = black_box(0u64);
    for address in [
        0,
        1,
        usize::MAX,
        0x8000_0000_0000,                      // non-canonical
        &*heap_address as *const u64 as usize, // the heap
        &here as *const u64 as usize,          // the kernel stack
        0xffff_d000_0000_0000,                 // the continuation-stack region
    ] {
        check!(kernel::symbols::lookup(address).is_none(), "{address:#x}");
        check!(
            kernel::symbols::lookup_frame(address, true).is_none(),
            "{address:#x}"
        );
    }
    runs_normally(&store())
}

#[inline(never)]
fn make_guest_trap(message: &'static str) -> Trap {
    let trap = Trap::guest(message);
    black_box(&trap);
    trap
}

/// The demangled name of the function `address` (a return address) is in.
fn name_of(address: usize) -> alloc::string::String {
    use alloc::string::ToString;
    kernel::symbols::lookup_frame(address, true).map_or("?".to_string(), |at| {
        kernel::symbols::Name(at.symbol.name).to_string()
    })
}

fn report_of_a_trap_kept_past_the_ring_shows_its_own_first_frames_not_another_traps() -> TestResult
{
    use alloc::string::ToString;
    let kept = make_guest_trap("kept");
    check!(kept.backtrace().trace().is_some());
    // TRACES later traps, each from a different function, reuse every
    // buffer of the ring, the kept trap's included.
    for _ in 0..kernel::cont::trace::TRACES {
        black_box(Trap::guest("later"));
    }
    check!(kept.backtrace().trace().is_none());
    let report = kept.report();
    check!(report.trace().is_none());
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    check_eq!(lines[0], "trap: Guest: kept");
    check_eq!(
        lines[1],
        alloc::format!(
            "  first {} frames (the full walk was overwritten by later traps):",
            kept.backtrace().frames().len()
        )
    );
    let first = kept.backtrace().frames()[0];
    check_eq!(name_of(first), "test_hostile::make_guest_trap");
    check!(
        lines[2].contains("test_hostile::make_guest_trap+0x"),
        "{}",
        lines[2]
    );
    check_eq!(lines.len(), 2 + kept.backtrace().frames().len());
    runs_normally(&store())
}

fn guest_trap_made_on_the_kernel_stack_walks_the_kernel_stack_only() -> TestResult {
    let trap = make_guest_trap("on the kernel stack");
    let trace = trap.backtrace().trace().ok_or("no full backtrace")?;
    let stacks_met: Vec<usize> = trace.groups().map(|g| g.stack_top).collect();
    check_eq!(stacks_met, [0]);
    check_eq!(
        name_of(trace.frames()[0].address),
        "test_hostile::make_guest_trap"
    );
    check_eq!(
        name_of(trace.frames()[1].address),
        "test_hostile::guest_trap_made_on_the_kernel_stack_walks_the_kernel_stack_only"
    );
    runs_normally(&store())
}

fn trap_kept_after_its_continuation_ended_still_reports_where_it_was_made() -> TestResult {
    use alloc::string::ToString;
    let s = store();
    // The first guest makes a trap and keeps it instead of returning it;
    // its continuation ends and its stack goes back to the pool. The
    // second returns that trap as its own.
    let kept: Rc<Cell<Option<Trap>>> = Rc::new(Cell::new(None));
    let k1 = kept.clone();
    let maker = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            k1.set(Some(make_guest_trap("made earlier")));
            Ok(1)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(maker).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    let k2 = kept.clone();
    let trap = trap_of(&s, move |_, ()| {
        Err(k2.take().ok_or_else(|| Trap::guest("no trap kept"))?)
    })?;
    check_eq!(trap.message(), "made earlier");
    let trace = trap.backtrace().trace().ok_or("no full backtrace")?;
    check_eq!(
        name_of(trace.frames()[0].address),
        "test_hostile::make_guest_trap"
    );
    // Its stack is free now: the report names it by number, reading nothing.
    let text = trap.report().to_string();
    check!(text.contains("test_hostile::make_guest_trap+0x"), "{text}");
    runs_normally(&s)
}

// ----- the stack cache, on the kernel's own stacks ---------------------------

/// Recurses until the stack runs out: each level keeps 64 bytes alive
/// across its one call, so every return address is the same and the
/// compiler cannot turn it into a loop.
#[allow(unconditional_recursion)]
#[inline(never)]
fn overflow(depth: u64) -> u64 {
    let mut pad = [depth; 8];
    black_box(&mut pad);
    overflow(black_box(depth + 1)) + pad[7]
}

/// The guard page below the stack whose top is `top`.
fn guard_below(top: usize) -> core::ops::Range<u64> {
    let config = kernel::stacks::config();
    let bottom = (top - config.stack_size) as u64;
    bottom - config.guard_size as u64..bottom
}

/// The trap a fresh continuation of `f` ends with, and the top of the
/// stack it ran on.
fn trap_and_top<P, R, F>(s: &Store, f: F) -> Result<(Trap, usize), alloc::string::String>
where
    P: kernel::cont::WasmValues + Default,
    R: kernel::cont::WasmValues + core::fmt::Debug,
    F: Fn(&Store, P) -> Result<R, Trap> + 'static,
{
    let func = s.func_wrap(f).map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(func).map_err(|t| alloc::format!("{t}"))?;
    let top = s.stack_top(k).ok_or("no stack")?;
    match s.resume::<P, R>(k, P::default(), &[]) {
        Err(trap) => Ok((trap, top)),
        other => Err(alloc::format!("expected a trap, got {other:?}")),
    }
}

/// A continuation recurses into its guard page: a `StackOverflow` trap,
/// with every page of its stack now mapped. The store keeps the stack; the
/// next continuation gets that very stack, overflows it the same way
/// (the guard is still unmapped), and the one after runs normally on it.
fn a_stack_that_overflowed_into_its_guard_is_cached_and_overflows_the_same_way_when_reused()
-> TestResult {
    let s = store();
    let pool_before = kernel::stacks::outstanding();
    for round in 0..2 {
        let (trap, top) = trap_and_top(&s, |_: &Store, (): ()| -> Result<i64, Trap> {
            Ok(overflow(0) as i64)
        })?;
        let TrapKind::StackOverflow { addr } = trap.kind() else {
            return Err(alloc::format!(
                "round {round}: expected an overflow, got {trap}"
            ));
        };
        check!(guard_below(top).contains(&addr), "round {round}: {addr:#x}");
        check_eq!(trap.origin(), top);
        check_eq!((s.outstanding_stacks(), s.cached_stacks()), (0, 1));
        check_eq!(kernel::stacks::outstanding(), pool_before + 1);
    }
    runs_normally(&s)?;
    let pool_held = kernel::stacks::outstanding();
    drop(s);
    check_eq!(kernel::stacks::outstanding(), pool_held - 1);
    Ok(())
}

/// Twelve `i64`s: the biggest args buffer a tuple makes.
type Twelve = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);

/// A guest panics 40 levels deep in recursion (pages below the top now
/// mapped, its frames abandoned). Its stack is cached, and the next
/// continuation, of a function with twelve params, starts on it with a
/// header of its own size and gets every argument.
fn a_panicked_guests_stack_is_cached_and_runs_a_twelve_argument_function_next() -> TestResult {
    #[inline(never)]
    fn dive(n: u32) -> i64 {
        let mut pad = [n as u8; 300];
        black_box(&mut pad);
        if n == 0 {
            let empty: &[i64] = black_box(&[]);
            return empty[0];
        }
        dive(black_box(n - 1)) + pad[299] as i64
    }
    let s = store();
    let (trap, top) = trap_and_top(&s, |_: &Store, (): ()| -> Result<i64, Trap> {
        Ok(dive(40))
    })?;
    check_eq!(trap.kind(), TrapKind::Panic);
    check_eq!(s.cached_stacks(), 1);
    let sum = s
        .func_wrap(|_: &Store, a: Twelve| -> Result<i64, Trap> {
            Ok(a.0 + a.1 + a.2 + a.3 + a.4 + a.5 + a.6 + a.7 + a.8 + a.9 + a.10 + a.11)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(sum).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(s.stack_top(k), Some(top));
    let args: Twelve = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048);
    check_eq!(
        s.resume::<Twelve, i64>(k, args, &[]),
        Ok(Resumed::Returned(4095))
    );
    runs_normally(&s)
}

/// Puts the pool back to its default cut when dropped (after the test's
/// stores, which are declared after it), whatever the test did.
struct DefaultPoolAfterwards;

impl Drop for DefaultPoolAfterwards {
    fn drop(&mut self) {
        let _ = kernel::stacks::configure(kernel::stacks::Config::DEFAULT);
    }
}

/// `n` continuations of `f` made at once, then run to their end: the
/// store keeps `STACK_CACHE` of their stacks.
fn end_together(s: &Store, f: kernel::cont::dynamic::Func, n: usize) -> TestResult {
    let ks: Vec<ContObj> = (0..n)
        .map(|_| s.cont_new(f))
        .collect::<Result<_, _>>()
        .map_err(|t| alloc::format!("{t}"))?;
    for k in ks {
        check_eq!(s.resume::<(), ()>(k, (), &[]), Ok(Resumed::Returned(())));
    }
    Ok(())
}

/// The pool cut to 8 slots. Store A ends 5 continuations together (it
/// keeps 4 stacks, gives 1 back) and B holds 4 fresh ones: the pool is
/// empty. A third store's `cont.new` traps `OutOfStacks`; A still makes
/// continuations, on its own cached stacks, until they are used up, and
/// then it too gets `OutOfStacks`, inside a guest as at the kernel level.
/// Dropping B gives the pool its slots back; A's cached stacks still
/// count as in use, so the pool cannot be re-cut until A drops.
fn an_exhausted_pool_traps_out_of_stacks_but_a_store_with_cached_stacks_still_runs() -> TestResult {
    use kernel::cont::STACK_CACHE;
    use kernel::stacks::{Config, configure};
    check_eq!(kernel::stacks::outstanding(), 0);
    let _restore = DefaultPoolAfterwards;
    check_eq!(
        configure(Config {
            slots: 8,
            ..Config::DEFAULT
        }),
        Ok(())
    );
    let (a, b, c) = (store(), store(), store());
    let nothing = a
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    end_together(&a, nothing, STACK_CACHE + 1)?;
    check_eq!((a.cached_stacks(), kernel::stacks::outstanding()), (4, 4));
    let fb = b
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let held_by_b: Vec<ContObj> = (0..4)
        .map(|_| b.cont_new(fb))
        .collect::<Result<_, _>>()
        .map_err(|t| alloc::format!("{t}"))?;
    check_eq!(kernel::stacks::outstanding(), 8);
    let fc = c
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(
        c.cont_new(fc).map_err(|t| t.kind()),
        Err(TrapKind::OutOfStacks)
    );
    // A guest of A (on one cached stack) makes continuations of A until
    // the refusal: the three other cached stacks, then OutOfStacks.
    let greedy = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let mut made = Vec::new();
            loop {
                match s.cont_new(nothing) {
                    Ok(k) => made.push(k),
                    Err(t) if t.kind() == TrapKind::OutOfStacks => break,
                    Err(t) => return Err(t),
                }
            }
            for &k in &made {
                s.drop_cont(k)?;
            }
            Ok(made.len() as i32)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = a.cont_new(greedy).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(3)));
    check_eq!(
        (
            a.outstanding_stacks(),
            a.cached_stacks(),
            kernel::stacks::outstanding()
        ),
        (0, 4, 8)
    );
    for k in held_by_b {
        check_eq!(b.drop_cont(k), Ok(()));
    }
    drop(b);
    check_eq!(kernel::stacks::outstanding(), 4);
    // A's cached stacks are in use as far as the pool knows: no re-cut.
    check_eq!(
        configure(Config::DEFAULT),
        Err(kernel::stacks::ConfigError::InUse { outstanding: 4 })
    );
    runs_normally(&c)?;
    drop(a);
    drop(c);
    check_eq!(kernel::stacks::outstanding(), 0);
    Ok(())
}

/// Recurses until its frame lies within `margin` bytes of `bottom`, then
/// resumes `child` (which returns at once) there.
#[inline(never)]
fn resume_near_the_bottom(s: &Store, child: ContObj, bottom: usize, margin: usize) -> i32 {
    let mut pad = [0u8; 128];
    black_box(&mut pad);
    let here = &pad as *const u8 as usize;
    if here > bottom + margin {
        return resume_near_the_bottom(s, child, bottom, margin) + pad[0] as i32;
    }
    match s.resume::<(), ()>(child, (), &[]) {
        Ok(_) => 1,
        Err(_) => 2,
    }
}

/// The cache is full when a guest's child ends, and the guest's stack
/// pointer is within 8 KiB of the bottom of its stack: giving the child's
/// stack back to the pool (the kernel's `free` first touches 8 KiB below
/// its caller) overflows the guest's stack. The guest traps with
/// `StackOverflow`, and no stack is lost: the child's stays in its store's
/// cache (one over `STACK_CACHE`), and all come back to the pool when the
/// store drops. (The child's slot was lost to the pool for ever once.)
fn a_guest_whose_child_ends_at_the_bottom_of_its_stack_overflows_and_loses_no_stack() -> TestResult
{
    use kernel::cont::STACK_CACHE;
    let pool_before = kernel::stacks::outstanding();
    let s = store();
    let nothing = s
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let g = s
        .func_wrap(move |s: &Store, top: i64| -> Result<i32, Trap> {
            let child = s.cont_new(nothing)?;
            // Fill the cache: these end after `child` took its stack.
            let fillers: Vec<ContObj> = (0..STACK_CACHE)
                .map(|_| s.cont_new(nothing))
                .collect::<Result<_, _>>()?;
            for k in fillers {
                s.resume::<(), ()>(k, (), &[])?;
            }
            let bottom = top as usize - STACK;
            Ok(resume_near_the_bottom(s, child, bottom, 6 * 1024))
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    let top = s.stack_top(k).ok_or("no stack")?;
    let r = s.resume::<i64, i32>(k, top as i64, &[]);
    let Err(trap) = r else {
        return Err(alloc::format!("expected an overflow, got {r:?}"));
    };
    let TrapKind::StackOverflow { addr } = trap.kind() else {
        return Err(alloc::format!("expected an overflow, got {trap}"));
    };
    check!(guard_below(top).contains(&addr), "{addr:#x}");
    check_eq!(s.outstanding_stacks(), 0);
    check_eq!(s.cached_stacks(), STACK_CACHE + 1);
    check_eq!(kernel::stacks::outstanding(), pool_before + STACK_CACHE + 1);
    runs_normally(&s)?;
    drop(s);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    Ok(())
}

/// Recurses until its frame lies within `margin` bytes of `bottom`, then
/// makes a continuation of `f` there; the result's trap kind, if any.
#[inline(never)]
fn cont_new_near_the_bottom(
    s: &Store,
    f: kernel::cont::dynamic::Func,
    bottom: usize,
    margin: usize,
) -> Option<TrapKind> {
    let mut pad = [0u8; 128];
    black_box(&mut pad);
    let here = &pad as *const u8 as usize;
    if here > bottom + margin {
        let r = cont_new_near_the_bottom(s, f, bottom, margin);
        black_box(pad[0]);
        return r;
    }
    s.cont_new(f).err().map(|t| t.kind())
}

/// With the cache empty, `cont.new` takes a record whose stack went back
/// and asks the pool for a stack, and the pool's `allocate` first touches
/// 8 KiB below its caller: a guest within that distance of its stack's
/// bottom overflows there. A scheduler guest sets that up fifty times (six
/// continuations ended together leave four cached stacks and two records
/// without one; four fresh continuations then hold the cached stacks) and
/// runs such a guest, catching each `StackOverflow`. The record that
/// `cont.new` took is not lost: after the first two rounds the heap does
/// not grow by a byte. (Each round once kept one record out of the free
/// list until the store dropped, and the next round allocated another.)
fn cont_new_overflowing_at_the_bottom_of_a_guests_stack_fifty_times_loses_no_record() -> TestResult
{
    use kernel::cont::STACK_CACHE;
    let s = store();
    let nothing = s
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let diver = s
        .func_wrap(move |s: &Store, top: i64| -> Result<i32, Trap> {
            let bottom = top as usize - STACK;
            Ok(
                match cont_new_near_the_bottom(s, nothing, bottom, 6 * 1024) {
                    None => 1,
                    Some(_) => 2,
                },
            )
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let heap: Rc<core::cell::RefCell<Vec<usize>>> = Rc::default();
    let kinds: Rc<core::cell::RefCell<Vec<Option<TrapKind>>>> = Rc::default();
    let (h, kd) = (heap.clone(), kinds.clone());
    let scheduler = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let mut ended = Vec::with_capacity(STACK_CACHE + 2);
            let mut holders = Vec::with_capacity(STACK_CACHE);
            for _ in 0..50 {
                for _ in 0..STACK_CACHE + 2 {
                    ended.push(s.cont_new(nothing)?);
                }
                for k in ended.drain(..) {
                    s.resume::<(), ()>(k, (), &[])?;
                }
                for _ in 0..STACK_CACHE {
                    holders.push(s.cont_new(nothing)?);
                }
                let k = s.cont_new(diver)?;
                let top = s.stack_top(k).unwrap_or(0) as i64;
                let r = s.resume::<i64, i32>(k, top, &[]);
                kd.borrow_mut().push(r.err().map(|t| t.kind()));
                for k in holders.drain(..) {
                    s.drop_cont(k)?;
                }
                h.borrow_mut().push(kernel::heap::used_bytes());
            }
            Ok(0)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    // Room for the 100 results up front, so that only records could grow.
    heap.borrow_mut().reserve(50);
    kinds.borrow_mut().reserve(50);
    let k = s.cont_new(scheduler).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(0)));
    check!(
        kinds
            .borrow()
            .iter()
            .all(|k| matches!(k, Some(TrapKind::StackOverflow { .. }))),
        "{:?}",
        kinds.borrow()
    );
    let heap = heap.borrow();
    check_eq!(heap[49], heap[1]);
    runs_normally(&s)
}

/// Recurses until its frame lies within `margin` bytes of `bottom`, then
/// drops the store in `holder` there.
#[inline(never)]
fn drop_store_near_the_bottom(
    holder: &Cell<Option<Pin<Box<Store>>>>,
    bottom: usize,
    margin: usize,
) {
    let mut pad = [0u8; 128];
    black_box(&mut pad);
    let here = &pad as *const u8 as usize;
    if here > bottom + margin {
        drop_store_near_the_bottom(holder, bottom, margin);
        black_box(pad[0]);
        return;
    }
    drop(holder.take());
}

/// A guest of a fresh store A drops `b` within 6 KiB of the bottom of its
/// own stack and overflows there: checks that A's resume gets the
/// `StackOverflow` in the guard page below the guest's stack and that `b`
/// is gone from its holder, and returns A for the caller's further checks.
fn overflow_dropping_near_the_bottom(
    b: Pin<Box<Store>>,
) -> Result<Rc<Pin<Box<Store>>>, alloc::string::String> {
    let holder: Rc<Cell<Option<Pin<Box<Store>>>>> = Rc::new(Cell::new(Some(b)));
    let a = store();
    let h = holder.clone();
    let g = a
        .func_wrap(move |_: &Store, top: i64| -> Result<i32, Trap> {
            drop_store_near_the_bottom(&h, top as usize - STACK, 6 * 1024);
            Ok(1)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = a.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    let top = a.stack_top(k).ok_or("no stack")?;
    let r = a.resume::<i64, i32>(k, top as i64, &[]);
    let Err(trap) = r else {
        return Err(alloc::format!("expected an overflow, got {r:?}"));
    };
    let TrapKind::StackOverflow { addr } = trap.kind() else {
        return Err(alloc::format!("expected an overflow, got {trap}"));
    };
    check!(guard_below(top).contains(&addr), "{addr:#x}");
    check!(holder.take().is_none());
    Ok(a)
}

/// A guest drops a store (B, holding two cached stacks) within 8 KiB of
/// the bottom of its own stack: B's drop gives its first stack back to the
/// pool, whose `free` touches 8 KiB below, and the guest traps with
/// `StackOverflow` there. Nothing crashes: the guest's own store goes on,
/// and B, its drop cut short, keeps its two stacks out of the pool for
/// ever, as a store given to `mem::forget` would.
fn a_store_dropped_at_the_bottom_of_a_guests_stack_traps_the_guest_and_keeps_its_stacks()
-> TestResult {
    let pool_before = kernel::stacks::outstanding();
    let b = Store::new(KernelStacks, STACK);
    let nothing = b
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    end_together(&b, nothing, 2)?;
    check_eq!(b.cached_stacks(), 2);
    let a = overflow_dropping_near_the_bottom(b)?;
    check_eq!(kernel::stacks::outstanding(), pool_before + 2 + 1);
    runs_normally(&a)?;
    drop(a);
    check_eq!(kernel::stacks::outstanding(), pool_before + 2);
    Ok(())
}

/// A guest of store A makes continuations of store B (allowed; running
/// them is not while A's chain runs), drops some fresh and leaves the
/// rest: B's counts, A's and the pool's are exact at every step, and B
/// runs its continuations once A's chain is over.
fn a_guest_of_one_store_filling_anothers_cache_keeps_every_count_exact() -> TestResult {
    use kernel::cont::STACK_CACHE;
    let pool_before = kernel::stacks::outstanding();
    let (a, b) = (store(), store());
    let fb = b
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(7) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let bc = b.clone();
    let left: Rc<core::cell::RefCell<Vec<ContObj>>> = Rc::default();
    let seen: Rc<core::cell::RefCell<Vec<(usize, usize, usize)>>> = Rc::default();
    let (l, sn) = (left.clone(), seen.clone());
    let g = a
        .func_wrap(move |a: &Store, (): ()| -> Result<i32, Trap> {
            let count = |s: &Store| {
                (
                    s.outstanding_stacks(),
                    s.cached_stacks(),
                    kernel::stacks::outstanding(),
                )
            };
            let ks: Vec<ContObj> = (0..STACK_CACHE + 3)
                .map(|_| bc.cont_new(fb))
                .collect::<Result<_, _>>()?;
            sn.borrow_mut().push(count(&bc));
            let refused = bc.resume::<(), i32>(ks[0], (), &[]).err().map(|t| t.kind());
            for &k in &ks[..STACK_CACHE + 1] {
                bc.drop_cont(k)?;
            }
            l.borrow_mut().extend_from_slice(&ks[STACK_CACHE + 1..]);
            sn.borrow_mut().push(count(&bc));
            sn.borrow_mut().push(count(a));
            Ok(i32::from(refused == Some(TrapKind::OtherStoreRunning)))
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = a.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    let p = pool_before;
    check_eq!(
        *seen.borrow(),
        [(7, 0, p + 8), (2, 4, p + 7), (1, 0, p + 7)]
    );
    check_eq!((a.outstanding_stacks(), a.cached_stacks()), (0, 1));
    for &k in left.borrow().iter() {
        check_eq!(b.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(7)));
    }
    check_eq!((b.outstanding_stacks(), b.cached_stacks()), (0, 4));
    check_eq!(kernel::stacks::outstanding(), p + 5);
    drop(a);
    drop(b);
    check_eq!(kernel::stacks::outstanding(), p);
    Ok(())
}

/// A guest switches to a fresh target, which overflows its stack: the
/// target alone ends (the kernel's resume, the switch handler, gets its
/// `StackOverflow`, from the target's stack), its stack is cached, and the
/// switched-out guest stays suspended, its handle gone with the target.
/// The store's drop cancels it (its frame unwinds) and every stack goes
/// back to the pool.
fn a_switch_target_that_overflows_ends_alone_and_every_stack_comes_back() -> TestResult {
    let pool_before = kernel::stacks::outstanding();
    let s = store();
    let sw = s.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let target = s
        .func_wrap(|_: &Store, _prev: ContObj| -> Result<i64, Trap> { Ok(overflow(0) as i64) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let kt = s.cont_new(target).map_err(|t| alloc::format!("{t}"))?;
    let target_top = s.stack_top(kt).ok_or("no stack")?;
    let lives = Rc::new(Cell::new(0));
    let l = lives.clone();
    let switcher = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            struct Alive(Rc<Cell<i32>>);
            impl Drop for Alive {
                fn drop(&mut self) {
                    self.0.set(self.0.get() - 1);
                }
            }
            l.set(l.get() + 1);
            let _alive = Alive(l.clone());
            s.switch::<(), ()>(kt, sw, ())?;
            Ok(1)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(switcher).map_err(|t| alloc::format!("{t}"))?;
    let r = s.resume::<(), i64>(k, (), &[Handler::switch(sw)]);
    let Err(trap) = r else {
        return Err(alloc::format!("expected an overflow, got {r:?}"));
    };
    check!(
        matches!(trap.kind(), TrapKind::StackOverflow { .. }),
        "{trap}"
    );
    check_eq!(trap.origin(), target_top);
    check_eq!(
        (s.outstanding_stacks(), s.cached_stacks(), lives.get()),
        (1, 1, 1)
    );
    check_eq!(kernel::stacks::outstanding(), pool_before + 2);
    check!(!s.in_continuation());
    drop(s);
    check_eq!(lives.get(), 0);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    Ok(())
}

/// kernel > G > H, the switch handler on the kernel's resume of G. H
/// switches to X, which takes G's place under the kernel, and X's guest
/// makes a trap and returns it. The trap's full walk goes from X's stack
/// straight to the kernel's (X's parent is now the kernel, not G or H,
/// whose stacks hold a suspended segment), and the kernel's resume of G
/// gets it. The segment H..G is cancelled by the store's drop.
fn a_trap_in_a_target_switched_to_from_two_levels_down_walks_its_own_stack_then_the_kernels()
-> TestResult {
    let pool_before = kernel::stacks::outstanding();
    let s = store();
    let sw = s.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let x = s
        .func_wrap(|_: &Store, _seg: ContObj| -> Result<i32, Trap> {
            Err(make_guest_trap("x fails"))
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let kx = s.cont_new(x).map_err(|t| alloc::format!("{t}"))?;
    let x_top = s.stack_top(kx).ok_or("no stack")?;
    let h = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.switch::<(), ()>(kx, sw, ())?;
            Ok(1)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let g = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let kh = s.cont_new(h)?;
            match s.resume::<(), i32>(kh, (), &[])? {
                Resumed::Returned(v) => Ok(v),
                Resumed::Suspended { .. } => Ok(-1),
            }
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let kg = s.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    let r = s.resume::<(), i32>(kg, (), &[Handler::switch(sw)]);
    let Err(trap) = r else {
        return Err(alloc::format!("expected a trap, got {r:?}"));
    };
    check_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "x fails"));
    let trace = trap.backtrace().trace().ok_or("no full backtrace")?;
    let tops: Vec<usize> = trace.groups().map(|g| g.stack_top).collect();
    check_eq!(tops, [x_top, 0]);
    check_eq!(
        name_of(trace.frames()[0].address),
        "test_hostile::make_guest_trap"
    );
    // G and H are suspended together, X's stack is cached.
    check_eq!((s.outstanding_stacks(), s.cached_stacks()), (2, 1));
    drop(s);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    Ok(())
}

// ----- trap reports, attacked -------------------------------------------------

/// The report of an overflow by recursion: the walk fills the whole trace
/// (`MAX_TRACE` frames, all on the overflowing stack), and the report
/// shows the faulting instruction, then the recursion's return address
/// once (it is the other `MAX_TRACE - 1` frames), with the count of its
/// repeats.
fn an_overflow_report_shows_the_recursion_once_and_counts_its_repeats() -> TestResult {
    use alloc::string::ToString;
    use kernel::cont::trace::MAX_TRACE;
    let s = store();
    let (trap, top) = trap_and_top(&s, |_: &Store, (): ()| -> Result<i64, Trap> {
        Ok(overflow(0) as i64)
    })?;
    let trace = trap.backtrace().trace().ok_or("no full backtrace")?;
    check_eq!(trace.frames().len(), MAX_TRACE);
    let tops: Vec<usize> = trace.groups().map(|g| g.stack_top).collect();
    check_eq!(tops, [top]);
    let text = trap.report().to_string();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    check_eq!(lines.len(), 5);
    check!(
        lines[0].starts_with("trap: StackOverflow { addr: "),
        "{}",
        lines[0]
    );
    check!(
        lines[1].starts_with("  continuation on stack ")
            && lines[1].ends_with(&alloc::format!("(TOS {top:#x}):")),
        "{}",
        lines[1]
    );
    check!(
        lines[2].contains("test_hostile::overflow+0x"),
        "{}",
        lines[2]
    );
    check!(
        lines[3].contains("test_hostile::overflow+0x"),
        "{}",
        lines[3]
    );
    check_eq!(
        lines[4],
        alloc::format!("    ... the same frame {} more times", MAX_TRACE - 2)
    );
    runs_normally(&s)
}

/// A `fmt::Write` that panics on its `n`th line.
struct PanicsOnLine {
    left: usize,
    out: alloc::string::String,
}

impl fmt::Write for PanicsOnLine {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.out.push_str(s);
        if s.ends_with('\n') {
            if self.left == 0 {
                panic!("the writer gives up");
            }
            self.left -= 1;
        }
        Ok(())
    }
}

/// A guest formats a trap's report into a writer that panics on its third
/// line: the guest traps (`Panic`), and the report of that first trap,
/// formatted afterwards in the kernel, is whole and the same as before.
fn a_guest_whose_writer_panics_midway_through_a_report_traps_and_the_report_stays_whole()
-> TestResult {
    use alloc::string::ToString;
    let s = store();
    let (first, _) = trap_and_top(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        Err(make_guest_trap("shown"))
    })?;
    let before = first.report().to_string();
    let (second, _) = trap_and_top(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
        let mut w = PanicsOnLine {
            left: 2,
            out: alloc::string::String::new(),
        };
        let _ = fmt::write(&mut w, format_args!("{}", first.report()));
        Ok(w.out.len() as i32)
    })?;
    check_eq!(second.kind(), TrapKind::Panic);
    check!(
        second.text().starts_with("the writer gives up at ")
            && second.text().contains("tests/hostile.rs:"),
        "{}",
        second.text()
    );
    check_eq!(first.report().to_string(), before);
    check!(
        before.starts_with("trap: Guest: shown\n  continuation on stack "),
        "{before}"
    );
    runs_normally(&s)
}

/// Store B's guest traps; B is dropped (its stacks back in the pool,
/// zeroed). A guest of store A, running on what may be the very slot B's
/// guest ran on, formats that trap's report: the same text as when B was
/// alive, naming B's stack by its slot and reading nothing of it.
fn a_report_of_a_dropped_stores_trap_read_in_another_stores_guest_is_unchanged() -> TestResult {
    use alloc::string::ToString;
    let b = store();
    let (trap, top) = trap_and_top(&b, |_: &Store, (): ()| -> Result<i32, Trap> {
        Err(make_guest_trap("from b"))
    })?;
    let while_b_lived = trap.report().to_string();
    drop(b);
    let a = store();
    let seen: Rc<core::cell::RefCell<alloc::string::String>> = Rc::default();
    let sn = seen.clone();
    let g = a
        .func_wrap(move |_: &Store, (): ()| -> Result<i64, Trap> {
            *sn.borrow_mut() = trap.report().to_string();
            let local = 0u8;
            Ok(black_box(&local) as *const u8 as i64)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = a.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    let a_top = a.stack_top(k).ok_or("no stack")?;
    check_eq!(a_top, top);
    check!(matches!(
        a.resume::<(), i64>(k, (), &[]),
        Ok(Resumed::Returned(_))
    ));
    check_eq!(*seen.borrow(), while_b_lived);
    check!(
        while_b_lived.contains(&alloc::format!("(TOS {top:#x}):\n    ")),
        "{while_b_lived}"
    );
    runs_normally(&a)
}

// ----- functions belong to their store ------------------------------------

/// A function of store A, kept after A is dropped, its record's memory
/// filled with bytes of the caller's choosing: store B's `cont.new` of it
/// traps `ForeignFunc` and reads nothing (it once called an address read
/// from the freed record).
fn a_func_of_a_dropped_store_is_refused_as_foreign_never_called() -> TestResult {
    let calls = Rc::new(Cell::new(0));
    let a = store();
    let c = calls.clone();
    let f = a
        .func_wrap(move |_: &Store, x: i32| -> Result<i32, Trap> {
            c.set(c.get() + 1);
            Ok(x)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let typed = kernel::cont::typed::Func::<i32, i32>::wrap(&a, |_: &Store, x: i32| Ok(x))
        .map_err(|e| alloc::format!("{e:?}"))?
        .detach();
    drop(a);
    let spray: Vec<Vec<u8>> = (0..2048).map(|i| vec![0x41u8; 16 + (i % 16) * 8]).collect();
    let b = store();
    check_eq!(
        b.cont_new(f).err().map(|t| t.kind()),
        Some(TrapKind::ForeignFunc)
    );
    check_eq!(
        kernel::cont::typed::Cont::new(&b, typed)
            .err()
            .map(|t| t.kind()),
        Some(TrapKind::ForeignFunc)
    );
    check_eq!(calls.get(), 0);
    check_eq!(b.outstanding_stacks(), 0);
    drop(spray);
    runs_normally(&b)
}

/// A function of a live store A, used by store B (at the kernel level and
/// inside B's guest): `ForeignFunc`, the closure never runs; in A it runs.
fn a_func_of_another_live_store_is_refused_as_foreign() -> TestResult {
    use kernel::cont::typed::{self, Cont, Func};
    let (a, b) = (store(), store());
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let fa = Func::<i32, i32>::wrap(&a, move |_: &Store, x: i32| {
        c.set(c.get() + 1);
        Ok(x + 1)
    })
    .map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(
        Cont::new(&b, fa).err().map(|t| t.kind()),
        Some(TrapKind::ForeignFunc)
    );
    let detached = fa.detach();
    let g = b
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            Ok(match s.cont_new(detached.untyped()) {
                Err(t) if t.kind() == TrapKind::ForeignFunc => 1,
                _ => 0,
            })
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = b.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(b.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check_eq!(calls.get(), 0);
    let ka = Cont::new(&a, fa).map_err(|t| alloc::format!("{t}"))?;
    check!(matches!(
        ka.resume(41, &[]),
        Ok(typed::Resumed::Returned(42))
    ));
    check_eq!(calls.get(), 1);
    runs_normally(&a)?;
    runs_normally(&b)
}

// ----- a store dropped inside another store's chain ------------------------

/// Store B, with a guest suspended holding an 8 KiB `Vec` and an `Rc`
/// count, made and parked at the kernel level.
fn store_with_a_parked_guest(shared: &Rc<i64>) -> Result<Pin<Box<Store>>, alloc::string::String> {
    let b = Store::new(KernelStacks, STACK);
    let t = b.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let sh = shared.clone();
    let f = b
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            let list: Vec<i64> = (0..1024).collect();
            let counted = sh.clone();
            s.suspend::<(), ()>(t, ())?;
            Ok(list[1023] + *counted)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = b.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
    match b.resume::<(), i64>(k, (), &[Handler::suspend(t)]) {
        Ok(Resumed::Suspended { .. }) => Ok(b),
        other => Err(alloc::format!("expected a suspension, got {other:?}")),
    }
}

/// A guest of store A drops store B, whose guest is suspended holding an
/// 8 KiB `Vec` and an `Rc` count: B's guest is cancelled there, on top of
/// A's chain, and the heap, the pool and the count are back to the byte.
/// (The cancellation was once refused, another store's chain running, and
/// 9,120 bytes stayed taken for ever.)
fn a_store_dropped_inside_another_stores_guest_cancels_its_suspended_guests_to_the_byte()
-> TestResult {
    let shared = Rc::new(7i64);
    // Once at the kernel level, so that whatever the kernel keeps after a
    // first store's drop is kept before the count starts.
    drop(store_with_a_parked_guest(&shared)?);
    check_eq!(Rc::strong_count(&shared), 1);
    let a = store();
    let slot: Rc<core::cell::RefCell<Option<Pin<Box<Store>>>>> = Rc::default();
    let sl = slot.clone();
    let g = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            drop(sl.borrow_mut().take());
            Ok(i32::from(s.in_continuation()))
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = a.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    let heap_before = kernel::heap::used_bytes();
    let pool_before = kernel::stacks::outstanding();
    *slot.borrow_mut() = Some(store_with_a_parked_guest(&shared)?);
    // Ours, the closure's (B's) and the suspended frame's.
    check_eq!(Rc::strong_count(&shared), 3);
    check!(kernel::heap::used_bytes() >= heap_before + 8 * 1024);
    check_eq!(kernel::stacks::outstanding(), pool_before + 1);
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check!(slot.borrow().is_none());
    check_eq!(Rc::strong_count(&shared), 1);
    check_eq!(kernel::heap::used_bytes(), heap_before);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    runs_normally(&a)
}

/// A guest of store A drops store B (four cached stacks and a suspended
/// guest) within 6 KiB of the bottom of its own stack. B's guest is
/// cancelled and returns (its frame's `Rc` count is given back); giving its stack
/// back to the pool, past B's full cache, touches 8 KiB below and the A
/// guest overflows there, while A's chain is set aside for B's
/// cancellations. The overflow takes A's chain back and traps A's guest as
/// usual; B, its drop cut short, keeps its five stacks for ever.
fn a_store_with_a_suspended_guest_dropped_at_the_bottom_of_a_guests_stack_traps_the_guest_only()
-> TestResult {
    use kernel::cont::STACK_CACHE;
    let pool_before = kernel::stacks::outstanding();
    let shared = Rc::new(7i64);
    let b = store_with_a_parked_guest(&shared)?;
    let nothing = b
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    end_together(&b, nothing, STACK_CACHE)?;
    check_eq!(
        (b.cached_stacks(), b.outstanding_stacks()),
        (STACK_CACHE, 1)
    );
    let a = overflow_dropping_near_the_bottom(b)?;
    // The frame's count came back; the closure's stays with B.
    check_eq!(Rc::strong_count(&shared), 2);
    check_eq!(
        kernel::stacks::outstanding(),
        pool_before + STACK_CACHE + 1 + 1
    );
    runs_normally(&a)?;
    drop(a);
    check_eq!(kernel::stacks::outstanding(), pool_before + STACK_CACHE + 1);
    Ok(())
}

// ----- a refused switch target --------------------------------------------

/// A guest of store A switches, with a typed tag, to a fresh continuation
/// of store B: refused (`ForeignContinuation`), and the target is freed by
/// B, its own store: B holds no stack out (it once kept one that no handle
/// reached until B dropped).
fn a_refused_switch_target_of_another_store_is_freed_by_its_own_store() -> TestResult {
    use kernel::cont::typed::{self, Cont, Func};
    let (a, b) = (store(), store());
    let sw = typed::Tag::<(), i32>::new(&a).map_err(|e| alloc::format!("{e:?}"))?;
    let fb = Func::<ContObj, i32>::wrap(&b, |_: &Store, _: ContObj| Ok(0))
        .map_err(|e| alloc::format!("{e:?}"))?
        .detach();
    let (b_in_a, kind) = (b.clone(), Rc::new(Cell::new(None)));
    let seen = kind.clone();
    let g = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let target = Cont::new(&b_in_a, fb)?;
            seen.set(sw.switch(s, target).err().map(|t| t.kind()));
            Ok(b_in_a.outstanding_stacks() as i32)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = a.cont_new(g).map_err(|t| alloc::format!("{t}"))?;
    check_eq!(
        a.resume::<(), i32>(k, (), &[sw.on_switch()]),
        Ok(Resumed::Returned(0))
    );
    check_eq!(kind.get(), Some(TrapKind::ForeignContinuation));
    check_eq!((b.outstanding_stacks(), b.cached_stacks()), (0, 1));
    runs_normally(&a)?;
    runs_normally(&b)
}

// ----- re-entrant set-asides ------------------------------------------------

/// A store whose one guest is parked in a `suspend` holding a 1024-entry
/// `Vec` and a count of `shared`, and which, when its suspend fails (it is
/// cancelled), runs `on_cancel` before it passes the failure on.
fn parked<F>(shared: &Rc<i64>, on_cancel: F) -> Result<Pin<Box<Store>>, alloc::string::String>
where
    F: Fn() + 'static,
{
    let b = Store::new(KernelStacks, STACK);
    let t = b.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let sh = shared.clone();
    let f = b
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            let list: Vec<i64> = (0..1024).collect();
            let counted = sh.clone();
            if let Err(trap) = s.suspend::<(), ()>(t, ()) {
                on_cancel();
                return Err(trap);
            }
            Ok(list[1023] + *counted)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = b.cont_new(f).map_err(|t| alloc::format!("{t}"))?;
    match b.resume::<(), i64>(k, (), &[Handler::suspend(t)]) {
        Ok(Resumed::Suspended { .. }) => Ok(b),
        other => Err(alloc::format!("expected a suspension, got {other:?}")),
    }
}

type Slot = Rc<core::cell::RefCell<Option<Pin<Box<Store>>>>>;

/// A function of `a` whose guest drops the store in `slot` and returns 1.
fn dropper(a: &Store, slot: &Slot) -> Result<kernel::cont::dynamic::Func, alloc::string::String> {
    let sl = slot.clone();
    a.func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
        let dying = sl.borrow_mut().take();
        drop(dying);
        Ok(1)
    })
    .map_err(|e| alloc::format!("{e:?}"))
}

/// A guest of store A drops store B; B's parked guest, cancelled there
/// (A's chain set aside), drops store C on its way out; C's parked guest
/// is cancelled one level further up (B's chain set aside in turn). Every
/// `Vec`, count and stack of both is given back, to the byte, and A goes
/// on.
fn a_store_dropped_by_a_guest_cancelled_inside_a_third_stores_guest_cancels_every_level()
-> TestResult {
    let shared = Rc::new(7i64);
    // Once at the kernel level first, as in the test above.
    drop(parked(&shared, || {})?);
    let a = store();
    let slot_b: Slot = Rc::default();
    let k = a
        .cont_new(dropper(&a, &slot_b)?)
        .map_err(|t| alloc::format!("{t}"))?;
    let heap_before = kernel::heap::used_bytes();
    let pool_before = kernel::stacks::outstanding();
    let slot_c: Slot = Rc::default();
    *slot_c.borrow_mut() = Some(parked(&shared, || {})?);
    let sc = slot_c.clone();
    *slot_b.borrow_mut() = Some(parked(&shared, move || drop(sc.borrow_mut().take()))?);
    drop(slot_c);
    // Ours, and the closure's and the parked frame's of B and of C.
    check_eq!(Rc::strong_count(&shared), 5);
    check_eq!(kernel::stacks::outstanding(), pool_before + 2);
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check!(slot_b.borrow().is_none());
    check_eq!(Rc::strong_count(&shared), 1);
    check_eq!(kernel::heap::used_bytes(), heap_before);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    check_eq!(sync::held(), 0);
    runs_normally(&a)
}

/// A guest of store A drops store B; B's parked guest, cancelled there,
/// tries A's chain: a resume of a fresh continuation of A is refused
/// (`OtherStoreRunning`), a suspend to a tag A's kernel-level resume
/// handles and a switch under it find no handler (`UnhandledTag`), since A's
/// chain is set aside (A says it runs no continuation). A's guest returns, and the fresh continuation then
/// runs normally from the kernel.
fn a_guest_cancelled_inside_another_stores_guest_cannot_resume_suspend_or_switch_through_it()
-> TestResult {
    let a = store();
    let ta = a.tag_new(&[], &[]).map_err(|e| alloc::format!("{e:?}"))?;
    let double = a
        .func_wrap(|_: &Store, x: i32| -> Result<i32, Trap> { Ok(x * 2) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let fresh = a.cont_new(double).map_err(|t| alloc::format!("{t}"))?;
    let slot_b: Slot = Rc::default();
    let k = a
        .cont_new(dropper(&a, &slot_b)?)
        .map_err(|t| alloc::format!("{t}"))?;
    let seen: Rc<core::cell::RefCell<Vec<Option<TrapKind>>>> = Rc::default();
    // Whether A says it runs a continuation, asked from there.
    let inside: Rc<Cell<Option<bool>>> = Rc::default();
    let (a2, seen2, inside2) = (a.clone(), seen.clone(), inside.clone());
    let shared = Rc::new(0i64);
    *slot_b.borrow_mut() = Some(parked(&shared, move || {
        let mut seen = seen2.borrow_mut();
        seen.push(a2.resume::<i32, i32>(fresh, 1, &[]).err().map(|t| t.kind()));
        seen.push(a2.suspend::<(), ()>(ta, ()).err().map(|t| t.kind()));
        seen.push(a2.switch::<(), ()>(fresh, ta, ()).err().map(|t| t.kind()));
        inside2.set(Some(a2.in_continuation()));
    })?);
    check_eq!(
        a.resume::<(), i32>(k, (), &[Handler::suspend(ta), Handler::switch(ta)]),
        Ok(Resumed::Returned(1))
    );
    check_eq!(
        *seen.borrow(),
        vec![
            Some(TrapKind::OtherStoreRunning),
            Some(TrapKind::UnhandledTag),
            Some(TrapKind::UnhandledTag),
        ]
    );
    check_eq!(inside.get(), Some(false));
    check_eq!(Rc::strong_count(&shared), 1);
    check_eq!(
        a.resume::<i32, i32>(fresh, 21, &[]),
        Ok(Resumed::Returned(42))
    );
    runs_normally(&a)
}

/// A guest of store A drops store B, whose parked guest panics when it is
/// cancelled: that guest traps (its frames abandoned, its stack back in
/// the pool), and A's guest goes on to return.
fn a_guest_cancelled_inside_another_stores_guest_that_panics_traps_alone() -> TestResult {
    let a = store();
    let slot_b: Slot = Rc::default();
    let k = a
        .cont_new(dropper(&a, &slot_b)?)
        .map_err(|t| alloc::format!("{t}"))?;
    let pool_before = kernel::stacks::outstanding();
    let shared = Rc::new(0i64);
    *slot_b.borrow_mut() = Some(parked(&shared, || panic!("cancelled, and panicking"))?);
    check_eq!(kernel::stacks::outstanding(), pool_before + 1);
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check_eq!(kernel::stacks::outstanding(), pool_before);
    // The panicking frame's count is abandoned with it; the closure's is
    // given back with B.
    check_eq!(Rc::strong_count(&shared), 2);
    check_eq!(sync::held(), 0);
    runs_normally(&a)
}

/// The kernel drops store A, whose parked guest owns store B (with a parked
/// guest of its own) and drops it on its way out of the cancellation: B's
/// guest is cancelled on top of A's cancelled one, and everything of both
/// is given back to the byte.
fn a_store_dropped_by_a_guest_its_own_store_is_cancelling_cancels_its_guests_too() -> TestResult {
    let shared = Rc::new(3i64);
    drop(parked(&shared, || {})?);
    let heap_before = kernel::heap::used_bytes();
    let pool_before = kernel::stacks::outstanding();
    let slot_b: Slot = Rc::default();
    *slot_b.borrow_mut() = Some(parked(&shared, || {})?);
    let sb = slot_b.clone();
    let a = parked(&shared, move || drop(sb.borrow_mut().take()))?;
    check_eq!(Rc::strong_count(&shared), 5);
    check_eq!(kernel::stacks::outstanding(), pool_before + 2);
    drop(a);
    check!(slot_b.borrow().is_none());
    drop(slot_b);
    check_eq!(Rc::strong_count(&shared), 1);
    check_eq!(kernel::heap::used_bytes(), heap_before);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    check_eq!(sync::held(), 0);
    Ok(())
}

/// A guest of store A drops store B, whose parked guest, cancelled there,
/// recurses off the bottom of its own stack: a stack-overflow trap of that
/// guest alone (its stack back in the pool), and A's guest returns.
fn a_guest_cancelled_inside_another_stores_guest_that_overflows_its_stack_traps_alone() -> TestResult
{
    let a = store();
    let slot_b: Slot = Rc::default();
    let k = a
        .cont_new(dropper(&a, &slot_b)?)
        .map_err(|t| alloc::format!("{t}"))?;
    let pool_before = kernel::stacks::outstanding();
    let shared = Rc::new(0i64);
    *slot_b.borrow_mut() = Some(parked(&shared, || {
        black_box(overflow(black_box(1)));
    })?);
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check_eq!(kernel::stacks::outstanding(), pool_before);
    check_eq!(Rc::strong_count(&shared), 2);
    check_eq!(sync::held(), 0);
    runs_normally(&a)
}

/// A typed handle of store A (a store leaked to `'static`, so a `'static`
/// closure can hold the handle) with a parked guest is kept by store B's
/// parked guest. A guest of A drops B; B's guest, cancelled there, drops
/// the handle of A: A's chain runs (set aside), so its cancellation is
/// deferred, the guest stays parked, and A's next `cont.new` from the
/// kernel cancels it, giving back its count.
fn an_outer_stores_handle_dropped_by_a_guest_cancelled_inside_it_is_deferred_then_cancelled()
-> TestResult {
    use kernel::cont::typed::{Cont, Func, Tag};
    let a: &'static Pin<Box<Store>> = Box::leak(Box::new(Store::new(KernelStacks, STACK)));
    let shared = Rc::new(5i64);
    let t: Tag<(), ()> = Tag::new(a).map_err(|e| alloc::format!("{e:?}"))?;
    let sh = shared.clone();
    let parks = Func::wrap(a, move |s: &Store, (): ()| -> Result<(), Trap> {
        let counted = sh.clone();
        t.suspend(s, ())?;
        black_box(&counted);
        Ok(())
    })
    .map_err(|e| alloc::format!("{e:?}"))?;
    let held: Rc<core::cell::RefCell<Option<Cont<'static, (), ()>>>> = Rc::default();
    match Cont::new(a, parks)
        .map_err(|t| alloc::format!("{t}"))?
        .resume((), &[t.on()])
    {
        Ok(kernel::cont::typed::Resumed::Suspended(sus)) => {
            let (_, k) = sus.take(t).map_err(|t| alloc::format!("{t}"))?;
            *held.borrow_mut() = Some(k);
        }
        _ => return Err("expected a suspension".into()),
    }
    check_eq!(Rc::strong_count(&shared), 3);
    let slot_b: Slot = Rc::default();
    let hd = held.clone();
    let other = Rc::new(0i64);
    *slot_b.borrow_mut() = Some(parked(&other, move || drop(hd.borrow_mut().take()))?);
    let k = a
        .cont_new(dropper(a, &slot_b)?)
        .map_err(|t| alloc::format!("{t}"))?;
    check_eq!(a.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check!(held.borrow().is_none());
    // Deferred: A's guest is still parked, holding its count.
    check_eq!(Rc::strong_count(&shared), 3);
    check_eq!(a.outstanding_stacks(), 1);
    runs_normally(a)?;
    check_eq!(Rc::strong_count(&shared), 2);
    check_eq!(a.outstanding_stacks(), 0);
    Ok(())
}

// ----- closures a store holds, dropped with it ------------------------------

/// A value whose drop panics: on a continuation stack that is a trap, on
/// the kernel's own stack it would end the boot. Zero-sized, so that the
/// closure holding it takes no heap and the counts below are exact.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a guest's value panics in its drop");
    }
}

/// Store S, whose guest defined three functions in S itself: one holding
/// an `Rc` count, one holding a value whose drop panics, one holding the
/// count again. The guest returns; S keeps the closures until it drops.
fn store_holding_a_panicking_closure(
    shared: &Rc<i64>,
) -> Result<Pin<Box<Store>>, alloc::string::String> {
    let s = Store::new(KernelStacks, STACK);
    let sh = shared.clone();
    let definer = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let before = sh.clone();
            let bomb = PanicsOnDrop;
            let after = sh.clone();
            let defined = [
                s.func_wrap(move |_: &Store, (): ()| -> Result<i64, Trap> { Ok(*before) }),
                s.func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
                    black_box(&bomb);
                    Ok(())
                }),
                s.func_wrap(move |_: &Store, (): ()| -> Result<i64, Trap> { Ok(*after) }),
            ];
            Ok(defined.iter().filter(|d| d.is_ok()).count() as i32)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(definer).map_err(|t| alloc::format!("{t}"))?;
    match s.resume::<(), i32>(k, (), &[]) {
        Ok(Resumed::Returned(3)) => Ok(s),
        other => Err(alloc::format!("expected three definitions, got {other:?}")),
    }
}

/// A guest defines, in the store that runs it, a function whose closure
/// holds a value that panics when dropped, between two that hold an `Rc`
/// count. The kernel drops the store on its own stack: the closures are
/// dropped on one of the store's stacks, the panic is a trap reported
/// there, the other two closures are still dropped (the count is back to
/// one), and the heap and the pool are back to the byte. (The panic once
/// ran on the kernel's stack and ended the boot.)
fn a_guest_function_whose_captured_value_panics_on_drop_is_a_trap_when_the_kernel_drops_the_store()
-> TestResult {
    let shared = Rc::new(11i64);
    // Once before counting, so that whatever the kernel keeps after a
    // first panic (its trap records) is kept before the count starts.
    drop(store_holding_a_panicking_closure(&shared)?);
    check_eq!(Rc::strong_count(&shared), 1);
    let heap_before = kernel::heap::used_bytes();
    let pool_before = kernel::stacks::outstanding();
    let s = store_holding_a_panicking_closure(&shared)?;
    // Ours, the defining guest's closure's, and the two defined closures'.
    check_eq!(Rc::strong_count(&shared), 4);
    drop(s);
    check_eq!(Rc::strong_count(&shared), 1);
    check_eq!(kernel::heap::used_bytes(), heap_before);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    runs_normally(&store())
}

/// Closures that capture only plain values run no code when they drop, so
/// the store gives their boxes back on the dropping stack and makes no
/// continuation for them: its drop maps no stack page (lab 5 counts the
/// pages a run maps, the store's drop included).
fn a_store_whose_closures_have_no_drop_glue_touches_no_stack_page_when_it_drops() -> TestResult {
    fn double(n: i32) -> i32 {
        n * 2
    }
    let s = Store::new(KernelStacks, 64 * 1024);
    let f: fn(i32) -> i32 = double;
    let func = s
        .func_wrap(move |_: &Store, n: i32| -> Result<i32, Trap> { Ok(f(n)) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = s.cont_new(func).map_err(|t| alloc::format!("{t}"))?;
    match s.resume::<i32, i32>(k, 21, &[]) {
        Ok(Resumed::Returned(42)) => {}
        other => return Err(alloc::format!("expected Returned(42), got {other:?}")),
    }
    // The ended continuation's stack stays with the store until it drops.
    check_eq!(s.cached_stacks(), 1);
    let faults = kernel::stacks::demand_faults();
    let pool_before = kernel::stacks::outstanding();
    drop(s);
    check_eq!(kernel::stacks::demand_faults(), faults);
    check_eq!(kernel::stacks::outstanding(), pool_before - 1);
    Ok(())
}

/// `StackName` (a trap report's heading of a group of frames) is public
/// and takes any `usize`: one whose address is not canonical is "a
/// continuation" of that top, like any address on no stack of the pool.
/// (It once made a `VirtAddr` of it, which panics on such an address:
/// on the kernel's stack, the end of the boot.)
fn a_stack_name_of_any_address_is_text_never_a_panic() -> TestResult {
    use kernel::trap_report::StackName;
    check_eq!(
        alloc::format!("{}", StackName(0x8000_0000_0001)),
        "continuation (TOS 0x800000000001)"
    );
    check_eq!(
        alloc::format!("{}", StackName(usize::MAX)),
        "continuation (TOS 0xffffffffffffffff)"
    );
    check_eq!(alloc::format!("{}", StackName(0)), "kernel stack");
    Ok(())
}
