//! The clock: the local APIC's timer, calibrated against the old PIT,
//! raising a *tick* at a fixed period once [`Timer::start`] is called.
//! A tick counts, moves the epoch on, is deferred while a kernel lock is
//! held, and preempts a guest whose `resume_for` budget it finds spent
//! (`cont/runtime/preempt.rs`).
//!
//! ## The hardware
//!
//! Each CPU's local APIC (`apic.rs`) has a 32-bit down-counter. Writing the
//! *initial count* register loads it; it then counts down once every
//! `divide` bus clocks, and when it reaches zero the APIC raises the
//! interrupt its *LVT timer* entry describes. In periodic mode it reloads
//! the initial count and goes on:
//!
//! ```text
//!  LVT timer (APIC offset 0x320)
//!   31      19 18 17 16  15    12 11    8 7           0
//!  +----------+-----+---+--------+-------+-------------+
//!  | reserved |mode | M |reserved| (dlv) |   vector    |   M = 1: masked
//!  +----------+-----+---+--------+-------+-------------+
//!              00 one-shot, 01 periodic, 10 TSC deadline
//!
//!  divide config (0x3e0): 0b0011 = bus clock / 16 (this kernel's choice)
//!
//!  bus clock --> [ / 16 ] --> current count (0x390): N, N-1, ..., 1, 0
//!                                  ^ reloaded from initial count (0x380)
//!                                  |   in periodic mode
//!                                  +-- at 0: interrupt TIMER_VECTOR
//! ```
//!
//! The bus clock's frequency is not architectural (QEMU's is 1 GHz, real
//! CPUs 25-200 MHz), so the kernel measures it: [`Timer::new`] runs the
//! 8254 PIT's channel 2, whose input is 1.193182 MHz on every PC, for
//! `CALIBRATION_PIT_COUNTS` periods (2 ms) in one-shot mode 0, and reads
//! how far the APIC counter and the time-stamp counter moved meanwhile;
//! then twice as long, and the difference counts, so the fixed cost of
//! starting and stopping a window cancels (`calibrate`).
//! A division by 16 gives a range up to a minute at QEMU's clock, with a
//! resolution of 16 ns.
//!
//! **What calibration means under `-icount shift=0`** (`./qemu-run.sh
//! bench`): QEMU's virtual clock then advances 1 ns per guest instruction,
//! and the PIT, the APIC timer and the TSC all run on it. So the
//! measurement yields "APIC counts per 10^9 instructions" and a TSC of 1
//! GHz: a period of 100 µs is a tick every 100 000 guest instructions,
//! exactly, run after run. Under plain TCG the same clocks follow the
//! host's real time, and the period is real time, give or take the
//! host's scheduling.
//!
//! ## What a tick does
//!
//! The gate [`TIMER_VECTOR`] (0x30, above the exceptions and above the
//! 8259s' remapped 0x20..0x30) is an interrupt gate, so the CPU clears IF
//! on entry: ticks never nest. The handler counts the tick (per CPU),
//! moves the global epoch on (which the Wasm interpreter will poll, as
//! Wasmtime's epoch interruption does), asks `sync` whether a lock is held
//! or a `no_preempt` section is open (then the tick is *deferred*: recorded
//! in the preempt-pending word, and seen where the count is back at zero),
//! counts the tick against a `resume_for` budget and, if the budget is
//! spent and the guest may be preempted here, rewrites its own frame so
//! that `iretq` enters the preemption stub (`cont/runtime/preempt.rs`),
//! writes EOI and returns with `iretq`.
//!
//! ## Where the frame goes, and why a tick is safe anywhere
//!
//! The gate names its own IST stack (`gdt::TIMER_IST`). Without one, the
//! CPU would push the 5-word interrupt frame (SS, RSP, RFLAGS, CS, RIP; no
//! error code) on whatever stack was running, which is usually a guest's:
//!
//! * **a page of a continuation stack not yet mapped** (they are demand
//!   paged): pushing the frame would page-fault *during delivery*. The
//!   page-fault handler would map the page and return to the interrupted
//!   instruction, but the tick is gone: the CPU had already acknowledged
//!   it, so its ISR bit stays set with no EOI ever written, and no later
//!   tick is delivered. The clock would stop for good.
//! * **the guard page** below a nearly full stack: the same, and the
//!   guest's overflow would be reported in the kernel's place.
//! * **the middle of a switch** (`cont/switch.rs`): RSP may already be the
//!   target's while RBP is still the source's; any stack is valid there,
//!   but the frame would land on a stack the runtime considers parked.
//!
//! On its own stack the handler touches none of these: the frame and its
//! saved registers (the `x86-interrupt` convention saves every register it
//! uses; the kernel has no SSE state) are on the IST stack, the
//! interrupted stack is not written at all, and `iretq` restores RSP,
//! RFLAGS and RIP exactly. Only one tick can be on that stack at a time
//! (IF is off until `iretq`, and the APIC holds the next tick until EOI).
//! A tick while a kernel lock is held cannot land at all: the lock turned
//! interrupts off (`sync`, xv6's `push_off`), and the tick lands at the
//! release, is deferred, and is seen once the lock no longer counts.
//!
//! ## The API, and who may call it
//!
//! Enabling interrupts is a machine-level power, so a [`Timer`] is made
//! from the boot's [`Machine`] (`machine.rs`). Everything it does is sound
//! for any caller in any order: starting twice or stopping a stopped timer
//! is an `Err`, a period outside what the hardware can count is refused,
//! and a guest handed a `Timer` can start and stop it like the kernel. The
//! counters ([`ticks`], [`epoch`], ...) are reads, free for anyone.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};
use core::time::Duration;

use spin::Once;
use x86_64::instructions::interrupts;
use x86_64::instructions::port::Port;
use x86_64::structures::idt::{InterruptDescriptorTable, InterruptStackFrame};

use crate::Machine;
use crate::apic;
use crate::cont::runtime::preempt;
use crate::cpu_local::cpu_local;
use crate::gdt;
use crate::paging::{CONT_STACKS_SIZE, CONT_STACKS_START};
use x86_64::VirtAddr;
use x86_64::registers::rflags::RFlags;

/// The vector of a tick.
pub const TIMER_VECTOR: u8 = 0x30;
/// The shortest period [`Timer::start`] accepts: 10 µs (10 000 instructions
/// under `-icount shift=0`), far more than a tick's own cost, so code
/// between ticks always makes progress.
pub const MIN_PERIOD: Duration = Duration::from_micros(10);
/// The divide-configuration encoding of "bus clock / 16".
const DIVIDE_BY_16: u32 = 0b0011;
/// The PIT's input clock, Hz.
const PIT_HZ: u64 = 1_193_182;
/// PIT periods in calibration's shorter window: 2 ms (the longer is 4).
const CALIBRATION_PIT_COUNTS: u16 = 2386;

/// What [`Timer::new`] measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Calibration {
    /// Counts per second of the APIC timer, after its divide by 16.
    pub apic_timer_hz: u64,
    /// Time-stamp-counter increments per second (under `-icount shift=0`,
    /// 10^9: one per instruction).
    pub tsc_hz: u64,
}

impl Calibration {
    /// TSC increments in `period`; `u64::MAX` for a period longer than
    /// the counter can count (it once wrapped: `Duration::MAX` gave a
    /// deadline in the past).
    pub fn tsc_per(&self, period: Duration) -> u64 {
        let increments = period.as_nanos() * self.tsc_hz as u128 / 1_000_000_000;
        u64::try_from(increments).unwrap_or(u64::MAX)
    }
}

/// Why a [`Timer`] call did nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// `start` while the timer runs: `stop` it first.
    AlreadyRunning,
    /// `stop` while the timer is stopped.
    NotRunning,
    /// The period is below [`MIN_PERIOD`].
    PeriodTooShort,
    /// The period does not fit the APIC's 32-bit counter.
    PeriodTooLong,
}

/// The capability to start and stop the clock (see the module docs). Made
/// from the boot's [`Machine`]; every `Timer` drives the same hardware.
#[derive(Debug)]
pub struct Timer {
    _private: (),
}

static CALIBRATION: Once<Calibration> = Once::new();
/// The programmed initial count; 0 while stopped. Changed only with
/// interrupts off.
static INITIAL_COUNT: AtomicU64 = AtomicU64::new(0);
/// The period asked for, in ns (0 while stopped).
static PERIOD_NS: AtomicU64 = AtomicU64::new(0);
/// Ticks since boot, on every CPU: the epoch. Global, not per CPU, as the
/// epoch a Wasm instance compares its deadline with must be.
static EPOCH: AtomicU64 = AtomicU64::new(0);
/// Interrupts at the 8259s' vectors or the APIC's spurious vector.
static STRAY: AtomicU64 = AtomicU64::new(0);

cpu_local! {
    /// Ticks taken on this CPU. Written only by the tick.
    static TICKS: AtomicU64 = AtomicU64::new(0);
    /// Of those, ticks that interrupted code running on a continuation
    /// stack. Written only by the tick.
    static TICKS_ON_CONT_STACKS: AtomicU64 = AtomicU64::new(0);
}

impl Timer {
    /// The clock's capability. The first call sets up the local APIC, masks
    /// the 8259s and calibrates (2 ms of PIT time, with interrupts off);
    /// later calls return at once.
    ///
    /// The measuring is done outside the `Once` that keeps its result: a
    /// guest given the `Machine` may call this with its stack nearly full,
    /// and an overflow there abandons the call's frames (a trap, no
    /// unwinding). Inside `call_once` that left the `Once` "running" for
    /// ever, and the next `Timer::new` spun on it. Abandoned outside, the
    /// measurement is simply made again by the next call (`apic::init`
    /// and `calibrate` may be repeated: no timer runs before the first
    /// `Timer` exists).
    pub fn new(_machine: &Machine) -> Timer {
        if CALIBRATION.get().is_none() {
            crate::sync::push_off();
            apic::init();
            let measured = calibrate();
            crate::sync::pop_off();
            let mut first = false;
            CALIBRATION.call_once(|| {
                first = true;
                measured
            });
            if first {
                crate::println!(
                    "timer: local APIC timer at {} Hz (bus clock / 16), TSC at {} Hz, \
                     measured against the PIT; tick vector {TIMER_VECTOR:#x}",
                    measured.apic_timer_hz,
                    measured.tsc_hz
                );
            }
        }
        Timer { _private: () }
    }

    /// What calibration measured.
    pub fn calibration(&self) -> Calibration {
        *CALIBRATION.get().expect("Timer::new calibrated")
    }

    /// Starts ticking every `period` and turns interrupts on (at once, or,
    /// if the caller holds kernel locks, when the last is released).
    pub fn start(&self, period: Duration) -> Result<(), TimerError> {
        if period < MIN_PERIOD {
            return Err(TimerError::PeriodTooShort);
        }
        self.start_checked(period)
    }

    /// `start` past the check of [`MIN_PERIOD`].
    fn start_checked(&self, period: Duration) -> Result<(), TimerError> {
        let initial = self.counts(period)?;
        crate::sync::push_off();
        let result = if INITIAL_COUNT.load(Relaxed) != 0 {
            Err(TimerError::AlreadyRunning)
        } else {
            INITIAL_COUNT.store(initial as u64, Relaxed);
            PERIOD_NS.store(period.as_nanos() as u64, Relaxed);
            apic::timer_program(
                TIMER_VECTOR as u32 | apic::LVT_TIMER_PERIODIC,
                DIVIDE_BY_16,
                initial,
            );
            crate::sync::restore_interrupts_as(true);
            preempt::set_ticking(true);
            Ok(())
        };
        crate::sync::pop_off();
        result
    }

    /// Stops the ticks and turns interrupts off (at once, or, inside kernel
    /// locks, at the last release). A tick already requested when the
    /// timer is masked is let in before this returns (unless the caller
    /// holds a lock: then it lands at the next `start`), so none arrives
    /// after.
    pub fn stop(&self) -> Result<(), TimerError> {
        crate::sync::push_off();
        let result = if INITIAL_COUNT.load(Relaxed) == 0 {
            Err(TimerError::NotRunning)
        } else {
            apic::timer_program(apic::LVT_MASKED, DIVIDE_BY_16, 0);
            INITIAL_COUNT.store(0, Relaxed);
            PERIOD_NS.store(0, Relaxed);
            if crate::sync::only_own_push_off() && apic::requested(TIMER_VECTOR) {
                // SAFETY: `sti; nop; cli` opens a one-instruction window in
                // which the requested tick is delivered; the caller holds
                // no lock (checked), so interrupts may be on here.
                unsafe { core::arch::asm!("sti", "nop", "cli", options(nostack)) };
            }
            crate::sync::restore_interrupts_as(false);
            preempt::set_ticking(false);
            Ok(())
        };
        crate::sync::pop_off();
        result
    }

    /// The APIC timer's initial count for `period`.
    fn counts(&self, period: Duration) -> Result<u32, TimerError> {
        let counts = period.as_nanos() * self.calibration().apic_timer_hz as u128 / 1_000_000_000;
        let initial = u32::try_from(counts).map_err(|_| TimerError::PeriodTooLong)?;
        if initial == 0 {
            return Err(TimerError::PeriodTooShort);
        }
        Ok(initial)
    }

    /// Stress build: starts ticking at `period`, which may be below
    /// [`MIN_PERIOD`] (`stress.rs` keeps it above a preemption's cost).
    #[cfg(feature = "stress")]
    pub(crate) fn start_stress(&self, period: Duration) -> Result<(), TimerError> {
        self.start_checked(period)
    }

    /// Stress build: the next tick comes `period` after this one (called
    /// by the tick, interrupts off): the count restarts from the new
    /// value, and the timer stays periodic.
    #[cfg(feature = "stress")]
    pub(crate) fn next_period(period: Duration) {
        if INITIAL_COUNT.load(Relaxed) == 0 {
            return;
        }
        if let Ok(initial) = (Timer { _private: () }).counts(period) {
            INITIAL_COUNT.store(initial as u64, Relaxed);
            apic::timer_program(
                TIMER_VECTOR as u32 | apic::LVT_TIMER_PERIODIC,
                DIVIDE_BY_16,
                initial,
            );
        }
    }

    /// The period the timer runs at; `None` while stopped.
    pub fn period(&self) -> Option<Duration> {
        match PERIOD_NS.load(Relaxed) {
            0 => None,
            ns => Some(Duration::from_nanos(ns)),
        }
    }
}

/// How many windows of each length calibration measures.
const CALIBRATION_ROUNDS: usize = 3;

/// Measures the APIC timer and the TSC against the PIT. Each window costs
/// a fixed overhead on top of its PIT time (starting the PIT, noticing its
/// end, reading the counters: under plain TCG, port and APIC accesses take
/// microseconds of host time, during which every counter runs on), so
/// windows of one and of two PIT lengths are measured and their
/// difference counts: the overhead cancels. Of each length the smallest
/// of [`CALIBRATION_ROUNDS`] counts, since a stall of the host can only
/// lengthen a window. Under `-icount` every window is the same.
fn calibrate() -> Calibration {
    let shortest = |pit_counts: u16| {
        let (mut apic, mut tsc) = (u64::MAX, u64::MAX);
        for _ in 0..CALIBRATION_ROUNDS {
            let (a, t) = calibration_window(pit_counts);
            apic = apic.min(a);
            tsc = tsc.min(t);
        }
        (apic, tsc)
    };
    let (apic_one, tsc_one) = shortest(CALIBRATION_PIT_COUNTS);
    let (apic_two, tsc_two) = shortest(2 * CALIBRATION_PIT_COUNTS);
    let per_second = |counts: u64| counts * PIT_HZ / CALIBRATION_PIT_COUNTS as u64;
    Calibration {
        apic_timer_hz: per_second(apic_two.saturating_sub(apic_one)),
        tsc_hz: per_second(tsc_two.saturating_sub(tsc_one)),
    }
}

/// One window of `pit_counts` PIT periods: channel 2 in mode 0 (count
/// down once, then raise OUT, read at bit 5 of port 0x61), and how far the
/// APIC timer and the TSC moved meanwhile. Runs with interrupts off, the APIC timer masked.
fn calibration_window(pit_counts: u16) -> (u64, u64) {
    let mut gate = Port::<u8>::new(0x61);
    let mut command = Port::<u8>::new(0x43);
    let mut channel2 = Port::<u8>::new(0x42);
    let [low, high] = pit_counts.to_le_bytes();
    // SAFETY: the PIT's channel 2 and its gate at port 0x61 are used by
    // nothing else in the kernel (channel 2 drives the PC speaker, whose
    // output bit 1 is kept off); the APIC timer is masked, so counting
    // down raises nothing.
    let (apic_counts, tsc) = unsafe {
        // Gate on (bit 0), speaker off (bit 1).
        let g = gate.read();
        gate.write((g & !0x02) | 0x01);
        // Channel 2, low byte then high byte, mode 0, binary.
        command.write(0b1011_0000);
        channel2.write(low);
        apic::timer_program(apic::LVT_MASKED, DIVIDE_BY_16, u32::MAX);
        let tsc0 = tsc();
        // The high byte starts the count.
        channel2.write(high);
        while gate.read() & 0x20 == 0 {}
        let tsc1 = tsc();
        let left = apic::timer_current();
        apic::timer_program(apic::LVT_MASKED, DIVIDE_BY_16, 0);
        ((u32::MAX - left) as u64, tsc1 - tsc0)
    };
    (apic_counts, tsc)
}

/// The time-stamp counter (under `-icount shift=0`, instructions executed).
#[inline(always)]
pub fn tsc() -> u64 {
    // SAFETY: rdtsc reads a counter and has no other effect.
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// Ticks taken on this CPU since boot.
pub fn ticks() -> u64 {
    TICKS.load(Relaxed)
}

/// Of [`ticks`], those that interrupted code on a continuation stack.
pub fn ticks_on_continuation_stacks() -> u64 {
    TICKS_ON_CONT_STACKS.load(Relaxed)
}

/// The epoch: ticks since boot on all CPUs. A long computation (the Wasm
/// interpreter, later) compares it with a deadline it was given.
pub fn epoch() -> u64 {
    EPOCH.load(Relaxed)
}

/// Interrupts that arrived at the 8259s' vectors or the APIC's spurious
/// vector: 0 while the PICs are masked and the APIC is well programmed.
pub fn stray_interrupts() -> u64 {
    STRAY.load(Relaxed)
}

/// Whether a tick is in service in the APIC (delivered, no EOI yet): never
/// true outside the handler.
pub fn tick_in_service() -> bool {
    CALIBRATION.get().is_some() && apic::in_service(TIMER_VECTOR)
}

/// A tick: see the module docs. Runs on `gdt::TIMER_IST`, IF off.
extern "x86-interrupt" fn tick(mut frame: InterruptStackFrame) {
    TICKS.store(TICKS.load(Relaxed) + 1, Relaxed);
    let rsp = frame.stack_pointer.as_u64();
    if (CONT_STACKS_START.as_u64()..CONT_STACKS_START.as_u64() + CONT_STACKS_SIZE).contains(&rsp) {
        TICKS_ON_CONT_STACKS.store(TICKS_ON_CONT_STACKS.load(Relaxed) + 1, Relaxed);
    }
    EPOCH.fetch_add(1, Relaxed);
    let deferred = crate::sync::tick_must_wait();
    let landing = preempt::tick_lands(rsp as usize, deferred);
    if landing != preempt::Landing::Stay {
        preempt_at_iretq(&mut frame, landing);
    }
    // The stress build counts where the tick was deferred and draws the
    // distance to the next tick anew.
    #[cfg(feature = "stress")]
    crate::stress::tick(deferred);
    // A lab's tick hook sends the end of interrupt, or forgets to
    // (`lab_hooks`, docs/labs/lab8-alarm.md).
    #[cfg(feature = "lab-hooks")]
    if let Some(hook) = crate::lab_hooks::tick_hook() {
        hook(crate::lab_hooks::Eoi::new());
        return;
    }
    apic::eoi();
}

/// Makes the tick's `iretq` enter the preemption stub (or, for a guest
/// holding a lock past its budget, the stub that ends it) on the
/// interrupted stack (`cont::preempt`): the frame's five words are handed
/// over as they are and written back rewritten.
#[cold]
fn preempt_at_iretq(frame: &mut InterruptStackFrame, landing: preempt::Landing) {
    let mut words = [
        frame.instruction_pointer.as_u64(),
        frame.code_segment.0 as u64,
        frame.cpu_flags.bits(),
        frame.stack_pointer.as_u64(),
        frame.stack_segment.0 as u64,
    ];
    preempt::redirect(&mut words, landing);
    // A lab's own stub, if it set one (`lab_hooks`, docs/labs/lab10-preempt.md):
    // for a preemption only, not for a guest ended past its lock grace.
    #[cfg(feature = "lab-hooks")]
    if landing == preempt::Landing::Preempt {
        crate::lab_hooks::redirect(&mut words);
    }
    // SAFETY: the new frame returns to the stub, in kernel code on the
    // interrupted (mapped, kernel) stack, with the interrupted CS and SS:
    // `redirect` saved the original for the stub to return to.
    unsafe {
        frame.as_mut().update(|f| {
            f.instruction_pointer = VirtAddr::new(words[0]);
            f.cpu_flags = RFlags::from_bits_retain(words[2]);
            f.stack_pointer = VirtAddr::new(words[3]);
        });
    }
}

/// An interrupt from a masked 8259 (only a spurious IRQ 7 or 15 can come)
/// or the APIC's spurious vector: counted; neither takes an EOI.
extern "x86-interrupt" fn stray(_frame: InterruptStackFrame) {
    STRAY.fetch_add(1, Relaxed);
}

/// Fills the gates of the tick, the 8259s' sixteen vectors and the APIC's
/// spurious vector. Called by `interrupts::init` while it builds the IDT.
pub(crate) fn install_gates(idt: &mut InterruptDescriptorTable) {
    for vector in apic::PIC_VECTOR_BASE..apic::PIC_VECTOR_BASE + 16 {
        idt[vector].set_handler_fn(stray);
    }
    idt[apic::SPURIOUS_VECTOR].set_handler_fn(stray);
    // SAFETY: `gdt::init` filled this slot with a stack of its own, which
    // no other gate names; ticks never nest (see the module docs), so one
    // frame at a time lives there.
    unsafe {
        idt[TIMER_VECTOR]
            .set_handler_fn(tick)
            .set_stack_index(gdt::TIMER_IST);
    }
    // Interrupts must be off whenever no Timer has turned them on.
    debug_assert!(!interrupts::are_enabled());
}
