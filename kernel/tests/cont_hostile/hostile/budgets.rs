//! `resume_for` and the budget word attacked from safe code on the host,
//! where no tick comes: budgets of 0 and `u32::MAX`, budgets nested in
//! budgets and in plain resumes, a guest's budgeted resume refused (another
//! store, wrong types, a used handle). Whatever happens, the budget a
//! guest sees armed is its own resumer's, and none is left armed once the
//! outermost resume is back: a word left armed would be acted on by a
//! later tick in the kernel (`preempt::armed`).
#![forbid(unsafe_code)]

use super::*;
use kernel::cont::dynamic::{Resumed, Timed};
use kernel::cont::preempt;

/// A guest that reports whether a budget is armed while it runs.
fn armed_probe(s: &Store, seen: &Rc<Cell<Option<bool>>>) -> dynamic::Func {
    let seen = seen.clone();
    s.func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
        seen.set(Some(preempt::armed()));
        Ok(3)
    })
    .unwrap()
}

#[test]
fn a_budget_is_armed_while_a_budgeted_guest_runs_and_disarmed_after_it_returns_traps_or_suspends() {
    let s = store();
    let seen = Rc::new(Cell::new(None));
    let f = armed_probe(&s, &seen);
    let k = s.cont_new(f).unwrap();
    assert_eq!(
        s.resume_for::<(), i32>(k, 1, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(3)))
    );
    assert_eq!((seen.get(), preempt::armed()), (Some(true), false));

    let failing = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> {
            Err(Trap::new(TrapKind::Guest, "gave up"))
        })
        .unwrap();
    let k = s.cont_new(failing).unwrap();
    assert_eq!(
        kind_of(s.resume_for::<(), i32>(k, 1, (), &[])),
        Some(TrapKind::Guest)
    );
    assert!(!preempt::armed());

    let tag = s.tag_new(&[], &[]).unwrap();
    let pausing = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<(), ()>(tag, ())?;
            Ok(8)
        })
        .unwrap();
    let k = s.cont_new(pausing).unwrap();
    let k = match s.resume_for::<(), i32>(k, 1, (), &[Handler::suspend(tag)]) {
        Ok(Timed::InTime(Resumed::Suspended { handler: 0, cont })) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    };
    assert!(!preempt::armed());
    assert_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(8)));
    assert!(!preempt::armed());
}

#[test]
fn budgets_of_zero_and_u32_max_nested_ten_deep_return_every_level_and_leave_nothing_armed() {
    let s = store();
    // Level n resumes level n + 1 with budget 0 (odd n) or u32::MAX (even
    // n), and returns n plus what it got; the innermost, level 10, is 10.
    let seen: Rc<RefCell<Vec<bool>>> = Rc::default();
    let level: Rc<Cell<Option<dynamic::Func>>> = Rc::default();
    let (me, log) = (level.clone(), seen.clone());
    let depth = Rc::new(Cell::new(0_i32));
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let n = depth.get();
            log.borrow_mut().push(preempt::armed());
            if n == 10 {
                return Ok(10);
            }
            depth.set(n + 1);
            let k = s.cont_new(me.get().unwrap())?;
            let budget = if n % 2 == 1 { 0 } else { u32::MAX };
            let below = match s.resume_for::<(), i32>(k, budget, (), &[])? {
                Timed::InTime(Resumed::Returned(v)) => v,
                _ => return Err(Trap::new(TrapKind::Guest, "not returned")),
            };
            // Back from the nested budget: this level's own is armed again.
            log.borrow_mut().push(preempt::armed());
            Ok(n + below)
        })
        .unwrap();
    level.set(Some(f));
    let k = s.cont_new(f).unwrap();
    assert_eq!(
        s.resume_for::<(), i32>(k, 0, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(55)))
    );
    assert_eq!(*seen.borrow(), [true; 21]);
    assert!(!preempt::armed());
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn a_budgeted_child_of_a_plain_guest_sees_its_budget_and_leaves_nothing_armed_when_it_returns() {
    let s = store();
    let seen = Rc::new(Cell::new(None));
    let probe = armed_probe(&s, &seen);
    let after: Rc<Cell<Option<bool>>> = Rc::default();
    let after_in = after.clone();
    // A plain guest gives its child a budget; back from it, nothing is
    // armed in the plain guest.
    let plain = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let k = s.cont_new(probe)?;
            let r = s.resume_for::<(), i32>(k, 5, (), &[])?;
            after_in.set(Some(preempt::armed()));
            Ok(match r {
                Timed::InTime(Resumed::Returned(v)) => v + 1,
                _ => -1,
            })
        })
        .unwrap();
    let k = s.cont_new(plain).unwrap();
    assert_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(4)));
    assert_eq!((seen.get(), after.get()), (Some(true), Some(false)));
    assert!(!preempt::armed());
}

#[test]
fn a_budgeted_guest_refused_another_stores_continuation_keeps_its_budget_and_the_other_handle_still_runs()
 {
    let (a, b) = (shared(), store());
    let fb = b.func_wrap(|_: &Store, (): ()| Ok(21_i32)).unwrap();
    let kb = b.cont_new(fb).unwrap();
    // What the guest saw: the refusal's kind, and whether it was armed.
    type Seen = Option<(Option<TrapKind>, bool)>;
    let report: Rc<Cell<Seen>> = Rc::default();
    let out = report.clone();
    let fa = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let refused = kind_of(s.resume_for::<(), i32>(kb, 1, (), &[]));
            out.set(Some((refused, preempt::armed())));
            Ok(1)
        })
        .unwrap();
    let ka = a.cont_new(fa).unwrap();
    assert_eq!(
        a.resume_for::<(), i32>(ka, 1, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(1)))
    );
    assert_eq!(
        report.get(),
        Some((Some(TrapKind::ForeignContinuation), true))
    );
    assert!(!preempt::armed());
    assert_eq!(
        b.resume_for::<(), i32>(kb, 1, (), &[]),
        Ok(Timed::InTime(Resumed::Returned(21)))
    );
}

#[test]
fn resume_for_with_the_wrong_argument_or_result_types_is_refused_arms_nothing_and_the_handle_still_runs()
 {
    let s = store();
    let f = s
        .func_wrap(|_: &Store, x: i32| -> Result<i64, Trap> { Ok(x as i64 * 2) })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    assert_eq!(
        kind_of(s.resume_for::<i64, i64>(k, 1, 7, &[])),
        Some(TrapKind::SignatureMismatch)
    );
    assert!(!preempt::armed());
    assert_eq!(
        kind_of(s.resume_for::<i32, i32>(k, 0, 7, &[])),
        Some(TrapKind::SignatureMismatch)
    );
    assert!(!preempt::armed());
    assert_eq!(
        s.resume_for::<i32, i64>(k, u32::MAX, 7, &[]),
        Ok(Timed::InTime(Resumed::Returned(14)))
    );
    assert_eq!(s.outstanding_stacks(), 0);
}
