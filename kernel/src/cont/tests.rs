//! Behaviour tests of the whole machinery on the host: real stacks from
//! `mmap`, real switches. Each test names the Wasm behaviour it checks.
//!
//! Guest closures avoid `assert!` (a panic cannot unwind across the start
//! trampoline); they return what they saw, and the test asserts outside.

use super::*;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;
use std::collections::VecDeque;

const STACK: usize = 64 * 1024;

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), STACK)
}

use ValType::*;
use alloc::boxed::Box;

fn returned<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> R {
    match r {
        Ok(Resumed::Returned(v)) => v,
        other => panic!("expected a return, got {other:?}"),
    }
}

fn suspended<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> (usize, ContObj) {
    match r {
        Ok(Resumed::Suspended { handler, cont }) => (handler, cont),
        other => panic!("expected a suspension, got {other:?}"),
    }
}

fn trapped<T: core::fmt::Debug>(r: Result<T, Trap>) -> Trap {
    match r {
        Err(trap) => trap,
        Ok(v) => panic!("expected a trap, got {v:?}"),
    }
}

#[test]
fn fresh_continuation_returns_its_results() {
    let s = store();
    let f = s.func_wrap(|_, (a, b): (i32, i32)| Ok(a * 10 + b)).unwrap();
    let k = s.cont_new(f).unwrap();
    assert_eq!(s.state(k), Some(State::Fresh));
    assert_eq!(s.outstanding_stacks(), 1);
    assert_eq!(f.results(), &[I32]);
    let v: i32 = returned(s.resume(k, (4, 2), &[]));
    assert_eq!(v, 42);
    assert_eq!(s.state(k), Some(State::Returned));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn generator_yields_0_to_n_then_returns() {
    let s = store();
    let yld = s.tag_new(&[I32], &[]).unwrap();
    let gen_fn = s
        .func_wrap(move |s, n: i32| {
            for i in 0..n {
                s.suspend::<_, ()>(yld, i)?;
            }
            Ok(n * 100)
        })
        .unwrap();
    let mut k = s.cont_new(gen_fn).unwrap();
    let mut seen = Vec::new();
    let mut first = true;
    let result = loop {
        let r: Result<Resumed<i32>, Trap> = if first {
            s.resume(k, 5, &[Handler::suspend(yld)])
        } else {
            s.resume(k, (), &[Handler::suspend(yld)])
        };
        first = false;
        match r.unwrap() {
            Resumed::Suspended { handler, cont } => {
                assert_eq!(handler, 0);
                assert_eq!(s.state(cont), Some(State::Suspended));
                seen.push(s.payload::<i32>(cont).unwrap());
                k = cont;
            }
            Resumed::Returned(v) => break v,
        }
    };
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    assert_eq!(result, 500);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn tag_carries_payload_out_of_suspend_and_resume_values_back_in() {
    let s = store();
    let ask = s.tag_new(&[I32, I64], &[I64]).unwrap();
    let f = s
        .func_wrap(move |s, ()| Ok(s.suspend::<_, i64>(ask, (3, 4i64))? + 1))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let (handler, cont) = suspended::<i64>(s.resume(k, (), &[Handler::suspend(ask)]));
    assert_eq!(handler, 0);
    assert_eq!(s.payload::<(i32, i64)>(cont), Ok((3, 4)));
    // The wrong types do not read the mailbox, they trap.
    assert_eq!(
        trapped(s.payload::<(i64, i32)>(cont)).kind(),
        TrapKind::SignatureMismatch
    );
    let v: i64 = returned(s.resume(cont, 112i64, &[Handler::suspend(ask)]));
    assert_eq!(v, 113);
    // The handle is consumed: its payload is gone with it.
    assert_eq!(
        trapped(s.payload::<(i32, i64)>(cont)).kind(),
        TrapKind::ConsumedContinuation
    );
}

#[test]
fn handler_index_is_the_position_in_the_resume_list() {
    let s = store();
    let a = s.tag_new(&[], &[]).unwrap();
    let b = s.tag_new(&[], &[]).unwrap();
    let c = s.tag_new(&[], &[]).unwrap();
    let f = s.func_wrap(move |s, ()| s.suspend::<_, ()>(b, ())).unwrap();
    let k = s.cont_new(f).unwrap();
    let list = [
        Handler::suspend(a),
        Handler::switch(b),
        Handler::suspend(c),
        Handler::suspend(b),
    ];
    let (handler, cont) = suspended::<()>(s.resume(k, (), &list));
    assert_eq!(handler, 3);
    s.drop_cont(cont).unwrap();
}

/// Builds: kernel --resume[on a]--> outer --resume[on `inner_handles`]--> inner,
/// where inner does `suspend a 5` and returns twice what comes back.
/// Outer returns inner's result + 1, or (if inner suspends to outer) resumes
/// it with 50 and returns its result + 1000.
fn forwarding_pair(s: &Store, a: Tag, inner_handles: Tag) -> Func {
    let inner = s
        .func_wrap(move |s, ()| Ok(s.suspend::<_, i32>(a, 5)? * 2))
        .unwrap();
    s.func_wrap(move |s, ()| {
        let k = s.cont_new(inner)?;
        match s.resume::<_, i32>(k, (), &[Handler::suspend(inner_handles)])? {
            Resumed::Returned(v) => Ok(v + 1),
            Resumed::Suspended { cont, .. } => Ok(returned::<i32>(s.resume(cont, 50, &[])) + 1000),
        }
    })
    .unwrap()
}

#[test]
fn forward_tag_past_a_resume_that_does_not_handle_it() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b)).unwrap();
    let (handler, cont) =
        suspended::<i32>(s.resume(outer, (), &[Handler::suspend(b), Handler::suspend(a)]));
    assert_eq!(handler, 1);
    assert_eq!(s.payload::<i32>(cont), Ok(5));
    // The suspended segment spans both stacks.
    assert_eq!(s.outstanding_stacks(), 2);
    let v: i32 = returned(s.resume(cont, 7, &[Handler::suspend(a)]));
    assert_eq!(v, 15);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn nearest_handler_wins_when_two_resumes_handle_the_tag() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, a)).unwrap();
    // The inner resume catches `a`, resumes with 50: inner returns 100.
    let v: i32 = returned(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(v, 1100);
}

#[test]
fn dropping_a_forwarded_segment_frees_both_stacks() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b)).unwrap();
    let (_, cont) = suspended::<i32>(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(s.outstanding_stacks(), 2);
    s.drop_cont(cont).unwrap();
    assert_eq!(s.state(cont), Some(State::Dropped));
    assert_eq!(s.state(outer), Some(State::Dropped));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[inline(never)]
fn resume_from_a_deeper_frame(s: &Store, k: ContObj, tag: Tag) -> Result<Resumed<i32>, Trap> {
    let pad = core::hint::black_box([0u8; 4096]);
    let r = s.resume(k, (), &[Handler::suspend(tag)]);
    core::hint::black_box(pad);
    r
}

#[test]
fn generator_resumes_after_the_resume_that_first_ran_it_has_returned() {
    let s = store();
    let yld = s.tag_new(&[I32], &[]).unwrap();
    let f = s
        .func_wrap(move |s, ()| {
            s.suspend::<_, ()>(yld, 1)?;
            s.suspend::<_, ()>(yld, 2)?;
            Ok(3)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    // First resume from this frame, the next from a frame 4 KiB deeper.
    let (_, k) = suspended::<i32>(s.resume(k, (), &[Handler::suspend(yld)]));
    let p1: i32 = s.payload(k).unwrap();
    let (_, k) = suspended(resume_from_a_deeper_frame(&s, k, yld));
    let p2: i32 = s.payload(k).unwrap();
    let v: i32 = returned(s.resume(k, (), &[Handler::suspend(yld)]));
    assert_eq!((p1, p2, v), (1, 2, 3));
}

#[test]
fn nary_three_params_five_results_and_four_value_payload() {
    let s = store();
    let tag = s.tag_new(&[I32, I64, F32, F64], &[V128]).unwrap();
    let f = s
        .func_wrap(move |s, (a, b, c): (i32, i64, f64)| {
            let v: u128 = s.suspend(tag, (a, b, 1.5f32, c))?;
            Ok((a + 1, b * 2, 2.5f32, c * 2.0, v))
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    type Results = (i32, i64, f32, f64, u128);
    let (_, k) = suspended::<Results>(s.resume(k, (7, -9i64, 0.75f64), &[Handler::suspend(tag)]));
    assert_eq!(s.payload::<(i32, i64, f32, f64)>(k), Ok((7, -9, 1.5, 0.75)));
    let big = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
    assert_eq!(f.results(), &[I32, I64, F32, F64, V128]);
    let v: Results = returned(s.resume(k, big, &[Handler::suspend(tag)]));
    assert_eq!(v, (8, -18, 2.5, 1.5, big));
}

#[test]
fn bind_repeatedly_then_resume_with_the_rest() {
    let s = store();
    let f = s
        .func_wrap(|_, (a, b, c): (i32, i32, i32)| Ok(a * 100 + b * 10 + c))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let k1 = s.bind(k, 1).unwrap();
    let k2 = s.bind(k1, 2).unwrap();
    assert_eq!(k2.revision(), k.revision() + 2);
    // Binding with the wrong type is a signature trap.
    assert_eq!(
        trapped(s.bind(k2, 3i64)).kind(),
        TrapKind::SignatureMismatch
    );
    let v: i32 = returned(s.resume(k2, 3, &[]));
    assert_eq!(v, 123);
}

#[test]
fn bind_values_into_a_suspended_continuation() {
    let s = store();
    let two = s.tag_new(&[], &[I32, I32, I32]).unwrap();
    let f = s
        .func_wrap(move |s, ()| {
            let (a, b, c): (i32, i32, i32) = s.suspend(two, ())?;
            Ok(a * 100 + b * 10 + c)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let (_, k) = suspended::<i32>(s.resume(k, (), &[Handler::suspend(two)]));
    assert_eq!(s.payload::<()>(k), Ok(()));
    let k = s.bind(k, 4).unwrap();
    // The mailbox now holds the bound 4, not the (empty) payload.
    assert_eq!(
        trapped(s.payload::<()>(k)).kind(),
        TrapKind::SignatureMismatch
    );
    let k = s.bind(k, 5).unwrap();
    let v: i32 = returned(s.resume(k, 6, &[]));
    assert_eq!(v, 456);
}

#[test]
fn bind_consumes_the_original_handle() {
    let s = store();
    let f = s.func_wrap(|_, (a, b): (i32, i32)| Ok(a - b)).unwrap();
    let k = s.cont_new(f).unwrap();
    let k1 = s.bind(k, 10).unwrap();
    assert_eq!(
        trapped(s.resume::<_, i32>(k, (1, 2), &[])).kind(),
        TrapKind::ConsumedContinuation
    );
    assert_eq!(trapped(s.bind(k, 1)).kind(), TrapKind::ConsumedContinuation);
    assert_eq!(returned::<i32>(s.resume(k1, 4, &[])), 6);
}

#[test]
fn switch_round_robin_scheduler_interleaves_three_tasks() {
    let s = store();
    let yld = s.tag_new(&[], &[]).unwrap();
    let queue: Rc<RefCell<VecDeque<ContObj>>> = Rc::new(RefCell::new(VecDeque::new()));
    let log: Rc<RefCell<Vec<i32>>> = Rc::new(RefCell::new(Vec::new()));
    let mut tasks = Vec::new();
    for id in 0..3 {
        let (queue, log) = (queue.clone(), log.clone());
        let task = s
            .func_wrap(move |s, prev: ContObj| {
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
            })
            .unwrap();
        tasks.push(s.cont_new(task).unwrap());
    }
    queue.borrow_mut().extend([tasks[1], tasks[2]]);
    let mut finished = Vec::new();
    let mut next = Some(tasks[0]);
    while let Some(k) = next {
        finished.push(returned::<i32>(s.resume(
            k,
            ContObj::NULL,
            &[Handler::switch(yld)],
        )));
        next = queue.borrow_mut().pop_front();
    }
    assert_eq!(*log.borrow(), vec![0, 10, 20, 1, 11, 21, 2, 12, 22]);
    assert_eq!(finished, vec![0, 1, 2]);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn switch_passes_args_before_the_continuation_and_back() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    // B receives (x, A's handle), switches back to A with x * 3, then returns.
    let b = s
        .func_wrap(move |s, (x, a): (i32, ContObj)| {
            let back: i32 = s.switch(a, sw, x * 3)?;
            Ok(back + 1)
        })
        .unwrap();
    let kb = s.cont_new(b).unwrap();
    let a = s
        .func_wrap(move |s, ()| {
            let (x, b): (i32, ContObj) = s.switch(kb, sw, 7)?;
            // B is suspended in `b`; finish it from here.
            let r = s.resume::<_, i32>(b, 100, &[Handler::switch(sw)])?;
            match r {
                Resumed::Returned(r) => Ok(x * 1000 + r),
                Resumed::Suspended { .. } => Err(Trap::guest("B suspended")),
            }
        })
        .unwrap();
    let ka = s.cont_new(a).unwrap();
    let v: i32 = returned(s.resume(ka, (), &[Handler::switch(sw)]));
    assert_eq!(v, 21 * 1000 + 101);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn switch_to_consumed_continuation_traps_out_of_the_kernel_resume() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    let target_fn = s.func_wrap(|_, _k: ContObj| Ok(())).unwrap();
    let target = s.cont_new(target_fn).unwrap();
    let target_used = s.bind(target, ContObj::NULL).unwrap();
    let f = s
        .func_wrap(move |s, ()| s.switch::<_, ()>(target, sw, ()))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::switch(sw)]));
    assert_eq!(trap.kind(), TrapKind::ConsumedContinuation);
    assert_eq!(s.state(k), Some(State::Trapped));
    s.drop_cont(target_used).unwrap();
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn switch_handler_does_not_catch_suspend_and_suspend_handler_does_not_catch_switch() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let susp = s.func_wrap(move |s, ()| s.suspend::<_, ()>(t, ())).unwrap();
    let k = s.cont_new(susp).unwrap();
    assert_eq!(
        trapped(s.resume::<_, ()>(k, (), &[Handler::switch(t)])).kind(),
        TrapKind::UnhandledTag
    );

    let target_fn = s.func_wrap(|_, _k: ContObj| Ok(())).unwrap();
    let target = s.cont_new(target_fn).unwrap();
    let sw = s
        .func_wrap(move |s, ()| s.switch::<_, ()>(target, t, ()))
        .unwrap();
    let k = s.cont_new(sw).unwrap();
    assert_eq!(
        trapped(s.resume::<_, ()>(k, (), &[Handler::suspend(t)])).kind(),
        TrapKind::UnhandledTag
    );
    // The switch never happened: the target is still fresh and usable.
    assert_eq!(s.state(target), Some(State::Fresh));
    s.drop_cont(target).unwrap();
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn handle_from_another_store_traps_as_foreign_on_every_operation() {
    let a = store();
    let b = store();
    let f = a.func_wrap(|_, ()| Ok(1i32)).unwrap();
    let k = a.cont_new(f).unwrap();
    let t = trapped(b.resume::<_, i32>(k, (), &[]));
    assert_eq!(t.kind(), TrapKind::ForeignContinuation);
    assert_eq!(trapped(b.bind(k, ())).kind(), TrapKind::ForeignContinuation);
    assert_eq!(
        trapped(b.drop_cont(k)).kind(),
        TrapKind::ForeignContinuation
    );
    assert_eq!(
        trapped(b.payload::<()>(k)).kind(),
        TrapKind::ForeignContinuation
    );
    // Nothing was consumed: the owner still runs it, and B lent it nothing.
    assert_eq!(returned(a.resume::<_, i32>(k, (), &[])), 1);
    assert_eq!(b.outstanding_stacks(), 0);
}

#[test]
fn handle_kept_after_its_store_is_dropped_is_refused_by_a_new_store() {
    let old = store();
    let f = old.func_wrap(|_, ()| Ok(())).unwrap();
    let k = old.cont_new(f).unwrap();
    drop(old);
    // Whatever address the new store gets, the old handle names the old
    // store's id, which no later store ever has: nothing of it is read.
    let new = store();
    assert_eq!(
        trapped(new.resume::<_, ()>(k, (), &[])).kind(),
        TrapKind::ForeignContinuation
    );
    assert_eq!(new.state(k), None);
    assert_eq!(new.stack_top(k), None);
}

#[test]
fn walk_stops_at_a_frame_pointer_within_16_bytes_of_tos() {
    let s = store();
    let visited = Rc::new(Cell::new(usize::MAX));
    let v2 = visited.clone();
    let f = s
        .func_wrap(move |s, tos: i64| {
            // A frame record needs 16 bytes, [fp] and [fp+8]: one that
            // starts 8 below TOS would read past the stack's top.
            let mut n = 0;
            // SAFETY: inside a continuation, every read is bounds-checked.
            unsafe {
                s.walk_frames(tos as usize - 8, |_| {
                    n += 1;
                    true
                })
            };
            v2.set(n);
            Ok(())
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let tos = s.stack_top(k).unwrap() as i64;
    returned::<()>(s.resume(k, tos, &[]));
    assert_eq!(visited.get(), 0);
}

#[test]
fn consumed_continuation_traps_on_resume_bind_and_drop() {
    let s = store();
    let f = s.func_wrap(|_, ()| Ok(1)).unwrap();
    let k = s.cont_new(f).unwrap();
    returned::<i32>(s.resume(k, (), &[]));
    assert_eq!(
        trapped(s.resume::<_, i32>(k, (), &[])).kind(),
        TrapKind::ConsumedContinuation
    );
    assert_eq!(
        trapped(s.bind(k, ())).kind(),
        TrapKind::ConsumedContinuation
    );
    assert_eq!(
        trapped(s.drop_cont(k)).kind(),
        TrapKind::ConsumedContinuation
    );
}

#[test]
fn revision_bumps_on_every_use_and_a_recycled_contref_rejects_old_handles() {
    let s = store();
    let f = s.func_wrap(|_, x: i32| Ok(x + 1)).unwrap();
    let k = s.cont_new(f).unwrap();
    let r0 = k.revision();
    let k1 = s.bind(k, 5).unwrap();
    assert_eq!(k1.revision(), r0 + 1);
    assert_eq!(returned::<i32>(s.resume(k1, (), &[])), 6);
    // The ContRef goes back to the free list and is reused: same record,
    // revision one past the resume's bump, never reset.
    let k2 = s.cont_new(f).unwrap();
    assert_eq!(k2.contref, k.contref);
    assert_eq!(k2.revision(), r0 + 2);
    assert_eq!(
        trapped(s.resume::<_, i32>(k, 1, &[])).kind(),
        TrapKind::ConsumedContinuation
    );
    assert_eq!(
        trapped(s.resume::<_, i32>(k1, (), &[])).kind(),
        TrapKind::ConsumedContinuation
    );
    s.drop_cont(k2).unwrap();
    let k3 = s.cont_new(f).unwrap();
    assert_eq!(k3.revision(), r0 + 3);
    assert_eq!(
        trapped(s.resume::<_, i32>(k2, 1, &[])).kind(),
        TrapKind::ConsumedContinuation
    );
    assert_eq!(returned::<i32>(s.resume(k3, 9, &[])), 10);
}

#[test]
fn null_continuation_traps() {
    let s = store();
    assert_eq!(
        trapped(s.resume::<_, ()>(ContObj::NULL, (), &[])).kind(),
        TrapKind::NullContinuation
    );
    assert_eq!(
        trapped(s.bind(ContObj::NULL, ())).kind(),
        TrapKind::NullContinuation
    );
    assert_eq!(
        trapped(s.drop_cont(ContObj::NULL)).kind(),
        TrapKind::NullContinuation
    );
}

#[test]
fn resume_with_wrong_argument_types_traps_as_signature_mismatch() {
    let s = store();
    let f = s.func_wrap(|_, x: i32| Ok(x)).unwrap();
    let k = s.cont_new(f).unwrap();
    assert_eq!(
        trapped(s.resume::<_, i32>(k, 1i64, &[])).kind(),
        TrapKind::SignatureMismatch
    );
    assert_eq!(
        trapped(s.resume::<_, i32>(k, (), &[])).kind(),
        TrapKind::SignatureMismatch
    );
    // A refused resume does not consume the continuation.
    assert_eq!(returned::<i32>(s.resume(k, 2, &[])), 2);
}

#[test]
fn unhandled_tag_traps_and_frees_the_chain() {
    let s = store();
    let a = s.tag_new(&[], &[]).unwrap();
    let b = s.tag_new(&[], &[]).unwrap();
    let f = s.func_wrap(move |s, ()| s.suspend::<_, ()>(b, ())).unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::suspend(a)]));
    assert_eq!(trap.kind(), TrapKind::UnhandledTag);
    assert_eq!(trap.message(), "no enclosing resume handles the tag");
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn suspend_from_kernel_code_is_an_unhandled_tag() {
    let s = store();
    let a = s.tag_new(&[], &[]).unwrap();
    assert_eq!(
        trapped(s.suspend::<_, ()>(a, ())).kind(),
        TrapKind::UnhandledTag
    );
}

unsafe extern "C" fn failing_guest(
    _: *mut VMContext,
    _: *mut VMContext,
    _: *mut ValRaw,
    _: usize,
) -> bool {
    false
}

#[test]
fn guest_reporting_failure_traps() {
    let s = store();
    // SAFETY: `failing_guest` follows the array-call convention for [] -> [].
    let f = unsafe { s.func_new_raw(failing_guest, core::ptr::null_mut(), &[], &[]) }.unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[]));
    assert_eq!(trap.kind(), TrapKind::GuestFailure);
    assert_eq!(trap.message(), "guest function reported failure");
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn guest_raised_trap_keeps_its_kind_message_and_a_backtrace() {
    let s = store();
    let f = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("boom")) })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[]));
    assert_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "boom"));
    // shim, entry, trampoline's record (the parent's resume point), at least.
    #[cfg(debug_assertions)]
    assert!(
        trap.backtrace().frames().len() >= 3,
        "{:?}",
        trap.backtrace()
    );
}

#[test]
fn trap_deep_in_a_chain_travels_one_parent_at_a_time_to_the_outermost_resume() {
    let s = store();
    let passed_on = Rc::new(Cell::new(0));
    let me: Rc<Cell<Option<Func>>> = Rc::new(Cell::new(None));
    let (me2, count) = (me.clone(), passed_on.clone());
    let level = s
        .func_wrap(move |s, depth: i32| {
            if depth == 0 {
                return Err(Trap::guest("deep"));
            }
            let k = s.cont_new(me2.get().unwrap())?;
            let r = s.resume(k, depth - 1, &[]);
            // The trap of the level below comes back here, as an `Err`
            // of this guest's own resume; it passes it on.
            if r.is_err() {
                count.set(count.get() + 1);
            }
            r.map(|_: Resumed<i32>| depth)
        })
        .unwrap();
    me.set(Some(level));
    let k = s.cont_new(level).unwrap();
    let trap = trapped(s.resume::<_, i32>(k, 4, &[]));
    assert_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "deep"));
    assert_eq!(passed_on.get(), 4);
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
    assert!(!s.in_continuation());
    // The store goes on working.
    let ok = s.func_wrap(|_, ()| Ok(7)).unwrap();
    let k = s.cont_new(ok).unwrap();
    assert_eq!(returned::<i32>(s.resume(k, (), &[])), 7);
}

#[test]
fn thousand_nested_resumes_return_through_every_level() {
    let s = store();
    let me: Rc<Cell<Option<Func>>> = Rc::new(Cell::new(None));
    let me2 = me.clone();
    let level = s
        .func_wrap(move |s, depth: i32| {
            if depth == 0 {
                return Ok(0);
            }
            let k = s.cont_new(me2.get().unwrap())?;
            match s.resume::<_, i32>(k, depth - 1, &[])? {
                Resumed::Returned(v) => Ok(v + 1),
                Resumed::Suspended { .. } => Err(Trap::guest("unexpected suspend")),
            }
        })
        .unwrap();
    me.set(Some(level));
    let k = s.cont_new(level).unwrap();
    assert_eq!(returned::<i32>(s.resume(k, 1000, &[])), 1000);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn ten_thousand_continuations_run_to_completion_or_are_dropped() {
    let s = store();
    let t = s.tag_new(&[I32], &[]).unwrap();
    let f = s
        .func_wrap(move |s, x: i32| {
            s.suspend::<_, ()>(t, x)?;
            Ok(x * 2)
        })
        .unwrap();
    let ks: Vec<ContObj> = (0..10_000).map(|_| s.cont_new(f).unwrap()).collect();
    assert_eq!(s.outstanding_stacks(), 10_000);
    let (mut payloads, mut results) = (0i64, 0i64);
    for (i, &k) in ks.iter().enumerate() {
        let (_, k) = suspended::<i32>(s.resume(k, i as i32, &[Handler::suspend(t)]));
        payloads += s.payload::<i32>(k).unwrap() as i64;
        if i % 2 == 0 {
            results += returned::<i32>(s.resume(k, (), &[Handler::suspend(t)])) as i64;
        } else {
            s.drop_cont(k).unwrap();
        }
    }
    assert_eq!(payloads, 49_995_000);
    // Twice the sum of the even numbers below 10,000.
    assert_eq!(results, 2 * 24_995_000);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "optimised host builds omit frame pointers"
)]
fn frame_pointer_walk_from_a_continuation_reaches_the_parent_stack() {
    let s = store();
    let frames: Rc<RefCell<Vec<Frame>>> = Rc::new(RefCell::new(Vec::new()));
    let frames2 = frames.clone();
    let f = s
        .func_wrap(move |s, ()| {
            // SAFETY: this closure's own frame pointer.
            unsafe {
                s.walk_frames(switch::frame_pointer(), |f| {
                    frames2.borrow_mut().push(f);
                    true
                })
            };
            Ok(())
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let top = s.stack_top(k).unwrap();
    let bottom = top - STACK;
    let here = 0u8;
    let here = &here as *const u8 as usize;
    returned::<()>(s.resume(k, (), &[]));
    let frames = frames.borrow();
    let record = frames
        .iter()
        .position(|f| f.fp == top - 0x10)
        .expect("the trampoline's frame record");
    // Frames before it are on the continuation stack, the next one on ours.
    assert!(
        frames[..record]
            .iter()
            .all(|f| (bottom..top).contains(&f.fp))
    );
    let parent = frames[record + 1].fp;
    assert!(!(bottom..top).contains(&parent));
    assert!(
        parent.abs_diff(here) < 64 * 1024,
        "{parent:#x} vs {here:#x}"
    );
}

#[test]
fn too_many_arguments_for_the_stack_traps_before_anything_is_written() {
    static MANY: [ValType; 4096] = [I32; 4096];
    let s = store();
    // SAFETY: never called: cont.new refuses it first.
    let f = unsafe { s.func_new_raw(failing_guest, core::ptr::null_mut(), &MANY, &[]) }.unwrap();
    assert_eq!(trapped(s.cont_new(f)).kind(), TrapKind::TooManyArguments);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn tags_and_functions_with_more_values_than_the_mailbox_are_refused() {
    static SEVENTEEN: [ValType; 17] = [I64; 17];
    let s = store();
    assert_eq!(
        s.tag_new(&SEVENTEEN, &[]),
        Err(DefineError::TooManyValues { count: 17, max: 16 })
    );
    assert_eq!(
        s.tag_new(&[], &SEVENTEEN),
        Err(DefineError::TooManyValues { count: 17, max: 16 })
    );
    // SAFETY: never called.
    let f = unsafe { s.func_new_raw(failing_guest, core::ptr::null_mut(), &[], &SEVENTEEN) };
    assert_eq!(f, Err(DefineError::TooManyValues { count: 17, max: 16 }));
}

/// A provider that counts outstanding stacks in a cell the test keeps.
struct Counting(MmapStacks, Rc<Cell<usize>>);

// SAFETY: forwards to `MmapStacks`, which keeps the contract.
unsafe impl StackProvider for Counting {
    fn allocate(&mut self, size: usize, owner: *const Store) -> Result<ContStack, StackError> {
        self.1.set(self.1.get() + 1);
        self.0.allocate(size, owner)
    }
    fn free(&mut self, stack: ContStack) {
        self.1.set(self.1.get() - 1);
        self.0.free(stack)
    }
    fn outstanding(&self) -> usize {
        self.1.get()
    }
}

#[test]
fn dropping_the_store_frees_fresh_and_suspended_stacks() {
    let count = Rc::new(Cell::new(0));
    let s = Store::new(Counting(MmapStacks::new(), count.clone()), STACK);
    let t = s.tag_new(&[], &[]).unwrap();
    let f = s.func_wrap(move |s, ()| s.suspend::<_, ()>(t, ())).unwrap();
    let _fresh = s.cont_new(f).unwrap();
    let k = s.cont_new(f).unwrap();
    suspended::<()>(s.resume(k, (), &[Handler::suspend(t)]));
    assert_eq!(count.get(), 2);
    drop(s);
    assert_eq!(count.get(), 0);
}

#[test]
fn resume_with_wrong_result_types_traps_before_running_and_does_not_consume() {
    let s = store();
    let ran = Rc::new(Cell::new(0));
    let ran2 = ran.clone();
    let f = s
        .func_wrap(move |_, x: i32| {
            ran2.set(ran2.get() + 1);
            Ok(x * 3)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, i64>(k, 2, &[]));
    assert_eq!(trap.kind(), TrapKind::SignatureMismatch);
    assert_eq!(
        trap.message(),
        "resume result types do not match the continuation's function"
    );
    assert_eq!(ran.get(), 0);
    assert_eq!(s.state(k), Some(State::Fresh));
    assert_eq!(returned::<i32>(s.resume(k, 2, &[])), 6);
    assert_eq!(ran.get(), 1);
}

#[test]
fn resume_of_a_forwarded_segment_returns_the_outermost_function_results() {
    // The segment inner..outer is ended by outer's return (i32), whatever
    // inner returns.
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b)).unwrap();
    let (_, cont) = suspended::<i32>(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(
        trapped(s.resume::<_, i64>(cont, 7, &[])).kind(),
        TrapKind::SignatureMismatch
    );
    assert_eq!(
        returned::<i32>(s.resume(cont, 7, &[Handler::suspend(a)])),
        15
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn suspend_with_wrong_result_types_traps_at_the_suspend() {
    let s = store();
    let t = s.tag_new(&[I32], &[I64]).unwrap();
    let f = s
        .func_wrap(move |s, ()| s.suspend::<_, i32>(t, 1).map(|_| ()))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::suspend(t)]));
    assert_eq!(trap.kind(), TrapKind::SignatureMismatch);
    assert_eq!(trap.message(), "suspend result types do not match the tag");
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn switch_to_a_target_returning_other_types_traps_and_leaves_it_usable() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    // The target returns i64; the segment it would replace returns ().
    let target_fn = s.func_wrap(|_, _prev: ContObj| Ok(5i64)).unwrap();
    let target = s.cont_new(target_fn).unwrap();
    let f = s
        .func_wrap(move |s, ()| s.switch::<_, ()>(target, sw, ()))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::switch(sw)]));
    assert_eq!(trap.kind(), TrapKind::SignatureMismatch);
    assert_eq!(
        trap.message(),
        "switch target returns other types than the segment it replaces"
    );
    assert_eq!(s.state(target), Some(State::Fresh));
    assert_eq!(returned::<i64>(s.resume(target, ContObj::NULL, &[])), 5);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn payload_of_null_fresh_and_returned_continuations_traps() {
    let s = store();
    let f = s.func_wrap(|_, ()| Ok(())).unwrap();
    assert_eq!(
        trapped(s.payload::<()>(ContObj::NULL)).kind(),
        TrapKind::NullContinuation
    );
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.payload::<()>(k));
    assert_eq!(trap.kind(), TrapKind::SignatureMismatch);
    assert_eq!(trap.message(), "payload of a continuation that holds none");
    returned::<()>(s.resume(k, (), &[]));
    assert_eq!(
        trapped(s.payload::<()>(k)).kind(),
        TrapKind::ConsumedContinuation
    );
}

#[test]
fn handlers_are_one_word_naming_the_tag_and_the_kind() {
    let s = store();
    let a = s.tag_new(&[], &[]).unwrap();
    let b = s.tag_new(&[], &[]).unwrap();
    assert_eq!(core::mem::size_of::<Handler>(), 8);
    assert_eq!(
        (
            Handler::suspend(b).tag_id(),
            Handler::suspend(b).is_switch()
        ),
        (b.id(), false)
    );
    assert_eq!(
        (Handler::switch(a).tag_id(), Handler::switch(a).is_switch()),
        (a.id(), true)
    );
    assert_ne!(Handler::suspend(a), Handler::switch(a));
    assert_eq!(
        alloc::format!("{:?}", Handler::switch(b)),
        alloc::format!("Handler::switch(tag {})", b.id())
    );
}

#[test]
fn a_function_with_seven_results_returns_all_seven() {
    let s = store();
    let f = s
        .func_wrap(|_, x: i32| Ok((x, x + 1, x + 2, x + 3, x + 4, x + 5, i64::from(x) << 40)))
        .unwrap();
    assert_eq!(f.results().len(), 7);
    let k = s.cont_new(f).unwrap();
    let r: (i32, i32, i32, i32, i32, i32, i64) = returned(s.resume(k, 10, &[]));
    assert_eq!(r, (10, 11, 12, 13, 14, 15, 10 << 40));
}

type Sixteen = (
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    u128,
);

/// The sixteen values as one array, to compare (tuples of more than 12
/// have no `PartialEq` or `Debug`).
fn flat(v: Sixteen) -> [i128; 16] {
    [
        v.0 as i128,
        v.1 as i128,
        v.2 as i128,
        v.3 as i128,
        v.4 as i128,
        v.5 as i128,
        v.6 as i128,
        v.7 as i128,
        v.8 as i128,
        v.9 as i128,
        v.10 as i128,
        v.11 as i128,
        v.12 as i128,
        v.13 as i128,
        v.14 as i128,
        v.15 as i128,
    ]
}

#[test]
fn sixteen_params_sixteen_results_and_a_sixteen_value_payload_pass_through() {
    let s = store();
    let tag = s
        .tag_new(
            <Sixteen as WasmValues>::TYPES,
            <Sixteen as WasmValues>::TYPES,
        )
        .unwrap();
    // The guest suspends its arguments plus one, and returns what the
    // resume sent back.
    let f = s
        .func_wrap(move |s, v: Sixteen| {
            let out: Sixteen = (
                v.0 + 1,
                v.1 + 1,
                v.2 + 1,
                v.3 + 1,
                v.4 + 1,
                v.5 + 1,
                v.6 + 1,
                v.7 + 1,
                v.8 + 1,
                v.9 + 1,
                v.10 + 1,
                v.11 + 1,
                v.12 + 1,
                v.13 + 1,
                v.14 + 1,
                v.15 + 1,
            );
            s.suspend::<Sixteen, Sixteen>(tag, out)
        })
        .unwrap();
    let args: Sixteen = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 1 << 100);
    let k = s.cont_new(f).unwrap();
    let Ok(Resumed::Suspended { cont: k, .. }) =
        s.resume::<Sixteen, Sixteen>(k, args, &[Handler::suspend(tag)])
    else {
        panic!("expected a suspension")
    };
    let p: Sixteen = s.payload(k).unwrap();
    let mut expected = [0i128; 16];
    for (i, e) in expected.iter_mut().enumerate() {
        *e = i as i128 + 1;
    }
    expected[15] = (1 << 100) + 1;
    assert_eq!(flat(p), expected);
    let back: Sixteen = (
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    );
    let Ok(Resumed::Returned(r)) = s.resume::<Sixteen, Sixteen>(k, back, &[]) else {
        panic!("expected a return")
    };
    assert_eq!(flat(r), flat(back));
    assert_eq!(s.outstanding_stacks(), 0);
}
