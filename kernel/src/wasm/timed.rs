//! Wasm under the clock: an instance's budget of timer ticks for the
//! calls the kernel makes into it, and its exported functions as runtime
//! functions, for a continuation that `resume_for` runs with a budget.
//!
//! Why apart from `instance.rs`: the interpreter is the same with or
//! without a clock; what a clock adds is these two doors to it (the safe
//! points themselves are the interpreter's, `interp.rs`, and the budget's
//! bookkeeping the runtime's, `cont/runtime/epoch.rs`).

use super::instance::Instance;
use crate::cont::dynamic::Func;

impl Instance {
    /// How many timer ticks a call from [`Instance::invoke`] (or a WASI
    /// program's run, `wasi::start`) may take before it ends with the trap
    /// "timed out" at its next safe point (a branch or a call; `None`, the
    /// default: no limit). It bounds calls made from the kernel's own
    /// stack with no budget armed; inside a continuation, the resume that
    /// runs it bounds it (`resume_for`). Without a running timer no tick
    /// comes and nothing times out.
    pub fn set_tick_budget(&self, ticks: Option<u32>) {
        self.tick_budget.set(ticks);
    }

    /// The runtime function of the exported function `name`: `cont.new` of
    /// it in this instance's store makes a continuation that runs it (so
    /// that, for one, `Store::resume_for` gives it a budget). `None` if no
    /// function is exported by that name, or its results do not fit a
    /// continuation's mailbox.
    pub fn exported_func(&self, name: &str) -> Option<Func> {
        let f = self.module.exported_func(name)?;
        match self.link(f) {
            Some((other, g)) => other.funcs[g as usize],
            None => self.funcs[f as usize],
        }
    }
}
