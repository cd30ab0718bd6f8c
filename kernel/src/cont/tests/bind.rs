//! `cont.bind`: partial application to fresh and suspended continuations.

use super::*;

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
