//! Two places where a lab kernel puts its own code in the kernel's path:
//! the end of a tick (who sends the end of interrupt) and the demand
//! pager's decision (map the faulting page of a stack, or call it an
//! overflow). Built only with the feature `lab-hooks`, which only the
//! `labs` package turns on (docs/labs/).
//!
//! Why hooks, and why these two: labs 8 and 9 have a student write a
//! piece of the tick path and of the page-fault path, and a checker can
//! only judge that code if the kernel runs it where its own would run.
//! Each hook is a safe function the lab kernel registers once, and the
//! kernel never trusts what it says further than safety allows: a tick
//! hook is handed the end of interrupt as a value it may send or forget
//! (forgetting it stops the clock, which is the lesson, not a hazard), and
//! the pager acts on a decision only if it is the one its own arithmetic
//! would take (anything else is refused, and the touch traps as an
//! overflow would). Without the feature neither path has an instruction
//! more (`./qemu-run.sh bench`: tick 55).

use crate::apic;
use crate::paging::CONT_STACKS_START;
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
