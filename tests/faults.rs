//! In-kernel tests of guest faults becoming traps: a continuation that
//! overflows its stack, divides by zero, runs an invalid opcode or touches
//! memory it must not, traps; `Err(trap)` comes out of the `resume` that
//! kernel code called, the chain's stacks are freed, and the kernel goes on.
//!
//! Every test here runs in the same boot: that the next test passes after a
//! trap is itself part of what is tested. Each fault is raised by a tiny
//! assembly routine whose faulting instruction has a label, so a test can
//! check that the trap's backtrace starts exactly there.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::rc::Rc;
use alloc::string::String;
use core::arch::global_asm;
use core::cell::Cell;
use core::hint::black_box;

use kernel::Machine;
use kernel::cont::dynamic::{Func, Resumed};
use kernel::cont::{State, Store, Trap, TrapKind, WasmValues};
use kernel::interrupts::probe;
use kernel::stacks::{self, KernelStacks};
use kernel::testing::TestResult;
use kernel::{check, check_eq, frames};

kernel::suite!(
    "faults",
    [
        overflow_by_unbounded_recursion_traps_as_stack_overflow,
        overflow_four_continuations_deep_travels_up_every_level,
        overflow_by_one_frame_larger_than_the_stack_is_caught_by_stack_probes,
        divide_by_zero_traps_at_the_div_instruction,
        invalid_opcode_traps_at_the_ud2_instruction,
        null_dereference_traps_as_a_page_fault_at_address_0,
        non_canonical_access_traps_as_general_protection,
        reuse_of_the_trapped_stack_runs_the_next_continuation_correctly,
        trapped_chain_leak_check_frames_and_stacks_return_exactly,
        fault_after_a_guest_was_refused_a_second_stores_resume_still_traps_its_own_chain,
        guest_fault_under_a_kernel_probe_traps_the_chain_not_the_probe,
        heap_allocates_after_the_traps_above,
        machine frame_allocator_works_after_the_traps_above,
        a_new_store_runs_continuations_after_the_traps_above,
    ]
);

const STACK_SIZE: usize = 64 * 1024;

// Fault routines. Each has a label on the instruction that faults.
global_asm!(
    ".text",
    ".globl fault_divide, fault_divide_insn",
    "fault_divide:",
    "    xor eax, eax",
    "    xor edx, edx",
    "    xor ecx, ecx",
    "fault_divide_insn:",
    "    div rcx",
    "    ret",
    ".globl fault_ud2, fault_ud2_insn",
    "fault_ud2:",
    "fault_ud2_insn:",
    "    ud2",
    "    ret",
    ".globl fault_null, fault_null_insn",
    "fault_null:",
    "    xor eax, eax",
    "fault_null_insn:",
    "    mov rax, [rax]",
    "    ret",
    ".globl fault_noncanonical, fault_noncanonical_insn",
    "fault_noncanonical:",
    "    movabs rax, 0x8000000000000000",
    "fault_noncanonical_insn:",
    "    mov rax, [rax]",
    "    ret",
);

unsafe extern "C" {
    fn fault_divide();
    fn fault_divide_insn();
    fn fault_ud2();
    fn fault_ud2_insn();
    fn fault_null();
    fn fault_null_insn();
    fn fault_noncanonical();
    fn fault_noncanonical_insn();
}

/// Recurses until the stack runs out. Each level keeps a 256-byte buffer
/// alive across the call, so the compiler can neither shrink the frames nor
/// turn the recursion into a loop.
/// An upper bound on `recurse`'s machine code, for telling its return
/// addresses from others.
const RECURSE_MAX_LEN: usize = 256;

#[allow(unconditional_recursion)]
#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let mut buf = [depth as u8; 256];
    black_box(&mut buf);
    recurse(depth + 1) + buf[0] as u64
}

/// A guest function that calls `routine` (one of the fault routines).
fn faulting_guest(store: &Store, routine: unsafe extern "C" fn()) -> Result<Func, String> {
    ok(
        store.func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            // SAFETY: the routine only faults; the trap ends this stack.
            unsafe { routine() };
            Ok(())
        }),
    )
}

/// The value of `r`, or its error as a failure reason.
fn ok<T, E: core::fmt::Debug>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| alloc::format!("{e:?}"))
}

/// Runs a fresh continuation of `f` (`() -> R`) from kernel code and
/// returns its trap.
fn trap_of<R: WasmValues + core::fmt::Debug>(
    store: &Store,
    f: Func,
) -> Result<Trap, alloc::string::String> {
    let k = store
        .cont_new(f)
        .map_err(|t| alloc::format!("cont_new: {t}"))?;
    match store.resume::<_, R>(k, (), &[]) {
        Err(trap) => Ok(trap),
        Ok(Resumed::Returned(_)) => Err("the guest returned instead of trapping".into()),
        Ok(Resumed::Suspended { .. }) => Err("the guest suspended instead of trapping".into()),
    }
}

/// The guard of the stack whose top is `tos`.
fn guard_of(tos: usize) -> core::ops::Range<u64> {
    let config = stacks::config();
    let bottom = (tos - config.stack_size) as u64;
    bottom - config.guard_size as u64..bottom
}

fn overflow_by_unbounded_recursion_traps_as_stack_overflow() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let outstanding = stacks::outstanding();
    let f = store
        .func_wrap(|_: &Store, (): ()| -> Result<i64, Trap> { Ok(recurse(0) as i64) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let trap = trap_of::<i64>(&store, f)?;
    let TrapKind::StackOverflow { addr } = trap.kind() else {
        return Err(alloc::format!("expected a stack overflow, got {trap}"));
    };
    check!(
        guard_of(trap.origin()).contains(&addr),
        "fault address {addr:#x} is not in the guard {:#x?} of the trapped stack",
        guard_of(trap.origin())
    );
    // The backtrace starts at the faulting instruction, inside `recurse`,
    // and every frame it could hold is `recurse` calling itself.
    let frames = trap.backtrace().frames();
    check_eq!(frames.len(), kernel::cont::trap::MAX_FRAMES);
    let body = recurse as *const () as usize..recurse as *const () as usize + RECURSE_MAX_LEN;
    for (i, ret) in frames.iter().enumerate() {
        check!(
            body.contains(ret),
            "frame {i} at {ret:#x} is not in recurse ({body:#x?})"
        );
    }
    check_eq!(stacks::outstanding(), outstanding + store.cached_stacks());
    Ok(())
}

/// `f1` resumes a fresh `f2`, which resumes `f3`, which resumes `f4`, which
/// overflows. The trap ends `f4` and comes back as the `Err` of `f3`'s
/// resume; each guest counts it in `seen` and passes it on with `?`, so it
/// climbs one parent at a time to the kernel's resume of `f1`.
fn four_deep_overflowing_chain(store: &Store, seen: Rc<Cell<u32>>) -> Result<Func, String> {
    let f4 =
        ok(store.func_wrap(|_: &Store, (): ()| -> Result<i64, Trap> { Ok(recurse(0) as i64) }))?;
    let mut inner = f4;
    for _ in 0..3 {
        let (callee, seen) = (inner, seen.clone());
        inner = ok(
            store.func_wrap(move |s: &Store, (): ()| -> Result<i64, Trap> {
                let k = s.cont_new(callee)?;
                let r = s.resume::<_, i64>(k, (), &[]);
                if r.is_err() {
                    seen.set(seen.get() + 1);
                }
                match r? {
                    // Never reached: the innermost continuation overflows.
                    Resumed::Returned(v) => Ok(v + 1),
                    Resumed::Suspended { .. } => Ok(-1),
                }
            }),
        )?;
    }
    Ok(inner)
}

fn overflow_four_continuations_deep_travels_up_every_level() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let outstanding = stacks::outstanding();
    let seen = Rc::new(Cell::new(0));
    let f1 = four_deep_overflowing_chain(&store, seen.clone())?;
    let k = store.cont_new(f1).map_err(|t| alloc::format!("{t}"))?;
    let outer_top = store.stack_top(k).unwrap_or(0);
    let trap = match store.resume::<_, i64>(k, (), &[]) {
        Err(trap) => trap,
        other => return Err(alloc::format!("expected a trap, got {other:?}")),
    };
    let TrapKind::StackOverflow { addr } = trap.kind() else {
        return Err(alloc::format!("expected a stack overflow, got {trap}"));
    };
    // It came from the innermost stack (the one that recursed into its
    // guard), not the outermost that the kernel resumed...
    check!(guard_of(trap.origin()).contains(&addr));
    check!(
        trap.origin() != outer_top,
        "the trap names the outermost stack"
    );
    // ...every guest resume on the way saw it and passed it on, and the
    // outermost ended with it too, which the kernel can see.
    check_eq!(seen.get(), 3);
    check_eq!(store.state(k), Some(State::Trapped));
    // All four stacks went back to the pool.
    check_eq!(store.outstanding_stacks(), 0);
    check_eq!(stacks::outstanding(), outstanding + store.cached_stacks());
    Ok(())
}

fn overflow_by_one_frame_larger_than_the_stack_is_caught_by_stack_probes() -> TestResult {
    #[inline(never)]
    fn huge_frame() -> u8 {
        // Twice the stack: one step of RSP would land far below the guard,
        // in another slot. The target's inline stack probes touch each page
        // on the way down, so the guard page is touched first.
        let mut buf = [0u8; 2 * STACK_SIZE];
        black_box(&mut buf);
        buf[7]
    }
    let store = Store::new(KernelStacks, STACK_SIZE);
    let f = store
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(huge_frame() as i32) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let trap = trap_of::<i32>(&store, f)?;
    let TrapKind::StackOverflow { addr } = trap.kind() else {
        return Err(alloc::format!("expected a stack overflow, got {trap}"));
    };
    check!(guard_of(trap.origin()).contains(&addr));
    Ok(())
}

fn divide_by_zero_traps_at_the_div_instruction() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let trap = trap_of::<()>(&store, faulting_guest(&store, fault_divide)?)?;
    check_eq!(trap.kind(), TrapKind::DivideByZero);
    check_eq!(
        trap.backtrace().frames()[0],
        fault_divide_insn as *const () as usize
    );
    Ok(())
}

fn invalid_opcode_traps_at_the_ud2_instruction() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let trap = trap_of::<()>(&store, faulting_guest(&store, fault_ud2)?)?;
    check_eq!(trap.kind(), TrapKind::InvalidOpcode);
    check_eq!(
        trap.backtrace().frames()[0],
        fault_ud2_insn as *const () as usize
    );
    Ok(())
}

fn null_dereference_traps_as_a_page_fault_at_address_0() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let trap = trap_of::<()>(&store, faulting_guest(&store, fault_null)?)?;
    check_eq!(trap.kind(), TrapKind::PageFault { addr: 0 });
    check_eq!(
        trap.backtrace().frames()[0],
        fault_null_insn as *const () as usize
    );
    Ok(())
}

fn non_canonical_access_traps_as_general_protection() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let trap = trap_of::<()>(&store, faulting_guest(&store, fault_noncanonical)?)?;
    check_eq!(trap.kind(), TrapKind::GeneralProtection);
    check_eq!(
        trap.backtrace().frames()[0],
        fault_noncanonical_insn as *const () as usize
    );
    Ok(())
}

fn reuse_of_the_trapped_stack_runs_the_next_continuation_correctly() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let routines: [unsafe extern "C" fn(); 4] =
        [fault_divide, fault_ud2, fault_null, fault_noncanonical];
    let triple = store
        .func_wrap(|_: &Store, x: i64| -> Result<i64, Trap> { Ok(black_box(x) * 3) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    for (i, routine) in routines.into_iter().enumerate() {
        let trap = trap_of::<()>(&store, faulting_guest(&store, routine)?)?;
        // The pool hands out the most recently freed slot first: the next
        // continuation runs on the very stack that trapped.
        let k = store.cont_new(triple).map_err(|t| alloc::format!("{t}"))?;
        match store.resume::<_, i64>(k, 14 + i as i64, &[]) {
            Ok(Resumed::Returned(v)) => check_eq!(v, 3 * (14 + i as i64)),
            other => return Err(alloc::format!("routine {i}: {other:?}")),
        }
        let k2 = store.cont_new(triple).map_err(|t| alloc::format!("{t}"))?;
        let top = store.stack_top(k2).unwrap_or(0);
        check_eq!(top, trap.origin());
        store.drop_cont(k2).map_err(|t| alloc::format!("{t}"))?;
    }
    Ok(())
}

fn trapped_chain_leak_check_frames_and_stacks_return_exactly() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let f1 = four_deep_overflowing_chain(&store, Rc::new(Cell::new(0)))?;
    // The first run takes four slots and demand-maps their stacks; freeing
    // leaves the four slots pooled with their top pages. From then on a
    // trapped chain must cost exactly nothing.
    trap_of::<i64>(&store, f1)?;
    let free_frames = frames::free_count();
    let outstanding = stacks::outstanding();
    let pooled = stacks::pooled();
    for _ in 0..10 {
        trap_of::<i64>(&store, f1)?;
    }
    check_eq!(frames::free_count(), free_frames);
    check_eq!(stacks::outstanding(), outstanding);
    check_eq!(stacks::pooled(), pooled);
    Ok(())
}

/// A probe catches faults of the kernel code it runs, on its own stack. A
/// fault on a continuation stack that the probed code resumed belongs to
/// that continuation's chain: the chain traps and is freed, the probed code
/// gets `Err` from its `resume`, and the probe itself sees no fault.
fn guest_fault_under_a_kernel_probe_traps_the_chain_not_the_probe() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let k = store
        .cont_new(faulting_guest(&store, fault_divide)?)
        .map_err(|t| alloc::format!("{t}"))?;
    let mut result = None;
    // SAFETY: the closure runs on the kernel's stack and returns there: the
    // guest's fault is its own chain's trap; `result` is written only when
    // `resume` has returned, so no frame that owns something is abandoned.
    let probed = unsafe { probe(|| result = Some(store.resume::<_, ()>(k, (), &[]))) };
    check!(
        probed.is_ok(),
        "the probe took the guest's fault: {probed:?}"
    );
    match result {
        Some(Err(trap)) => check_eq!(trap.kind(), TrapKind::DivideByZero),
        other => return Err(alloc::format!("expected a trap, got {other:?}")),
    }
    check!(!store.in_continuation());
    check_eq!(store.outstanding_stacks(), 0);
    Ok(())
}

/// A guest of one store may make a second store and its continuations, but
/// may not run them: stores do not nest (`docs/guarantees.md`), so the
/// second store's `resume` is refused with a trap that the guest receives.
/// A fault in the guest after that is still a trap of its own chain (not a
/// kernel fault that ends the boot).
fn fault_after_a_guest_was_refused_a_second_stores_resume_still_traps_its_own_chain() -> TestResult
{
    let outer = Store::new(KernelStacks, STACK_SIZE);
    let refused = Rc::new(Cell::new(None));
    let r = refused.clone();
    let f = outer
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let inner = Store::new(KernelStacks, STACK_SIZE);
            let seven = inner
                .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> { Ok(7) })
                .map_err(|_| Trap::guest("defining the inner function failed"))?;
            let k = inner.cont_new(seven)?;
            r.set(inner.resume::<_, i32>(k, (), &[]).err().map(|t| t.kind()));
            // The fault abandons this frame: give the second store back first.
            drop(inner);
            // SAFETY: faults; the trap ends this stack.
            unsafe { fault_divide() };
            Ok(0)
        })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let trap = trap_of::<i32>(&outer, f)?;
    check_eq!(refused.get(), Some(TrapKind::OtherStoreRunning));
    check_eq!(trap.kind(), TrapKind::DivideByZero);
    check_eq!(
        trap.backtrace().frames()[0],
        fault_divide_insn as *const () as usize
    );
    Ok(())
}

// The last three run after every test above has trapped at least once in
// this boot; the kernel's own machinery must be intact.

fn heap_allocates_after_the_traps_above() -> TestResult {
    let v: alloc::vec::Vec<u64> = (0..1000).collect();
    check_eq!(v.iter().sum::<u64>(), 499_500);
    Ok(())
}

fn frame_allocator_works_after_the_traps_above(machine: &Machine) -> TestResult {
    let free = frames::free_count();
    let frame = frames::allocate_frame(machine).map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(frames::free_count(), free - 1);
    // SAFETY: the frame was taken just above and nothing maps or uses it.
    unsafe { frames::free_frame(machine, frame) }.map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(frames::free_count(), free);
    Ok(())
}

fn a_new_store_runs_continuations_after_the_traps_above() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let add = store
        .func_wrap(|_: &Store, (a, b): (i32, i32)| -> Result<i32, Trap> { Ok(a + b) })
        .map_err(|e| alloc::format!("{e:?}"))?;
    let k = store.cont_new(add).map_err(|t| alloc::format!("{t}"))?;
    match store.resume::<_, i32>(k, (40, 2), &[]) {
        Ok(Resumed::Returned(v)) => check_eq!(v, 42i32),
        other => return Err(alloc::format!("{other:?}")),
    }
    Ok(())
}
