//! Wasm traps and exceptions: how the interpreter leaves a function
//! abnormally, and the words the specification uses for each trap.
//!
//! An interpreted function ends in one of two abnormal ways, and both are
//! plain `Err` values returned up the Rust frames of the interpreter (so
//! every frame returns normally, in a continuation too):
//!
//! * a *trap* (`Unwind::Trap`): the runtime's own [`Trap`] value, which no
//!   Wasm code can catch. The interpreter raises its own traps with the
//!   specification's reason as the message ("unreachable", "integer divide
//!   by zero", ...); traps the runtime raises (a consumed continuation, an
//!   unhandled tag) keep the runtime's kind, and [`reason`] gives their
//!   Wasm wording.
//! * an *exception* (`Unwind::Exn`): a Wasm `throw`, which `try_table` can
//!   catch. Crossing a continuation boundary it travels as the runtime's
//!   `TrapKind::Exception` with the payload in the store, and becomes an
//!   `Exn` again on the resumer's side.

use crate::cont::dynamic::Tag;
use crate::cont::{Trap, TrapKind, ValRaw};
use alloc::boxed::Box;
use alloc::vec::Vec;

/// A thrown Wasm exception: its tag (the runtime's) and payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exn {
    pub tag: Tag,
    pub payload: Vec<ValRaw>,
}

/// Why an interpreted function did not return normally. Both are boxed,
/// so that the `Result` every interpreted call returns is two words: the
/// interpreter's native frames stay small, which decides how deep Wasm
/// calls can go on a continuation's stack.
#[derive(Debug)]
pub enum Unwind {
    Trap(Box<Trap>),
    Exn(Box<Exn>),
}

impl Unwind {
    /// A runtime trap, boxed.
    #[cold]
    pub fn trap(t: Trap) -> Unwind {
        Unwind::Trap(Box::new(t))
    }
    /// An exception, boxed.
    #[cold]
    pub fn exn(e: Exn) -> Unwind {
        Unwind::Exn(Box::new(e))
    }
}

/// The interpreter's traps, in the specification's words.
pub const UNREACHABLE: &str = "unreachable";
pub const OUT_OF_BOUNDS_MEMORY: &str = "out of bounds memory access";
pub const OUT_OF_BOUNDS_TABLE: &str = "out of bounds table access";
pub const UNDEFINED_ELEMENT: &str = "undefined element";
pub const UNINITIALIZED_ELEMENT: &str = "uninitialized element";
pub const INDIRECT_TYPE_MISMATCH: &str = "indirect call type mismatch";
/// A `call_ref` of a function a host passed in, of another type.
pub const FUNCTION_TYPE_MISMATCH: &str = "function reference of another type";
/// A resumed continuation a host passed in, of another result type.
pub const CONTINUATION_TYPE_MISMATCH: &str = "continuation returned results of another type";
pub const NULL_FUNCTION: &str = "null function reference";
pub const NULL_REFERENCE: &str = "null reference";
pub const NULL_CONTINUATION: &str = "null continuation reference";
pub const CONSUMED: &str = "continuation already consumed";
pub const NULL_EXCEPTION: &str = "null exception reference";
pub const UNHANDLED: &str = "unhandled tag";
pub const STACK_EXHAUSTED: &str = "call stack exhausted";
/// A reference made by another instance, or of another kind (only a host
/// can hand one in).
pub const FOREIGN_REFERENCE: &str = "reference of another instance or kind";
/// A memory or table another call holds borrowed: one preempted in the
/// middle of a bulk instruction, a grow or a WASI call, whose borrow
/// stays out while it waits to be resumed.
pub const IN_USE: &str = "memory or table in use by a preempted call";
/// No heap left to keep an exception reference.
pub const OUT_OF_MEMORY: &str = "out of memory";
/// A call past its deadline (`Instance::set_tick_budget`).
pub const TIMED_OUT: &str = "timed out";

/// A trap the interpreter raises, of the runtime kind that fits.
#[cold]
#[inline(never)]
pub fn wasm_trap(reason: &'static str) -> Unwind {
    let kind = match reason {
        super::num::DIVIDE_BY_ZERO => TrapKind::DivideByZero,
        NULL_CONTINUATION => TrapKind::NullContinuation,
        _ => TrapKind::Guest,
    };
    Unwind::trap(Trap::new(kind, reason))
}

/// The trap of a `call_indirect` through a null element: its text is the
/// element's index, as the specification's interpreter says it
/// (`uninitialized element 2`; see [`detail`]).
#[cold]
#[inline(never)]
pub fn uninitialized_element(index: usize) -> Unwind {
    use core::fmt::Write;
    let mut text = crate::cont::TrapText::EMPTY;
    let _ = write!(text, "{index}");
    Unwind::trap(Trap::new(TrapKind::Guest, UNINITIALIZED_ELEMENT).with_text(text))
}

/// What the interpreter adds to a trap's [`reason`]: the element's index
/// for [`UNINITIALIZED_ELEMENT`]; empty for any other.
pub fn detail(trap: &Trap) -> &str {
    match (trap.kind(), trap.message()) {
        (TrapKind::Guest, UNINITIALIZED_ELEMENT) => trap.text(),
        _ => "",
    }
}

/// The specification's words for `trap`.
pub fn reason(trap: &Trap) -> &'static str {
    match trap.kind() {
        TrapKind::NullContinuation => NULL_CONTINUATION,
        TrapKind::ConsumedContinuation => CONSUMED,
        TrapKind::UnhandledTag => UNHANDLED,
        TrapKind::StackOverflow { .. } => STACK_EXHAUSTED,
        TrapKind::DivideByZero => super::num::DIVIDE_BY_ZERO,
        _ => trap.message(),
    }
}

/// A memory, table or element segment borrowed for reading, or the trap
/// [`IN_USE`] if another call holds it mutably. Never a panic: the other
/// call may be a guest the preemption stub stopped in the middle of a
/// bulk instruction (`docs/interrupts.md`), and `RefCell::borrow` would
/// then panic the kernel from safe code.
pub(crate) fn shared<T>(c: &core::cell::RefCell<T>) -> Result<core::cell::Ref<'_, T>, Unwind> {
    c.try_borrow().map_err(|_| wasm_trap(IN_USE))
}

/// The same, borrowed for writing: the trap if another call holds it at
/// all.
pub(crate) fn shared_mut<T>(
    c: &core::cell::RefCell<T>,
) -> Result<core::cell::RefMut<'_, T>, Unwind> {
    c.try_borrow_mut().map_err(|_| wasm_trap(IN_USE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_trap_kinds_read_in_the_proposals_words() {
        let t = Trap::new(TrapKind::ConsumedContinuation, "resume");
        assert_eq!(reason(&t), "continuation already consumed");
        let t = Trap::new(TrapKind::NullContinuation, "resume");
        assert_eq!(reason(&t), "null continuation reference");
        let t = Trap::new(TrapKind::Guest, "unreachable");
        assert_eq!(reason(&t), "unreachable");
    }
}
