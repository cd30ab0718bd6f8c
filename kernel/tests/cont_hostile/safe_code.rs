//! What safe code can rely on, checked on the host from code that cannot
//! use `unsafe` (this module forbids it, and uses only the crate's public
//! API): each test is one way a user once broke the runtime (or could
//! have), and states the rule that now holds. The in-kernel suite
//! `tests/hostile.rs` checks the same rules where they touch the CPU
//! (panics, locks, the console); `docs/guarantees.md` lists them all.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::rc::Rc;
use core::pin::Pin;
use kernel::cont::dynamic::{ContObj, Handler, Resumed};
use kernel::cont::{MmapStacks, State, Store, Trap, TrapKind};
use kernel::sync::Mutex;

const STACK: usize = 64 * 1024;

fn store() -> Rc<Pin<Box<Store>>> {
    Rc::new(Store::new(MmapStacks::new(), STACK))
}

/// D1, trap variant: a guest of S1 resuming a continuation of S2 is
/// refused with a trap that the S1 guest receives; nothing of S2 runs on
/// top of S1's stacks, and both stores go on working.
#[test]
fn resume_of_another_stores_continuation_inside_a_chain_traps_in_the_resumer() {
    let (s1, s2) = (store(), store());
    let t1 = s1.tag_new(&[], &[]).unwrap();
    let s1c = s1.clone();
    let inner = s2
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> { s1c.suspend::<(), ()>(t1, ()) })
        .unwrap();
    let s2c = s2.clone();
    let g = s1
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let k2 = s2c.cont_new(inner)?;
            match s2c.resume::<(), ()>(k2, (), &[]) {
                Err(trap) if trap.kind() == TrapKind::OtherStoreRunning => {
                    s2c.drop_cont(k2)?;
                    Ok(1)
                }
                _ => Ok(0),
            }
        })
        .unwrap();
    let k = s1.cont_new(g).unwrap();
    let r = s1.resume::<(), i32>(k, (), &[Handler::suspend(t1)]);
    assert_eq!(r.map_err(|t| t.kind()), Ok(Resumed::Returned(1)));
    assert_eq!((s1.outstanding_stacks(), s2.outstanding_stacks()), (0, 0));
    assert!(!s2.in_continuation());
    // S2 still runs its own continuations, traps included.
    let bad = s2
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Err(Trap::guest("x")) })
        .unwrap();
    let kbad = s2.cont_new(bad).unwrap();
    let trap = s2.resume::<(), ()>(kbad, (), &[]).unwrap_err();
    assert_eq!(trap.kind(), TrapKind::Guest);
    assert_eq!(s2.outstanding_stacks(), 0);
}

/// D1, drop variant: the reproduction of the report, end to end. S1's
/// guest cannot start S2's continuation, so the drop of S1's suspended
/// continuation frees only S1's stack, and S2's next trap comes back as an
/// ordinary `Err`.
#[test]
fn dropping_a_suspended_chain_never_frees_a_stack_another_store_runs_on() {
    let (s1, s2) = (store(), store());
    let t1 = s1.tag_new(&[], &[]).unwrap();
    let s1c = s1.clone();
    let inner = s2
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> { s1c.suspend::<(), ()>(t1, ()) })
        .unwrap();
    let s1d = s1.clone();
    let s2c = s2.clone();
    let g = s1
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            let k2 = s2c.cont_new(inner)?;
            let refused = s2c.resume::<(), ()>(k2, (), &[]).is_err();
            s2c.drop_cont(k2)?;
            // Suspend to the kernel anyway, as the guest of the report did.
            if refused {
                s1d.suspend::<(), ()>(t1, ())?;
            }
            Ok(())
        })
        .unwrap();
    let bad = s2
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Err(Trap::guest("x")) })
        .unwrap();
    let kbad = s2.cont_new(bad).unwrap();
    let r = s1.resume::<(), ()>(s1.cont_new(g).unwrap(), (), &[Handler::suspend(t1)]);
    let Ok(Resumed::Suspended { cont, handler: 0 }) = r else {
        panic!("expected a suspension, got {r:?}")
    };
    s1.drop_cont(cont).unwrap();
    assert_eq!(s1.outstanding_stacks(), 0);
    let trap = s2.resume::<(), ()>(kbad, (), &[]).unwrap_err();
    assert_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "x"));
    assert!(!s2.in_continuation());
    assert_eq!(s2.outstanding_stacks(), 0);
}

/// D5: tag ids are unique across stores, so a handler for S2's first tag
/// does not catch a suspend of S1's first tag.
#[test]
fn a_handler_catches_only_its_own_tag_never_another_stores_tag_of_the_same_rank() {
    let (s1, s2) = (store(), store());
    let t1 = s1.tag_new(&[], &[]).unwrap();
    let t2 = s2.tag_new(&[], &[]).unwrap();
    assert_ne!(t1.id(), t2.id());
    let f = s2
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> { s.suspend::<(), ()>(t1, ()) })
        .unwrap();
    let k = s2.cont_new(f).unwrap();
    let trap = s2
        .resume::<(), ()>(k, (), &[Handler::suspend(t2)])
        .unwrap_err();
    assert_eq!(trap.kind(), TrapKind::UnhandledTag);
    assert_eq!(s2.outstanding_stacks(), 0);
}

/// D6: a used handle never reports the state of another continuation that
/// now occupies its recycled record.
#[test]
fn a_consumed_handle_reports_consumed_never_the_state_of_the_records_next_continuation() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let ret = s.func_wrap(|_: &Store, (): ()| Ok(())).unwrap();
    let sus = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> { s.suspend::<(), ()>(tag, ()) })
        .unwrap();
    let k = s.cont_new(ret).unwrap();
    assert_eq!(s.state(k), Some(State::Fresh));
    assert!(s.resume::<(), ()>(k, (), &[]).is_ok());
    assert_eq!(s.state(k), Some(State::Returned));
    // The record is recycled for a new continuation: `k` is not it.
    let k2 = s.cont_new(sus).unwrap();
    assert_eq!(
        (s.state(k2), s.state(k)),
        (Some(State::Fresh), Some(State::Consumed))
    );
    let r = s
        .resume::<(), ()>(k2, (), &[Handler::suspend(tag)])
        .unwrap();
    let Resumed::Suspended { cont, .. } = r else {
        panic!("expected a suspension")
    };
    assert_eq!(s.state(cont), Some(State::Suspended));
    assert_eq!(
        (s.state(k), s.state(k2)),
        (Some(State::Consumed), Some(State::Consumed))
    );
    s.drop_cont(cont).unwrap();
    assert_eq!(s.state(cont), Some(State::Dropped));
    assert_eq!(
        (s.state(k), s.state(ContObj::NULL)),
        (Some(State::Consumed), None)
    );
}

/// D3 on the host: a guest that suspends while holding a kernel lock traps,
/// naming the lock, and the kernel-level resume starts clean.
#[test]
fn suspend_while_holding_a_kernel_lock_traps_naming_the_lock() {
    let s = store();
    let tag = s.tag_new(&[], &[]).unwrap();
    let lock = Rc::new(Mutex::new("guest table", 0));
    let l = lock.clone();
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let _guard = l.lock();
            s.suspend::<(), ()>(tag, ())
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = s
        .resume::<(), ()>(k, (), &[Handler::suspend(tag)])
        .unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "guest table")
    );
    assert_eq!(kernel::sync::held(), 0);
    assert_eq!(s.outstanding_stacks(), 0);
}

/// D3: a guest that returns with a lock still held (its guard forgotten)
/// traps instead of ending with the lock taken.
#[test]
fn a_continuation_that_returns_holding_a_lock_traps() {
    let s = store();
    let lock = Rc::new(Mutex::new("forgotten", ()));
    let l = lock.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            core::mem::forget(l.lock());
            Ok(7)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = s.resume::<(), i32>(k, (), &[]).unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "forgotten")
    );
    assert_eq!(kernel::sync::held(), 0);
}

/// D3: kernel code that holds a lock cannot resume a continuation either.
#[test]
fn resume_while_holding_a_kernel_lock_traps_before_anything_runs() {
    let s = store();
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(1) })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let lock = Mutex::new("kernel table", ());
    let guard = lock.lock();
    let trap = s.resume::<(), i32>(k, (), &[]).unwrap_err();
    assert_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::LockHeld, "kernel table")
    );
    drop(guard);
    assert_eq!(s.state(k), Some(State::Fresh));
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]).unwrap(),
        Resumed::Returned(1)
    );
}
