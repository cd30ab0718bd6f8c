//! Lab 6, a WRONG solution (`labs-check` requires it to fail): the walk
//! crosses into each parent, but names for each frame the stack its
//! record lies on. For the start trampoline's record that is the
//! continuation's own stack, yet its return address returns into the
//! parent: a backtrace that groups frames by stack would put the parent's
//! resume point on the child.
//!
//! Expected: a start trampoline's record lies on its continuation's stack

use alloc::vec::Vec;
use kernel::cont::stack::RBP_OFFSET;
use kernel::cont::walk::Frame;
use labs::snapshot::ChainSnapshot;

pub fn backtrace(mem: &ChainSnapshot, fp: usize) -> Vec<Frame> {
    let chain = mem.stacks();
    let mut frames = Vec::new();
    let mut on = 0;
    let mut fp = fp;
    while let Some(stack) = chain.get(on) {
        let (Some(next), Some(ret)) = (mem.read(fp), mem.read(fp + 8)) else {
            break;
        };
        if ret == 0 {
            break;
        }
        frames.push(Frame {
            fp,
            return_address: ret,
            stack_top: stack.top,
        });
        let at_trampoline = fp == stack.top - RBP_OFFSET;
        if at_trampoline {
            on += 1;
            if on == chain.len() {
                break;
            }
        } else if next <= fp {
            break;
        }
        fp = next;
    }
    frames
}
