//! Cancellation that fights back: a guest whose pending `suspend` returns
//! `Cancelled` and then resumes, starts, throws into, drops or switches to
//! other continuations, or suspends past its dropper. Each must end with
//! every frame unwound and every stack back.

use super::*;

#[test]
fn a_cancelled_guest_that_resumes_another_suspended_continuation_runs_it_to_its_end() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let other = parked(&s, t, |_, r| Ok(if r.is_ok() { 21 } else { -1 }));
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let k = parked(&s, t, move |s, r| {
        g.set(Some((
            kind_of(r),
            s.resume::<(), i32>(other, (), &[]).map_err(|t| t.kind()),
        )));
        Ok(0)
    });
    assert_eq!(s.outstanding_stacks(), 2);
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(
        got.take(),
        Some((
            Some(TrapKind::Cancelled),
            Ok(dynamic::Resumed::Returned(21))
        ))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_may_start_a_continuation_and_leave_it_suspended_for_the_kernel() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let u = s.tag_new(&[ValType::I32], &[ValType::I32]).unwrap();
    let doubler = s
        .func_wrap(move |s: &Store, x: i32| -> Result<i32, Trap> {
            let y = s.suspend::<i32, i32>(u, x)?;
            Ok(2 * y)
        })
        .unwrap();
    let left = Rc::new(Cell::new(ContObj::NULL));
    let l = left.clone();
    let k = parked(&s, t, move |s, _cancelled| {
        let n = s.cont_new(doubler)?;
        if let dynamic::Resumed::Suspended { cont, .. } =
            s.resume::<i32, i32>(n, 4, &[Handler::suspend(u)])?
        {
            l.set(cont);
        }
        Ok(0)
    });
    assert_eq!(s.drop_cont(k), Ok(()));
    let n = left.get();
    assert_eq!(
        (s.state(n), s.payload::<i32>(n), s.outstanding_stacks()),
        (Some(State::Suspended), Ok(4), 1)
    );
    assert_eq!(
        s.resume::<i32, i32>(n, 5, &[]),
        Ok(dynamic::Resumed::Returned(10))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

/// What a dropper guest does: starts `victim`, which suspends to it at
/// `u`, drops it, and logs how the drop came back (`said[0]` for `Ok`,
/// `said[1]` for `Err`). 1, or -1 if `victim` did not suspend.
fn start_then_drop(
    s: &Store,
    victim: dynamic::Func,
    u: dynamic::Tag,
    log: &RefCell<Vec<&'static str>>,
    said: [&'static str; 2],
) -> Result<i32, Trap> {
    let k = s.cont_new(victim)?;
    let dynamic::Resumed::Suspended { cont, .. } =
        s.resume::<(), ()>(k, (), &[Handler::suspend(u)])?
    else {
        return Ok(-1);
    };
    let r = s.drop_cont(cont);
    log.borrow_mut().push(said[usize::from(r.is_err())]);
    Ok(1)
}

/// G resumes `inner` under a handler for `u`; `inner` suspends at `u`; G
/// drops it; `inner` ignores the cancellation and suspends at `t`, which
/// passes G's drop (no handlers) and G's own resume, and reaches the
/// kernel: G is suspended together with `inner`, inside its drop.
fn dropper_suspended_by_its_victim(
    s: &Store,
    log: &Rc<RefCell<Vec<&'static str>>>,
    t: dynamic::Tag,
) -> ContObj {
    let u = s.tag_new(&[], &[]).unwrap();
    let lg = log.clone();
    let inner = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let first = s.suspend::<(), ()>(u, ());
            lg.borrow_mut().push(match kind_of(first) {
                Some(TrapKind::Cancelled) => "inner cancelled",
                _ => "inner not cancelled",
            });
            s.suspend::<(), ()>(t, ())?;
            lg.borrow_mut().push("inner resumed after its cancellation");
            Ok(())
        })
        .unwrap();
    let lg = log.clone();
    let g = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            start_then_drop(s, inner, u, &lg, ["drop returned Ok", "drop returned Err"])
        })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(g).unwrap(), (), &[Handler::suspend(t)]);
    suspended(r)
}

#[test]
fn a_cancelled_guest_that_suspends_past_its_dropper_suspends_the_dropper_and_the_kernel_can_finish_both()
 {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let h = dropper_suspended_by_its_victim(&s, &log, t);
    assert_eq!(*log.borrow(), ["inner cancelled"]);
    assert_eq!(
        (s.state(h), s.outstanding_stacks()),
        (Some(State::Suspended), 2)
    );
    // The segment's outermost is G: the resume ends with G's i32.
    assert_eq!(
        s.resume::<(), i32>(h, (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    assert_eq!(
        *log.borrow(),
        [
            "inner cancelled",
            "inner resumed after its cancellation",
            "drop returned Ok"
        ]
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_suspends_past_its_dropper_can_be_dropped_again_from_the_kernel() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let h = dropper_suspended_by_its_victim(&s, &log, t);
    // The second cancellation ends `inner` (it passes it on with `?`);
    // G's drop then returns Ok and G, which ignores nothing, returns.
    assert_eq!(s.drop_cont(h), Ok(()));
    assert_eq!(*log.borrow(), ["inner cancelled", "drop returned Ok"]);
    assert_eq!(s.state(h), Some(State::Dropped));
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_inner_guest_may_still_suspend_to_a_handler_inside_its_own_segment() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let v = s.tag_new(&[], &[ValType::I32]).unwrap();
    let inner = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            if s.suspend::<(), ()>(t, ()).is_ok() {
                return Ok(-1);
            }
            // Cancelled: ask the outer guest, inside the same segment.
            let x = s.suspend::<(), i32>(v, ())?;
            Ok(x + 1)
        })
        .unwrap();
    let seen = Rc::new(Cell::new(0));
    let sn = seen.clone();
    let outer = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let k = s.cont_new(inner)?;
            let h = [Handler::suspend(v)];
            let dynamic::Resumed::Suspended { cont, .. } = s.resume::<(), i32>(k, (), &h)? else {
                return Ok(-2);
            };
            match s.resume::<i32, i32>(cont, 41, &h)? {
                dynamic::Resumed::Returned(x) => {
                    sn.set(x);
                    Ok(x)
                }
                dynamic::Resumed::Suspended { .. } => Ok(-3),
            }
        })
        .unwrap();
    let k = suspended(s.resume::<(), i32>(s.cont_new(outer).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(s.outstanding_stacks(), 2);
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(seen.get(), 42);
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_throws_into_another_continuation_gets_its_answer() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I64], &[]).unwrap();
    let catcher = parked(&s, t, move |s, r| match r {
        Err(trap) => Ok(s
            .exception_payload::<i64>(&trap, exn)
            .map_or(-1, |x| x as i32)),
        Ok(()) => Ok(-2),
    });
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let k = parked(&s, t, move |s, _| {
        g.set(Some(
            s.resume_throw::<i64, i32>(catcher, exn, 77, &[])
                .map_err(|t| t.kind()),
        ));
        Ok(0)
    });
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(got.take(), Some(Ok(dynamic::Resumed::Returned(77))));
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_drops_another_suspended_continuation_cancels_it_too() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let lives = Frames::default();
    let victim = parked_holding(&s, t, Some(&lives), |_, r| r.map(|()| 5));
    assert_eq!(lives.live(), 1);
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let k = parked(&s, t, move |s, r| {
        g.set(Some(s.drop_cont(victim)));
        r.map(|()| 1)
    });
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(got.get(), Some(Ok(())));
    assert_eq!(
        (s.state(victim), s.state(k)),
        (Some(State::Dropped), Some(State::Dropped))
    );
    assert_eq!((lives.live(), s.outstanding_stacks()), (0, 0));
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_tries_to_switch_away_is_refused_and_its_target_stays_fresh() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let sw = s.tag_new(&[], &[]).unwrap();
    let target_f = s
        .func_wrap(|_: &Store, _k: ContObj| -> Result<i32, Trap> { Ok(9) })
        .unwrap();
    let target = s.cont_new(target_f).unwrap();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let r = s.suspend::<(), ()>(t, ());
            if r.is_err() {
                // The drop's resume has no handlers: no switch handler.
                g.set(kind_of(s.switch::<(), ()>(target, sw, ())));
            }
            Ok(0)
        })
        .unwrap();
    let hs = [Handler::suspend(t), Handler::switch(sw)];
    let k = suspended(s.resume::<(), i32>(s.cont_new(f).unwrap(), (), &hs));
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(got.get(), Some(TrapKind::UnhandledTag));
    assert_eq!(s.state(target), Some(State::Fresh));
    assert_eq!(
        s.resume::<ContObj, i32>(target, ContObj::NULL, &[]),
        Ok(dynamic::Resumed::Returned(9))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

/// G resumes `victim` under a handler for `u`; `victim` suspends at `u`;
/// G drops it; `victim`, cancelled, switches to a fresh target with a tag
/// whose switch handler is the kernel's resume of G: the target takes G's
/// place under the kernel (G's drop is left pending inside the switched-out
/// segment) and parks `victim`'s handle in `parked_victim`, then returns
/// 50. Returns how the kernel's resume of G came back.
fn victim_switches_over_its_dropper(
    s: &Store,
    log: &Rc<RefCell<Vec<&'static str>>>,
    lives: &Frames,
    parked_victim: &Rc<Cell<ContObj>>,
) -> Result<dynamic::Resumed<i32>, Trap> {
    let u = s.tag_new(&[], &[]).unwrap();
    let sw = s.tag_new(&[], &[]).unwrap();
    let pv = parked_victim.clone();
    let target_f = s
        .func_wrap(move |_: &Store, k: ContObj| -> Result<i32, Trap> {
            pv.set(k);
            Ok(50)
        })
        .unwrap();
    let (lg, l) = (log.clone(), lives.clone());
    let victim = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _mine = l.enter();
            if s.suspend::<(), ()>(u, ()).is_ok() {
                return Ok(());
            }
            let target = s.cont_new(target_f)?;
            let r = s.switch::<(), ()>(target, sw, ());
            lg.borrow_mut().push(match kind_of(r) {
                None => "victim switched back to",
                Some(TrapKind::Cancelled) => "victim cancelled at its switch",
                Some(_) => "victim's switch failed",
            });
            r
        })
        .unwrap();
    let (lg, l) = (log.clone(), lives.clone());
    let g = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let _mine = l.enter();
            start_then_drop(
                s,
                victim,
                u,
                &lg,
                ["G's drop returned Ok", "G's drop returned Err"],
            )
        })
        .unwrap();
    s.resume::<(), i32>(s.cont_new(g).unwrap(), (), &[Handler::switch(sw)])
}

#[test]
fn a_cancelled_guest_that_switches_over_its_dropper_can_be_switched_back_to_and_both_finish() {
    let s = store();
    let log = Rc::new(RefCell::new(Vec::new()));
    let lives = Frames::default();
    let parked_victim = Rc::new(Cell::new(ContObj::NULL));
    let r = victim_switches_over_its_dropper(&s, &log, &lives, &parked_victim);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(50)));
    let k = parked_victim.get();
    // Suspended: the victim and G, whose drop is pending under it.
    assert_eq!(
        (s.state(k), s.outstanding_stacks(), lives.live()),
        (Some(State::Suspended), 2, 2)
    );
    assert!(log.borrow().is_empty());
    // The segment ends with G's function: the resume gets G's i32.
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    assert_eq!(
        *log.borrow(),
        ["victim switched back to", "G's drop returned Ok"]
    );
    assert_eq!((s.outstanding_stacks(), lives.live()), (0, 0));
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_switches_over_its_dropper_is_cancelled_again_by_the_store_drop() {
    let s = store();
    let log = Rc::new(RefCell::new(Vec::new()));
    let lives = Frames::default();
    let parked_victim = Rc::new(Cell::new(ContObj::NULL));
    let r = victim_switches_over_its_dropper(&s, &log, &lives, &parked_victim);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(50)));
    assert_eq!((s.outstanding_stacks(), lives.live()), (2, 2));
    drop(s);
    assert_eq!(
        *log.borrow(),
        ["victim cancelled at its switch", "G's drop returned Ok"]
    );
    assert_eq!(lives.live(), 0);
}

#[test]
fn bind_into_a_suspended_continuation_then_drop_cancels_it_and_the_bound_value_is_never_seen() {
    let s = store();
    let t = s.tag_new(&[], &[ValType::I32, ValType::I64]).unwrap();
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            match s.suspend::<(), (i32, i64)>(t, ()) {
                Ok((a, b)) => Ok(a as i64 + b),
                Err(e) => {
                    sn.set(Some(e.kind()));
                    Err(e)
                }
            }
        })
        .unwrap();
    let k = suspended(s.resume::<(), i64>(s.cont_new(f).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(s.payload::<()>(k), Ok(()));
    let kb = s.bind(k, 7i32).unwrap();
    assert_eq!(
        (kind_of(s.payload::<()>(kb)), kind_of(s.payload::<()>(k))),
        (
            Some(TrapKind::SignatureMismatch),
            Some(TrapKind::ConsumedContinuation)
        )
    );
    // The bound handle expects the rest only.
    assert_eq!(
        kind_of(s.resume::<(i32, i64), i64>(kb, (1, 2), &[])),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(s.drop_cont(kb), Ok(()));
    assert_eq!(seen.get(), Some(TrapKind::Cancelled));
    assert_eq!(s.state(kb), Some(State::Dropped));
    // Typed: bind a fresh one, then drop it: it never runs.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = Func::wrap(
        &s,
        move |_: &Store, (a, b): (i32, i64)| -> Result<i64, Trap> {
            r.set(true);
            Ok(a as i64 + b)
        },
    )
    .unwrap();
    drop(Cont::new(&s, g).unwrap().bind(1).unwrap());
    assert!(!ran.get());
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}
