//! The assembly that moves the CPU between stacks: the start trampoline of
//! a fresh continuation, and the stack switch in its three forms.
//!
//! Everything else in the runtime is ordinary Rust. A switch only needs three
//! registers to change stacks (RSP, RBP, RIP) and one to carry a message
//! (RDI, the [`ControlEffect`]); all other registers are declared clobbered,
//! so the compiler spills exactly the values that are live across the
//! switch, and nothing more. The register save area is the *control
//! context*: three words at `TOS-0x18` of a continuation stack (see the
//! table in [`super::stack`]):
//!
//! ```text
//!  ctx + 0   (TOS-0x18)   RSP
//!  ctx + 8   (TOS-0x10)   RBP
//!  ctx + 16  (TOS-0x08)   RIP
//! ```
//!
//! [`switch`] (resume, suspend) exchanges the running code with one
//! context: it loads the three words, stores the current RSP/RBP/resume
//! RIP in their place and jumps: 11 instructions on the way out (push rbx,
//! 3 loads, lea, 3 stores, 2 moves, jmp) and 1 where control comes back
//! (pop rbx). [`switch_through`] (the `switch` instruction) also moves a
//! handler's resume point into the target's context on the way; [`leave`]
//! (a trap) only loads, since nothing ever comes back to a trapped stack.
//!
//! The start trampoline is where a switch into a *fresh* stack lands; it
//! calls the entry into the guest ([`super::entry`]) and, when that has
//! returned, switches back to the parent with the effect the entry chose
//! (*return*, or *trap* with its reason), reading the
//! parent's registers from the same control context. The trampoline never
//! moves RBP off `TOS-0x10`, so `[RBP]` is the parent's RBP and `[RBP+8]`
//! the parent's RIP: a frame record, which lets a frame-pointer walk step
//! from the continuation's frames straight into its parent's.

use super::stack::{self, ControlContext};
use core::arch::{asm, global_asm};

/// The message a switch carries in RDI: a discriminant in the low 32 bits
/// and a handler index in the high 32 bits (for a suspend; for a
/// resume_throw the tag's id).
///
/// ```text
///  63            32 31             0
///  +---------------+---------------+
///  | handler index | discriminant  |   return 0, resume 1, suspend 2,
///  +---------------+---------------+   switch 3, trap 4, resume_throw 5,
///                                      cancel 6, guest failed 7,
///                                      returned holding a lock 8,
///                                      preempted 9
/// ```
///
/// The discriminant is low so that the code that receives an effect tests
/// it straight in EDI (`test edi, edi`, `cmp edi, 3`), with no shift or
/// 64-bit constant first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
pub struct ControlEffect(pub u64);

impl ControlEffect {
    pub const RETURN_TAG: u32 = 0;
    pub const RESUME_TAG: u32 = 1;
    pub const SUSPEND_TAG: u32 = 2;
    pub const SWITCH_TAG: u32 = 3;
    pub const TRAP_TAG: u32 = 4;
    pub const RESUME_THROW_TAG: u32 = 5;
    /// Not one of Wasmtime's: a drop resumes a suspended continuation with
    /// this effect, and its pending `suspend` or `switch` fails.
    pub const CANCEL_TAG: u32 = 6;
    /// Not Wasmtime's either: sent by the start trampoline when the
    /// continuation's function reported failure (its array call returned
    /// `false`). The runtime may have recorded the trap the guest
    /// returned; if not, the trap is a guest failure.
    pub const GUEST_FAILED_TAG: u32 = 7;
    /// Sent by the start trampoline when the continuation's function
    /// returned holding a kernel lock.
    pub const RETURNED_HOLDING_LOCK_TAG: u32 = 8;
    /// Sent by a preempting tick's suspension (`runtime::preempt`) to the
    /// `resume_for` whose budget it found spent.
    pub const PREEMPT_TAG: u32 = 9;

    /// The continuation's function returned (sent by the trampoline).
    pub const RETURN: ControlEffect = ControlEffect::new(Self::RETURN_TAG, 0);
    /// A `resume` hands control to a continuation.
    pub const RESUME: ControlEffect = ControlEffect::new(Self::RESUME_TAG, 0);
    /// A `switch` hands control to its target.
    pub const SWITCH: ControlEffect = ControlEffect::new(Self::SWITCH_TAG, 0);
    /// The continuation trapped; the `resume` (or `switch`) that ran it
    /// receives this, one parent up. Sent by the runtime, which has
    /// recorded the trap before it leaves the stack.
    pub const TRAP: ControlEffect = ControlEffect::new(Self::TRAP_TAG, 0);
    /// The continuation's function reported failure (sent by the start
    /// trampoline).
    pub const GUEST_FAILED: ControlEffect = ControlEffect::new(Self::GUEST_FAILED_TAG, 0);
    /// The continuation's function returned holding a kernel lock (sent by
    /// the start trampoline).
    pub const RETURNED_HOLDING_LOCK: ControlEffect =
        ControlEffect::new(Self::RETURNED_HOLDING_LOCK_TAG, 0);
    /// The continuation is cancelled: resumed by a drop, its pending
    /// `suspend`/`switch` returns `Err` so its frames return normally.
    pub const CANCEL: ControlEffect = ControlEffect::new(Self::CANCEL_TAG, 0);

    #[inline]
    pub const fn new(discriminant: u32, handler: u32) -> ControlEffect {
        ControlEffect(((handler as u64) << 32) | discriminant as u64)
    }
    /// A `suspend` caught by handler number `handler` of the resume.
    #[inline]
    pub const fn suspend(handler: u32) -> ControlEffect {
        ControlEffect::new(Self::SUSPEND_TAG, handler)
    }
    #[inline]
    pub const fn discriminant(self) -> u32 {
        self.0 as u32
    }
    #[inline]
    pub const fn handler_index(self) -> u32 {
        (self.0 >> 32) as u32
    }
}

// The start trampoline. Entered only by a switch that loaded a fresh
// stack's control context: RSP = TOS-0x40-s, RBP = TOS-0x10.
global_asm!(
    ".text",
    ".balign 16",
    ".globl cont_start_trampoline",
    ".type cont_start_trampoline, @function",
    "cont_start_trampoline:",
    // Launch words, lowest first: [TOS-0x40-s] return_value_count,
    // [TOS-0x38-s] args object, [TOS-0x30-s] caller_vmctx,
    // [TOS-0x28-s] func_ref, into the C argument registers 1..4.
    "    pop rdi",
    "    pop rsi",
    "    pop rdx",
    "    pop rcx",
    // RSP = TOS-0x20-s (16-byte aligned); the return address of this call
    // lands in the old func_ref slot. RBP = TOS-0x10 makes our caller's
    // frame record the control context's RBP/RIP pair.
    "    call {entry}",
    // RBP is callee-saved, so still TOS-0x10. The effect is the entry's
    // result: return, or trap with its reason.
    "    mov rdi, rax",
    // Load the parent: RSP from [TOS-0x18], RIP from [TOS-0x08],
    // RBP from [TOS-0x10] (last, since it is our base register).
    "    mov rsp, [rbp - {rsp_below}]",
    "    mov rax, [rbp + {rip_above}]",
    "    mov rbp, [rbp]",
    "    jmp rax",
    ".size cont_start_trampoline, . - cont_start_trampoline",
    entry = sym super::entry::enter_guest,
    rsp_below = const stack::TRAMPOLINE_RSP_BELOW_RBP,
    rip_above = const stack::TRAMPOLINE_RIP_ABOVE_RBP,
);

unsafe extern "C" {
    /// The start trampoline above; never called, only switched to.
    fn cont_start_trampoline();
}

/// The address written into the RIP slot of a fresh stack.
pub fn start_trampoline_address() -> usize {
    cont_start_trampoline as *const () as usize
}

/// The switch of `resume` and `suspend`: exchanges the running code with
/// the control context `ctx`. Loads the RSP/RBP/RIP that `ctx` holds, saves
/// the current RSP/RBP and resume address into the same three words, and
/// jumps to what was loaded with `payload` in RDI. Returns the effect sent
/// by whoever switches back here later (by loading what was saved).
///
/// # Safety
/// `ctx` must hold a live context (a suspension point of a switch, the
/// start trampoline of an initialized stack, or a resume point) and stay
/// valid until someone loads what is saved there. Whoever resumes the
/// saved context must have done the runtime's bookkeeping first.
#[inline(always)]
pub unsafe fn switch(payload: ControlEffect, ctx: *mut ControlContext) -> ControlEffect {
    let received: u64;
    // SAFETY: the caller guarantees the context is valid (see above).
    // Every register except RSP/RBP is declared clobbered or is an operand
    // (RBX, which Rust reserves, is pushed and popped around the switch),
    // and RSP/RBP are the same when control comes back to label 2 as when
    // it left, because whoever jumps to label 2 loads the context stored here.
    unsafe {
        asm!(
            // RBX cannot be named as a clobber: keep it on this stack.
            "push rbx",
            // Load the target first, from the same three words we then
            // overwrite: RSP ctx+0, RBP ctx+8, RIP ctx+16.
            "mov r8, [rdx + {rsp}]",
            "mov r9, [rdx + {rbp}]",
            "mov r10, [rdx + {rip}]",
            // Our resume point is label 2 below.
            "lea r11, [rip + 2f]",
            // Store ours: RSP to ctx+0, RBP to ctx+8, RIP to ctx+16.
            "mov [rdx + {rsp}], rsp",
            "mov [rdx + {rbp}], rbp",
            "mov [rdx + {rip}], r11",
            // Become the target.
            "mov rsp, r8",
            "mov rbp, r9",
            "jmp r10",
            // Someone loaded our context: RSP/RBP are as stored above.
            "2:",
            "pop rbx",
            inout("rdi") payload.0 => received,
            inout("rdx") ctx => _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            clobber_abi("C"),
        );
    }
    ControlEffect(received)
}

/// The last switch of a trapped continuation, which leaves its stack for
/// good: loads the context `ctx` and jumps there with `payload` in RDI.
/// Nothing is saved, since nothing will ever come back here.
///
/// # Safety
/// `ctx` must hold a live context (a resume point waiting for this
/// effect), and the frames on the current stack must be ones that may be
/// abandoned: whoever resumes at `ctx` takes over.
#[inline(always)]
pub unsafe fn leave(payload: ControlEffect, ctx: *const ControlContext) -> ! {
    // SAFETY: the caller guarantees the context is live; control never
    // comes back, so no register needs keeping.
    unsafe {
        asm!(
            // RIP and RBP first: RDX (ctx) stays readable, whatever RSP is.
            "mov r10, [rdx + {rip}]",
            "mov rbp, [rdx + {rbp}]",
            "mov rsp, [rdx + {rsp}]",
            "jmp r10",
            in("rdi") payload.0,
            in("rdx") ctx,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            options(noreturn),
        );
    }
}

/// `switch`'s own switch, which hands the running segment's place under
/// a handler to another segment in one step: the target's context is
/// loaded (where to go), the handler's resume point moves from `handler`
/// into `target` (so that the target, when it returns or suspends, lands
/// where the handler's resume waits), and our own RSP/RBP/resume address
/// go into `handler` (where our segment's suspension point is kept from
/// now on). Returns the effect sent by whoever switches back here later.
///
/// ```text
///            before                         after
/// handler:   the resume's point  (H)        ours (this switch)
/// target:    the target's point  (T)        H
/// jump to:                                  T
/// ```
///
/// The same as copying `*target` aside, `*target = *handler`, then
/// `switch` from `handler` to the copy, with six memory moves fewer.
///
/// # Safety
/// `handler` and `target` must be two distinct live contexts: `handler`
/// the resume point of a handler's resume, `target` a suspension point
/// (or the start trampoline) of the segment that takes the switching
/// segment's place; the bookkeeping must be done, as for [`switch`].
#[inline(always)]
pub unsafe fn switch_through(
    payload: ControlEffect,
    handler: *mut ControlContext,
    target: *mut ControlContext,
) -> ControlEffect {
    let received: u64;
    // SAFETY: the caller guarantees both contexts are valid and distinct.
    // Registers as in `switch`: all but RSP/RBP are clobbered or operands,
    // RBX is pushed and popped, and whoever jumps to label 2 loads the
    // context stored into `handler` here.
    unsafe {
        asm!(
            "push rbx",
            // Where to go: the target's RSP, RBP, RIP.
            "mov r8, [rdx + {rsp}]",
            "mov r9, [rdx + {rbp}]",
            "mov r10, [rdx + {rip}]",
            // The handler's resume point moves into the target's context.
            "mov rax, [rsi + {rsp}]",
            "mov rcx, [rsi + {rbp}]",
            "mov r12, [rsi + {rip}]",
            "mov [rdx + {rsp}], rax",
            "mov [rdx + {rbp}], rcx",
            "mov [rdx + {rip}], r12",
            // Ours goes into the handler's: RSP, RBP, resume point label 2.
            "lea r11, [rip + 2f]",
            "mov [rsi + {rsp}], rsp",
            "mov [rsi + {rbp}], rbp",
            "mov [rsi + {rip}], r11",
            // Become the target.
            "mov rsp, r8",
            "mov rbp, r9",
            "jmp r10",
            "2:",
            "pop rbx",
            inout("rdi") payload.0 => received,
            inout("rsi") handler => _,
            inout("rdx") target => _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            clobber_abi("C"),
        );
    }
    ControlEffect(received)
}

/// The current stack pointer (RSP): which stack the caller runs on.
#[inline(always)]
pub fn stack_pointer() -> usize {
    let rsp: usize;
    // SAFETY: reads a register; touches no memory.
    unsafe { asm!("mov {}, rsp", out(reg) rsp, options(nomem, nostack, preserves_flags)) };
    rsp
}

/// The current frame pointer (RBP): where a frame-pointer walk starts.
#[inline(always)]
pub fn frame_pointer() -> usize {
    let rbp: usize;
    // SAFETY: reads a register; touches no memory.
    unsafe { asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack, preserves_flags)) };
    rbp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assembly_offsets_are_the_layout_tables() {
        assert_eq!((stack::CTX_RSP, stack::CTX_RBP, stack::CTX_RIP), (0, 8, 16));
        assert_eq!(
            (
                stack::TRAMPOLINE_RSP_BELOW_RBP,
                stack::TRAMPOLINE_RIP_ABOVE_RBP
            ),
            (8, 8)
        );
    }

    #[test]
    fn control_effect_packs_discriminant_low_and_handler_high() {
        assert_eq!(ControlEffect::RETURN.0, 0);
        assert_eq!(ControlEffect::RESUME.0, 1);
        assert_eq!(ControlEffect::suspend(7).0, 0x7_0000_0002);
        assert_eq!(ControlEffect::SWITCH.0, 3);
        assert_eq!(ControlEffect::TRAP.0, 4);
        assert_eq!(ControlEffect::GUEST_FAILED.0, 7);
        assert_eq!(ControlEffect::RETURNED_HOLDING_LOCK.0, 8);
        assert_eq!(
            ControlEffect::suspend(7).discriminant(),
            ControlEffect::SUSPEND_TAG
        );
        assert_eq!(ControlEffect::suspend(7).handler_index(), 7);
    }
}
