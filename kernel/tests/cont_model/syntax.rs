//! The programs the model test runs, and what both sides log: the syntax
//! of guest and kernel-level ops, of whole programs over one to three
//! stores, and of the events the real runtime and the reference model each
//! write down. Both sides read the same program and must write the same
//! log, so this vocabulary is theirs in common.

use super::*;

/// The values a `resume` passes (every function and every normal tag takes
/// `(i32, ContObj)`; a `bind` leaves a suffix of that). `Auto` passes what
/// the handle's slot says it still expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arity {
    Auto,
    Unit,
    Cont,
    I32,
    I32Cont,
}

/// Handlers a resume adds for every normal tag after those it lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AllTags {
    No,
    Suspend,
    SuspendAndSwitch,
}

/// The values a `bind` binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BindKind {
    Unit,
    I32,
    Cont,
    I32Cont,
}

/// A slot operand: the slot written last (by `New`, a suspension, a
/// `bind`, a value received); the `i`-th slot holding a handle (modulo
/// their count; slot 0 if none does); the `i`-th slot holding a handle
/// that `Store::state` says is fresh or suspended (else as `Last`); or
/// slot `i` whatever it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SlotRef {
    Last,
    At(u8),
    Live(u8),
    Raw(u8),
}

#[derive(Clone, Debug)]
pub(crate) struct ResumeOp {
    pub(crate) slot: SlotRef,
    pub(crate) arity: Arity,
    pub(crate) arg: i32,
    /// Where the handle passed as a `ContObj` argument comes from.
    pub(crate) kslot: SlotRef,
    /// (tag, is a switch handler); see [`Prog::tag`].
    pub(crate) handlers: Vec<(u8, bool)>,
    /// Then handlers for every normal tag.
    pub(crate) all: AllTags,
    /// Ask for `i64` results: always a signature mismatch.
    pub(crate) wrong_result: bool,
    /// Where a suspended continuation's handle goes.
    pub(crate) into: u8,
    /// Where the handle in its payload goes.
    pub(crate) pslot: u8,
    /// Take a lock around the resume.
    pub(crate) lock: bool,
    /// Resume by `resume_throw` of this tag operand instead, with the
    /// values as its payload: the pending `suspend` or `switch` returns
    /// `Err(Exception)`; a fresh continuation ends at once, trapped.
    pub(crate) throw: Option<u8>,
}

/// The store an op works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum On {
    /// The store running the guest (the kernel step's store).
    Own,
    /// Store `i % stores`.
    At(u8),
    /// The store that made the op's handle operand (as `Store::state`
    /// tells); `Own` for a null handle or an op without one.
    OfHandle,
}

/// One operation.
#[derive(Clone, Debug)]
pub(crate) enum Op {
    New {
        on: On,
        func: u8,
        into: u8,
    },
    Resume {
        on: On,
        r: ResumeOp,
    },
    Suspend {
        on: On,
        tag: u8,
        arg: i32,
        kslot: SlotRef,
        into: u8,
        lock: bool,
    },
    Switch {
        on: On,
        slot: SlotRef,
        tag: u8,
        arg: i32,
        into: u8,
    },
    Bind {
        on: On,
        slot: SlotRef,
        kind: BindKind,
        arg: i32,
        kslot: SlotRef,
        into: u8,
    },
    Drop {
        on: On,
        slot: SlotRef,
        /// Take a lock around the drop.
        lock: bool,
    },
    State {
        on: On,
        slot: SlotRef,
    },
    Payload {
        on: On,
        slot: SlotRef,
        pslot: u8,
    },
    InCont {
        on: On,
    },
    /// Guest only: return `Err(Trap::guest(..))`.
    Trap,
    /// Guest only: return the last `Err` an op gave this activation (as
    /// `?` would have passed it on), or return normally if none did.
    PassOn,
    /// Guest only: return early.
    Return {
        v: i32,
    },
    /// Guest only: return with a lock taken (its guard forgotten).
    ReturnHoldingLock,
}

impl Op {
    pub(crate) fn on(&self) -> On {
        match *self {
            Op::New { on, .. }
            | Op::Resume { on, .. }
            | Op::Suspend { on, .. }
            | Op::Switch { on, .. }
            | Op::Bind { on, .. }
            | Op::Drop { on, .. }
            | Op::State { on, .. }
            | Op::Payload { on, .. }
            | Op::InCont { on } => on,
            Op::Trap | Op::PassOn | Op::Return { .. } | Op::ReturnHoldingLock => On::Own,
        }
    }
    /// The handle operand that `On::OfHandle` follows.
    pub(crate) fn slot(&self) -> Option<SlotRef> {
        match *self {
            Op::Resume { ref r, .. } => Some(r.slot),
            Op::Switch { slot, .. }
            | Op::Bind { slot, .. }
            | Op::Drop { slot, .. }
            | Op::State { slot, .. }
            | Op::Payload { slot, .. } => Some(slot),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Prog {
    pub(crate) stores: usize,
    /// Normal tags: `(i32, ContObj) -> (i32, ContObj)`. One more, the odd
    /// tag, is `i64 -> ()`.
    pub(crate) tags: usize,
    /// Function `i` of every store runs `funcs[i]`; all are
    /// `(i32, ContObj) -> i32`.
    pub(crate) funcs: Vec<Vec<Op>>,
    /// The kernel's script: (store, op).
    pub(crate) steps: Vec<(StoreRef, Op)>,
    /// Which handles the kernel drops after its script, before the stores
    /// are dropped.
    pub(crate) cleanup: Cleanup,
}

/// The kernel's drops after its script. Each handle seen is dropped in the
/// order first seen, including handles first seen during these drops
/// (cancelled guests run and may make more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cleanup {
    /// Every handle seen: nothing is left for the stores' drops to cancel,
    /// and no stack is out.
    All,
    /// The first `n` handles seen: the stores' drops cancel what is still
    /// suspended.
    First(u8),
}

impl Cleanup {
    pub(crate) fn limit(self) -> usize {
        match self {
            Cleanup::All => usize::MAX,
            Cleanup::First(n) => n as usize,
        }
    }
}

/// The store a kernel step works on: the previous step's (at first store
/// 0), or store `i % stores`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoreRef {
    Same,
    At(u8),
}

impl Prog {
    /// Tag operand `t`: `ODD_TAG` is the odd tag (index `tags`), any
    /// other value a normal tag.
    pub(crate) fn tag(&self, t: u8) -> usize {
        if t == ODD_TAG {
            self.tags
        } else {
            t as usize % self.tags
        }
    }
    /// A resume's handler list: (tag index, is a switch handler).
    pub(crate) fn handlers(&self, r: &ResumeOp) -> Vec<(usize, bool)> {
        let mut list: Vec<_> = r
            .handlers
            .iter()
            .map(|&(t, sw)| (self.tag(t), sw))
            .collect();
        if r.all != AllTags::No {
            list.extend((0..self.tags).map(|t| (t, false)));
        }
        if r.all == AllTags::SuspendAndSwitch {
            list.extend((0..self.tags).map(|t| (t, true)));
        }
        list
    }
    /// The store `on` names, from `own`; `handle_store` is the store of
    /// the op's handle operand, if it has a non-null one.
    pub(crate) fn target(&self, on: On, own: usize, handle_store: Option<usize>) -> usize {
        match on {
            On::Own => own,
            On::At(i) => i as usize % self.stores,
            On::OfHandle => handle_store.unwrap_or(own),
        }
    }
    pub(crate) fn kernel_store(&self, r: StoreRef, previous: usize) -> usize {
        match r {
            StoreRef::Same => previous,
            StoreRef::At(i) => i as usize % self.stores,
        }
    }
    /// The function a `New` makes: guests of their own store only make
    /// functions of a higher index (so programs end).
    pub(crate) fn new_func(&self, func: u8, own_guest: Option<usize>) -> Option<usize> {
        let n = self.funcs.len();
        match own_guest {
            None => Some(func as usize % n),
            Some(fi) if fi + 1 < n => Some(fi + 1 + func as usize % (n - fi - 1)),
            Some(_) => None,
        }
    }
}

pub(crate) fn mix(a: i32, v: i32) -> i32 {
    a.wrapping_mul(31).wrapping_add(v)
}

pub(crate) fn resolve(a: Arity, rem: u8) -> Arity {
    match a {
        Arity::Auto => match rem {
            0 => Arity::Unit,
            1 => Arity::Cont,
            _ => Arity::I32Cont,
        },
        a => a,
    }
}

pub(crate) fn arity_types(a: Arity) -> &'static [ValType] {
    match a {
        Arity::Unit | Arity::Auto => &[],
        Arity::Cont => &[ValType::ContRef],
        Arity::I32 => &[ValType::I32],
        Arity::I32Cont => &[ValType::I32, ValType::ContRef],
    }
}

pub(crate) fn bind_types(b: BindKind) -> &'static [ValType] {
    match b {
        BindKind::Unit => &[],
        BindKind::I32 => &[ValType::I32],
        BindKind::Cont => &[ValType::ContRef],
        BindKind::I32Cont => &[ValType::I32, ValType::ContRef],
    }
}

/// What a continuation expecting `remaining` more values expects.
pub(crate) fn expected(remaining: usize) -> &'static [ValType] {
    const FULL: [ValType; 2] = [ValType::I32, ValType::ContRef];
    &FULL[2 - remaining..]
}

// ----- what both sides log ------------------------------------------------

/// A handle as both sides see it: which stores know it (`state` is
/// `Some`), and its use count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Hd {
    pub(crate) stores: u8,
    pub(crate) rev: u64,
}

/// A trap: its kind, and its message where the test chose it or the
/// semantics fix it (a cancellation's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Tk {
    pub(crate) kind: TrapKind,
    pub(crate) msg: Option<&'static str>,
}

impl Tk {
    pub(crate) fn of(t: &Trap) -> Tk {
        let msg = matches!(
            t.kind(),
            TrapKind::Guest | TrapKind::LockHeld | TrapKind::Cancelled
        )
        .then(|| t.message());
        Tk {
            kind: t.kind(),
            msg,
        }
    }
    pub(crate) fn kind(kind: TrapKind) -> Tk {
        Tk { kind, msg: None }
    }
    pub(crate) fn lock(name: &'static str) -> Tk {
        Tk {
            kind: TrapKind::LockHeld,
            msg: Some(name),
        }
    }
    /// An exception of normal tag `t` (its index: tag ids differ from run
    /// to run).
    pub(crate) fn exception(t: usize) -> Tk {
        Tk::kind(TrapKind::Exception { tag: t as u32 })
    }
    pub(crate) fn cancelled() -> Tk {
        Tk {
            kind: TrapKind::Cancelled,
            msg: Some(CANCELLED),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Res {
    Skip,
    Unit,
    Bool(bool),
    H(Hd),
    /// Values received: from a suspend or switch, or a payload.
    Got(i32, Hd),
    Returned(i32),
    Suspended {
        handler: usize,
        cont: Hd,
        payload: Result<(i32, Hd), Tk>,
    },
    St(Option<State>),
    Trap(Tk),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ev {
    Start {
        store: usize,
        func: usize,
        arg: i32,
        k: Hd,
    },
    Guest {
        store: usize,
        func: usize,
        pc: usize,
        res: Res,
    },
    Kernel {
        step: usize,
        res: Res,
    },
    /// After each kernel step: stacks out per store, locks held, and the
    /// state of every handle seen so far, asked of its own store.
    After {
        stacks: Vec<usize>,
        held: usize,
        states: Vec<Option<State>>,
    },
    /// The kernel's drop of a handle seen, after its script.
    Cleanup {
        res: Res,
    },
    /// Store `store` is dropped (what its guests logged while it cancelled
    /// its suspended continuations comes before).
    Gone {
        store: usize,
    },
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot<H> {
    pub(crate) h: H,
    /// How many values the handle is thought to expect (guides `Auto`).
    pub(crate) rem: u8,
}

/// An interpreter's locals: handle slots (the first `n` of them), the
/// slot written last, an accumulator of the values received, and the last
/// `Err` an op gave (what `Op::PassOn` returns).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame<H: Handle> {
    pub(crate) slots: [Slot<H>; KERNEL_SLOTS],
    pub(crate) n: usize,
    pub(crate) last: usize,
    pub(crate) acc: i32,
    pub(crate) err: Option<H::Err>,
}

/// What a frame needs of a handle: whether it is null; and the type of
/// the traps its side keeps (the runtime's `Trap`, the model's `Tk`).
pub(crate) trait Handle: Copy {
    type Err: Copy + core::fmt::Debug;
    fn is_null(&self) -> bool;
}
impl Handle for ContObj {
    type Err = Trap;
    fn is_null(&self) -> bool {
        ContObj::is_null(*self)
    }
}
impl Handle for Option<Mh> {
    type Err = Tk;
    fn is_null(&self) -> bool {
        self.is_none()
    }
}

impl<H: Handle> Frame<H> {
    pub(crate) fn new(null: H, n: usize, acc: i32) -> Frame<H> {
        Frame {
            slots: [Slot { h: null, rem: 2 }; KERNEL_SLOTS],
            n,
            last: 0,
            acc,
            err: None,
        }
    }
    /// The slot `r` names; `live` tells whether a handle is fresh or
    /// suspended.
    pub(crate) fn index(&self, r: SlotRef, live: impl Fn(H) -> bool) -> usize {
        let nth = |i: u8, keep: &dyn Fn(H) -> bool| {
            let held = || (0..self.n).filter(|&j| keep(self.slots[j].h));
            match held().count() {
                0 => None,
                count => held().nth(i as usize % count),
            }
        };
        match r {
            SlotRef::Last => self.last,
            SlotRef::At(i) => nth(i, &|h: H| !h.is_null()).unwrap_or(0),
            SlotRef::Live(i) => nth(i, &|h: H| !h.is_null() && live(h)).unwrap_or(self.last),
            SlotRef::Raw(i) => i as usize % self.n,
        }
    }
    pub(crate) fn get(&self, r: SlotRef, live: impl Fn(H) -> bool) -> Slot<H> {
        self.slots[self.index(r, live)]
    }
    /// Writes slot `i` (modulo the count); it becomes the last written.
    pub(crate) fn put(&mut self, i: u8, h: H, rem: u8) {
        self.last = i as usize % self.n;
        self.slots[self.last] = Slot { h, rem };
    }
    /// Writes slot `i` without making it the last written.
    pub(crate) fn put_aside(&mut self, i: u8, h: H) {
        self.slots[i as usize % self.n] = Slot { h, rem: 2 };
    }
    pub(crate) fn absorb(&mut self, v: i32) {
        self.acc = mix(self.acc, v);
    }
}
