//! Frame-pointer walks across continuation stacks: how a backtrace taken
//! inside a continuation climbs out of it into the code that resumed it.
//!
//! Frame pointers are on everywhere (`x86_64-target.json`), so every frame
//! begins with a *frame record*: the caller's RBP, and above it the return
//! address. Following the saved RBPs visits every frame of one stack. At the
//! top of a continuation stack the chain would end, except that the start
//! trampoline keeps RBP at `TOS-0x10` (`docs/spec.md` §1): there, `[TOS-0x10]` and
//! `[TOS-0x08]` are the control context's RBP and RIP slots, which while the
//! continuation is active hold its *parent's* RBP and resume address. So the
//! trampoline's frame is a valid record whose "caller" is the parent, and
//! the walk steps from one stack to the next with no special code at all;
//! it only has to know, to bound its reads, which stack it is on.
//!
//! ```text
//!  continuation stack                     parent's stack
//!
//!  TOS-0x08  parent's resume address      (the trampoline's record:
//!  TOS-0x10  parent's RBP  ----------+     its "caller" is the parent)
//!      ^                             |
//!      |                             +--> [RBP]   parent's caller's RBP
//!  entry's record:                         [RBP+8] parent's return address
//!  [RBP]     TOS-0x10 ---+
//!  [RBP+8]   return address into the trampoline
//! ```
//!
//! Every read is checked: on a continuation stack the whole 16-byte record
//! must lie inside that stack; on the kernel's stack saved RBPs must go up,
//! by less than 1 MiB a step.

use super::stack::{ContStack, RBP_OFFSET};

/// One frame of a frame-pointer walk: the frame pointer, the return
/// address stored just above it, and the stack of the function that
/// address returns into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    pub fp: usize,
    pub return_address: usize,
    /// The top (TOS) of the continuation stack that the function
    /// `return_address` returns into runs on; 0 for the kernel's own stack.
    /// That is the stack of the record itself, except for the start
    /// trampoline's record: it lies on the continuation's stack but returns
    /// into the parent, on the parent's stack.
    pub stack_top: usize,
}

/// The most frames a walk visits: as many as a trap's full backtrace
/// keeps ([`crate::cont::values::trace::MAX_TRACE`]).
const MAX_WALK: usize = crate::cont::values::trace::MAX_TRACE;
/// On the kernel's own stack a walk follows a saved RBP only if it lies at
/// most this far above the current frame.
const MAX_KERNEL_FRAME: usize = 1 << 20;
/// Whether RBP is certainly a frame pointer in code outside continuation
/// stacks, so a walk may follow it there: always in the kernel (its target
/// forces frame pointers), and in unoptimised host builds. Optimised host
/// builds use RBP as an ordinary register; following it could read unmapped
/// memory, so there the walk stops at the edge of the kernel's stack.
/// (On a continuation stack every read is bounds-checked against the stack.)
const WALK_KERNEL_STACK: bool = cfg!(any(target_os = "none", debug_assertions));

/// Walks frame records from `start_fp`, innermost first, calling `visit`
/// until it returns false. `chain` gives the continuation stacks the walk
/// crosses, innermost first: the first is the stack `start_fp` is on, and
/// each next one the stack of the parent its start trampoline returns into;
/// when it ends, the walk is on the kernel's stack (an empty `chain`: it
/// starts there). On a continuation stack it follows frames inside that
/// stack and, at the start trampoline's frame record (`TOS-0x10`), steps
/// into the next stack; on the kernel's stack it follows frames while they
/// go upward by less than 1 MiB (where frame pointers are guaranteed, see
/// `WALK_KERNEL_STACK`).
///
/// # Safety
/// Every stack `chain` gives is live, and on the kernel's stack `start_fp`
/// (or the frame pointer the walk reaches there) is a live frame pointer.
pub(crate) unsafe fn walk<'a>(
    mut chain: impl Iterator<Item = &'a ContStack>,
    start_fp: usize,
    mut visit: impl FnMut(Frame) -> bool,
) {
    let mut fp = start_fp;
    let mut current: Option<&ContStack> = chain.next();
    for _ in 0..MAX_WALK {
        if fp == 0 || fp % 8 != 0 {
            return;
        }
        let stack = current;
        match stack {
            // The whole record, [fp] and [fp+8], must lie in the stack.
            Some(stack) if !stack.contains(fp) || fp + 16 > stack.top() as usize => return,
            None if !WALK_KERNEL_STACK => return,
            _ => {}
        }
        // SAFETY: `fp` is an aligned frame record: inside the running
        // continuation's stack (checked above), or on the kernel stack
        // reached by the bounded upward steps below.
        let (next, ret) = unsafe { (*(fp as *const usize), *(fp as *const usize).add(1)) };
        if ret == 0 {
            // The outermost frame: whoever started this stack left no
            // return address.
            return;
        }
        // The trampoline's record: [fp] and [fp+8] are the parent's RBP
        // and RIP. The walk goes on on the parent's stack.
        let at_trampoline = stack.is_some_and(|s| fp == s.top() as usize - RBP_OFFSET);
        if at_trampoline {
            current = chain.next();
        }
        let caller_stack = current.map_or(0, |s| s.top() as usize);
        if !visit(Frame {
            fp,
            return_address: ret,
            stack_top: caller_stack,
        }) {
            return;
        }
        match stack {
            _ if at_trampoline => {}
            Some(_) if next <= fp => return,
            None if next <= fp || next - fp > MAX_KERNEL_FRAME => return,
            _ => {}
        }
        fp = next;
    }
}
