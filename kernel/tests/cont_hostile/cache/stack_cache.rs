//! The store's stack cache (`STACK_CACHE`, `Store::release`) under
//! attack: bursts, cancellations deep in recursion, argument counts that
//! change between uses, and guests of one store filling another's cache.
//! Both counts (stacks out, stacks cached) must stay exact.

use super::*;

/// `STACK_CACHE + 1` continuations end: the first `STACK_CACHE` keep their
/// stacks, the last gives its stack back, and its (now stackless) record is
/// the newest on the free list. The next `cont.new` must still take a
/// cached stack, not ask the provider for a new one while four sit idle.
#[test]
fn after_more_than_stack_cache_continuations_end_the_next_cont_new_takes_a_cached_stack() {
    let s = store();
    let f = where_i_ran(&s);
    let ks: Vec<ContObj> = (0..=STACK_CACHE).map(|_| s.cont_new(f).unwrap()).collect();
    let tops: Vec<usize> = ks.iter().map(|&k| s.stack_top(k).unwrap()).collect();
    for k in ks {
        let _: i64 = returned(s.resume(k, (), &[]));
    }
    assert_eq!(counts(&s), (0, STACK_CACHE));
    let k = s.cont_new(f).unwrap();
    assert_eq!(counts(&s), (1, STACK_CACHE - 1));
    let top = s.stack_top(k).unwrap();
    assert!(
        tops[..STACK_CACHE].contains(&top),
        "{top:#x} is a new stack"
    );
    let _: i64 = returned(s.resume(k, (), &[]));
    assert_eq!(counts(&s), (0, STACK_CACHE));
}

/// After a burst that overfilled the cache, continuations made and ended
/// one at a time run on the cached stacks only, every time.
#[test]
fn one_at_a_time_continuations_after_a_burst_run_on_the_cached_stacks_only() {
    let s = store();
    let f = where_i_ran(&s);
    let ks: Vec<ContObj> = (0..STACK_CACHE + 3)
        .map(|_| s.cont_new(f).unwrap())
        .collect();
    let tops: Vec<usize> = ks.iter().map(|&k| s.stack_top(k).unwrap()).collect();
    for k in ks {
        s.drop_cont(k).unwrap();
    }
    let mut used = Vec::new();
    for _ in 0..20 {
        let k = s.cont_new(f).unwrap();
        used.push(s.stack_top(k).unwrap());
        let _: i64 = returned(s.resume(k, (), &[]));
        assert_eq!(counts(&s), (0, STACK_CACHE));
    }
    // The newest cached stack (the last kept) is taken each time.
    assert_eq!(used, vec![tops[STACK_CACHE - 1]; 20]);
}

/// The stack of a function with twelve `i64` params (the biggest header a
/// tuple makes) is cached and reused by a function with none and twelve
/// results, then by the twelve-param one again: each header is written
/// afresh for its own size, and every value arrives.
#[test]
fn a_stack_cached_from_a_twelve_argument_function_runs_a_twelve_result_one_and_back() {
    type Twelve = (i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64, i64);
    let s = store();
    let sum = s
        .func_wrap(|_, a: Twelve| {
            Ok(a.0 + a.1 + a.2 + a.3 + a.4 + a.5 + a.6 + a.7 + a.8 + a.9 + a.10 + a.11)
        })
        .unwrap();
    let make = s
        .func_wrap(|_, ()| -> Result<Twelve, Trap> { Ok((1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)) })
        .unwrap();
    let args: Twelve = (1, 10, 100, 1000, 2, 20, 200, 2000, 3, 30, 300, 3000);
    let k = s.cont_new(sum).unwrap();
    let top = s.stack_top(k).unwrap();
    assert_eq!(returned::<i64>(s.resume(k, args, &[])), 6666);
    let k = s.cont_new(make).unwrap();
    assert_eq!(s.stack_top(k), Some(top));
    let made: Twelve = returned(s.resume(k, (), &[]));
    assert_eq!(made, (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12));
    let k = s.cont_new(sum).unwrap();
    assert_eq!(s.stack_top(k), Some(top));
    assert_eq!(returned::<i64>(s.resume(k, made, &[])), 78);
}

/// Recursion `depth` levels deep, 2 KiB a level, that suspends at the
/// bottom and then adds up what each level kept.
fn deep(s: &Store, t: Tag, depth: u32) -> Result<i64, Trap> {
    let mut pad = [depth as u8; 2048];
    black_box(&mut pad);
    let below = if depth == 0 {
        park(s, t)?;
        0
    } else {
        deep(s, t, depth - 1)?
    };
    Ok(below + pad[2047] as i64)
}

/// The suspend at the bottom of `deep`, in a frame of its own: inlined
/// into `deep`, an unoptimised build gives every level the suspend's
/// locals too (about 5 KiB), and the depth would measure that instead.
#[inline(never)]
fn park(s: &Store, t: Tag) -> Result<(), Trap> {
    s.suspend::<(), ()>(t, ())
}

/// A continuation suspended at the bottom of 8 levels of recursion (18 KiB
/// of its 64 KiB in the nine levels' arrays, about 45 KiB of frames in an
/// unoptimised build) is cancelled: its frames return,
/// its stack is cached. The next continuation on that stack recurses as
/// deep and adds up the same values: nothing the first left there leaks
/// into the second.
#[test]
fn a_stack_left_by_a_continuation_cancelled_deep_in_recursion_serves_the_same_recursion_again() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let f = s
        .func_wrap(move |s: &Store, depth: i32| deep(s, t, depth as u32))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let top = s.stack_top(k).unwrap();
    let k = suspended(s.resume::<i32, i64>(k, 8, &[Handler::suspend(t)]));
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(counts(&s), (0, 1));
    let k = s.cont_new(f).unwrap();
    assert_eq!(s.stack_top(k), Some(top));
    let k = suspended(s.resume::<i32, i64>(k, 8, &[Handler::suspend(t)]));
    // Levels 8..=1 keep their depth; level 0 keeps 0: 8 * 9 / 2.
    assert_eq!(returned::<i64>(s.resume(k, (), &[])), 36);
    assert_eq!(counts(&s), (0, 1));
}

/// Every way a continuation can end gives its stack to the cache, and the
/// two counts are exact after each step: return, trap, cancellation of a
/// suspended one, drop of a fresh one, an exception thrown into a
/// suspended one and into a fresh one, a switch target's return, and the
/// drop of the segment it switched out.
#[test]
fn outstanding_and_cached_counts_are_exact_after_every_way_a_continuation_ends() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let ret = s.func_wrap(|_, ()| Ok(1i32)).unwrap();
    let bad = s
        .func_wrap(|_, ()| -> Result<i32, Trap> { Err(Trap::guest("bad")) })
        .unwrap();
    let park = parks_once(&s, t);
    assert_eq!(counts(&s), (0, 0));

    let k = s.cont_new(ret).unwrap();
    assert_eq!(counts(&s), (1, 0));
    assert_eq!(returned::<i32>(s.resume(k, (), &[])), 1);
    assert_eq!(counts(&s), (0, 1), "returned");

    let k = s.cont_new(bad).unwrap();
    assert_eq!(counts(&s), (1, 0));
    assert_eq!(
        kind_of(s.resume::<(), i32>(k, (), &[])),
        Some(TrapKind::Guest)
    );
    assert_eq!(counts(&s), (0, 1), "trapped");

    let k = s.cont_new(park).unwrap();
    let k = suspended(s.resume::<(), ()>(k, (), &[Handler::suspend(t)]));
    assert_eq!(counts(&s), (1, 0));
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(counts(&s), (0, 1), "cancelled");

    let k = s.cont_new(ret).unwrap();
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(counts(&s), (0, 1), "fresh dropped");

    let k = s.cont_new(park).unwrap();
    let k = suspended(s.resume::<(), ()>(k, (), &[Handler::suspend(t)]));
    let r = s.resume_throw::<i32, ()>(k, exn, 7, &[]);
    assert_eq!(kind_of(r), Some(TrapKind::Exception { tag: exn.id() }));
    assert_eq!(counts(&s), (0, 1), "thrown into while suspended");

    let k = s.cont_new(ret).unwrap();
    let r = s.resume_throw::<i32, i32>(k, exn, 7, &[]);
    assert_eq!(kind_of(r), Some(TrapKind::Exception { tag: exn.id() }));
    assert_eq!(counts(&s), (0, 1), "thrown into while fresh");

    let sw = s.tag_new(&[], &[]).unwrap();
    let kept = Rc::new(Cell::new(ContObj::NULL));
    let kept_in = kept.clone();
    let target = s
        .func_wrap(move |_, prev: ContObj| {
            kept_in.set(prev);
            Ok(())
        })
        .unwrap();
    let kt = s.cont_new(target).unwrap();
    let switcher = s
        .func_wrap(move |s: &Store, ()| s.switch::<(), ()>(kt, sw, ()))
        .unwrap();
    let k = s.cont_new(switcher).unwrap();
    assert_eq!(counts(&s), (2, 0));
    returned::<()>(s.resume(k, (), &[Handler::switch(sw)]));
    assert_eq!(counts(&s), (1, 1), "switch target returned");
    assert_eq!(s.state(kept.get()), Some(State::Suspended));
    assert_eq!(s.drop_cont(kept.get()), Ok(()));
    assert_eq!(counts(&s), (0, 2), "switched-out segment dropped");
}

/// A segment of three continuations (kernel > A > B > C, C suspends past
/// both to the kernel) is cancelled: C returns to B, B to A, A to the
/// drop, each putting its stack in the cache as it ends. The next three
/// `cont.new`s take them newest first: A's, then B's, then C's.
#[test]
fn cancelling_a_three_level_segment_caches_its_stacks_and_hands_them_out_outermost_first() {
    let s = shared();
    let t = s.tag_new(&[], &[]).unwrap();
    let tops: Rc<RefCell<Vec<usize>>> = Rc::default();
    let lives = Frames::default();
    let (tc, l) = (tops.clone(), lives.clone());
    let c = s
        .func_wrap(move |s: &Store, ()| {
            let _f = l.enter();
            s.suspend::<(), ()>(t, ())
        })
        .unwrap();
    let level = |inner: Func, tops: Rc<RefCell<Vec<usize>>>, l: Frames| {
        s.func_wrap(move |s: &Store, ()| {
            let _f = l.enter();
            let k = s.cont_new(inner)?;
            tops.borrow_mut().push(s.stack_top(k).unwrap_or(0));
            match s.resume::<(), ()>(k, (), &[])? {
                Resumed::Returned(()) => Ok(()),
                Resumed::Suspended { .. } => Err(Trap::guest("no handler here")),
            }
        })
        .unwrap()
    };
    let b = level(c, tc.clone(), lives.clone());
    let a = level(b, tc, lives.clone());
    let ka = s.cont_new(a).unwrap();
    let top_a = s.stack_top(ka).unwrap();
    let seg = suspended(s.resume::<(), ()>(ka, (), &[Handler::suspend(t)]));
    let (top_b, top_c) = (tops.borrow()[0], tops.borrow()[1]);
    assert_eq!((lives.live(), counts(&s)), (3, (3, 0)));
    assert_eq!(s.drop_cont(seg), Ok(()));
    assert_eq!((lives.live(), counts(&s)), (0, (0, 3)));
    let f = where_i_ran(&s);
    let next: Vec<usize> = (0..3)
        .map(|_| s.stack_top(s.cont_new(f).unwrap()).unwrap())
        .collect();
    assert_eq!(next, [top_a, top_b, top_c]);
    assert_eq!(counts(&s), (3, 0));
}

/// A guest of store A makes continuations in store B (allowed: only
/// running them is refused while A's chain runs) and drops them fresh:
/// B's cache fills, B's counts stay exact, A's do not move, and B runs a
/// continuation on one of those stacks once A's chain is over.
#[test]
fn a_guest_of_store_a_filling_store_bs_cache_leaves_both_counts_exact() {
    let (a, b) = (shared(), shared());
    let fb = where_i_ran(&b);
    let bc = b.clone();
    let seen: Rc<RefCell<Vec<(usize, usize)>>> = Rc::default();
    let seen_in = seen.clone();
    let tops: Rc<RefCell<Vec<usize>>> = Rc::default();
    let tops_in = tops.clone();
    let g = a
        .func_wrap(move |a: &Store, ()| -> Result<i32, Trap> {
            let ks: Vec<ContObj> = (0..STACK_CACHE + 2)
                .map(|_| bc.cont_new(fb))
                .collect::<Result<_, _>>()?;
            for &k in &ks {
                tops_in.borrow_mut().push(bc.stack_top(k).unwrap_or(0));
            }
            seen_in.borrow_mut().push(counts(&bc));
            let refused = kind_of(bc.resume::<(), i64>(ks[0], (), &[]));
            for k in ks {
                bc.drop_cont(k)?;
            }
            seen_in.borrow_mut().push(counts(&bc));
            seen_in.borrow_mut().push(counts(a));
            Ok(if refused == Some(TrapKind::OtherStoreRunning) {
                1
            } else {
                0
            })
        })
        .unwrap();
    let k = a.cont_new(g).unwrap();
    assert_eq!(returned::<i32>(a.resume(k, (), &[])), 1);
    assert_eq!(
        *seen.borrow(),
        [(STACK_CACHE + 2, 0), (0, STACK_CACHE), (1, 0)]
    );
    assert_eq!((counts(&a), counts(&b)), ((0, 1), (0, STACK_CACHE)));
    let k = b.cont_new(fb).unwrap();
    assert!(tops.borrow()[..STACK_CACHE].contains(&b.stack_top(k).unwrap()));
    let at: i64 = returned(b.resume(k, (), &[]));
    assert!(
        tops.borrow()
            .iter()
            .any(|&t| (at as usize) < t && (at as usize) > t - STACK)
    );
}

/// A store holding cached stacks, a suspended chain and a suspended
/// switched-out segment is dropped: every frame is unwound.
#[test]
fn dropping_a_store_with_cached_stacks_and_suspended_chains_unwinds_every_frame() {
    let s = store();
    let lives = Frames::default();
    let t = s.tag_new(&[], &[]).unwrap();
    let sw = s.tag_new(&[], &[]).unwrap();
    let f = where_i_ran(&s);
    let ks: Vec<ContObj> = (0..=STACK_CACHE).map(|_| s.cont_new(f).unwrap()).collect();
    for k in ks {
        let _: i64 = returned(s.resume(k, (), &[]));
    }
    let l = lives.clone();
    let parked = s
        .func_wrap(move |s: &Store, ()| {
            let _f = l.enter();
            s.suspend::<(), ()>(t, ())
        })
        .unwrap();
    let k = s.cont_new(parked).unwrap();
    let _kept = suspended(s.resume::<(), ()>(k, (), &[Handler::suspend(t)]));
    let target = s.func_wrap(|_, _prev: ContObj| Ok(())).unwrap();
    let kt = s.cont_new(target).unwrap();
    let l = lives.clone();
    let switcher = s
        .func_wrap(move |s: &Store, ()| {
            let _f = l.enter();
            s.switch::<(), ()>(kt, sw, ())
        })
        .unwrap();
    let k = s.cont_new(switcher).unwrap();
    returned::<()>(s.resume(k, (), &[Handler::switch(sw)]));
    assert_eq!((lives.live(), counts(&s)), (2, (2, STACK_CACHE - 2)));
    drop(s);
    assert_eq!(lives.live(), 0);
}

/// A suspended typed continuation of store A is dropped inside a guest of
/// store B: A cannot cancel it then (stores do not nest) and keeps the
/// handle. A's next `cont.new` cancels it first (its frame unwinds), which
/// puts its stack in A's cache, and then takes that very stack.
#[test]
fn a_deferred_drop_flushed_by_cont_new_hands_its_stack_to_that_very_cont_new() {
    let (a, b) = (shared(), shared());
    let lives = Frames::default();
    let yld = typed::Tag::<(), ()>::new(&a).unwrap();
    let l = lives.clone();
    let f = typed::Func::wrap(&a, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, ())
    })
    .unwrap();
    let raw = match Cont::new(&a, f).unwrap().resume((), &[yld.on()]).unwrap() {
        typed::Resumed::Suspended(susp) => susp.take(yld).unwrap().1.into_raw(),
        typed::Resumed::Returned(()) => panic!("returned"),
    };
    let parked_top = a.stack_top(raw).unwrap();
    let a2 = a.clone();
    let g = b
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            drop(Cont::<'_, (), ()>::from_raw(&a2, raw)?);
            Ok(0)
        })
        .unwrap();
    assert_eq!(
        returned::<i32>(b.resume(b.cont_new(g).unwrap(), (), &[])),
        0
    );
    assert_eq!((lives.live(), counts(&a)), (1, (1, 0)));
    let k = a.cont_new(where_i_ran(&a)).unwrap();
    assert_eq!((lives.live(), counts(&a)), (0, (1, 0)));
    assert_eq!(a.stack_top(k), Some(parked_top));
    let at: i64 = returned(a.resume(k, (), &[]));
    assert!((at as usize) < parked_top && (at as usize) > parked_top - STACK);
    drop(b);
}
