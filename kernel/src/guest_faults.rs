//! Guest failures become traps: the policy that decides whether a fault or
//! a panic belongs to guest code (then its continuation traps, and the boot
//! goes on) or to the kernel (then it is reported, and the boot ends).
//!
//! Guest code is code running on a continuation stack of a store that has
//! a chain running, that held none of the locks the kernel needs to free a
//! stack. `docs/faults.md` follows one fault through it step by step.

use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptStackFrame;

use crate::cont::{Trap, TrapKind, TrapText};
use crate::exceptions::{exception_name, vector};

/// Turns a fault in guest code into a trap and never returns, if the fault
/// is one: the faulting code ran on a continuation stack, whose slot names
/// the store that owns it, and that store has a chain running. Otherwise
/// returns, and the caller reports a kernel bug.
///
/// The trap leaves this handler by switching to the `resume` that ran the
/// faulting continuation, through its control context (`cont::trap_current`), not
/// by `iretq`: the faulting stack is dead, and the handler's own frame (on
/// an IST stack or the dead continuation stack) is simply abandoned. No
/// exception here needs an `iretq` to re-arm anything (only NMI does).
pub(crate) fn trap_guest_fault(
    vector: u8,
    frame: &InterruptStackFrame,
    cr2: Option<u64>,
    rbp: u64,
) {
    let Some(store) = guest_store(frame.stack_pointer) else {
        return;
    };
    let (kind, message) = match (vector, cr2) {
        (vector::DIVIDE_ERROR, _) => (TrapKind::DivideByZero, "integer division by zero"),
        (vector::INVALID_OPCODE, _) => (TrapKind::InvalidOpcode, "invalid opcode"),
        (vector::GENERAL_PROTECTION, _) => {
            (TrapKind::GeneralProtection, "general-protection fault")
        }
        (vector::PAGE_FAULT, Some(addr))
            if crate::stacks::in_guard(VirtAddr::new_truncate(addr)) =>
        {
            (
                TrapKind::StackOverflow { addr },
                "stack overflow: the guard page below a continuation stack was touched",
            )
        }
        (vector::PAGE_FAULT, Some(addr)) => (TrapKind::PageFault { addr }, "page fault"),
        (vector, _) => (TrapKind::CpuException { vector }, exception_name(vector)),
    };
    // The gate cleared IF, and no `iretq` will restore it: if the guest
    // ran with interrupts on (the timer is running), the resumer did too,
    // so they come back on now. A tick in the rest of this path only counts
    // (`timer.rs`), on its own stack.
    if frame
        .cpu_flags
        .contains(x86_64::registers::rflags::RFlags::INTERRUPT_FLAG)
    {
        x86_64::instructions::interrupts::enable();
    }
    // SAFETY: `store` owns the stack the fault happened on and has a chain
    // running, and this handler's frame is abandoned by the switch.
    unsafe {
        crate::cont::trap_current(
            store,
            Trap::new(kind, message),
            Some(frame.instruction_pointer.as_u64() as usize),
            rbp as usize,
        )
    }
}

/// The store whose chain the code running on stack pointer `rsp` belongs
/// to, if that code is guest code whose failure may become a trap: `rsp`
/// is in a continuation stack, its slot names a store, that store has a
/// chain running, and the code held none of the locks that freeing the
/// chain needs. `None`: the failure is the kernel's.
fn guest_store(rsp: VirtAddr) -> Option<*const crate::cont::Store> {
    let store = crate::stacks::owner_of(rsp)?;
    // The chain's code dies here. If it held a lock the kernel needs later,
    // freeing the chain or the next allocation would wait for ever: that is
    // a kernel bug (guest code reaches these locks only through the kernel,
    // which touches the stack before locking), reported instead of trapped.
    if let Some(lock) = lock_held_by_faulting_code() {
        // SAFETY: the caller ends the boot when this returns `None`; the
        // holder of the console, if any, never runs again.
        unsafe { crate::serial::force_unlock() };
        crate::println!("  the failing continuation held the {lock} lock: kernel bug");
        return None;
    }
    // The console lock is different: the UART holds no state between
    // bytes, so the lock can be released for a holder that will never run
    // again (a fault inside the driver's short locked section).
    if crate::serial::locked() {
        // SAFETY: the holder is the trapping chain, which never runs again.
        unsafe { crate::serial::force_unlock() };
    }
    // SAFETY: a store outlives every stack it owns.
    unsafe { (*store).has_chain() }.then_some(store)
}

/// Turns a panic in guest code into a trap of its chain and never returns,
/// if the panic is one: the code that panicked runs on a continuation stack
/// whose store has a chain running (see [`guest_store`]). Otherwise returns,
/// and the panic handler reports a kernel panic and ends the boot.
///
/// The trap is [`TrapKind::Panic`], or [`TrapKind::OutOfMemory`] when the
/// panic is the allocation-error handler's after the allocator refused a
/// block (`heap.rs`); its text is the panic's message and location, formatted into the trap itself (no heap: the panicking code
/// may hold the heap's lock). The walk starts at the panic handler's
/// caller, so the backtrace shows the panic machinery, then the guest.
pub fn trap_guest_panic(info: &core::panic::PanicInfo) {
    use core::fmt::Write;
    let rbp = crate::cont::switch::frame_pointer();
    let Some(store) = guest_store(VirtAddr::new(crate::cont::switch::stack_pointer() as u64))
    else {
        return;
    };
    let mut text = TrapText::EMPTY;
    let _ = match info.location() {
        Some(at) => write!(
            text,
            "{} at {}:{}:{}",
            info.message(),
            at.file(),
            at.line(),
            at.column()
        ),
        None => write!(text, "{}", info.message()),
    };
    // A panic of the allocation-error handler after a refused allocation
    // is the guest running out of memory (its store's quota, most often).
    // Both must hold: the refusal word outlives a refused `try_reserve`
    // whose `Err` was handled, and an unrelated panic after it (in this
    // guest or another store's) is a panic. The word is taken either way.
    let refusal = crate::heap::take_refusal();
    let (kind, message) = match refusal {
        Some(refusal) if text.as_str().starts_with(ALLOC_ERROR_PANIC) => {
            (TrapKind::OutOfMemory, refusal.message())
        }
        _ => (TrapKind::Panic, "guest panicked"),
    };
    let trap = Trap::new(kind, message).with_text(text);
    // SAFETY: `store` owns the stack this code runs on and has a chain
    // running; the panicking frames are abandoned by the switch.
    unsafe { crate::cont::trap_current(store, trap, None, rbp) }
}

/// How the panic of `alloc`'s allocation-error handler begins
/// (`memory allocation of N bytes failed`).
const ALLOC_ERROR_PANIC: &str = "memory allocation of ";

/// A kernel lock that the interrupted code holds and that cannot be taken
/// over (its data may be half-updated), if any.
fn lock_held_by_faulting_code() -> Option<&'static str> {
    if crate::stacks::pool_locked() {
        Some("stack pool")
    } else if crate::frames::locked() {
        Some("frame allocator")
    } else if crate::paging::table_locked() {
        Some("page table")
    } else if crate::heap::locked() {
        Some("heap")
    } else {
        None
    }
}
