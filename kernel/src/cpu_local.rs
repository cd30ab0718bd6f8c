//! Per-CPU variables: state that belongs to the CPU running the code, not to
//! any one store or stack.
//!
//! The kernel runs on one CPU, so "per CPU" is "global" there, and a plain
//! `static` is enough. Interrupts used to be always off; now the timer's
//! tick (`timer.rs`) can land between any two instructions once it is
//! started, so each word says which of two cases it is in (see the list
//! at `sync.rs`'s words): either the tick never touches it, and a `Cell`
//! stays right (a tick between a read and a write changes nothing), or
//! the tick reads or writes it, and it is an atomic whose every
//! read-modify-write either runs with interrupts off or is one
//! instruction. Atomics on one CPU cost a plain `mov` for loads and
//! stores. On the host, where the continuation
//! core also runs (unit tests, benchmarks), test threads run at the same
//! time, so each thread gets its own copy (`#[thread_local]`): a host
//! thread plays the part of a CPU.
//!
//! Two things live here today, each read on the hot path of a switch (one
//! load, one compare):
//!
//! * which store has a chain of continuations running on this CPU
//!   ([`crate::cont::Store`] refuses to start a second store's chain on top
//!   of a first: see `docs/guarantees.md`), a word that reads `LOCKED`
//!   while a lock is held, so that one test covers both rules
//!   (`cont/runtime/gate.rs`);
//! * how many kernel locks are held on this CPU ([`crate::sync`]), so that
//!   no continuation suspends, switches or ends while it holds one.
//!
//! Each word, re-justified for a CPU whose interrupts may be on:
//!
//! | word | where | the tick | why it stays sound |
//! |------|-------|----------|--------------------|
//! | running store (the gate word, and the store it hides while a lock is held), chain registry, trace ring | `cont/` | never touches it (the running store and `current` it reads, to decide a preemption) | a `Cell`; a tick between two accesses changes nothing; a preemption suspends only where the running continuation is `Running`, `current`, on its own stack, with no lock or `no_preempt` section open, so never between two accesses of one runtime operation (`cont/runtime/preempt.rs`); the gate word leaves `LOCKED` before the lock count reaches zero, so a tick between the two stores still sees a lock and defers |
//! | last heap refusal | `heap.rs` | never touches it | a `Cell`, as above |
//! | locks held | `sync.rs` | reads | a `Cell` written with single stores, read by the tick with one volatile load (an atomic would cost the hot path) |
//! | lock names, release epoch | `sync.rs` | never touches them | `Cell`s |
//! | `push_off` depth, epoch and found flag | `sync.rs` | never touches them | changed only with interrupts off |
//! | `no_preempt` sections | `sync.rs` | reads | an atomic, as for locks held |
//! | guest locks held under a budget | `sync.rs` | reads | as locks held: a `Cell` of single stores, raised after it and lowered before it, read with one volatile load |
//! | ticks overdue in a guest lock | `sync.rs` | writes | an atomic: the tick increments it with interrupts off, ordinary code resets it with single stores |
//! | the armed budget (`ARMED`) | `cont/runtime/store.rs` | reads | a `Cell` written by ordinary code only, with single stores, and only around a `resume_for`'s switch, a Wasm call's deadline (`epoch::with_deadline`, from the kernel's own stack) or by a preemption, never inside a runtime operation: a `no_preempt` section that tests it at its open finds the same value at its end |
//! | the safe-point flag (`SAFE_POINT_DUE`) | `cont/runtime/epoch.rs` | writes | an atomic byte: the tick raises it with a store or an `xchg` (interrupts off); ordinary code lowers it with single stores; a flag seen up when it should not be costs one safe point that finds nothing to do, one seen down costs a wait of one period |
//! | preempt pending, deferred counts | `sync.rs` | writes | atomics; ordinary code clears the word with one `xchg` |
//! | ticks, ticks on continuation stacks | `timer.rs` | writes | atomics that only the tick writes |

/// Declares per-CPU `static`s of `Cell` or atomic type: `cpu_local! { pub
/// static X: Cell<u32> = Cell::new(0); }`. On the kernel target a `static`
/// (one CPU); on the host a `#[thread_local]` one per thread.
macro_rules! cpu_local {
    ($($(#[$attr:meta])* $vis:vis static $name:ident: $ty:ty = $init:expr;)*) => {$(
        $(#[$attr])*
        #[cfg(target_os = "none")]
        $vis static $name: $crate::cpu_local::OneCpu<$ty> = $crate::cpu_local::OneCpu($init);
        $(#[$attr])*
        #[cfg(not(target_os = "none"))]
        #[thread_local]
        $vis static $name: $crate::cpu_local::OneCpu<$ty> = $crate::cpu_local::OneCpu($init);
    )*};
}
pub(crate) use cpu_local;

/// A value that only the one CPU ever touches: see the module docs. Crate
/// private: only `cpu_local!` makes one, so none is ever an ordinary
/// shared `static` on the host.
pub(crate) struct OneCpu<T>(pub(crate) T);

// SAFETY: on the kernel target there is one CPU, so the only code that can
// run between two accesses of a value is an interrupt handler on the same
// CPU: the timer's tick, which touches only atomic words (a `Cell` word is
// never touched by it; each declaration says which case it is); on the
// host every `OneCpu` is a `#[thread_local]`, never shared between threads.
unsafe impl<T> Sync for OneCpu<T> {}

impl<T> core::ops::Deref for OneCpu<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}
