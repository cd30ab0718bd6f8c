//! Three places where a lab kernel puts its own code in the kernel's
//! path: the end of a tick (who sends the end of interrupt), the demand
//! pager's decision (map the faulting page of a stack, or call it an
//! overflow), and the preemption stub a preempting tick's `iretq` enters.
//! Built only with the feature `lab-hooks`, which only the `labs` package
//! turns on (docs/labs/).
//!
//! Why hooks, and why these: labs 8, 9 and 10 have a student write a
//! piece of the tick path, of the page-fault path and of preemption, and
//! a checker can only judge that code if the kernel runs it where its own
//! would run. The first two are safe functions the lab kernel registers
//! once, and the kernel never trusts what they say further than safety
//! allows: a tick hook is handed the end of interrupt as a value it may
//! send or forget (forgetting it stops the clock, which is the lesson, not
//! a hazard), and the pager acts on a decision only if it is the one its
//! own arithmetic would take (anything else is refused, and the touch
//! traps as an overflow would). The third is assembly, so registering it
//! is `unsafe` ([`set_preempt_stub`]): the kernel can check what a stub
//! builds before it suspends ([`preempted`] walks its frame record and
//! notes the first fault, [`stub_fault`]), but not what it restores.
//! Without the feature none of these paths has an instruction more
//! (`./qemu-run.sh bench`: tick 55, preemption 391).

use crate::apic;
use crate::cont::preempt::SAVED_FRAME;
use crate::paging::CONT_STACKS_START;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use spin::Once;
use x86_64::VirtAddr;
use x86_64::structures::paging::{PageSize, Size4KiB};

/// The obligation of a tick's handler to tell the local APIC that the
/// tick is handled. Made only by the kernel's tick, handed to the tick
/// hook. Until it is sent, the APIC keeps the tick "in service" and
/// delivers no other tick: a hook that drops it without [`Eoi::send`]
/// has taken the last tick this boot will see.
#[derive(Debug)]
pub struct Eoi {
    _private: (),
}

impl Eoi {
    /// The obligation of the tick in service (made by `timer::tick` only).
    pub(crate) fn new() -> Eoi {
        Eoi { _private: () }
    }

    /// Writes the APIC's end-of-interrupt register.
    pub fn send(self) {
        apic::eoi();
    }
}

static TICK_HOOK: Once<fn(Eoi)> = Once::new();

/// Makes every tick call `hook` after the kernel's own work (counting,
/// the epoch, preemption), in place of the kernel's end of interrupt,
/// which `hook` is handed. Runs on the tick's own stack with interrupts
/// off. Once per boot: a second call is an `Err`.
pub fn set_tick_hook(hook: fn(Eoi)) -> Result<(), AlreadySet> {
    set_once(&TICK_HOOK, hook)
}

/// The tick hook, if a lab set one (read by `timer::tick`).
#[inline]
pub(crate) fn tick_hook() -> Option<fn(Eoi)> {
    TICK_HOOK.get().copied()
}

/// A hook was already set this boot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AlreadySet;

fn set_once<T: Copy>(once: &Once<T>, value: T) -> Result<(), AlreadySet> {
    let mut first = false;
    once.call_once(|| {
        first = true;
        value
    });
    if first { Ok(()) } else { Err(AlreadySet) }
}

/// What the pager hook is told about a not-present fault in the
/// continuation-stack region: the address, and the region's geometry,
/// from which the hook works out the rest (which slot, its guard, the
/// page).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fault {
    /// The faulting address (CR2).
    pub addr: usize,
    /// Where slot 0 starts: slot `i` is `region_start + i * slot_size`.
    pub region_start: usize,
    /// Bytes from one slot's start to the next: its guard, then its stack.
    pub slot_size: usize,
    /// Bytes of guard at the bottom of each slot, never to be mapped.
    pub guard_size: usize,
    /// The page size (4 KiB): what one mapping covers.
    pub page_size: usize,
}

/// The pager hook's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Map a zeroed page starting at `page` and run the instruction again.
    Map { page: usize },
    /// Map nothing: the touch is a stack overflow (or a stray pointer),
    /// and traps.
    Overflow,
}

static PAGER_HOOK: Once<fn(&Fault) -> Decision> = Once::new();

/// Makes every not-present fault in a continuation stack's slot ask
/// `hook` whether to map a page. Runs in the page-fault handler, on the
/// faulting stack, with interrupts off: it must not allocate, lock or
/// fault. Once per boot: a second call is an `Err`.
pub fn set_pager_hook(hook: fn(&Fault) -> Decision) -> Result<(), AlreadySet> {
    set_once(&PAGER_HOOK, hook)
}

/// Asks the pager hook about a fault at `addr` in the region (read by
/// `stacks::on_page_fault`): `None` without a hook, else whether to go on
/// and map the page that holds `addr`. The kernel maps only what its own
/// arithmetic would (the page holding `addr`, outside the guard), so a
/// wrong answer is refused, never acted on.
pub(crate) fn pager_maps(addr: VirtAddr, slot_size: usize, guard_size: usize) -> Option<bool> {
    let hook = PAGER_HOOK.get()?;
    let page_size = Size4KiB::SIZE as usize;
    let fault = Fault {
        addr: addr.as_u64() as usize,
        region_start: CONT_STACKS_START.as_u64() as usize,
        slot_size,
        guard_size,
        page_size,
    };
    match hook(&fault) {
        Decision::Map { page } => {
            let right = fault.addr & !(page_size - 1);
            Some(page == right && !crate::stacks::in_guard(addr))
        }
        Decision::Overflow => Some(false),
    }
}

/// The five words a preempting tick found on its frame, RIP, CS, RFLAGS,
/// RSP, SS (RIP at +0, SS at +32), for a lab's stub to rebuild its
/// `iretq` frame from: written by the tick before its `iretq` enters the
/// stub, with interrupts off, so one frame at a time (the kernel's own
/// stub reads its private copy).
pub static INTERRUPTED_FRAME: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

static PREEMPT_STUB: Once<usize> = Once::new();

/// Makes every preempting tick's `iretq` enter `stub` in place of the
/// kernel's `cont_preempt_stub` (`docs/interrupts.md`, "Preemption"):
/// on the interrupted stack, RSP the interrupted RSP rounded down to a
/// multiple of 16, interrupts off, the interrupted frame in
/// [`INTERRUPTED_FRAME`]. The stub saves what the interrupted code owns,
/// calls [`preempted`] (which suspends the continuation to its
/// `resume_for` and returns when it is resumed, interrupts still off),
/// restores it all and `iretq`s to the interrupted instruction. Once per
/// boot: a second call is an `Err`.
///
/// # Safety
/// `stub` does exactly that: it writes only below the RSP it is entered
/// with, calls [`preempted`] once, from that entry, and leaves through an
/// `iretq` of the interrupted frame with every general-purpose register as
/// the interrupted code left it. (The kernel checks the stack alignment
/// and the frame record at the call, [`stub_fault`]; what the stub
/// restores, nothing but the interrupted code can tell.)
pub unsafe fn set_preempt_stub(stub: unsafe extern "C" fn()) -> Result<(), AlreadySet> {
    set_once(&PREEMPT_STUB, stub as *const () as usize)
}

/// With a lab's stub set, points the rewritten frame of a preempting tick
/// (`timer::preempt_at_iretq`, after `cont::preempt::redirect`) at it,
/// and hands the stub the interrupted frame.
#[inline]
pub(crate) fn redirect(frame: &mut [u64; 5]) {
    let Some(&stub) = PREEMPT_STUB.get() else {
        return;
    };
    for (to, from) in INTERRUPTED_FRAME.iter().zip(SAVED_FRAME.iter()) {
        to.store(from.load(Relaxed), Relaxed);
    }
    frame[0] = stub as u64;
}

unsafe extern "C" {
    /// What a lab's preemption stub calls once it has saved the
    /// interrupted state: the kernel's part of a preemption. It checks
    /// what the stub built (RSP a multiple of 16 at the `call`; RBP at a
    /// frame record whose return address is the interrupted instruction,
    /// from which the kernel's backtrace walk leaves the continuation's
    /// stack through its top record; the first fault is kept,
    /// [`stub_fault`]), then suspends the continuation with the preempt
    /// effect to the `resume_for` that armed the budget, and returns when
    /// it is resumed, with interrupts off. Clobbers what a C function
    /// may; keeps RBX, RBP, R12 to R15 and RSP. Called anywhere else (not
    /// from a stub a preempting tick entered), it notes
    /// [`StubFault::NotPreempting`] and returns at once.
    #[link_name = "lab_hooks_preempted"]
    pub fn preempted();
}

/// What the kernel found wrong in a lab's preemption stub, at its call
/// of [`preempted`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StubFault {
    /// RSP was not a multiple of 16 at the `call`: `rsp` is what the
    /// kernel found at its first instruction (a multiple of 16, plus 8,
    /// after a well aligned call).
    Misaligned { rsp: usize },
    /// RBP does not point at a frame record naming the interrupted
    /// instruction: the first return address the walk from `rbp` found is
    /// `found` (0: RBP is not on the continuation's stack), not `rip`.
    FrameRecord {
        rbp: usize,
        found: usize,
        rip: usize,
    },
    /// The walk from `rbp` stopped after `frames` frames without leaving
    /// the continuation's stack through its top record (`TOS-0x10`).
    WalkStops { rbp: usize, frames: usize },
    /// Called with interrupts on, or where no preemption is under way.
    NotPreempting { rsp: usize },
}

/// Calls of [`preempted`] since boot.
pub fn stub_calls() -> u64 {
    crate::cont::runtime::lab_preempt::calls()
}

/// The first fault the kernel found at a call of [`preempted`] this boot.
pub fn stub_fault() -> Option<StubFault> {
    crate::cont::runtime::lab_preempt::fault()
}
