//! `resume_for` on the host, where no tick ever comes: within its budget
//! it is `resume`, through both doors, and a `suspend` refused under it
//! (no handler) leaves the guest running on. The preemption itself needs
//! the timer: the in-kernel suite `tests/preempt.rs`.
#![forbid(unsafe_code)]

use super::*;
use kernel::cont::dynamic::Timed;

#[test]
fn resume_for_with_no_tick_returns_and_suspends_as_resume_does() {
    let s = store();
    let yld = s.tag_new(&[I32], &[]).unwrap();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<i32, ()>(yld, 4)?;
            Ok(9)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let k = match s.resume_for::<(), i32>(k, 1, (), &[Handler::suspend(yld)]) {
        Ok(Timed::InTime(Resumed::Suspended { handler: 0, cont })) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    };
    assert_eq!(s.payload::<i32>(k), Ok(4));
    assert_eq!(
        s.resume_for::<(), i32>(k, 0, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(9)))
    );
}

#[test]
fn a_typed_resume_for_with_no_tick_returns_the_results() {
    let s = store();
    let f = kernel::cont::Func::wrap(&s, |_: &Store, (a, b): (i32, i32)| -> Result<i32, Trap> {
        Ok(a * b)
    })
    .unwrap();
    let k = Cont::new(&s, f).unwrap();
    match k.resume_for(u32::MAX, (6, 7), &[]) {
        Ok(kernel::cont::Timed::InTime(kernel::cont::Resumed::Returned(r))) => assert_eq!(r, 42),
        _ => panic!("expected the results"),
    }
}

#[test]
fn a_suspend_refused_under_a_budget_lets_the_guest_run_on_and_return() {
    let s = store();
    let unhandled = s.tag_new(&[], &[]).unwrap();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let refused = s.suspend::<(), ()>(unhandled, ()).unwrap_err();
            assert_eq!(refused.kind(), TrapKind::UnhandledTag);
            Ok(1)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    assert_eq!(
        s.resume_for::<(), i32>(k, 3, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(1)))
    );
}

#[test]
fn resume_for_of_a_used_handle_is_refused_as_consumed() {
    let s = store();
    let f = s.func_wrap(|_: &Store, (): ()| Ok(5_i32)).unwrap();
    let k = s.cont_new(f).unwrap();
    assert_eq!(
        s.resume_for::<(), i32>(k, 1, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(5)))
    );
    assert_eq!(
        s.resume_for::<(), i32>(k, 1, (), &[]).map_err(|t| t.kind()),
        Err(TrapKind::ConsumedContinuation)
    );
}
