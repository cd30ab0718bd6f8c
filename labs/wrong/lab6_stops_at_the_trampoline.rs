//! Lab 6, a WRONG solution (`labs-check` requires it to fail): the walk
//! of one stack, as for a thread: it follows saved RBPs while they stay
//! on the stack it started on, and takes the record at the top of the
//! stack for the end. It never steps into the parent.
//!
//! Expected: your walk stopped after frame

use alloc::vec::Vec;
use kernel::cont::walk::Frame;
use labs::snapshot::ChainSnapshot;

pub fn backtrace(mem: &ChainSnapshot, fp: usize) -> Vec<Frame> {
    let mut frames = Vec::new();
    let Some(stack) = mem.stacks().first() else {
        return frames;
    };
    let mut fp = fp;
    while fp >= stack.from && fp + 16 <= stack.top {
        let (Some(next), Some(ret)) = (mem.read(fp), mem.read(fp + 8)) else {
            break;
        };
        if ret == 0 || next <= fp || next + 16 > stack.top {
            break;
        }
        frames.push(Frame {
            fp,
            return_address: ret,
            stack_top: stack.top,
        });
        fp = next;
    }
    frames
}
