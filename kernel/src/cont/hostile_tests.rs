//! Hostile tests of the continuation runtime, from safe code only: this
//! module forbids `unsafe` and uses nothing but the crate's public API
//! (`crate::cont::...`, `crate::sync::...`). Each test is one attempt to
//! crash, hang or corrupt the runtime, strand a stack, or reach a
//! continuation after its end; its name states what must hold, and it
//! checks exact values.
//!
//! One test is `#[ignore]`d because it must run alone, not because it
//! fails: it uses up the process's store ids (its own doc says how to run
//! it: alone, in release, with `-- --ignored`).
//!
//! Guests never panic here: on the host a panic cannot cross the
//! `extern "C"` shim and aborts the test binary. They report what they saw
//! through `Cell`s, and the tests assert on the kernel side.
#![forbid(unsafe_code)]

use crate::cont::dynamic::{self, ContObj, Handler};
use crate::cont::{
    Cont, Func, MmapStacks, Resumed, State, Store, Suspension, Tag, Trap, TrapKind, ValType,
    WasmValues,
};
use crate::sync::{Mutex, MutexGuard, held};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;

const STACK: usize = 64 * 1024;

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), STACK)
}

fn shared() -> Rc<Pin<Box<Store>>> {
    Rc::new(store())
}

/// The kind of the trap a result carries, if any.
fn kind_of<T>(r: Result<T, Trap>) -> Option<TrapKind> {
    r.err().map(|t| t.kind())
}

/// Counts guest frames that are alive: each guest that should be unwound
/// (by a return, `?`, or a cancellation) holds one [`Frame`]. Closures the
/// store owns do not count, so a count that stays up after a store's drop
/// is a frame that was abandoned.
#[derive(Clone, Default)]
pub(super) struct Frames(Rc<Cell<i32>>);

pub(super) struct Frame(Rc<Cell<i32>>);

impl Frames {
    pub(super) fn enter(&self) -> Frame {
        self.0.set(self.0.get() + 1);
        Frame(self.0.clone())
    }
    pub(super) fn live(&self) -> i32 {
        self.0.get()
    }
}

impl Drop for Frame {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// A kernel lock that lives for ever (so that a guard can be kept anywhere).
fn leaked_lock(name: &'static str) -> &'static Mutex<()> {
    Box::leak(Box::new(Mutex::new(name, ())))
}

/// The handle a dynamic resume returned, which must be a suspension.
#[track_caller]
fn suspended<R: core::fmt::Debug>(r: Result<dynamic::Resumed<R>, Trap>) -> ContObj {
    match r {
        Ok(dynamic::Resumed::Suspended { cont, .. }) => cont,
        other => panic!("expected a suspension, got {other:?}"),
    }
}

/// The suspension a typed resume returned.
#[track_caller]
fn typed_suspension<'s, R: WasmValues>(r: Result<Resumed<'s, R>, Trap>) -> Suspension<'s, R> {
    match r {
        Ok(Resumed::Suspended(s)) => s,
        Ok(Resumed::Returned(_)) => panic!("expected a suspension, the function returned"),
        Err(t) => panic!("expected a suspension, got {t}"),
    }
}

/// The kernel side is clean: no chain runs, no lock is counted.
#[track_caller]
fn kernel_side_clean(s: &Store) {
    assert!(!s.in_continuation());
    assert_eq!(held(), 0);
}

// ----- the typed door: from_raw, into_raw, take --------------------------

#[test]
fn from_raw_refuses_null_foreign_and_consumed_handles_with_their_exact_kinds() {
    let (a, b) = (store(), store());
    let f = Func::wrap(&a, |_: &Store, x: i32| -> Result<i32, Trap> { Ok(x) }).unwrap();
    let raw = Cont::new(&a, f).unwrap().into_raw();
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&a, ContObj::NULL)),
        Some(TrapKind::NullContinuation)
    );
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&b, raw)),
        Some(TrapKind::ForeignContinuation)
    );
    // The refusal by another store consumed nothing in its own.
    assert_eq!(a.state(raw), Some(State::Fresh));
    let k = Cont::<'_, i32, i32>::from_raw(&a, raw).unwrap();
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&a, raw)),
        Some(TrapKind::ConsumedContinuation)
    );
    assert!(matches!(k.resume(5, &[]), Ok(Resumed::Returned(5))));
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&a, raw)),
        Some(TrapKind::ConsumedContinuation)
    );
    // Used, and its record still holds it: it reports how it ended.
    assert_eq!(a.state(raw), Some(State::Returned));
    assert_eq!((a.outstanding_stacks(), b.outstanding_stacks()), (0, 0));
}

#[test]
fn from_raw_with_the_wrong_result_type_is_refused_and_the_raw_handle_stays_live() {
    let s = store();
    let f = Func::wrap(&s, |_: &Store, x: i32| -> Result<i32, Trap> { Ok(x + 1) }).unwrap();
    let raw = Cont::new(&s, f).unwrap().into_raw();
    assert_eq!(
        kind_of(Cont::<'_, i32, i64>::from_raw(&s, raw)),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(
        kind_of(Cont::<'_, (), i32>::from_raw(&s, raw)),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(s.state(raw), Some(State::Fresh));
    assert_eq!(
        s.resume::<i32, i32>(raw, 1, &[]).unwrap(),
        dynamic::Resumed::Returned(2)
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn inside_a_guest_its_own_old_handle_is_consumed_for_from_raw_and_every_dynamic_operation() {
    let s = store();
    let mine = Rc::new(Cell::new(ContObj::NULL));
    let seen: Rc<RefCell<Vec<Option<TrapKind>>>> = Rc::new(RefCell::new(Vec::new()));
    let (m, v) = (mine.clone(), seen.clone());
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let me = m.get();
            let mut v = v.borrow_mut();
            v.push(kind_of(Cont::<'_, (), i32>::from_raw(s, me)));
            v.push(kind_of(s.drop_cont(me)));
            v.push(kind_of(s.bind(me, ())));
            v.push(kind_of(s.resume::<(), i32>(me, (), &[])));
            v.push(kind_of(s.payload::<()>(me)));
            Ok(match (s.in_continuation(), s.state(me)) {
                (true, Some(State::Consumed)) => 1,
                _ => 0,
            })
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    mine.set(k);
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]).unwrap(),
        dynamic::Resumed::Returned(1)
    );
    assert_eq!(*seen.borrow(), [Some(TrapKind::ConsumedContinuation); 5]);
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_continuation_goes_typed_to_dynamic_to_typed_across_a_suspension_and_finishes() {
    let s = store();
    let ask = Tag::<i32, i64>::new(&s).unwrap();
    let f = Func::wrap(&s, move |s: &Store, x: i32| -> Result<i64, Trap> {
        let y = ask.suspend(s, x * 2)?;
        Ok(y + 1)
    })
    .unwrap();
    let raw = Cont::new(&s, f).unwrap().into_raw();
    let r = s.resume::<i32, i64>(raw, 20, &[Handler::suspend(ask.untyped())]);
    let cont = suspended(r);
    assert_eq!(s.payload::<i32>(cont), Ok(40));
    let k = Cont::<'_, i64, i64>::from_raw(&s, cont).unwrap();
    assert_eq!(k.state(), State::Suspended);
    // Taken over: every copy of the raw handle is stale now.
    assert_eq!(
        kind_of(s.payload::<i32>(cont)),
        Some(TrapKind::ConsumedContinuation)
    );
    assert_eq!(
        kind_of(s.resume::<i64, i64>(cont, 0, &[])),
        Some(TrapKind::ConsumedContinuation)
    );
    assert!(matches!(k.resume(99, &[]), Ok(Resumed::Returned(100))));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn take_with_the_right_payload_but_other_result_types_is_refused_and_cancels_the_guest() {
    let s = store();
    let lives = Frames::default();
    let yld = Tag::<i32, ()>::new(&s).unwrap();
    let wrong = Tag::<i32, i64>::new(&s).unwrap();
    let l = lives.clone();
    let f = Func::wrap(&s, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _mine = l.enter();
        yld.suspend(s, 5)?;
        Ok(())
    })
    .unwrap();
    let susp = typed_suspension(Cont::new(&s, f).unwrap().resume((), &[yld.on()]));
    assert_eq!((lives.live(), s.outstanding_stacks()), (1, 1));
    assert_eq!(
        susp.take(wrong).err().map(|t| t.kind()),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!((lives.live(), s.outstanding_stacks()), (0, 0));
}

#[test]
fn a_handler_list_naming_a_tag_twice_reports_the_first_entry_of_the_right_kind() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<(), ()>(t, ())?;
            s.suspend::<(), ()>(t, ())?;
            Ok(3)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let both = [Handler::suspend(t), Handler::suspend(t)];
    let r = s.resume::<(), i32>(k, (), &both).unwrap();
    let dynamic::Resumed::Suspended { handler: 0, cont } = r else {
        panic!("expected handler 0, got {r:?}")
    };
    // A switch entry for the same tag does not catch a suspend.
    let mixed = [Handler::switch(t), Handler::suspend(t), Handler::suspend(t)];
    let r = s.resume::<(), i32>(cont, (), &mixed).unwrap();
    let dynamic::Resumed::Suspended { handler: 1, cont } = r else {
        panic!("expected handler 1, got {r:?}")
    };
    assert_eq!(
        s.resume::<(), i32>(cont, (), &[]).unwrap(),
        dynamic::Resumed::Returned(3)
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

// ----- stores do not nest -------------------------------------------------

#[test]
fn inside_a_guest_of_store_a_every_operation_that_would_run_store_b_is_refused() {
    let (a, b) = (shared(), shared());
    let tb = b.tag_new(&[], &[]).unwrap();
    let typed_tb = Tag::<(), ()>::new(&b).unwrap();
    let exn_b = b.tag_new(&[ValType::I32], &[]).unwrap();
    let fb = b
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            s.suspend::<(), ()>(tb, ())?;
            Ok(8)
        })
        .unwrap();
    let kb_s = suspended(b.resume::<(), i32>(b.cont_new(fb).unwrap(), (), &[Handler::suspend(tb)]));
    let kb_f = b.cont_new(fb).unwrap();
    let kb_g = b.cont_new(fb).unwrap();
    let seen: Rc<RefCell<Vec<Option<TrapKind>>>> = Rc::new(RefCell::new(Vec::new()));
    let (b2, v) = (b.clone(), seen.clone());
    let g = a
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let mut v = v.borrow_mut();
            v.push(kind_of(b2.resume::<(), i32>(kb_s, (), &[])));
            v.push(kind_of(b2.resume::<(), i32>(kb_f, (), &[])));
            v.push(kind_of(b2.resume_throw::<i32, i32>(kb_s, exn_b, 1, &[])));
            v.push(kind_of(b2.resume_throw::<i32, i32>(kb_f, exn_b, 1, &[])));
            v.push(kind_of(b2.drop_cont(kb_s)));
            v.push(kind_of(b2.suspend::<(), ()>(tb, ())));
            v.push(kind_of(typed_tb.suspend(&b2, ())));
            // Freeing a fresh continuation runs nothing: allowed.
            v.push(kind_of(b2.drop_cont(kb_g)));
            Ok(i32::from(b2.in_continuation()))
        })
        .unwrap();
    let r = a.resume::<(), i32>(a.cont_new(g).unwrap(), (), &[]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(0)));
    let other = Some(TrapKind::OtherStoreRunning);
    assert_eq!(
        *seen.borrow(),
        [
            other,
            other,
            other,
            other,
            other,
            Some(TrapKind::UnhandledTag),
            Some(TrapKind::UnhandledTag),
            None
        ]
    );
    assert_eq!(
        (b.state(kb_s), b.state(kb_f), b.state(kb_g)),
        (
            Some(State::Suspended),
            Some(State::Fresh),
            Some(State::Dropped)
        )
    );
    // Store B is whole: both of its continuations finish from the kernel.
    assert_eq!(
        b.resume::<(), i32>(kb_s, (), &[]),
        Ok(dynamic::Resumed::Returned(8))
    );
    let kb_f = suspended(b.resume::<(), i32>(kb_f, (), &[Handler::suspend(tb)]));
    assert_eq!(
        b.resume::<(), i32>(kb_f, (), &[]),
        Ok(dynamic::Resumed::Returned(8))
    );
    assert_eq!((a.outstanding_stacks(), b.outstanding_stacks()), (0, 0));
    kernel_side_clean(&a);
    kernel_side_clean(&b);
}

#[test]
fn handles_that_outlived_their_store_are_foreign_to_every_later_store_on_every_operation() {
    let (fresh, suspended_h) = {
        let dead = store();
        let t = dead.tag_new(&[], &[]).unwrap();
        let f = dead
            .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> { s.suspend::<(), ()>(t, ()) })
            .unwrap();
        let fresh = dead.cont_new(f).unwrap();
        let k =
            suspended(dead.resume::<(), ()>(dead.cont_new(f).unwrap(), (), &[Handler::suspend(t)]));
        (fresh, k)
    };
    let later = store();
    let t = later.tag_new(&[], &[]).unwrap();
    let sw = later.tag_new(&[], &[]).unwrap();
    let f = later
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .unwrap();
    let _same_record_shape = later.cont_new(f).unwrap();
    let foreign = Some(TrapKind::ForeignContinuation);
    for h in [fresh, suspended_h] {
        assert_eq!(later.state(h), None);
        assert_eq!(later.stack_top(h), None);
        assert_eq!(kind_of(later.resume::<(), ()>(h, (), &[])), foreign);
        assert_eq!(
            kind_of(later.resume_throw::<(), ()>(h, t, (), &[])),
            foreign
        );
        assert_eq!(kind_of(later.bind(h, ())), foreign);
        assert_eq!(kind_of(later.drop_cont(h)), foreign);
        assert_eq!(kind_of(later.payload::<()>(h)), foreign);
        assert_eq!(kind_of(Cont::<'_, (), ()>::from_raw(&later, h)), foreign);
    }
    // And as a switch target from inside one of the later store's guests.
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    let g = later
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            sn.set(kind_of(s.switch::<(), ()>(fresh, sw, ())));
            Ok(())
        })
        .unwrap();
    let r = later.resume::<(), ()>(later.cont_new(g).unwrap(), (), &[Handler::switch(sw)]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(())));
    assert_eq!(seen.get(), foreign);
    assert_eq!(later.outstanding_stacks(), 1);
}

#[test]
fn switch_to_another_stores_or_a_consumed_continuation_is_refused_and_the_guest_goes_on() {
    let (a, b) = (shared(), shared());
    let sw = a.tag_new(&[], &[]).unwrap();
    let fb = b
        .func_wrap(|_: &Store, _k: ContObj| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let kb = b.cont_new(fb).unwrap();
    let fa = a
        .func_wrap(|_: &Store, _k: ContObj| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let used = a.cont_new(fa).unwrap();
    let used2 = a.bind(used, ContObj::NULL).unwrap();
    let seen = Rc::new(Cell::new((None, None)));
    let v = seen.clone();
    let g = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let foreign = kind_of(s.switch::<(), ()>(kb, sw, ()));
            let consumed = kind_of(s.switch::<(), ()>(used, sw, ()));
            v.set((foreign, consumed));
            Ok(7)
        })
        .unwrap();
    let r = a.resume::<(), i32>(a.cont_new(g).unwrap(), (), &[Handler::switch(sw)]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(7)));
    assert_eq!(
        seen.get(),
        (
            Some(TrapKind::ForeignContinuation),
            Some(TrapKind::ConsumedContinuation)
        )
    );
    assert_eq!(b.state(kb), Some(State::Fresh));
    assert_eq!(
        b.resume::<ContObj, i32>(kb, ContObj::NULL, &[]),
        Ok(dynamic::Resumed::Returned(0))
    );
    assert_eq!(a.drop_cont(used2), Ok(()));
    assert_eq!((a.outstanding_stacks(), b.outstanding_stacks()), (0, 0));
}

// ----- traps travel one parent at a time -----------------------------------

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

// ----- cancellation that fights back ---------------------------------------

/// A continuation of `s` suspended to the kernel at `t`, whose guest runs
/// `on_cancel` on whatever its suspend returned.
fn parked<F>(s: &Store, t: dynamic::Tag, on_cancel: F) -> ContObj
where
    F: Fn(&Store, Result<(), Trap>) -> Result<i32, Trap> + 'static,
{
    parked_holding(s, t, None, on_cancel)
}

/// As [`parked`], the guest holding one frame of `lives` from before its
/// suspend until it returns.
fn parked_holding<F>(s: &Store, t: dynamic::Tag, lives: Option<&Frames>, on_cancel: F) -> ContObj
where
    F: Fn(&Store, Result<(), Trap>) -> Result<i32, Trap> + 'static,
{
    let l = lives.cloned();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let _mine = l.as_ref().map(Frames::enter);
            let r = s.suspend::<(), ()>(t, ());
            on_cancel(s, r)
        })
        .unwrap();
    suspended(s.resume::<(), i32>(s.cont_new(f).unwrap(), (), &[Handler::suspend(t)]))
}

#[test]
fn a_cancelled_guest_that_resumes_another_suspended_continuation_runs_it_to_its_end() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let other = parked(&s, t, |_, r| Ok(if r.is_ok() { 21 } else { -1 }));
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let k = parked(&s, t, move |s, r| {
        g.set(Some((
            kind_of(r),
            s.resume::<(), i32>(other, (), &[]).map_err(|t| t.kind()),
        )));
        Ok(0)
    });
    assert_eq!(s.outstanding_stacks(), 2);
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(
        got.take(),
        Some((
            Some(TrapKind::Cancelled),
            Ok(dynamic::Resumed::Returned(21))
        ))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_may_start_a_continuation_and_leave_it_suspended_for_the_kernel() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let u = s.tag_new(&[ValType::I32], &[ValType::I32]).unwrap();
    let doubler = s
        .func_wrap(move |s: &Store, x: i32| -> Result<i32, Trap> {
            let y = s.suspend::<i32, i32>(u, x)?;
            Ok(2 * y)
        })
        .unwrap();
    let left = Rc::new(Cell::new(ContObj::NULL));
    let l = left.clone();
    let k = parked(&s, t, move |s, _cancelled| {
        let n = s.cont_new(doubler)?;
        if let dynamic::Resumed::Suspended { cont, .. } =
            s.resume::<i32, i32>(n, 4, &[Handler::suspend(u)])?
        {
            l.set(cont);
        }
        Ok(0)
    });
    assert_eq!(s.drop_cont(k), Ok(()));
    let n = left.get();
    assert_eq!(
        (s.state(n), s.payload::<i32>(n), s.outstanding_stacks()),
        (Some(State::Suspended), Ok(4), 1)
    );
    assert_eq!(
        s.resume::<i32, i32>(n, 5, &[]),
        Ok(dynamic::Resumed::Returned(10))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

/// G resumes `inner` under a handler for `u`; `inner` suspends at `u`; G
/// drops it; `inner` ignores the cancellation and suspends at `t`, which
/// passes G's drop (no handlers) and G's own resume, and reaches the
/// kernel: G is suspended together with `inner`, inside its drop.
fn dropper_suspended_by_its_victim(
    s: &Store,
    log: &Rc<RefCell<Vec<&'static str>>>,
    t: dynamic::Tag,
) -> ContObj {
    let u = s.tag_new(&[], &[]).unwrap();
    let lg = log.clone();
    let inner = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let first = s.suspend::<(), ()>(u, ());
            lg.borrow_mut().push(match kind_of(first) {
                Some(TrapKind::Cancelled) => "inner cancelled",
                _ => "inner not cancelled",
            });
            s.suspend::<(), ()>(t, ())?;
            lg.borrow_mut().push("inner resumed after its cancellation");
            Ok(())
        })
        .unwrap();
    let lg = log.clone();
    let g = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let k = s.cont_new(inner)?;
            let dynamic::Resumed::Suspended { cont, .. } =
                s.resume::<(), ()>(k, (), &[Handler::suspend(u)])?
            else {
                return Ok(-1);
            };
            let r = s.drop_cont(cont);
            lg.borrow_mut().push(if r.is_ok() {
                "drop returned Ok"
            } else {
                "drop returned Err"
            });
            Ok(1)
        })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(g).unwrap(), (), &[Handler::suspend(t)]);
    suspended(r)
}

#[test]
fn a_cancelled_guest_that_suspends_past_its_dropper_suspends_the_dropper_and_the_kernel_can_finish_both()
 {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let h = dropper_suspended_by_its_victim(&s, &log, t);
    assert_eq!(*log.borrow(), ["inner cancelled"]);
    assert_eq!(
        (s.state(h), s.outstanding_stacks()),
        (Some(State::Suspended), 2)
    );
    // The segment's outermost is G: the resume ends with G's i32.
    assert_eq!(
        s.resume::<(), i32>(h, (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    assert_eq!(
        *log.borrow(),
        [
            "inner cancelled",
            "inner resumed after its cancellation",
            "drop returned Ok"
        ]
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_suspends_past_its_dropper_can_be_dropped_again_from_the_kernel() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let log = Rc::new(RefCell::new(Vec::new()));
    let h = dropper_suspended_by_its_victim(&s, &log, t);
    // The second cancellation ends `inner` (it passes it on with `?`);
    // G's drop then returns Ok and G, which ignores nothing, returns.
    assert_eq!(s.drop_cont(h), Ok(()));
    assert_eq!(*log.borrow(), ["inner cancelled", "drop returned Ok"]);
    assert_eq!(s.state(h), Some(State::Dropped));
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_inner_guest_may_still_suspend_to_a_handler_inside_its_own_segment() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let v = s.tag_new(&[], &[ValType::I32]).unwrap();
    let inner = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            if s.suspend::<(), ()>(t, ()).is_ok() {
                return Ok(-1);
            }
            // Cancelled: ask the outer guest, inside the same segment.
            let x = s.suspend::<(), i32>(v, ())?;
            Ok(x + 1)
        })
        .unwrap();
    let seen = Rc::new(Cell::new(0));
    let sn = seen.clone();
    let outer = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let k = s.cont_new(inner)?;
            let h = [Handler::suspend(v)];
            let dynamic::Resumed::Suspended { cont, .. } = s.resume::<(), i32>(k, (), &h)? else {
                return Ok(-2);
            };
            match s.resume::<i32, i32>(cont, 41, &h)? {
                dynamic::Resumed::Returned(x) => {
                    sn.set(x);
                    Ok(x)
                }
                dynamic::Resumed::Suspended { .. } => Ok(-3),
            }
        })
        .unwrap();
    let k = suspended(s.resume::<(), i32>(s.cont_new(outer).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(s.outstanding_stacks(), 2);
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(seen.get(), 42);
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_throws_into_another_continuation_gets_its_answer() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I64], &[]).unwrap();
    let catcher = parked(&s, t, move |s, r| match r {
        Err(trap) => Ok(s
            .exception_payload::<i64>(&trap, exn)
            .map_or(-1, |x| x as i32)),
        Ok(()) => Ok(-2),
    });
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let k = parked(&s, t, move |s, _| {
        g.set(Some(
            s.resume_throw::<i64, i32>(catcher, exn, 77, &[])
                .map_err(|t| t.kind()),
        ));
        Ok(0)
    });
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(got.take(), Some(Ok(dynamic::Resumed::Returned(77))));
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_drops_another_suspended_continuation_cancels_it_too() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let lives = Frames::default();
    let victim = parked_holding(&s, t, Some(&lives), |_, r| r.map(|()| 5));
    assert_eq!(lives.live(), 1);
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let k = parked(&s, t, move |s, r| {
        g.set(Some(s.drop_cont(victim)));
        r.map(|()| 1)
    });
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(got.get(), Some(Ok(())));
    assert_eq!(
        (s.state(victim), s.state(k)),
        (Some(State::Dropped), Some(State::Dropped))
    );
    assert_eq!((lives.live(), s.outstanding_stacks()), (0, 0));
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_tries_to_switch_away_is_refused_and_its_target_stays_fresh() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let sw = s.tag_new(&[], &[]).unwrap();
    let target_f = s
        .func_wrap(|_: &Store, _k: ContObj| -> Result<i32, Trap> { Ok(9) })
        .unwrap();
    let target = s.cont_new(target_f).unwrap();
    let got = Rc::new(Cell::new(None));
    let g = got.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let r = s.suspend::<(), ()>(t, ());
            if r.is_err() {
                // The drop's resume has no handlers: no switch handler.
                g.set(kind_of(s.switch::<(), ()>(target, sw, ())));
            }
            Ok(0)
        })
        .unwrap();
    let hs = [Handler::suspend(t), Handler::switch(sw)];
    let k = suspended(s.resume::<(), i32>(s.cont_new(f).unwrap(), (), &hs));
    assert_eq!(s.drop_cont(k), Ok(()));
    assert_eq!(got.get(), Some(TrapKind::UnhandledTag));
    assert_eq!(s.state(target), Some(State::Fresh));
    assert_eq!(
        s.resume::<ContObj, i32>(target, ContObj::NULL, &[]),
        Ok(dynamic::Resumed::Returned(9))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

/// G resumes `victim` under a handler for `u`; `victim` suspends at `u`;
/// G drops it; `victim`, cancelled, switches to a fresh target with a tag
/// whose switch handler is the kernel's resume of G: the target takes G's
/// place under the kernel (G's drop is left pending inside the switched-out
/// segment) and parks `victim`'s handle in `parked_victim`, then returns
/// 50. Returns how the kernel's resume of G came back.
fn victim_switches_over_its_dropper(
    s: &Store,
    log: &Rc<RefCell<Vec<&'static str>>>,
    lives: &Frames,
    parked_victim: &Rc<Cell<ContObj>>,
) -> Result<dynamic::Resumed<i32>, Trap> {
    let u = s.tag_new(&[], &[]).unwrap();
    let sw = s.tag_new(&[], &[]).unwrap();
    let pv = parked_victim.clone();
    let target_f = s
        .func_wrap(move |_: &Store, k: ContObj| -> Result<i32, Trap> {
            pv.set(k);
            Ok(50)
        })
        .unwrap();
    let (lg, l) = (log.clone(), lives.clone());
    let victim = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _mine = l.enter();
            if s.suspend::<(), ()>(u, ()).is_ok() {
                return Ok(());
            }
            let target = s.cont_new(target_f)?;
            let r = s.switch::<(), ()>(target, sw, ());
            lg.borrow_mut().push(match kind_of(r) {
                None => "victim switched back to",
                Some(TrapKind::Cancelled) => "victim cancelled at its switch",
                Some(_) => "victim's switch failed",
            });
            r
        })
        .unwrap();
    let (lg, l) = (log.clone(), lives.clone());
    let g = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let _mine = l.enter();
            let k = s.cont_new(victim)?;
            let dynamic::Resumed::Suspended { cont, .. } =
                s.resume::<(), ()>(k, (), &[Handler::suspend(u)])?
            else {
                return Ok(-1);
            };
            let r = s.drop_cont(cont);
            lg.borrow_mut().push(if r.is_ok() {
                "G's drop returned Ok"
            } else {
                "G's drop returned Err"
            });
            Ok(1)
        })
        .unwrap();
    s.resume::<(), i32>(s.cont_new(g).unwrap(), (), &[Handler::switch(sw)])
}

#[test]
fn a_cancelled_guest_that_switches_over_its_dropper_can_be_switched_back_to_and_both_finish() {
    let s = store();
    let log = Rc::new(RefCell::new(Vec::new()));
    let lives = Frames::default();
    let parked_victim = Rc::new(Cell::new(ContObj::NULL));
    let r = victim_switches_over_its_dropper(&s, &log, &lives, &parked_victim);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(50)));
    let k = parked_victim.get();
    // Suspended: the victim and G, whose drop is pending under it.
    assert_eq!(
        (s.state(k), s.outstanding_stacks(), lives.live()),
        (Some(State::Suspended), 2, 2)
    );
    assert!(log.borrow().is_empty());
    // The segment ends with G's function: the resume gets G's i32.
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    assert_eq!(
        *log.borrow(),
        ["victim switched back to", "G's drop returned Ok"]
    );
    assert_eq!((s.outstanding_stacks(), lives.live()), (0, 0));
    kernel_side_clean(&s);
}

#[test]
fn a_cancelled_guest_that_switches_over_its_dropper_is_cancelled_again_by_the_store_drop() {
    let s = store();
    let log = Rc::new(RefCell::new(Vec::new()));
    let lives = Frames::default();
    let parked_victim = Rc::new(Cell::new(ContObj::NULL));
    let r = victim_switches_over_its_dropper(&s, &log, &lives, &parked_victim);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(50)));
    assert_eq!((s.outstanding_stacks(), lives.live()), (2, 2));
    drop(s);
    assert_eq!(
        *log.borrow(),
        ["victim cancelled at its switch", "G's drop returned Ok"]
    );
    assert_eq!(lives.live(), 0);
}

#[test]
fn bind_into_a_suspended_continuation_then_drop_cancels_it_and_the_bound_value_is_never_seen() {
    let s = store();
    let t = s.tag_new(&[], &[ValType::I32, ValType::I64]).unwrap();
    let seen = Rc::new(Cell::new(None));
    let sn = seen.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
            match s.suspend::<(), (i32, i64)>(t, ()) {
                Ok((a, b)) => Ok(a as i64 + b),
                Err(e) => {
                    sn.set(Some(e.kind()));
                    Err(e)
                }
            }
        })
        .unwrap();
    let k = suspended(s.resume::<(), i64>(s.cont_new(f).unwrap(), (), &[Handler::suspend(t)]));
    assert_eq!(s.payload::<()>(k), Ok(()));
    let kb = s.bind(k, 7i32).unwrap();
    assert_eq!(
        (kind_of(s.payload::<()>(kb)), kind_of(s.payload::<()>(k))),
        (
            Some(TrapKind::SignatureMismatch),
            Some(TrapKind::ConsumedContinuation)
        )
    );
    // The bound handle expects the rest only.
    assert_eq!(
        kind_of(s.resume::<(i32, i64), i64>(kb, (1, 2), &[])),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(s.drop_cont(kb), Ok(()));
    assert_eq!(seen.get(), Some(TrapKind::Cancelled));
    assert_eq!(s.state(kb), Some(State::Dropped));
    // Typed: bind a fresh one, then drop it: it never runs.
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let g = Func::wrap(
        &s,
        move |_: &Store, (a, b): (i32, i64)| -> Result<i64, Trap> {
            r.set(true);
            Ok(a as i64 + b)
        },
    )
    .unwrap();
    drop(Cont::new(&s, g).unwrap().bind(1).unwrap());
    assert!(!ran.get());
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

// ----- resume_throw and exception payloads ---------------------------------

#[test]
fn resume_throw_into_a_continuation_suspended_by_switch_is_the_switchs_err() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    let exn = s.tag_new(&[ValType::I32], &[]).unwrap();
    let parked_a = Rc::new(Cell::new(ContObj::NULL));
    let p = parked_a.clone();
    let b = s
        .func_wrap(move |_: &Store, a: ContObj| -> Result<i32, Trap> {
            p.set(a);
            Ok(0)
        })
        .unwrap();
    let a = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let kb = s.cont_new(b)?;
            match s.switch::<(), ()>(kb, sw, ()) {
                Ok(()) => Ok(-1),
                Err(t) => Ok(s.exception_payload::<i32>(&t, exn).map_or(-2, |v| v * 10)),
            }
        })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(a).unwrap(), (), &[Handler::switch(sw)]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(0)));
    let ka = parked_a.get();
    assert_eq!(
        (s.state(ka), s.outstanding_stacks()),
        (Some(State::Suspended), 1)
    );
    // Wrong result type first: refused, nothing consumed.
    assert_eq!(
        kind_of(s.resume_throw::<i32, i64>(ka, exn, 4, &[])),
        Some(TrapKind::SignatureMismatch)
    );
    assert_eq!(
        s.resume_throw::<i32, i32>(ka, exn, 4, &[]),
        Ok(dynamic::Resumed::Returned(40))
    );
    assert_eq!(s.outstanding_stacks(), 0);
    kernel_side_clean(&s);
}

#[test]
fn a_switch_handle_taken_over_by_the_typed_door_resumes_with_its_types() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    let parked_a = Rc::new(Cell::new(ContObj::NULL));
    let p = parked_a.clone();
    let b = s
        .func_wrap(move |_: &Store, a: ContObj| -> Result<i32, Trap> {
            p.set(a);
            Ok(0)
        })
        .unwrap();
    let a = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let x = s.switch::<(), i64>(s.cont_new(b)?, sw, ())?;
            Ok(x as i32 * 3)
        })
        .unwrap();
    let r = s.resume::<(), i32>(s.cont_new(a).unwrap(), (), &[Handler::switch(sw)]);
    assert_eq!(r, Ok(dynamic::Resumed::Returned(0)));
    let raw = parked_a.get();
    assert_eq!(
        kind_of(Cont::<'_, i32, i32>::from_raw(&s, raw)),
        Some(TrapKind::SignatureMismatch)
    );
    let k = Cont::<'_, i64, i32>::from_raw(&s, raw).unwrap();
    assert!(matches!(k.resume(5, &[]), Ok(Resumed::Returned(15))));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn exception_payload_answers_only_for_the_thrown_tag_and_its_exact_types() {
    let s = store();
    let e = s.tag_new(&[ValType::I32], &[]).unwrap();
    let e_twin = s.tag_new(&[ValType::I32], &[]).unwrap();
    let e_unit = s.tag_new(&[], &[]).unwrap();
    // Before any throw: a trap made by hand that claims to be an exception
    // reads nothing of another type.
    let forged = Trap::new(TrapKind::Exception { tag: e.id() }, "made by hand");
    assert_eq!(s.exception_payload::<i32>(&forged, e), None);
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let trap = s
        .resume_throw::<i32, i32>(s.cont_new(f).unwrap(), e, 9, &[])
        .unwrap_err();
    assert_eq!(trap.kind(), TrapKind::Exception { tag: e.id() });
    assert_eq!(s.exception_payload::<i32>(&trap, e), Some(9));
    assert_eq!(s.exception_payload::<i64>(&trap, e), None);
    assert_eq!(s.exception_payload::<u128>(&trap, e), None);
    assert_eq!(s.exception_payload::<(i32, i32)>(&trap, e), None);
    assert_eq!(s.exception_payload::<()>(&trap, e), None);
    assert_eq!(s.exception_payload::<i32>(&trap, e_twin), None);
    assert_eq!(s.exception_payload::<()>(&trap, e_unit), None);
    assert_eq!(
        s.exception_payload::<i32>(&Trap::guest("not an exception"), e),
        None
    );
    // Another store never read this store's payload.
    let other = store();
    assert_eq!(other.exception_payload::<i32>(&trap, e), None);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn exception_payload_of_an_older_exception_never_reports_a_later_throws_payload() {
    let s = store();
    let first = s.tag_new(&[ValType::I32], &[]).unwrap();
    let second = s.tag_new(&[ValType::I32], &[]).unwrap();
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(0) })
        .unwrap();
    let old = s
        .resume_throw::<i32, i32>(s.cont_new(f).unwrap(), first, 1, &[])
        .unwrap_err();
    let new = s
        .resume_throw::<i32, i32>(s.cont_new(f).unwrap(), second, 2, &[])
        .unwrap_err();
    assert_eq!(s.exception_payload::<i32>(&new, second), Some(2));
    // `old` is an exception of `first`, thrown with 1. The store no longer
    // has its payload; what it has is `second`'s 2. It must not say 2.
    assert_ne!(s.exception_payload::<i32>(&old, first), Some(2));
}

// ----- the store's drop -----------------------------------------------------

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
            Resumed::Returned(()) => Ok(()),
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

/// A typed continuation of `f` suspended at `t`.
fn typed_kept<'s>(s: &'s Store, f: Func<(), ()>, t: Tag<(), ()>) -> Result<Cont<'s, (), ()>, Trap> {
    match Cont::new(s, f)?.resume((), &[t.on()])? {
        Resumed::Suspended(susp) => Ok(susp.take(t)?.1),
        Resumed::Returned(()) => Err(Trap::guest("returned")),
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

// ----- kernel locks, forgotten in every position ----------------------------

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

// ----- typed handles where cancellation is refused -------------------------

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

// ----- stacks and frame walks ------------------------------------------------
//
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
/// release (`cargo test -p kernel --release --lib making_and_dropping --
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

// ----- volume ----------------------------------------------------------------

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

// ----- functions belong to their store --------------------------------------

/// Fills freed heap memory with 0x41 bytes, as an attacker would before
/// using a dangling record: blocks of every size a record or a closure
/// might have had.
fn spray_the_heap() -> Vec<Vec<u8>> {
    (0..4096)
        .map(|i| alloc::vec![0x41u8; 16 + (i % 16) * 8])
        .collect()
}

#[test]
fn a_func_of_a_dropped_store_is_refused_as_foreign_never_called() {
    let calls = Rc::new(Cell::new(0));
    let a = store();
    let c = calls.clone();
    let f = a
        .func_wrap(move |_: &Store, x: i32| -> Result<i32, Trap> {
            c.set(c.get() + 1);
            Ok(x)
        })
        .unwrap();
    let typed = Func::<i32, i32>::wrap(&a, |_: &Store, x: i32| Ok(x))
        .unwrap()
        .detach();
    drop(a);
    let spray = spray_the_heap();
    let b = store();
    assert_eq!(kind_of(b.cont_new(f)), Some(TrapKind::ForeignFunc));
    assert_eq!(kind_of(Cont::new(&b, typed)), Some(TrapKind::ForeignFunc));
    // Nothing ran, nothing was taken.
    assert_eq!(calls.get(), 0);
    assert_eq!(b.outstanding_stacks(), 0);
    assert_eq!(b.cached_stacks(), 0);
    drop(spray);
    kernel_side_clean(&b);
}

#[test]
fn a_funcs_types_are_read_from_its_handle_even_after_its_store_is_gone() {
    let a = store();
    let f = a
        .func_wrap(|_: &Store, (x, y): (i32, i64)| -> Result<f64, Trap> { Ok(x as f64 + y as f64) })
        .unwrap();
    drop(a);
    let spray = spray_the_heap();
    assert_eq!(f.params(), &[ValType::I32, ValType::I64]);
    assert_eq!(f.results(), &[ValType::F64]);
    drop(spray);
}

#[test]
fn a_func_of_another_live_store_is_refused_as_foreign() {
    let (a, b) = (store(), store());
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    let fa = Func::<i32, i32>::wrap(&a, move |_: &Store, x: i32| {
        c.set(c.get() + 1);
        Ok(x + 1)
    })
    .unwrap();
    assert_eq!(kind_of(Cont::new(&b, fa)), Some(TrapKind::ForeignFunc));
    assert_eq!(
        kind_of(b.cont_new(fa.untyped())),
        Some(TrapKind::ForeignFunc)
    );
    // Inside a guest of B too.
    let fa_detached = fa.detach();
    let g = b
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            Ok(match Cont::new(s, fa_detached) {
                Err(t) if t.kind() == TrapKind::ForeignFunc => 1,
                _ => 0,
            })
        })
        .unwrap();
    assert_eq!(
        b.resume::<(), i32>(b.cont_new(g).unwrap(), (), &[]),
        Ok(dynamic::Resumed::Returned(1))
    );
    assert_eq!(calls.get(), 0);
    assert_eq!(b.outstanding_stacks(), 0);
    // In its own store it runs.
    match Cont::new(&a, fa).unwrap().resume(41, &[]) {
        Ok(Resumed::Returned(v)) => assert_eq!(v, 42),
        _ => panic!("expected 42"),
    }
    assert_eq!(calls.get(), 1);
    kernel_side_clean(&a);
    kernel_side_clean(&b);
}

// ----- a refused switch target ----------------------------------------------

#[test]
fn a_refused_switch_target_of_another_store_is_freed_by_its_own_store() {
    let (a, b) = (store(), store());
    let sw = Tag::<(), i32>::new(&a).unwrap();
    let fb = Func::<ContObj, i32>::wrap(&b, |_: &Store, _: ContObj| Ok(0)).unwrap();
    let target = Cont::new(&b, fb).unwrap();
    assert_eq!(b.outstanding_stacks(), 1);
    assert_eq!(kind_of(sw.switch(&a, target)), Some(TrapKind::UnhandledTag));
    // B freed its fresh continuation: its stack is in B's cache, none out.
    assert_eq!((b.outstanding_stacks(), b.cached_stacks()), (0, 1));
    assert_eq!((a.outstanding_stacks(), a.cached_stacks()), (0, 0));
    // Inside a guest of A, where the switch is refused as foreign.
    let bs = shared();
    let fb = Func::<ContObj, i32>::wrap(&bs, |_: &Store, _: ContObj| Ok(0))
        .unwrap()
        .detach();
    let (b_in_a, kind) = (bs.clone(), Rc::new(Cell::new(None)));
    let seen = kind.clone();
    let g = a
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let target = Cont::new(&b_in_a, fb)?;
            seen.set(kind_of(sw.switch(s, target)));
            Ok(b_in_a.outstanding_stacks() as i32)
        })
        .unwrap();
    assert_eq!(
        a.resume::<(), i32>(a.cont_new(g).unwrap(), (), &[sw.on_switch()]),
        Ok(dynamic::Resumed::Returned(0))
    );
    assert_eq!(kind.get(), Some(TrapKind::ForeignContinuation));
    assert_eq!(bs.outstanding_stacks(), 0);
    kernel_side_clean(&a);
}

// ----- closures a store holds, dropped with it ------------------------------

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
