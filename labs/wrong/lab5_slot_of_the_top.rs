//! Lab 5, a WRONG solution (`labs-check` requires it to fail): the slot is
//! worked out from the stack's top as `Store::stack_top` gives it. But
//! the top is one past the stack's last byte: the first byte of the next
//! slot's guard page, so this names the slot above.
//!
//! Expected: reported stack 1, the recursion ran on stack 0

use crate::Report;
use kernel::cont::dynamic::Resumed;
use kernel::cont::{Store, Trap, TrapKind};
use kernel::stacks::{self, KernelStacks};
use x86_64::VirtAddr;

pub fn measure(depth: i32, recurse: fn(i32) -> i32) -> Result<Report, Trap> {
    let s = Store::new(KernelStacks, 64 * 1024);
    let f = s.func_wrap(move |_: &Store, d: i32| -> Result<i32, Trap> { Ok(recurse(d)) })?;
    let k = s.cont_new(f)?;
    let top = s
        .stack_top(k)
        .ok_or(Trap::guest("a new continuation has no stack"))?;
    let slot_of =
        |addr: u64| stacks::slot_of(VirtAddr::new(addr)).ok_or(Trap::guest("not a stack slot"));
    let stack = slot_of(top as u64)?;
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
