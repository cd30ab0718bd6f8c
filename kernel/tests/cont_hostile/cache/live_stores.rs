//! The list of live stores (`kernel::cont::live_store_ids`, where a
//! debugger starts): stores made, dropped and forgotten inside guests, and
//! dropped in a scrambled order, must leave it exact.

use super::*;

use kernel::cont::live_store_ids;

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
