//! Lab 6, reference solution: the kernel's walk (`walk.rs`) over a
//! snapshot. A frame record is two words, the caller's RBP and the return
//! address. On a continuation stack, the record at `TOS - 0x10` is the
//! start trampoline's: its words are the control context's RBP and RIP
//! slots, which while the continuation is active hold its parent's RBP and
//! resume address, so the walk follows them into the parent's stack like
//! any other record, and from there on is on the next stack of the chain.

use alloc::vec::Vec;
use kernel::cont::stack::RBP_OFFSET;
use kernel::cont::walk::Frame;
use labs::snapshot::ChainSnapshot;

pub fn backtrace(mem: &ChainSnapshot, fp: usize) -> Vec<Frame> {
    let chain = mem.stacks();
    let mut frames = Vec::new();
    let mut on = 0; // the index in `chain` of the stack `fp` lies on
    let mut fp = fp;
    while let Some(stack) = chain.get(on) {
        let (Some(next), Some(ret)) = (mem.read(fp), mem.read(fp + 8)) else {
            break;
        };
        if ret == 0 {
            break;
        }
        let at_trampoline = fp == stack.top - RBP_OFFSET;
        if at_trampoline {
            on += 1;
        }
        let stack_top = chain.get(on).map_or(0, |s| s.top);
        frames.push(Frame {
            fp,
            return_address: ret,
            stack_top,
        });
        // Within one stack, saved RBPs go up; across a trampoline they go
        // wherever the parent's stack is.
        if !at_trampoline && next <= fp {
            break;
        }
        fp = next;
    }
    frames
}
