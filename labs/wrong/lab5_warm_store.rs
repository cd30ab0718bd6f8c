//! Lab 5, a WRONG solution (`labs-check` requires it to fail): the
//! recursion is run once to warm up, then measured in a second
//! continuation of the same store. But a store keeps the stacks of its
//! ended continuations (`cont::STACK_CACHE`), paged in, for its next
//! ones: the measured run gets the warm-up's stack and touches pages that
//! are already there.
//!
//! Expected: was the stack already paged in?

use crate::Report;
use kernel::cont::dynamic::Resumed;
use kernel::cont::{Store, Trap, TrapKind};
use kernel::stacks::{self, KernelStacks};
use x86_64::VirtAddr;

pub fn measure(depth: i32, recurse: fn(i32) -> i32) -> Result<Report, Trap> {
    let s = Store::new(KernelStacks, 64 * 1024);
    let f = s.func_wrap(move |_: &Store, d: i32| -> Result<i32, Trap> { Ok(recurse(d)) })?;
    // A first run to warm up, then the measured one.
    let warm = s.cont_new(f)?;
    let _ = s.resume::<i32, i32>(warm, depth, &[]);
    let k = s.cont_new(f)?;
    let top = s
        .stack_top(k)
        .ok_or(Trap::guest("a new continuation has no stack"))?;
    let slot_of =
        |addr: u64| stacks::slot_of(VirtAddr::new(addr)).ok_or(Trap::guest("not a stack slot"));
    let stack = slot_of(top as u64 - 1)?;
    let before = stacks::demand_faults();
    let outcome = s.resume::<i32, i32>(k, depth, &[]);
    let pages = stacks::demand_faults() - before;
    match outcome {
        Ok(Resumed::Returned(_)) => Ok(Report {
            stack,
            pages,
            overflow: false,
        }),
        Ok(Resumed::Suspended { .. }) => Err(Trap::guest("the recursion suspended")),
        Err(trap) => match trap.kind() {
            TrapKind::StackOverflow { addr } => Ok(Report {
                stack: slot_of(addr)?,
                pages,
                overflow: true,
            }),
            _ => Err(trap),
        },
    }
}
