//! Drop: of a suspended segment, and of the store with continuations left.

use super::*;
use crate::scenarios_shared::forwarding_pair;

#[test]
fn dropping_a_forwarded_segment_frees_both_stacks() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b).unwrap()).unwrap();
    let (_, cont) = suspended::<i32>(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(s.outstanding_stacks(), 2);
    s.drop_cont(cont).unwrap();
    assert_eq!(s.state(cont), Some(State::Dropped));
    assert_eq!(s.state(outer), Some(State::Dropped));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn dropping_the_store_frees_fresh_and_suspended_stacks() {
    let count = Rc::new(Cell::new(0));
    let s = Store::new(Counting(MmapStacks::new(), count.clone()), STACK);
    let t = s.tag_new(&[], &[]).unwrap();
    let f = s.func_wrap(move |s, ()| s.suspend::<_, ()>(t, ())).unwrap();
    let _fresh = s.cont_new(f).unwrap();
    let k = s.cont_new(f).unwrap();
    suspended::<()>(s.resume(k, (), &[Handler::suspend(t)]));
    assert_eq!(count.get(), 2);
    drop(s);
    assert_eq!(count.get(), 0);
}
