//! Stacks and frame walks from safe code, and volume: an absurd stack
//! size, stores made for ever, `walk_here` from both sides of a switch,
//! and ten thousand create-suspend-cancel cycles that must leave no stack
//! and no `Rc` behind.

use super::*;

// A stack provider cannot be written in safe code any more: `StackProvider`
// is an `unsafe trait` (a `compile_fail` doctest on it shows a safe `impl`
// refused), and `ContStack::UNALLOCATED` is crate-private, so safe code only
// ever holds stacks a provider made. The frame walk from an arbitrary frame
// pointer is `unsafe` (`Store::walk_frames`); `Store::walk_here` is safe.

#[test]
fn a_store_with_an_absurd_stack_size_gets_a_trap_from_cont_new_not_a_panic() {
    let s = Store::new(MmapStacks::new(), usize::MAX);
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(1) })
        .unwrap();
    assert_eq!(kind_of(s.cont_new(f)), Some(TrapKind::OutOfStacks));
}

/// Once every store id of the process is taken, a new store still works
/// for definitions, and its `cont.new` traps: never a panic. Run alone, in
/// release (`cargo test -p kernel-tests --release --test cont_hostile making_and_dropping --
/// --ignored`): it takes the process's 2^24 store ids, so every store made
/// after it in the same process can make no continuation.
#[test]
#[ignore = "uses up the store ids of the whole test process: run it alone"]
fn making_and_dropping_stores_for_ever_never_panics() {
    for _ in 0..(1u32 << 24) {
        drop(Store::new(MmapStacks::new(), STACK));
    }
    let s = Store::new(MmapStacks::new(), STACK);
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(1) })
        .unwrap();
    assert_eq!(kind_of(s.cont_new(f)), Some(TrapKind::TooManyStores));
}

#[test]
fn walk_here_from_kernel_code_visits_its_callers_and_stops_by_itself() {
    let s = store();
    let mut visited = 0;
    s.walk_here(|f| {
        assert_ne!(f.return_address, 0);
        visited += 1;
        true
    });
    assert!(visited >= 1, "visited {visited}");
}

#[test]
fn walk_here_inside_a_continuation_climbs_into_the_kernel_frames() {
    let s = store();
    let seen = Rc::new(Cell::new(0));
    let sn = seen.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let mut n = 0;
            s.walk_here(|_| {
                n += 1;
                true
            });
            sn.set(n);
            Ok(())
        })
        .unwrap();
    assert_eq!(
        s.resume::<(), ()>(s.cont_new(f).unwrap(), (), &[]),
        Ok(dynamic::Resumed::Returned(()))
    );
    // The guest's frames, the shim and entry, the trampoline's record, and
    // at least one frame of this test on the host stack.
    assert!(seen.get() >= 4, "visited {}", seen.get());
}

#[test]
fn ten_thousand_create_suspend_cancel_cycles_of_every_kind_leave_no_stack_and_no_rc() {
    let s = store();
    let lives = Frames::default();
    let t = Tag::<(), ()>::new(&s).unwrap();
    let exn = Tag::<i32, ()>::new(&s).unwrap();
    let l = lives.clone();
    let leaf = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        t.suspend(s, ())
    })
    .unwrap()
    .detach();
    let l = lives.clone();
    let pair = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        match Cont::new(s, leaf)?.resume((), &[])? {
            Resumed::Returned(()) | Resumed::Suspended(_) => Ok(()),
        }
    })
    .unwrap();
    for i in 0..10_000u32 {
        match i % 6 {
            0 => drop(Cont::new(&s, leaf).unwrap()),
            1 => drop(typed_kept(&s, leaf, t).unwrap()),
            2 => drop(typed_kept(&s, pair, t).unwrap()),
            3 => {
                let k = typed_kept(&s, leaf, t).unwrap().into_raw();
                assert_eq!(s.drop_cont(k), Ok(()));
            }
            4 => {
                let k = typed_kept(&s, pair, t).unwrap();
                let r = k.resume_throw(exn, i as i32, &[]).map(|_| ());
                assert_eq!(
                    kind_of(r),
                    Some(TrapKind::Exception {
                        tag: exn.untyped().id()
                    })
                );
            }
            _ => {
                let k = s.cont_new(leaf.untyped()).unwrap();
                let k = suspended(s.resume::<(), ()>(k, (), &[Handler::suspend(t.untyped())]));
                assert_eq!(
                    s.resume::<(), ()>(k, (), &[]),
                    Ok(dynamic::Resumed::Returned(()))
                );
            }
        }
        if i % 1000 == 999 {
            assert_eq!((s.outstanding_stacks(), lives.live()), (0, 0));
        }
    }
    assert_eq!((s.outstanding_stacks(), lives.live()), (0, 0));
    kernel_side_clean(&s);
}
