//! A copy of the stacks of the running chain of continuations, for lab 6
//! (`docs/labs/lab6-backtrace.md`): what a frame-pointer walk reads,
//! handed to the student as safe values.
//!
//! Why a copy: a walk reads words at addresses it computes, and a walk
//! that is wrong computes wrong ones. Safe code cannot be let read
//! memory at will, so [`ChainSnapshot::here`] copies, once, the part of
//! each stack of the chain that holds frames (from its lowest frame
//! record up to its top), at addresses the kernel's own walk vouches for;
//! the student's walk then reads the copy, and an address outside it is
//! `None`, not a fault.

#![allow(unsafe_code)]

use alloc::vec::Vec;
use kernel::cont::Store;

/// One continuation stack of the chain: its bounds, and the words of its
/// frames as they were when the snapshot was taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackCopy {
    /// The stack's top (TOS): one past its highest byte.
    pub top: usize,
    /// The lowest address copied (a frame record's, 8-byte aligned).
    pub from: usize,
    words: Vec<usize>,
}

/// The stacks of the chain the caller runs in, innermost first (the one
/// it runs on, then its parent's, out to the outermost continuation,
/// whose parent is the kernel's stack, not copied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainSnapshot {
    stacks: Vec<StackCopy>,
}

impl ChainSnapshot {
    /// Copies the frames of the chain the caller runs in (of store `s`).
    /// Empty outside any continuation.
    #[inline(never)]
    pub fn here(s: &Store) -> ChainSnapshot {
        // The kernel's walk names every stack of the chain (the top of
        // the stack each frame returns into) and where frame records lie.
        let mut frames = Vec::new();
        s.walk_here(|f| {
            frames.push(f);
            f.stack_top != 0
        });
        let size = s.stack_size();
        let mut tops: Vec<usize> = Vec::new();
        for f in &frames {
            if f.stack_top != 0 && !tops.contains(&f.stack_top) {
                tops.push(f.stack_top);
            }
        }
        let stacks = tops
            .iter()
            .map(|&top| {
                let lowest = frames
                    .iter()
                    .map(|f| f.fp)
                    .filter(|&fp| fp >= top - size && fp < top)
                    .min()
                    .unwrap_or(top - 16);
                let from = lowest & !7;
                let words = (from..top)
                    .step_by(8)
                    .map(|addr| {
                        // SAFETY: `addr` lies between a frame record of
                        // the stack whose top is `top` and that top. That
                        // stack belongs to a continuation of the chain
                        // running on this CPU (the kernel's walk found it
                        // there, from this function's frame), so it is
                        // live while this function runs, and everything
                        // between its lowest frame and its top has been
                        // touched, so is mapped. The read is aligned.
                        unsafe { core::ptr::read_volatile(addr as *const usize) }
                    })
                    .collect();
                StackCopy { top, from, words }
            })
            .collect();
        ChainSnapshot { stacks }
    }

    /// The stacks of the chain, innermost first.
    pub fn stacks(&self) -> &[StackCopy] {
        &self.stacks
    }

    /// The word at `addr` as the snapshot saw it: `None` unless `addr` is
    /// 8-byte aligned and the whole word lies in the copied part of one of
    /// the chain's stacks.
    pub fn read(&self, addr: usize) -> Option<usize> {
        if addr % 8 != 0 {
            return None;
        }
        let stack = self
            .stacks
            .iter()
            .find(|s| addr >= s.from && addr + 8 <= s.top)?;
        stack.words.get((addr - stack.from) / 8).copied()
    }
}
