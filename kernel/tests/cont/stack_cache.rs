//! The store's stack cache: up to `STACK_CACHE` stacks of ended
//! continuations stay with their store for its next `cont.new`; the rest,
//! and all of them when the store drops, go back to the provider.

use super::*;
use kernel::cont::STACK_CACHE;

/// A guest that returns the address of one of its own locals: where on
/// which stack it ran.
fn where_i_ran(s: &Store) -> Func {
    s.func_wrap(|_, ()| {
        let local = 0u8;
        Ok(core::hint::black_box(&local) as *const u8 as i64)
    })
    .unwrap()
}

#[test]
fn the_next_cont_new_of_a_store_runs_on_the_stack_its_last_continuation_ended_on() {
    let s = store();
    let f = where_i_ran(&s);
    let k1 = s.cont_new(f).unwrap();
    let top = s.stack_top(k1).unwrap();
    let first: i64 = returned(s.resume(k1, (), &[]));
    assert_eq!(s.cached_stacks(), 1);
    let k2 = s.cont_new(f).unwrap();
    assert_eq!(s.cached_stacks(), 0);
    assert_eq!(s.stack_top(k2), Some(top));
    let second: i64 = returned(s.resume(k2, (), &[]));
    assert_eq!(second, first);
}

#[test]
fn a_store_keeps_at_most_stack_cache_stacks_and_gives_the_rest_back() {
    let count = Rc::new(Cell::new(0));
    let s = Store::new(Counting(MmapStacks::new(), count.clone()), STACK);
    let f = where_i_ran(&s);
    let n = STACK_CACHE + 3;
    let all: Vec<ContObj> = (0..n).map(|_| s.cont_new(f).unwrap()).collect();
    assert_eq!((count.get(), s.outstanding_stacks()), (n, n));
    for k in all {
        let _: i64 = returned(s.resume(k, (), &[]));
    }
    assert_eq!(s.cached_stacks(), STACK_CACHE);
    assert_eq!(count.get(), STACK_CACHE);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn dropping_a_store_gives_its_cached_stacks_back_to_the_provider() {
    let count = Rc::new(Cell::new(0));
    let s = Store::new(Counting(MmapStacks::new(), count.clone()), STACK);
    let f = where_i_ran(&s);
    for _ in 0..2 {
        let k = s.cont_new(f).unwrap();
        s.drop_cont(k).unwrap();
    }
    let a = s.cont_new(f).unwrap();
    let b = s.cont_new(f).unwrap();
    s.drop_cont(a).unwrap();
    s.drop_cont(b).unwrap();
    assert_eq!((s.cached_stacks(), count.get()), (2, 2));
    drop(s);
    assert_eq!(count.get(), 0);
}

#[test]
fn a_cached_stack_is_initialized_afresh_for_a_function_of_other_types() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let parked = s.func_wrap(move |s, ()| s.suspend::<_, ()>(t, ())).unwrap();
    let k = s.cont_new(parked).unwrap();
    let (_, k) = suspended::<()>(s.resume(k, (), &[Handler::suspend(t)]));
    s.drop_cont(k).unwrap();
    assert_eq!(s.cached_stacks(), 1);
    let add = s
        .func_wrap(|_, (a, b, c): (i64, i32, i64)| Ok((a + c, b * 3)))
        .unwrap();
    let k = s.cont_new(add).unwrap();
    let (sum, triple): (i64, i32) = returned(s.resume(k, (40i64, 7i32, 2i64), &[]));
    assert_eq!((sum, triple), (42, 21));
}

#[test]
fn a_trapped_continuations_stack_is_cached_and_runs_the_next_one() {
    let s = store();
    let bad = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("no")) })
        .unwrap();
    let k = s.cont_new(bad).unwrap();
    let top = s.stack_top(k).unwrap();
    trapped(s.resume::<(), ()>(k, (), &[]));
    assert_eq!((s.cached_stacks(), s.outstanding_stacks()), (1, 0));
    let f = where_i_ran(&s);
    let k = s.cont_new(f).unwrap();
    assert_eq!(s.stack_top(k), Some(top));
    let at: i64 = returned(s.resume(k, (), &[]));
    assert!((at as usize) < top && (at as usize) > top - STACK);
}
