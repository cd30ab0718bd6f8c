//! Kernel locks forgotten in every position (`mem::forget` of a guard is
//! safe code): a guest holding one cannot suspend, resume, switch or drop,
//! the count ends at zero, and a typed handle whose cancellation was
//! refused for a held lock is not stranded.

use super::*;

#[test]
fn a_guest_that_forgets_a_lock_then_suspends_gets_lock_held_and_the_kernel_count_ends_at_zero() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let l = leaked_lock("forgotten before suspend");
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            core::mem::forget(l.lock());
            let r = s.suspend::<(), ()>(t, ());
            sn.set(r.err().map(|t| (t.kind(), t.message(), held())));
            Ok(7)
        })
        .unwrap();
    let trap = s
        .resume::<(), i32>(s.cont_new(f).unwrap(), (), &[Handler::suspend(t)])
        .unwrap_err();
    assert_eq!(
        seen.get(),
        Some((TrapKind::LockHeld, "forgotten before suspend", 1))
    );
    // It then returned holding the lock: that traps too.
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "forgotten before suspend")
    );
    assert!(l.is_locked());
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_guest_that_forgets_a_lock_cannot_resume_switch_or_drop_and_what_it_refused_stays_whole() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let sw = s.tag_new(&[], &[]).unwrap();
    let l = leaked_lock("forgotten in a guest");
    let target_f = s
        .func_wrap(|_: &Store, _k: ContObj| -> Result<i32, Trap> { Ok(3) })
        .unwrap();
    let target = s.cont_new(target_f).unwrap();
    let victim = parked(&s, t, |_, r| r.map(|()| 4));
    let seen: Rc<RefCell<Vec<Option<TrapKind>>>> = Rc::new(RefCell::new(Vec::new()));
    let v = seen.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            core::mem::forget(l.lock());
            let mut v = v.borrow_mut();
            v.push(kind_of(s.resume::<ContObj, i32>(
                target,
                ContObj::NULL,
                &[],
            )));
            v.push(kind_of(s.switch::<(), ()>(target, sw, ())));
            v.push(kind_of(s.drop_cont(victim)));
            v.push(kind_of(s.resume_throw::<(), i32>(victim, t, (), &[])));
            Err(Trap::guest("gives up holding a forgotten lock"))
        })
        .unwrap();
    let hs = [Handler::switch(sw)];
    let trap = s
        .resume::<(), i32>(s.cont_new(f).unwrap(), (), &hs)
        .unwrap_err();
    assert_eq!(trap.message(), "gives up holding a forgotten lock");
    assert_eq!(*seen.borrow(), [Some(TrapKind::LockHeld); 4]);
    kernel_side_clean(&s);
    assert_eq!(
        (s.state(target), s.state(victim)),
        (Some(State::Fresh), Some(State::Suspended))
    );
    assert_eq!(
        s.resume::<ContObj, i32>(target, ContObj::NULL, &[]),
        Ok(dynamic::Resumed::Returned(3))
    );
    assert_eq!(
        s.resume::<(), i32>(victim, (), &[]),
        Ok(dynamic::Resumed::Returned(4))
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn an_inner_continuation_that_returns_holding_a_lock_traps_to_its_resumer_which_then_runs_clean() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let l = leaked_lock("forgotten by the inner guest");
    let inner = s
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            core::mem::forget(l.lock());
            Ok(())
        })
        .unwrap();
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    let outer = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let r = s.resume::<(), ()>(s.cont_new(inner)?, (), &[]);
            sn.set(r.err().map(|t| (t.kind(), t.message(), held())));
            // Counted clean again: it may suspend.
            s.suspend::<(), ()>(t, ())?;
            Ok(5)
        })
        .unwrap();
    let k = suspended(s.resume::<(), i32>(s.cont_new(outer).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(
        seen.get(),
        Some((TrapKind::LockHeld, "forgotten by the inner guest", 0))
    );
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(5))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_forgets_a_lock_makes_its_drop_return_lock_held_with_the_count_at_zero() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let l = leaked_lock("forgotten while cancelled");
    let k = parked(&s, t, move |_, _| {
        core::mem::forget(l.lock());
        Ok(0)
    });
    let trap = s.drop_cont(k).unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "forgotten while cancelled")
    );
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
    // The same guest cancelled by the store's drop: nothing escapes.
    let l2 = leaked_lock("forgotten while the store drops");
    let _k = parked(&s, t, move |_, _| {
        core::mem::forget(l2.lock());
        Ok(0)
    });
    drop(s);
    assert_eq!(held(), 0);
    assert!(l2.is_locked());
}

#[test]
fn kernel_code_that_forgets_a_lock_is_refused_every_switch_but_nothing_crashes() {
    // A thread of its own: the forgotten lock stays counted on it for good.
    std::thread::spawn(|| {
        let s = store();
        let t = s.tag_new(&[], &[]).unwrap();
        let lives = Frames::default();
        let k = parked_holding(&s, t, Some(&lives), |_, r| r.map(|()| 1));
        let f = s
            .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(2) })
            .unwrap();
        let fresh = s.cont_new(f).unwrap();
        let lock = leaked_lock("forgotten by the kernel");
        core::mem::forget(lock.lock());
        assert_eq!(held(), 1);
        let trap = s.resume::<(), i32>(fresh, (), &[]).unwrap_err();
        assert_eq!(
            (trap.kind(), trap.message()),
            (TrapKind::LockHeld, "forgotten by the kernel")
        );
        assert_eq!(kind_of(s.drop_cont(k)), Some(TrapKind::LockHeld));
        assert_eq!(
            kind_of(s.resume_throw::<(), i32>(k, t, (), &[])),
            Some(TrapKind::LockHeld)
        );
        assert_eq!(
            (s.state(k), s.state(fresh)),
            (Some(State::Suspended), Some(State::Fresh))
        );
        // A fresh continuation is freed without running anything.
        assert_eq!(s.drop_cont(fresh), Ok(()));
        assert_eq!(s.outstanding_stacks(), 1);
        // The drop of the store cannot cancel `k` either (documented: its
        // frames are abandoned), but frees its stack without crashing.
        drop(s);
        assert_eq!(lives.live(), 1);
        assert_eq!(held(), 1);
    })
    .join()
    .unwrap();
}

#[test]
fn a_guard_kept_past_its_guests_trap_cannot_uncount_a_lock_the_kernel_holds() {
    let s = store();
    let stashed = leaked_lock("stashed by a guest");
    let kernels = leaked_lock("held by the kernel");
    let stash: Rc<RefCell<Option<MutexGuard<'static, ()>>>> = Rc::new(RefCell::new(None));
    let st = stash.clone();
    let keeper = s
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            *st.borrow_mut() = Some(stashed.lock());
            Ok(())
        })
        .unwrap();
    let trap = s
        .resume::<(), ()>(s.cont_new(keeper).unwrap(), (), &[])
        .unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "stashed by a guest")
    );
    assert_eq!(held(), 0);
    let guard = kernels.lock();
    assert_eq!(held(), 1);
    drop(stash.borrow_mut().take()); // releases "stashed by a guest"
    assert_eq!(held(), 1, "the kernel still holds its lock");
    let probe = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(1) })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(probe).unwrap(), (), &[]);
    assert_eq!(
        r.map_err(|t| (t.kind(), t.message())),
        Err((TrapKind::LockHeld, "held by the kernel"))
    );
    drop(guard);
}

#[test]
fn a_typed_resume_refused_for_a_held_lock_does_not_strand_the_continuation() {
    let s = store();
    let f = Func::wrap(&s, |_: &Store, (): ()| -> Result<i32, Trap> { Ok(1) }).unwrap();
    let k = Cont::new(&s, f).unwrap();
    let lock = Mutex::new("held across a typed resume", ());
    let guard = lock.lock();
    let r = k.resume((), &[]).map(|_| ());
    assert_eq!(kind_of(r), Some(TrapKind::LockHeld));
    drop(guard);
    assert_eq!(s.outstanding_stacks(), 0);
}

/// Dropped while a kernel lock is held, a suspended typed handle cannot be
/// cancelled then (the guest would run under the lock): the store keeps it
/// and cancels it at its next `cont.new`, so nothing stays out for good.
#[test]
fn dropping_a_suspended_typed_cont_while_holding_a_lock_cancels_it_at_the_next_cont_new() {
    let s = store();
    let lives = Frames::default();
    let yld = Tag::<(), ()>::new(&s).unwrap();
    let l = lives.clone();
    let f = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, ())
    })
    .unwrap();
    let k = typed_kept(&s, f, yld).unwrap();
    let lock = Mutex::new("held across a typed drop", ());
    let guard = lock.lock();
    drop(k);
    drop(guard);
    assert_eq!((s.outstanding_stacks(), lives.live()), (1, 1));
    let next = Cont::new(&s, f).unwrap();
    assert_eq!((s.outstanding_stacks(), lives.live()), (1, 0));
    drop(next);
    assert_eq!(s.outstanding_stacks(), 0);
}

/// A continuation of `a` suspended at a typed tag, as a raw handle, and a
/// guest of `b` that takes it over with the typed door and drops it.
fn typed_cont_of_a_dropped_in_a_guest_of_b(
    a: &Rc<Pin<Box<Store>>>,
    b: &Rc<Pin<Box<Store>>>,
    lives: &Frames,
) -> (ContObj, Option<TrapKind>) {
    let yld = Tag::<(), ()>::new(a).unwrap();
    let l = lives.clone();
    let f = Func::wrap(a, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, ())
    })
    .unwrap();
    let raw = typed_kept(a, f, yld).unwrap().into_raw();
    let a2 = a.clone();
    let g = b
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let k = Cont::<'_, (), ()>::from_raw(&a2, raw)?;
            drop(k); // store B's chain runs: A cannot cancel now
            Ok(0)
        })
        .unwrap();
    let r = b.resume::<(), i32>(b.cont_new(g).unwrap(), (), &[]);
    (raw, kind_of(r))
}

#[test]
fn a_typed_cont_of_store_a_dropped_inside_a_guest_of_store_b_crashes_nothing_and_a_drop_ends_it() {
    let (a, b) = (shared(), shared());
    let lives = Frames::default();
    let (raw, trap) = typed_cont_of_a_dropped_in_a_guest_of_b(&a, &b, &lives);
    assert_eq!(trap, None);
    assert_eq!(a.state(raw), Some(State::Consumed));
    kernel_side_clean(&a);
    kernel_side_clean(&b);
    assert_eq!(b.outstanding_stacks(), 0);
    // B's guest holds an Rc of A: drop B first, then A cancels what the
    // refused drop left behind.
    drop(b);
    drop(a);
    assert_eq!(lives.live(), 0);
}

/// Dropped inside a guest of another store, a typed handle of store A
/// cannot be cancelled then (stores do not nest): A keeps it and cancels
/// it at its next `cont.new`.
#[test]
fn a_typed_cont_of_store_a_dropped_inside_a_guest_of_store_b_is_cancelled_at_as_next_cont_new() {
    let (a, b) = (shared(), shared());
    let lives = Frames::default();
    let _ = typed_cont_of_a_dropped_in_a_guest_of_b(&a, &b, &lives);
    assert_eq!((a.outstanding_stacks(), lives.live()), (1, 1));
    let f = a
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .unwrap();
    let k = a.cont_new(f).unwrap();
    assert_eq!((a.outstanding_stacks(), lives.live()), (1, 0));
    assert_eq!(a.drop_cont(k), Ok(()));
    assert_eq!(a.outstanding_stacks(), 0);
}
