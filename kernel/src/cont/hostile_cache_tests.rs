//! Hostile tests, from safe code only, of five recent changes: the store's
//! stack cache (`STACK_CACHE`, `Store::release`), `State::Parent` derived
//! by `Store::state` instead of written, `switch` through `switch_through`,
//! the list of live stores (`registry`), and trap reports kept beside the
//! trap (`trace`, `report`). Each test is one attempt to make one of them
//! strand a stack, miscount, report a wrong state, lose a value or walk a
//! store that is gone; its name states what must hold, and it checks exact
//! values. The in-kernel half, for what needs the kernel's own stacks
//! (guard pages, demand paging, the pool), is `tests/hostile.rs`.
//!
//! As in `hostile_tests`, guests never panic (a panic cannot cross the
//! `extern "C"` shim on the host): they report through `Cell`s.
#![forbid(unsafe_code)]

use crate::cont::Cont;
use crate::cont::dynamic::{ContObj, Func, Handler, Resumed, Tag};
use crate::cont::{MmapStacks, STACK_CACHE, State, Store, Trap, TrapKind, ValType, typed};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::hint::black_box;
use core::pin::Pin;

const STACK: usize = 64 * 1024;

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), STACK)
}

fn shared() -> Rc<Pin<Box<Store>>> {
    Rc::new(store())
}

#[track_caller]
fn returned<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> R {
    match r {
        Ok(Resumed::Returned(v)) => v,
        other => panic!("expected a return, got {other:?}"),
    }
}

#[track_caller]
fn suspended<R: core::fmt::Debug>(r: Result<Resumed<R>, Trap>) -> ContObj {
    match r {
        Ok(Resumed::Suspended { cont, .. }) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    }
}

fn kind_of<T>(r: Result<T, Trap>) -> Option<TrapKind> {
    r.err().map(|t| t.kind())
}

/// `(outstanding_stacks, cached_stacks)`: the two counts every path must
/// keep exact.
fn counts(s: &Store) -> (usize, usize) {
    (s.outstanding_stacks(), s.cached_stacks())
}

// Guest frames alive are counted with `hostile_tests::Frames`: a count
// left up after a cancellation or a store's drop is a frame that was
// abandoned.
use super::hostile_tests::Frames;

/// A guest that returns the address of one of its locals: which stack it
/// ran on.
fn where_i_ran(s: &Store) -> Func {
    s.func_wrap(|_, ()| {
        let local = 0u8;
        Ok(black_box(&local) as *const u8 as i64)
    })
    .unwrap()
}

/// A guest that suspends at `t` once, then returns.
fn parks_once(s: &Store, t: Tag) -> Func {
    s.func_wrap(move |s: &Store, ()| s.suspend::<(), ()>(t, ()))
        .unwrap()
}

// ----- the stack cache --------------------------------------------------------

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

/// Recursion `depth` levels deep, 512 bytes a level, that suspends at the
/// bottom and then adds up what each level kept.
fn deep(s: &Store, t: Tag, depth: u32) -> Result<i64, Trap> {
    let mut pad = [depth as u8; 512];
    black_box(&mut pad);
    let below = if depth == 0 {
        s.suspend::<(), ()>(t, ())?;
        0
    } else {
        deep(s, t, depth - 1)?
    };
    Ok(below + pad[511] as i64)
}

/// A continuation suspended at the bottom of 8 levels of recursion (about
/// half its 64 KiB in a debug build, whose frames are big) is cancelled: its frames return, its stack is
/// cached. The next continuation on that stack recurses as deep and adds
/// up the same values: nothing the first left there leaks into the second.
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

// ----- State::Parent, derived ----------------------------------------------------

/// Inside a chain kernel > A > B > C, C looks at the handles A and B were
/// started with (consumed by the resumes that run them) and at its own:
/// `Consumed` each, never `Running` or `Parent` (a handle to a running
/// continuation does not exist). After the chain returns, each reads
/// `Returned`.
#[test]
fn handles_to_the_levels_of_a_running_chain_read_consumed_and_returned_after_it_ends() {
    let s = shared();
    let handles: Rc<RefCell<Vec<ContObj>>> = Rc::default();
    let seen: Rc<RefCell<Vec<Option<State>>>> = Rc::default();
    let (h, sn) = (handles.clone(), seen.clone());
    let c = s
        .func_wrap(move |s: &Store, ()| {
            for &k in h.borrow().iter() {
                sn.borrow_mut().push(s.state(k));
            }
            Ok(3i32)
        })
        .unwrap();
    let level = |inner: Func, h: Rc<RefCell<Vec<ContObj>>>| {
        s.func_wrap(move |s: &Store, ()| {
            let k = s.cont_new(inner)?;
            h.borrow_mut().push(k);
            match s.resume::<(), i32>(k, (), &[])? {
                Resumed::Returned(v) => Ok(v + 1),
                Resumed::Suspended { .. } => Ok(-1),
            }
        })
        .unwrap()
    };
    let b = level(c, handles.clone());
    let a = level(b, handles.clone());
    let ka = s.cont_new(a).unwrap();
    handles.borrow_mut().push(ka);
    assert_eq!(returned::<i32>(s.resume(ka, (), &[])), 5);
    assert_eq!(*seen.borrow(), [Some(State::Consumed); 3]);
    let after: Vec<Option<State>> = handles.borrow().iter().map(|&k| s.state(k)).collect();
    assert_eq!(after, [Some(State::Returned); 3]);
}

/// B, resumed by A, traps; A catches the trap and suspends to the kernel,
/// holding B's handle: B reads `Trapped`, A's suspended handle
/// `Suspended`, A's first handle `Consumed`. Resumed, A returns; its last
/// handle reads `Returned`, B's still `Trapped`.
#[test]
fn a_trap_caught_mid_chain_leaves_the_trapped_level_trapped_and_the_catcher_suspendable() {
    let s = shared();
    let t = s.tag_new(&[], &[]).unwrap();
    let kb_out = Rc::new(Cell::new(ContObj::NULL));
    let kb_in = kb_out.clone();
    let b = s
        .func_wrap(|_, ()| -> Result<i32, Trap> { Err(Trap::guest("b fails")) })
        .unwrap();
    let a = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let kb = s.cont_new(b)?;
            kb_in.set(kb);
            let caught = s.resume::<(), i32>(kb, (), &[]).is_err();
            s.suspend::<(), ()>(t, ())?;
            Ok(if caught { 10 } else { 0 })
        })
        .unwrap();
    let ka = s.cont_new(a).unwrap();
    let ka2 = suspended(s.resume::<(), i32>(ka, (), &[Handler::suspend(t)]));
    assert_eq!(
        (s.state(kb_out.get()), s.state(ka2), s.state(ka)),
        (
            Some(State::Trapped),
            Some(State::Suspended),
            Some(State::Consumed)
        )
    );
    assert_eq!(returned::<i32>(s.resume(ka2, (), &[])), 10);
    assert_eq!(
        (s.state(kb_out.get()), s.state(ka2)),
        (Some(State::Trapped), Some(State::Returned))
    );
}

// ----- switch ------------------------------------------------------------------

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

// ----- the list of live stores ---------------------------------------------------

use super::registry::live_store_ids;

/// Stores made and dropped inside a guest of another store, one of them
/// forgotten (`mem::forget` of its `Pin<Box>`, which safe code can do):
/// the list always holds exactly the live ones, newest first, and walking
/// it to unlink a neighbour passes the forgotten one, which is still
/// alive (leaked, never freed).
#[test]
fn stores_made_dropped_and_forgotten_inside_a_guest_leave_the_live_list_exact() {
    let before = live_store_ids();
    let outer = store();
    let outer_id = live_store_ids()[0];
    let seen: Rc<RefCell<Vec<Vec<u32>>>> = Rc::default();
    let sn = seen.clone();
    let g = outer
        .func_wrap(move |_, ()| {
            let a = store();
            let b = store();
            let c = store();
            let ids = live_store_ids();
            sn.borrow_mut().push(ids[..3].to_vec());
            core::mem::forget(b);
            drop(c);
            drop(a);
            sn.borrow_mut().push(live_store_ids());
            Ok(())
        })
        .unwrap();
    let k = outer.cont_new(g).unwrap();
    returned::<()>(outer.resume(k, (), &[]));
    let seen = seen.borrow();
    let (c_id, b_id, a_id) = (seen[0][0], seen[0][1], seen[0][2]);
    // Newest first; ids grow (other test threads may take ids in between).
    assert!(a_id > outer_id && b_id > a_id && c_id > b_id);
    let mut expected = vec![b_id, outer_id];
    expected.extend(before.iter().copied());
    assert_eq!(seen[1], expected);
    drop(outer);
    let mut expected = vec![b_id];
    expected.extend(before.iter().copied());
    assert_eq!(live_store_ids(), expected);
}

/// A store dropped by a guest of another store while that guest's store
/// has a chain running, with continuations of its own suspended (it cannot
/// cancel them then: their frames are abandoned), leaves the list exact.
#[test]
fn a_store_dropped_inside_another_stores_guest_with_suspended_continuations_unlinks_itself() {
    let before = live_store_ids();
    let outer = store();
    let inner = shared();
    let t = inner.tag_new(&[], &[]).unwrap();
    let k = inner.cont_new(parks_once(&inner, t)).unwrap();
    let _k = suspended(inner.resume::<(), ()>(k, (), &[Handler::suspend(t)]));
    let holder = RefCell::new(Some(inner));
    let holder = Rc::new(holder);
    let h = holder.clone();
    let g = outer
        .func_wrap(move |_, ()| {
            drop(h.borrow_mut().take());
            Ok(live_store_ids().len() as i32)
        })
        .unwrap();
    let k = outer.cont_new(g).unwrap();
    assert_eq!(
        returned::<i32>(outer.resume(k, (), &[])),
        before.len() as i32 + 1
    );
    drop(outer);
    assert_eq!(live_store_ids(), before);
}

/// Two hundred stores dropped in a scrambled order: after each drop the
/// list holds exactly the others, newest first.
#[test]
fn two_hundred_stores_dropped_in_a_scrambled_order_keep_the_live_list_exact() {
    let before = live_store_ids();
    let mut stores: Vec<Option<Pin<Box<Store>>>> = (0..200).map(|_| Some(store())).collect();
    let ids: Vec<u32> = live_store_ids()[..200].iter().rev().copied().collect();
    let mut alive: Vec<bool> = vec![true; 200];
    for step in 0..200 {
        let i = (step * 73 + 11) % 200;
        stores[i] = None;
        alive[i] = false;
        let mut expected: Vec<u32> = (0..200)
            .rev()
            .filter(|&j| alive[j])
            .map(|j| ids[j])
            .collect();
        expected.extend(before.iter().copied());
        assert_eq!(live_store_ids(), expected, "after dropping store {i}");
    }
}

// ----- trap reports --------------------------------------------------------------

/// The text of `trap`'s report.
fn report_text(trap: &Trap) -> String {
    trap.report().to_string()
}

/// A report made from a trap holds a copy of its full backtrace: formatted
/// after twice as many later traps as the ring keeps, it prints the same
/// text as before them, while the trap itself no longer finds its walk.
#[test]
fn a_report_made_before_the_ring_moves_on_prints_the_same_text_after_it() {
    let trap = Trap::guest("kept");
    let report = trap.report();
    let first = report.to_string();
    for _ in 0..2 * crate::cont::trace::TRACES {
        black_box(Trap::guest("later"));
    }
    assert!(trap.backtrace().trace().is_none());
    assert_eq!(report.to_string(), first);
    assert!(
        first.starts_with("trap: Guest: kept\n  kernel stack:\n"),
        "{first}"
    );
}

/// A guest formats a report a line at a time into a writer that suspends
/// to the kernel after each line; in between, the kernel raises more traps
/// than the ring keeps. The finished text is the one a single formatting
/// made before.
#[test]
fn a_report_formatted_by_a_guest_that_suspends_at_every_line_is_whole_after_nine_traps_between() {
    struct Suspending<'a> {
        s: &'a Store,
        t: Tag,
        out: String,
    }
    impl core::fmt::Write for Suspending<'_> {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            self.out.push_str(text);
            if text.ends_with('\n') {
                self.s
                    .suspend::<(), ()>(self.t, ())
                    .map_err(|_| core::fmt::Error)?;
            }
            Ok(())
        }
    }
    let s = shared();
    let t = s.tag_new(&[], &[]).unwrap();
    let b = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("deep")) })
        .unwrap();
    let kb = s.cont_new(b).unwrap();
    let trap = s.resume::<(), ()>(kb, (), &[]).unwrap_err();
    let expected = report_text(&trap);
    let out: Rc<RefCell<String>> = Rc::default();
    let o = out.clone();
    let g = s
        .func_wrap(move |s: &Store, ()| -> Result<i32, Trap> {
            let report = trap.report();
            let mut w = Suspending {
                s,
                t,
                out: String::new(),
            };
            let ok = core::fmt::write(&mut w, format_args!("{report}")).is_ok();
            *o.borrow_mut() = w.out;
            Ok(ok as i32)
        })
        .unwrap();
    let mut k = s.cont_new(g).unwrap();
    let mut lines = 0;
    loop {
        match s.resume::<(), i32>(k, (), &[Handler::suspend(t)]) {
            Ok(Resumed::Suspended { cont, .. }) => {
                lines += 1;
                for _ in 0..crate::cont::trace::TRACES + 1 {
                    black_box(Trap::guest("in between"));
                }
                k = cont;
            }
            Ok(Resumed::Returned(ok)) => {
                assert_eq!(ok, 1);
                break;
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(*out.borrow(), expected);
    assert_eq!(lines, expected.lines().count());
}

/// The report of a trap of a store that has since been dropped (its
/// stacks unmapped and gone) formats without reading any of them: the
/// same text as while the store lived.
#[test]
fn the_report_of_a_trap_from_a_dropped_stores_continuation_formats_the_same_text() {
    let s = store();
    let bad = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("gone")) })
        .unwrap();
    let k = s.cont_new(bad).unwrap();
    let trap = s.resume::<(), ()>(k, (), &[]).unwrap_err();
    let while_alive = report_text(&trap);
    drop(s);
    // Other stores reuse nothing of it, but make some anyway.
    let others: Vec<Pin<Box<Store>>> = (0..3).map(|_| store()).collect();
    assert_eq!(report_text(&trap), while_alive);
    assert!(
        while_alive.starts_with("trap: Guest: gone\n"),
        "{while_alive}"
    );
    drop(others);
}

/// A report written into a writer that refuses after a few bytes returns
/// that error and nothing else happens: the next report of the same trap
/// is whole.
#[test]
fn a_report_into_a_writer_that_fails_midway_returns_the_error_and_the_next_is_whole() {
    struct Refuses(usize);
    impl core::fmt::Write for Refuses {
        fn write_str(&mut self, s: &str) -> core::fmt::Result {
            if self.0 < s.len() {
                return Err(core::fmt::Error);
            }
            self.0 -= s.len();
            Ok(())
        }
    }
    let trap = Trap::guest("refused");
    let whole = report_text(&trap);
    for budget in [0, 5, 30] {
        let r = core::fmt::write(&mut Refuses(budget), format_args!("{}", trap.report()));
        assert_eq!(r, Err(core::fmt::Error), "budget {budget}");
    }
    assert_eq!(report_text(&trap), whole);
}
