//! Lab 5, reference solution: a store of its own for each run, so that
//! the continuation gets a stack straight from the pool, with only its top
//! page mapped (a store keeps the stacks of ended continuations, paged in,
//! for its next ones). The slot is worked out from the stack's top, which
//! the dynamic door tells for a live handle. The kernel's count of demand
//! faults, read before and after the resume (on the kernel stack), is the
//! number of pages the run touched. A stack overflow comes back as a trap
//! that names the address in the guard page; its slot is the stack's.

use crate::Report;
use kernel::cont::dynamic::Resumed;
use kernel::cont::{Store, Trap, TrapKind};
use kernel::stacks::{self, KernelStacks};
use x86_64::VirtAddr;

pub fn measure(depth: i32, recurse: fn(i32) -> i32) -> Result<Report, Trap> {
    let s = Store::new(KernelStacks, 64 * 1024);
    let f = s
        .func_wrap(move |_: &Store, d: i32| -> Result<i32, Trap> { Ok(recurse(d)) })
        .map_err(|_| Trap::guest("the function was refused"))?;
    let k = s.cont_new(f)?;
    let top = s
        .stack_top(k)
        .ok_or(Trap::guest("a new continuation has no stack"))?;
    let slot_of =
        |addr: u64| stacks::slot_of(VirtAddr::new(addr)).ok_or(Trap::guest("not a stack slot"));
    // The top is one past the stack's last byte: its slot is the byte's.
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
