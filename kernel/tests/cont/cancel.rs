//! Cancellation: what dropping a suspended continuation does, from safe
//! code. The drop resumes the continuation once with a cancellation: its
//! pending `suspend` (or `switch`) returns `Err` of kind `Cancelled`, the
//! guest passes it on with `?`, every frame returns and runs its
//! destructors, and only then does the stack go back to the pool.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::Cell;
use core::pin::Pin;
use kernel::cont::dynamic::{ContObj, Handler, Resumed, Tag};
use kernel::cont::{MmapStacks, State, Store, Trap, TrapKind, ValType};

fn store() -> Pin<Box<Store>> {
    Store::new(MmapStacks::new(), 64 * 1024)
}

/// A continuation of `guest` (a function of `s` made for it), resumed
/// under a handler of `tag` and suspended there: the handle each drop
/// below cancels.
fn suspended_at(
    s: &Store,
    tag: Tag,
    guest: impl Fn(&Store, ()) -> Result<(), Trap> + 'static,
) -> ContObj {
    let k = s.cont_new(s.func_wrap(guest).unwrap()).unwrap();
    let Ok(Resumed::Suspended { cont, .. }) = s.resume::<(), ()>(k, (), &[Handler::suspend(tag)])
    else {
        panic!("expected a suspension")
    };
    cont
}

/// Counts its drops into a shared cell.
struct Witness(Rc<Cell<u32>>);

impl Drop for Witness {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn dropping_a_suspended_guest_runs_the_destructors_of_its_box_vec_and_rc() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let drops = Rc::new(Cell::new(0));
    let shared = Rc::new(5);
    let (d, sh) = (drops.clone(), shared.clone());
    let cont = suspended_at(&s, tag, move |s: &Store, (): ()| -> Result<(), Trap> {
        let boxed = Box::new(Witness(d.clone()));
        let list: Vec<Witness> = vec![Witness(d.clone()), Witness(d.clone())];
        let counted = sh.clone();
        s.suspend::<(), ()>(tag, ())?;
        // Never reached: the cancellation returned `Err` above.
        d.set(100 + *counted as u32 + list.len() as u32);
        drop(boxed);
        Ok(())
    });
    assert_eq!((drops.get(), Rc::strong_count(&shared)), (0, 3));
    assert_eq!(s.drop_cont(cont), Ok(()));
    assert_eq!((drops.get(), Rc::strong_count(&shared)), (3, 2));
    assert_eq!(s.state(cont), Some(State::Dropped));
    assert_eq!(s.outstanding_stacks(), 0);
    drop(s);
    assert_eq!(Rc::strong_count(&shared), 1);
}

#[test]
fn the_cancellation_is_an_err_of_kind_cancelled_at_the_pending_suspend() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let seen = Rc::new(Cell::new(None));
    let seen_in = seen.clone();
    let cont = suspended_at(&s, tag, move |s: &Store, (): ()| -> Result<(), Trap> {
        let r = s.suspend::<(), ()>(tag, ());
        seen_in.set(r.err().map(|t| t.kind()));
        Ok(())
    });
    // The guest swallows the cancellation and returns normally: the drop
    // is complete all the same.
    assert_eq!(s.drop_cont(cont), Ok(()));
    assert_eq!(seen.get(), Some(TrapKind::Cancelled));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn a_cancelled_guest_that_suspends_again_finds_no_handler_and_is_freed() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let second = Rc::new(Cell::new(None));
    let second_in = second.clone();
    let cont = suspended_at(&s, tag, move |s: &Store, (): ()| -> Result<(), Trap> {
        let _ = s.suspend::<(), ()>(tag, ());
        // Ignores the cancellation and tries to suspend once more: the
        // drop's resume has no handlers, so this fails too.
        second_in.set(s.suspend::<(), ()>(tag, ()).err().map(|t| t.kind()));
        Ok(())
    });
    assert_eq!(s.drop_cont(cont), Ok(()));
    assert_eq!(second.get(), Some(TrapKind::UnhandledTag));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn a_trap_other_than_the_cancellation_comes_out_of_the_drop() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let cont = suspended_at(&s, tag, move |s: &Store, (): ()| -> Result<(), Trap> {
        if s.suspend::<(), ()>(tag, ()).is_err() {
            return Err(Trap::guest("failed while being cancelled"));
        }
        Ok(())
    });
    let trap = s.drop_cont(cont).unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::Guest, "failed while being cancelled")
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn dropping_a_two_stack_segment_unwinds_both_guests_innermost_first() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let order = Rc::new(core::cell::RefCell::new(Vec::new()));
    let o = order.clone();
    let inner = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            struct Note(Rc<core::cell::RefCell<Vec<&'static str>>>, &'static str);
            impl Drop for Note {
                fn drop(&mut self) {
                    self.0.borrow_mut().push(self.1);
                }
            }
            let _note = Note(o.clone(), "inner");
            s.suspend::<(), ()>(tag, ())
        })
        .unwrap();
    let o = order.clone();
    let cont = suspended_at(&s, tag, move |s: &Store, (): ()| -> Result<(), Trap> {
        let k = s.cont_new(inner)?;
        // No handler here: the suspend passes this resume by, and the
        // two stacks are suspended together.
        let r = s.resume::<(), ()>(k, (), &[]);
        o.borrow_mut().push(match &r {
            Err(t) if t.kind() == TrapKind::Cancelled => "outer saw the cancellation",
            _ => "outer saw something else",
        });
        r.map(|_| ())
    });
    assert_eq!(s.outstanding_stacks(), 2);
    assert_eq!(s.drop_cont(cont), Ok(()));
    assert_eq!(*order.borrow(), ["inner", "outer saw the cancellation"]);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn dropping_a_fresh_continuation_never_runs_its_function() {
    let s = store();
    let ran = Rc::new(Cell::new(false));
    let r = ran.clone();
    let f = s
        .func_wrap(move |_: &Store, x: i32| -> Result<i32, Trap> {
            r.set(true);
            Ok(x)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let k = s.bind(k, 3).unwrap();
    assert_eq!(s.drop_cont(k), Ok(()));
    assert!(!ran.get());
    assert_eq!(s.state(k), Some(State::Dropped));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn dropping_the_store_cancels_what_is_still_suspended() {
    let s = store();
    let tag = s.tag_new(&[ValType::I32], &[]).unwrap();
    let drops = Rc::new(Cell::new(0));
    let d = drops.clone();
    let f = s
        .func_wrap(move |s: &Store, n: i32| -> Result<(), Trap> {
            let _w = Witness(d.clone());
            s.suspend::<i32, ()>(tag, n)
        })
        .unwrap();
    for n in 0..3 {
        let k = s.cont_new(f).unwrap();
        let r = s.resume::<i32, ()>(k, n, &[Handler::suspend(tag)]);
        assert!(matches!(r, Ok(Resumed::Suspended { .. })));
    }
    assert_eq!(drops.get(), 0);
    drop(s);
    assert_eq!(drops.get(), 3);
}

/// K2 suspends once to the kernel, is resumed, and resumes K3, which
/// suspends past K2's own resume to the kernel's: the segment K3..K2.
/// A resume writes no state, so K2's record said `Suspended` from its
/// first suspend until the search marked it on its way out; the store's
/// drop cancels the segment once, through K3, and each guest's frame
/// drops its witness once.
#[test]
fn a_store_drop_cancels_a_segment_whose_outer_member_had_suspended_before_as_one_segment() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let drops = Rc::new(Cell::new(0));
    let d3 = drops.clone();
    let k3_fn = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _w = Witness(d3.clone());
            s.suspend::<_, ()>(t, ())?;
            Ok(())
        })
        .unwrap();
    let d2 = drops.clone();
    let k2_fn = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _w = Witness(d2.clone());
            s.suspend::<_, ()>(t, ())?;
            let k3 = s.cont_new(k3_fn)?;
            s.resume::<_, ()>(k3, (), &[])?;
            Ok(())
        })
        .unwrap();
    let k2 = s.cont_new(k2_fn).unwrap();
    let Ok(Resumed::Suspended { cont: k2, .. }) = s.resume::<_, ()>(k2, (), &[Handler::suspend(t)])
    else {
        panic!("K2's first suspend");
    };
    let Ok(Resumed::Suspended { cont: k3, .. }) = s.resume::<_, ()>(k2, (), &[Handler::suspend(t)])
    else {
        panic!("K3's suspend past K2");
    };
    assert_eq!(
        (s.state(k2), s.state(k3)),
        (Some(State::Consumed), Some(State::Suspended))
    );
    assert_eq!(drops.get(), 0);
    drop(s);
    assert_eq!(drops.get(), 2);
}
