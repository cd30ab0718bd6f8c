//! Traps travel one parent at a time: a trap deep in a chain reaches the
//! kernel through every frame, a catcher in the middle ends only the
//! frames below it, and every destructor runs on the way.

use super::*;

/// A chain `depth` deep in which the innermost traps; the guest `catch_at`
/// levels above it turns the trap into 100, the others pass it on with `?`
/// or add one to what they got.
fn deep_chain(
    s: &Store,
    lives: &Frames,
    depth: i32,
    catch_at: i32,
) -> Result<dynamic::Resumed<i32>, Trap> {
    let me: Rc<Cell<Option<dynamic::Func>>> = Rc::new(Cell::new(None));
    let (m, l) = (me.clone(), lives.clone());
    let f = s
        .func_wrap(move |s: &Store, d: i32| -> Result<i32, Trap> {
            let _mine = l.enter();
            if d == 0 {
                return Err(Trap::guest("the innermost gives up"));
            }
            let f = m.get().ok_or(Trap::guest("no function"))?;
            let k = s.cont_new(f)?;
            match s.resume::<i32, i32>(k, d - 1, &[]) {
                Ok(dynamic::Resumed::Returned(v)) => Ok(v + 1),
                Ok(dynamic::Resumed::Suspended { .. }) => Ok(-1000),
                Err(t) if d == catch_at && t.kind() == TrapKind::Guest => Ok(100),
                Err(t) => Err(t),
            }
        })
        .unwrap();
    me.set(Some(f));
    s.resume::<i32, i32>(s.cont_new(f).unwrap(), depth, &[])
}

#[test]
fn a_trap_twenty_deep_reaches_the_kernel_through_every_frame_and_every_destructor_runs() {
    let s = store();
    let lives = Frames::default();
    let trap = deep_chain(&s, &lives, 20, -1).unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::Guest, "the innermost gives up")
    );
    assert_ne!(trap.origin(), 0);
    assert_eq!(lives.live(), 0);
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_trap_handled_in_the_middle_of_a_twenty_deep_chain_ends_only_the_frames_below_it() {
    let s = store();
    let lives = Frames::default();
    // Levels 1..=9 pass the trap on, level 10 turns it into 100, levels
    // 11..=20 add one each.
    assert_eq!(
        deep_chain(&s, &lives, 20, 10),
        Ok(dynamic::Resumed::Returned(110))
    );
    assert_eq!(lives.live(), 0);
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_guest_that_traps_holding_a_typed_suspended_segment_cancels_it_on_the_way_out() {
    let s = store();
    let lives = Frames::default();
    let yld = Tag::<(), ()>::new(&s).unwrap();
    let l = lives.clone();
    let innermost = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, ())
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let middle = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        // No handler: the innermost suspend passes by, two stacks suspend.
        match Cont::new(s, innermost)?.resume((), &[])? {
            Resumed::Returned(()) => Ok(()),
            Resumed::Suspended(_) => Err(Trap::guest("no handler here")),
        }
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let outer = Func::wrap(&s, move |s: &Store, (): ()| -> Result<i32, Trap> {
        let _mine = l.enter();
        let susp = match Cont::new(s, middle)?.resume((), &[yld.on()])? {
            Resumed::Suspended(susp) => susp,
            Resumed::Returned(()) => return Ok(-1),
        };
        let ((), _segment) = susp.take(yld)?;
        if s.outstanding_stacks() != 3 {
            return Ok(-2);
        }
        Err(Trap::guest("outer gives up holding a suspended segment"))
    })
    .unwrap();
    let r = Cont::new(&s, outer).unwrap().resume((), &[]);
    let trap = match r {
        Err(t) => t,
        Ok(Resumed::Returned(v)) => panic!("expected a trap, returned {v}"),
        Ok(Resumed::Suspended(_)) => panic!("expected a trap, suspended"),
    };
    assert_eq!(trap.message(), "outer gives up holding a suspended segment");
    assert_eq!((lives.live(), s.outstanding_stacks()), (0, 0));
    kernel_side_clean(&s);
}

#[test]
fn a_suspended_segment_whose_dynamic_handle_died_with_a_trapped_guest_is_cancelled_by_the_store_drop()
 {
    let s = store();
    let lives = Frames::default();
    let t = s.tag_new(&[], &[]).unwrap();
    let l = lives.clone();
    let innermost = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _mine = l.enter();
            s.suspend::<(), ()>(t, ())
        })
        .unwrap();
    let l = lives.clone();
    let middle = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _mine = l.enter();
            s.resume::<(), ()>(s.cont_new(innermost)?, (), &[])
                .map(|_| ())
        })
        .unwrap();
    let l = lives.clone();
    let outer = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _mine = l.enter();
            let k = s.cont_new(middle)?;
            let _handle = s.resume::<(), ()>(k, (), &[Handler::suspend(t)])?;
            Err(Trap::guest("dropped on the floor"))
        })
        .unwrap();
    let trap = s.resume::<(), ()>(s.cont_new(outer).unwrap(), (), &[]);
    assert_eq!(kind_of(trap), Some(TrapKind::Guest));
    // The segment innermost..middle is still suspended: nobody holds its
    // handle any more, so only the store's drop can end it.
    assert_eq!((lives.live(), s.outstanding_stacks()), (2, 2));
    kernel_side_clean(&s);
    drop(s);
    assert_eq!(lives.live(), 0);
}
