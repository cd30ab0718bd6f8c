//! The store's drop: every `Rc` suspended frames hold comes back, a
//! cancellation left suspended is cancelled again, a store dropped inside
//! another store's guest cancels its own guests without reaching that
//! chain, and the closures a store holds are dropped with it.

use super::*;

#[test]
fn dropping_the_store_gives_back_every_rc_held_by_suspended_frames_of_every_shape() {
    let s = store();
    let lives = Frames::default();
    let t = Tag::<(), ()>::new(&s).unwrap();
    let l = lives.clone();
    let leaf = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        t.suspend(s, ())
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let mid = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        match Cont::new(s, leaf)?.resume((), &[])? {
            Resumed::Returned(()) => Ok(()),
            Resumed::Suspended(_) => Ok(()),
        }
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let top = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        // A suspended continuation of its own, kept in this frame as a
        // dynamic handle (a typed one here crashes: see
        // `dropping_the_store_while_a_guest_holding_a_typed_handle_...`).
        let kept = typed_kept(s, leaf, t)?.into_raw();
        match Cont::new(s, mid)?.resume((), &[])? {
            Resumed::Returned(()) => Ok::<(), Trap>(()),
            Resumed::Suspended(_) => Ok(()),
        }?;
        s.drop_cont(kept)
    })
    .unwrap();
    // A three-stack segment (top..mid..leaf) whose top holds a one-stack
    // one.
    let s3 = typed_suspension(Cont::new(&s, top).unwrap().resume((), &[t.on()]));
    let ((), k3) = s3.take(t).unwrap();
    let raw3 = k3.into_raw();
    // A two-stack segment, dynamic.
    let raw2 = s
        .resume::<(), ()>(
            s.cont_new(mid.untyped()).unwrap(),
            (),
            &[Handler::suspend(t.untyped())],
        )
        .map(suspended_ok)
        .unwrap();
    // A one-stack one, and a fresh one.
    let raw1 = Cont::new(&s, leaf)
        .and_then(|k| {
            Ok(typed_suspension(k.resume((), &[t.on()]))
                .take(t)?
                .1
                .into_raw())
        })
        .unwrap();
    let _fresh = Cont::new(&s, leaf).unwrap().into_raw();
    assert_eq!(s.outstanding_stacks(), 4 + 2 + 1 + 1);
    assert_eq!(lives.live(), 4 + 2 + 1);
    assert_eq!(
        (s.state(raw3), s.state(raw2), s.state(raw1)),
        (
            Some(State::Suspended),
            Some(State::Suspended),
            Some(State::Suspended)
        )
    );
    drop(s);
    assert_eq!(lives.live(), 0);
}

fn suspended_ok(r: dynamic::Resumed<()>) -> ContObj {
    match r {
        dynamic::Resumed::Suspended { cont, .. } => cont,
        dynamic::Resumed::Returned(()) => ContObj::NULL,
    }
}

#[test]
fn dropping_the_store_cancels_a_continuation_that_an_earlier_cancellation_suspended_again() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let lives = Frames::default();
    let keep = Rc::new(Cell::new(ContObj::NULL));
    let kp = keep.clone();
    // Record 0, so cancelled first: it resumes `later` (record 1), which
    // suspends again, and keeps the new handle.
    let _first = parked(&s, t, move |s, _cancelled| {
        if let dynamic::Resumed::Suspended { cont, .. } =
            s.resume::<(), i32>(kp.get(), (), &[Handler::suspend(t)])?
        {
            kp.set(cont);
        }
        Ok(0)
    });
    let l = lives.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let _mine = l.enter();
            loop {
                s.suspend::<(), ()>(t, ())?;
            }
        })
        .unwrap();
    let later = suspended(s.resume::<(), i32>(s.cont_new(f).unwrap(), (), &[Handler::suspend(t)]));
    keep.set(later);
    assert_eq!((lives.live(), s.outstanding_stacks()), (1, 2));
    drop(s);
    assert_eq!(lives.live(), 0);
    assert_ne!(
        keep.get(),
        later,
        "the first guest resumed `later` while cancelled"
    );
}

#[test]
fn a_store_dropped_inside_another_stores_guest_cancels_its_suspended_guests() {
    let a = store();
    let b_slot: Rc<RefCell<Option<Pin<Box<Store>>>>> = Rc::new(RefCell::new(Some(store())));
    let lives = Frames::default();
    let cancelled = Rc::new(Cell::new(None));
    {
        let b = b_slot.borrow();
        let b = b.as_ref().unwrap();
        let t = b.tag_new(&[], &[]).unwrap();
        let seen = cancelled.clone();
        let _k = parked_holding(b, t, Some(&lives), move |_, r| {
            seen.set(kind_of(r));
            Ok(0)
        });
        assert_eq!(b.outstanding_stacks(), 1);
    }
    assert_eq!(lives.live(), 1);
    let slot = b_slot.clone();
    let g = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            drop(slot.borrow_mut().take());
            Ok(i32::from(s.in_continuation()))
        })
        .unwrap();
    assert_eq!(
        a.resume::<(), i32>(a.cont_new(g).unwrap(), (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    assert!(b_slot.borrow().is_none());
    // B's guest was cancelled, on top of A's chain, and returned through
    // its frame: its Rc is given back.
    assert_eq!(cancelled.get(), Some(TrapKind::Cancelled));
    assert_eq!(lives.live(), 0);
    assert_eq!(a.outstanding_stacks(), 0);
    kernel_side_clean(&a);
}

/// What a guest of store B, cancelled by B's drop inside a guest of store
/// A, sees of A: no chain to suspend or switch through (A's is set
/// aside), and no resume of A's continuations (A's chain runs on this
/// CPU). Afterwards A's guest has its chain back: it suspends to the
/// kernel's handler and is resumed to its end.
#[test]
fn a_guest_cancelled_by_a_store_drop_inside_another_stores_chain_cannot_reach_that_chain() {
    let a = shared();
    let ta = a.tag_new(&[], &[]).unwrap();
    let b_slot: Rc<RefCell<Option<Pin<Box<Store>>>>> = Rc::new(RefCell::new(Some(store())));
    let parked_in_a = parked(&a, ta, |_, r| r.map(|()| 0));
    let seen: Rc<RefCell<Vec<Option<TrapKind>>>> = Rc::default();
    {
        let b = b_slot.borrow();
        let b = b.as_ref().unwrap();
        let tb = b.tag_new(&[], &[]).unwrap();
        let (a_in_b, log) = (a.clone(), seen.clone());
        let _k = parked_holding(b, tb, None, move |_, r| {
            let mut log = log.borrow_mut();
            log.push(kind_of(r));
            log.push(kind_of(a_in_b.suspend::<(), ()>(ta, ())));
            log.push(kind_of(a_in_b.switch::<(), ()>(ContObj::NULL, ta, ())));
            log.push(kind_of(a_in_b.resume::<(), i32>(
                parked_in_a,
                (),
                &[Handler::suspend(ta)],
            )));
            log.push(Some(if a_in_b.in_continuation() {
                TrapKind::Guest
            } else {
                TrapKind::UnhandledTag
            }));
            Ok(0)
        });
    }
    let slot = b_slot.clone();
    let g = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            drop(slot.borrow_mut().take());
            s.suspend::<(), ()>(ta, ())?;
            Ok(i32::from(s.in_continuation()))
        })
        .unwrap();
    let k = suspended(a.resume::<(), i32>(a.cont_new(g).unwrap(), (), &[Handler::suspend(ta)]));
    assert_eq!(
        *seen.borrow(),
        [
            Some(TrapKind::Cancelled),
            Some(TrapKind::UnhandledTag),
            Some(TrapKind::UnhandledTag),
            Some(TrapKind::OtherStoreRunning),
            Some(TrapKind::UnhandledTag),
        ]
    );
    assert_eq!(
        a.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    // The refused resume left A's parked continuation as it was.
    assert_eq!(a.state(parked_in_a), Some(State::Suspended));
    assert_eq!(a.drop_cont(parked_in_a), Ok(()));
    assert_eq!(a.outstanding_stacks(), 0);
    kernel_side_clean(&a);
}

#[test]
fn dropping_the_store_cancels_a_continuation_a_cancellation_left_in_a_recycled_record() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let lives = Frames::default();
    let l = lives.clone();
    let holder = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _mine = l.enter();
            s.suspend::<(), ()>(t, ())
        })
        .unwrap();
    let ret = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let filler = s.cont_new(ret).unwrap(); // record 0
    let g = parked(&s, t, move |s, _cancelled| {
        // Cancelled by the store's drop: start another continuation (it
        // takes the free record 0) and leave it suspended.
        let n = s.cont_new(holder)?;
        let _ = s.resume::<(), ()>(n, (), &[Handler::suspend(t)])?;
        Ok(0)
    }); // record 1
    assert_eq!(s.drop_cont(filler), Ok(())); // record 0 is free
    assert_eq!(s.state(g), Some(State::Suspended));
    assert_eq!(lives.live(), 0);
    drop(s);
    assert_eq!(lives.live(), 0);
}

#[test]
fn dropping_the_store_while_a_guest_holding_a_typed_handle_is_suspended_under_an_inner_continuation_does_not_crash()
 {
    let lives = Frames::default();
    let s = store();
    let yld = Tag::<(), ()>::new(&s).unwrap();
    let out = Tag::<(), ()>::new(&s).unwrap();
    let l = lives.clone();
    let task = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, ())
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let inner = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        out.suspend(s, ())
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let guest = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        let _task = typed_kept(s, task, yld)?; // record 1, typed, in this frame
        // Record 2: suspends to the kernel through this guest (no handler
        // here), so the segment record 2 .. record 0 is suspended.
        match Cont::new(s, inner)?.resume((), &[])? {
            Resumed::Returned(()) | Resumed::Suspended(_) => Ok(()),
        }
    })
    .unwrap();
    let k = Cont::new(&s, guest).unwrap(); // record 0
    let ((), segment) = typed_suspension(k.resume((), &[out.on()]))
        .take(out)
        .unwrap();
    // The kernel leaves the segment to the store (a raw handle never drops).
    let _ = segment.into_raw();
    assert_eq!((s.outstanding_stacks(), lives.live()), (3, 3));
    drop(s);
    assert_eq!(lives.live(), 0);
}

#[test]
fn a_typed_handle_outlived_by_its_cancelled_continuation_cannot_forge_a_handle_in_a_recycled_record()
 {
    let s = store();
    let out = Tag::<(), ()>::new(&s).unwrap();
    let yv = Tag::<(), u128>::new(&s).unwrap();
    let forged_seen: Rc<Cell<Option<(bool, u64)>>> = Rc::new(Cell::new(None));
    type Outcome = Option<(State, Option<TrapKind>)>;
    let outcome: Rc<Cell<Outcome>> = Rc::new(Cell::new(None));
    let fs = forged_seen.clone();
    let probe = Func::wrap(&s, move |_: &Store, k: ContObj| -> Result<(), Trap> {
        fs.set(Some((k.is_null(), k.revision())));
        Ok(())
    })
    .unwrap()
    .detach();
    let task = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        yv.suspend(s, ())?;
        Ok(())
    })
    .unwrap()
    .detach();
    let inner = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        out.suspend(s, ())
    })
    .unwrap()
    .detach();
    let oc = outcome.clone();
    let guest = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        // Record 1: typed, expects a v128.
        let k: Cont<'_, u128, ()> = match Cont::new(s, task)?.resume((), &[yv.on()])? {
            Resumed::Suspended(susp) => susp.take(yv)?.1,
            Resumed::Returned(()) => return Ok(()),
        };
        // Record 2 suspends to the kernel through this guest.
        let r = Cont::new(s, inner)?.resume((), &[]).map(|_| ());
        if r.is_ok() {
            return Ok(());
        }
        // Cancelled by the store's drop, after `k`'s continuation was.
        let state = k.state();
        // The free list holds record 2 (`inner`, just ended), then record
        // 1 (`k`'s): the second of these takes `k`'s record.
        let spare = Cont::new(s, probe)?;
        let n = Cont::new(s, probe)?;
        let forged: u128 = (0xdead_beef_u128 << 64) | 0x10;
        let r = k.resume(forged, &[]);
        oc.set(Some((state, kind_of(r.map(|_| ())))));
        let _ = (spare.into_raw(), n.into_raw());
        Ok(())
    })
    .unwrap();
    let g = Cont::new(&s, guest).unwrap(); // record 0
    let ((), g) = typed_suspension(g.resume((), &[out.on()]))
        .take(out)
        .unwrap();
    let _ = g.into_raw();
    drop(s);
    // The probe must never run with the bits of a v128 as its handle.
    assert_eq!(forged_seen.get(), None);
    assert_eq!(
        outcome.get().map(|(_, r)| r),
        Some(Some(TrapKind::ConsumedContinuation))
    );
}

/// The closures a store's functions hold are dropped, when the store
/// drops, on one of its own stacks (a drop there is guest code, and a
/// panic in it must be a trap, not a kernel panic: the in-kernel test
/// `a_guest_function_whose_captured_value_panics_on_drop_is_a_trap_when_the_kernel_drops_the_store`
/// shows that; here a guest panic would abort the test binary). One of
/// them owns a second store with a suspended guest: that store drops inside
/// the first one's dropping continuation, sets it aside, and cancels its
/// guest there (its frame unwound); the closures defined before and after
/// it are dropped too.
#[test]
fn a_closure_dropped_with_its_store_may_drop_another_store_whose_guest_is_then_cancelled() {
    let lives = Frames::default();
    let counted = Rc::new(3i32);
    let inner = store();
    let t = inner.tag_new(&[], &[]).unwrap();
    parked_holding(&inner, t, Some(&lives), |_, r| r.map(|()| 0));
    assert_eq!(lives.live(), 1);
    let s = store();
    let (before, after) = (counted.clone(), counted.clone());
    s.func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> { Ok(*before) })
        .unwrap();
    s.func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
        Ok(i32::from(inner.in_continuation()))
    })
    .unwrap();
    s.func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> { Ok(*after) })
        .unwrap();
    assert_eq!(Rc::strong_count(&counted), 3);
    drop(s);
    assert_eq!(lives.live(), 0);
    assert_eq!(Rc::strong_count(&counted), 1);
}
