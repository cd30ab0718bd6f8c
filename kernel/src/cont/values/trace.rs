//! A trap's full backtrace, kept outside the trap: a per-CPU ring of fixed
//! frame buffers, so a report can show every frame of a deep chain while
//! the `Trap` value itself stays 256 bytes.
//!
//! A trap is often built where nothing may allocate (a fault handler on an
//! interrupt stack, a panic while the heap's lock is held), and it is copied
//! on every `?`, so it carries only its first [`super::trap::MAX_FRAMES`]
//! return addresses. The whole walk, up to [`MAX_TRACE`] frames, goes into
//! the next buffer of this ring, and the trap keeps the buffer's *id*. Ids
//! only grow; a buffer remembers the id it was written for, so a trap whose
//! buffer has since been reused by [`TRACES`] later traps finds a different
//! id there and reports only its first frames, never another trap's.
//!
//! ```text
//!   ring (per CPU, TRACES buffers)          a Trap (256 bytes)
//!   +---------+---------+-----+--------+    +-----------------------+
//!   | id 17   | id 18   | ... | id 24  |    | kind, message         |
//!   | frames  | frames  |     | frames | <--- backtrace: 10 frames, |
//!   | [256]   | [256]   |     | [256]  |    |   trace id 24         |
//!   +---------+---------+-----+--------+    | origin, text          |
//!   buffer = id % TRACES                    +-----------------------+
//! ```
//!
//! Each frame names the stack its function ran on (the top of a
//! continuation stack, or 0 for the kernel's), so a report can group the
//! frames by stack, in chain order: see [`Trace::groups`].

use core::cell::UnsafeCell;

use crate::cpu_local::cpu_local;

/// The most frames a full backtrace keeps: more than any chain the tests
/// build (a walk stops here).
pub const MAX_TRACE: usize = 256;

/// How many full backtraces each CPU keeps: a trap's full backtrace can be
/// read until this many later traps have been raised on the same CPU.
pub const TRACES: usize = 8;

/// One frame of a full backtrace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceFrame {
    /// A return address, or for the first frame of a fault the address of
    /// the faulting instruction (then `is_return` is false).
    pub address: usize,
    /// The top (TOS) of the continuation stack the function at `address`
    /// ran on; 0: the kernel's own stack.
    pub stack_top: usize,
    /// Whether `address` is a return address, pointing just *after* a
    /// call (a symbolizer looks it up one byte earlier).
    pub is_return: bool,
}

impl TraceFrame {
    const EMPTY: TraceFrame = TraceFrame {
        address: 0,
        stack_top: 0,
        is_return: false,
    };

    /// The function of the running kernel this frame is in, and how far
    /// in (see [`crate::symbols::lookup_frame`]).
    pub fn locate(&self) -> Option<crate::symbols::Located> {
        crate::symbols::lookup_frame(self.address, self.is_return)
    }
}

/// A trap's full backtrace, innermost frame first.
#[derive(Clone, Copy)]
pub struct Trace {
    id: u32,
    len: u16,
    frames: [TraceFrame; MAX_TRACE],
}

impl Trace {
    pub const EMPTY: Trace = Trace {
        id: 0,
        len: 0,
        frames: [TraceFrame::EMPTY; MAX_TRACE],
    };

    /// Appends a frame; returns false when full.
    pub fn push(&mut self, frame: TraceFrame) -> bool {
        if self.len as usize == MAX_TRACE {
            return false;
        }
        self.frames[self.len as usize] = frame;
        self.len += 1;
        true
    }
    pub fn frames(&self) -> &[TraceFrame] {
        &self.frames[..self.len as usize]
    }
    /// The frames in runs of one stack each, in the order the walk met
    /// them: the innermost continuation first, then its parent, and so on
    /// out to the kernel's stack.
    pub fn groups(&self) -> Groups<'_> {
        Groups {
            rest: self.frames(),
        }
    }
}

/// A run of consecutive frames on one stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group<'a> {
    /// The top of the continuation stack (0: the kernel's stack).
    pub stack_top: usize,
    pub frames: &'a [TraceFrame],
}

/// The iterator [`Trace::groups`] returns.
pub struct Groups<'a> {
    rest: &'a [TraceFrame],
}

impl<'a> Iterator for Groups<'a> {
    type Item = Group<'a>;
    fn next(&mut self) -> Option<Group<'a>> {
        let stack_top = self.rest.first()?.stack_top;
        let n = self
            .rest
            .iter()
            .position(|f| f.stack_top != stack_top)
            .unwrap_or(self.rest.len());
        let (frames, rest) = self.rest.split_at(n);
        self.rest = rest;
        Some(Group { stack_top, frames })
    }
}

/// All zeros at boot, so the ring lies in `.bss`, not in the kernel's file.
struct Ring {
    /// The id the last trace got (ids start at 1; 0 means "none").
    last: u32,
    buffers: [Trace; TRACES],
}

cpu_local! {
    static RING: UnsafeCell<Ring> = UnsafeCell::new(Ring {
        last: 0,
        buffers: [Trace::EMPTY; TRACES],
    });
}

/// Fills the next buffer of this CPU's ring with `fill` and returns its id.
/// No allocation: safe in a fault handler.
pub(crate) fn record(fill: impl FnOnce(&mut Trace)) -> u32 {
    // SAFETY: the ring belongs to this CPU (see `cpu_local`), and no
    // reference into it outlives a call of `record` or `get`; `fill` walks
    // frames and writes the buffer, and raises no trap (it cannot re-enter).
    let ring = unsafe { &mut *RING.get() };
    let id = ring.last.wrapping_add(1).max(1);
    ring.last = id;
    let buffer = &mut ring.buffers[id as usize % TRACES];
    buffer.id = id;
    buffer.len = 0;
    fill(buffer);
    id
}

/// A copy of the trace with this id, if its buffer has not been reused.
pub(crate) fn get(id: u32) -> Option<Trace> {
    if id == 0 {
        return None;
    }
    // SAFETY: as in `record`; the buffer is copied out before returning.
    let ring = unsafe { &*RING.get() };
    let buffer = &ring.buffers[id as usize % TRACES];
    (buffer.id == id).then_some(*buffer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(address: usize, stack_top: usize) -> TraceFrame {
        TraceFrame {
            address,
            stack_top,
            is_return: true,
        }
    }

    #[test]
    fn groups_are_runs_of_one_stack_in_walk_order() {
        let mut t = Trace::EMPTY;
        for f in [
            frame(0x10, 0x3000),
            frame(0x11, 0x3000),
            frame(0x20, 0x2000),
            frame(0x30, 0x1000),
            frame(0x31, 0x1000),
            frame(0x40, 0),
            frame(0x41, 0),
        ] {
            assert!(t.push(f));
        }
        let groups: std::vec::Vec<_> = t
            .groups()
            .map(|g| {
                let addresses: std::vec::Vec<_> = g.frames.iter().map(|f| f.address).collect();
                (g.stack_top, addresses)
            })
            .collect();
        assert_eq!(
            groups,
            [
                (0x3000, std::vec![0x10, 0x11]),
                (0x2000, std::vec![0x20]),
                (0x1000, std::vec![0x30, 0x31]),
                (0, std::vec![0x40, 0x41]),
            ]
        );
    }

    #[test]
    fn an_empty_trace_has_no_groups() {
        assert_eq!(Trace::EMPTY.groups().count(), 0);
    }

    #[test]
    fn a_trace_keeps_max_trace_frames_then_refuses() {
        let mut t = Trace::EMPTY;
        for a in 0..MAX_TRACE {
            assert!(t.push(frame(a, 0)));
        }
        assert!(!t.push(frame(0xdead, 0)));
        assert_eq!(t.frames().len(), MAX_TRACE);
        assert_eq!(t.frames()[MAX_TRACE - 1].address, MAX_TRACE - 1);
    }

    #[test]
    fn a_recorded_trace_is_found_by_its_id_until_its_buffer_is_reused() {
        let first = record(|t| {
            t.push(frame(0xaaa, 0));
        });
        assert_eq!(get(first).map(|t| t.frames()[0].address), Some(0xaaa));
        for _ in 0..TRACES - 1 {
            record(|_| {});
        }
        assert!(get(first).is_some(), "still within the last TRACES");
        record(|_| {});
        assert!(get(first).is_none(), "buffer reused by a later trace");
        assert!(get(0).is_none());
    }
}
