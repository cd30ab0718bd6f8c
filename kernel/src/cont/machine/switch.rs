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
//! Every switch site has two landings (see [`EFFECT_LANDING_BEFORE`]): the
//! resume point the context holds, which stands for the one effect that
//! site expects most and reads no register, and an effect landing just
//! before it, which receives any other effect in RDI. `asm goto` (the
//! `label` operand) lets the compiler place the code after the switch
//! once for each, so on the common way back no effect is built, sent or
//! tested.
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
    /// A tick found the `resume_for` budget spent: the preempted
    /// continuation is suspended to that resume.
    pub const PREEMPT: ControlEffect = ControlEffect::new(Self::PREEMPT_TAG, 0);

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
    // A return or a trap is never what a plain landing stands for: the
    // effect landing, EFFECT_LANDING_BEFORE bytes before the parent's RIP.
    "    sub rax, {before}",
    "    jmp rax",
    ".size cont_start_trampoline, . - cont_start_trampoline",
    entry = sym super::entry::enter_guest,
    rsp_below = const stack::TRAMPOLINE_RSP_BELOW_RBP,
    rip_above = const stack::TRAMPOLINE_RIP_ABOVE_RBP,
    before = const EFFECT_LANDING_BEFORE,
);

unsafe extern "C" {
    /// The start trampoline above; never called, only switched to.
    fn cont_start_trampoline();
}

/// The address written into the RIP slot of a fresh stack.
pub fn start_trampoline_address() -> usize {
    cont_start_trampoline as *const () as usize
}

/// How many bytes before a switch site's resume point (the RIP a context
/// holds) its effect landing is. Every switch site has two landings:
///
/// ```text
///  RIP-11  pop rbx                  the effect landing: the effect in RDI
///          lea r10, [rip + <effect>]
///          jmp r10
///  RIP     pop rbx                  the plain landing: no effect at all
/// ```
///
/// A sender whose message is the one the site expects most jumps to RIP
/// and passes nothing ([`ControlEffect::lands_plain`]: a resume into a
/// suspension point or a fresh stack, a switch to its target, a suspend to
/// handler 0 of the resume just above); every other sender (a return, a
/// trap, a suspend to another handler, a cancellation, a throw) jumps to
/// RIP-11 with its effect in RDI. The plain landing is what the context
/// holds, so the seed's layout keeps its meaning: the suspension's own PC.
pub const EFFECT_LANDING_BEFORE: usize = 11;

impl ControlEffect {
    /// Whether this effect is sent to a switch site's plain landing (see
    /// [`EFFECT_LANDING_BEFORE`]), which reports it without reading RDI:
    /// a resume or a switch into a suspension point (which reports it as
    /// [`ControlEffect::RESUME`]; the two are handled alike there) or into
    /// a fresh stack (the start trampoline, which reads no effect), and a
    /// suspend to handler 0 (which only a resume's switch site receives,
    /// and reports as [`ControlEffect::suspend`]`(0)`).
    #[inline(always)]
    pub const fn lands_plain(self) -> bool {
        self.0 == Self::RESUME.0 || self.0 == Self::SWITCH.0 || self.0 == Self::suspend(0).0
    }
}

/// The two landings of a switch site, the end of every switch's assembly
/// (see [`EFFECT_LANDING_BEFORE`]): the effect landing at label 3, which
/// goes on to the asm's `effect` label with the effect in RDI, and the
/// plain landing at label 2, the resume point the context holds; each pops
/// the RBX the switch pushed. The effect landing ends in a `jmp r10`, as
/// the sender's jump does, so the plain landing is still a `pop rbx` right
/// after a `jmp r10` (what the layout tests of `tests/cont.rs` read); its
/// RIP-relative `lea` has a fixed size, and the assembler checks the
/// distance.
macro_rules! landings {
    () => {
        concat!(
            "3:\n",
            "pop rbx\n",
            "lea r10, [rip + {effect}]\n",
            "jmp r10\n",
            "2:\n",
            "pop rbx\n",
            ".ifne 2b - 3b - {before}\n",
            ".error \"the effect landing is not EFFECT_LANDING_BEFORE bytes before the plain one\"\n",
            ".endif",
        )
    };
}

/// The two landings as an unoptimised build has them: no `asm goto` (its
/// label blocks cost such a build stack space in every function with an
/// inlined suspend, and guests recurse through those), so the plain
/// landing writes [`PLAIN_LANDED`] into RDI, which no effect is, and the
/// effect landing jumps past it. The same bytes at the same distances: the
/// plain landing is the context's RIP and follows a `jmp r10`.
#[cfg(debug_assertions)]
macro_rules! landings_marked {
    () => {
        concat!(
            "3:\n",
            "pop rbx\n",
            "lea r10, [rip + 4f]\n",
            "jmp r10\n",
            "2:\n",
            "pop rbx\n",
            "mov rdi, -1\n",
            "4:\n",
            ".ifne 2b - 3b - {before}\n",
            ".error \"the effect landing is not EFFECT_LANDING_BEFORE bytes before the plain one\"\n",
            ".endif",
        )
    };
}

/// What the plain landing of an unoptimised build leaves in RDI
/// (`landings_marked`): no effect's value (a kind is at most 8).
#[cfg(debug_assertions)]
const PLAIN_LANDED: u64 = u64::MAX;

/// The first part of [`switch`]'s assembly, up to its jump: loads the
/// target's three words from the context in RDX, stores ours there,
/// `$send` (nothing, or the step back to the effect landing), jumps.
macro_rules! exchange_out {
    ([$($send:literal),*]) => {
        concat!(
            // RBX cannot be named as a clobber: keep it on this stack.
            "push rbx\n",
            // Load the target first, from the same three words we then
            // overwrite: RSP ctx+0, RBP ctx+8, RIP ctx+16.
            "mov r8, [rdx + {rsp}]\n",
            "mov r9, [rdx + {rbp}]\n",
            "mov r10, [rdx + {rip}]\n",
            // Our resume point is the plain landing, label 2 below.
            "lea r11, [rip + 2f]\n",
            // Store ours: RSP to ctx+0, RBP to ctx+8, RIP to ctx+16.
            "mov [rdx + {rsp}], rsp\n",
            "mov [rdx + {rbp}], rbp\n",
            "mov [rdx + {rip}], r11\n",
            // Become the target (at its effect landing, if `$send` says so).
            $($send, "\n",)*
            "mov rsp, r8\n",
            "mov rbp, r9\n",
            "jmp r10\n",
        )
    };
}

/// [`switch`]'s assembly, one copy per way of sending: `exchange_out`, then
/// the two landings (see [`EFFECT_LANDING_BEFORE`]). `$rdi` is the RDI
/// operand, naming `$received`: the effect sent and received, or (a plain
/// send, which passes nothing) received only; `$effect` is the block run
/// at the effect landing.
#[cfg(not(debug_assertions))]
macro_rules! exchange {
    ($received:ident, [$($rdi:tt)*], $ctx:expr, [$($send:literal),*], $effect:block) => {
        asm!(
            exchange_out!([$($send),*]),
            landings!(),
            $($rdi)*,
            inout("rdx") $ctx => _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            before = const EFFECT_LANDING_BEFORE,
            effect = label $effect,
            clobber_abi("C"),
        )
    };
}

/// `exchange` of an unoptimised build: the landings of `landings_marked`,
/// and `$effect` run after the asm unless the plain landing's mark is in
/// RDI.
#[cfg(debug_assertions)]
macro_rules! exchange {
    ($received:ident, [$($rdi:tt)*], $ctx:expr, [$($send:literal),*], $effect:block) => {
        asm!(
            exchange_out!([$($send),*]),
            landings_marked!(),
            $($rdi)*,
            inout("rdx") $ctx => _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            before = const EFFECT_LANDING_BEFORE,
            clobber_abi("C"),
        );
        if $received != PLAIN_LANDED $effect
    };
}

/// The switch of `resume` and `suspend`: exchanges the running code with
/// the control context `ctx`. Loads the RSP/RBP/RIP that `ctx` holds, saves
/// the current RSP/RBP and resume address into the same three words, and
/// jumps to what was loaded: to its plain landing when `payload` lands
/// there, else to its effect landing with `payload` in RDI (see
/// [`EFFECT_LANDING_BEFORE`]). When someone switches back here later,
/// runs `then` with the effect they sent: `plain` (a constant) if they
/// came to the plain landing. `then` is inlined at each landing, so the
/// plain one's copy is compiled with its effect known and its tests fold
/// away; code that only tests the effect may use [`switch`] instead.
///
/// # Safety
/// `ctx` must hold a live context (a suspension point of a switch, the
/// start trampoline of an initialized stack, or a resume point) and stay
/// valid until someone loads what is saved there; a `payload` that lands
/// plain is one that context's plain landing stands for. Whoever resumes
/// the saved context must have done the runtime's bookkeeping first, and
/// come to the plain landing only with what `plain` says.
#[inline(always)]
pub unsafe fn switch_then<T>(
    payload: ControlEffect,
    ctx: *mut ControlContext,
    plain: ControlEffect,
    then: impl FnOnce(ControlEffect) -> T,
) -> T {
    let received: u64;
    // SAFETY: the caller guarantees the context is valid (see above).
    // Every register except RSP/RBP is declared clobbered or is an operand
    // (RBX, which Rust reserves, is pushed and popped around the switch),
    // and RSP/RBP are the same when control comes back to either landing
    // as when it left, because whoever jumps there loads the context
    // stored here.
    // Both ways of sending share one effect landing's `then` (one copy,
    // not one per asm block: an unoptimised build keeps every copy's
    // locals in the frame, and guests recurse through inlined suspends).
    let effect = 'effect: {
        // SAFETY: see above.
        unsafe {
            if payload.lands_plain() {
                exchange!(received, [out("rdi") received], ctx, [], {
                    break 'effect ControlEffect(received);
                });
            } else {
                exchange!(
                    received,
                    [inout("rdi") payload.0 => received],
                    ctx,
                    ["sub r10, {before}"],
                    {
                        break 'effect ControlEffect(received);
                    }
                );
            }
        }
        return then(plain);
    };
    then(effect)
}

/// [`switch_then`] that returns the effect: for a caller whose first
/// step after the switch is a test of it, which the compiler folds on the
/// plain landing's path (`suspend`, `switch`).
///
/// # Safety
/// As for [`switch_then`].
#[inline(always)]
pub unsafe fn switch(
    payload: ControlEffect,
    ctx: *mut ControlContext,
    plain: ControlEffect,
) -> ControlEffect {
    if payload.lands_plain() {
        // SAFETY: forwarded contract; `payload` is what the plain landing
        // of `ctx` stands for.
        return unsafe { switch_plain(ctx, plain) };
    }
    let received: u64;
    // SAFETY: as in `switch_then`, whose body this is with `then` the
    // identity, spelled out: no closure, so that an unoptimised build
    // keeps a smaller frame in every function with an inlined suspend.
    unsafe {
        exchange!(
            received,
            [inout("rdi") payload.0 => received],
            ctx,
            ["sub r10, {before}"],
            {
                return ControlEffect(received);
            }
        );
    }
    plain
}

/// [`switch`] of an effect that lands plain (which it therefore does not
/// name): the suspend to handler 0 of the resume just above, whose path
/// then holds one copy of the switch's assembly, not two.
///
/// # Safety
/// As for [`switch_then`], with the effect sent the one `ctx`'s plain
/// landing stands for.
#[inline(always)]
pub unsafe fn switch_plain(ctx: *mut ControlContext, plain: ControlEffect) -> ControlEffect {
    let received: u64;
    // SAFETY: per the contract (see `switch_then`).
    unsafe {
        exchange!(received, [out("rdi") received], ctx, [], {
            return ControlEffect(received);
        });
    }
    plain
}

/// The last switch of a trapped continuation, which leaves its stack for
/// good: loads the context `ctx` and jumps to its effect landing with
/// `payload` in RDI.
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
            // A trap is never what a plain landing stands for.
            "sub r10, {before}",
            "jmp r10",
            in("rdi") payload.0,
            in("rdx") ctx,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            before = const EFFECT_LANDING_BEFORE,
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
/// now on). The target is entered at its plain landing with no effect
/// (a switch lands plain: [`ControlEffect::lands_plain`]). Returns the
/// effect sent by whoever switches back here later, `plain` if they came
/// to the plain landing.
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
    handler: *mut ControlContext,
    target: *mut ControlContext,
    plain: ControlEffect,
) -> ControlEffect {
    let received: u64;
    // SAFETY: the caller guarantees both contexts are valid and distinct.
    // Registers as in `switch`: all but RSP/RBP are clobbered or operands,
    // RBX is pushed and popped, and whoever jumps to either landing loads
    // the context stored into `handler` here.
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
            // Become the target, at its plain landing.
            "mov rsp, r8",
            "mov rbp, r9",
            "jmp r10",
            landings!(),
            out("rdi") received,
            inout("rsi") handler => _,
            inout("rdx") target => _,
            out("r12") _,
            out("r13") _,
            out("r14") _,
            out("r15") _,
            rsp = const stack::CTX_RSP,
            rbp = const stack::CTX_RBP,
            rip = const stack::CTX_RIP,
            before = const EFFECT_LANDING_BEFORE,
            effect = label {
                return ControlEffect(received);
            },
            clobber_abi("C"),
        );
    }
    plain
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
    fn only_a_resume_a_switch_and_a_suspend_to_handler_0_land_plain() {
        let plain = [
            ControlEffect::RESUME,
            ControlEffect::SWITCH,
            ControlEffect::suspend(0),
        ];
        for effect in plain {
            assert!(effect.lands_plain(), "{effect:?}");
        }
        let with_effect = [
            ControlEffect::RETURN,
            ControlEffect::suspend(1),
            ControlEffect::TRAP,
            ControlEffect::new(ControlEffect::RESUME_THROW_TAG, 0),
            ControlEffect::CANCEL,
            ControlEffect::GUEST_FAILED,
            ControlEffect::RETURNED_HOLDING_LOCK,
            ControlEffect::PREEMPT,
        ];
        for effect in with_effect {
            assert!(!effect.lands_plain(), "{effect:?}");
        }
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
