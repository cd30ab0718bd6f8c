//! Hostile uses of the WebAssembly interpreter's API in the kernel, in
//! safe Rust only: settings that once let a Wasm call take the boot down.
//! Each must end in a trap the caller gets back, and the kernel goes on.
//!
//! The interpreter's frames are ordinary Rust frames on whatever stack
//! calls it: the kernel's own 256 KiB stack for `Instance::invoke` from
//! kernel code, a 64 KiB continuation stack for a guest. A stack budget
//! (`Instance::set_stack_budget`) larger than that stack once let a deep
//! recursion run off its bottom ("KERNEL STACK OVERFLOW", the end of the
//! boot); the floor is now the stack's real bottom plus a reserve,
//! whatever the budget (`kernel/src/wasm/interp.rs`, `stack_floor`).
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::pin::Pin;
use core::time::Duration;

use kernel::Machine;
use kernel::cont::dynamic::Resumed;
use kernel::cont::{Cont, Func, Store, Timed, Trap, preempt};
use kernel::stacks::KernelStacks;
use kernel::testing::TestResult;
use kernel::timer::Timer;
use kernel::wasm::memory::{self, LinearMemory};
use kernel::wasm::wasi::{self, errno};
use kernel::wasm::{Error, Instance, Module, Val};
use kernel::{check, check_eq};

kernel::suite!(
    "hostile_wasm",
    [
        a_wasm_stack_budget_larger_than_the_kernel_stack_is_a_clean_trap_not_an_overflow,
        a_wasm_stack_budget_of_usize_max_on_the_kernel_stack_is_a_clean_trap,
        a_wasm_stack_budget_larger_than_a_guests_continuation_stack_is_a_clean_trap,
        a_recursion_that_trapped_at_the_kernel_stacks_floor_leaves_the_instance_usable,
        a_recursion_making_continuations_and_exceptions_at_the_kernel_stacks_floor_is_a_clean_trap,
        a_recursion_making_continuations_and_exceptions_at_a_guests_floor_is_a_clean_trap,
        a_guest_loading_a_module_out_of_heap_never_leaves_the_signature_lock_taken,
        a_guest_loading_modules_of_new_signatures_until_out_of_heap_leaves_the_kernel_loading,
        a_print_hook_whose_captured_value_panics_on_drop_is_a_trap_when_the_kernel_drops_the_instance,
        a_wasi_write_past_the_end_of_memory_is_efault_and_the_kernel_goes_on,
        a_wasi_program_whose_captured_output_outgrows_its_quota_gets_enomem_and_the_instance_stays_usable,
        machine a_memory_whose_grow_was_abandoned_midway_gives_every_frame_back_and_its_slot_grows_again,
        machine a_memory_a_preempted_grow_holds_is_a_trap_for_other_calls_not_a_kernel_panic,
        machine a_wasi_write_stopped_midway_is_a_trap_for_other_writes_and_no_panic_for_output_reads,
    ]
);

/// The kernel's continuation stack size (one slot of the stack region).
const STACK: usize = 64 * 1024;

const TRAPS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/traps.wasm"));
const BUSY_MEMORY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/busy_memory.wasm"));
const ODD: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/odd_signature.wasm"));
const HEAVY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/heavy_floor.wasm"));

fn instance(bytes: &[u8]) -> Result<Pin<Box<Instance>>, String> {
    let module = Module::new(bytes).map_err(|e| format!("{e:?}"))?;
    Instance::new(Arc::new(module), Store::new(KernelStacks, STACK)).map_err(|e| format!("{e:?}"))
}

/// The trap reason `invoke` of `name` ends with.
fn trap_reason(inst: &Instance, name: &str) -> Result<&'static str, String> {
    match inst.invoke(name, &[]) {
        Err(e @ Error::Trap(_)) => Ok(e.trap_reason().unwrap_or("")),
        other => Err(format!("{name} did not trap: {other:?}")),
    }
}

/// How many nested calls the last recursion made.
fn depth(inst: &Instance) -> Result<i32, String> {
    match inst.invoke("depth", &[]).map_err(|e| format!("{e:?}"))?[..] {
        [Val::I32(d)] => Ok(d),
        ref other => Err(format!("depth returned {other:?}")),
    }
}

/// The report's case: a 1 MiB budget, four times the kernel's stack, and
/// a recursion on the kernel's own stack.
fn a_wasm_stack_budget_larger_than_the_kernel_stack_is_a_clean_trap_not_an_overflow() -> TestResult
{
    let i = instance(TRAPS)?;
    i.set_stack_budget(1024 * 1024);
    check_eq!(trap_reason(&i, "recurse_here")?, "call stack exhausted");
    check!(depth(&i)? > 100, "only {} nested calls", depth(&i)?);
    Ok(())
}

fn a_wasm_stack_budget_of_usize_max_on_the_kernel_stack_is_a_clean_trap() -> TestResult {
    let i = instance(TRAPS)?;
    i.set_stack_budget(usize::MAX);
    check_eq!(trap_reason(&i, "recurse_here")?, "call stack exhausted");
    Ok(())
}

/// A guest (Rust code on a 64 KiB continuation stack) invokes the
/// recursion with a 1 MiB budget: the trap comes back to the guest as an
/// `Err`, and the guest returns normally.
fn a_wasm_stack_budget_larger_than_a_guests_continuation_stack_is_a_clean_trap() -> TestResult {
    let i = Rc::new(instance(TRAPS)?);
    i.set_stack_budget(1024 * 1024);
    let s = Store::new(KernelStacks, STACK);
    let inner = i.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let reason = match inner.invoke("recurse_here", &[]) {
                Err(e) => e.trap_reason() == Some("call stack exhausted"),
                Ok(_) => false,
            };
            Ok(i32::from(reason))
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check_eq!(s.outstanding_stacks(), 0);
    // A 64 KiB stack, less the 16 KiB reserve, still nests many calls.
    check!(depth(&i)? > 50, "only {} nested calls", depth(&i)?);
    Ok(())
}

fn a_recursion_that_trapped_at_the_kernel_stacks_floor_leaves_the_instance_usable() -> TestResult {
    let i = instance(TRAPS)?;
    i.set_stack_budget(1024 * 1024);
    check_eq!(trap_reason(&i, "recurse_here")?, "call stack exhausted");
    check_eq!(trap_reason(&i, "divide")?, "integer divide by zero");
    check_eq!(
        i.invoke("exception", &[]).map_err(|e| format!("{e:?}"))?,
        [Val::I32(42)]
    );
    let v: Vec<Val> = i.invoke("depth", &[]).map_err(|e| format!("{e:?}"))?;
    check!(matches!(v[..], [Val::I32(d)] if d > 100));
    Ok(())
}

/// Every level of a recursion on the kernel's own stack, the deepest one
/// at the floor included, makes, runs and frees a continuation and throws
/// and catches an exception: the runtime's calls below the deepest
/// interpreted frame fit the reserve, and the recursion ends in the clean
/// trap, with the budget at its largest.
fn a_recursion_making_continuations_and_exceptions_at_the_kernel_stacks_floor_is_a_clean_trap()
-> TestResult {
    let pool_before = kernel::stacks::outstanding();
    let i = instance(HEAVY)?;
    i.set_stack_budget(usize::MAX);
    check_eq!(trap_reason(&i, "heavy_recursion")?, "call stack exhausted");
    check!(depth(&i)? > 100, "only {} nested calls", depth(&i)?);
    check_eq!(i.store().outstanding_stacks(), 0);
    drop(i);
    check_eq!(kernel::stacks::outstanding(), pool_before);
    Ok(())
}

/// The same recursion from a guest of the instance's own store, on its
/// 64 KiB continuation stack (its continuations nest in the guest's
/// chain): the guest gets the clean trap back as an `Err` (never a stack
/// overflow of its own) and returns normally.
fn a_recursion_making_continuations_and_exceptions_at_a_guests_floor_is_a_clean_trap() -> TestResult
{
    let i = Rc::new(instance(HEAVY)?);
    i.set_stack_budget(usize::MAX);
    let weak = Rc::downgrade(&i);
    let f = i
        .store()
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            let Some(inner) = weak.upgrade() else {
                return Ok(-1);
            };
            Ok(match inner.invoke("heavy_recursion", &[]) {
                Err(e) if e.trap_reason() == Some("call stack exhausted") => 1,
                Err(e) => {
                    kernel::println!("  heavy_recursion in a guest: {e:?}");
                    2
                }
                Ok(_) => 3,
            })
        })
        .map_err(|e| format!("{e:?}"))?;
    let s = i.store();
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(s.resume::<(), i32>(k, (), &[]), Ok(Resumed::Returned(1)));
    check_eq!(s.outstanding_stacks(), 0);
    check!(depth(&i)? > 20, "only {} nested calls", depth(&i)?);
    Ok(())
}

/// Guests of stores whose heap quota grows 8 bytes at a time load a module
/// with a signature no module had before, until one loads it: every
/// refusal on the way, wherever in the loading it strikes (the list of
/// signatures the kernel keeps included), is the guest's `OutOfMemory`
/// trap, and after each the kernel loads a module itself. (The kernel's
/// list of signatures once grew under its lock: a guest refused there
/// left the lock taken, and the kernel's next load ended the boot.)
fn a_guest_loading_a_module_out_of_heap_never_leaves_the_signature_lock_taken() -> TestResult {
    let mut refused = 0;
    let mut loaded_at = None;
    for step in 0..16 * 1024 {
        let s = Store::with_limits(
            KernelStacks,
            STACK,
            kernel::cont::StoreLimits {
                heap_bytes: step * 8,
                ..kernel::cont::StoreLimits::DEFAULT
            },
        );
        let f = s
            .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> {
                Ok(i32::from(Module::new(ODD).is_ok()))
            })
            .map_err(|e| format!("{e:?}"))?;
        let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
        match s.resume::<(), i32>(k, (), &[]) {
            Ok(Resumed::Returned(1)) => {
                loaded_at = Some(step * 8);
                break;
            }
            Err(trap) if trap.kind() == kernel::cont::TrapKind::OutOfMemory => refused += 1,
            other => return Err(format!("quota {}: {other:?}", step * 8)),
        }
        // The kernel loads a module (and interns its signatures) after it.
        Module::new(TRAPS).map_err(|e| format!("{e:?}"))?;
    }
    check!(loaded_at.is_some(), "never loaded");
    check!(refused > 0);
    Ok(())
}

/// A module whose one function has signature number `n`: ten parameters,
/// each of the four number types by a base-4 digit of `n`, so that every
/// `n` below 4^10 is a signature of its own.
fn module_of_signature(n: u32) -> Vec<u8> {
    let mut m = Vec::from(*b"\0asm\x01\0\0\0");
    // Type section: one function type, ten params, no results.
    m.extend_from_slice(&[0x01, 14, 0x01, 0x60, 10]);
    m.extend((0..10).map(|digit| [0x7f, 0x7e, 0x7d, 0x7c][(n >> (2 * digit)) as usize & 3]));
    m.push(0x00);
    // Function section: one function of type 0; code section: its body is
    // `unreachable`.
    m.extend_from_slice(&[0x03, 0x02, 0x01, 0x00]);
    m.extend_from_slice(&[0x0a, 0x05, 0x01, 0x03, 0x00, 0x00, 0x0b]);
    m
}

/// A guest with a 256 KiB quota loads modules of signatures never seen
/// before, one after another: the kernel keeps each signature for good,
/// and its list of them grows, charged to the guest, until an allocation
/// is refused. Wherever that strikes, the guest traps `OutOfMemory` and the
/// kernel loads modules after it, of a known and of a new signature. (The
/// list grew under its lock: a guest refused there left it taken, and the
/// kernel's next load ended the boot.)
fn a_guest_loading_modules_of_new_signatures_until_out_of_heap_leaves_the_kernel_loading()
-> TestResult {
    check!(Module::new(&module_of_signature(0)).is_ok());
    let s = Store::with_limits(
        KernelStacks,
        STACK,
        kernel::cont::StoreLimits {
            heap_bytes: 256 * 1024,
            ..kernel::cont::StoreLimits::DEFAULT
        },
    );
    let loaded: Rc<core::cell::Cell<u32>> = Rc::default();
    let count = loaded.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i32, Trap> {
            loop {
                let n = count.get() + 1;
                if Module::new(&module_of_signature(n)).is_err() {
                    return Ok(-1);
                }
                count.set(n);
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    let trap = match s.resume::<(), i32>(k, (), &[]) {
        Err(trap) => trap,
        other => return Err(format!("expected a trap, got {other:?}")),
    };
    check_eq!(trap.kind(), kernel::cont::TrapKind::OutOfMemory);
    check!(loaded.get() > 100, "only {} modules", loaded.get());
    check!(Module::new(TRAPS).is_ok());
    check!(Module::new(&module_of_signature(loaded.get() + 2)).is_ok());
    Ok(())
}

/// A value whose drop panics: on a continuation stack that is a trap, on
/// the kernel's own stack it would end the boot.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("a print hook's value panics in its drop");
    }
}

/// An instance's print hook (which any code given the instance may set)
/// is a closure holding a value that panics when dropped, and an `Rc`
/// count. The kernel drops the
/// instance on its own stack: the hook is dropped on one of the instance
/// store's stacks, the panic is a trap reported there, the count is given
/// back. (The hook once dropped with the instance, on the kernel's stack,
/// and ended the boot.)
fn a_print_hook_whose_captured_value_panics_on_drop_is_a_trap_when_the_kernel_drops_the_instance()
-> TestResult {
    let inst = instance(TRAPS)?;
    let counted = Rc::new(5i32);
    let c = counted.clone();
    let bomb = PanicsOnDrop;
    inst.set_print(move |_| {
        let _ = (&c, &bomb);
    });
    check_eq!(Rc::strong_count(&counted), 2);
    drop(inst);
    check_eq!(Rc::strong_count(&counted), 1);
    Ok(())
}

fn a_wasi_write_past_the_end_of_memory_is_efault_and_the_kernel_goes_on() -> TestResult {
    let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/wasi_echo.wasm"));
    let module = Module::new(bytes).map_err(|e| format!("module refused: {e:?}"))?;
    let i = Instance::new(Arc::new(module), Store::new(KernelStacks, STACK))
        .map_err(|e| format!("instantiation failed: {e:?}"))?;
    i.capture_wasi_output();
    // An iovec of 100 bytes at 65,530 in a 65,536-byte memory.
    let efault = Val::I32(kernel::wasm::wasi::errno::FAULT);
    check_eq!(
        i.invoke("hostile", &[]).map_err(|e| format!("{e:?}"))?,
        [efault]
    );
    check_eq!(i.take_wasi_output(), b"");
    Ok(())
}

/// A program writes its 64 KiB memory to stdout until a write fails, its
/// output captured: the capture buffer grows on the program's store's
/// heap quota (4 MiB). The write that would take the buffer past the quota
/// is `ENOMEM` and the program exits with it; what was kept is whole
/// writes, and the instance's memory and capture buffer are usable after.
/// (The buffer once grew infallibly: the refusal was an out-of-memory
/// trap that abandoned the call's borrows of both, and the kernel's next
/// `take_wasi_output` panicked "already borrowed" and ended the boot.)
fn a_wasi_program_whose_captured_output_outgrows_its_quota_gets_enomem_and_the_instance_stays_usable()
-> TestResult {
    let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/wasi_flood.wasm"));
    let i = instance(bytes)?;
    i.capture_wasi_output();
    check_eq!(wasi::start(&i), Ok(errno::NOMEM as u32));
    let kept = i.take_wasi_output().len();
    // The buffer doubles: 2 MiB (32 writes) fits with the memory under the
    // 4 MiB quota, 4 MiB does not.
    check_eq!(kept, 32 * 65536);
    check_eq!(i.take_wasi_output(), b"");
    check_eq!(
        i.invoke("iovec_len", &[]).map_err(|e| format!("{e:?}"))?,
        [Val::I32(65536)]
    );
    Ok(())
}

/// A guest grows a memory its resumer owns by 2048 pages (128 MiB, some
/// tens of thousands of frames to zero), under a budget of two ticks of a
/// 100 µs timer: the second tick, a whole period after the first, preempts
/// it inside the grow. The timer is
/// stopped and the preempted guest dropped, so its frames are abandoned
/// at once (`preempt.rs`), the grow's borrow of the memory with them.
/// When the owner then drops the memory, every frame the grow had mapped
/// comes back: the free count is the one before the memory was made, and
/// its slot is free. A new memory in that slot grows to 64 pages whose
/// bytes are all zero. (The grow once counted its pages only at its end:
/// the drop unmapped none of an unfinished grow's pages, their frames were
/// lost, and the slot, given back with them still mapped, failed every
/// grow that reached them.)
fn a_memory_whose_grow_was_abandoned_midway_gives_every_frame_back_and_its_slot_grows_again(
    m: &Machine,
) -> TestResult {
    const PERIOD: Duration = Duration::from_micros(100);
    let (free_before, slots_before) = (kernel::frames::free_count(), memory::slots_in_use());
    let store = Store::new(KernelStacks, STACK);
    let memory = Rc::new(RefCell::new(
        LinearMemory::new(1, 4096).map_err(|e| format!("{e:?}"))?,
    ));
    let free_at_start = kernel::frames::free_count();
    let theirs = memory.clone();
    let guest = Func::wrap(&store, move |_: &Store, (): ()| -> Result<i64, Trap> {
        Ok(theirs.borrow_mut().grow(2048).map_or(-1, |old| old as i64))
    })
    .map_err(|e| format!("{e:?}"))?;
    let cont = Cont::new(&store, guest).map_err(|t| format!("{t}"))?;
    let timer = Timer::new(m);
    timer
        .start(PERIOD)
        .map_err(|e| format!("start({PERIOD:?}): {e:?}"))?;
    // Under load (a slow TCG, a real-time timer) the first slices may end
    // before the grow has mapped a page: then it gets another slice, until
    // it has (a few at most: each maps pages for most of a period).
    let outcome = {
        let mut outcome = cont.resume_for(2, (), &[]);
        let mut slices = 1;
        loop {
            match outcome {
                Ok(Timed::Preempted(k))
                    if slices < 20 && kernel::frames::free_count() >= free_at_start =>
                {
                    slices += 1;
                    outcome = k.resume_for(1, (), &[]);
                }
                Ok(Timed::Preempted(k)) => break Ok(k),
                Ok(Timed::InTime(r)) => break Err(format!("the grow ended in time: {r:?}")),
                Err(t) => break Err(format!("the grow trapped: {t}")),
            }
        }
    };
    let stopped = timer.stop();
    check_eq!(stopped, Ok(()));
    let k = outcome?;
    let abandoned = preempt::abandoned_in_drop();
    drop(k);
    check_eq!(preempt::abandoned_in_drop() - abandoned, 1);
    // Preempted inside the grow, which holds the borrow and had mapped
    // pages, and never finished.
    check!(memory.try_borrow_mut().is_err());
    check!(kernel::frames::free_count() < free_at_start);
    check_eq!(memory::slots_in_use(), slots_before + 1);
    // The store holds the guest's clone; both go, then the memory.
    drop(store);
    check_eq!(Rc::strong_count(&memory), 1);
    drop(memory);
    check_eq!(kernel::frames::free_count(), free_before);
    check_eq!(memory::slots_in_use(), slots_before);
    let mut again = LinearMemory::new(0, 4096).map_err(|e| format!("{e:?}"))?;
    check_eq!(again.grow(64), Some(0));
    check_eq!(again.len(), 64 * memory::PAGE);
    check!(again.iter().all(|&b| b == 0));
    drop(again);
    check_eq!(kernel::frames::free_count(), free_before);
    Ok(())
}

/// A Wasm guest's `memory.grow` of 2048 pages, preempted inside the grow
/// by the stub (a grow has no safe point), holds the memory's borrow
/// while it waits. Calls from the kernel of the same instance's
/// `memory.size` and of a load then trap "memory or table in use by a
/// preempted call"; before, `RefCell::borrow` panicked the kernel. The
/// instance then drops cleanly, its store abandoning the guest (the timer
/// is stopped), the borrow with it.
fn a_memory_a_preempted_grow_holds_is_a_trap_for_other_calls_not_a_kernel_panic(
    m: &Machine,
) -> TestResult {
    const PERIOD: Duration = Duration::from_micros(100);
    let module = Arc::new(Module::new(BUSY_MEMORY).map_err(|e| format!("{e:?}"))?);
    let i = Instance::new(module, Store::new(KernelStacks, STACK)).map_err(|e| format!("{e:?}"))?;
    let grow = i.exported_func("grow").ok_or("no export grow")?;
    let k = i.store().cont_new(grow).map_err(|t| format!("{t}"))?;
    let timer = Timer::new(m);
    timer
        .start(PERIOD)
        .map_err(|e| format!("start({PERIOD:?}): {e:?}"))?;
    let in_use = |name: &str| match i.invoke(name, &[]) {
        Err(Error::Trap(t)) => Ok(t.message()),
        other => Err(format!("{name}: expected a trap, got {other:?}")),
    };
    // A slice may end before the grow starts (the guest's stack paged in,
    // a slow TCG): then `size` still answers 1 page, and the grow gets
    // another slice, until it is stopped inside the grow.
    let outcome = slice_until(&i, k, || match i.invoke("size", &[]) {
        Ok(v) if v == [Val::I32(1)] => Ok(None),
        Err(Error::Trap(t)) => Ok(Some(t.message())),
        other => Err(format!("size: {other:?}")),
    });
    let stopped = timer.stop();
    check_eq!(stopped, Ok(()));
    let (k, size) = outcome?;
    check_eq!(size, "memory or table in use by a preempted call");
    check_eq!(
        in_use("load")?,
        "memory or table in use by a preempted call"
    );
    // Still preempted, so still in use; the instance's store, dropped
    // with it, ends the guest (abandoned: the timer is stopped).
    let _ = k;
    check_eq!(
        in_use("size")?,
        "memory or table in use by a preempted call"
    );
    drop(i);
    Ok(())
}

/// A WASI program's `fd_write` of 2 MiB into the capture buffer, stopped
/// midway by the stub (a WASI call has no safe point), holds the
/// instance's memory and the buffer while it waits. A one-byte write
/// from the kernel into the same instance then traps "memory or table in
/// use by a preempted call", and `take_wasi_output` gives what it can
/// without waiting (before, both were `RefCell` panics of the kernel).
/// Resumed with the timer stopped, the big write ends, and every byte is
/// there: each small write that went through before it, then the 2 MiB.
fn a_wasi_write_stopped_midway_is_a_trap_for_other_writes_and_no_panic_for_output_reads(
    m: &Machine,
) -> TestResult {
    const PERIOD: Duration = Duration::from_micros(100);
    const BIG: usize = 2 << 20;
    let bytes = include_bytes!(concat!(env!("OUT_DIR"), "/busy_output.wasm"));
    let module = Arc::new(Module::new(bytes).map_err(|e| format!("{e:?}"))?);
    let i = Instance::new(module, Store::new(KernelStacks, STACK)).map_err(|e| format!("{e:?}"))?;
    i.capture_wasi_output();
    let big = i.exported_func("big").ok_or("no export big")?;
    let k = i.store().cont_new(big).map_err(|t| format!("{t}"))?;
    let timer = Timer::new(m);
    timer
        .start(PERIOD)
        .map_err(|e| format!("start({PERIOD:?}): {e:?}"))?;
    // A slice may end before the WASI call starts: then a small write
    // goes through (and is kept), and the big one gets another slice.
    let mut small_ones = 0;
    let outcome = slice_until(&i, k, || match i.invoke("small", &[]) {
        Ok(v) if v == [Val::I32(errno::SUCCESS)] => {
            small_ones += 1;
            Ok(None)
        }
        Err(Error::Trap(t)) => Ok(Some(t.message())),
        other => Err(format!("small after {small_ones}: {other:?}")),
    });
    let stopped = timer.stop();
    check_eq!(stopped, Ok(()));
    let (k, small) = outcome?;
    check_eq!(small, "memory or table in use by a preempted call");
    // Nothing while the copy holds the buffer; the small writes' bytes
    // if it was stopped before the copy began.
    let early = i.take_wasi_output();
    check!(early.is_empty() || early.len() == small_ones);
    // No timer: the rest of the write runs in this one resume.
    match i.store().resume_for::<(), i32>(k, 1, (), &[]) {
        Ok(kernel::cont::dynamic::Timed::InTime(r)) => {
            check_eq!(r, Resumed::Returned(errno::SUCCESS))
        }
        other => return Err(format!("the big write went on: {other:?}")),
    }
    let mut out = early;
    out.extend(i.take_wasi_output());
    check_eq!(out.len(), small_ones + BIG);
    check!(out[..small_ones].iter().all(|&b| b == b'x'));
    check!(out[small_ones..].iter().all(|&b| b == 0));
    check_eq!(
        i.invoke("small", &[]).map_err(|e| format!("{e:?}"))?,
        [Val::I32(errno::SUCCESS)]
    );
    check_eq!(i.take_wasi_output(), b"x");
    Ok(())
}

/// Runs the Wasm guest `k` of `i`'s store in slices of the armed timer
/// (a budget of two ticks, then one) until `stopped`, asked from the
/// kernel after each preemption, says it was
/// stopped where the test wants it (`Some`); `None` gives another slice,
/// at most 50. An end in time or a trap is an error: the guest must be
/// stopped inside its one long step.
fn slice_until<T>(
    i: &Instance,
    k: kernel::cont::dynamic::ContObj,
    mut stopped: impl FnMut() -> Result<Option<T>, String>,
) -> Result<(kernel::cont::dynamic::ContObj, T), String> {
    use kernel::cont::dynamic::Timed;
    let mut outcome = i.store().resume_for::<(), i32>(k, 2, (), &[]);
    for _ in 0..50 {
        match outcome {
            Ok(Timed::Preempted(k)) => match stopped()? {
                Some(t) => return Ok((k, t)),
                None => outcome = i.store().resume_for::<(), i32>(k, 1, (), &[]),
            },
            Ok(Timed::InTime(r)) => return Err(format!("ended in time: {r:?}")),
            Err(t) => return Err(format!("trapped: {t}")),
        }
    }
    Err("not stopped where wanted in 50 slices".into())
}
