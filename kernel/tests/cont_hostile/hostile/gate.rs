//! The gate word (`cont/runtime/gate.rs`) holds two rules in one word: the
//! store whose chain runs (stores do not nest) and, while a lock is held,
//! a mark that hides it. These tests take locks and give them back in
//! every way a guest can (released, forgotten then trapped, forgotten then
//! returned, inside a nested chain) and check afterwards that the word
//! still names the right store: a resume of another store's continuation
//! is refused inside a chain, admitted at the kernel level, and the chain
//! itself still suspends and resumes.

use super::*;

/// A continuation of a second store that returns 9 when resumed.
fn other_stores_nine(b: &Store) -> ContObj {
    let f = b.func_wrap(|_: &Store, (): ()| Ok(9_i32)).unwrap();
    b.cont_new(f).unwrap()
}

#[test]
fn a_guest_that_took_and_released_a_lock_still_cannot_resume_another_stores_continuation() {
    let a = store();
    let b = shared();
    let kb = other_stores_nine(&b);
    let t = a.tag_new(&[], &[]).unwrap();
    let l = leaked_lock("taken and released by the guest");
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    let bb = b.clone();
    let f = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            drop(l.lock());
            sn.set(kind_of(bb.resume::<(), i32>(kb, (), &[])));
            // The chain itself goes on: it suspends and is resumed.
            s.suspend::<(), ()>(t, ())?;
            Ok(1)
        })
        .unwrap();
    let k = suspended(a.resume::<(), i32>(a.cont_new(f).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(seen.get(), Some(TrapKind::OtherStoreRunning));
    assert_eq!(
        a.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    kernel_side_clean(&a);
    // Refused before anything was written: the other store's continuation
    // still runs from the kernel level.
    assert_eq!(
        b.resume::<(), i32>(kb, (), &[]),
        Ok(dynamic::Resumed::Returned(9))
    );
}

#[test]
fn an_inner_guest_that_traps_holding_a_lock_leaves_its_resumer_unable_to_resume_another_store() {
    let a = store();
    let b = shared();
    let kb = other_stores_nine(&b);
    let t = a.tag_new(&[], &[]).unwrap();
    let l = leaked_lock("forgotten by a trapping inner guest");
    let inner = a
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            core::mem::forget(l.lock());
            Err(Trap::guest("traps holding a lock"))
        })
        .unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let sn = seen.clone();
    let bb = b.clone();
    let outer = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let r = s.resume::<(), ()>(s.cont_new(inner)?, (), &[]);
            sn.borrow_mut()
                .push(r.err().map(|t| (t.kind(), t.message(), held())));
            // The trap's bookkeeping forgot the lock; the word names this
            // store again, not the kernel level.
            sn.borrow_mut()
                .push(kind_of(bb.resume::<(), i32>(kb, (), &[])).map(|k| (k, "", held())));
            s.suspend::<(), ()>(t, ())?;
            Ok(2)
        })
        .unwrap();
    let k = suspended(a.resume::<(), i32>(a.cont_new(outer).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(
        *seen.borrow(),
        [
            Some((TrapKind::Guest, "traps holding a lock", 0)),
            Some((TrapKind::OtherStoreRunning, "", 0)),
        ]
    );
    assert_eq!(
        a.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(2))
    );
    kernel_side_clean(&a);
}

#[test]
fn after_a_guest_returned_holding_a_lock_another_store_resumes_from_the_kernel_level() {
    let a = store();
    let b = shared();
    let kb = other_stores_nine(&b);
    let l = leaked_lock("forgotten by a returning guest");
    let f = a
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            core::mem::forget(l.lock());
            Ok(3)
        })
        .unwrap();
    let trap = a
        .resume::<(), i32>(a.cont_new(f).unwrap(), (), &[])
        .unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "forgotten by a returning guest")
    );
    kernel_side_clean(&a);
    assert_eq!(
        b.resume::<(), i32>(kb, (), &[]),
        Ok(dynamic::Resumed::Returned(9))
    );
}

#[test]
fn a_guest_of_the_second_store_still_cannot_resume_the_first_after_the_first_trapped_holding_a_lock()
 {
    let a = shared();
    let b = store();
    let l = leaked_lock("forgotten before a trap of the first store");
    let f = a
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            core::mem::forget(l.lock());
            Err(Trap::guest("first store's guest traps"))
        })
        .unwrap();
    assert_eq!(
        kind_of(a.resume::<(), i32>(a.cont_new(f).unwrap(), (), &[])),
        Some(TrapKind::Guest)
    );
    let ka = other_stores_nine(&a);
    let aa = a.clone();
    let g = b
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            Ok(match kind_of(aa.resume::<(), i32>(ka, (), &[])) {
                Some(TrapKind::OtherStoreRunning) => 1,
                _ => 0,
            })
        })
        .unwrap();
    assert_eq!(
        b.resume::<(), i32>(b.cont_new(g).unwrap(), (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    kernel_side_clean(&b);
    assert_eq!(
        a.resume::<(), i32>(ka, (), &[]),
        Ok(dynamic::Resumed::Returned(9))
    );
}

#[test]
fn a_lock_held_at_the_kernel_level_refuses_every_door_and_its_release_opens_them_again() {
    let a = store();
    let t = a.tag_new(&[], &[]).unwrap();
    let f = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<(), ()>(t, ())?;
            Ok(4)
        })
        .unwrap();
    let k = a.cont_new(f).unwrap();
    let l = Mutex::new("held by the kernel", ());
    let guard = l.lock();
    assert_eq!(
        kind_of(a.resume::<(), i32>(k, (), &[Handler::suspend(t)])),
        Some(TrapKind::LockHeld)
    );
    // A suspend at the kernel level is refused for having no continuation
    // first, lock or no lock.
    assert_eq!(
        kind_of(a.suspend::<(), ()>(t, ())),
        Some(TrapKind::UnhandledTag)
    );
    drop(guard);
    let k = suspended(a.resume::<(), i32>(k, (), &[Handler::suspend(t)]));
    assert_eq!(
        a.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(4))
    );
    kernel_side_clean(&a);
}
