//! Traps: why a chain of continuations was ended, and where it was.
//!
//! A WebAssembly trap is not an exception: guest code can neither catch it
//! nor run anything after it. When something goes wrong inside a
//! continuation (a consumed handle, an unhandled tag, a guest that reports
//! failure, a CPU fault), the runtime ends *every* stack of the running
//! chain and hands a [`Trap`] to the kernel code that started the chain, as
//! the `Err` of its outermost `resume`. A trap is a plain value: no heap,
//! so the kernel's fault handlers can build one while the heap's lock may be
//! held by the code that faulted.
//!
//! The backtrace is a list of return addresses from a frame-pointer walk at
//! the trap point. It crosses from a continuation into its parent through
//! the start trampoline's frame record (see [`super::switch`]).

use core::fmt;

/// Why a chain trapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrapKind {
    /// `resume`/`bind`/`switch`/drop of `ContObj::NULL`.
    NullContinuation,
    /// A handle whose revision is not the continuation's: it was already
    /// resumed, bound, switched to or dropped (continuations are one-shot).
    ConsumedContinuation,
    /// A handle made by another store: a continuation belongs to the store
    /// that created it.
    ForeignContinuation,
    /// No enclosing `resume` installed a handler for the tag (or a
    /// suspend/switch was attempted outside any continuation).
    UnhandledTag,
    /// The function's args buffer would not leave enough native stack.
    TooManyArguments,
    /// The values given do not match the types the continuation expects.
    SignatureMismatch,
    /// The stack provider had no stack to give.
    OutOfStacks,
    /// A guest function returned `false` without saying why.
    GuestFailure,
    /// A guest function returned `Err(trap)`: the kind it chose is kept,
    /// this one is for guests that do not pick a more precise one.
    Guest,
    /// A touch of a continuation's guard page, at `addr`.
    StackOverflow { addr: u64 },
    /// `#DE`.
    DivideByZero,
    /// `#UD`.
    InvalidOpcode,
    /// `#PF` at `addr` (outside any guard page).
    PageFault { addr: u64 },
    /// `#GP`.
    GeneralProtection,
    /// Any other CPU exception raised by guest code, by vector number
    /// (overflow, bound range, stack-segment fault, alignment check, ...).
    CpuException { vector: u8 },
}

/// The most return addresses a backtrace keeps: few enough that a whole
/// `Trap` stays within 128 bytes, so `Result<_, Trap>` stays cheap to pass.
pub const MAX_FRAMES: usize = 10;

/// Return addresses, innermost first.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Backtrace {
    frames: [usize; MAX_FRAMES],
    len: usize,
}

impl Backtrace {
    pub const EMPTY: Backtrace = Backtrace {
        frames: [0; MAX_FRAMES],
        len: 0,
    };

    /// Appends one return address; returns false when full.
    pub fn push(&mut self, return_address: usize) -> bool {
        if self.len == MAX_FRAMES {
            return false;
        }
        self.frames[self.len] = return_address;
        self.len += 1;
        true
    }
    pub fn frames(&self) -> &[usize] {
        &self.frames[..self.len]
    }
}

impl fmt::Debug for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.frames().iter().map(|a| *a as *const u8))
            .finish()
    }
}

/// A trap: its kind, a message for people, and where it happened: the
/// return addresses at the trap point, and the continuation it came from
/// (the top of its stack; 0 when kernel code trapped outside any).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    kind: TrapKind,
    message: &'static str,
    backtrace: Backtrace,
    origin: usize,
}

impl Trap {
    /// A trap with an empty backtrace; the runtime fills the backtrace in
    /// when the trap is raised.
    pub const fn new(kind: TrapKind, message: &'static str) -> Trap {
        Trap {
            kind,
            message,
            backtrace: Backtrace::EMPTY,
            origin: 0,
        }
    }
    /// What a guest closure returns to trap: kind [`TrapKind::Guest`].
    pub const fn guest(message: &'static str) -> Trap {
        Trap::new(TrapKind::Guest, message)
    }
    pub fn kind(&self) -> TrapKind {
        self.kind
    }
    pub fn message(&self) -> &'static str {
        self.message
    }
    pub fn backtrace(&self) -> &Backtrace {
        &self.backtrace
    }
    /// The top of the stack of the continuation that trapped (0: none).
    pub fn origin(&self) -> usize {
        self.origin
    }
    pub(crate) fn set_backtrace(&mut self, backtrace: Backtrace) {
        self.backtrace = backtrace;
    }
    pub(crate) fn set_origin(&mut self, stack_top: usize) {
        self.origin = stack_top;
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "trap: {:?}: {}", self.kind, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_fits_in_128_bytes_and_backtrace_stops_when_full() {
        assert!(
            core::mem::size_of::<Trap>() <= 128,
            "{}",
            core::mem::size_of::<Trap>()
        );
        let mut bt = Backtrace::EMPTY;
        for a in 0..MAX_FRAMES {
            assert!(bt.push(0x1000 + a));
        }
        assert!(!bt.push(0x2000));
        assert_eq!(bt.frames().len(), 10);
        assert_eq!(bt.frames()[9], 0x1009);
    }
}
