//! The continuation object (`ContRef`), the handle guests hold (`ContObj`),
//! and the small value types that cross a resume: tags, handlers, values.
//!
//! A `ContRef` is the runtime's record of one stack: its state, where its
//! control context is, who its parent is, and a mailbox for values. The
//! [`super::Store`] allocates each `ContRef` once and recycles it through a
//! free list; it is never deallocated while the store lives. So a handle
//! can be a plain pointer plus a *revision*: every use of a continuation
//! (resume, bind, switch-to, drop) bumps the revision, and a handle whose
//! revision differs is stale and traps as consumed. That gives Wasm's
//! one-shot rule for the price of one compare, and stays sound after the
//! `ContRef` has been recycled for another continuation, because revisions
//! are never reset.
//!
//! Chains and segments. Running continuations form a chain through
//! `parent` from the innermost (the store's `current`) out to one whose
//! parent is null (the kernel's own stack). A *suspended* continuation is a
//! segment of that chain cut off by a suspend: its innermost `ContRef` is
//! the one the handle points at, its outermost is `last_ancestor`, whose
//! stack's control context holds the point of suspension.
//!
//! ```text
//!   kernel --resume--> K1 --resume--> K2 --resume--> K3 (current)
//!   parent:    null     ^     K1       ^     K2
//!   K3 suspends to K1's resume: segment K3..K2, handle -> K3,
//!   K3.last_ancestor = K2, K2.parent = null, current = K1.
//! ```

use super::func::{FuncRecord, WasmValue, WasmValues};
use super::stack::{ArgsObject, ContStack};
use super::val::{ValRaw, ValType};
use core::mem::MaybeUninit;

/// The most values a mailbox holds: a tag's payload or results, a
/// function's results. Larger tags and functions are refused at creation.
pub const MAX_VALUES: usize = 16;

/// Where a continuation is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum State {
    /// Made by `cont.new`, never run: its stack is suspended at the start
    /// trampoline.
    Fresh,
    /// The innermost running continuation (the store's `current`).
    Running,
    /// Running, but it has resumed another continuation that is running
    /// now; it continues when that one returns or suspends past it.
    Parent,
    /// Stopped by a suspend or switch; its handle can resume it.
    Suspended,
    /// Its function returned; the `ContRef` is free for reuse.
    Returned,
    /// Its chain trapped; the `ContRef` is free for reuse.
    Trapped,
    /// Dropped while fresh or suspended; the `ContRef` is free for reuse.
    Dropped,
}

/// The runtime's record of one continuation stack.
#[repr(C)]
pub struct ContRef {
    pub(crate) state: State,
    /// Bumped on every use; never reset, even across recycling.
    pub(crate) revision: u64,
    /// The continuation that resumed this one (null: the kernel's stack).
    /// Meaningful while active, and inside a suspended segment.
    pub(crate) parent: *mut ContRef,
    /// While suspended: the outermost `ContRef` of the segment. Fresh: self.
    pub(crate) last_ancestor: *mut ContRef,
    /// The handler list of the resume that is this continuation's parent;
    /// valid only while that resume is on a stack (i.e. while active).
    pub(crate) handlers: *const Handler,
    pub(crate) handlers_len: usize,
    pub(crate) stack: ContStack,
    /// The args object of SPEC §1, pointing into this stack's args buffer.
    pub(crate) args: ArgsObject,
    pub(crate) func: *const FuncRecord,
    /// Types the next resume/bind must supply (after those already bound).
    pub(crate) expected: &'static [ValType],
    /// Where the next argument goes: the args buffer while fresh, the
    /// mailbox while suspended; `bound` values are already there.
    pub(crate) inbox: *mut ValRaw,
    pub(crate) bound: usize,
    /// The types of the payload in the mailbox after a suspend.
    pub(crate) payload: &'static [ValType],
    /// The mailbox: a suspend's payload on the way out, then the values a
    /// resume/switch/bind passes in on the way back.
    pub(crate) values: [ValRaw; MAX_VALUES],
    /// Next free `ContRef` while this one is on the store's free list.
    pub(crate) next_free: *mut ContRef,
}

impl ContRef {
    pub(crate) fn new() -> ContRef {
        ContRef {
            state: State::Returned,
            revision: 0,
            parent: core::ptr::null_mut(),
            last_ancestor: core::ptr::null_mut(),
            handlers: core::ptr::null(),
            handlers_len: 0,
            stack: ContStack::UNALLOCATED,
            args: ArgsObject::EMPTY,
            func: core::ptr::null(),
            expected: &[],
            inbox: core::ptr::null_mut(),
            bound: 0,
            payload: &[],
            values: [ValRaw::ZERO; MAX_VALUES],
            next_free: core::ptr::null_mut(),
        }
    }
}

/// A continuation handle: the `ContRef` and the revision it is valid for.
/// Copy, 16 bytes: it fits one [`ValRaw`] slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ContObj {
    pub(crate) contref: *mut ContRef,
    pub(crate) revision: u64,
}

impl ContObj {
    /// `ref.null cont`.
    pub const NULL: ContObj = ContObj {
        contref: core::ptr::null_mut(),
        revision: 0,
    };

    pub fn is_null(self) -> bool {
        self.contref.is_null()
    }
    /// The revision this handle is valid for.
    pub fn revision(self) -> u64 {
        self.revision
    }
}

/// A tag: the name a suspend uses and a handler matches, with the types of
/// its payload (`params`) and of the values the resume sends back
/// (`results`). Made by [`super::Store::tag_new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub(crate) id: u32,
    pub(crate) params: &'static [ValType],
    pub(crate) results: &'static [ValType],
}

impl Tag {
    pub fn params(self) -> &'static [ValType] {
        self.params
    }
    pub fn results(self) -> &'static [ValType] {
        self.results
    }
}

/// One entry of a resume's handler list; the handler index a resume
/// reports is the entry's position in the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handler {
    /// `(on $tag $label)`: a `suspend $tag` below comes back out of this
    /// resume as `Resumed::Suspended`.
    Suspend(Tag),
    /// `(on $tag switch)`: a `switch` with `$tag` below may replace the
    /// running segment with another continuation under this resume.
    Switch(Tag),
}

/// Position of the first `Suspend(tag)` (or `Switch(tag)` when `switch`)
/// entry in a raw handler list.
///
/// # Safety
/// `list` must point at `len` handlers (any pointer if `len` is 0).
#[inline]
pub(crate) unsafe fn find_handler(
    list: *const Handler,
    len: usize,
    tag: Tag,
    switch: bool,
) -> Option<usize> {
    for i in 0..len {
        // SAFETY: `i < len` entries are readable per the contract.
        let h = unsafe { *list.add(i) };
        match h {
            Handler::Suspend(t) if !switch && t.id == tag.id => return Some(i),
            Handler::Switch(t) if switch && t.id == tag.id => return Some(i),
            _ => {}
        }
    }
    None
}

/// A short list of values (at most [`MAX_VALUES`]) with its types: what a
/// resume, suspend or switch hands back. Inline, no heap.
#[derive(Clone, Copy)]
pub struct Values {
    types: &'static [ValType],
    vals: [MaybeUninit<ValRaw>; MAX_VALUES],
}

impl Values {
    /// Copies `types.len()` slots from `src`.
    ///
    /// # Safety
    /// `src` must point at `types.len() <= MAX_VALUES` readable slots.
    #[inline]
    pub(crate) unsafe fn read(src: *const ValRaw, types: &'static [ValType]) -> Values {
        debug_assert!(types.len() <= MAX_VALUES);
        let mut v = Values {
            types,
            vals: [MaybeUninit::uninit(); MAX_VALUES],
        };
        let dst = v.vals.as_mut_ptr().cast::<ValRaw>();
        // Payloads and results are mostly zero to two values. Those are
        // copied slot by slot: a variable-length `copy_nonoverlapping`
        // becomes an out-of-line call to `memcpy` that costs more than the
        // copy, and, once `read` is inlined, it also kept the compiler from
        // seeing that a caller reads only these slots, so the whole 272-byte
        // `Values` was copied again with a second `memcpy`.
        // SAFETY: `src` has `types.len()` slots and `vals` room for MAX_VALUES.
        unsafe {
            match types.len() {
                0 => {}
                1 => *dst = *src,
                2 => {
                    *dst = *src;
                    *dst.add(1) = *src.add(1);
                }
                n => core::ptr::copy_nonoverlapping(src, dst, n),
            }
        }
        v
    }
    #[inline]
    pub fn len(&self) -> usize {
        self.types.len()
    }
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.types.is_empty()
    }
    #[inline]
    pub fn types(&self) -> &'static [ValType] {
        self.types
    }
    /// Slot `i`. Panics when `i >= len()`.
    #[inline]
    pub fn raw(&self, i: usize) -> ValRaw {
        assert!(i < self.len(), "value index {i} out of {}", self.len());
        // SAFETY: the first `len()` slots were written by `read`.
        unsafe { self.vals[i].assume_init() }
    }
    #[inline]
    pub fn i32(&self, i: usize) -> i32 {
        self.raw(i).i32()
    }
    #[inline]
    pub fn i64(&self, i: usize) -> i64 {
        self.raw(i).i64()
    }
    #[inline]
    pub fn f32(&self, i: usize) -> f32 {
        self.raw(i).f32()
    }
    #[inline]
    pub fn f64(&self, i: usize) -> f64 {
        self.raw(i).f64()
    }
    #[inline]
    pub fn v128(&self, i: usize) -> u128 {
        self.raw(i).v128()
    }
    #[inline]
    pub fn cont(&self, i: usize) -> ContObj {
        ContObj::from_raw(self.raw(i))
    }
    /// All values as a typed tuple, if the types match exactly.
    #[inline]
    pub fn get<T: WasmValues>(&self) -> Option<T> {
        if self.types != T::TYPES {
            return None;
        }
        // SAFETY: `len()` initialized slots, exactly as many as T reads.
        Some(unsafe { T::load(self.vals.as_ptr().cast::<ValRaw>()) })
    }
}

impl core::fmt::Debug for Values {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list()
            .entries((0..self.len()).map(|i| self.raw(i)))
            .finish()
    }
}

/// How a `resume` came back.
#[derive(Debug)]
pub enum Resumed {
    /// The continuation's function returned these results.
    Returned(Values),
    /// A `suspend` reached handler number `handler` of this resume's list,
    /// with `payload`; `cont` resumes the rest of the computation.
    Suspended {
        handler: usize,
        payload: Values,
        cont: ContObj,
    },
}
