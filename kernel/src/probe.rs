//! Fault probes: a small exception table, `setjmp`/`longjmp` style, that
//! turns a fault in chosen kernel code into an ordinary `Err` instead of
//! the end of the boot. The test suites use it to provoke faults and look
//! at them.
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

use core::arch::global_asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use x86_64::VirtAddr;
use x86_64::structures::idt::InterruptStackFrame;

use crate::exceptions::FaultInfo;

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
///
/// # Safety
/// A fault jumps out of `f` without running a destructor, and the probe
/// stays armed for as long as `f` runs. So the caller must make sure that:
/// - nothing in `f`'s frames needs its destructor to run if `f` is left
///   at any instruction: no lock guard (a kernel lock would stay taken), no
///   borrow whose end another party waits for, nothing pinned;
/// - `f` does not leave the stack it runs on before it returns: no
///   `suspend` or `switch` out of the continuation the probe runs in, and
///   no panic or trap that abandons it (a guest fault inside a continuation
///   that `f` resumes is that continuation's trap, not the probe's, and is
///   fine). Otherwise the armed probe would catch a later fault of other
///   code and return it onto a stack that has moved on or been freed.
pub unsafe fn probe<F: FnOnce()>(f: F) -> Result<(), FaultInfo> {
    extern "C" fn run<F: FnOnce()>(data: *mut u8) {
        // SAFETY: `data` is the `&mut Option<F>` that `probe` passes below,
        // alive for the whole call.
        let slot = unsafe { &mut *data.cast::<Option<F>>() };
        if let Some(f) = slot.take() {
            f();
        }
    }
    let mut slot = Some(f);
    // The fault path offers faults to the installed catcher: ours.
    crate::fatal::set_fault_catcher(redirect_to_probe);
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

/// The fault catcher `probe` installs: if a probe is armed, records `info`
/// and rewrites `frame` so that `iretq` resumes in the probe's recovery
/// routine. Returns whether it did.
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
    crate::stacks::slot_of(VirtAddr::new(a)) == crate::stacks::slot_of(VirtAddr::new(b))
}
