//! Lab 6, YOUR FILE: a frame-pointer walk that crosses from a
//! continuation's stack into its parent's. The task, hints and the output
//! the checker expects are in `docs/labs/lab6-backtrace.md`; `check.rs`
//! next to this file is the checker (read it, do not edit it).
//!
//! Run the checker with `./qemu-run.sh lab 6`.

use alloc::vec::Vec;
use kernel::cont::walk::Frame;
use labs::snapshot::ChainSnapshot;

/// Walks the frame records from `fp`, innermost first, over the words of
/// `mem` (a snapshot of the chain's stacks, innermost first), and returns
/// one `Frame` per record: its address (`fp`), the return address above
/// it, and the top of the stack that return address returns into (0: the
/// kernel's stack). The walk crosses from each continuation into its
/// parent through the start trampoline's frame record, and ends with the
/// first frame that returns into the kernel's stack.
pub fn backtrace(mem: &ChainSnapshot, fp: usize) -> Vec<Frame> {
    let _ = (mem, fp);
    Vec::new()
}
