//! `resume_throw` and exception payloads, attacked: throwing into a
//! continuation suspended by `switch`, a switch handle taken over by the
//! typed door, and payloads asked for with the wrong tag, types or age.

use super::*;

#[test]
fn resume_throw_into_a_continuation_suspended_by_switch_is_the_switchs_err() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let parked_a = Rc::new(Cell::new(ContObj::NULL));
    let p = parked_a.clone();
    let b = s
        .func_wrap(move |_: &Store, a: ContObj| -> Result<i32, Trap> {
            p.set(a);
            Ok(0)
        })
        .unwrap();
    let a = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let kb = s.cont_new(b)?;
            match s.switch::<(), ()>(kb, sw, ()) {
                Ok(()) => Ok(-1),
                Err(t) => Ok(s.exception_payload::<i32>(&t, exn).map_or(-2, |v| v * 10)),
            }
        })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(a).unwrap(), (), &[Handler::switch(sw)]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(0)));
    let ka = parked_a.get();
    assert_eq!(
        (s.state(ka), s.outstanding_stacks()),
        (Some(State::Suspended), 1)
    );
    // Wrong result type first: refused, nothing consumed.
    assert_eq!(
        kind_of(s.resume_throw::<i32, i64>(ka, exn, 4, &[])),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(
        s.resume_throw::<i32, i32>(ka, exn, 4, &[]),
        Ok(dynamic::Resumed::Returned(40))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_switch_handle_taken_over_by_the_typed_door_resumes_with_its_types() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    let parked_a = Rc::new(Cell::new(ContObj::NULL));
    let p = parked_a.clone();
    let b = s
        .func_wrap(move |_: &Store, a: ContObj| -> Result<i32, Trap> {
            p.set(a);
            Ok(0)
        })
        .unwrap();
    let a = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let x = s.switch::<(), i64>(s.cont_new(b)?, sw, ())?;
            Ok(x as i32 * 3)
        })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(a).unwrap(), (), &[Handler::switch(sw)]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(0)));
    let raw = parked_a.get();
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&s, raw)),
        Some(TrapKind::SignatureMismatch)
    );
    let k = Cont::<'_, i64, i32>::from_raw(&s, raw).unwrap();
    assert!(matches!(k.resume(5, &[]), Ok(Resumed::Returned(15))));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn exception_payload_answers_only_for_the_thrown_tag_and_its_exact_types() {
    let s = store();
    let e = s.tag_new(&[ValType::I32], &[]).unwrap();
    let e_twin = s.tag_new(&[ValType::I32], &[]).unwrap();
    let e_unit = s.tag_new(&[], &[]).unwrap();
    // Before any throw: a trap made by hand that claims to be an exception
    // reads nothing of another type.
    let forged = Trap::new(TrapKind::Exception { tag: e.id() }, "made by hand");
    assert_eq!(s.exception_payload::<i32>(&forged, e), None);
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let trap = s
        .resume_throw::<i32, i32>(s.cont_new(f).unwrap(), e, 9, &[])
        .unwrap_err();
    assert_eq!(trap.kind(), TrapKind::Exception { tag: e.id() });
    assert_eq!(s.exception_payload::<i32>(&trap, e), Some(9));
    assert_eq!(s.exception_payload::<i64>(&trap, e), None);
    assert_eq!(s.exception_payload::<u128>(&trap, e), None);
    assert_eq!(s.exception_payload::<(i32, i32)>(&trap, e), None);
    assert_eq!(s.exception_payload::<()>(&trap, e), None);
    assert_eq!(s.exception_payload::<i32>(&trap, e_twin), None);
    assert_eq!(s.exception_payload::<()>(&trap, e_unit), None);
    assert_eq!(
        s.exception_payload::<i32>(&Trap::guest("not an exception"), e),
        None
    );
    // Another store never read this store's payload.
    let other = store();
    assert_eq!(other.exception_payload::<i32>(&trap, e), None);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn exception_payload_of_an_older_exception_never_reports_a_later_throws_payload() {
    let s = store();
    let first = s.tag_new(&[ValType::I32], &[]).unwrap();
    let second = s.tag_new(&[ValType::I32], &[]).unwrap();
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let old = s
        .resume_throw::<i32, i32>(s.cont_new(f).unwrap(), first, 1, &[])
        .unwrap_err();
    let new = s
        .resume_throw::<i32, i32>(s.cont_new(f).unwrap(), second, 2, &[])
        .unwrap_err();
    assert_eq!(s.exception_payload::<i32>(&new, second), Some(2));
    // `old` is an exception of `first`, thrown with 1. The store no longer
    // has its payload; what it has is `second`'s 2. It must not say 2.
    assert_ne!(s.exception_payload::<i32>(&old, first), Some(2));
}
