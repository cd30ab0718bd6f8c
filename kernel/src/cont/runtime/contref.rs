//! The continuation object (`ContRef`), the handle guests hold (`ContObj`),
//! and the small types that cross a resume: tags, handlers, how it came back.
//!
//! A `ContRef` is the runtime's record of one stack: its state, where its
//! control context is, who its parent is, and a mailbox for values. The
//! [`crate::cont::Store`] allocates each `ContRef` once and recycles it through a
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
//!   K3.last_ancestor = K2, current = K1 (K2.parent still says K1, and
//!   means nothing until a resume of the segment writes it again).
//! ```

use crate::cont::machine::stack::{ArgsObject, ContStack, ControlContext};
use crate::cont::values::val::{ValRaw, ValType};

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
    /// Running: written by the resume or switch that runs the record, and
    /// kept while it resumes others (see [`State::Parent`]), until a
    /// suspend or switch of it writes `Suspended` as its first step. So a
    /// tick that finds the store's `current` saying `Running` knows it
    /// runs its own code, not a suspend under way (`preempt`). What a
    /// handle cannot report: no live handle names a running continuation.
    Running,
    /// Running, but it has resumed another continuation that is running
    /// now; it continues when that one returns or suspends past it. The
    /// inner members of a suspended segment are in this state too (they
    /// are still each other's parents, waiting inside their `resume`
    /// calls); only the innermost, whose handle the suspension returned,
    /// is `Suspended`. Never written to a record: `Store::state` and GDB
    /// report it for a record marked `Running` that is not the store's
    /// `current` (GDB also for a member of the chain from `current`).
    Parent,
    /// Stopped by a suspend or switch; its handle can resume it.
    Suspended,
    /// Its function returned; the `ContRef` is free for reuse.
    Returned,
    /// Its chain trapped; the `ContRef` is free for reuse.
    Trapped,
    /// Dropped while fresh or suspended; the `ContRef` is free for reuse.
    Dropped,
    /// Never the state of a record: what [`crate::cont::Store::state`] reports
    /// for a used handle whose continuation has gone on under a newer
    /// handle, or whose record now holds another continuation.
    Consumed,
}

/// The runtime's record of one continuation stack.
#[repr(C)]
pub struct ContRef {
    pub(crate) state: State,
    /// The id of the tag of the last `suspend` that cut this record: while
    /// the revision of a suspension holds, the tag of the handler it
    /// reached, which `Suspension::take` compares with its own (a tag's id
    /// names its types, see `take`). A `switch` does not write it. Written
    /// with `state` by one store of the suspend's handler word
    /// (`Store::suspend_core`): the record's first word is the state,
    /// three bytes of padding, then this id, as a suspend handler's word
    /// is (see [`Handler`]).
    pub(crate) suspended_tag: u32,
    /// Bumped on every use; never reset, even across recycling.
    pub(crate) revision: u64,
    /// The revision at which `cont.new` gave this record its present
    /// continuation: a handle with an older revision named an earlier one.
    pub(crate) born: u64,
    /// The continuation that resumed this one (null: the kernel's stack).
    /// Meaningful while active, and inside a suspended segment; the
    /// outermost of a suspended segment keeps a stale one (a suspend does
    /// not cut it: the next resume writes it, and nothing reads it before).
    pub(crate) parent: *mut ContRef,
    /// While suspended: the outermost `ContRef` of the segment. Fresh: self.
    pub(crate) last_ancestor: *mut ContRef,
    /// The handler list of the resume that is this continuation's parent;
    /// valid only while that resume is on a stack (i.e. while active).
    pub(crate) handlers: *const Handler,
    pub(crate) handlers_len: usize,
    /// The control context of `stack` (`TOS-0x18`, see
    /// [`ContStack::control_context`]), kept here so that a switch loads
    /// it with one instruction instead of computing it from TOS. Written
    /// with the stack's header by `cont.new`; the stack of a continuation
    /// does not change while it lives.
    pub(crate) ctx: *mut ControlContext,
    pub(crate) stack: ContStack,
    /// The args object of `docs/spec.md` §1, pointing into this stack's args buffer.
    pub(crate) args: ArgsObject,
    /// The result types of the function this stack runs: what a resume
    /// of a segment whose outermost `ContRef` is this one gets back.
    pub(crate) results: &'static [ValType],
    /// Types the next resume/bind must supply (after those already bound).
    pub(crate) expected: &'static [ValType],
    /// Where the next argument goes: into the args buffer while fresh, the
    /// mailbox while suspended, after the values `bind` has already put
    /// there (it moves this on past them). One word, where a base and a
    /// count would take two writes at every suspend and an add at every
    /// resume.
    pub(crate) inbox: *mut ValRaw,
    /// The types of the payload in the mailbox after a suspend.
    pub(crate) payload: &'static [ValType],
    /// The mailbox: a suspend's payload on the way out, then the values a
    /// resume/switch/bind passes in on the way back.
    pub(crate) values: [ValRaw; MAX_VALUES],
    /// Next free `ContRef` while this one is on the store's free list.
    pub(crate) next_free: *mut ContRef,
    /// Equal to `born` while the continuation runs the Wasm interpreter,
    /// which stops at its own safe points when a budget is spent (so a
    /// tick gives it a period to reach one: `preempt`, "Wasm epochs").
    /// Compared with `born`, so that a recycled record needs no reset; 0
    /// at first, which no `born` is (revisions start at a store id, and
    /// store ids at 1).
    pub(crate) polls_born: u64,
}

impl ContRef {
    /// A `ContRef` of the store with id `store_id`: its revisions start at
    /// `store_id << 40` (see `ContObj`).
    pub(crate) fn new(store_id: u32) -> ContRef {
        ContRef {
            state: State::Returned,
            suspended_tag: u32::MAX,
            revision: (store_id as u64) << REVISION_STORE_SHIFT,
            born: 0,
            parent: core::ptr::null_mut(),
            last_ancestor: core::ptr::null_mut(),
            handlers: core::ptr::null(),
            handlers_len: 0,
            ctx: core::ptr::null_mut(),
            stack: ContStack::UNALLOCATED,
            args: ArgsObject::EMPTY,
            results: &[],
            expected: &[],
            inbox: core::ptr::null_mut(),
            payload: &[],
            values: [ValRaw::ZERO; MAX_VALUES],
            next_free: core::ptr::null_mut(),
            polls_born: 0,
        }
    }
}

/// A continuation handle: the `ContRef` and the revision it is valid for.
/// Copy, 16 bytes: it fits one [`ValRaw`] slot.
///
/// A revision carries the id of the store that made the handle in its top
/// 24 bits, and a use count in the low 40:
///
/// ```text
///  63          40 39                                  0
///  +-------------+-------------------------------------+
///  |  store id   |  uses of this ContRef (one-shot)    |
///  +-------------+-------------------------------------+
/// ```
///
/// Every use first compares the handle's store id with the store's own,
/// without touching memory. Store ids are never reused, and handles cannot
/// be forged (`WasmValue::from_raw` is unsafe), so a matching id means the
/// pointer is to one of this live store's `ContRef`s; only then is it
/// followed, and the whole revision compared (continuations are one-shot).
/// A handle that outlived its store, or came from another one, is refused
/// before anything of it is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct ContObj {
    pub(crate) contref: *mut ContRef,
    pub(crate) revision: u64,
}

/// Where the store id starts in a revision.
pub(crate) const REVISION_STORE_SHIFT: u32 = 40;

impl ContObj {
    /// `ref.null cont`.
    pub const NULL: ContObj = ContObj {
        contref: core::ptr::null_mut(),
        revision: 0,
    };

    pub fn is_null(self) -> bool {
        self.contref.is_null()
    }

    /// The id of the store that made this handle.
    #[inline(always)]
    pub(crate) fn store_id(self) -> u32 {
        (self.revision >> REVISION_STORE_SHIFT) as u32
    }
    /// The revision this handle is valid for.
    pub fn revision(self) -> u64 {
        self.revision
    }
}

/// A tag: the name a suspend uses and a handler matches, with the types of
/// its payload (`params`) and of the values the resume sends back
/// (`results`). Made by [`crate::cont::Store::tag_new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tag {
    pub(crate) id: u32,
    pub(crate) params: &'static [ValType],
    pub(crate) results: &'static [ValType],
}

impl Tag {
    /// The tag's identity: unique among all tags of all stores of a boot.
    pub fn id(self) -> u32 {
        self.id
    }
    pub fn params(self) -> &'static [ValType] {
        self.params
    }
    pub fn results(self) -> &'static [ValType] {
        self.results
    }
}

// The layout a suspend writes as one word (`Store::suspend_core`): the state in
// the first byte, the suspending tag's id in the high half.
const _: () = {
    assert!(core::mem::offset_of!(ContRef, state) == 0);
    assert!(core::mem::offset_of!(ContRef, suspended_tag) == 4);
    assert!(core::mem::offset_of!(ContRef, revision) == 8);
    assert!(cfg!(target_endian = "little"));
};

/// One entry of a resume's handler list; the handler index a resume
/// reports is the entry's position in the list.
///
/// `(on $tag $label)` is [`Handler::suspend`], `(on $tag switch)` is
/// [`Handler::switch`]. An entry is one 64-bit word, the tag's id in the
/// high 32 bits and the kind in the low byte, so the handler search
/// compares one word per entry with the word it looks for (a whole
/// [`Tag`] would be 40 bytes per entry, read and compared field by field).
/// A suspend entry's kind is the discriminant of `State::Suspended`, so
/// its word is also the first word of a record that suspend cuts (state,
/// padding, `ContRef::suspended_tag`): the suspend, which holds the word
/// in a register for its search, marks the record with one store.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Handler {
    pub(crate) key: u64,
}

impl Handler {
    /// `(on $tag $label)`: a `suspend $tag` below comes back out of this
    /// resume as `Resumed::Suspended`.
    #[inline]
    pub const fn suspend(tag: Tag) -> Handler {
        Handler {
            key: Handler::key(tag, false),
        }
    }
    /// `(on $tag switch)`: a `switch` with `$tag` below may replace the
    /// running segment with another continuation under this resume.
    #[inline]
    pub const fn switch(tag: Tag) -> Handler {
        Handler {
            key: Handler::key(tag, true),
        }
    }
    /// The word an entry for `tag` of this kind holds.
    #[inline]
    pub(crate) const fn key(tag: Tag, switch: bool) -> u64 {
        Handler::key_of(tag.id, switch)
    }
    /// The word an entry for the tag with id `tag_id` of this kind holds.
    #[inline]
    pub(crate) const fn key_of(tag_id: u32, switch: bool) -> u64 {
        let kind = if switch {
            Handler::SWITCH_KIND
        } else {
            Handler::SUSPEND_KIND
        };
        ((tag_id as u64) << 32) | kind as u64
    }
    /// The low byte of a suspend entry: `State::Suspended`'s discriminant.
    pub(crate) const SUSPEND_KIND: u8 = State::Suspended as u8;
    /// The low byte of a switch entry.
    pub(crate) const SWITCH_KIND: u8 = 1;
    /// The entry for the tag with id `tag_id`, of this kind.
    #[inline]
    pub(crate) const fn for_tag_id(tag_id: u32, switch: bool) -> Handler {
        Handler {
            key: Handler::key_of(tag_id, switch),
        }
    }
    /// The id of the tag this entry names.
    pub const fn tag_id(self) -> u32 {
        (self.key >> 32) as u32
    }
    /// Whether this is a switch handler (else a suspend handler).
    pub const fn is_switch(self) -> bool {
        self.key as u8 == Handler::SWITCH_KIND
    }
}

impl core::fmt::Debug for Handler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let kind = if self.is_switch() {
            "switch"
        } else {
            "suspend"
        };
        write!(f, "Handler::{kind}(tag {})", self.tag_id())
    }
}

/// Position of the first entry equal to `key` (see [`Handler::key`]) in a
/// raw handler list.
///
/// # Safety
/// `list` must point at `len` handlers (any pointer if `len` is 0).
#[inline(always)]
pub(crate) unsafe fn find_handler(list: *const Handler, len: usize, key: u64) -> Option<usize> {
    // SAFETY: `i < len` entries are readable per the contract.
    (0..len).find(|&i| unsafe { (*list.add(i)).key } == key)
}

/// How a `resume` came back. `R` is the continuation's function result
/// types, checked by `resume` before it switched.
#[derive(Debug, PartialEq, Eq)]
pub enum Resumed<R> {
    /// The continuation's function returned these results.
    Returned(R),
    /// A `suspend` reached handler number `handler` of this resume's list;
    /// `cont` resumes the rest of the computation, and
    /// [`crate::cont::Store::payload`] reads what the suspend sent while `cont`
    /// is unused.
    Suspended { handler: usize, cont: ContObj },
}
