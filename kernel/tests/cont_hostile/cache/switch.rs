//! `switch` through `switch_through`: segments handed to a switch target,
//! rings of switching continuations, and targets that trap or drop what
//! switched to them. Nothing may be stranded or counted twice.

use super::*;

/// kernel > G > H, with the switch handler on the kernel's resume of G. H
/// switches to a fresh X, which takes G's place under the kernel and gets
/// the handle of the suspended segment H..G. X resumes it: H's switch
/// returns the value X sent, H returns, G gets that return from its own
/// resume and returns to X, and X returns to the kernel.
#[test]
fn a_switch_two_levels_below_its_handler_hands_the_target_a_segment_it_can_finish() {
    let s = shared();
    let sw = s.tag_new(&[], &[]).unwrap();
    let x = s
        .func_wrap(move |s: &Store, seg: ContObj| -> Result<i32, Trap> {
            let from_g: i32 = match s.resume::<i32, i32>(seg, 4, &[])? {
                Resumed::Returned(v) => v,
                Resumed::Suspended { .. } => -1,
            };
            Ok(from_g + 1)
        })
        .unwrap();
    let kx = s.cont_new(x).unwrap();
    let h = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let got: i32 = s.switch::<(), i32>(kx, sw, ())?;
            Ok(got + 1)
        })
        .unwrap();
    let g = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let kh = s.cont_new(h)?;
            match s.resume::<(), i32>(kh, (), &[])? {
                Resumed::Returned(v) => Ok(v * 10),
                Resumed::Suspended { .. } => Ok(-1),
            }
        })
        .unwrap();
    let kg = s.cont_new(g).unwrap();
    // H: 4 + 1 = 5; G: 50; X: 51.
    assert_eq!(
        returned::<i32>(s.resume(kg, (), &[Handler::switch(sw)])),
        51
    );
    assert_eq!(counts(&s), (0, 3));
}

/// Three continuations pass a counter round a ring with `switch`: A (under
/// the kernel's resume) starts B, B starts C, and from then on each
/// switches to the next one round the ring, which was itself suspended by
/// a switch, so every hand-off after the first two goes through a
/// suspended switch's context. Each keeps the handle it was given in a
/// shared table. The counter goes up by one per hand-off; at 300 the
/// holder (A) returns it, and the other two stay suspended.
#[test]
fn three_continuations_switching_in_a_ring_for_three_hundred_hand_offs_count_exactly() {
    let s = shared();
    let sw = s.tag_new(&[], &[]).unwrap();
    let table: Rc<RefCell<[ContObj; 3]>> = Rc::new(RefCell::new([ContObj::NULL; 3]));
    let hops: Rc<RefCell<Vec<i32>>> = Rc::default();
    let member = |me: usize| {
        let (table, hops) = (table.clone(), hops.clone());
        s.func_wrap(
            move |s: &Store, (mut n, mut prev): (i32, ContObj)| -> Result<i32, Trap> {
                loop {
                    hops.borrow_mut().push(me as i32);
                    // The one before us in the ring switched here: its
                    // slot gets the handle it left.
                    if !prev.is_null() {
                        table.borrow_mut()[(me + 2) % 3] = prev;
                    }
                    if n == 300 {
                        return Ok(n);
                    }
                    let next = table.borrow()[(me + 1) % 3];
                    (n, prev) = s.switch::<(i32,), (i32, ContObj)>(next, sw, (n + 1,))?;
                }
            },
        )
        .unwrap()
    };
    let (fa, fb, fc) = (member(0), member(1), member(2));
    {
        let mut tb = table.borrow_mut();
        tb[1] = s.cont_new(fb).unwrap();
        tb[2] = s.cont_new(fc).unwrap();
    }
    let ka = s.cont_new(fa).unwrap();
    let r = s.resume::<(i32, ContObj), i32>(ka, (0, ContObj::NULL), &[Handler::switch(sw)]);
    assert_eq!(returned::<i32>(r), 300);
    let hops = hops.borrow();
    assert_eq!(hops.len(), 301);
    assert!(hops.iter().enumerate().all(|(i, &m)| m == (i % 3) as i32));
    assert_eq!(counts(&s), (2, 1));
    let states: Vec<Option<State>> = table.borrow().iter().map(|&k| s.state(k)).collect();
    assert_eq!(
        states,
        [
            Some(State::Returned),
            Some(State::Suspended),
            Some(State::Suspended)
        ]
    );
}

/// A switch target traps: it alone ends (the kernel's resume gets its
/// trap), and the segment it replaced stays suspended, its handle lost
/// with the target; the store's drop cancels it and its frame unwinds.
#[test]
fn a_switch_target_that_traps_ends_alone_and_the_store_drop_unwinds_what_it_switched_out() {
    let s = store();
    let lives = Frames::default();
    let sw = s.tag_new(&[], &[]).unwrap();
    let target = s
        .func_wrap(|_, _prev: ContObj| -> Result<i32, Trap> { Err(Trap::guest("target fails")) })
        .unwrap();
    let kt = s.cont_new(target).unwrap();
    let l = lives.clone();
    let switcher = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let _f = l.enter();
            s.switch::<(), ()>(kt, sw, ())?;
            Ok(1)
        })
        .unwrap();
    let k = s.cont_new(switcher).unwrap();
    let r = s.resume::<(), i32>(k, (), &[Handler::switch(sw)]);
    assert_eq!(
        r.map_err(|t| (t.kind(), t.message())),
        Err((TrapKind::Guest, "target fails"))
    );
    assert_eq!(s.state(kt), Some(State::Trapped));
    assert_eq!((lives.live(), counts(&s)), (1, (1, 1)));
    assert!(!s.in_continuation());
    drop(s);
    assert_eq!(lives.live(), 0);
}

/// A switch target drops the segment that switched to it: that
/// continuation's pending switch returns `Cancelled`, its frame unwinds,
/// and the target goes on to return to the kernel.
#[test]
fn a_switch_target_that_drops_what_switched_to_it_unwinds_it_and_returns() {
    let s = store();
    let lives = Frames::default();
    let sw = s.tag_new(&[], &[]).unwrap();
    let cancelled_with: Rc<Cell<Option<TrapKind>>> = Rc::default();
    let target = s
        .func_wrap(|s: &Store, prev: ContObj| -> Result<i32, Trap> {
            s.drop_cont(prev)?;
            Ok(s.state(prev).map_or(-1, |st| st as i32))
        })
        .unwrap();
    let kt = s.cont_new(target).unwrap();
    let (l, cw) = (lives.clone(), cancelled_with.clone());
    let switcher = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let _f = l.enter();
            let r = s.switch::<(), ()>(kt, sw, ());
            cw.set(kind_of(r));
            Err(Trap::new(TrapKind::Cancelled, "passed on"))
        })
        .unwrap();
    let k = s.cont_new(switcher).unwrap();
    let r: i32 = returned(s.resume(k, (), &[Handler::switch(sw)]));
    assert_eq!(r, State::Dropped as i32);
    assert_eq!(cancelled_with.get(), Some(TrapKind::Cancelled));
    assert_eq!((lives.live(), counts(&s)), (0, (0, 2)));
}
