//! Stores and what belongs to them: a guest of one store cannot run
//! another's chain, a handle or a function that outlived its store (or
//! came from another one) is foreign to every later store, and a refused
//! switch target is freed by its own store. Mixing stores is the shortest
//! way to a dangling record.

use super::*;

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
