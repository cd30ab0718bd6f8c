//! In-kernel tests of stack-switching continuations: `cont.new`, `resume`,
//! `suspend`, `switch`, `cont.bind`, drop and traps, on the kernel's own
//! continuation stacks.
//!
//! The behaviours the host tests in `kernel/tests/cont/` check too are
//! written once, in `scenarios.rs` beside this file; here `cont_suite!`
//! runs each of them where the runtime is meant to run: every store gets
//! its stacks from [`KernelStacks`], so each continuation lives in a slot of
//! the continuation-stack region, mapped page by page on first touch, with
//! an unmapped guard page below. The tests written out below check what only
//! the kernel can show: that a guest runs on such a slot, the stack layout
//! at the real addresses the pool hands out, and the frame-pointer walk
//! and a trap's origin all the way into the kernel stack.
//!
//! Guest closures never use `check!` (a `return Err(String)` would not fit
//! their `Result<_, Trap>`, and a panic cannot unwind across the start
//! trampoline); they return or record what they saw, and the test checks it
//! afterwards on the kernel stack.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::pin::Pin;

mod scenarios;

use kernel::cont::dynamic::Handler;
use kernel::cont::switch::{frame_pointer, start_trampoline_address};
use kernel::cont::{Frame, StackProvider, State, Store, StoreLimits, Trap, TrapKind};
use kernel::paging::{self, CONT_STACKS_START};
use kernel::stacks::{self, KernelStacks};
use kernel::testing::TestResult;
use kernel::{check, check_eq};
use scenarios::{ok, returned, trapped};
use x86_64::VirtAddr;

/// Usable bytes of every continuation stack in these tests.
const STACK: usize = 64 * 1024;

/// A store of kernel stacks. Its stack limit is the pool's size, above the
/// default ([`StoreLimits::DEFAULT`]): a scenario holds 10,000
/// continuations at once.
fn store() -> Pin<Box<Store>> {
    Store::with_limits(
        KernelStacks,
        STACK,
        StoreLimits {
            stacks: 16_384,
            ..StoreLimits::DEFAULT
        },
    )
}

/// `cont_suite!(a, b)`: the suite of this file. Each name becomes a test
/// that runs the scenario of that name from `scenarios.rs` in a
/// fresh store of kernel stacks; the tests written out below follow them.
macro_rules! cont_suite {
    ($($scenario:ident),* $(,)?) => {
        $(
            fn $scenario() -> TestResult {
                scenarios::$scenario(&store())
            }
        )*
        kernel::suite!(
            "cont",
            [
                $($scenario,)*
                guest_runs_on_a_continuation_stack_below_its_tos_not_on_the_kernel_stack,
                fresh_stack_layout_matches_spec_offsets_for_capacity_0_1_2_5,
                frame_pointer_walk_from_a_continuation_reaches_its_parent_on_the_kernel_stack,
                a_suspended_continuations_control_context_holds_its_own_rsp_rbp_and_pc,
                a_continuation_suspended_out_of_line_holds_that_frames_rsp_rbp_and_pc,
                trap_has_a_backtrace_and_its_origin_is_the_tos_of_the_trapping_continuation,
            ]
        );
    };
}

crate::for_each_scenario!(cont_suite);

/// The address of a local variable of the caller's frame: where its stack is.
#[inline(always)]
fn stack_address() -> usize {
    let here = 0u8;
    core::hint::black_box(&here) as *const u8 as usize
}

/// The TOS of the pool slot holding `addr`, from the pool's geometry alone
/// (slot `i` spans `CONT_STACKS_START + i * slot_size .. + (i+1) * slot_size`),
/// independent of the runtime. `slot_size` is read on the kernel stack
/// beforehand: `stacks::config` takes the pool's lock.
fn slot_top(addr: usize, slot_size: usize) -> usize {
    let start = CONT_STACKS_START.as_u64() as usize;
    start + ((addr - start) / slot_size + 1) * slot_size
}

// ----- what only the kernel can show -------------------------------------

fn guest_runs_on_a_continuation_stack_below_its_tos_not_on_the_kernel_stack() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let s = store();
    // The guest reports where its local variable lives, as two i64s.
    let f = ok(s.func_wrap(move |_, ()| {
        let here = stack_address();
        Ok((here as i64, slot_top(here, slot_size) as i64))
    }))?;
    let k = ok(s.cont_new(f))?;
    let (here, top): (i64, i64) = returned(s.resume(k, (), &[]))?;
    let (here, top) = (here as u64, top as u64);
    check!(
        stacks::in_region(VirtAddr::new(here)),
        "guest local at {here:#x}"
    );
    check!(
        top - here < STACK as u64,
        "guest local {here:#x} is not within the stack below {top:#x}"
    );
    let kernel = paging::kernel_stack().ok_or("kernel stack not recorded")?;
    let mine = VirtAddr::new(stack_address() as u64);
    check!(
        kernel.contains(mine),
        "the test itself is not on the kernel stack: {mine:#x}"
    );
    check!(!stacks::in_region(mine));
    Ok(())
}

// ----- the stack layout and frame-pointer walks ---------------------------

fn fresh_stack_layout_matches_spec_offsets_for_capacity_0_1_2_5() -> TestResult {
    let before = stacks::outstanding();
    let slot_size = stacks::config().slot_size();
    let stack = ok(KernelStacks.allocate(STACK, core::ptr::null()))?;
    let tos = stack.top();
    let t = tos as usize;
    check_eq!(t % 4096, 0);
    check_eq!(slot_top(t - 1, slot_size), t);
    check_eq!(stack.bottom() as usize, t - STACK);
    // The page below the stack is the guard: never mapped.
    check_eq!(stack.guard(), 4096);
    check!(paging::page_flags(x86_64::VirtAddr::new(t as u64 - STACK as u64 - 1)).is_none());
    // The header itself: the same check as on the host's stacks.
    let header = scenarios::fresh_header_matches_the_layout(&stack);
    KernelStacks.free(stack);
    header?;
    check_eq!(stacks::outstanding(), before);
    Ok(())
}

/// The return address in `enter_guest`'s frame: the instruction after the
/// start trampoline's `call`, which comes after four one-byte `pop`s and is
/// five bytes long.
fn after_trampoline_call() -> usize {
    start_trampoline_address() + 4 + 5
}

fn frame_pointer_walk_from_a_continuation_reaches_its_parent_on_the_kernel_stack() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let kernel = paging::kernel_stack().ok_or("kernel stack not recorded")?;
    let s = store();
    // The guest walks its frames and notes its TOS. Room for the frames is
    // made beforehand so that the walk allocates nothing.
    let frames: Rc<RefCell<Vec<Frame>>> = Rc::new(RefCell::new(Vec::with_capacity(64)));
    let top = Rc::new(Cell::new(0usize));
    let (frames2, top2) = (frames.clone(), top.clone());
    // Two parameters: capacity 2, s = 0x20.
    let f = ok(s.func_wrap(move |s, (a, b): (i32, i32)| {
        top2.set(slot_top(stack_address(), slot_size));
        let mut frames = frames2.borrow_mut();
        // SAFETY: this closure's own frame pointer.
        unsafe {
            s.walk_frames(frame_pointer(), |f| {
                frames.push(f);
                frames.len() < frames.capacity()
            })
        };
        Ok(a + b)
    }))?;
    let k = ok(s.cont_new(f))?;
    let here = stack_address();
    check_eq!(returned::<i32>(s.resume(k, (1, 2), &[]))?, 3);
    let (frames, tos) = (frames.borrow(), top.get());
    // The start trampoline's frame record is the control context's RBP slot.
    let record = frames
        .iter()
        .position(|f| f.fp == tos - 0x10)
        .ok_or_else(|| format!("no frame at TOS-0x10 = {:#x} in {frames:x?}", tos - 0x10))?;
    check!(record >= 1, "the walk started at the record: {frames:x?}");
    // Everything before it is on the continuation's stack ...
    for f in &frames[..record] {
        check!(
            tos - STACK <= f.fp && f.fp < tos,
            "{:#x} is off the continuation stack below {tos:#x}",
            f.fp
        );
    }
    // ... the last of them is `enter_guest`, called by the trampoline right
    // below the launch words: RBP = TOS-0x30-s, s = 0x20 ...
    check_eq!(frames[record - 1].fp, tos - 0x30 - 0x20);
    check_eq!(frames[record - 1].return_address, after_trampoline_call());
    // ... and the next frame is the parent's, on the kernel stack, near the
    // frame of this test that resumed the continuation.
    let parent = frames
        .get(record + 1)
        .ok_or("the walk stopped at the record")?;
    check!(
        kernel.contains(VirtAddr::new(parent.fp as u64)),
        "parent frame {:#x} is off the kernel stack {kernel:x?}",
        parent.fp
    );
    check!(
        parent.fp.abs_diff(here) < 4096,
        "parent frame {:#x} is far from this test's frame {here:#x}",
        parent.fp
    );
    Ok(())
}

// ----- the control context of a suspended continuation -------------------

/// The bytes at the end of a switch (`cont/machine/switch.rs`): `jmp r10`,
/// then the `pop rbx` where a suspension goes on.
const JMP_R10: [u8; 3] = [0x41, 0xff, 0xe2];
const POP_RBX: u8 = 0x5b;

/// What [`suspend_to_handler`] saw: the three words at `TOS-0x18..TOS` of
/// the suspended stack (RSP, RBP, RIP), and the guest's own RSP and RBP
/// read just before its `suspend`.
struct SuspendedAt {
    context: [usize; 3],
    guest_rsp: usize,
    guest_rbp: usize,
    tos: usize,
    /// The word at the saved RBP: the frame record's link to its caller.
    callers: usize,
}

/// Runs a guest that suspends to the handler at position `index` of its
/// resume's list (of two), and reads its stack's control context while it
/// is suspended. The continuation is dropped (cancelled) afterwards.
fn suspend_to_handler(index: usize) -> Result<SuspendedAt, alloc::string::String> {
    let slot_size = stacks::config().slot_size();
    let s = store();
    let tag = ok(s.tag_new(&[], &[]))?;
    let other = ok(s.tag_new(&[], &[]))?;
    let seen = Rc::new(Cell::new((0usize, 0usize, 0usize)));
    let seen2 = seen.clone();
    let f = ok(s.func_wrap(move |s, ()| {
        let (rsp, rbp): (usize, usize);
        // SAFETY: reads two registers, touches nothing.
        unsafe {
            core::arch::asm!(
                "mov {0}, rsp",
                "mov {1}, rbp",
                out(reg) rsp,
                out(reg) rbp,
                options(nomem, nostack, preserves_flags),
            );
        }
        seen2.set((rsp, rbp, slot_top(rsp, slot_size)));
        s.suspend::<(), ()>(tag, ())
    }))?;
    let k = ok(s.cont_new(f))?;
    let handlers = match index {
        0 => [Handler::suspend(tag), Handler::suspend(other)],
        _ => [Handler::suspend(other), Handler::suspend(tag)],
    };
    let (handler, k) = scenarios::suspended::<()>(s.resume(k, (), &handlers))?;
    check_eq!(handler, index);
    let (guest_rsp, guest_rbp, tos) = seen.get();
    // SAFETY: the three words below TOS are the control context of a stack
    // the store holds for the suspended continuation; nothing runs on it.
    let context: [usize; 3] =
        unsafe { core::array::from_fn(|i| *((tos - 0x18 + 8 * i) as *const usize)) };
    // SAFETY: the saved RBP is a frame record on the same suspended stack.
    let callers = unsafe { *(context[1] as *const usize) };
    ok(s.drop_cont(k))?;
    Ok(SuspendedAt {
        context,
        guest_rsp,
        guest_rbp,
        tos,
        callers,
    })
}

/// The switch's bytes around `rip`: the three before it and the one at it.
fn code_around(rip: usize) -> ([u8; 3], u8) {
    // SAFETY: `rip` is a resume point in the kernel's code, mapped
    // readable; the three bytes before it are the switch's `jmp r10`.
    unsafe {
        let p = rip as *const u8;
        ([*p.sub(3), *p.sub(2), *p.sub(1)], *p)
    }
}

/// Case 2 of the control context (`docs/spec.md` §1): while a
/// continuation is suspended, the three words at `TOS-0x18..TOS` of its
/// stack are its own suspension point: the RSP it had at its switch (its
/// frame's, less the switch's `push rbx`), its frame's RBP, and the PC
/// where it goes on, just after the switch's `jmp r10`. The suspend
/// reaches the first handler of the resume just above: the path whose
/// switch is inline in the guest's frame.
fn a_suspended_continuations_control_context_holds_its_own_rsp_rbp_and_pc() -> TestResult {
    let at = suspend_to_handler(0)?;
    let [rsp, rbp, rip] = at.context;
    check_eq!((rsp, rbp), (at.guest_rsp - 8, at.guest_rbp));
    check!(
        rbp < at.tos - 0x10 && at.tos - rsp < STACK,
        "{rsp:#x} {rbp:#x} are not the guest's frame below {:#x}",
        at.tos
    );
    check_eq!(code_around(rip), (JMP_R10, POP_RBX));
    Ok(())
}

/// The same for a suspend to a later handler, whose switch is out of line
/// (`suspend_far`, called from the guest's frame): the context holds that
/// frame's RSP, RBP and PC, and that frame's record links to the guest's.
fn a_continuation_suspended_out_of_line_holds_that_frames_rsp_rbp_and_pc() -> TestResult {
    let at = suspend_to_handler(1)?;
    let [rsp, rbp, rip] = at.context;
    check!(
        rsp < rbp && rbp < at.guest_rsp && at.tos - rsp < STACK,
        "{rsp:#x} {rbp:#x} are not a frame below the guest's {:#x}",
        at.guest_rsp
    );
    check_eq!(at.callers, at.guest_rbp);
    check_eq!(code_around(rip), (JMP_R10, POP_RBX));
    Ok(())
}

fn trap_has_a_backtrace_and_its_origin_is_the_tos_of_the_trapping_continuation() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let s = store();
    // The outer continuation resumes an inner one, which traps. Both note
    // their TOS.
    let (outer_top, inner_top) = (Rc::new(Cell::new(0usize)), Rc::new(Cell::new(0usize)));
    let inner_top2 = inner_top.clone();
    let inner = ok(s.func_wrap(move |_, ()| -> Result<(), Trap> {
        inner_top2.set(slot_top(stack_address(), slot_size));
        Err(Trap::guest("boom"))
    }))?;
    let outer_top2 = outer_top.clone();
    let outer = ok(s.func_wrap(move |s, ()| {
        outer_top2.set(slot_top(stack_address(), slot_size));
        let k = s.cont_new(inner)?;
        s.resume::<_, ()>(k, (), &[]).map(|_| ())
    }))?;
    let k = ok(s.cont_new(outer))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!((trap.kind(), trap.message()), (TrapKind::Guest, "boom"));
    check!(inner_top.get() != outer_top.get() && inner_top.get() != 0);
    check_eq!(trap.origin(), inner_top.get());
    let frames = trap.backtrace().frames();
    check!(!frames.is_empty(), "empty backtrace");
    // The walk went through the inner start trampoline's frame record.
    check!(
        frames.contains(&after_trampoline_call()),
        "{:?} lacks the trampoline's {:#x}",
        trap.backtrace(),
        after_trampoline_call()
    );
    check_eq!(s.state(k), Some(State::Trapped));
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}
