//! Per-CPU variables: state that belongs to the CPU running the code, not to
//! any one store or stack.
//!
//! The kernel runs on one CPU with interrupts disabled, so "per CPU" is
//! "global" there, and a plain `static` holding a `Cell` is enough: no code
//! can interrupt a read-modify-write. On the host, where the continuation
//! core also runs (unit tests, benchmarks), test threads run at the same
//! time, so each thread gets its own copy (`#[thread_local]`): a host
//! thread plays the part of a CPU.
//!
//! Two things live here today, each read on the hot path of a switch (one
//! load, one compare):
//!
//! * which store has a chain of continuations running on this CPU
//!   ([`crate::cont::Store`] refuses to start a second store's chain on top
//!   of a first: see `docs/guarantees.md`);
//! * how many kernel locks are held on this CPU ([`crate::sync`]), so that
//!   no continuation suspends, switches or ends while it holds one.

/// Declares per-CPU `static`s of `Cell` type: `cpu_local! { pub static X:
/// Cell<u32> = Cell::new(0); }`. On the kernel target a `static` (one CPU,
/// interrupts off); on the host a `#[thread_local]` one per thread.
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

// SAFETY: on the kernel target there is one CPU and interrupts are
// disabled, so no two pieces of code ever access the value at once; on the
// host every `OneCpu` is a `#[thread_local]`, never shared between threads.
unsafe impl<T> Sync for OneCpu<T> {}

impl<T> core::ops::Deref for OneCpu<T> {
    type Target = T;
    #[inline(always)]
    fn deref(&self) -> &T {
        &self.0
    }
}
