//! The typed front door (`cont::typed`), from safe code: types written
//! once, handles used once, dropped handles that free their stacks.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::Cell;
use core::pin::Pin;
use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, MmapStacks, Resumed, State, Store, Tag, Trap, TrapKind};

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), 64 * 1024)
}

#[test]
fn a_generator_yields_1_4_9_16_to_the_kernel() {
    let s = store();
    let yld = Tag::<i32, ()>::new(&s).unwrap();
    let squares = Func::wrap(&s, move |s: &Store, n: i32| {
        for i in 1..=n {
            yld.suspend(s, i * i)?;
        }
        Ok(())
    })
    .unwrap();
    let mut k = Cont::new(&s, squares).unwrap().bind(4).unwrap();
    let mut seen = Vec::new();
    while let Resumed::Suspended(susp) = k.resume((), &[yld.on()]).unwrap() {
        let (square, next) = susp.take(yld).unwrap();
        seen.push(square);
        k = next;
    }
    assert_eq!(seen, [1, 4, 9, 16]);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn the_values_a_resume_sends_are_what_the_suspend_returns() {
    let s = store();
    let ask = Tag::<i32, i64>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, (): ()| {
        let a = ask.suspend(s, 1)?;
        let b = ask.suspend(s, 2)?;
        Ok(a + b)
    })
    .unwrap();
    let k = Cont::new(&s, f).unwrap();
    let Ok(Resumed::Suspended(first)) = k.resume((), &[ask.on()]) else {
        panic!("expected a suspension")
    };
    let (one, k) = first.take(ask).unwrap();
    let Ok(Resumed::Suspended(second)) = k.resume(10 * one as i64, &[ask.on()]) else {
        panic!("expected a suspension")
    };
    let (two, k) = second.take(ask).unwrap();
    assert!(matches!(
        k.resume(1000 * two as i64, &[ask.on()]),
        Ok(Resumed::Returned(2010))
    ));
}

#[test]
fn dropping_a_fresh_handle_gives_its_stack_back_at_once() {
    let s = store();
    let f = Func::wrap(&s, |_: &Store, x: i32| Ok(x)).unwrap();
    let k = Cont::new(&s, f).unwrap();
    assert_eq!((k.state(), s.outstanding_stacks()), (State::Fresh, 1));
    drop(k);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn dropping_a_suspended_handle_cancels_it_and_its_destructors_run() {
    let s = store();
    let yld = Tag::<(), ()>::new(&s).unwrap();
    let counted = Rc::new(());
    let c = counted.clone();
    let f = Func::wrap(&s, move |s: &Store, (): ()| {
        let _mine = c.clone();
        yld.suspend(s, ())?;
        Ok(())
    })
    .unwrap();
    let k = Cont::new(&s, f).unwrap();
    let Ok(Resumed::Suspended(susp)) = k.resume((), &[yld.on()]) else {
        panic!("expected a suspension")
    };
    let ((), k) = susp.take(yld).unwrap();
    assert_eq!((Rc::strong_count(&counted), s.outstanding_stacks()), (3, 1));
    assert_eq!(k.state(), State::Suspended);
    drop(k);
    assert_eq!((Rc::strong_count(&counted), s.outstanding_stacks()), (2, 0));
}

#[test]
fn dropping_a_suspension_untaken_cancels_the_continuation_too() {
    let s = store();
    let yld = Tag::<i32, ()>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, (): ()| yld.suspend(s, 5)).unwrap();
    let k = Cont::new(&s, f).unwrap();
    let r = k.resume((), &[yld.on()]);
    assert!(matches!(r, Ok(Resumed::Suspended(_))));
    drop(r);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn taking_a_suspension_with_a_tag_of_other_types_is_refused_and_cancels_it() {
    let s = store();
    let yld = Tag::<i32, ()>::new(&s).unwrap();
    let other = Tag::<i64, ()>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, (): ()| yld.suspend(s, 5)).unwrap();
    let k = Cont::new(&s, f).unwrap();
    let Ok(Resumed::Suspended(susp)) = k.resume((), &[yld.on()]) else {
        panic!("expected a suspension")
    };
    assert_eq!(susp.handler(), 0);
    let err = susp.take(other).err().map(|t| t.kind());
    assert_eq!(err, Some(TrapKind::SignatureMismatch));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn take_with_another_tag_of_the_same_types_is_refused_and_cancels() {
    let s = store();
    let yld = Tag::<i32, ()>::new(&s).unwrap();
    let twin = Tag::<i32, ()>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, (): ()| yld.suspend(s, 5)).unwrap();
    let k = Cont::new(&s, f).unwrap();
    let Ok(Resumed::Suspended(susp)) = k.resume((), &[yld.on()]) else {
        panic!("expected a suspension")
    };
    let err = susp.take(twin).err().map(|t| (t.kind(), t.message()));
    assert_eq!(
        err,
        Some((
            TrapKind::SignatureMismatch,
            "take with another tag than that of the handler reached"
        ))
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn take_wants_the_tag_of_the_handler_reached_not_another_in_the_list() {
    let s = store();
    let first = Tag::<i32, i32>::new(&s).unwrap();
    let second = Tag::<i32, i32>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, (): ()| second.suspend(s, 6)).unwrap();
    let k = Cont::new(&s, f).unwrap();
    let Ok(Resumed::Suspended(susp)) = k.resume((), &[first.on(), second.on()]) else {
        panic!("expected a suspension")
    };
    assert_eq!(susp.handler(), 1);
    let (six, k) = susp.take(second).unwrap();
    assert_eq!(six, 6);
    assert!(matches!(k.resume(7, &[]), Ok(Resumed::Returned(7))));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn bind_takes_the_first_value_and_the_handle_expects_the_rest() {
    let s = store();
    let f = Func::wrap(&s, |_: &Store, (a, b, c): (i32, i64, i32)| {
        Ok(a as i64 * 100 + b * 10 + c as i64)
    })
    .unwrap();
    let k: Cont<'_, (i32, i64, i32), i64> = Cont::new(&s, f).unwrap();
    let k: Cont<'_, (i64, i32), i64> = k.bind(1).unwrap();
    let k: Cont<'_, i32, i64> = k.bind(2).unwrap();
    assert!(matches!(k.resume(3, &[]), Ok(Resumed::Returned(123))));
}

#[test]
fn resume_throw_reaches_the_guests_pending_suspend() {
    let s = store();
    let yld = Tag::<(), ()>::new(&s).unwrap();
    let exn = Tag::<i32, ()>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, (): ()| match yld.suspend(s, ()) {
        Err(trap) => Ok(s
            .exception_payload::<i32>(&trap, exn.untyped())
            .unwrap_or(-1)),
        Ok(()) => Ok(0),
    })
    .unwrap();
    let k = Cont::new(&s, f).unwrap();
    let Ok(Resumed::Suspended(susp)) = k.resume((), &[yld.on()]) else {
        panic!("expected a suspension")
    };
    let ((), k) = susp.take(yld).unwrap();
    assert!(matches!(
        k.resume_throw(exn, 77, &[]),
        Ok(Resumed::Returned(77))
    ));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn a_handle_goes_to_the_dynamic_door_and_back_and_the_old_raw_copy_is_stale() {
    let s = store();
    let f = Func::wrap(&s, |_: &Store, x: i32| Ok(x + 1)).unwrap();
    let raw: ContObj = Cont::new(&s, f).unwrap().into_raw();
    assert_eq!(s.state(raw), Some(State::Fresh));
    // Wrong types are refused, and the raw handle stays good.
    let wrong = Cont::<'_, i64, i32>::from_raw(&s, raw)
        .err()
        .map(|t| t.kind());
    assert_eq!(wrong, Some(TrapKind::SignatureMismatch));
    let k = Cont::<'_, i32, i32>::from_raw(&s, raw).unwrap();
    // Taking it over consumed the raw handle: the dynamic door refuses it.
    let stale = s.resume::<i32, i32>(raw, 1, &[]).err().map(|t| t.kind());
    assert_eq!(stale, Some(TrapKind::ConsumedContinuation));
    assert!(matches!(k.resume(41, &[]), Ok(Resumed::Returned(42))));
}

#[test]
fn a_trap_of_a_typed_continuation_reaches_its_resumer_and_frees_its_stack() {
    let s = store();
    let ran = Rc::new(Cell::new(0));
    let r = ran.clone();
    let f = Func::wrap(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
        r.set(1);
        Err(Trap::guest("typed guest gives up"))
    })
    .unwrap();
    let k = Cont::new(&s, f).unwrap();
    let trap = match k.resume((), &[]) {
        Err(trap) => trap,
        Ok(_) => panic!("expected a trap"),
    };
    assert_eq!(
        (trap.kind(), trap.message(), ran.get()),
        (TrapKind::Guest, "typed guest gives up", 1)
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn a_typed_suspend_while_holding_a_kernel_lock_traps_naming_the_lock() {
    let s = store();
    let yld = Tag::<(), ()>::new(&s).unwrap();
    let lock = Rc::new(kernel::sync::Mutex::new("typed guest lock", ()));
    let l = lock.clone();
    let f = Func::wrap(&s, move |s: &Store, (): ()| {
        let _held = l.lock();
        yld.suspend(s, ())
    })
    .unwrap();
    let k = Cont::new(&s, f).unwrap();
    let trap = match k.resume((), &[yld.on()]) {
        Err(trap) => trap,
        Ok(_) => panic!("expected a trap"),
    };
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "typed guest lock")
    );
    assert_eq!(kernel::sync::held(), 0);
    assert!(!lock.is_locked());
}

/// Two tasks hand control to each other with a typed `switch`: each gets
/// the other's continuation as a `ContObj` and takes it over with
/// `Cont::from_raw`. The kernel's one resume sees the first task finish.
#[test]
fn two_tasks_ping_pong_with_a_typed_switch_and_the_first_returns() {
    let s = store();
    let sw = Tag::<(), ContObj>::new(&s).unwrap();
    let log = Rc::new(core::cell::RefCell::new(Vec::new()));
    let l = log.clone();
    let pong = Func::wrap(&s, move |s: &Store, first: ContObj| -> Result<i32, Trap> {
        let mut other = first;
        for round in 0..3 {
            l.borrow_mut().push(100 + round);
            let k = Cont::<'_, ContObj, i32>::from_raw(s, other)?;
            other = sw.switch(s, k)?;
        }
        Ok(-1)
    })
    .unwrap()
    .detach();
    let l = log.clone();
    let ping = Func::wrap(&s, move |s: &Store, (): ()| -> Result<i32, Trap> {
        let mut k = Cont::new(s, pong)?;
        for round in 0..3 {
            l.borrow_mut().push(round);
            let other = sw.switch(s, k)?;
            k = Cont::from_raw(s, other)?;
        }
        // Done: dropping the other task's handle cancels it.
        drop(k);
        Ok(7)
    })
    .unwrap();
    let r = Cont::new(&s, ping).unwrap().resume((), &[sw.on_switch()]);
    assert!(matches!(r, Ok(Resumed::Returned(7))), "{r:?}");
    assert_eq!(*log.borrow(), [0, 100, 1, 101, 2, 102]);
    assert_eq!(s.outstanding_stacks(), 0);
}

/// A typed switch refused before it starts (no handler) leaves nothing
/// behind: the target it was given is freed.
#[test]
fn a_typed_switch_with_no_handler_fails_and_frees_its_target() {
    let s = store();
    let sw = Tag::<(), ContObj>::new(&s).unwrap();
    let target = Func::wrap(&s, |_: &Store, _: ContObj| -> Result<i32, Trap> { Ok(0) })
        .unwrap()
        .detach();
    let f = Func::wrap(&s, move |s: &Store, (): ()| -> Result<i32, Trap> {
        let k = Cont::new(s, target)?;
        match sw.switch(s, k) {
            Err(t) if t.kind() == TrapKind::UnhandledTag => Ok(1),
            _ => Ok(0),
        }
    })
    .unwrap();
    let r = Cont::new(&s, f).unwrap().resume((), &[]);
    assert!(matches!(r, Ok(Resumed::Returned(1))), "{r:?}");
    assert_eq!(s.outstanding_stacks(), 0);
}

/// A guest defines a tag of its own with `?`: a definition that succeeds
/// goes on as if the `?` were not there.
#[test]
fn a_guest_defines_a_tag_with_the_question_mark() {
    let s = store();
    let f = Func::wrap(&s, |s: &Store, (): ()| -> Result<i32, Trap> {
        let own = Tag::<i32, ()>::new(s)?;
        let inner = Func::wrap(s, move |s: &Store, (): ()| -> Result<(), Trap> {
            own.suspend(s, 41)
        })?
        .detach();
        match Cont::new(s, inner)?.resume((), &[own.on()])? {
            Resumed::Suspended(susp) => Ok(susp.take(own)?.0 + 1),
            _ => Ok(0),
        }
    })
    .unwrap();
    let r = Cont::new(&s, f).unwrap().resume((), &[]);
    assert!(matches!(r, Ok(Resumed::Returned(42))), "{r:?}");
    assert_eq!(s.outstanding_stacks(), 0);
}

/// A refused definition passed on with `?` reaches the resumer as a
/// `Guest` trap that says what was refused.
#[test]
fn a_refused_definition_passed_on_with_the_question_mark_is_a_guest_trap_naming_it() {
    use kernel::cont::ValType;
    static SEVENTEEN: [ValType; 17] = [ValType::I32; 17];
    let s = store();
    let f = Func::wrap(&s, |s: &Store, (): ()| -> Result<i32, Trap> {
        s.tag_new(&SEVENTEEN, &[])?;
        Ok(1)
    })
    .unwrap();
    let t = match Cont::new(&s, f).unwrap().resume((), &[]) {
        Err(t) => t,
        other => panic!("expected a trap, got {other:?}"),
    };
    assert_eq!(t.kind(), TrapKind::Guest);
    assert_eq!(
        t.message(),
        "a function or tag was refused: too many values"
    );
    assert_eq!(
        t.text(),
        "17 values, more than a continuation's mailbox holds (16)"
    );
    assert_eq!(s.outstanding_stacks(), 0);
}
