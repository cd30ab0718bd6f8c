//! The interrupt descriptor table: a handler for every CPU exception, and
//! the fault reports they print over serial. The exception names are in
//! `exceptions.rs`, the probes in `probe.rs`, the rule that turns a guest's
//! fault into a trap in `guest_faults.rs`. The gates of vectors 32 and up
//! (the timer's tick, the masked 8259s, the APIC's spurious vector) are
//! `timer.rs`'s: `init` lets it fill them.
//!
//! Every exception vector 0–31 that the architecture defines gets a handler.
//! Breakpoint (`int3`) is reported, counted and execution continues. For
//! the others, in this order:
//!
//! 1. a page fault in a continuation stack may be *demand paging*: the page
//!    is mapped and the instruction runs again (`stacks::on_page_fault`);
//! 2. the fault catcher, if one is installed, may take the fault: a probe
//!    armed on the faulting stack catches it (`probe` installs the catcher
//!    when it arms; the fault path names no probe);
//! 3. a fault on a continuation stack whose store has a chain running is a
//!    *guest fault*: it becomes a trap of that chain, and `Err(trap)` comes
//!    out of the kernel's `resume` (`trap_guest_fault`, `docs/faults.md`);
//! 4. anything else is a bug in the kernel: the handler prints the vector
//!    and its name, the error code, RIP and RSP (for a page fault also CR2
//!    and the decoded error bits), then calls `fatal::fatal`, which ends
//!    the boot through the installed fatal hook (the test harness reports
//!    the running test) or exits QEMU with failure.
//!
//! Ten vectors are always fatal, in guest code as in the kernel's: debug
//! (1), NMI (2), double fault (8), invalid TSS (10), machine check (18),
//! virtualization (20), control protection (21), hypervisor injection
//! (28), VMM communication (29) and security (30).
//!
//! ## Which handlers run on their own stack, and why the page fault does
//!
//! Four gates name an IST slot (see `gdt`), so the CPU switches to a known
//! good stack before it pushes the interrupt frame:
//!
//! | vector | exception      | IST slot            | why |
//! |--------|----------------|---------------------|-----|
//! | 2      | NMI            | `NMI_IST`           | can arrive anywhere, even mid stack switch |
//! | 8      | double fault   | `DOUBLE_FAULT_IST`  | the last handler before a triple fault must work |
//! | 14     | page fault     | `PAGE_FAULT_IST`    | must work when the faulting stack is unusable |
//! | 18     | machine check  | `MACHINE_CHECK_IST` | can arrive anywhere |
//!
//! The page fault is the unusual one. Continuation stacks are paged in on
//! demand and end in guard pages, so a #PF is routinely caused *by* the stack
//! in use: running the handler on that stack would fault again while pushing
//! the frame, and escalate to a double fault. On its own stack the handler
//! sees every page fault, including a kernel stack overflow, which therefore
//! arrives as a #PF whose CR2 lies in the guard page below the kernel stack
//! (recorded by `paging` at boot): the handler recognises it and reports
//! "kernel stack overflow". A double fault now means something else went
//! wrong while delivering an exception, e.g. a missing gate.
//!

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicU64, Ordering};

use x86_64::VirtAddr;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{
    Entry, ExceptionVector as V, InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode,
};

pub use crate::exceptions::{FaultInfo, PageFaultBits, exception_name, vector};
use crate::fatal::{Fatal, catch_fault, fatal};
use crate::gdt;
use crate::guest_faults::trap_guest_fault;
pub(crate) use crate::guest_faults::trap_guest_panic;
pub use crate::probe::probe;

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// How many breakpoint exceptions have been handled since boot.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::SeqCst)
}

/// The fatal kind a fatal hook is told about for `vector`.
fn fatal_kind(vector: u8) -> Fatal {
    match vector {
        vector::DIVIDE_ERROR => Fatal::DivideError,
        vector::INVALID_OPCODE => Fatal::InvalidOpcode,
        vector::DOUBLE_FAULT => Fatal::DoubleFault,
        vector::GENERAL_PROTECTION => Fatal::GeneralProtection,
        vector::PAGE_FAULT => Fatal::PageFault,
        _ => Fatal::Other,
    }
}

fn current_rsp() -> u64 {
    crate::cont::switch::stack_pointer() as u64
}

/// Prints the standard report of an exception; with the interrupted RBP,
/// a backtrace named by the kernel's symbol table too.
fn report(
    vector: u8,
    frame: &InterruptStackFrame,
    error_code: Option<u64>,
    cr2: Option<u64>,
    interrupted_rbp: Option<u64>,
) {
    // SAFETY: every caller ends the boot right after reporting; whatever
    // held the console never runs again.
    unsafe { crate::serial::force_unlock() };
    crate::println!("EXCEPTION: vector {vector} ({})", exception_name(vector));
    if let Some(code) = error_code {
        crate::println!("  error code: {code:#x}");
    }
    crate::println!(
        "  RIP: {:#x}  RSP: {:#x}  CS: {:#x}  RFLAGS: {:#x}",
        frame.instruction_pointer.as_u64(),
        frame.stack_pointer.as_u64(),
        frame.code_segment.0,
        frame.cpu_flags.bits()
    );
    if let Some(cr2) = cr2 {
        let bits = PageFaultBits(error_code.unwrap_or(0));
        crate::println!("  CR2: {cr2:#x} ({bits})");
    }
    crate::println!("  handler RSP: {:#x}", current_rsp());
    let rip = frame.instruction_pointer.as_u64() as usize;
    if let Some(at) = crate::symbols::lookup(rip) {
        crate::println!("  in {at}");
    }
    if let Some(rbp) = interrupted_rbp
        && let Some(trace) = crate::trap_report::kernel_backtrace(Some(rip), rbp as usize)
    {
        crate::print!("{}", crate::trap_report::FramesDisplay(&trace));
    }
}

/// The common path of every fault that a probe may catch, or that guest
/// code may cause: a probe armed by kernel code gets it first; then a fault
/// on a continuation stack becomes a trap of the running chain; anything
/// else is a bug in the kernel, reported in full, and ends the boot.
fn fault(
    vector: u8,
    frame: &mut InterruptStackFrame,
    error_code: Option<u64>,
    cr2: Option<u64>,
    interrupted_rbp: u64,
) {
    let info = FaultInfo {
        vector,
        error_code,
        rip: frame.instruction_pointer.as_u64(),
        cr2,
    };
    if catch_fault(frame, info) {
        return;
    }
    trap_guest_fault(vector, frame, cr2, interrupted_rbp);
    report(vector, frame, error_code, cr2, Some(interrupted_rbp));
    fatal(fatal_kind(vector))
}

/// The RBP of the code an exception interrupted. Every handler starts with
/// `push rbp; mov rbp, rsp` (frame pointers are always on), so the word at
/// the handler's RBP is the interrupted RBP. Call it from the handler itself.
macro_rules! interrupted_rbp {
    () => {{
        let rbp: u64;
        // SAFETY: reads the saved RBP of this handler's own frame record.
        unsafe { asm!("mov {}, [rbp]", out(reg) rbp, options(nostack, readonly, preserves_flags)) };
        rbp
    }};
}

/// The common path of exceptions that are always fatal.
fn fatal_exception(vector: u8, frame: &InterruptStackFrame, error_code: Option<u64>) -> ! {
    report(vector, frame, error_code, None, None);
    fatal(fatal_kind(vector))
}

macro_rules! recoverable {
    ($name:ident, $vector:expr) => {
        extern "x86-interrupt" fn $name(mut frame: InterruptStackFrame) {
            let rbp = interrupted_rbp!();
            fault($vector as u8, &mut frame, None, None, rbp);
        }
    };
    ($name:ident, $vector:expr, error_code) => {
        extern "x86-interrupt" fn $name(mut frame: InterruptStackFrame, code: u64) {
            let rbp = interrupted_rbp!();
            fault($vector as u8, &mut frame, Some(code), None, rbp);
        }
    };
}

macro_rules! always_fatal {
    ($name:ident, $vector:expr) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            fatal_exception($vector as u8, &frame, None)
        }
    };
    ($name:ident, $vector:expr, error_code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            fatal_exception($vector as u8, &frame, Some(code))
        }
    };
}

recoverable!(divide_error, V::Division);
always_fatal!(debug, V::Debug);
always_fatal!(non_maskable_interrupt, V::NonMaskableInterrupt);
recoverable!(overflow, V::Overflow);
recoverable!(bound_range_exceeded, V::BoundRange);
recoverable!(invalid_opcode, V::InvalidOpcode);
recoverable!(device_not_available, V::DeviceNotAvailable);
always_fatal!(invalid_tss, V::InvalidTss, error_code);
recoverable!(segment_not_present, V::SegmentNotPresent, error_code);
recoverable!(stack_segment_fault, V::Stack, error_code);
recoverable!(general_protection, V::GeneralProtection, error_code);
recoverable!(x87_floating_point, V::X87FloatingPoint);
recoverable!(alignment_check, V::AlignmentCheck, error_code);
recoverable!(simd_floating_point, V::SimdFloatingPoint);
always_fatal!(virtualization, V::Virtualization);
always_fatal!(control_protection, V::ControlProtection, error_code);
always_fatal!(hv_injection, V::HypervisorInjection);
always_fatal!(vmm_communication, V::VmmCommunication, error_code);
always_fatal!(security, V::Security, error_code);

extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    let count = BREAKPOINTS.fetch_add(1, Ordering::SeqCst) + 1;
    crate::println!(
        "breakpoint #{count} at {:#x}, continuing",
        frame.instruction_pointer.as_u64() - 1
    );
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    let rsp = current_rsp();
    report(vector::DOUBLE_FAULT, &frame, Some(code), None, None);
    let (bottom, top) = gdt::ist_stack_range(gdt::DOUBLE_FAULT_IST);
    if gdt::on_ist_stack(gdt::DOUBLE_FAULT_IST, rsp) {
        crate::println!("  running on the double-fault IST stack {bottom:#x}..{top:#x}");
        fatal(Fatal::DoubleFault)
    } else {
        crate::println!("  NOT on the double-fault IST stack {bottom:#x}..{top:#x}");
        fatal(Fatal::Other)
    }
}

extern "x86-interrupt" fn machine_check(frame: InterruptStackFrame) -> ! {
    fatal_exception(V::MachineCheck as u8, &frame, None)
}

extern "x86-interrupt" fn page_fault(mut frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let rbp = interrupted_rbp!();
    let cr2 = Cr2::read_raw();
    // The CPU reports a page fault only for a canonical address (a
    // non-canonical one is a #GP), so nothing is lost in the conversion.
    let addr = VirtAddr::new_truncate(cr2);
    if let Some(stack) = crate::paging::kernel_stack()
        && stack.guard_contains(addr)
    {
        // SAFETY: the boot ends below; the overflowing code never resumes.
        unsafe { crate::serial::force_unlock() };
        crate::println!(
            "KERNEL STACK OVERFLOW: CR2 is in the guard page {:#x}..{:#x} below the kernel \
             stack {:#x}..{:#x}",
            stack.guard.start_address(),
            stack.bottom(),
            stack.bottom(),
            stack.top()
        );
        report(
            vector::PAGE_FAULT,
            &frame,
            Some(code.bits()),
            Some(cr2),
            Some(rbp),
        );
        fatal(Fatal::KernelStackOverflow)
    }
    // Continuation stacks are mapped on first touch: a not-present fault
    // in the stack part of a slot in use maps a zeroed page, and the
    // faulting instruction runs again when this handler returns.
    if !code.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
        match crate::stacks::on_page_fault(addr) {
            crate::stacks::Demand::Mapped => return,
            crate::stacks::Demand::Busy => {
                // A demand fault while the pool, frame or page-table lock
                // was held: the rule "touch the stack before taking a lock"
                // (stacks.rs) was broken. Waiting would hang; a trap would
                // need the same locks to free the chain. Report and stop.
                report(
                    vector::PAGE_FAULT,
                    &frame,
                    Some(code.bits()),
                    Some(cr2),
                    Some(rbp),
                );
                crate::println!(
                    "  a continuation stack needed a page while a stack, frame or \
                     page-table lock was held: kernel bug"
                );
                fatal(Fatal::DemandFaultWhileLocked)
            }
            _ => {}
        }
    }
    fault(
        vector::PAGE_FAULT,
        &mut frame,
        Some(code.bits()),
        Some(cr2),
        rbp,
    );
}

/// The IDT lives in a `static` that [`unhook_page_fault`] may still change
/// after it is loaded (the CPU reads gates at delivery time).
struct Idt(UnsafeCell<Option<InterruptDescriptorTable>>);

// SAFETY: written by `init` once before it is loaded, and by
// `unhook_page_fault`, on a single CPU with interrupts off.
unsafe impl Sync for Idt {}

static IDT: Idt = Idt(UnsafeCell::new(None));

/// Builds and loads the IDT. Runs after `gdt::init`, whose IST slots the
/// gates below name.
pub(crate) fn init() {
    let mut idt = InterruptDescriptorTable::new();
    idt.divide_error.set_handler_fn(divide_error);
    idt.debug.set_handler_fn(debug);
    idt.breakpoint.set_handler_fn(breakpoint);
    idt.overflow.set_handler_fn(overflow);
    idt.bound_range_exceeded
        .set_handler_fn(bound_range_exceeded);
    idt.invalid_opcode.set_handler_fn(invalid_opcode);
    idt.device_not_available
        .set_handler_fn(device_not_available);
    idt.invalid_tss.set_handler_fn(invalid_tss);
    idt.segment_not_present.set_handler_fn(segment_not_present);
    idt.stack_segment_fault.set_handler_fn(stack_segment_fault);
    idt.general_protection_fault
        .set_handler_fn(general_protection);
    idt.x87_floating_point.set_handler_fn(x87_floating_point);
    idt.alignment_check.set_handler_fn(alignment_check);
    idt.simd_floating_point.set_handler_fn(simd_floating_point);
    idt.virtualization.set_handler_fn(virtualization);
    idt.cp_protection_exception
        .set_handler_fn(control_protection);
    idt.hv_injection_exception.set_handler_fn(hv_injection);
    idt.vmm_communication_exception
        .set_handler_fn(vmm_communication);
    idt.security_exception.set_handler_fn(security);
    // SAFETY: each slot is one `gdt::init` filled with its own stack, and no
    // other gate uses it, so no handler can overwrite another's frame.
    unsafe {
        idt.double_fault
            .set_handler_fn(double_fault)
            .set_stack_index(gdt::DOUBLE_FAULT_IST);
        idt.page_fault
            .set_handler_fn(page_fault)
            .set_stack_index(gdt::PAGE_FAULT_IST);
        idt.non_maskable_interrupt
            .set_handler_fn(non_maskable_interrupt)
            .set_stack_index(gdt::NMI_IST);
        idt.machine_check
            .set_handler_fn(machine_check)
            .set_stack_index(gdt::MACHINE_CHECK_IST);
    }
    // Vectors 32 and up: the timer's tick and the strays it watches for.
    crate::timer::install_gates(&mut idt);
    // SAFETY: single CPU, interrupts off, the table is not loaded yet; once
    // stored it is never moved (the static lives forever), so the CPU can
    // keep its address.
    unsafe {
        let slot = &mut *IDT.0.get();
        *slot = Some(idt);
        if let Some(idt) = slot.as_ref() {
            idt.load_unsafe();
        }
    }
}

/// Marks the page-fault gate not present, so the next page fault cannot be
/// delivered: the CPU raises #NP while delivering #PF, and that escalates to
/// a genuine double fault. Only the double-fault test uses this.
///
/// # Safety
/// Every later page fault ends the boot in the double-fault handler.
pub unsafe fn unhook_page_fault() {
    // SAFETY: single CPU, interrupts off; the CPU reads the gate only when it
    // delivers a page fault, and writing one gate is a plain store.
    unsafe {
        if let Some(idt) = (*IDT.0.get()).as_mut() {
            idt.page_fault = Entry::missing();
        }
    }
}
