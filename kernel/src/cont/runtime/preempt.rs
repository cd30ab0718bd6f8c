//! Preemption as an effect: `resume_for` runs a continuation with a budget
//! of timer ticks, and a tick that finds the budget spent while that
//! continuation runs its own code suspends it, involuntarily, to that
//! resume, which reports it as *preempted*. Resumed later, it goes on at
//! the interrupted instruction with every register as it was.
//!
//! Why it is built this way (`docs/interrupts.md` draws it):
//!
//! * **The tick does not suspend anything itself.** It runs on its own IST
//!   stack, which the next tick reuses, so nothing can wait there. When it
//!   decides to preempt ([`tick_lands`]), it copies the five words the CPU
//!   pushed (RIP, CS, RFLAGS, RSP, SS) into [`SAVED_FRAME`] and rewrites
//!   the frame so that its `iretq` lands in [`preempt_stub`] on the
//!   interrupted continuation's own stack, with interrupts still off.
//! * **The stub saves everything there**, as ordinary code (a page of the
//!   stack not yet mapped faults in like any other; a full stack is that
//!   guest's overflow): an `iretq` frame rebuilt from `SAVED_FRAME`, the
//!   fifteen general-purpose registers, and a frame record naming the
//!   interrupted instruction (so a backtrace walks from the stub into the
//!   interrupted function and its callers). The kernel is soft-float: no
//!   guest has SSE or x87 state, so there is none to save. Then it calls
//!   [`preempt_entry`], which suspends the continuation with the preempt
//!   effect to the resume that set the budget, like a `suspend` with no
//!   payload. When the continuation is resumed, that call returns, the
//!   stub restores the registers and `iretq`s to the interrupted
//!   instruction: the guest never knows.
//! * **Where a tick must not preempt**, it is deferred: a kernel lock held
//!   (interrupts are off, the tick lands at the release), a runtime
//!   operation in progress (a `sync::no_preempt` section: `cont.new`, a
//!   record's release, a function's definition, a trap's bookkeeping), or
//!   a `suspend` or `switch` under way (the record's state is `Suspended`
//!   from its first write on, so the tick sees it is not `Running`). Ticks
//!   still count against the budget; the release or section end that
//!   brings the counts back to zero preempts there
//!   ([`deferred_tick_seen`]), by calling the same suspension directly.
//! * **A budget covers whatever runs under its `resume_for`.** The
//!   continuation it ran may resume children with a plain `resume`, and
//!   they theirs, or `switch` to another continuation that takes its
//!   place: a tick that finds the budget spent preempts whichever record
//!   is the store's innermost running one, if it runs its own code under
//!   that `resume_for`, and cuts the segment from it out to the record
//!   just below the resumer, as a `suspend` to that `resume_for` would;
//!   the handle names the innermost, and a resume of it goes on there at
//!   its interrupted instruction, with the parents still waiting in their
//!   resumes (`preemptible.rs`). (Before, only the record `resume_for` ran
//!   was preempted, and a child that never returned, or a continuation it
//!   switched to, held the CPU for ever.) Every record says `Running`
//!   from the resume or switch that ran it until a suspend of it writes
//!   `Suspended` first thing, so the tick tells running code from a
//!   suspend under way for any of them. A `resume_for` nested in another
//!   spends the enclosing budget too: it gets at most what is left of it,
//!   what it spent is taken off when it comes back, and an enclosing
//!   budget left at zero then preempts right there ([`Store::run_budgeted`]):
//!   a guest cannot outlive its budget by running its children under
//!   budgets of their own.
//! * **Nested preemption cannot happen.** From the tick to the switch out,
//!   and from the switch back in to the stub's `iretq`, interrupts are off
//!   (the rewritten frame clears IF; a `resume_for` of a preempted
//!   continuation switches with IF off; `preempt_entry` clears IF as it
//!   comes back in, for a plain `resume`, which arms nothing). A tick in
//!   between waits in the APIC and lands on the interrupted instruction.
//!   [`nested_preemptions`] counts the preemptions that began while
//!   another was in progress on this CPU: none ever.
//!
//! **Wasm epochs** (`epoch.rs`): the interpreter stops at safe points of
//! its own when a budget is spent, and the tick gives it a period to.
//!
//! A preempted continuation is an ordinary suspended one that expects no
//! values: it can be resumed by any resume (with or without a budget),
//! dropped, traced. Two things it cannot do: be thrown into (there is no
//! `suspend` to raise the exception at: `resume_throw` traps with
//! `SignatureMismatch`), and be cancelled at once: its drop resumes it
//! under no handlers at its interrupted instruction, with a budget of
//! [`CANCEL_BUDGET`] ticks, so that its next `suspend` fails and it
//! returns through its frames; a guest preempted again in that budget has
//! its frames abandoned (its stack goes back, what its frames owned does
//! not, as for a fault), and so has one dropped while the timer is
//! stopped (no tick could end its run). One stopped at a Wasm safe point,
//! alone in its segment, is cancelled as a suspended one is: its
//! interpreter returns through its frames and runs no guest code.

use core::cell::Cell;
use core::sync::atomic::{AtomicU64, Ordering::Relaxed, Ordering::SeqCst, compiler_fence};

use super::contref::{ContObj, ContRef, Handler, Resumed, State};
use super::func::WasmValues;
use super::preempt_stub::preempt_stub;
use super::preemptible::{PREEMPTING, innermost_under, may_preempt_at, resumer_word};
use super::store::{ARMED, Store, same_types};
use crate::cont::machine::switch::{ControlEffect, switch};
use crate::cont::values::trap::{Trap, TrapKind};
use crate::cont::values::val::ValType;
use crate::cpu_local::cpu_local;

/// How far below its stack pointer `run_budgeted` touches the stack before
/// it arms a budget: one page, more than the switch's `push` and the
/// frames between it and the switch take.
const STACK_PROBE: usize = 4096;

/// The ticks a drop gives a preempted continuation to reach its next
/// `suspend` and return (see the module docs).
pub const CANCEL_BUDGET: u32 = 2;

/// The `expected` list of a preempted continuation: empty, and at an
/// address of its own, so that a record can be told preempted from
/// suspended by a `suspend` of a tag without results.
static PREEMPTED_EXPECTS: [ValType; 1] = [ValType::I32];
/// The same for one preempted at a Wasm safe point, so that its drop
/// knows the interpreter will return through its frames when told it
/// was cancelled (`Store::cancel_preempted`).
static AT_SAFE_POINT_EXPECTS: [ValType; 1] = [ValType::I32];

cpu_local! {
    /// Who made the armed `resume_for` (`preemptible::Resumer`): whatever
    /// runs below it on the chain runs under the budget. 0: none, or a
    /// deadline's. Only ever compared, never read through.
    pub(super) static ARMED_RESUMER: Cell<usize> = Cell::new(0);
    /// Ticks left before a tick preempts (0: the next point that may).
    pub(super) static BUDGET: Cell<u32> = Cell::new(0);
    /// Preemptions taken, by a tick or at the end of a deferral.
    static PREEMPTIONS: AtomicU64 = AtomicU64::new(0);
    /// Of those, taken at the end of a deferral.
    static PREEMPTIONS_DEFERRED: AtomicU64 = AtomicU64::new(0);
    /// Whether `preempt_entry` runs on this CPU (from its start to its
    /// switch out, and from the switch back to its end).
    static IN_PROGRESS: Cell<bool> = Cell::new(false);
    /// Preemptions that began while one was in progress.
    static NESTED: AtomicU64 = AtomicU64::new(0);
    /// Preempted continuations whose drop abandoned their frames.
    pub(super) static ABANDONED: AtomicU64 = AtomicU64::new(0);
    /// Whether the timer ticks (`Timer::start` to `Timer::stop`): without
    /// ticks, a drop cannot bound how long a preempted guest runs on.
    pub(super) static TICKING: Cell<bool> = Cell::new(false);
}

/// The interrupt frame of the tick being turned into a preemption: RIP,
/// CS, RFLAGS, RSP, SS, as the CPU pushed them. Written by [`tick_lands`]
/// with interrupts off, read by [`preempt_stub`] before interrupts can
/// come back on: one CPU, so one frame at a time. A plain static (not
/// `cpu_local!`) because the stub names it in assembly.
pub(crate) static SAVED_FRAME: [AtomicU64; 5] = [const { AtomicU64::new(0) }; 5];

/// How a `resume_for` came back.
#[derive(Debug, PartialEq, Eq)]
pub enum Timed<R> {
    /// Within its budget: returned, or suspended to a handler.
    InTime(Resumed<R>),
    /// A tick found the budget spent: this handle resumes it, with no
    /// values, at the instruction it was interrupted at.
    Preempted(ContObj),
}

/// Whether a `resume_for` budget is armed on this CPU: only then can a
/// tick preempt, so only then does a `sync::no_preempt` section count.
#[inline(always)]
pub(crate) fn budget_armed() -> bool {
    !ARMED.get().is_null()
}

/// Whether a budget (a `resume_for`'s, or a Wasm call's deadline) is
/// armed on this CPU now: outside every `resume_for` and timed call,
/// never (one left armed by an abandoned frame would be acted on by a
/// later tick).
pub fn armed() -> bool {
    budget_armed()
}

pub use super::epoch::preemptions_at_safe_points;
pub use super::overdue::{LOCK_GRACE, ended_holding_locks};
#[cfg(feature = "stress")]
pub use super::stress_run::stress_counts;

/// Preemptions since boot on this CPU.
pub fn preemptions() -> u64 {
    PREEMPTIONS.load(Relaxed)
}

/// Of [`preemptions`], those taken where a deferred tick was seen (a lock
/// released, a runtime operation's end) rather than by a tick itself.
pub fn preemptions_at_deferral_end() -> u64 {
    PREEMPTIONS_DEFERRED.load(Relaxed)
}

/// Preemptions that began while another was in progress on this CPU
/// (its suspension under way, or its return to the interrupted code):
/// never any (see the module docs).
pub fn nested_preemptions() -> u64 {
    NESTED.load(Relaxed)
}

/// Says whether the timer ticks (called by `Timer::start` and `stop`).
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // the tick is the kernel target's
pub(crate) fn set_ticking(on: bool) {
    TICKING.set(on);
}

/// Preempted continuations whose drop had to abandon their frames.
pub fn abandoned_in_drop() -> u64 {
    ABANDONED.load(Relaxed)
}

/// Whether `c` (a live record) was preempted and not resumed since.
///
/// # Safety
/// `c` is a live ContRef.
pub(crate) unsafe fn is_preempted(c: *const ContRef) -> bool {
    // SAFETY: per the contract.
    unsafe {
        (*c).state == State::Suspended
            && (core::ptr::eq((*c).expected.as_ptr(), PREEMPTED_EXPECTS.as_ptr())
                || core::ptr::eq((*c).expected.as_ptr(), AT_SAFE_POINT_EXPECTS.as_ptr()))
    }
}

/// Whether `c` (a live record) was preempted at a Wasm safe point and not
/// resumed since: a resume with the cancel effect makes its interpreter
/// return through every frame, running none of the guest's code.
///
/// # Safety
/// `c` is a live ContRef.
pub(crate) unsafe fn is_preempted_at_a_safe_point(c: *const ContRef) -> bool {
    // SAFETY: per the contract.
    unsafe {
        (*c).state == State::Suspended
            && core::ptr::eq((*c).expected.as_ptr(), AT_SAFE_POINT_EXPECTS.as_ptr())
    }
}

impl Store {
    /// `resume` with a budget of `ticks` timer ticks (0 counts as 1): as
    /// [`Store::resume`], but the `ticks`-th tick after the switch that
    /// finds the continuation running its own code preempts it
    /// ([`Timed::Preempted`]). Without a running timer no tick comes, and
    /// this is `resume`.
    pub fn resume_for<A: WasmValues, R: WasmValues>(
        &self,
        k: ContObj,
        ticks: u32,
        args: A,
        handlers: &[Handler],
    ) -> Result<Timed<R>, Trap> {
        // SAFETY: as in `resume`.
        unsafe {
            let (c, outer) = self.admit(
                || self.live(k, "resume_for"),
                |c, outer| {
                    if !same_types((*c).expected, A::TYPES) {
                        return self.raise(TrapKind::SignatureMismatch, "resume_for");
                    }
                    if !same_types((*outer).results, R::TYPES) {
                        return self.raise(
                            TrapKind::SignatureMismatch,
                            "resume_for result types do not match the continuation's function",
                        );
                    }
                    Ok(())
                },
                |c| args.store((*c).inbox),
            )?;
            self.resume_for_checked(c, outer, ticks, handlers)
        }
    }

    /// The switch half of `resume_for`, after the admission.
    ///
    /// # Safety
    /// As for `resume_checked`.
    pub(crate) unsafe fn resume_for_checked<R: WasmValues>(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        ticks: u32,
        handlers: &[Handler],
    ) -> Result<Timed<R>, Trap> {
        // SAFETY: forwarded contract.
        unsafe {
            let (effect, back) =
                self.run_budgeted(c, outer, handlers, ControlEffect::RESUME, ticks);
            if effect.discriminant() == ControlEffect::PREEMPT_TAG {
                return Ok(Timed::Preempted(self.handle(back)));
            }
            Ok(Timed::InTime(self.outcome::<R>(effect, back)?))
        }
    }

    /// `run_segment` with a budget armed for `c`: the previous budget (an
    /// outer `resume_for`'s) is set aside and restored, and the interrupt
    /// flag is given back as it was found (a preemption comes back with it
    /// off).
    ///
    /// # Safety
    /// As for `run_segment`.
    pub(crate) unsafe fn run_budgeted(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
        effect: ControlEffect,
        ticks: u32,
    ) -> (ControlEffect, *mut ContRef) {
        // Two copies of the body, one test: a budget inside another (not
        // in the stress build, see below) clamps and charges, the common
        // one from outside every budget does neither.
        // SAFETY: forwarded contract.
        unsafe {
            if ARMED.get().is_null() || cfg!(feature = "stress") {
                self.run_budgeted_as(c, outer, handlers, effect, ticks, false)
            } else {
                self.run_budgeted_as(c, outer, handlers, effect, ticks, true)
            }
        }
    }

    /// [`Store::run_budgeted`]'s body, `nested` inside another budget
    /// (the caller's constant).
    ///
    /// # Safety
    /// As for `run_segment`.
    #[inline(always)]
    unsafe fn run_budgeted_as(
        &self,
        c: *mut ContRef,
        outer: *mut ContRef,
        handlers: &[Handler],
        effect: ControlEffect,
        ticks: u32,
        nested: bool,
    ) -> (ControlEffect, *mut ContRef) {
        let was_on = interrupts::enabled();
        let saved = (ARMED.get(), BUDGET.get(), ARMED_RESUMER.get());
        // SAFETY: per the contract `c` is a live record about to run.
        unsafe {
            if is_preempted(c) {
                // Its stub comes back with interrupts off until `iretq`.
                interrupts::disable();
            }
            // Inside another budget (or a deadline), this one is at most
            // what is left of that one: the ticks spent here are taken off
            // it on the way back. Not in the stress build, whose budgets
            // of one tick are the harness's: there a guest's own
            // `resume_for` keeps what it asked for, and a nested run
            // spends nothing of the run around it (else every tick would
            // preempt the whole chain, level by level, and a deep chain
            // resumed by the harness would never get back down to where
            // it was before the next tick).
            let ticks = if nested {
                ticks.max(1).min(saved.1.max(1))
            } else {
                ticks.max(1)
            };
            // The page below the stack pointer, touched before the budget
            // is armed: a resumer whose stack is about to overflow faults
            // here, with nothing armed, and not in the switch's `push` or
            // a frame of `run_segment` below, where the trap would abandon
            // this frame with `ARMED` still naming `c` (a stale word a
            // later tick would act on).
            // SAFETY: a read of the running stack below its pointer:
            // mapped, mapped on demand, or its guard page, whose fault is
            // the overflow trap wanted here.
            core::ptr::read_volatile(
                (crate::cont::machine::switch::stack_pointer() - STACK_PROBE) as *const u8,
            );
            // The words change with interrupts on, so a tick can land
            // between any two stores. Each mix it can see is harmless: the
            // resumer and the store are named first, and while the word
            // names the resumer (this code's record, `current` until the
            // switch) a tick in this code finds the segment not running
            // and preempts nothing, whichever budget `ARMED` and `BUDGET`
            // still hold; the way back restores them first and the
            // resumer last, for the same reason. No word names a context
            // the preemption would switch through: it finds the outermost
            // under the resumer on the live chain (`preemptible`). (An
            // earlier design kept that outermost in a word of its own,
            // and a tick between two of these stores once preempted
            // through a stale one: the stress mode caught a nested
            // resume's landing popping RBX from a word the preemption
            // stub had pushed since.) The fences keep the compiler to the
            // order.
            ARMED_RESUMER.set(resumer_word(self));
            compiler_fence(SeqCst);
            ARMED.set(c);
            BUDGET.set(ticks);
            compiler_fence(SeqCst);
            // A safe-point flag left up by an earlier budget (its guest
            // returned before reaching a safe point) is lowered by the
            // first safe point, which finds this budget unspent.
            let back = self.run_segment_plain(c, outer, handlers, effect);
            compiler_fence(SeqCst);
            let left = if nested {
                saved.1.saturating_sub(ticks.saturating_sub(BUDGET.get()))
            } else {
                saved.1
            };
            BUDGET.set(left);
            ARMED.set(saved.0);
            compiler_fence(SeqCst);
            ARMED_RESUMER.set(saved.2);
            compiler_fence(SeqCst);
            if nested && left == 0 {
                enclosing_budget_spent();
            }
            if was_on {
                interrupts::enable();
            }
            back
        }
    }

    /// Traps if `c` was preempted: a `resume_throw` has no suspension
    /// point to raise its exception at. The admission's type step of each
    /// door's `resume_throw`.
    ///
    /// # Safety
    /// `c` is a live ContRef of this store.
    pub(crate) unsafe fn not_preempted(&self, c: *const ContRef) -> Result<(), Trap> {
        // SAFETY: per the contract.
        if unsafe { is_preempted(c) } {
            return self.raise(
                TrapKind::SignatureMismatch,
                "resume_throw into a preempted continuation: it stopped at no suspend",
            );
        }
        Ok(())
    }
}

/// `run_budgeted`'s way back found the enclosing budget spent by the
/// nested run: the next safe point of an interpreter acts (a deadline's
/// says "timed out"), and the guest the budget is armed for, if it runs
/// its own code here, is preempted now, as at a deferred tick's end
/// (else the next tick, or the end of what defers it, does it).
#[cold]
#[inline(never)]
fn enclosing_budget_spent() {
    super::epoch::SAFE_POINT_DUE.store(true, Relaxed);
    if crate::sync::NO_PREEMPT.load(Relaxed) != 0 || crate::sync::held() != 0 {
        return;
    }
    let was_on = interrupts::enabled();
    interrupts::disable();
    preempt_at_this_call();
    if was_on {
        interrupts::enable();
    }
}

/// With interrupts off, at a point where nothing defers a preemption (a
/// deferral's end, a nested budget's end): if a spent budget's chain runs
/// its own code here, it is preempted now, at this call, by a plain call
/// of the suspension (counted with the preemptions at a deferral's end).
fn preempt_at_this_call() {
    if may_preempt_at(crate::cont::machine::switch::stack_pointer()) {
        PREEMPTIONS_DEFERRED.store(PREEMPTIONS_DEFERRED.load(Relaxed) + 1, Relaxed);
        // The tick that spent the budget raised the safe-point flag: this
        // is the preemption it asked for.
        super::epoch::SAFE_POINT_DUE.store(false, Relaxed);
        // SAFETY: interrupts are off (the caller's), and the budget's
        // chain runs its own code here (checked), as `preempt_entry`
        // requires.
        unsafe { preempt_entry() };
    }
}

/// What a tick does to the code it interrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Landing {
    /// Returns to it.
    Stay,
    /// Preempts it: `iretq` enters [`preempt_stub`].
    Preempt,
    /// Ends it, a guest holding a lock past its budget: `iretq` enters
    /// the stub of `overdue.rs`, which traps it.
    End,
}

/// The tick's part (`timer.rs`, interrupts off): counts the tick against
/// an armed budget and says what to do with the interrupted code, whose
/// stack pointer was `rsp`. `deferred`: the tick must wait (a lock, a
/// section); it still counts. Unless [`Landing::Stay`], the caller
/// redirects its frame with [`redirect`].
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // the tick is the kernel target's
#[inline(always)]
pub(crate) fn tick_lands(rsp: usize, deferred: bool) -> Landing {
    if ARMED.get().is_null() {
        return Landing::Stay;
    }
    tick_lands_armed(rsp, deferred)
}

/// [`tick_lands`] with a budget armed. Inlined into the tick like the
/// test before it (out of line, the call cost the preemption round trip 8
/// instructions; the tick with none armed pays the one test either way).
#[inline(always)]
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // the tick is the kernel target's
fn tick_lands_armed(rsp: usize, deferred: bool) -> Landing {
    let left = BUDGET.get();
    if left > 0 {
        BUDGET.set(left - 1);
    }
    // What `may_preempt_at` asks, with the record it finds kept.
    let x = if !deferred && left <= 1 {
        innermost_under(rsp, true)
    } else {
        core::ptr::null_mut()
    };
    #[cfg(feature = "stress")]
    if !deferred && left <= 1 && x.is_null() {
        super::stress_run::note_not_here();
    }
    if !x.is_null() {
        // SAFETY: `innermost_under` found `x` the running continuation:
        // live.
        if unsafe { (*x).polls_born != (*x).born } {
            return Landing::Preempt;
        }
        // It runs the interpreter: one period to reach a safe point. At
        // the next tick, the flag still up, it is preempted where it is
        // (and the flag lowered: it is done with).
        let late = super::epoch::SAFE_POINT_DUE.swap(true, Relaxed);
        if late {
            super::epoch::SAFE_POINT_DUE.store(false, Relaxed);
            return Landing::Preempt;
        }
        return Landing::Stay;
    }
    if left <= 1 {
        // Spent: the interpreter's next safe point acts (the armed
        // continuation may be the one running it once the deferral or
        // the child ends).
        super::epoch::SAFE_POINT_DUE.store(true, Relaxed);
    }
    if deferred && left == 0 {
        // Spent before this tick, and held back: by a guest lock kept
        // too long, perhaps (`overdue.rs`).
        return super::overdue::tick_in_lock(rsp);
    }
    Landing::Stay
}

/// Rewrites the tick's interrupt frame `[rip, cs, rflags, rsp, ss]` so
/// that its `iretq` enters the stub `to` asks for ([`preempt_stub`], or
/// `overdue.rs`' for [`Landing::End`]) on the interrupted stack with
/// interrupts off; the original goes to [`SAVED_FRAME`].
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // the tick is the kernel target's
pub(crate) fn redirect(frame: &mut [u64; 5], to: Landing) {
    for (slot, word) in SAVED_FRAME.iter().zip(frame.iter()) {
        slot.store(*word, Relaxed);
    }
    /// RFLAGS.IF and RFLAGS.TF.
    const IF_TF: u64 = (1 << 9) | (1 << 8);
    frame[0] = match to {
        Landing::End => super::overdue::stub_address(),
        _ => preempt_stub as *const () as u64,
    };
    frame[2] &= !IF_TF;
    // 16-byte aligned, below the interrupted RSP (no red zone: the kernel
    // is built without one).
    frame[3] &= !0xf;
}

/// The hook `sync` calls where a deferred tick is seen (the counts of
/// locks and sections back at zero): if the budget is spent and the
/// armed continuation runs here, it is preempted now, at this call.
#[cold]
#[cfg_attr(not(target_os = "none"), allow(dead_code))] // no tick on the host
pub(crate) fn deferred_tick_seen() {
    if !interrupts::enabled() {
        return;
    }
    interrupts::disable();
    preempt_at_this_call();
    interrupts::enable();
}

/// The suspension of a preempted continuation, as [`preempt_stub`] calls
/// it: [`preempt_here`], whose effect the stub has no use for (a
/// cancelled guest runs on from its interrupted instruction).
///
/// # Safety
/// As for [`preempt_here`].
pub(super) unsafe extern "C" fn preempt_entry() {
    // SAFETY: forwarded contract.
    let _ = unsafe { preempt_here(false) };
}

/// The suspension of a preempted continuation: called by [`preempt_entry`],
/// [`deferred_tick_seen`] or a Wasm safe point (`epoch::safe_point`) on
/// the continuation's own stack, with interrupts off. Marks the store's
/// innermost running continuation suspended, expecting nothing, its
/// segment reaching out to the one `resume_for` resumed, and switches to
/// that resume with the preempt effect. Returns when it is resumed (the resume
/// effect) or cancelled (the cancel effect: the guest runs on under the
/// drop), with interrupts off. `at_safe_point`: a Wasm safe point calls,
/// whose interpreter returns through its frames if told it was
/// cancelled.
///
/// # Safety
/// Interrupts are off, and [`may_preempt_at`] held for the running code
/// (or the tick's check found it preemptible), with interrupts off since.
#[inline(always)]
pub(super) unsafe fn preempt_here(at_safe_point: bool) -> ControlEffect {
    // What the check that let the caller here found (`may_preempt_at`,
    // or the tick's own), interrupts off since: the running record and
    // the outermost under the armed `resume_for`.
    let (c, outer) = PREEMPTING.get();
    // The budget is spent: the resume that armed it is where this goes,
    // and it restores the outer one when it comes back.
    ARMED.set(core::ptr::null_mut());
    PREEMPTIONS.store(PREEMPTIONS.load(Relaxed) + 1, Relaxed);
    note_in_progress();
    // SAFETY: per the contract `c` is the running continuation and `outer`
    // the outermost record under the armed `resume_for` (an ancestor of
    // `c`, or `c`), whose context holds the point of that `resume_for`. The members between are `Running` (each resume wrote
    // it), as the inner members of a suspended segment are.
    let effect = unsafe {
        (*c).state = State::Suspended;
        (*c).last_ancestor = outer;
        super::suspend::set_types(&raw mut (*c).payload, &[]);
        (*c).expected = if at_safe_point {
            &AT_SAFE_POINT_EXPECTS[..0]
        } else {
            &PREEMPTED_EXPECTS[..0]
        };
        (*c).inbox = (*c).values.as_mut_ptr();
        IN_PROGRESS.set(false);
        // The preempt effect is not one a plain landing stands for: it
        // goes to the effect landing of the `resume_for`'s switch site.
        // Back here, a resume (plain or budgeted) comes to this site's
        // plain landing, a drop's cancellation to its effect landing;
        // either way the stub's guest runs on from the interrupted
        // instruction, and a safe point is told which.
        switch(ControlEffect::PREEMPT, (*outer).ctx, ControlEffect::RESUME)
    };
    // Resumed by a plain `resume` (interrupts on) or a `resume_for` (off).
    interrupts::disable();
    note_in_progress();
    // The stub's pops and `iretq` follow, interrupts still off (or the
    // caller's return to the code it preempted).
    IN_PROGRESS.set(false);
    effect
}

/// Marks a preemption in progress, counting it as nested if one was.
fn note_in_progress() {
    if IN_PROGRESS.get() {
        NESTED.store(NESTED.load(Relaxed) + 1, Relaxed);
    }
    IN_PROGRESS.set(true);
}

/// The interrupt flag on the kernel target; nothing on the host, where no
/// tick comes and `cli` would fault.
pub(super) mod interrupts {
    #[inline(always)]
    pub(in crate::cont::runtime) fn enabled() -> bool {
        #[cfg(target_os = "none")]
        return x86_64::instructions::interrupts::are_enabled();
        #[cfg(not(target_os = "none"))]
        false
    }
    #[inline(always)]
    pub(in crate::cont::runtime) fn disable() {
        #[cfg(target_os = "none")]
        x86_64::instructions::interrupts::disable();
    }
    #[inline(always)]
    pub(in crate::cont::runtime) fn enable() {
        #[cfg(target_os = "none")]
        x86_64::instructions::interrupts::enable();
    }
}
