//! The typed door under attack: `Cont::from_raw`, `into_raw` and `take`
//! with null, foreign, consumed and mistyped handles, and handler lists
//! that name a tag twice. A handle crossing between the doors must never
//! lose or forge a continuation.

use super::*;

#[test]
fn from_raw_refuses_null_foreign_and_consumed_handles_with_their_exact_kinds() {
    let (a, b) = (store(), store());
    let f = Func::wrap(&a, |_: &Store, x: i32| -> Result<i32, Trap> { Ok(x) }).unwrap();
    let raw = Cont::new(&a, f).unwrap().into_raw();
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&a, ContObj::NULL)),
        Some(TrapKind::NullContinuation)
    );
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&b, raw)),
        Some(TrapKind::ForeignContinuation)
    );
    // The refusal by another store consumed nothing in its own.
    assert_eq!(a.state(raw), Some(State::Fresh));
    let k = Cont::<'_, i32, i32>::from_raw(&a, raw).unwrap();
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&a, raw)),
        Some(TrapKind::ConsumedContinuation)
    );
    assert!(matches!(k.resume(5, &[]), Ok(Resumed::Returned(5))));
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&a, raw)),
        Some(TrapKind::ConsumedContinuation)
    );
    // Used, and its record still holds it: it reports how it ended.
    assert_eq!(a.state(raw), Some(State::Returned));
    assert_eq!((a.outstanding_stacks(), b.outstanding_stacks()), (0, 0));
}

#[test]
fn from_raw_with_the_wrong_result_type_is_refused_and_the_raw_handle_stays_live() {
    let s = store();
    let f = Func::wrap(&s, |_: &Store, x: i32| -> Result<i32, Trap> { Ok(x + 1) }).unwrap();
    let raw = Cont::new(&s, f).unwrap().into_raw();
    assert_eq!(
        kind_of(Cont::<'_, i32, i64>::from_raw(&s, raw)),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(
        kind_of(Cont::<'_, (), i32>::from_raw(&s, raw)),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(s.state(raw), Some(State::Fresh));
    assert_eq!(
        s.resume::<i32, i32>(raw, 1, &[]).unwrap(),
        dynamic::Resumed::Returned(2)
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn inside_a_guest_its_own_old_handle_is_consumed_for_from_raw_and_every_dynamic_operation() {
    let s = store();
    let mine = Rc::new(Cell::new(ContObj::NULL));
    let seen: Rc<RefCell<Vec<Option<TrapKind>>>> = Rc::new(RefCell::new(Vec::new()));
    let (m, v) = (mine.clone(), seen.clone());
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let me = m.get();
            let mut v = v.borrow_mut();
            v.push(kind_of(Cont::<'_, (), i32>::from_raw(s, me)));
            v.push(kind_of(s.drop_cont(me)));
            v.push(kind_of(s.bind(me, ())));
            v.push(kind_of(s.resume::<(), i32>(me, (), &[])));
            v.push(kind_of(s.payload::<()>(me)));
            Ok(match (s.in_continuation(), s.state(me)) {
                (true, Some(State::Consumed)) => 1,
                _ => 0,
            })
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    mine.set(k);
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]).unwrap(),
        dynamic::Resumed::Returned(1)
    );
    assert_eq!(*seen.borrow(), [Some(TrapKind::ConsumedContinuation); 5]);
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_continuation_goes_typed_to_dynamic_to_typed_across_a_suspension_and_finishes() {
    let s = store();
    let ask = Tag::<i32, i64>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, x: i32| -> Result<i64, Trap> {
        let y = ask.suspend(s, x * 2)?;
        Ok(y + 1)
    })
    .unwrap();
    let raw = Cont::new(&s, f).unwrap().into_raw();
    let r = s.resume::<i32, i64>(raw, 20, &[Handler::suspend(ask.untyped())]);
    let cont = suspended(r);
    assert_eq!(s.payload::<i32>(cont), Ok(40));
    let k = Cont::<'_, i64, i64>::from_raw(&s, cont).unwrap();
    assert_eq!(k.state(), State::Suspended);
    // Taken over: every copy of the raw handle is stale now.
    assert_eq!(
        kind_of(s.payload::<i32>(cont)),
        Some(TrapKind::ConsumedContinuation)
    );
    assert_eq!(
        kind_of(s.resume::<i64, i64>(cont, 0, &[])),
        Some(TrapKind::ConsumedContinuation)
    );
    assert!(matches!(k.resume(99, &[]), Ok(Resumed::Returned(100))));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn take_with_the_right_payload_but_other_result_types_is_refused_and_cancels_the_guest() {
    let s = store();
    let lives = Frames::default();
    let yld = Tag::<i32, ()>::new(&s).unwrap();
    let wrong = Tag::<i32, i64>::new(&s).unwrap();
    let l = lives.clone();
    let f = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, 5)?;
        Ok(())
    })
    .unwrap();
    let susp = typed_suspension(Cont::new(&s, f).unwrap().resume((), &[yld.on()]));
    assert_eq!((lives.live(), s.outstanding_stacks()), (1, 1));
    assert_eq!(
        susp.take(wrong).err().map(|t| t.kind()),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!((lives.live(), s.outstanding_stacks()), (0, 0));
}

#[test]
fn a_handler_list_naming_a_tag_twice_reports_the_first_entry_of_the_right_kind() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<(), ()>(t, ())?;
            s.suspend::<(), ()>(t, ())?;
            Ok(3)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let both = [Handler::suspend(t), Handler::suspend(t)];
    let r = s.resume::<(), i32>(k, (), &both).unwrap();
    let dynamic::Resumed::Suspended { handler: 0, cont } = r else {
        panic!("expected handler 0, got {r:?}")
    };
    // A switch entry for the same tag does not catch a suspend.
    let mixed = [Handler::switch(t), Handler::suspend(t), Handler::suspend(t)];
    let r = s.resume::<(), i32>(cont, (), &mixed).unwrap();
    let dynamic::Resumed::Suspended { handler: 1, cont } = r else {
        panic!("expected handler 1, got {r:?}")
    };
    assert_eq!(
        s.resume::<(), i32>(cont, (), &[]).unwrap(),
        dynamic::Resumed::Returned(3)
    );
    assert_eq!(s.outstanding_stacks(), 0);
}
