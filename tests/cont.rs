//! In-kernel tests of stack-switching continuations: `cont.new`, `resume`,
//! `suspend`, `switch`, `cont.bind`, drop and traps, on the kernel's own
//! continuation stacks.
//!
//! The host tests in `kernel/src/cont/tests/` check the same behaviours on
//! stacks from `mmap`. These run the very same runtime where it is meant to
//! run: every store gets its stacks from [`KernelStacks`], so each
//! continuation lives in a slot of the continuation-stack region, mapped page
//! by page on first touch, with an unmapped guard page below. Here the
//! frame-pointer walk can also be checked all the way into the kernel stack,
//! and the stack layout against the real addresses the pool hands out.
//!
//! The behaviour tests are written with the typed door
//! (`kernel::cont::typed`), as a student would write them; the tests of the
//! run-time checks (consumed handles, signature mismatches, payloads of the
//! wrong types) and of `switch` use the dynamic door (`Store`'s methods),
//! where those checks live.
//!
//! Guest closures never use `check!` (a `return Err(String)` would not fit
//! their `Result<_, Trap>`, and a panic cannot unwind across the start
//! trampoline); they return or record what they saw, and the test checks it
//! afterwards on the kernel stack. Floats are only moved as bits: the kernel
//! is built soft-float.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::fmt::Debug;
use core::panic::Location;
use core::pin::Pin;

use kernel::cont::stack::{self, ArgsObject};
use kernel::cont::switch::{frame_pointer, start_trampoline_address};
use kernel::cont::typed::{self, Cont, Func, Tag};
use kernel::cont::{
    ContObj, Frame, FuncRecord, Handler, Resumed, StackProvider, State, Store, Trap, TrapKind,
    VMContext, ValRaw, ValType, WasmValues,
};
use kernel::paging::{self, CONT_STACKS_START};
use kernel::stacks::{self, KernelStacks};
use kernel::testing::TestResult;
use kernel::{check, check_eq};
use x86_64::VirtAddr;

use ValType::*;

kernel::suite!(
    "cont",
    [
        fresh_continuation_returns_its_results,
        guest_runs_on_a_continuation_stack_below_its_tos_not_on_the_kernel_stack,
        generator_yields_0_to_n_to_its_resumer_then_returns,
        tag_carries_payload_out_of_suspend_and_resume_values_back_in,
        forward_tag_past_a_resume_that_does_not_handle_it_to_an_outer_one,
        continuation_resumes_after_the_resume_that_first_ran_it_has_returned,
        nary_three_params_five_results_and_a_tag_with_four_payload_values,
        bind_repeatedly_then_resume_with_the_last_argument,
        bind_values_into_a_suspended_continuation,
        switch_round_robin_scheduler_interleaves_three_continuations,
        consumed_continuation_traps_on_resume,
        consumed_continuation_traps_on_bind,
        consumed_continuation_traps_on_switch_out_of_the_kernel_resume,
        unhandled_tag_traps_and_frees_the_chain,
        guest_reporting_failure_traps,
        thousand_nested_resumes_return_through_every_level,
        ten_thousand_continuations_created_run_and_dropped_give_every_stack_back,
        fresh_stack_layout_matches_spec_offsets_for_capacity_0_and_2,
        frame_pointer_walk_from_a_continuation_reaches_its_parent_on_the_kernel_stack,
        trap_has_a_backtrace_and_its_origin_is_the_tos_of_the_trapping_continuation,
        after_a_trap_the_same_store_runs_a_new_continuation,
    ]
);

/// Usable bytes of every continuation stack in these tests.
const STACK: usize = 64 * 1024;

fn store() -> Pin<Box<Store>> {
    Store::new(KernelStacks, STACK)
}

// ----- helpers: turn an unexpected outcome into a failure reason ----------

/// The value of `r`, or a failure naming the caller's line.
#[track_caller]
fn ok<T, E: Debug>(r: Result<T, E>) -> Result<T, String> {
    let at = Location::caller();
    r.map_err(|e| format!("{}:{}: unexpected error {e:?}", at.file(), at.line()))
}

/// The results of a resume that must have returned.
#[track_caller]
fn returned<R: WasmValues + Debug>(r: Result<Resumed<R>, Trap>) -> Result<R, String> {
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
fn suspended<R: WasmValues + Debug>(
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

/// The results of a typed resume that must have returned.
#[track_caller]
fn typed_returned<R: WasmValues + Debug>(
    r: Result<typed::Resumed<'_, R>, Trap>,
) -> Result<R, String> {
    let at = Location::caller();
    match r {
        Ok(typed::Resumed::Returned(v)) => Ok(v),
        other => Err(format!(
            "{}:{}: expected a return, got {other:?}",
            at.file(),
            at.line()
        )),
    }
}

/// The suspension of a typed resume that must have suspended.
#[track_caller]
fn typed_suspended<'s, R: WasmValues + Debug>(
    r: Result<typed::Resumed<'s, R>, Trap>,
) -> Result<typed::Suspension<'s, R>, String> {
    let at = Location::caller();
    match r {
        Ok(typed::Resumed::Suspended(s)) => Ok(s),
        other => Err(format!(
            "{}:{}: expected a suspension, got {other:?}",
            at.file(),
            at.line()
        )),
    }
}

/// The trap of an operation that must have trapped.
#[track_caller]
fn trapped<T: Debug>(r: Result<T, Trap>) -> Result<Trap, String> {
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

/// The address of a local variable of the caller's frame: where its stack is.
#[inline(always)]
fn stack_address() -> usize {
    let here = 0u8;
    core::hint::black_box(&here) as *const u8 as usize
}

/// The TOS of the pool slot holding `addr`, from the pool's geometry alone
/// (slot `i` spans `CONT_STACKS_START + i * slot_size .. + (i+1) * slot_size`),
/// independent of the runtime. `slot_size` is read on the kernel stack
/// beforehand: `stacks::config` takes the pool's lock.
fn slot_top(addr: usize, slot_size: usize) -> usize {
    let start = CONT_STACKS_START.as_u64() as usize;
    start + ((addr - start) / slot_size + 1) * slot_size
}

// ----- the basic operations --------------------------------------------

fn fresh_continuation_returns_its_results() -> TestResult {
    let before = stacks::outstanding();
    let s = store();
    let f = ok(s.func_wrap(|_, (a, b): (i32, i32)| Ok(a * 10 + b)))?;
    let k = ok(s.cont_new(f))?;
    check_eq!(s.state(k), Some(State::Fresh));
    check_eq!(stacks::outstanding(), before + 1);
    check_eq!(f.results(), &[I32][..]);
    let v: i32 = returned(s.resume(k, (4, 2), &[]))?;
    check_eq!(v, 42);
    check_eq!(s.state(k), Some(State::Returned));
    check_eq!(stacks::outstanding(), before);
    Ok(())
}

fn guest_runs_on_a_continuation_stack_below_its_tos_not_on_the_kernel_stack() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let s = store();
    // The guest reports where its local variable lives, as two i64s.
    let f = ok(s.func_wrap(move |_, ()| {
        let here = stack_address();
        Ok((here as i64, slot_top(here, slot_size) as i64))
    }))?;
    let k = ok(s.cont_new(f))?;
    let (here, top): (i64, i64) = returned(s.resume(k, (), &[]))?;
    let (here, top) = (here as u64, top as u64);
    check!(
        stacks::in_region(VirtAddr::new(here)),
        "guest local at {here:#x}"
    );
    check!(
        top - here < STACK as u64,
        "guest local {here:#x} is not within the stack below {top:#x}"
    );
    let kernel = paging::kernel_stack().ok_or("kernel stack not recorded")?;
    let mine = VirtAddr::new(stack_address() as u64);
    check!(
        kernel.contains(mine),
        "the test itself is not on the kernel stack: {mine:#x}"
    );
    check!(!stacks::in_region(mine));
    Ok(())
}

fn generator_yields_0_to_n_to_its_resumer_then_returns() -> TestResult {
    let s = store();
    let yld = ok(Tag::<i32, ()>::new(&s))?;
    let generator = ok(Func::wrap(&s, move |s: &Store, n: i32| {
        for i in 0..n {
            yld.suspend(s, i)?;
        }
        Ok(n * 100)
    }))?;
    let mut k = ok(Cont::new(&s, generator))?
        .bind(5)
        .map_err(|t| format!("{t}"))?;
    let mut seen = Vec::new();
    let result = loop {
        match k.resume((), &[yld.on()]) {
            Ok(typed::Resumed::Suspended(suspension)) => {
                check_eq!(suspension.handler(), 0);
                let (i, next) = ok(suspension.take(yld))?;
                check_eq!(next.state(), State::Suspended);
                seen.push(i);
                k = next;
            }
            other => break typed_returned(other)?,
        }
    };
    check_eq!(seen, vec![0, 1, 2, 3, 4]);
    check_eq!(result, 500);
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

fn tag_carries_payload_out_of_suspend_and_resume_values_back_in() -> TestResult {
    let s = store();
    let ask = ok(s.tag_new(&[I32, I64], &[I64]))?;
    let f = ok(s.func_wrap(move |s, ()| Ok(s.suspend::<_, i64>(ask, (3, 4i64))? + 1)))?;
    let k = ok(s.cont_new(f))?;
    let (handler, k) = suspended::<i64>(s.resume(k, (), &[Handler::suspend(ask)]))?;
    check_eq!(handler, 0);
    check_eq!(s.payload::<(i32, i64)>(k), Ok((3, 4)));
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

fn forward_tag_past_a_resume_that_does_not_handle_it_to_an_outer_one() -> TestResult {
    let s = store();
    let a = ok(Tag::<i32, i32>::new(&s))?;
    let b = ok(Tag::<i32, i32>::new(&s))?;
    // inner: `suspend a 5`, return twice the answer.
    let inner = ok(Func::wrap(
        &s,
        move |s: &Store, ()| Ok(a.suspend(s, 5)? * 2),
    ))?;
    // outer: resume inner handling only `b`; `a` passes through to the
    // kernel. Return inner's result + 1.
    let outer = ok(Func::wrap(&s, move |s: &Store, ()| {
        match Cont::new(s, inner)?.resume((), &[b.on()])? {
            typed::Resumed::Returned(v) => Ok(v + 1),
            typed::Resumed::Suspended(_) => Err(Trap::guest("b was never suspended to")),
        }
    }))?;
    let k = ok(Cont::new(&s, outer))?;
    let suspension = typed_suspended(k.resume((), &[b.on(), a.on()]))?;
    check_eq!(suspension.handler(), 1);
    let (payload, k) = ok(suspension.take(a))?;
    check_eq!(payload, 5);
    // The suspended continuation spans both stacks.
    check_eq!(s.outstanding_stacks(), 2);
    let v: i32 = typed_returned(k.resume(7, &[a.on()]))?;
    check_eq!(v, 15);
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

/// Resumes `k` from a frame 4 KiB deeper on the kernel stack than its caller.
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

fn continuation_resumes_after_the_resume_that_first_ran_it_has_returned() -> TestResult {
    let s = store();
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
    let (_, k) = suspended(resume_from_a_deeper_frame(&s, k, &handlers))?;
    let p1: i32 = ok(s.payload(k))?;
    let (_, k) = suspended::<i32>(s.resume(k, (), &handlers))?;
    let p2: i32 = ok(s.payload(k))?;
    let v = returned(resume_from_a_deeper_frame(&s, k, &handlers))?;
    check_eq!((p1, p2, v), (1, 2, 3));
    Ok(())
}

fn nary_three_params_five_results_and_a_tag_with_four_payload_values() -> TestResult {
    let s = store();
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

fn bind_repeatedly_then_resume_with_the_last_argument() -> TestResult {
    let s = store();
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

fn bind_values_into_a_suspended_continuation() -> TestResult {
    let s = store();
    let three = ok(Tag::<(), (i32, i32, i32)>::new(&s))?;
    let f = ok(Func::wrap(&s, move |s: &Store, ()| {
        let (a, b, c) = three.suspend(s, ())?;
        Ok(a * 100 + b * 10 + c)
    }))?;
    let k = ok(Cont::new(&s, f))?;
    let ((), k) = ok(typed_suspended(k.resume((), &[three.on()]))?.take(three))?;
    // `bind` takes the first value the continuation expects next.
    let k = ok(k.bind(4))?;
    let k = ok(k.bind(5))?;
    let v: i32 = typed_returned(k.resume(6, &[]))?;
    check_eq!(v, 456);
    Ok(())
}

fn switch_round_robin_scheduler_interleaves_three_continuations() -> TestResult {
    let s = store();
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
    // The kernel resumes whatever is first in the queue until it is empty;
    // the switches between tasks all happen under this one resume.
    let mut finished = Vec::new();
    let mut next = Some(tasks[0]);
    while let Some(k) = next {
        let v: i32 = returned(s.resume(k, ContObj::NULL, &[Handler::switch(yld)]))?;
        finished.push(v);
        next = queue.borrow_mut().pop_front();
    }
    check_eq!(*log.borrow(), vec![0, 10, 20, 1, 11, 21, 2, 12, 22]);
    check_eq!(finished, vec![0, 1, 2]);
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

// ----- traps --------------------------------------------------------------

fn consumed_continuation_traps_on_resume() -> TestResult {
    let s = store();
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
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

fn consumed_continuation_traps_on_bind() -> TestResult {
    let s = store();
    let f = ok(s.func_wrap(|_, (a, b): (i32, i32)| Ok(a - b)))?;
    let k = ok(s.cont_new(f))?;
    let k1 = ok(s.bind(k, 10))?;
    check_eq!(
        trapped(s.bind(k, 1))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(returned::<i32>(s.resume(k1, 4, &[]))?, 6);
    check_eq!(
        trapped(s.bind(k1, 1))?.kind(),
        TrapKind::ConsumedContinuation
    );
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

fn consumed_continuation_traps_on_switch_out_of_the_kernel_resume() -> TestResult {
    let s = store();
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
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

fn unhandled_tag_traps_and_frees_the_chain() -> TestResult {
    let s = store();
    let a = ok(s.tag_new(&[], &[]))?;
    let b = ok(s.tag_new(&[], &[]))?;
    let f = ok(s.func_wrap(move |s, ()| s.suspend::<_, ()>(b, ())))?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::suspend(a)]))?;
    check_eq!(trap.kind(), TrapKind::UnhandledTag);
    check_eq!(trap.message(), "no enclosing resume handles the tag");
    check_eq!(s.state(k), Some(State::Trapped));
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

/// An array-call guest for `[] -> []` that always reports failure.
unsafe extern "C" fn failing_guest(
    _: *mut VMContext,
    _: *mut VMContext,
    _: *mut ValRaw,
    _: usize,
) -> bool {
    false
}

fn guest_reporting_failure_traps() -> TestResult {
    let s = store();
    // SAFETY: `failing_guest` follows the array-call convention for [] -> [].
    let f = ok(unsafe { s.func_new_raw(failing_guest, core::ptr::null_mut(), &[], &[]) })?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!(trap.kind(), TrapKind::GuestFailure);
    check_eq!(trap.message(), "guest function reported failure");
    check_eq!(s.state(k), Some(State::Trapped));
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

// ----- many and deep -------------------------------------------------------

fn thousand_nested_resumes_return_through_every_level() -> TestResult {
    let s = store();
    let deepest = Rc::new(Cell::new(0usize));
    // `level(d)` resumes a new `level(d - 1)` and returns its result + 1;
    // the function refers to itself through this cell.
    let me: Rc<Cell<Option<kernel::cont::Func>>> = Rc::new(Cell::new(None));
    let (me2, deepest2) = (me.clone(), deepest.clone());
    let level = ok(s.func_wrap(move |s, depth: i32| {
        if depth == 0 {
            // Every level's stack is outstanding at once.
            deepest2.set(stacks::outstanding());
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
    let before = stacks::outstanding();
    let k = ok(s.cont_new(level))?;
    check_eq!(returned::<i32>(s.resume(k, 1000, &[]))?, 1000);
    check_eq!(deepest.get(), before + 1001);
    check_eq!(stacks::outstanding(), before);
    Ok(())
}

fn ten_thousand_continuations_created_run_and_dropped_give_every_stack_back() -> TestResult {
    const N: i32 = 10_000;
    let before = stacks::outstanding();
    let s = store();
    let t = ok(s.tag_new(&[I32], &[]))?;
    let f = ok(s.func_wrap(move |s, x: i32| {
        s.suspend::<_, ()>(t, x)?;
        Ok(x * 2)
    }))?;
    let mut ks = Vec::with_capacity(N as usize);
    for _ in 0..N {
        ks.push(ok(s.cont_new(f))?);
    }
    check_eq!(stacks::outstanding(), before + N as usize);
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
    check_eq!(stacks::outstanding(), before);
    Ok(())
}

// ----- the stack layout and frame-pointer walks ---------------------------

/// Reads the word `offset` bytes below `tos`.
fn word(tos: *mut u8, offset: usize) -> usize {
    // SAFETY: every offset read is inside the stack's header, in its top
    // page, which the pool keeps mapped while the stack is handed out.
    unsafe { tos.sub(offset).cast::<usize>().read() }
}

fn fresh_stack_layout_matches_spec_offsets_for_capacity_0_and_2() -> TestResult {
    let before = stacks::outstanding();
    let slot_size = stacks::config().slot_size();
    let stack = ok(KernelStacks.allocate(STACK, core::ptr::null()))?;
    let tos = stack.top();
    let t = tos as usize;
    check_eq!(t % 4096, 0);
    check_eq!(slot_top(t - 1, slot_size), t);
    check_eq!(stack.bottom() as usize, t - STACK);
    // The page below the stack is the guard: never mapped.
    check_eq!(stack.guard(), 4096);
    check!(paging::page_flags(x86_64::VirtAddr::new(t as u64 - STACK as u64 - 1)).is_none());
    // (params, results, capacity): capacity = max(params, results).
    let shapes: [(&'static [ValType], &'static [ValType], usize); 2] =
        [(&[], &[], 0), (&[I32, I32], &[I64], 2)];
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
        // SAFETY: the stack is ours and idle; `record` and `args` outlive
        // every read below, and nothing ever switches to this stack.
        unsafe { stack.initialize(&record, vmctx, &mut args, params.len(), results.len()) };
        // Each check pairs the capacity with the value, so a failure says which.
        check_eq!((cap, word(tos, 0x08)), (cap, start_trampoline_address()));
        check_eq!((cap, word(tos, 0x10)), (cap, t - 0x10));
        check_eq!((cap, word(tos, 0x18)), (cap, t - 0x40 - s));
        check_eq!((cap, word(tos, 0x20)), (cap, cap));
        check_eq!(
            (cap, word(tos, 0x28 + s)),
            (cap, &record as *const FuncRecord as usize)
        );
        check_eq!((cap, word(tos, 0x30 + s)), (cap, 0x5eed_0000));
        check_eq!(
            (cap, word(tos, 0x38 + s)),
            (cap, &args as *const ArgsObject as usize)
        );
        check_eq!((cap, word(tos, 0x40 + s)), (cap, results.len()));
        check_eq!((cap, args.length, args.capacity as usize), (cap, 0, cap));
        let data = if cap == 0 { 0 } else { t - 0x20 - s };
        check_eq!((cap, args.data as usize), (cap, data));
        // The layout module's offsets name the same slots.
        check_eq!((cap, stack::initial_rsp_offset(cap)), (cap, 0x40 + s));
        check_eq!(
            (cap, stack.saved_rsp(), stack.saved_rbp(), stack.saved_rip()),
            (cap, t - 0x40 - s, t - 0x10, start_trampoline_address())
        );
    }
    KernelStacks.free(stack);
    check_eq!(stacks::outstanding(), before);
    Ok(())
}

/// The return address in `cont_entry`'s frame: the instruction after the
/// start trampoline's `call`, which comes after four one-byte `pop`s and is
/// five bytes long.
fn after_trampoline_call() -> usize {
    start_trampoline_address() + 4 + 5
}

fn frame_pointer_walk_from_a_continuation_reaches_its_parent_on_the_kernel_stack() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let kernel = paging::kernel_stack().ok_or("kernel stack not recorded")?;
    let s = store();
    // The guest walks its frames and notes its TOS. Room for the frames is
    // made beforehand so that the walk allocates nothing.
    let frames: Rc<RefCell<Vec<Frame>>> = Rc::new(RefCell::new(Vec::with_capacity(64)));
    let top = Rc::new(Cell::new(0usize));
    let (frames2, top2) = (frames.clone(), top.clone());
    // Two parameters: capacity 2, s = 0x20.
    let f = ok(s.func_wrap(move |s, (a, b): (i32, i32)| {
        top2.set(slot_top(stack_address(), slot_size));
        let mut frames = frames2.borrow_mut();
        // SAFETY: this closure's own frame pointer.
        unsafe {
            s.walk_frames(frame_pointer(), |f| {
                frames.push(f);
                frames.len() < frames.capacity()
            })
        };
        Ok(a + b)
    }))?;
    let k = ok(s.cont_new(f))?;
    let here = stack_address();
    check_eq!(returned::<i32>(s.resume(k, (1, 2), &[]))?, 3);
    let (frames, tos) = (frames.borrow(), top.get());
    // The start trampoline's frame record is the control context's RBP slot.
    let record = frames
        .iter()
        .position(|f| f.fp == tos - 0x10)
        .ok_or_else(|| format!("no frame at TOS-0x10 = {:#x} in {frames:x?}", tos - 0x10))?;
    check!(record >= 1, "the walk started at the record: {frames:x?}");
    // Everything before it is on the continuation's stack ...
    for f in &frames[..record] {
        check!(
            tos - STACK <= f.fp && f.fp < tos,
            "{:#x} is off the continuation stack below {tos:#x}",
            f.fp
        );
    }
    // ... the last of them is `cont_entry`, called by the trampoline right
    // below the launch words: RBP = TOS-0x30-s, s = 0x20 ...
    check_eq!(frames[record - 1].fp, tos - 0x30 - 0x20);
    check_eq!(frames[record - 1].return_address, after_trampoline_call());
    // ... and the next frame is the parent's, on the kernel stack, near the
    // frame of this test that resumed the continuation.
    let parent = frames
        .get(record + 1)
        .ok_or("the walk stopped at the record")?;
    check!(
        kernel.contains(VirtAddr::new(parent.fp as u64)),
        "parent frame {:#x} is off the kernel stack {kernel:x?}",
        parent.fp
    );
    check!(
        parent.fp.abs_diff(here) < 4096,
        "parent frame {:#x} is far from this test's frame {here:#x}",
        parent.fp
    );
    Ok(())
}

fn trap_has_a_backtrace_and_its_origin_is_the_tos_of_the_trapping_continuation() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let s = store();
    // The outer continuation resumes an inner one, which traps. Both note
    // their TOS.
    let (outer_top, inner_top) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
    let inner_top2 = inner_top.clone();
    let inner = ok(s.func_wrap(move |_, ()| -> Result<(), Trap> {
        inner_top2.set(slot_top(stack_address(), slot_size));
        Err(Trap::guest("boom"))
    }))?;
    let outer_top2 = outer_top.clone();
    let outer = ok(s.func_wrap(move |s, ()| {
        outer_top2.set(slot_top(stack_address(), slot_size));
        let k = s.cont_new(inner)?;
        s.resume::<_, ()>(k, (), &[]).map(|_| ())
    }))?;
    let k = ok(s.cont_new(outer))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "boom"));
    check!(inner_top.get() != outer_top.get() && inner_top.get() != 0);
    check_eq!(trap.origin(), inner_top.get());
    let frames = trap.backtrace().frames();
    check!(!frames.is_empty(), "empty backtrace");
    // The walk went through the inner start trampoline's frame record.
    check!(
        frames.contains(&after_trampoline_call()),
        "{:?} lacks the trampoline's {:#x}",
        trap.backtrace(),
        after_trampoline_call()
    );
    check_eq!(s.state(k), Some(State::Trapped));
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

fn after_a_trap_the_same_store_runs_a_new_continuation() -> TestResult {
    let before = stacks::outstanding();
    let s = store();
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
    check_eq!(stacks::outstanding(), before);
    // A new continuation of the same store suspends and returns as usual.
    let good = ok(s.func_wrap(move |s, x: i32| Ok(s.suspend::<_, i32>(t, x * 3)? + x)))?;
    let k = ok(s.cont_new(good))?;
    let (_, k) = suspended::<i32>(s.resume(k, 7, &[Handler::suspend(t)]))?;
    check_eq!(s.payload::<i32>(k), Ok(21));
    check_eq!(
        returned::<i32>(s.resume(k, 100, &[Handler::suspend(t)]))?,
        107
    );
    check_eq!(stacks::outstanding(), before);
    Ok(())
}
