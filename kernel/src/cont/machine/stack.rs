//! The continuation stack: where a continuation's control context, launch
//! words and args buffer sit, to the byte (`docs/spec.md` §1).
//!
//! Each continuation runs on a stack of its own. The few words at its top are
//! shared between the assembly in [`super::switch`] (which reads and writes
//! them with fixed offsets), the Rust that prepares a fresh continuation
//! ([`ContStack::initialize`]) and the runtime that passes values in and out
//! through the args buffer. Keeping the whole layout in this one module, with
//! each offset a `const fn`, means the assembly, the runtime and the tests all
//! agree on one table:
//!
//! ```text
//!  offset from TOS   contents                                   written by
//!  ---------------   ----------------------------------------   ---------------
//!   TOS              (one past the highest byte; page aligned)
//!  -0x08             saved RIP  \                               initialize,
//!  -0x10             saved RBP   > control context (3 words)    every switch
//!  -0x18             saved RSP  /  starts here: RSP +0, RBP +8,
//!                                  RIP +16
//!  -0x20             args_capacity                              initialize
//!  -0x20-s .. -0x20  args/results buffer: args_capacity         resume, bind,
//!                    16-byte ValRaw slots (s = 16*capacity)     the guest
//!  -0x28-s           func_ref     (guest function record)      initialize
//!  -0x30-s           caller_vmctx (the Store)                   initialize
//!  -0x38-s           args object pointer {length, capacity,     initialize
//!                    data}
//!  -0x40-s           return_value_count   <- initial RSP        initialize
//!   below            usable native stack, 16-byte aligned        the guest
//!   bottom page(s)   guard: never mapped, a touch faults        the provider
//! ```
//!
//! The control context holds, while the continuation is *active* (running or
//! an ancestor of the running one), the RSP/RBP/RIP of its **parent** (where
//! control goes when it returns or suspends past it). When a segment is
//! suspended, the point where it stopped is in the control context of its
//! **outermost** stack (`last_ancestor`): the continuation's own context
//! when the segment is one stack; the inner stacks of a longer segment keep
//! their parents' resume points, as while active. A fresh continuation
//! looks suspended at the first instruction of the start trampoline, with
//! RSP at the launch words and RBP at the saved-RBP slot.
//!
//! Alignment: TOS is page aligned and every piece above the native stack is
//! a multiple of 16 bytes, so the initial RSP `TOS-0x40-s` is 16-byte
//! aligned; after the trampoline pops the four launch words RSP is
//! `TOS-0x20-s`, still 16-byte aligned, as the System V ABI wants at a `call`.

use super::call::{FuncRecord, VMContext};
use crate::cont::values::val::ValRaw;

/// Size of one value slot in the args buffer.
pub const SLOT: usize = core::mem::size_of::<ValRaw>();
/// Offset below TOS of the saved-RIP slot.
pub const RIP_OFFSET: usize = 0x08;
/// Offset below TOS of the saved-RBP slot (and the trampoline's frame pointer).
pub const RBP_OFFSET: usize = 0x10;
/// Offset below TOS of the saved-RSP slot, where the control context starts.
pub const CONTROL_CONTEXT_OFFSET: usize = 0x18;
/// Offset below TOS of the `args_capacity` word.
pub const ARGS_CAPACITY_OFFSET: usize = 0x20;
/// Native stack the guest must have below the header at the least, or
/// `cont.new` refuses the function (one page).
pub const MIN_NATIVE_STACK: usize = 4096;

/// `s`: the size in bytes of the args buffer.
pub const fn args_bytes(args_capacity: usize) -> usize {
    args_capacity * SLOT
}
/// Offset below TOS of the lowest byte of the args buffer (`0x20 + s`).
pub const fn args_buffer_offset(args_capacity: usize) -> usize {
    0x20 + args_bytes(args_capacity)
}
/// Offset below TOS of the `func_ref` launch word.
pub const fn func_ref_offset(args_capacity: usize) -> usize {
    0x28 + args_bytes(args_capacity)
}
/// Offset below TOS of the `caller_vmctx` launch word.
pub const fn caller_vmctx_offset(args_capacity: usize) -> usize {
    0x30 + args_bytes(args_capacity)
}
/// Offset below TOS of the args-object-pointer launch word.
pub const fn args_object_offset(args_capacity: usize) -> usize {
    0x38 + args_bytes(args_capacity)
}
/// Offset below TOS of the `return_value_count` launch word, which is also
/// where RSP starts: the header is this many bytes.
pub const fn initial_rsp_offset(args_capacity: usize) -> usize {
    0x40 + args_bytes(args_capacity)
}
/// Whether a function needing `args_capacity` slots fits on a stack of `len`
/// usable bytes, leaving [`MIN_NATIVE_STACK`] for the guest to run on.
pub const fn fits(len: usize, args_capacity: usize) -> bool {
    match args_capacity.checked_mul(SLOT) {
        Some(s) => match s.checked_add(0x40 + MIN_NATIVE_STACK) {
            Some(need) => need <= len,
            None => false,
        },
        None => false,
    }
}

/// The args array object of `docs/spec.md` §1, owned by the `ContRef`: how many
/// values the buffer holds, how many it can hold, and where it is.
/// `length` follows `docs/spec.md` §1 exactly: 0 from `initialize` until the
/// function returns, then the number of results written over the
/// arguments. (Arguments placed before the first resume, by `resume` or
/// `cont.bind`, are passed by the `ContRef`'s inbox pointer, not counted
/// here.)
#[derive(Debug)]
#[repr(C)]
pub struct ArgsObject {
    pub length: u32,
    pub capacity: u32,
    pub data: *mut ValRaw,
}

impl ArgsObject {
    pub const EMPTY: ArgsObject = ArgsObject {
        length: 0,
        capacity: 0,
        data: core::ptr::null_mut(),
    };
}

/// One continuation stack, as handed out by a [`super::provider::StackProvider`].
///
/// ```text
///  top ------------> +------------------+  TOS (page aligned)
///                    | header (above)   |
///                    | native stack     |  len bytes, read/write
///  top - len ------> +------------------+
///                    | guard            |  guard bytes, never mapped
///  top - len - guard +------------------+
/// ```
#[derive(Debug, PartialEq, Eq)]
pub struct ContStack {
    top: *mut u8,
    len: usize,
    guard: usize,
}

impl ContStack {
    /// No stack: what a `ContRef` on the free list holds. Crate-private:
    /// safe code only ever holds stacks a provider made.
    pub(crate) const UNALLOCATED: ContStack = ContStack {
        top: core::ptr::null_mut(),
        len: 0,
        guard: 0,
    };

    /// Describes a stack whose usable bytes are `top-len .. top`, with
    /// `guard` unmapped bytes below.
    ///
    /// # Safety
    /// `top - len .. top` must be writable memory owned by whoever frees this
    /// stack, `top` page aligned, and the `guard` bytes below unmapped.
    pub const unsafe fn from_raw_parts(top: *mut u8, len: usize, guard: usize) -> ContStack {
        ContStack { top, len, guard }
    }

    /// TOS: one past the highest usable byte.
    #[inline]
    pub fn top(&self) -> *mut u8 {
        self.top
    }
    /// Usable bytes below TOS.
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }
    /// Whether the stack has no usable bytes (never true for a real stack).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// Guard bytes below the usable stack.
    pub fn guard(&self) -> usize {
        self.guard
    }
    /// The lowest usable address.
    pub fn bottom(&self) -> *mut u8 {
        self.top.wrapping_sub(self.len)
    }
    /// Whether `addr` lies in the usable part of this stack.
    pub fn contains(&self, addr: usize) -> bool {
        (self.bottom() as usize..self.top as usize).contains(&addr)
    }

    /// The address of the control context (`TOS-0x18`): three words, RSP at
    /// +0, RBP at +8, RIP at +16.
    #[inline]
    pub fn control_context(&self) -> *mut ControlContext {
        self.top.wrapping_sub(CONTROL_CONTEXT_OFFSET).cast()
    }
    /// The saved RSP (`TOS-0x18`).
    pub fn saved_rsp(&self) -> usize {
        // SAFETY: the three control-context words are inside the usable
        // stack (`from_raw_parts` contract) and always initialized by
        // `initialize` before any reader sees this stack in a ContRef.
        unsafe { (*self.control_context()).rsp }
    }
    /// The saved RBP (`TOS-0x10`).
    pub fn saved_rbp(&self) -> usize {
        // SAFETY: as in `saved_rsp`.
        unsafe { (*self.control_context()).rbp }
    }
    /// The saved RIP (`TOS-0x08`).
    pub fn saved_rip(&self) -> usize {
        // SAFETY: as in `saved_rsp`.
        unsafe { (*self.control_context()).rip }
    }

    /// Writes the `docs/spec.md` §1 header for a continuation that will run `func_ref`
    /// with `param_count` parameters and `result_count` results, and points
    /// the `args` object at the args buffer (length 0). Afterwards a switch
    /// that loads this stack's control context enters the start trampoline.
    ///
    /// # Safety
    /// The stack must be owned by the caller and not in use; `args` must
    /// stay valid until the continuation ends; the function must [`fits`].
    pub unsafe fn initialize(
        &self,
        func_ref: *const FuncRecord,
        caller_vmctx: *mut VMContext,
        args: *mut ArgsObject,
        param_count: usize,
        result_count: usize,
    ) {
        let cap = param_count.max(result_count);
        debug_assert!(fits(self.len, cap));
        let tos = self.top;
        let data = if cap == 0 {
            core::ptr::null_mut()
        } else {
            tos.wrapping_sub(args_buffer_offset(cap)).cast::<ValRaw>()
        };
        let words = [
            // The control context: what a switch into a fresh stack loads.
            (RIP_OFFSET, super::switch::start_trampoline_address()),
            (RBP_OFFSET, tos as usize - RBP_OFFSET),
            (
                CONTROL_CONTEXT_OFFSET,
                tos as usize - initial_rsp_offset(cap),
            ),
            (ARGS_CAPACITY_OFFSET, cap),
            // The launch words the trampoline pops, last pushed first.
            (func_ref_offset(cap), func_ref as usize),
            (caller_vmctx_offset(cap), caller_vmctx as usize),
            (args_object_offset(cap), args as usize),
            (initial_rsp_offset(cap), result_count),
        ];
        for (offset, word) in words {
            // SAFETY: every offset is at most `initial_rsp_offset(cap)`,
            // which `fits` keeps inside the usable stack; all offsets are
            // multiples of 8 below a page-aligned TOS, so aligned.
            unsafe { tos.sub(offset).cast::<usize>().write(word) };
        }
        // SAFETY: the caller guarantees `args` is valid and unaliased now.
        unsafe {
            *args = ArgsObject {
                length: 0,
                capacity: cap as u32,
                data,
            };
        }
    }
}

/// The three words of a control context, in memory order from `TOS-0x18`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ControlContext {
    pub rsp: usize,
    pub rbp: usize,
    pub rip: usize,
}

/// Where each word of a [`ControlContext`] sits inside it: the offsets the
/// switch's assembly uses (as `const` operands, so they cannot drift).
pub const CTX_RSP: usize = core::mem::offset_of!(ControlContext, rsp);
pub const CTX_RBP: usize = core::mem::offset_of!(ControlContext, rbp);
pub const CTX_RIP: usize = core::mem::offset_of!(ControlContext, rip);

/// The start trampoline addresses the control context from its frame
/// pointer, which stays at `TOS-0x10`: the saved RSP is this far below it,
/// the saved RIP this far above it.
pub const TRAMPOLINE_RSP_BELOW_RBP: usize = CONTROL_CONTEXT_OFFSET - RBP_OFFSET;
pub const TRAMPOLINE_RIP_ABOVE_RBP: usize = RBP_OFFSET - RIP_OFFSET;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_offsets_match_the_spec_for_capacity_0_1_2_5() {
        // (capacity, s, args buffer, func_ref, caller_vmctx, args object, initial RSP)
        let expected = [
            (0, 0x00, 0x20, 0x28, 0x30, 0x38, 0x40),
            (1, 0x10, 0x30, 0x38, 0x40, 0x48, 0x50),
            (2, 0x20, 0x40, 0x48, 0x50, 0x58, 0x60),
            (5, 0x50, 0x70, 0x78, 0x80, 0x88, 0x90),
        ];
        for (cap, s, buf, func, vmctx, obj, rsp) in expected {
            assert_eq!(args_bytes(cap), s);
            assert_eq!(args_buffer_offset(cap), buf);
            assert_eq!(func_ref_offset(cap), func);
            assert_eq!(caller_vmctx_offset(cap), vmctx);
            assert_eq!(args_object_offset(cap), obj);
            assert_eq!(initial_rsp_offset(cap), rsp);
        }
        assert_eq!(
            (
                RIP_OFFSET,
                RBP_OFFSET,
                CONTROL_CONTEXT_OFFSET,
                ARGS_CAPACITY_OFFSET
            ),
            (8, 0x10, 0x18, 0x20)
        );
    }

    #[test]
    fn layout_keeps_initial_and_post_pop_rsp_16_byte_aligned() {
        for cap in [0, 1, 2, 5, 16, 255] {
            assert_eq!(initial_rsp_offset(cap) % 16, 0, "capacity {cap}");
            // After the trampoline pops four words, RSP = TOS - 0x20 - s.
            assert_eq!((initial_rsp_offset(cap) - 4 * 8) % 16, 0, "capacity {cap}");
            assert_eq!(args_buffer_offset(cap) % 16, 0, "capacity {cap}");
        }
    }

    #[test]
    fn control_context_words_are_rsp_rbp_rip_from_tos_minus_0x18() {
        assert_eq!(core::mem::offset_of!(ControlContext, rsp), 0);
        assert_eq!(core::mem::offset_of!(ControlContext, rbp), 8);
        assert_eq!(core::mem::offset_of!(ControlContext, rip), 16);
        assert_eq!(CONTROL_CONTEXT_OFFSET - RBP_OFFSET, 8);
        assert_eq!(CONTROL_CONTEXT_OFFSET - RIP_OFFSET, 16);
    }

    #[test]
    fn fits_refuses_a_header_that_leaves_less_than_a_page() {
        assert!(fits(65536, 0));
        assert!(fits(65536, (65536 - 0x40 - 4096) / 16));
        assert!(!fits(65536, (65536 - 0x40 - 4096) / 16 + 1));
        assert!(!fits(65536, usize::MAX / 8));
    }
}
