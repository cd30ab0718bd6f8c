//! The raw door: the operations over `ValRaw` slots and `ValType` lists
//! that an interpreter uses, with their run-time type checks.

use ValType::*;
use alloc::boxed::Box;
use core::pin::Pin;
use kernel::cont::dynamic::ContObj;
use kernel::cont::raw;
use kernel::cont::{MmapStacks, Store, Trap, TrapKind, ValRaw, ValType};

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), 64 * 1024)
}

#[test]
fn a_raw_generator_suspends_slots_and_gets_slots_back() {
    let s = store();
    let tag = s.tag_new(&[I32, I64], &[I32]).unwrap();
    // The guest suspends (n, n * 1000) and adds what comes back.
    let f = s
        .func_wrap(move |s: &Store, n: i32| -> Result<i32, Trap> {
            let payload = [ValRaw::from_i32(n), ValRaw::from_i64(n as i64 * 1000)];
            let mut back = [ValRaw::ZERO; 1];
            // SAFETY: no slot holds a continuation.
            let types = unsafe { s.suspend_raw(tag, &payload, &mut back)? };
            if types != [I32] {
                return Err(Trap::guest("wrong result types"));
            }
            Ok(n + back[0].i32())
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let mut results = [ValRaw::ZERO; 1];
    let handlers = [kernel::cont::dynamic::Handler::suspend(tag)];
    // SAFETY: no slot holds a continuation.
    let r = unsafe { s.resume_raw(k, &[ValRaw::from_i32(4)], &[I32], &handlers, &mut results) };
    let Ok(raw::Resumed::Suspended { handler: 0, cont }) = r else {
        panic!("expected a suspension, got {r:?}")
    };
    let mut payload = [ValRaw::ZERO; 2];
    assert_eq!(s.payload_raw(cont, &mut payload), Ok(&[I32, I64][..]));
    assert_eq!((payload[0].i32(), payload[1].i64()), (4, 4000));
    // SAFETY: as above.
    let r = unsafe { s.resume_raw(cont, &[ValRaw::from_i32(10)], &[I32], &[], &mut results) };
    assert_eq!(r, Ok(raw::Resumed::Returned(&[I32][..])));
    assert_eq!(results[0].i32(), 14);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn raw_arguments_of_other_types_or_count_are_refused_before_anything_runs() {
    let s = store();
    let f = s.func_wrap(|_: &Store, x: i32| Ok(x)).unwrap();
    let k = s.cont_new(f).unwrap();
    let mut results = [ValRaw::ZERO; 1];
    // SAFETY: no slot holds a continuation.
    let bad_type = unsafe { s.resume_raw(k, &[ValRaw::from_i64(1)], &[I64], &[], &mut results) };
    // SAFETY: as above.
    let bad_count = unsafe { s.resume_raw(k, &[], &[I32], &[], &mut results) };
    // SAFETY: as above.
    let no_room = unsafe { s.resume_raw(k, &[ValRaw::from_i32(1)], &[I32], &[], &mut []) };
    for r in [bad_type, bad_count, no_room] {
        assert_eq!(r.map_err(|t| t.kind()), Err(TrapKind::SignatureMismatch));
    }
    assert_eq!(s.state(k), Some(kernel::cont::State::Fresh));
    // SAFETY: no slot holds a continuation.
    let ok = unsafe { s.resume_raw(k, &[ValRaw::from_i32(9)], &[I32], &[], &mut results) };
    assert_eq!(
        (ok, results[0].i32()),
        (Ok(raw::Resumed::Returned(&[I32][..])), 9)
    );
}

#[test]
fn raw_bind_takes_a_prefix_of_the_expected_types() {
    let s = store();
    let f = s
        .func_wrap(|_: &Store, (a, b): (i32, i64)| Ok(a as i64 + b))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    // SAFETY: no slot holds a continuation.
    unsafe {
        let wrong = s.bind_raw(k, &[ValRaw::from_i64(1)], &[I64]);
        assert_eq!(
            wrong.map_err(|t| t.kind()),
            Err(TrapKind::SignatureMismatch)
        );
        let k = s.bind_raw(k, &[ValRaw::from_i32(2)], &[I32]).unwrap();
        let mut out = [ValRaw::ZERO];
        let r = s.resume_raw(k, &[ValRaw::from_i64(40)], &[I64], &[], &mut out);
        assert_eq!(
            (r, out[0].i64()),
            (Ok(raw::Resumed::Returned(&[I64][..])), 42)
        );
    }
}

#[test]
fn raw_resume_throw_carries_its_payload_to_the_resumer() {
    let s = store();
    let exn = s.tag_new(&[I32], &[]).unwrap();
    let f = s.func_wrap(|_: &Store, (): ()| Ok(1i32)).unwrap();
    let k: ContObj = s.cont_new(f).unwrap();
    let mut out = [ValRaw::ZERO];
    // SAFETY: no slot holds a continuation.
    let r = unsafe { s.resume_throw_raw(k, exn, &[ValRaw::from_i32(33)], &[], &mut out) };
    let trap = r.unwrap_err();
    assert_eq!(trap.kind(), TrapKind::Exception { tag: exn.id() });
    assert_eq!(s.exception_payload::<i32>(&trap, exn), Some(33));
    assert_eq!(s.outstanding_stacks(), 0);
}
