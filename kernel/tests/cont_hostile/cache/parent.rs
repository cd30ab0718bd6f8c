//! `State::Parent`, derived by `Store::state` instead of written: the
//! handles to the levels of a running chain, and a trap caught mid-chain,
//! must read the state each level is really in.

use super::*;

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
