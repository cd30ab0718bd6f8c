//! `switch`: symmetric transfer between continuations under a switch handler.

use super::*;

#[test]
fn switch_passes_args_before_the_continuation_and_back() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    // B receives (x, A's handle), switches back to A with x * 3, then returns.
    let b = s
        .func_wrap(move |s, (x, a): (i32, ContObj)| {
            let back: i32 = s.switch(a, sw, x * 3)?;
            Ok(back + 1)
        })
        .unwrap();
    let kb = s.cont_new(b).unwrap();
    let a = s
        .func_wrap(move |s, ()| {
            let (x, b): (i32, ContObj) = s.switch(kb, sw, 7)?;
            // B is suspended in `b`; finish it from here.
            let r = s.resume::<_, i32>(b, 100, &[Handler::switch(sw)])?;
            match r {
                Resumed::Returned(r) => Ok(x * 1000 + r),
                Resumed::Suspended { .. } => Err(Trap::guest("B suspended")),
            }
        })
        .unwrap();
    let ka = s.cont_new(a).unwrap();
    let v: i32 = returned(s.resume(ka, (), &[Handler::switch(sw)]));
    assert_eq!(v, 21 * 1000 + 101);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn switch_handler_does_not_catch_suspend_and_suspend_handler_does_not_catch_switch() {
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let susp = s.func_wrap(move |s, ()| s.suspend::<_, ()>(t, ())).unwrap();
    let k = s.cont_new(susp).unwrap();
    assert_eq!(
        trapped(s.resume::<_, ()>(k, (), &[Handler::switch(t)])).kind(),
        TrapKind::UnhandledTag
    );

    let target_fn = s.func_wrap(|_, _k: ContObj| Ok(())).unwrap();
    let target = s.cont_new(target_fn).unwrap();
    let sw = s
        .func_wrap(move |s, ()| s.switch::<_, ()>(target, t, ()))
        .unwrap();
    let k = s.cont_new(sw).unwrap();
    assert_eq!(
        trapped(s.resume::<_, ()>(k, (), &[Handler::suspend(t)])).kind(),
        TrapKind::UnhandledTag
    );
    // The switch never happened: the target is still fresh and usable.
    assert_eq!(s.state(target), Some(State::Fresh));
    s.drop_cont(target).unwrap();
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn switch_to_a_target_returning_other_types_traps_and_leaves_it_usable() {
    let s = store();
    let sw = s.tag_new(&[], &[]).unwrap();
    // The target returns i64; the segment it would replace returns ().
    let target_fn = s.func_wrap(|_, _prev: ContObj| Ok(5i64)).unwrap();
    let target = s.cont_new(target_fn).unwrap();
    let f = s
        .func_wrap(move |s, ()| s.switch::<_, ()>(target, sw, ()))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[Handler::switch(sw)]));
    assert_eq!(trap.kind(), TrapKind::SignatureMismatch);
    assert_eq!(
        trap.message(),
        "switch target returns other types than the segment it replaces"
    );
    assert_eq!(s.state(target), Some(State::Fresh));
    assert_eq!(returned::<i64>(s.resume(target, ContObj::NULL, &[])), 5);
    assert_eq!(s.outstanding_stacks(), 0);
}
