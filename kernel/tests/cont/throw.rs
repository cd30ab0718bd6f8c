//! `resume_throw`: resuming a continuation by raising an exception at its
//! suspension point, from safe code. The guest sees the exception as the
//! `Err` of its pending `suspend`; it may handle it, or pass it on, in
//! which case it reaches the resumer as `Err` of kind `Exception`, with the
//! payload readable through `Store::exception_payload`.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::cell::Cell;
use core::pin::Pin;
use kernel::cont::dynamic::{ContObj, Handler, Resumed, Tag};
use kernel::cont::{MmapStacks, State, Store, Trap, TrapKind, ValType};

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), 64 * 1024)
}

/// A continuation suspended at `suspend(yld)`, whose guest runs `then` on
/// what the suspend returned.
fn suspended_at_yield<F>(s: &Store, yld: Tag, then: F) -> ContObj
where
    F: Fn(&Store, Result<(), Trap>) -> Result<i32, Trap> + 'static,
{
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let r = s.suspend::<(), ()>(yld, ());
            then(s, r)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    match s.resume::<(), i32>(k, (), &[Handler::suspend(yld)]) {
        Ok(Resumed::Suspended { cont, .. }) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    }
}

#[test]
fn an_exception_thrown_into_a_suspended_guest_that_handles_it_is_its_pending_suspends_err() {
    let s = store();
    let yld = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let k = suspended_at_yield(&s, yld, move |s, r| match r {
        Err(trap) => match s.exception_payload::<i32>(&trap, exn) {
            Some(v) => Ok(v + 1),
            None => Err(trap),
        },
        Ok(()) => Ok(-1),
    });
    let r = s.resume_throw::<i32, i32>(k, exn, 41, &[]);
    assert_eq!(r, Ok(Resumed::Returned(42)));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn an_exception_the_guest_passes_on_reaches_the_resumer_as_an_exception_not_a_trap() {
    let s = store();
    let yld = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I64, ValType::I32], &[]).unwrap();
    let k = suspended_at_yield(&s, yld, |_, r| {
        r?;
        Ok(0)
    });
    let trap = s
        .resume_throw::<(i64, i32), i32>(k, exn, (-5, 9), &[])
        .unwrap_err();
    assert_eq!(trap.kind(), TrapKind::Exception { tag: exn.id() });
    assert_eq!(s.exception_payload::<(i64, i32)>(&trap, exn), Some((-5, 9)));
    // Read with another tag, or other types, there is no payload.
    let other = s.tag_new(&[ValType::I64, ValType::I32], &[]).unwrap();
    assert_eq!(s.exception_payload::<(i64, i32)>(&trap, other), None);
    assert_eq!(s.exception_payload::<i64>(&trap, exn), None);
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn throwing_into_a_fresh_continuation_never_runs_its_function() {
    let s = store();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            r.set(true);
            Ok(1)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = s.resume_throw::<i32, i32>(k, exn, 7, &[]).unwrap_err();
    assert_eq!(trap.kind(), TrapKind::Exception { tag: exn.id() });
    assert_eq!(s.exception_payload::<i32>(&trap, exn), Some(7));
    assert!(!ran.get());
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn an_exception_thrown_into_a_two_stack_segment_climbs_to_the_outer_guest_that_handles_it() {
    let s = store();
    let yld = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let inner = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<(), ()>(yld, ())?;
            Ok(0)
        })
        .unwrap();
    let outer = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let k = s.cont_new(inner)?;
            // No handler: the inner suspend passes by, suspending both.
            match s.resume::<(), i32>(k, (), &[]) {
                Err(trap) => Ok(100 + s.exception_payload::<i32>(&trap, exn).unwrap_or(-1)),
                Ok(_) => Ok(-2),
            }
        })
        .unwrap();
    let k = s.cont_new(outer).unwrap();
    let Ok(Resumed::Suspended { cont, .. }) = s.resume::<(), i32>(k, (), &[Handler::suspend(yld)])
    else {
        panic!("expected a suspension")
    };
    assert_eq!(s.outstanding_stacks(), 2);
    let r = s.resume_throw::<i32, i32>(cont, exn, 5, &[]);
    assert_eq!(r, Ok(Resumed::Returned(105)));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn resume_throw_checks_the_handle_and_the_payload_before_anything_runs() {
    let s = store();
    let yld = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let k = suspended_at_yield(&s, yld, |_, _| Ok(0));
    let wrong = s.resume_throw::<i64, i32>(k, exn, 1, &[]).unwrap_err();
    assert_eq!(wrong.kind(), TrapKind::SignatureMismatch);
    assert_eq!(s.state(k), Some(State::Suspended));
    assert!(s.resume_throw::<i32, i32>(k, exn, 1, &[]).is_ok());
    let used = s.resume_throw::<i32, i32>(k, exn, 1, &[]).unwrap_err();
    assert_eq!(used.kind(), TrapKind::ConsumedContinuation);
    let null = s
        .resume_throw::<i32, i32>(ContObj::NULL, exn, 1, &[])
        .unwrap_err();
    assert_eq!(null.kind(), TrapKind::NullContinuation);
}
