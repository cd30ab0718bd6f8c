//! Traps: why a continuation was ended, and where it was.
//!
//! A trap travels one parent at a time (as in Wasmtime 48). It ends the
//! continuation that raised it, and comes back as `Err(trap)` from the
//! `resume` (or `switch`) that ran that continuation, on the resumer's own
//! stack, like any other outcome. The resumer decides: kernel code reports
//! it; guest code may handle it, or pass it on with `?`, so that every frame
//! between returns normally and its destructors run. Only the frames of a
//! continuation that faulted or panicked are abandoned. A runtime operation
//! that fails inside a guest (a consumed handle, an unhandled tag) simply
//! returns `Err` to that guest.
//!
//! A trap is a plain 256-byte value: no heap, so the kernel's fault and
//! panic handlers can build one while the heap's lock may be held by the
//! code that faulted.
//!
//! The backtrace is a list of return addresses from a frame-pointer walk at
//! the trap point. It crosses from a continuation into its parent through
//! the start trampoline's frame record (see [`crate::cont::machine::switch`]). The trap
//! keeps the first [`MAX_FRAMES`]; the whole walk, every stack of the chain
//! down to the kernel's, is kept beside it in a per-CPU ring
//! ([`super::trace`]), and [`Trap::report`] prints it, frames named and
//! grouped by stack (`docs/debugging.md` shows how to read one).
//!
//! A trap made by a guest with [`Trap::guest`] takes its backtrace where it
//! is made, so its first frame is the guest function that made it.

use core::fmt;

use super::trace::Trace;

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
    /// `cont.new` of a function made by another store, or by a store that
    /// has been dropped: a function belongs to the store that made it, and
    /// its record is never read by another.
    ForeignFunc,
    /// No enclosing `resume` installed a handler for the tag (or a
    /// suspend/switch was attempted outside any continuation).
    UnhandledTag,
    /// The function's args buffer would not leave enough native stack.
    TooManyArguments,
    /// The values given do not match the types the continuation expects.
    SignatureMismatch,
    /// The stack provider had no stack to give, or the store holds as many
    /// as its limit ([`crate::cont::StoreLimits::stacks`]) allows.
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
    /// Guest code panicked (an index out of bounds, Rust's checked `/` by
    /// zero, an `unwrap` of `None`, a `panic!`): the panic's message and
    /// location are the trap's [`Trap::text`].
    Panic,
    /// A `resume`, `suspend` or `switch` while this CPU holds a kernel lock
    /// ([`crate::sync`]), or a continuation that returned holding one: the
    /// lock would stay taken by code that no longer runs. The message names
    /// the lock.
    LockHeld,
    /// What a suspended continuation's pending `suspend` or `switch`
    /// returns when its handle is dropped: the continuation is being
    /// cancelled. Propagated with `?`, it lets every frame return (and its
    /// destructors run) before the stack goes back to the pool.
    Cancelled,
    /// Not a trap but a WebAssembly *exception*: raised by
    /// [`crate::cont::Store::resume_throw`] at a continuation's suspension point
    /// (the `Err` of its pending `suspend` or `switch`), or at once for a
    /// fresh continuation. A guest may handle it or pass it on; one that
    /// leaves its function reaches the resumer as this `Err`. Its payload is
    /// read with [`crate::cont::Store::exception_payload`].
    Exception { tag: u32 },
    /// A `resume` of this store's continuation while a continuation of
    /// another store runs on this CPU: stores do not nest (a chain holds
    /// the continuations of one store only; see `docs/guarantees.md`).
    OtherStoreRunning,
    /// `cont.new` in a store made after the boot's 2^24 - 1 store ids were
    /// taken: it can define functions and tags, but no continuations.
    TooManyStores,
    /// A guest allocation was refused: it would have taken its store past
    /// its heap quota ([`crate::cont::StoreLimits::heap_bytes`]), or all guests
    /// past their pool, or the heap had no room. The trap's text is the
    /// allocation-error panic's (`memory allocation of N bytes failed`).
    OutOfMemory,
}

/// The most return addresses a trap carries itself: few enough that a
/// whole `Trap` stays within 256 bytes, so `Result<_, Trap>` stays cheap to
/// pass. The full walk is kept beside it: see [`Backtrace::trace`].
pub const MAX_FRAMES: usize = 10;

/// Return addresses, innermost first: the first [`MAX_FRAMES`] of the walk,
/// and the id of the full walk in this CPU's ring of traces.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Backtrace {
    frames: [usize; MAX_FRAMES],
    len: u8,
    /// 1: the first frame is a faulting instruction. A `u8`, not a `bool`:
    /// a `bool` has more invalid values than `TrapKind`'s tag, so the
    /// compiler would keep the discriminant of every `Result<_, Trap>` in
    /// it, and the hot paths that build an `Ok` would change.
    first_is_ip: u8,
    /// The id of the full walk in [`super::trace`] (0: none).
    trace: u32,
}

impl Backtrace {
    pub const EMPTY: Backtrace = Backtrace {
        frames: [0; MAX_FRAMES],
        len: 0,
        first_is_ip: 0,
        trace: 0,
    };

    /// Appends one return address; returns false when full.
    pub fn push(&mut self, return_address: usize) -> bool {
        if self.len as usize == MAX_FRAMES {
            return false;
        }
        self.frames[self.len as usize] = return_address;
        self.len += 1;
        true
    }
    pub fn frames(&self) -> &[usize] {
        &self.frames[..self.len as usize]
    }
    /// Whether the first frame is the faulting instruction itself rather
    /// than a return address.
    pub fn first_is_ip(&self) -> bool {
        self.first_is_ip != 0
    }
    pub(crate) fn set_first_is_ip(&mut self) {
        self.first_is_ip = 1;
    }
    pub(crate) fn set_trace(&mut self, id: u32) {
        self.trace = id;
    }
    /// The whole walk, every frame on every stack of the chain (up to
    /// [`super::trace::MAX_TRACE`]), if it is still in this CPU's ring: it is
    /// until [`super::trace::TRACES`] later traps have been raised. A
    /// copy (6 KiB).
    pub fn trace(&self) -> Option<Trace> {
        super::trace::get(self.trace)
    }
}

impl fmt::Debug for Backtrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.frames().iter().map(|a| *a as *const u8))
            .finish()
    }
}

/// Bytes of text a trap can carry (a panic's message and location; longer
/// text is cut at a character boundary).
pub const TEXT_BYTES: usize = 126;

/// Text made at run time, kept inside the trap: a trap can be raised where
/// nothing may allocate (a panic on a guest stack, while the heap's lock
/// may be taken by the code that panicked).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TrapText {
    bytes: [u8; TEXT_BYTES],
    len: u8,
}

impl TrapText {
    pub const EMPTY: TrapText = TrapText {
        bytes: [0; TEXT_BYTES],
        len: 0,
    };

    pub fn as_str(&self) -> &str {
        // Only whole characters are ever appended (see `write_str`).
        core::str::from_utf8(&self.bytes[..self.len as usize]).unwrap_or("")
    }
}

impl fmt::Write for TrapText {
    /// Appends as much of `s` as fits, never splitting a character.
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = TEXT_BYTES - self.len as usize;
        let mut take = s.len().min(room);
        while !s.is_char_boundary(take) {
            take -= 1;
        }
        let start = self.len as usize;
        self.bytes[start..start + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take as u8;
        Ok(())
    }
}

impl fmt::Debug for TrapText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

/// A trap: its kind, a message for people, and where it happened: the
/// return addresses at the trap point, and the continuation it came from
/// (the top of its stack; 0 when kernel code trapped outside any). A
/// panic's trap also carries its formatted message and location as `text`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trap {
    kind: TrapKind,
    message: &'static str,
    backtrace: Backtrace,
    origin: usize,
    text: TrapText,
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
            text: TrapText::EMPTY,
        }
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
    /// Text made when the trap was raised: for [`TrapKind::Panic`], the
    /// panic's message and location; for a refused definition passed on
    /// with `?` (a [`TrapKind::Guest`] trap), what was refused; empty
    /// otherwise.
    pub fn text(&self) -> &str {
        self.text.as_str()
    }
    /// The same trap carrying `text` (see [`Trap::text`]).
    pub fn with_text(mut self, text: TrapText) -> Trap {
        self.text = text;
        self
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
        write!(f, "trap: {:?}: {}", self.kind, self.message)?;
        if !self.text().is_empty() {
            write!(f, ": {}", self.text())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trap_fits_in_256_bytes() {
        assert_eq!(core::mem::size_of::<Trap>(), 256);
    }

    #[test]
    fn trap_text_keeps_what_fits_and_never_splits_a_character() {
        use core::fmt::Write;
        let mut t = TrapText::EMPTY;
        write!(t, "{}", "ab".repeat(100)).unwrap();
        assert_eq!(t.as_str().len(), TEXT_BYTES);
        let mut t = TrapText::EMPTY;
        write!(t, "{}é", "x".repeat(TEXT_BYTES - 1)).unwrap();
        assert_eq!(t.as_str(), "x".repeat(TEXT_BYTES - 1));
    }

    #[test]
    fn backtrace_stops_when_full() {
        let mut bt = Backtrace::EMPTY;
        for a in 0..MAX_FRAMES {
            assert!(bt.push(0x1000 + a));
        }
        assert!(!bt.push(0x2000));
        assert_eq!(bt.frames().len(), 10);
        assert_eq!(bt.frames()[9], 0x1009);
    }
}
