//! Traps: unhandled tags, failing guests, one parent at a time, and the backtrace walk.

use super::*;

#[test]
fn suspend_from_kernel_code_is_an_unhandled_tag() {
    let s = store();
    let a = s.tag_new(&[], &[]).unwrap();
    assert_eq!(
        trapped(s.suspend::<_, ()>(a, ())).kind(),
        TrapKind::UnhandledTag
    );
}

#[test]
fn guest_raised_trap_keeps_its_kind_message_and_a_backtrace() {
    let s = store();
    let f = s
        .func_wrap(|_, ()| -> Result<(), Trap> { Err(Trap::guest("boom")) })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let trap = trapped(s.resume::<_, ()>(k, (), &[]));
    assert_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "boom"));
    // shim, entry, trampoline's record (the parent's resume point), at least.
    #[cfg(debug_assertions)]
    assert!(
        trap.backtrace().frames().len() >= 3,
        "{:?}",
        trap.backtrace()
    );
}

#[test]
fn trap_deep_in_a_chain_travels_one_parent_at_a_time_to_the_outermost_resume() {
    let s = store();
    let passed_on = Rc::new(Cell::new(0));
    let me: Rc<Cell<Option<Func>>> = Rc::new(Cell::new(None));
    let (me2, count) = (me.clone(), passed_on.clone());
    let level = s
        .func_wrap(move |s, depth: i32| {
            if depth == 0 {
                return Err(Trap::guest("deep"));
            }
            let k = s.cont_new(me2.get().unwrap())?;
            let r = s.resume(k, depth - 1, &[]);
            // The trap of the level below comes back here, as an `Err`
            // of this guest's own resume; it passes it on.
            if r.is_err() {
                count.set(count.get() + 1);
            }
            r.map(|_: Resumed<i32>| depth)
        })
        .unwrap();
    me.set(Some(level));
    let k = s.cont_new(level).unwrap();
    let trap = trapped(s.resume::<_, i32>(k, 4, &[]));
    assert_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "deep"));
    assert_eq!(passed_on.get(), 4);
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
    assert!(!s.in_continuation());
    // The store goes on working.
    let ok = s.func_wrap(|_, ()| Ok(7)).unwrap();
    let k = s.cont_new(ok).unwrap();
    assert_eq!(returned::<i32>(s.resume(k, (), &[])), 7);
}

#[test]
fn walk_stops_at_a_frame_pointer_within_16_bytes_of_tos() {
    let s = store();
    let visited = Rc::new(Cell::new(usize::MAX));
    let v2 = visited.clone();
    let f = s
        .func_wrap(move |s, tos: i64| {
            // A frame record needs 16 bytes, [fp] and [fp+8]: one that
            // starts 8 below TOS would read past the stack's top.
            let mut n = 0;
            // SAFETY: inside a continuation, every read is bounds-checked.
            unsafe {
                s.walk_frames(tos as usize - 8, |_| {
                    n += 1;
                    true
                })
            };
            v2.set(n);
            Ok(())
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let tos = s.stack_top(k).unwrap() as i64;
    returned::<()>(s.resume(k, tos, &[]));
    assert_eq!(visited.get(), 0);
}

#[test]
#[cfg_attr(
    not(debug_assertions),
    ignore = "optimised host builds omit frame pointers"
)]
fn frame_pointer_walk_from_a_continuation_reaches_the_parent_stack() {
    let s = store();
    let frames: Rc<RefCell<Vec<Frame>>> = Rc::new(RefCell::new(Vec::new()));
    let frames2 = frames.clone();
    let f = s
        .func_wrap(move |s, ()| {
            // SAFETY: this closure's own frame pointer.
            unsafe {
                s.walk_frames(kernel::cont::switch::frame_pointer(), |f| {
                    frames2.borrow_mut().push(f);
                    true
                })
            };
            Ok(())
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let top = s.stack_top(k).unwrap();
    let bottom = top - STACK;
    let here = 0u8;
    let here = &here as *const u8 as usize;
    returned::<()>(s.resume(k, (), &[]));
    let frames = frames.borrow();
    let record = frames
        .iter()
        .position(|f| f.fp == top - 0x10)
        .expect("the trampoline's frame record");
    // Frames before it are on the continuation stack, the next one on ours.
    assert!(
        frames[..record]
            .iter()
            .all(|f| (bottom..top).contains(&f.fp))
    );
    let parent = frames[record + 1].fp;
    assert!(!(bottom..top).contains(&parent));
    assert!(
        parent.abs_diff(here) < 64 * 1024,
        "{parent:#x} vs {here:#x}"
    );
}

#[test]
fn a_segment_suspended_under_a_guest_and_resumed_by_the_kernel_finds_no_handler_of_that_guest() {
    // The suspend leaves the segment's `parent` as it was (naming the
    // guest that resumed it); the kernel's resume writes it again, so the
    // second suspend's search stops at the kernel's stack.
    let s = store();
    let t = s.tag_new(&[], &[]).unwrap();
    let inner = s
        .func_wrap(move |s, ()| -> Result<(), Trap> {
            loop {
                s.suspend::<_, ()>(t, ())?;
            }
        })
        .unwrap();
    let outer = s
        .func_wrap(move |s, ()| -> Result<ContObj, Trap> {
            let k = s.cont_new(inner)?;
            let (handler, k) = suspended::<()>(s.resume(k, (), &[Handler::suspend(t)]));
            assert_eq!(handler, 0);
            Ok(k)
        })
        .unwrap();
    let a = s.cont_new(outer).unwrap();
    let k: ContObj = returned(s.resume(a, (), &[]));
    let trap = trapped(s.resume::<_, ()>(k, (), &[]));
    assert_eq!(trap.kind(), TrapKind::UnhandledTag);
    assert_eq!(s.state(k), Some(State::Trapped));
    assert_eq!(s.outstanding_stacks(), 0);
}
