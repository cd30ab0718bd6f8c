//! The checks every handle and signature goes through: foreign, outlived, consumed and null handles, wrong types, limits.

use super::*;
use crate::scenarios_shared::failing_guest;

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

/// The address of the continuation record a handle names, as the handle's
/// raw slot (`WasmValue::to_raw`) carries it.
fn record_of(k: ContObj) -> usize {
    k.to_raw().reference().0
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
    assert_eq!(record_of(k2), record_of(k));
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
