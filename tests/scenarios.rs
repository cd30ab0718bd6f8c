//! The behaviours of the dynamic door that both test harnesses check, each
//! written once, as a function of the store it runs in.
//!
//! The same scenario must hold on the host's stacks (from `mmap`, in the
//! host test crate `kernel/tests/cont/`) and on the kernel's own (slots of
//! the continuation-stack region, mapped on demand, in the `cont` suite of
//! `tests/cont.rs`).
//!
//! Test code, not the kernel's: this file is no module of the kernel
//! library but a module of each test crate that runs it, declared
//! `mod scenarios;` by the in-kernel suites beside it (`cont`, `stacks`,
//! `trap_reports`) and reached by one `#[path]` from the host crate. It is
//! not a suite itself: the runner boots only the `test-*` binaries of
//! `kernel/Cargo.toml`. It reaches the runtime through the public API only
//! (`kernel::cont::...`), as any guest would. So a
//! scenario takes a fresh `&Store` made by its harness, returns a
//! [`TestResult`], and fails through `check!`/`check_eq!` and the helpers
//! below, never by panicking: in the kernel a panic ends the boot and skips
//! the rest of the suite. Each harness makes a test of the same name for
//! every scenario that [`for_each_scenario!`](crate::for_each_scenario) lists. Stack counts are compared with what the store's provider reported
//! at the start, as the kernel's pool is shared by every store.
//!
//! Guest closures never use `check!` (its `Err(String)` does not fit their
//! `Result<_, Trap>`, and a panic cannot unwind across the start
//! trampoline); they return or record what they saw, and the scenario
//! checks it afterwards. Floats are only moved as bits: the kernel is built
//! soft-float.

// Each crate that includes this file runs only some of it (`stacks` needs
// `failing_guest` alone), so what one of them leaves unused is not dead.
#![allow(dead_code)]

use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt::Debug;
use core::panic::Location;

use kernel::cont::ValType::*;
use kernel::cont::dynamic::{ContObj, Func, Handler, Resumed, Tag};
use kernel::cont::{State, Store, Trap, TrapKind, VMContext, ValRaw, WasmValues};
use kernel::testing::TestResult;
use kernel::{check, check_eq};

/// `for_each_scenario!(m)` calls the macro `m` once, with the name of every
/// scenario of this file: the one list from which each harness makes its
/// tests, so that neither can leave one out.
#[macro_export]
macro_rules! for_each_scenario {
    ($m:ident) => {
        $m!(
            fresh_continuation_returns_its_results,
            generator_yields_0_to_n_then_returns,
            tag_carries_payload_out_of_suspend_and_resume_values_back_in,
            forward_tag_past_a_resume_that_does_not_handle_it,
            continuation_resumes_after_the_resume_that_first_ran_it_has_returned,
            nary_three_params_five_results_and_a_tag_with_four_payload_values,
            bind_repeatedly_then_resume_with_the_last_argument,
            bind_values_into_a_suspended_continuation,
            switch_round_robin_scheduler_interleaves_three_continuations,
            consumed_continuation_traps_on_resume,
            consumed_continuation_traps_on_bind,
            consumed_continuation_traps_on_drop,
            switch_to_a_consumed_continuation_traps_out_of_the_kernel_resume,
            unhandled_tag_traps_and_frees_the_chain,
            guest_reporting_failure_traps,
            after_a_trap_the_same_store_runs_a_new_continuation,
            thousand_nested_resumes_return_through_every_level,
            ten_thousand_continuations_created_run_and_dropped_give_every_stack_back,
        );
    };
}

// ----- helpers: turn an unexpected outcome into a failure reason ----------

/// The value of `r`, or a failure naming the caller's line.
#[track_caller]
pub fn ok<T, E: Debug>(r: Result<T, E>) -> Result<T, String> {
    let at = Location::caller();
    r.map_err(|e| format!("{}:{}: unexpected error {e:?}", at.file(), at.line()))
}

/// The results of a resume that must have returned.
#[track_caller]
pub fn returned<R: WasmValues + Debug>(r: Result<Resumed<R>, Trap>) -> Result<R, String> {
    let at = Location::caller();
    match r {
        Ok(Resumed::Returned(v)) => Ok(v),
        other => Err(format!(
            "{}:{}: expected a return, got {other:?}",
            at.file(),
            at.line()
        )),
    }
}

/// Handler index and continuation of a resume that must have suspended
/// (`Store::payload` reads what it sent).
#[track_caller]
pub fn suspended<R: WasmValues + Debug>(
    r: Result<Resumed<R>, Trap>,
) -> Result<(usize, ContObj), String> {
    let at = Location::caller();
    match r {
        Ok(Resumed::Suspended { handler, cont }) => Ok((handler, cont)),
        other => Err(format!(
            "{}:{}: expected a suspension, got {other:?}",
            at.file(),
            at.line()
        )),
    }
}

/// The trap of an operation that must have trapped.
#[track_caller]
pub fn trapped<T: Debug>(r: Result<T, Trap>) -> Result<Trap, String> {
    let at = Location::caller();
    match r {
        Err(trap) => Ok(trap),
        Ok(v) => Err(format!(
            "{}:{}: expected a trap, got {v:?}",
            at.file(),
            at.line()
        )),
    }
}

/// Builds: resumer --resume[on a]--> outer --resume[on `inner_handles`]--> inner,
/// where inner does `suspend a 5` and returns twice what comes back.
/// Outer returns inner's result + 1, or (if inner suspends to outer) resumes
/// it with 50 and returns its result + 1000.
pub fn forwarding_pair(s: &Store, a: Tag, inner_handles: Tag) -> Result<Func, String> {
    let inner = ok(s.func_wrap(move |s, ()| Ok(s.suspend::<_, i32>(a, 5)? * 2)))?;
    ok(s.func_wrap(move |s, ()| {
        let k = s.cont_new(inner)?;
        match s.resume::<_, i32>(k, (), &[Handler::suspend(inner_handles)])? {
            Resumed::Returned(v) => Ok(v + 1),
            Resumed::Suspended { cont, .. } => match s.resume::<_, i32>(cont, 50, &[])? {
                Resumed::Returned(v) => Ok(v + 1000),
                Resumed::Suspended { .. } => Err(Trap::guest("inner suspended twice")),
            },
        }
    }))
}

/// An array-call guest for `[] -> []` that always reports failure.
///
/// # Safety
/// None needed: it reads nothing. `unsafe` only because the array-call
/// signature is.
pub unsafe extern "C" fn failing_guest(
    _: *mut VMContext,
    _: *mut VMContext,
    _: *mut ValRaw,
    _: usize,
) -> bool {
    false
}

// ----- resume and suspend -------------------------------------------------

pub fn fresh_continuation_returns_its_results(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let f = ok(s.func_wrap(|_, (a, b): (i32, i32)| Ok(a * 10 + b)))?;
    let k = ok(s.cont_new(f))?;
    check_eq!(s.state(k), Some(State::Fresh));
    check_eq!(s.outstanding_stacks(), before + 1);
    check_eq!(f.results(), &[I32][..]);
    let v: i32 = returned(s.resume(k, (4, 2), &[]))?;
    check_eq!(v, 42);
    check_eq!(s.state(k), Some(State::Returned));
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn generator_yields_0_to_n_then_returns(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let yld = ok(s.tag_new(&[I32], &[]))?;
    let generator = ok(s.func_wrap(move |s, n: i32| {
        for i in 0..n {
            s.suspend::<_, ()>(yld, i)?;
        }
        Ok(n * 100)
    }))?;
    // The first resume passes n = 5; the later ones answer the suspends.
    let (mut handler, mut k) =
        suspended::<i32>(s.resume(ok(s.cont_new(generator))?, 5, &[Handler::suspend(yld)]))?;
    let mut seen = Vec::new();
    let result = loop {
        check_eq!(handler, 0);
        check_eq!(s.state(k), Some(State::Suspended));
        seen.push(ok(s.payload::<i32>(k))?);
        match s.resume::<_, i32>(k, (), &[Handler::suspend(yld)]) {
            Ok(Resumed::Suspended { handler: h, cont }) => (handler, k) = (h, cont),
            other => break returned(other)?,
        }
    };
    check_eq!(seen, vec![0, 1, 2, 3, 4]);
    check_eq!(result, 500);
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn tag_carries_payload_out_of_suspend_and_resume_values_back_in(s: &Store) -> TestResult {
    let ask = ok(s.tag_new(&[I32, I64], &[I64]))?;
    let f = ok(s.func_wrap(move |s, ()| Ok(s.suspend::<_, i64>(ask, (3, 4i64))? + 1)))?;
    let k = ok(s.cont_new(f))?;
    let (handler, k) = suspended::<i64>(s.resume(k, (), &[Handler::suspend(ask)]))?;
    check_eq!(handler, 0);
    check_eq!(s.payload::<(i32, i64)>(k), Ok((3, 4)));
    // The wrong types do not read the mailbox, they trap.
    check_eq!(
        trapped(s.payload::<(i64, i32)>(k))?.kind(),
        TrapKind::SignatureMismatch
    );
    let v: i64 = returned(s.resume(k, 112i64, &[Handler::suspend(ask)]))?;
    check_eq!(v, 113);
    // A used handle's payload is gone with it.
    check_eq!(
        trapped(s.payload::<(i32, i64)>(k))?.kind(),
        TrapKind::ConsumedContinuation
    );
    Ok(())
}

pub fn forward_tag_past_a_resume_that_does_not_handle_it(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let a = ok(s.tag_new(&[I32], &[I32]))?;
    let b = ok(s.tag_new(&[I32], &[I32]))?;
    let outer = ok(s.cont_new(forwarding_pair(s, a, b)?))?;
    let (handler, cont) =
        suspended::<i32>(s.resume(outer, (), &[Handler::suspend(b), Handler::suspend(a)]))?;
    check_eq!(handler, 1);
    check_eq!(s.payload::<i32>(cont), Ok(5));
    // The suspended segment spans both stacks.
    check_eq!(s.outstanding_stacks(), before + 2);
    let v: i32 = returned(s.resume(cont, 7, &[Handler::suspend(a)]))?;
    check_eq!(v, 15);
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

/// Resumes `k` from a frame 4 KiB deeper on the resumer's stack than its
/// caller.
#[inline(never)]
fn resume_from_a_deeper_frame(
    s: &Store,
    k: ContObj,
    handlers: &[Handler],
) -> Result<Resumed<i32>, Trap> {
    let pad = core::hint::black_box([0u8; 4096]);
    let r = s.resume(k, (), handlers);
    core::hint::black_box(pad);
    r
}

pub fn continuation_resumes_after_the_resume_that_first_ran_it_has_returned(
    s: &Store,
) -> TestResult {
    let yld = ok(s.tag_new(&[I32], &[]))?;
    let f = ok(s.func_wrap(move |s, ()| {
        s.suspend::<_, ()>(yld, 1)?;
        s.suspend::<_, ()>(yld, 2)?;
        Ok(3)
    }))?;
    let handlers = [Handler::suspend(yld)];
    let k = ok(s.cont_new(f))?;
    // The first resume runs (and returns) inside a helper whose frame is
    // gone before the continuation runs again from this shallower frame.
    let (_, k) = suspended(resume_from_a_deeper_frame(s, k, &handlers))?;
    let p1: i32 = ok(s.payload(k))?;
    let (_, k) = suspended::<i32>(s.resume(k, (), &handlers))?;
    let p2: i32 = ok(s.payload(k))?;
    let v = returned(resume_from_a_deeper_frame(s, k, &handlers))?;
    check_eq!((p1, p2, v), (1, 2, 3));
    Ok(())
}

pub fn nary_three_params_five_results_and_a_tag_with_four_payload_values(s: &Store) -> TestResult {
    // Payload (i32, i64, f64, v128); the resume answers with one i64.
    let tag = ok(s.tag_new(&[I32, I64, F64, V128], &[I64]))?;
    let half = f64::from_bits(0x3fe0_0000_0000_0000); // 0.5, only moved
    let big = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
    let f = ok(s.func_wrap(move |s, (a, b, c): (i32, i64, u128)| {
        let back: i64 = s.suspend(tag, (a, b, half, c))?;
        Ok((a + 1, b * 2, half, !c, back))
    }))?;
    let k = ok(s.cont_new(f))?;
    type Results = (i32, i64, f64, u128, i64);
    let (_, k) = suspended::<Results>(s.resume(k, (7, -9i64, big), &[Handler::suspend(tag)]))?;
    check_eq!(tag.params(), &[I32, I64, F64, V128][..]);
    let p: (i32, i64, f64, u128) = ok(s.payload(k))?;
    check_eq!(
        (p.0, p.1, p.2.to_bits(), p.3),
        (7, -9, 0x3fe0_0000_0000_0000, big)
    );
    check_eq!(f.results(), &[I32, I64, F64, V128, I64][..]);
    let v: Results = returned(s.resume(k, 0x7777_0000_0000i64, &[Handler::suspend(tag)]))?;
    check_eq!(
        (v.0, v.1, v.2.to_bits(), v.3, v.4),
        (8, -18, 0x3fe0_0000_0000_0000, !big, 0x7777_0000_0000)
    );
    Ok(())
}

// ----- bind ---------------------------------------------------------------

pub fn bind_repeatedly_then_resume_with_the_last_argument(s: &Store) -> TestResult {
    let f =
        ok(s.func_wrap(|_, (a, b, c, d): (i32, i32, i32, i32)| {
            Ok(a * 1000 + b * 100 + c * 10 + d)
        }))?;
    let k = ok(s.cont_new(f))?;
    let k1 = ok(s.bind(k, 1))?;
    let k2 = ok(s.bind(k1, 2))?;
    let k3 = ok(s.bind(k2, 3))?;
    // Every bind consumes its handle and makes the next revision.
    check_eq!(k3.revision(), k.revision() + 3);
    // Binding with the wrong type is refused without consuming k3.
    check_eq!(
        trapped(s.bind(k3, 4i64))?.kind(),
        TrapKind::SignatureMismatch
    );
    let v: i32 = returned(s.resume(k3, 4, &[]))?;
    check_eq!(v, 1234);
    Ok(())
}

pub fn bind_values_into_a_suspended_continuation(s: &Store) -> TestResult {
    let three = ok(s.tag_new(&[], &[I32, I32, I32]))?;
    let f = ok(s.func_wrap(move |s, ()| {
        let (a, b, c): (i32, i32, i32) = s.suspend(three, ())?;
        Ok(a * 100 + b * 10 + c)
    }))?;
    let k = ok(s.cont_new(f))?;
    let (_, k) = suspended::<i32>(s.resume(k, (), &[Handler::suspend(three)]))?;
    check_eq!(s.payload::<()>(k), Ok(()));
    // `bind` takes the first value the continuation expects next.
    let k = ok(s.bind(k, 4))?;
    // The mailbox now holds the bound 4, not the (empty) payload.
    check_eq!(
        trapped(s.payload::<()>(k))?.kind(),
        TrapKind::SignatureMismatch
    );
    let k = ok(s.bind(k, 5))?;
    let v: i32 = returned(s.resume(k, 6, &[]))?;
    check_eq!(v, 456);
    Ok(())
}

// ----- switch -------------------------------------------------------------

pub fn switch_round_robin_scheduler_interleaves_three_continuations(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let yld = ok(s.tag_new(&[], &[]))?;
    // The run queue and a log of (task * 10 + step), shared by the tasks.
    let queue: Rc<RefCell<VecDeque<ContObj>>> = Rc::new(RefCell::new(VecDeque::new()));
    let log: Rc<RefCell<Vec<i32>>> = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..3 {
        let (queue, log) = (queue.clone(), log.clone());
        // A task is started with the continuation that switched to it (or
        // null) and gets the same after every switch: it queues that one,
        // does a step, and switches to the next in the queue.
        let task = ok(s.func_wrap(move |s, prev: ContObj| {
            if !prev.is_null() {
                queue.borrow_mut().push_back(prev);
            }
            for step in 0..3 {
                log.borrow_mut().push(id * 10 + step);
                let next = queue.borrow_mut().pop_front();
                if let Some(next) = next {
                    let prev: ContObj = s.switch(next, yld, ())?;
                    if !prev.is_null() {
                        queue.borrow_mut().push_back(prev);
                    }
                }
            }
            Ok(id)
        }))?;
        tasks.push(ok(s.cont_new(task))?);
    }
    queue.borrow_mut().extend([tasks[1], tasks[2]]);
    // The resumer resumes whatever is first in the queue until it is
    // empty; the switches between tasks all happen under this one resume.
    let mut finished = Vec::new();
    let mut next = Some(tasks[0]);
    while let Some(k) = next {
        let v: i32 = returned(s.resume(k, ContObj::NULL, &[Handler::switch(yld)]))?;
        finished.push(v);
        next = queue.borrow_mut().pop_front();
    }
    check_eq!(*log.borrow(), vec![0, 10, 20, 1, 11, 21, 2, 12, 22]);
    check_eq!(finished, vec![0, 1, 2]);
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

// ----- handles are used once ---------------------------------------------

pub fn consumed_continuation_traps_on_resume(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let t = ok(s.tag_new(&[], &[]))?;
    let f = ok(s.func_wrap(move |s, ()| {
        s.suspend::<_, ()>(t, ())?;
        Ok(1)
    }))?;
    let k = ok(s.cont_new(f))?;
    let (_, k2) = suspended::<i32>(s.resume(k, (), &[Handler::suspend(t)]))?;
    // The handle of the fresh continuation was used up by the first resume.
    check_eq!(
        trapped(s.resume::<_, i32>(k, (), &[Handler::suspend(t)]))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(
        returned::<i32>(s.resume(k2, (), &[Handler::suspend(t)]))?,
        1
    );
    // And the handle of the suspension by the second.
    check_eq!(
        trapped(s.resume::<_, i32>(k2, (), &[Handler::suspend(t)]))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn consumed_continuation_traps_on_bind(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let f = ok(s.func_wrap(|_, (a, b): (i32, i32)| Ok(a - b)))?;
    let k = ok(s.cont_new(f))?;
    let k1 = ok(s.bind(k, 10))?;
    // Binding used up `k`: neither a resume nor another bind takes it.
    check_eq!(
        trapped(s.resume::<_, i32>(k, (1, 2), &[]))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(
        trapped(s.bind(k, 1))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(returned::<i32>(s.resume(k1, 4, &[]))?, 6);
    check_eq!(
        trapped(s.bind(k1, 1))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn consumed_continuation_traps_on_drop(s: &Store) -> TestResult {
    let f = ok(s.func_wrap(|_, ()| Ok(1)))?;
    let k = ok(s.cont_new(f))?;
    check_eq!(returned::<i32>(s.resume(k, (), &[]))?, 1);
    check_eq!(
        trapped(s.drop_cont(k))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(s.state(k), Some(State::Returned));
    Ok(())
}

pub fn switch_to_a_consumed_continuation_traps_out_of_the_kernel_resume(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let sw = ok(s.tag_new(&[], &[]))?;
    let target_fn = ok(s.func_wrap(|_, _prev: ContObj| Ok(())))?;
    let target = ok(s.cont_new(target_fn))?;
    // Binding consumes `target`; the guest below switches to the old handle.
    let target_bound = ok(s.bind(target, ContObj::NULL))?;
    let f = ok(s.func_wrap(move |s, ()| s.switch::<_, ()>(target, sw, ())))?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::switch(sw)]))?;
    check_eq!(trap.kind(), TrapKind::ConsumedContinuation);
    check_eq!(s.state(k), Some(State::Trapped));
    // The switch never happened: the bound target is still waiting.
    check_eq!(s.state(target_bound), Some(State::Fresh));
    ok(s.drop_cont(target_bound))?;
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

// ----- traps --------------------------------------------------------------

pub fn unhandled_tag_traps_and_frees_the_chain(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let a = ok(s.tag_new(&[], &[]))?;
    let b = ok(s.tag_new(&[], &[]))?;
    let f = ok(s.func_wrap(move |s, ()| s.suspend::<_, ()>(b, ())))?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::suspend(a)]))?;
    check_eq!(trap.kind(), TrapKind::UnhandledTag);
    check_eq!(trap.message(), "no enclosing resume handles the tag");
    check_eq!(s.state(k), Some(State::Trapped));
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn guest_reporting_failure_traps(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    // SAFETY: `failing_guest` follows the array-call convention for [] -> [].
    let f = ok(unsafe { s.func_new_raw(failing_guest, core::ptr::null_mut(), &[], &[]) })?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!(trap.kind(), TrapKind::GuestFailure);
    check_eq!(trap.message(), "guest function reported failure");
    check_eq!(s.state(k), Some(State::Trapped));
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn after_a_trap_the_same_store_runs_a_new_continuation(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let t = ok(s.tag_new(&[I32], &[I32]))?;
    let bad = ok(s.func_wrap(move |s, ()| -> Result<(), Trap> {
        s.suspend::<_, i32>(t, 1)?;
        Err(Trap::guest("after one suspend"))
    }))?;
    let k = ok(s.cont_new(bad))?;
    let (_, k) = suspended::<()>(s.resume(k, (), &[Handler::suspend(t)]))?;
    let trap = trapped(s.resume::<_, ()>(k, 0, &[Handler::suspend(t)]))?;
    check_eq!(trap.message(), "after one suspend");
    check!(!s.in_continuation());
    check_eq!(s.outstanding_stacks(), before);
    // A new continuation of the same store suspends and returns as usual.
    let good = ok(s.func_wrap(move |s, x: i32| Ok(s.suspend::<_, i32>(t, x * 3)? + x)))?;
    let k = ok(s.cont_new(good))?;
    let (_, k) = suspended::<i32>(s.resume(k, 7, &[Handler::suspend(t)]))?;
    check_eq!(s.payload::<i32>(k), Ok(21));
    check_eq!(
        returned::<i32>(s.resume(k, 100, &[Handler::suspend(t)]))?,
        107
    );
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

// ----- many and deep -------------------------------------------------------

pub fn thousand_nested_resumes_return_through_every_level(s: &Store) -> TestResult {
    let before = s.outstanding_stacks();
    let deepest = Rc::new(Cell::new(0usize));
    // `level(d)` resumes a new `level(d - 1)` and returns its result + 1;
    // the function refers to itself through this cell.
    let me: Rc<Cell<Option<Func>>> = Rc::new(Cell::new(None));
    let (me2, deepest2) = (me.clone(), deepest.clone());
    let level = ok(s.func_wrap(move |s, depth: i32| {
        if depth == 0 {
            // Every level's stack is outstanding at once.
            deepest2.set(s.outstanding_stacks());
            return Ok(0);
        }
        let f = me2.get().ok_or(Trap::guest("no function"))?;
        let k = s.cont_new(f)?;
        match s.resume::<_, i32>(k, depth - 1, &[])? {
            Resumed::Returned(v) => Ok(v + 1),
            Resumed::Suspended { .. } => Err(Trap::guest("unexpected suspend")),
        }
    }))?;
    me.set(Some(level));
    let k = ok(s.cont_new(level))?;
    check_eq!(returned::<i32>(s.resume(k, 1000, &[]))?, 1000);
    check_eq!(deepest.get(), before + 1001);
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

pub fn ten_thousand_continuations_created_run_and_dropped_give_every_stack_back(
    s: &Store,
) -> TestResult {
    const N: i32 = 10_000;
    let before = s.outstanding_stacks();
    let t = ok(s.tag_new(&[I32], &[]))?;
    let f = ok(s.func_wrap(move |s, x: i32| {
        s.suspend::<_, ()>(t, x)?;
        Ok(x * 2)
    }))?;
    let mut ks = Vec::with_capacity(N as usize);
    for _ in 0..N {
        ks.push(ok(s.cont_new(f))?);
    }
    check_eq!(s.outstanding_stacks(), before + N as usize);
    // Run each to its suspend; then the even ones to completion, and drop
    // the odd ones while suspended.
    let (mut payloads, mut results) = (0i64, 0i64);
    for (i, &k) in ks.iter().enumerate() {
        let (_, k) = suspended::<i32>(s.resume(k, i as i32, &[Handler::suspend(t)]))?;
        payloads += ok(s.payload::<i32>(k))? as i64;
        if i % 2 == 0 {
            results += returned::<i32>(s.resume(k, (), &[Handler::suspend(t)]))? as i64;
        } else {
            ok(s.drop_cont(k))?;
            check_eq!(s.state(k), Some(State::Dropped));
        }
    }
    check_eq!(payloads, 49_995_000); // 0 + 1 + ... + 9,999
    check_eq!(results, 2 * 24_995_000); // twice the even ones
    check_eq!(s.outstanding_stacks(), before);
    Ok(())
}

// ----- the layout of a fresh stack ----------------------------------------

/// `ContStack::initialize` writes the header of `docs/spec.md` §1 at the top
/// of `stack`, for args buffers of capacity 0, 1, 2 and 5 (capacity =
/// max(params, results)): the control context, the launch words and the
/// args object. Not a store scenario: each harness passes a stack from its
/// own provider (an `mmap` on the host, a pool slot in the kernel), which
/// must be idle and is left as it was found, but for its header.
pub fn fresh_header_matches_the_layout(stack: &kernel::cont::ContStack) -> TestResult {
    use kernel::cont::FuncRecord;
    use kernel::cont::stack::{ArgsObject, initial_rsp_offset};
    use kernel::cont::switch::start_trampoline_address;
    let tos = stack.top();
    let t = tos as usize;
    let word = |offset: usize| {
        // SAFETY: every offset read is in the header, in the top page of a
        // stack the harness handed us.
        unsafe { tos.sub(offset).cast::<usize>().read() }
    };
    check_eq!(t % 4096, 0);
    let shapes: [(
        &'static [kernel::cont::ValType],
        &'static [kernel::cont::ValType],
        usize,
    ); 4] = [
        (&[], &[], 0),
        (&[I32], &[], 1),
        (&[], &[I64, I64], 2),
        (&[I32, I64, F32, F64, I32], &[I64, I64, I32], 5),
    ];
    for (params, results, cap) in shapes {
        let s = 16 * cap;
        let record = FuncRecord {
            array_call: failing_guest,
            callee_vmctx: core::ptr::null_mut(),
            params,
            results,
        };
        let vmctx = 0x5eed_0000usize as *mut VMContext; // never dereferenced
        let mut args = ArgsObject {
            length: 9,
            capacity: 9,
            data: core::ptr::null_mut(),
        };
        // SAFETY: the stack is idle and nothing ever switches to it;
        // `record` and `args` outlive every read below.
        unsafe { stack.initialize(&record, vmctx, &mut args, params.len(), results.len()) };
        // Each check pairs the capacity with the value, so a failure says which.
        check_eq!((cap, word(0x08)), (cap, start_trampoline_address()));
        check_eq!((cap, word(0x10)), (cap, t - 0x10));
        check_eq!((cap, word(0x18)), (cap, t - 0x40 - s));
        check_eq!((cap, word(0x20)), (cap, cap));
        check_eq!(
            (cap, word(0x28 + s)),
            (cap, &record as *const FuncRecord as usize)
        );
        check_eq!((cap, word(0x30 + s)), (cap, 0x5eed_0000));
        check_eq!(
            (cap, word(0x38 + s)),
            (cap, &args as *const ArgsObject as usize)
        );
        check_eq!((cap, word(0x40 + s)), (cap, results.len()));
        check_eq!((cap, args.length, args.capacity as usize), (cap, 0, cap));
        let data = if cap == 0 { 0 } else { t - 0x20 - s };
        check_eq!((cap, args.data as usize), (cap, data));
        // The layout module's offsets name the same slots.
        check_eq!((cap, initial_rsp_offset(cap)), (cap, 0x40 + s));
        check_eq!(
            (cap, stack.saved_rsp(), stack.saved_rbp(), stack.saved_rip()),
            (cap, t - 0x40 - s, t - 0x10, start_trampoline_address())
        );
    }
    Ok(())
}
