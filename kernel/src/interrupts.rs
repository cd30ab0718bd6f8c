//! The interrupt descriptor table: a handler for every CPU exception, fault
//! reports over serial, and *fault probes* that turn a fault in chosen code
//! into an ordinary `Err` instead of the end of the boot.
//!
//! Every exception vector 0–31 that the architecture defines gets a handler.
//! Breakpoint (`int3`) is reported, counted and execution continues. For
//! the others, in this order:
//!
//! 1. a page fault in a continuation stack may be *demand paging*: the page
//!    is mapped and the instruction runs again (`stacks::on_page_fault`);
//! 2. a probe armed on the faulting stack catches the fault (below);
//! 3. a fault on a continuation stack whose store has a chain running is a
//!    *guest fault*: it becomes a trap of that chain, and `Err(trap)` comes
//!    out of the kernel's `resume` (`trap_guest_fault`, `docs/faults.md`);
//! 4. anything else is a bug in the kernel: the handler prints the vector
//!    and its name, the error code, RIP and RSP (for a page fault also CR2
//!    and the decoded error bits), then calls [`crate::testing::fatal`],
//!    which reports the running test and exits QEMU.
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
//! ## Fault probes: a small exception table / longjmp
//!
//! [`probe`] runs a closure and returns `Err(FaultInfo)` if it faults with a
//! recoverable exception (divide error, overflow, bound range, invalid
//! opcode, device not available, segment not present, stack-segment fault,
//! general protection, page fault, x87, alignment check, SIMD) instead of
//! ending the boot. It is `setjmp`/`longjmp` with the fault handler as the
//! thrower:
//!
//! ```text
//!   probe(f)                           kernel stack (grows down)
//!     kernel_probe_call(run, &f)       +--------------------------+
//!       saves rbx rbp r12-r15          | probe's frame (Rust)     |
//!       push rbp                       | return address into probe|
//!       saves RSP ------------------>  | saved rbp                | <- JumpBuffer.rsp
//!       call run -> f()                +--------------------------+
//!         ... fault! ---------+        | run / f frames, abandoned|
//!                             |        +--------------------------+
//!   CPU pushes a frame on the |
//!   handler's stack, handler: v        handler's stack (IST or current)
//!     records FaultInfo                +--------------------------+
//!     frame.RIP := kernel_probe_recover| SS                       |
//!     frame.RSP := JumpBuffer.rsp      | RSP   := JumpBuffer.rsp  |
//!     iretq ----------------------+    | RFLAGS                   |
//!                                 |    | CS                       |
//!   kernel_probe_recover: <-------+    | RIP   := probe_recover   |
//!     restores rbx r12-r15, pop rbp    | (error code, popped)     |
//!     returns 1 to probe -> Err(info)  +--------------------------+
//! ```
//!
//! Like `longjmp`, recovery abandons `f`'s frames: nothing in them is
//! dropped, so `f` should not hold locks or own resources that must be
//! released. Probes nest: an inner probe saves the outer one's jump buffer
//! and restores it when it returns. A fault while no probe is armed stays
//! fatal, with the full report. A kernel stack overflow is always fatal.

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::fmt;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use x86_64::VirtAddr;
use x86_64::registers::control::Cr2;
use x86_64::structures::idt::{
    Entry, InterruptDescriptorTable, InterruptStackFrame, PageFaultErrorCode,
};

use crate::cont::{Trap, TrapKind, TrapText};
use crate::gdt;
use crate::testing::{Fatal, fatal};

/// The architectural names of vectors 0–31 (`None`: reserved).
const NAMES: [Option<&str>; 32] = [
    Some("#DE divide error"),
    Some("#DB debug"),
    Some("NMI non-maskable interrupt"),
    Some("#BP breakpoint"),
    Some("#OF overflow"),
    Some("#BR bound range exceeded"),
    Some("#UD invalid opcode"),
    Some("#NM device not available"),
    Some("#DF double fault"),
    None,
    Some("#TS invalid TSS"),
    Some("#NP segment not present"),
    Some("#SS stack-segment fault"),
    Some("#GP general protection"),
    Some("#PF page fault"),
    None,
    Some("#MF x87 floating point"),
    Some("#AC alignment check"),
    Some("#MC machine check"),
    Some("#XM SIMD floating point"),
    Some("#VE virtualization"),
    Some("#CP control protection"),
    None,
    None,
    None,
    None,
    None,
    None,
    Some("#HV hypervisor injection"),
    Some("#VC VMM communication"),
    Some("#SX security"),
    None,
];

/// The name of exception `vector`, e.g. `"#PF page fault"`.
pub fn exception_name(vector: u8) -> &'static str {
    NAMES
        .get(vector as usize)
        .copied()
        .flatten()
        .unwrap_or("reserved or external")
}

/// Exception vectors, for code that inspects a [`FaultInfo`].
pub mod vector {
    pub const DIVIDE_ERROR: u8 = 0;
    pub const BREAKPOINT: u8 = 3;
    pub const INVALID_OPCODE: u8 = 6;
    pub const DOUBLE_FAULT: u8 = 8;
    pub const SEGMENT_NOT_PRESENT: u8 = 11;
    pub const GENERAL_PROTECTION: u8 = 13;
    pub const PAGE_FAULT: u8 = 14;
}

/// What a probe reports about the fault that ended its closure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultInfo {
    /// Exception vector (see [`vector`]).
    pub vector: u8,
    /// The error code, for the exceptions that push one.
    pub error_code: Option<u64>,
    /// Address of the faulting instruction.
    pub rip: u64,
    /// For a page fault: the address whose access faulted.
    pub cr2: Option<u64>,
}

impl FaultInfo {
    /// The exception's name, e.g. `"#GP general protection"`.
    pub fn name(&self) -> &'static str {
        exception_name(self.vector)
    }
}

/// Page-fault error code bits, decoded for a report: `"not present, write,
/// supervisor"`.
pub struct PageFaultBits(pub u64);

impl fmt::Display for PageFaultBits {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let code = PageFaultErrorCode::from_bits_retain(self.0);
        let pick = |flag, yes, no| if code.contains(flag) { yes } else { no };
        write!(
            f,
            "{}, {}, {}",
            pick(
                PageFaultErrorCode::PROTECTION_VIOLATION,
                "protection violation",
                "not present"
            ),
            pick(PageFaultErrorCode::CAUSED_BY_WRITE, "write", "read"),
            pick(PageFaultErrorCode::USER_MODE, "user", "supervisor"),
        )?;
        if code.contains(PageFaultErrorCode::MALFORMED_TABLE) {
            write!(f, ", reserved bit set in a page table")?;
        }
        if code.contains(PageFaultErrorCode::INSTRUCTION_FETCH) {
            write!(f, ", instruction fetch")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Probes
// ---------------------------------------------------------------------------

/// Callee-saved registers and stack pointer of the innermost armed probe.
/// The offsets are used by the assembly below.
#[repr(C)]
#[derive(Clone, Copy)]
struct JumpBuffer {
    rbx: u64, // 0x00
    rbp: u64, // 0x08
    r12: u64, // 0x10
    r13: u64, // 0x18
    r14: u64, // 0x20
    r15: u64, // 0x28
    rsp: u64, // 0x30
}

/// The probe state shared by `probe`, the assembly and the fault handlers.
/// `repr(C)` keeps `buffer` at offset 0, where the assembly expects it.
#[repr(C)]
struct ProbeState {
    buffer: UnsafeCell<JumpBuffer>,
    fault: UnsafeCell<Option<FaultInfo>>,
}

// SAFETY: the kernel runs on one CPU with interrupts disabled. `buffer` is
// written by `kernel_probe_call` and by `probe` (restoring an outer probe),
// read by fault handlers only while `PROBE_ARMED` is set, i.e. while no
// Rust code is using it; `fault` is written by a handler just before it
// redirects to the recovery routine and read by `probe` after it.
unsafe impl Sync for ProbeState {}

static PROBE: ProbeState = ProbeState {
    buffer: UnsafeCell::new(JumpBuffer {
        rbx: 0,
        rbp: 0,
        r12: 0,
        r13: 0,
        r14: 0,
        r15: 0,
        rsp: 0,
    }),
    fault: UnsafeCell::new(None),
};

/// Whether a fault handler should redirect to the probe's recovery routine.
static PROBE_ARMED: AtomicBool = AtomicBool::new(false);

// kernel_probe_call(run: extern "C" fn(*mut u8), data: *mut u8) -> u64
//   Saves the callee-saved registers into PROBE.buffer, builds a frame
//   record (push rbp), saves RSP, calls run(data) and returns 0.
// kernel_probe_recover
//   Entered by iretq from a fault handler with RSP = the saved RSP: restores
//   the callee-saved registers, pops the frame record and returns 1 from
//   kernel_probe_call.
global_asm!(
    ".pushsection .text.kernel_probe, \"ax\"",
    ".global kernel_probe_call",
    "kernel_probe_call:",
    "    lea rax, [rip + {buffer}]",
    "    mov [rax + 0x00], rbx",
    "    mov [rax + 0x08], rbp",
    "    mov [rax + 0x10], r12",
    "    mov [rax + 0x18], r13",
    "    mov [rax + 0x20], r14",
    "    mov [rax + 0x28], r15",
    "    push rbp",
    "    mov rbp, rsp",
    "    mov [rax + 0x30], rsp",
    "    mov rax, rdi",
    "    mov rdi, rsi",
    "    call rax",
    "    pop rbp",
    "    xor eax, eax",
    "    ret",
    ".global kernel_probe_recover",
    "kernel_probe_recover:",
    "    lea rax, [rip + {buffer}]",
    "    mov rsp, [rax + 0x30]",
    "    mov rbx, [rax + 0x00]",
    "    mov r12, [rax + 0x10]",
    "    mov r13, [rax + 0x18]",
    "    mov r14, [rax + 0x20]",
    "    mov r15, [rax + 0x28]",
    "    pop rbp",
    "    cld",
    "    mov eax, 1",
    "    ret",
    ".popsection",
    buffer = sym PROBE,
);

unsafe extern "C" {
    fn kernel_probe_call(run: extern "C" fn(*mut u8), data: *mut u8) -> u64;
    fn kernel_probe_recover();
}

/// Runs `f`; if it raises a recoverable fault, returns what faulted instead
/// of ending the boot. See the module docs for how, and for the rule that
/// `f`'s frames are abandoned (not dropped) on a fault.
pub fn probe<F: FnOnce()>(f: F) -> Result<(), FaultInfo> {
    extern "C" fn run<F: FnOnce()>(data: *mut u8) {
        // SAFETY: `data` is the `&mut Option<F>` that `probe` passes below,
        // alive for the whole call.
        let slot = unsafe { &mut *data.cast::<Option<F>>() };
        if let Some(f) = slot.take() {
            f();
        }
    }
    let mut slot = Some(f);
    // SAFETY: single CPU, interrupts off: no handler reads the buffer until
    // PROBE_ARMED is set below, and the outer probe (if any) is not running.
    let outer = unsafe { *PROBE.buffer.get() };
    let outer_armed = PROBE_ARMED.swap(true, Ordering::SeqCst);
    // SAFETY: `run::<F>` matches the pointer type it is given; the assembly
    // preserves the callee-saved registers on both of its return paths and
    // returns on the stack it was called on.
    let faulted = unsafe { kernel_probe_call(run::<F>, (&raw mut slot).cast()) };
    // SAFETY: as above; the inner probe is over, the outer one is resumed.
    unsafe { *PROBE.buffer.get() = outer };
    PROBE_ARMED.store(outer_armed, Ordering::SeqCst);
    if faulted == 0 {
        return Ok(());
    }
    // SAFETY: the handler wrote `fault` before redirecting here; nothing
    // else touches it.
    let info = unsafe { (*PROBE.fault.get()).take() };
    Err(info.expect("a probe recovered without a recorded fault"))
}

/// If a probe is armed, records `info` and rewrites `frame` so that `iretq`
/// resumes in the probe's recovery routine. Returns whether it did.
fn redirect_to_probe(frame: &mut InterruptStackFrame, info: FaultInfo) -> bool {
    if !PROBE_ARMED.load(Ordering::SeqCst) {
        return false;
    }
    // A probe catches faults of the code it runs, on the stack it was armed
    // on. A fault on another stack (a continuation the probed code resumed)
    // belongs to that continuation's chain: it becomes a trap, and the
    // probed code sees the `Err` come out of its `resume`.
    // SAFETY: armed, so `buffer` holds the state `kernel_probe_call` saved.
    let armed_rsp = unsafe { (*PROBE.buffer.get()).rsp };
    if !same_stack(armed_rsp, frame.stack_pointer.as_u64()) {
        return false;
    }
    PROBE_ARMED.store(false, Ordering::SeqCst);
    // SAFETY: the probe is armed, so `buffer` holds the state saved by
    // `kernel_probe_call`, and `probe` is suspended inside that call.
    let rsp = unsafe {
        *PROBE.fault.get() = Some(info);
        (*PROBE.buffer.get()).rsp
    };
    // SAFETY: the new RIP is the recovery routine, in kernel text, run with
    // the same CS/SS/RFLAGS as the faulting code; the new RSP points at the
    // frame record `kernel_probe_call` pushed, on a stack that is still live
    // because the probe has not returned.
    unsafe {
        frame.as_mut().update(|f| {
            f.instruction_pointer = VirtAddr::new(kernel_probe_recover as *const () as u64);
            f.stack_pointer = VirtAddr::new(rsp);
        });
    }
    true
}

/// Whether two stack pointers are on the same stack: the same slot of the
/// continuation-stack region, or both outside it (the kernel's stacks).
fn same_stack(a: u64, b: u64) -> bool {
    crate::stacks::slot_of(a) == crate::stacks::slot_of(b)
}

// ---------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------

static BREAKPOINTS: AtomicU64 = AtomicU64::new(0);

/// How many breakpoint exceptions have been handled since boot.
pub fn breakpoint_count() -> u64 {
    BREAKPOINTS.load(Ordering::SeqCst)
}

/// The fatal kind the test harness is told about for `vector`.
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

/// Prints the standard report of an exception.
fn report(vector: u8, frame: &InterruptStackFrame, error_code: Option<u64>, cr2: Option<u64>) {
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
    if redirect_to_probe(frame, info) {
        return;
    }
    trap_guest_fault(vector, frame, cr2, interrupted_rbp);
    report(vector, frame, error_code, cr2);
    fatal(fatal_kind(vector))
}

/// Turns a fault in guest code into a trap and never returns, if the fault
/// is one: the faulting code ran on a continuation stack, whose slot names
/// the store that owns it, and that store has a chain running. Otherwise
/// returns, and the caller reports a kernel bug.
///
/// The trap leaves this handler by switching straight to the kernel-level
/// `resume` through the chain's control context (`cont::trap_current`), not
/// by `iretq`: the faulting stack is dead, and the handler's own frame (on
/// an IST stack or the dead continuation stack) is simply abandoned. No
/// exception here needs an `iretq` to re-arm anything (only NMI does).
fn trap_guest_fault(vector: u8, frame: &InterruptStackFrame, cr2: Option<u64>, rbp: u64) {
    let Some(store) = guest_store(frame.stack_pointer.as_u64()) else {
        return;
    };
    let (kind, message) = match (vector, cr2) {
        (vector::DIVIDE_ERROR, _) => (TrapKind::DivideByZero, "integer division by zero"),
        (vector::INVALID_OPCODE, _) => (TrapKind::InvalidOpcode, "invalid opcode"),
        (vector::GENERAL_PROTECTION, _) => {
            (TrapKind::GeneralProtection, "general-protection fault")
        }
        (vector::PAGE_FAULT, Some(addr)) if crate::stacks::in_guard(addr) => (
            TrapKind::StackOverflow { addr },
            "stack overflow: the guard page below a continuation stack was touched",
        ),
        (vector::PAGE_FAULT, Some(addr)) => (TrapKind::PageFault { addr }, "page fault"),
        (vector, _) => (TrapKind::CpuException { vector }, exception_name(vector)),
    };
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
fn guest_store(rsp: u64) -> Option<*const crate::cont::Store> {
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
    unsafe { (*store).in_continuation() }.then_some(store)
}

/// Turns a panic in guest code into a trap of its chain and never returns,
/// if the panic is one: the code that panicked runs on a continuation stack
/// whose store has a chain running (see [`guest_store`]). Otherwise returns,
/// and the panic handler reports a kernel panic and ends the boot.
///
/// The trap is [`TrapKind::Panic`]; its text is the panic's message and
/// location, formatted into the trap itself (no heap: the panicking code
/// may hold the heap's lock). The walk starts at the panic handler's
/// caller, so the backtrace shows the panic machinery, then the guest.
pub fn trap_guest_panic(info: &core::panic::PanicInfo) {
    use core::fmt::Write;
    let rbp = crate::cont::switch::frame_pointer();
    let Some(store) = guest_store(current_rsp()) else {
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
    let trap = Trap::new(TrapKind::Panic, "guest panicked").with_text(text);
    // SAFETY: `store` owns the stack this code runs on and has a chain
    // running; the panicking frames are abandoned by the switch.
    unsafe { crate::cont::trap_current(store, trap, None, rbp) }
}

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
    report(vector, frame, error_code, None);
    fatal(fatal_kind(vector))
}

macro_rules! recoverable {
    ($name:ident, $vector:expr) => {
        extern "x86-interrupt" fn $name(mut frame: InterruptStackFrame) {
            let rbp = interrupted_rbp!();
            fault($vector, &mut frame, None, None, rbp);
        }
    };
    ($name:ident, $vector:expr, error_code) => {
        extern "x86-interrupt" fn $name(mut frame: InterruptStackFrame, code: u64) {
            let rbp = interrupted_rbp!();
            fault($vector, &mut frame, Some(code), None, rbp);
        }
    };
}

macro_rules! always_fatal {
    ($name:ident, $vector:expr) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame) {
            fatal_exception($vector, &frame, None)
        }
    };
    ($name:ident, $vector:expr, error_code) => {
        extern "x86-interrupt" fn $name(frame: InterruptStackFrame, code: u64) {
            fatal_exception($vector, &frame, Some(code))
        }
    };
}

recoverable!(divide_error, 0);
always_fatal!(debug, 1);
always_fatal!(non_maskable_interrupt, 2);
recoverable!(overflow, 4);
recoverable!(bound_range_exceeded, 5);
recoverable!(invalid_opcode, 6);
recoverable!(device_not_available, 7);
always_fatal!(invalid_tss, 10, error_code);
recoverable!(segment_not_present, 11, error_code);
recoverable!(stack_segment_fault, 12, error_code);
recoverable!(general_protection, 13, error_code);
recoverable!(x87_floating_point, 16);
recoverable!(alignment_check, 17, error_code);
recoverable!(simd_floating_point, 19);
always_fatal!(virtualization, 20);
always_fatal!(control_protection, 21, error_code);
always_fatal!(hv_injection, 28);
always_fatal!(vmm_communication, 29, error_code);
always_fatal!(security, 30, error_code);

extern "x86-interrupt" fn breakpoint(frame: InterruptStackFrame) {
    let count = BREAKPOINTS.fetch_add(1, Ordering::SeqCst) + 1;
    crate::println!(
        "breakpoint #{count} at {:#x}, continuing",
        frame.instruction_pointer.as_u64() - 1
    );
}

extern "x86-interrupt" fn double_fault(frame: InterruptStackFrame, code: u64) -> ! {
    let rsp = current_rsp();
    report(vector::DOUBLE_FAULT, &frame, Some(code), None);
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
    fatal_exception(18, &frame, None)
}

extern "x86-interrupt" fn page_fault(mut frame: InterruptStackFrame, code: PageFaultErrorCode) {
    let rbp = interrupted_rbp!();
    let cr2 = Cr2::read_raw();
    if let Some(stack) = crate::paging::kernel_stack()
        && stack.guard_contains(cr2)
    {
        // SAFETY: the boot ends below; the overflowing code never resumes.
        unsafe { crate::serial::force_unlock() };
        crate::println!(
            "KERNEL STACK OVERFLOW: CR2 is in the guard page {:#x}..{:#x} below the kernel \
             stack {:#x}..{:#x}",
            stack.guard_start,
            stack.bottom,
            stack.bottom,
            stack.top
        );
        report(vector::PAGE_FAULT, &frame, Some(code.bits()), Some(cr2));
        fatal(Fatal::KernelStackOverflow)
    }
    // Continuation stacks are mapped on first touch: a not-present fault
    // in the stack part of a slot in use maps a zeroed page, and the
    // faulting instruction runs again when this handler returns.
    if !code.contains(PageFaultErrorCode::PROTECTION_VIOLATION) {
        match crate::stacks::on_page_fault(cr2) {
            crate::stacks::Demand::Mapped => return,
            crate::stacks::Demand::Busy => {
                // A demand fault while the pool, frame or page-table lock
                // was held: the rule "touch the stack before taking a lock"
                // (stacks.rs) was broken. Waiting would hang; a trap would
                // need the same locks to free the chain. Report and stop.
                report(vector::PAGE_FAULT, &frame, Some(code.bits()), Some(cr2));
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
pub fn init() {
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
