//! A randomized model test of the continuation core: proptest generates
//! small programs over one to three stores, and each program runs twice,
//! once on the real runtime ([`Store`] with [`MmapStacks`], real stacks and
//! real switches) and once on [`Model`], a plain interpreter of the same
//! semantics that never switches a stack. Both produce a log of what every
//! operation gave back, the states `Store::state` reports and the stacks
//! each store has out after every kernel-level step; the logs must be
//! equal. At the end every handle ever seen is dropped, every store must
//! have no stack out, and the values the guests captured must be released
//! with the stores.
//!
//! The model: each continuation is a record (state, revision, what it was
//! born at, the values bound to it, its mailbox) plus, once started, an
//! activation (program counter, accumulator, handle slots, and which
//! operation it waits in). The running chain of a store is an explicit
//! `Vec` of links (record, handler list of the resume that made it run);
//! a suspended continuation keeps its segment of links. `suspend` and
//! `switch` search that `Vec` from the top, a trap inside a chain frees
//! the whole `Vec`, and records are recycled LIFO as the runtime does, so
//! the model predicts revisions and `Consumed` exactly.
//!
//! Guests are one interpreter ([`run_guest`]) of straight-line op lists.
//! A guest may `cont.new` only functions of a higher index in its own
//! store, and runs each op at most once, so every program ends. Guest code
//! keeps nothing on its stack that needs dropping (a trap or a drop
//! abandons frames without running destructors): its slots are a plain
//! array, and it borrows the program and log from its closure.
//!
//! The default run uses a fixed seed (`PROPTEST_RNG_SEED` overrides it)
//! and [`DEFAULT_CASES`] cases (`PROPTEST_CASES` overrides it), and writes
//! no regression file.
#![forbid(unsafe_code)]

use crate::cont::{
    ContObj, Func, Handler, MmapStacks, Resumed, State, Store, Tag, Trap, TrapKind, ValType,
};
use crate::sync::Mutex;
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::{Rc, Weak};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::pin::Pin;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};

const STACK: usize = 64 * 1024;
/// Handle slots of a guest activation (slot 0 starts with its argument).
const GUEST_SLOTS: usize = 4;
/// Handle slots of the kernel-level script.
const KERNEL_SLOTS: usize = 6;
/// Handlers a resume lists at most: two chosen, then one or two per
/// normal tag.
const MAX_HANDLERS: usize = 8;
/// The tag operand that names the odd tag.
const ODD_TAG: u8 = u8::MAX;
const GUEST_LOCK: &str = "model guest lock";
const KERNEL_LOCK: &str = "model kernel lock";
const GUEST_TRAP: &str = "model guest trap";
/// The use count of a revision (below the store id).
const REV_MASK: u64 = (1 << 40) - 1;
/// Cases of the default run: a few seconds in a debug build.
const DEFAULT_CASES: u32 = 1000;
const DEFAULT_SEED: u64 = 0x5eed_c0de_2026;

// ----- programs -----------------------------------------------------------

/// The values a `resume` passes (every function and every normal tag takes
/// `(i32, ContObj)`; a `bind` leaves a suffix of that). `Auto` passes what
/// the handle's slot says it still expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arity {
    Auto,
    Unit,
    Cont,
    I32,
    I32Cont,
}

/// Handlers a resume adds for every normal tag after those it lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AllTags {
    No,
    Suspend,
    SuspendAndSwitch,
}

/// The values a `bind` binds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BindKind {
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
enum SlotRef {
    Last,
    At(u8),
    Live(u8),
    Raw(u8),
}

#[derive(Clone, Debug)]
struct ResumeOp {
    slot: SlotRef,
    arity: Arity,
    arg: i32,
    /// Where the handle passed as a `ContObj` argument comes from.
    kslot: SlotRef,
    /// (tag, is a switch handler); see [`Prog::tag`].
    handlers: Vec<(u8, bool)>,
    /// Then handlers for every normal tag.
    all: AllTags,
    /// Ask for `i64` results: always a signature mismatch.
    wrong_result: bool,
    /// Where a suspended continuation's handle goes.
    into: u8,
    /// Where the handle in its payload goes.
    pslot: u8,
    /// Take a lock around the resume.
    lock: bool,
}

/// The store an op works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum On {
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
enum Op {
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
    /// Guest only: return early.
    Return {
        v: i32,
    },
    /// Guest only: return with a lock taken (its guard forgotten).
    ReturnHoldingLock,
}

impl Op {
    fn on(&self) -> On {
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
            Op::Trap | Op::Return { .. } | Op::ReturnHoldingLock => On::Own,
        }
    }
    /// The handle operand that `On::OfHandle` follows.
    fn slot(&self) -> Option<SlotRef> {
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
struct Prog {
    stores: usize,
    /// Normal tags: `(i32, ContObj) -> (i32, ContObj)`. One more, the odd
    /// tag, is `i64 -> ()`.
    tags: usize,
    /// Function `i` of every store runs `funcs[i]`; all are
    /// `(i32, ContObj) -> i32`.
    funcs: Vec<Vec<Op>>,
    /// The kernel's script: (store, op).
    steps: Vec<(StoreRef, Op)>,
}

/// The store a kernel step works on: the previous step's (at first store
/// 0), or store `i % stores`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StoreRef {
    Same,
    At(u8),
}

impl Prog {
    /// Tag operand `t`: `ODD_TAG` is the odd tag (index `tags`), any
    /// other value a normal tag.
    fn tag(&self, t: u8) -> usize {
        if t == ODD_TAG {
            self.tags
        } else {
            t as usize % self.tags
        }
    }
    /// A resume's handler list: (tag index, is a switch handler).
    fn handlers(&self, r: &ResumeOp) -> Vec<(usize, bool)> {
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
    fn target(&self, on: On, own: usize, handle_store: Option<usize>) -> usize {
        match on {
            On::Own => own,
            On::At(i) => i as usize % self.stores,
            On::OfHandle => handle_store.unwrap_or(own),
        }
    }
    fn kernel_store(&self, r: StoreRef, previous: usize) -> usize {
        match r {
            StoreRef::Same => previous,
            StoreRef::At(i) => i as usize % self.stores,
        }
    }
    /// The function a `New` makes: guests of their own store only make
    /// functions of a higher index (so programs end).
    fn new_func(&self, func: u8, own_guest: Option<usize>) -> Option<usize> {
        let n = self.funcs.len();
        match own_guest {
            None => Some(func as usize % n),
            Some(fi) if fi + 1 < n => Some(fi + 1 + func as usize % (n - fi - 1)),
            Some(_) => None,
        }
    }
}

fn mix(a: i32, v: i32) -> i32 {
    a.wrapping_mul(31).wrapping_add(v)
}

fn resolve(a: Arity, rem: u8) -> Arity {
    match a {
        Arity::Auto => match rem {
            0 => Arity::Unit,
            1 => Arity::Cont,
            _ => Arity::I32Cont,
        },
        a => a,
    }
}

fn arity_types(a: Arity) -> &'static [ValType] {
    match a {
        Arity::Unit | Arity::Auto => &[],
        Arity::Cont => &[ValType::ContRef],
        Arity::I32 => &[ValType::I32],
        Arity::I32Cont => &[ValType::I32, ValType::ContRef],
    }
}

fn bind_types(b: BindKind) -> &'static [ValType] {
    match b {
        BindKind::Unit => &[],
        BindKind::I32 => &[ValType::I32],
        BindKind::Cont => &[ValType::ContRef],
        BindKind::I32Cont => &[ValType::I32, ValType::ContRef],
    }
}

/// What a continuation expecting `remaining` more values expects.
fn expected(remaining: usize) -> &'static [ValType] {
    const FULL: [ValType; 2] = [ValType::I32, ValType::ContRef];
    &FULL[2 - remaining..]
}

// ----- what both sides log ------------------------------------------------

/// A handle as both sides see it: which stores know it (`state` is
/// `Some`), and its use count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hd {
    stores: u8,
    rev: u64,
}

/// A trap: its kind, and its message where the test chose it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Tk {
    kind: TrapKind,
    msg: Option<&'static str>,
}

impl Tk {
    fn of(t: &Trap) -> Tk {
        let msg = matches!(t.kind(), TrapKind::Guest | TrapKind::LockHeld).then(|| t.message());
        Tk {
            kind: t.kind(),
            msg,
        }
    }
    fn kind(kind: TrapKind) -> Tk {
        Tk { kind, msg: None }
    }
    fn lock(name: &'static str) -> Tk {
        Tk {
            kind: TrapKind::LockHeld,
            msg: Some(name),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Res {
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
enum Ev {
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
    /// The final drop of each handle seen.
    Cleanup {
        res: Res,
    },
}

#[derive(Clone, Copy, Debug)]
struct Slot<H> {
    h: H,
    /// How many values the handle is thought to expect (guides `Auto`).
    rem: u8,
}

/// An interpreter's locals: handle slots (the first `n` of them), the
/// slot written last, and an accumulator of the values received.
#[derive(Clone, Copy, Debug)]
struct Frame<H> {
    slots: [Slot<H>; KERNEL_SLOTS],
    n: usize,
    last: usize,
    acc: i32,
}

/// What a frame needs of a handle: whether it is null.
trait IsNull: Copy {
    fn is_null(&self) -> bool;
}
impl IsNull for ContObj {
    fn is_null(&self) -> bool {
        ContObj::is_null(*self)
    }
}
impl IsNull for Option<Mh> {
    fn is_null(&self) -> bool {
        self.is_none()
    }
}

impl<H: IsNull> Frame<H> {
    fn new(null: H, n: usize, acc: i32) -> Frame<H> {
        Frame {
            slots: [Slot { h: null, rem: 2 }; KERNEL_SLOTS],
            n,
            last: 0,
            acc,
        }
    }
    /// The slot `r` names; `live` tells whether a handle is fresh or
    /// suspended.
    fn index(&self, r: SlotRef, live: impl Fn(H) -> bool) -> usize {
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
    fn get(&self, r: SlotRef, live: impl Fn(H) -> bool) -> Slot<H> {
        self.slots[self.index(r, live)]
    }
    /// Writes slot `i` (modulo the count); it becomes the last written.
    fn put(&mut self, i: u8, h: H, rem: u8) {
        self.last = i as usize % self.n;
        self.slots[self.last] = Slot { h, rem };
    }
    /// Writes slot `i` without making it the last written.
    fn put_aside(&mut self, i: u8, h: H) {
        self.slots[i as usize % self.n] = Slot { h, rem: 2 };
    }
    fn absorb(&mut self, v: i32) {
        self.acc = mix(self.acc, v);
    }
}

// ----- the real runtime ---------------------------------------------------

type StoreRc = Rc<Pin<Box<Store>>>;

/// What every guest closure captures (one `Rc`, released when the stores
/// drop their closures).
struct World {
    prog: Prog,
    stores: Vec<Weak<Pin<Box<Store>>>>,
    funcs: RefCell<Vec<Vec<Func>>>,
    tags: Vec<Tag>,
    log: RefCell<Vec<Ev>>,
    seen: RefCell<Vec<ContObj>>,
}

impl World {
    fn store(&self, i: usize) -> StoreRc {
        self.stores[i]
            .upgrade()
            .expect("a store outlives its guests")
    }
    fn push(&self, ev: Ev) {
        self.log.borrow_mut().push(ev);
    }
    /// Which stores know `k` (as a bit set): exactly its own store.
    fn mask(&self, k: ContObj) -> u8 {
        (0..self.stores.len())
            .filter(|&i| self.store(i).state(k).is_some())
            .fold(0, |m, i| m | 1 << i)
    }
    /// The log's view of `k`; remembers it for the final drops.
    fn hd(&self, k: ContObj) -> Hd {
        let stores = self.mask(k);
        if !k.is_null() {
            let mut seen = self.seen.borrow_mut();
            if !seen.contains(&k) {
                seen.push(k);
            }
        }
        Hd {
            stores,
            rev: k.revision() & REV_MASK,
        }
    }
    fn tag(&self, t: u8) -> Tag {
        self.tags[self.prog.tag(t)]
    }
    /// The store that made the handle of `op`'s handle operand.
    fn handle_store(&self, f: &Frame<ContObj>, op: &Op) -> Option<usize> {
        let k = f.get(op.slot()?, |k| self.live(k)).h;
        (0..self.stores.len()).find(|&i| self.store(i).state(k).is_some())
    }
    /// Whether some store says `k` is fresh or suspended.
    fn live(&self, k: ContObj) -> bool {
        (0..self.stores.len()).any(|i| {
            matches!(
                self.store(i).state(k),
                Some(State::Fresh | State::Suspended)
            )
        })
    }
    fn handlers(&self, r: &ResumeOp) -> ([Handler; MAX_HANDLERS], usize) {
        let mut hs = [Handler::suspend(self.tags[0]); MAX_HANDLERS];
        let list = self.prog.handlers(r);
        for (h, &(t, switch)) in hs.iter_mut().zip(&list) {
            let tag = self.tags[t];
            *h = if switch {
                Handler::switch(tag)
            } else {
                Handler::suspend(tag)
            };
        }
        (hs, list.len().min(MAX_HANDLERS))
    }
}

/// Runs one generic op of the real runtime on store `st` (index `x`):
/// from a guest of function `own_guest` of store `x`, or from the kernel
/// or another store's guest (`own_guest: None`, so `New` may pick any
/// function).
fn exec_real(
    w: &World,
    (st, x): (&Store, usize),
    own_guest: Option<usize>,
    lock_name: &'static str,
    f: &mut Frame<ContObj>,
    op: &Op,
) -> Res {
    match op {
        Op::New { func, into, .. } => {
            let Some(func) = w.prog.new_func(*func, own_guest) else {
                return Res::Skip;
            };
            let func = w.funcs.borrow()[x][func];
            match st.cont_new(func) {
                Ok(k) => {
                    f.put(*into, k, 2);
                    Res::H(w.hd(k))
                }
                Err(t) => Res::Trap(Tk::of(&t)),
            }
        }
        Op::Resume { r, .. } => {
            let s = f.get(r.slot, |k| w.live(k));
            let kv = f.get(r.kslot, |k| w.live(k)).h;
            let arg = f.acc.wrapping_add(r.arg);
            let (hs, hn) = w.handlers(r);
            let hs = &hs[..hn];
            let lock = Mutex::new(lock_name, ());
            let guard = r.lock.then(|| lock.lock());
            let out: Result<Resumed<i32>, Trap> = if r.wrong_result {
                let out: Result<Resumed<i64>, Trap> = match resolve(r.arity, s.rem) {
                    Arity::Unit | Arity::Auto => st.resume(s.h, (), hs),
                    Arity::Cont => st.resume(s.h, kv, hs),
                    Arity::I32 => st.resume(s.h, arg, hs),
                    Arity::I32Cont => st.resume(s.h, (arg, kv), hs),
                };
                out.map(|o| match o {
                    Resumed::Returned(v) => Resumed::Returned(v as i32),
                    Resumed::Suspended { handler, cont } => Resumed::Suspended { handler, cont },
                })
            } else {
                match resolve(r.arity, s.rem) {
                    Arity::Unit | Arity::Auto => st.resume(s.h, (), hs),
                    Arity::Cont => st.resume(s.h, kv, hs),
                    Arity::I32 => st.resume(s.h, arg, hs),
                    Arity::I32Cont => st.resume(s.h, (arg, kv), hs),
                }
            };
            drop(guard);
            match out {
                Ok(Resumed::Returned(v)) => {
                    f.absorb(v);
                    Res::Returned(v)
                }
                Ok(Resumed::Suspended { handler, cont }) => {
                    let c = w.hd(cont);
                    let payload = match st.payload::<(i32, ContObj)>(cont) {
                        Ok((p, ph)) => {
                            let phd = w.hd(ph);
                            f.put_aside(r.pslot, ph);
                            f.absorb(p);
                            Ok((p, phd))
                        }
                        Err(t) => Err(Tk::of(&t)),
                    };
                    f.put(r.into, cont, 2);
                    f.absorb(handler as i32);
                    Res::Suspended {
                        handler,
                        cont: c,
                        payload,
                    }
                }
                Err(t) => Res::Trap(Tk::of(&t)),
            }
        }
        Op::Suspend {
            tag,
            arg,
            kslot,
            into,
            lock,
            ..
        } => {
            let kv = f.get(*kslot, |k| w.live(k)).h;
            let m = Mutex::new(lock_name, ());
            let guard = lock.then(|| m.lock());
            let r = st.suspend::<(i32, ContObj), (i32, ContObj)>(
                w.tag(*tag),
                (f.acc.wrapping_add(*arg), kv),
            );
            drop(guard);
            match r {
                Ok((v, k)) => {
                    let h = w.hd(k);
                    f.put(*into, k, 2);
                    f.absorb(v);
                    Res::Got(v, h)
                }
                Err(t) => Res::Trap(Tk::of(&t)),
            }
        }
        Op::Switch {
            slot,
            tag,
            arg,
            into,
            ..
        } => {
            let target = f.get(*slot, |k| w.live(k)).h;
            let arg = f.acc.wrapping_add(*arg);
            match st.switch::<i32, (i32, ContObj)>(target, w.tag(*tag), arg) {
                Ok((v, k)) => {
                    let h = w.hd(k);
                    f.put(*into, k, 2);
                    f.absorb(v);
                    Res::Got(v, h)
                }
                Err(t) => Res::Trap(Tk::of(&t)),
            }
        }
        Op::Bind {
            slot,
            kind,
            arg,
            kslot,
            into,
            ..
        } => {
            let s = f.get(*slot, |k| w.live(k));
            let kv = f.get(*kslot, |k| w.live(k)).h;
            let a = f.acc.wrapping_add(*arg);
            let r = match kind {
                BindKind::Unit => st.bind(s.h, ()),
                BindKind::I32 => st.bind(s.h, a),
                BindKind::Cont => st.bind(s.h, kv),
                BindKind::I32Cont => st.bind(s.h, (a, kv)),
            };
            match r {
                Ok(k) => {
                    f.put(
                        *into,
                        k,
                        s.rem.saturating_sub(bind_types(*kind).len() as u8),
                    );
                    Res::H(w.hd(k))
                }
                Err(t) => Res::Trap(Tk::of(&t)),
            }
        }
        Op::Drop { slot, .. } => match st.drop_cont(f.get(*slot, |k| w.live(k)).h) {
            Ok(()) => Res::Unit,
            Err(t) => Res::Trap(Tk::of(&t)),
        },
        Op::State { slot, .. } => Res::St(st.state(f.get(*slot, |k| w.live(k)).h)),
        Op::Payload { slot, pslot, .. } => {
            match st.payload::<(i32, ContObj)>(f.get(*slot, |k| w.live(k)).h) {
                Ok((p, ph)) => {
                    let h = w.hd(ph);
                    f.put(*pslot, ph, 2);
                    f.absorb(p);
                    Res::Got(p, h)
                }
                Err(t) => Res::Trap(Tk::of(&t)),
            }
        }
        Op::InCont { .. } => Res::Bool(st.in_continuation()),
        Op::Trap | Op::Return { .. } | Op::ReturnHoldingLock => Res::Skip,
    }
}

/// The one guest: function `fi` of store `si`, interpreting its ops.
fn run_guest(
    w: &World,
    s: &Store,
    si: usize,
    fi: usize,
    arg: i32,
    k: ContObj,
) -> Result<i32, Trap> {
    let kh = w.hd(k);
    w.push(Ev::Start {
        store: si,
        func: fi,
        arg,
        k: kh,
    });
    let mut f = Frame::new(ContObj::NULL, GUEST_SLOTS, arg);
    f.slots[0].h = k;
    for (pc, op) in w.prog.funcs[fi].iter().enumerate() {
        let res = match op {
            Op::Trap => return Err(Trap::guest(GUEST_TRAP)),
            Op::Return { v } => return Ok(mix(f.acc, *v)),
            Op::ReturnHoldingLock => {
                let m = Mutex::new(GUEST_LOCK, ());
                core::mem::forget(m.lock());
                return Ok(f.acc);
            }
            _ => {
                let x = w.prog.target(op.on(), si, w.handle_store(&f, op));
                if x == si {
                    exec_real(w, (s, x), Some(fi), GUEST_LOCK, &mut f, op)
                } else {
                    let other = w.store(x);
                    exec_real(w, (&other, x), None, GUEST_LOCK, &mut f, op)
                }
            }
        };
        w.push(Ev::Guest {
            store: si,
            func: fi,
            pc,
            res,
        });
    }
    Ok(f.acc)
}

struct RealRun {
    log: Vec<Ev>,
    /// Stacks out per store after the final drops.
    stacks: Vec<usize>,
    /// Strong counts of the guests' `World` once the stores are gone
    /// (1: only ours), and whether any store outlived its drop.
    world_strong: usize,
    stores_alive: bool,
}

fn real_states(w: &World, stores: &[StoreRc]) -> Vec<Option<State>> {
    let seen = w.seen.borrow().clone();
    seen.iter()
        .map(|&k| stores.iter().find_map(|s| s.state(k)))
        .collect()
}

fn run_real(prog: &Prog) -> RealRun {
    let stores: Vec<StoreRc> = (0..prog.stores)
        .map(|_| Rc::new(Store::new(MmapStacks::new(), STACK)))
        .collect();
    let mut tags: Vec<Tag> = (0..prog.tags)
        .map(|i| {
            stores[i % prog.stores]
                .tag_new(
                    &[ValType::I32, ValType::ContRef],
                    &[ValType::I32, ValType::ContRef],
                )
                .unwrap()
        })
        .collect();
    tags.push(stores[0].tag_new(&[ValType::I64], &[]).unwrap());
    let w = Rc::new(World {
        prog: prog.clone(),
        stores: stores.iter().map(Rc::downgrade).collect(),
        funcs: RefCell::new(Vec::new()),
        tags,
        log: RefCell::new(Vec::new()),
        seen: RefCell::new(Vec::new()),
    });
    for (si, st) in stores.iter().enumerate() {
        let funcs = (0..prog.funcs.len())
            .map(|fi| {
                let w = w.clone();
                st.func_wrap(
                    move |s: &Store, (arg, k): (i32, ContObj)| -> Result<i32, Trap> {
                        run_guest(&w, s, si, fi, arg, k)
                    },
                )
                .unwrap()
            })
            .collect();
        w.funcs.borrow_mut().push(funcs);
    }

    let mut f = Frame::new(ContObj::NULL, KERNEL_SLOTS, 0);
    let mut store = 0;
    for (step, (sr, op)) in prog.steps.iter().enumerate() {
        store = prog.kernel_store(*sr, store);
        let x = prog.target(op.on(), store, w.handle_store(&f, op));
        let res = match op {
            Op::Trap | Op::Return { .. } | Op::ReturnHoldingLock => Res::Skip,
            _ => exec_real(&w, (&stores[x], x), None, KERNEL_LOCK, &mut f, op),
        };
        w.push(Ev::Kernel { step, res });
        let after = Ev::After {
            stacks: stores.iter().map(|s| s.outstanding_stacks()).collect(),
            held: crate::sync::held(),
            states: real_states(&w, &stores),
        };
        w.push(after);
    }
    let seen = w.seen.borrow().clone();
    for k in seen {
        let res = match stores.iter().find(|s| s.state(k).is_some()) {
            Some(s) => match s.drop_cont(k) {
                Ok(()) => Res::Unit,
                Err(t) => Res::Trap(Tk::of(&t)),
            },
            None => Res::Skip,
        };
        w.push(Ev::Cleanup { res });
    }
    let after = Ev::After {
        stacks: stores.iter().map(|s| s.outstanding_stacks()).collect(),
        held: crate::sync::held(),
        states: real_states(&w, &stores),
    };
    w.push(after);
    let stacks = stores.iter().map(|s| s.outstanding_stacks()).collect();
    let log = core::mem::take(&mut *w.log.borrow_mut());
    let weak: Vec<_> = stores.iter().map(Rc::downgrade).collect();
    drop(stores);
    RealRun {
        log,
        stacks,
        world_strong: Rc::strong_count(&w),
        stores_alive: weak.iter().any(|s| s.upgrade().is_some()),
    }
}

// ----- the reference model ------------------------------------------------

/// A model handle: store, record, use count. `None` is `ContObj::NULL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mh {
    store: usize,
    rec: usize,
    rev: u64,
}
type MH = Option<Mh>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MVal {
    I(i32),
    K(MH),
}

/// One member of a chain or segment: its record and the handler list of
/// the resume that made it run (normalized tag index, is a switch).
#[derive(Clone, Debug)]
struct Link {
    rec: usize,
    handlers: Vec<(usize, bool)>,
}

/// Which op (at the activation's `pc`) a started continuation waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wait {
    Resume,
    Suspend,
    Switch,
}

#[derive(Clone, Debug)]
struct Act {
    func: usize,
    pc: usize,
    f: Frame<MH>,
    wait: Option<Wait>,
}

/// What `payload` finds in the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mailbox {
    /// Fresh, or suspended by a switch: no payload of the tag's types.
    Empty,
    Payload(i32, MH),
}

#[derive(Clone, Debug)]
struct MRec {
    state: State,
    rev: u64,
    born: u64,
    func: usize,
    /// How many values the next resume/bind must still supply.
    expected: usize,
    bound: Vec<MVal>,
    mailbox: Mailbox,
    /// Fresh or suspended: the segment, outermost first, this record last.
    segment: Vec<Link>,
    act: Option<Act>,
}

#[derive(Default)]
struct MStore {
    recs: Vec<MRec>,
    /// Free records, LIFO (last = next taken).
    free: Vec<usize>,
    /// The running chain, outermost first.
    chain: Vec<Link>,
    stacks: usize,
}

/// How a model resume came back to its resumer.
#[derive(Clone, Copy, Debug)]
enum Outcome {
    Returned(i32),
    Suspended { handler: usize, cont: Mh },
}

/// What the model's interpreter loop does next.
enum Flow {
    /// The top of the chain runs its next op.
    Go,
    /// A trap inside the chain: it ends.
    Trap(Tk),
    /// The kernel-level resume gets this.
    Done(Outcome),
}

/// What one op asks for.
enum Ex {
    Res(Res),
    /// A trap raised by the runtime: inside the store's running chain it
    /// ends the chain; elsewhere it is an `Err`.
    Raise(Tk),
    Resume {
        c: usize,
        args: Vec<MVal>,
        handlers: Vec<(usize, bool)>,
    },
    Suspend {
        j: usize,
        handler: usize,
        payload: (i32, MH),
    },
    Switch {
        j: usize,
        t: usize,
        arg: i32,
    },
}

struct Model<'p> {
    prog: &'p Prog,
    stores: Vec<MStore>,
    /// The store whose chain runs (stores do not nest).
    running: Option<usize>,
    /// The lock a guest or the kernel holds, if any.
    held: Option<&'static str>,
    log: Vec<Ev>,
    seen: Vec<Mh>,
    /// The kernel script's locals.
    kf: Frame<MH>,
    /// What this program exercised (see [`Coverage`]).
    coverage: Coverage,
}

impl<'p> Model<'p> {
    fn new(prog: &'p Prog) -> Model<'p> {
        Model {
            prog,
            stores: (0..prog.stores).map(|_| MStore::default()).collect(),
            running: None,
            held: None,
            log: Vec::new(),
            seen: Vec::new(),
            kf: Frame::new(None, KERNEL_SLOTS, 0),
            coverage: Coverage::default(),
        }
    }

    fn cover(&mut self, what: String) {
        *self.coverage.0.entry(what).or_insert(0) += 1;
    }

    fn rec(&mut self, x: usize, r: usize) -> &mut MRec {
        &mut self.stores[x].recs[r]
    }

    fn in_chain(&self, x: usize) -> bool {
        !self.stores[x].chain.is_empty()
    }

    fn hd(&mut self, h: MH) -> Hd {
        match h {
            None => Hd { stores: 0, rev: 0 },
            Some(m) => {
                if !self.seen.contains(&m) {
                    self.seen.push(m);
                }
                Hd {
                    stores: 1 << m.store,
                    rev: m.rev,
                }
            }
        }
    }

    fn handle(&self, x: usize, r: usize) -> Mh {
        Mh {
            store: x,
            rec: r,
            rev: self.stores[x].recs[r].rev,
        }
    }

    fn state_of(&self, x: usize, h: MH) -> Option<State> {
        let h = h.filter(|h| h.store == x)?;
        let r = &self.stores[x].recs[h.rec];
        // A live handle sees its record's state; a used one sees how its
        // continuation ended while the record still holds it, else Consumed.
        let ended = matches!(r.state, State::Returned | State::Trapped | State::Dropped);
        Some(if r.rev == h.rev || (h.rev >= r.born && ended) {
            r.state
        } else {
            State::Consumed
        })
    }

    fn handle_store(&self, f: &Frame<MH>, op: &Op) -> Option<usize> {
        Some(f.get(op.slot()?, |h| self.is_live(h)).h?.store)
    }

    fn is_live(&self, h: MH) -> bool {
        h.is_some_and(|m| {
            matches!(
                self.state_of(m.store, h),
                Some(State::Fresh | State::Suspended)
            )
        })
    }

    fn live(&self, x: usize, h: MH) -> Result<usize, TrapKind> {
        let Some(h) = h else {
            return Err(TrapKind::NullContinuation);
        };
        if h.store != x {
            return Err(TrapKind::ForeignContinuation);
        }
        if self.stores[x].recs[h.rec].rev != h.rev {
            return Err(TrapKind::ConsumedContinuation);
        }
        Ok(h.rec)
    }

    fn new_cont(&mut self, x: usize, func: usize) -> Mh {
        let st = &mut self.stores[x];
        let r = match st.free.pop() {
            Some(r) => r,
            None => {
                st.recs.push(MRec {
                    state: State::Returned,
                    rev: 0,
                    born: 0,
                    func: 0,
                    expected: 0,
                    bound: Vec::new(),
                    mailbox: Mailbox::Empty,
                    segment: Vec::new(),
                    act: None,
                });
                st.recs.len() - 1
            }
        };
        st.stacks += 1;
        let rec = &mut st.recs[r];
        rec.state = State::Fresh;
        rec.born = rec.rev;
        rec.func = func;
        rec.expected = 2;
        rec.bound.clear();
        rec.mailbox = Mailbox::Empty;
        rec.segment = vec![Link {
            rec: r,
            handlers: Vec::new(),
        }];
        rec.act = None;
        self.handle(x, r)
    }

    fn release(&mut self, x: usize, r: usize, state: State) {
        let st = &mut self.stores[x];
        st.stacks -= 1;
        st.free.push(r);
        let rec = &mut st.recs[r];
        rec.state = state;
        rec.act = None;
        rec.segment.clear();
        rec.bound.clear();
    }

    fn payload(&self, x: usize, h: MH) -> Result<(i32, MH), TrapKind> {
        let r = self.live(x, h)?;
        let rec = &self.stores[x].recs[r];
        match rec.mailbox {
            Mailbox::Payload(p, ph) if rec.state == State::Suspended && rec.bound.is_empty() => {
                Ok((p, ph))
            }
            _ => Err(TrapKind::SignatureMismatch),
        }
    }

    /// The chain index and handler index of the nearest handler for `key`.
    fn find_handler(&self, x: usize, key: (usize, bool)) -> Option<(usize, usize)> {
        let chain = &self.stores[x].chain;
        (0..chain.len())
            .rev()
            .find_map(|j| Some((j, chain[j].handlers.iter().position(|&h| h == key)?)))
    }

    /// One op on store `x`. `own_guest`: the function of the guest of
    /// store `x` running it (None: the kernel, or a guest of another store).
    fn exec(
        &mut self,
        x: usize,
        own_guest: Option<usize>,
        lock_name: &'static str,
        f: &mut Frame<MH>,
        op: &Op,
    ) -> Ex {
        let raise = |kind| Ex::Raise(Tk::kind(kind));
        match op {
            Op::New { func, into, .. } => {
                let Some(func) = self.prog.new_func(*func, own_guest) else {
                    return Ex::Res(Res::Skip);
                };
                let h = self.new_cont(x, func);
                f.put(*into, Some(h), 2);
                Ex::Res(Res::H(self.hd(Some(h))))
            }
            Op::Resume { r, .. } => {
                let s = f.get(r.slot, |h| self.is_live(h));
                let kv = f.get(r.kslot, |h| self.is_live(h)).h;
                let arg = f.acc.wrapping_add(r.arg);
                let arity = resolve(r.arity, s.rem);
                let c = match self.live(x, s.h) {
                    Ok(c) => c,
                    Err(kind) => return raise(kind),
                };
                if expected(self.stores[x].recs[c].expected) != arity_types(arity) {
                    return raise(TrapKind::SignatureMismatch);
                }
                if r.lock {
                    return Ex::Raise(Tk::lock(lock_name));
                }
                if !self.in_chain(x) && self.running.is_some() {
                    return raise(TrapKind::OtherStoreRunning);
                }
                if r.wrong_result {
                    return raise(TrapKind::SignatureMismatch);
                }
                let args = match arity {
                    Arity::Unit | Arity::Auto => vec![],
                    Arity::Cont => vec![MVal::K(kv)],
                    Arity::I32 => vec![MVal::I(arg)],
                    Arity::I32Cont => vec![MVal::I(arg), MVal::K(kv)],
                };
                let mut handlers = self.prog.handlers(r);
                handlers.truncate(MAX_HANDLERS);
                Ex::Resume { c, args, handlers }
            }
            Op::Suspend {
                tag,
                arg,
                kslot,
                lock,
                ..
            } => {
                if !self.in_chain(x) {
                    return raise(TrapKind::UnhandledTag);
                }
                if *lock {
                    return Ex::Raise(Tk::lock(lock_name));
                }
                let t = self.prog.tag(*tag);
                if t == self.prog.tags {
                    return raise(TrapKind::SignatureMismatch);
                }
                let Some((j, handler)) = self.find_handler(x, (t, false)) else {
                    return raise(TrapKind::UnhandledTag);
                };
                Ex::Suspend {
                    j,
                    handler,
                    payload: (
                        f.acc.wrapping_add(*arg),
                        f.get(*kslot, |h| self.is_live(h)).h,
                    ),
                }
            }
            Op::Switch { slot, tag, arg, .. } => {
                if !self.in_chain(x) {
                    return raise(TrapKind::UnhandledTag);
                }
                let t = match self.live(x, f.get(*slot, |h| self.is_live(h)).h) {
                    Ok(t) => t,
                    Err(kind) => return raise(kind),
                };
                if self.stores[x].recs[t].expected != 2 {
                    return raise(TrapKind::SignatureMismatch);
                }
                let Some((j, _)) = self.find_handler(x, (self.prog.tag(*tag), true)) else {
                    return raise(TrapKind::UnhandledTag);
                };
                Ex::Switch {
                    j,
                    t,
                    arg: f.acc.wrapping_add(*arg),
                }
            }
            Op::Bind {
                slot,
                kind,
                arg,
                kslot,
                into,
                ..
            } => {
                let s = f.get(*slot, |h| self.is_live(h));
                let kv = f.get(*kslot, |h| self.is_live(h)).h;
                let c = match self.live(x, s.h) {
                    Ok(c) => c,
                    Err(kind) => return raise(kind),
                };
                let types = bind_types(*kind);
                let exp = expected(self.stores[x].recs[c].expected);
                if exp.len() < types.len() || exp[..types.len()] != *types {
                    return raise(TrapKind::SignatureMismatch);
                }
                let a = f.acc.wrapping_add(*arg);
                let vals = match kind {
                    BindKind::Unit => vec![],
                    BindKind::I32 => vec![MVal::I(a)],
                    BindKind::Cont => vec![MVal::K(kv)],
                    BindKind::I32Cont => vec![MVal::I(a), MVal::K(kv)],
                };
                let rec = self.rec(x, c);
                rec.rev += 1;
                rec.expected -= vals.len();
                rec.bound.extend(vals);
                let h = self.handle(x, c);
                f.put(*into, Some(h), s.rem.saturating_sub(types.len() as u8));
                Ex::Res(Res::H(self.hd(Some(h))))
            }
            Op::Drop { slot, .. } => {
                let c = match self.live(x, f.get(*slot, |h| self.is_live(h)).h) {
                    Ok(c) => c,
                    Err(kind) => return raise(kind),
                };
                self.rec(x, c).rev += 1;
                let seg = core::mem::take(&mut self.rec(x, c).segment);
                self.cover(format!("drop of a segment of {}", seg.len()));
                for link in seg.iter().rev() {
                    self.release(x, link.rec, State::Dropped);
                }
                Ex::Res(Res::Unit)
            }
            Op::State { slot, .. } => Ex::Res(Res::St(
                self.state_of(x, f.get(*slot, |h| self.is_live(h)).h),
            )),
            Op::Payload { slot, pslot, .. } => {
                match self.payload(x, f.get(*slot, |h| self.is_live(h)).h) {
                    Ok((p, ph)) => {
                        f.put(*pslot, ph, 2);
                        f.absorb(p);
                        Ex::Res(Res::Got(p, self.hd(ph)))
                    }
                    Err(kind) => raise(kind),
                }
            }
            Op::InCont { .. } => Ex::Res(Res::Bool(self.in_chain(x))),
            Op::Trap | Op::Return { .. } | Op::ReturnHoldingLock => Ex::Res(Res::Skip),
        }
    }

    /// A resume of `c` (checked, args ready) with `handlers`, from the
    /// kernel or the top of `x`'s chain.
    fn start_resume(
        &mut self,
        x: usize,
        c: usize,
        args: Vec<MVal>,
        handlers: Vec<(usize, bool)>,
    ) -> Flow {
        let rec = self.rec(x, c);
        rec.rev += 1;
        let mut vals = core::mem::take(&mut rec.bound);
        vals.extend(args);
        let mut seg = core::mem::take(&mut rec.segment);
        seg[0].handlers = handlers;
        let st = &mut self.stores[x];
        match st.chain.last() {
            Some(prev) => {
                let prev = prev.rec;
                st.recs[prev].state = State::Parent;
            }
            None => self.running = Some(x),
        }
        let depth = self.stores[x].chain.len() + seg.len();
        self.cover(format!(
            "resume of a segment of {} to depth {depth}",
            seg.len()
        ));
        let st = &mut self.stores[x];
        st.chain.extend(seg);
        st.recs[c].state = State::Running;
        self.deliver_values(x, c, vals)
    }

    /// `c`, now the top of the chain, receives `vals`: a fresh one starts,
    /// a suspended one returns from its suspend or switch.
    fn deliver_values(&mut self, x: usize, c: usize, vals: Vec<MVal>) -> Flow {
        let (v, k) = match vals[..] {
            [MVal::I(v), MVal::K(k)] => (v, k),
            _ => panic!("model: continuation receives {vals:?}"),
        };
        let rec = self.rec(x, c);
        let func = rec.func;
        match rec.act.take() {
            None => {
                let kh = self.hd(k);
                self.log.push(Ev::Start {
                    store: x,
                    func,
                    arg: v,
                    k: kh,
                });
                let mut f = Frame::new(None, GUEST_SLOTS, v);
                f.slots[0].h = k;
                self.rec(x, c).act = Some(Act {
                    func,
                    pc: 0,
                    f,
                    wait: None,
                });
            }
            Some(mut act) => {
                assert!(
                    matches!(act.wait, Some(Wait::Suspend | Wait::Switch)),
                    "model: values delivered to {act:?}"
                );
                let into = match &self.prog.funcs[func][act.pc] {
                    Op::Suspend { into, .. } | Op::Switch { into, .. } => *into,
                    op => panic!("model: waiting in {op:?}"),
                };
                let h = self.hd(k);
                self.log.push(Ev::Guest {
                    store: x,
                    func,
                    pc: act.pc,
                    res: Res::Got(v, h),
                });
                act.f.put(into, k, 2);
                act.f.absorb(v);
                act.pc += 1;
                act.wait = None;
                self.rec(x, c).act = Some(act);
            }
        }
        Flow::Go
    }

    /// What a resume gives its resumer, into the resumer's frame: the
    /// `Res` to log, or (inside the running chain) a trap of `payload`.
    fn absorb(&mut self, x: usize, r: &ResumeOp, f: &mut Frame<MH>, o: Outcome) -> Result<Res, Tk> {
        match o {
            Outcome::Returned(v) => {
                f.absorb(v);
                Ok(Res::Returned(v))
            }
            Outcome::Suspended { handler, cont } => {
                let c = self.hd(Some(cont));
                let payload = match self.payload(x, Some(cont)) {
                    Ok((p, ph)) => {
                        let phd = self.hd(ph);
                        f.put_aside(r.pslot, ph);
                        f.absorb(p);
                        Ok((p, phd))
                    }
                    Err(kind) if self.in_chain(x) => return Err(Tk::kind(kind)),
                    Err(kind) => Err(Tk::kind(kind)),
                };
                f.put(r.into, Some(cont), 2);
                f.absorb(handler as i32);
                Ok(Res::Suspended {
                    handler,
                    cont: c,
                    payload,
                })
            }
        }
    }

    /// The resume that ran the segment now gone from the top of `x`'s
    /// chain gets `o`: the kernel, or the guest now on top.
    fn deliver_outcome(&mut self, x: usize, o: Outcome) -> Flow {
        let Some(top) = self.stores[x].chain.last().map(|l| l.rec) else {
            self.running = None;
            return Flow::Done(o);
        };
        self.rec(x, top).state = State::Running;
        let mut act = self.rec(x, top).act.take().expect("a resumer runs");
        assert_eq!(act.wait, Some(Wait::Resume), "model: resumer {act:?}");
        let Op::Resume { r, .. } = &self.prog.funcs[act.func][act.pc] else {
            panic!("model: resumer not in a resume: {act:?}")
        };
        let res = self.absorb(x, r, &mut act.f, o);
        let (func, pc) = (act.func, act.pc);
        act.pc += 1;
        act.wait = None;
        self.rec(x, top).act = Some(act);
        match res {
            Ok(res) => {
                self.log.push(Ev::Guest {
                    store: x,
                    func,
                    pc,
                    res,
                });
                Flow::Go
            }
            Err(tk) => Flow::Trap(tk),
        }
    }

    fn do_return(&mut self, x: usize, v: i32) -> Flow {
        if let Some(name) = self.held {
            return Flow::Trap(Tk::lock(name));
        }
        let top = self.stores[x]
            .chain
            .pop()
            .expect("a continuation returns")
            .rec;
        self.release(x, top, State::Returned);
        self.deliver_outcome(x, Outcome::Returned(v))
    }

    fn do_suspend(&mut self, x: usize, j: usize, handler: usize, payload: (i32, MH)) -> Flow {
        let cur = self.stores[x].chain.last().unwrap().rec;
        let seg = self.stores[x].chain.split_off(j);
        let to = if j == 0 { "the kernel" } else { "a guest" };
        self.cover(format!("suspend of a segment of {} to {to}", seg.len()));
        let rec = self.rec(x, cur);
        rec.state = State::Suspended;
        rec.mailbox = Mailbox::Payload(payload.0, payload.1);
        rec.expected = 2;
        rec.bound.clear();
        rec.segment = seg;
        let cont = self.handle(x, cur);
        self.deliver_outcome(x, Outcome::Suspended { handler, cont })
    }

    fn do_switch(&mut self, x: usize, j: usize, t: usize, arg: i32) -> Flow {
        let cur = self.stores[x].chain.last().unwrap().rec;
        self.rec(x, t).rev += 1;
        let h = self.handle(x, cur);
        let mut vals = core::mem::take(&mut self.rec(x, t).bound);
        vals.extend([MVal::I(arg), MVal::K(Some(h))]);
        let seg = self.stores[x].chain.split_off(j);
        let tseg = self.stores[x].recs[t].segment.len();
        self.cover(format!(
            "switch from a segment of {} to one of {tseg}",
            seg.len()
        ));
        let handlers = seg[0].handlers.clone();
        let rec = self.rec(x, cur);
        rec.state = State::Suspended;
        rec.mailbox = Mailbox::Empty;
        rec.expected = 2;
        rec.bound.clear();
        rec.segment = seg;
        let mut tseg = core::mem::take(&mut self.rec(x, t).segment);
        tseg[0].handlers = handlers;
        self.stores[x].chain.extend(tseg);
        self.rec(x, t).state = State::Running;
        self.deliver_values(x, t, vals)
    }

    /// The top of `x`'s chain runs its next op.
    fn step(&mut self, x: usize) -> Flow {
        let cur = self.stores[x].chain.last().unwrap().rec;
        let mut act = self.rec(x, cur).act.take().expect("the top runs");
        let prog = self.prog;
        let ops = &prog.funcs[act.func];
        let Some(op) = ops.get(act.pc) else {
            let v = act.f.acc;
            self.rec(x, cur).act = Some(act);
            return self.do_return(x, v);
        };
        match op {
            Op::Trap => {
                return Flow::Trap(Tk {
                    kind: TrapKind::Guest,
                    msg: Some(GUEST_TRAP),
                });
            }
            Op::Return { v } => {
                let v = mix(act.f.acc, *v);
                self.rec(x, cur).act = Some(act);
                return self.do_return(x, v);
            }
            Op::ReturnHoldingLock => {
                self.held = Some(GUEST_LOCK);
                let v = act.f.acc;
                self.rec(x, cur).act = Some(act);
                return self.do_return(x, v);
            }
            _ => {}
        }
        let target = prog.target(op.on(), x, self.handle_store(&act.f, op));
        let own = (target == x).then_some(act.func);
        let ex = self.exec(target, own, GUEST_LOCK, &mut act.f, op);
        let (func, pc) = (act.func, act.pc);
        let res = match ex {
            Ex::Res(res) => res,
            Ex::Raise(tk) if self.in_chain(target) => {
                self.cover(format!(
                    "trap inside a chain: {} {:?}",
                    op_name(op),
                    tk.kind
                ));
                return Flow::Trap(tk);
            }
            Ex::Raise(tk) => Res::Trap(tk),
            Ex::Resume { c, args, handlers } => {
                act.wait = Some(Wait::Resume);
                self.rec(x, cur).act = Some(act);
                return self.start_resume(x, c, args, handlers);
            }
            Ex::Suspend {
                j,
                handler,
                payload,
            } => {
                act.wait = Some(Wait::Suspend);
                self.rec(x, cur).act = Some(act);
                return self.do_suspend(x, j, handler, payload);
            }
            Ex::Switch { j, t, arg } => {
                act.wait = Some(Wait::Switch);
                self.rec(x, cur).act = Some(act);
                return self.do_switch(x, j, t, arg);
            }
        };
        act.pc += 1;
        self.rec(x, cur).act = Some(act);
        self.log.push(Ev::Guest {
            store: x,
            func,
            pc,
            res,
        });
        Flow::Go
    }

    /// Runs `x`'s chain until the kernel-level resume gets an outcome.
    fn run(&mut self, x: usize, mut flow: Flow) -> Result<Outcome, Tk> {
        loop {
            match flow {
                Flow::Go => flow = self.step(x),
                Flow::Done(o) => return Ok(o),
                Flow::Trap(tk) => {
                    let chain = core::mem::take(&mut self.stores[x].chain);
                    for link in chain.iter().rev() {
                        self.release(x, link.rec, State::Trapped);
                    }
                    self.running = None;
                    self.held = None;
                    return Err(tk);
                }
            }
        }
    }

    fn kernel_step(&mut self, store: usize, op: &Op) -> Res {
        let x = self
            .prog
            .target(op.on(), store, self.handle_store(&self.kf, op));
        if matches!(op, Op::Trap | Op::Return { .. } | Op::ReturnHoldingLock) {
            return Res::Skip;
        }
        let mut f = self.kf;
        let res = match self.exec(x, None, KERNEL_LOCK, &mut f, op) {
            Ex::Res(res) => res,
            Ex::Raise(tk) => {
                self.cover(format!("trap at the kernel: {} {:?}", op_name(op), tk.kind));
                Res::Trap(tk)
            }
            Ex::Resume { c, args, handlers } => {
                let flow = self.start_resume(x, c, args, handlers);
                match self.run(x, flow) {
                    Ok(o) => {
                        let Op::Resume { r, .. } = op else {
                            unreachable!()
                        };
                        self.absorb(x, r, &mut f, o)
                            .expect("no chain at the kernel")
                    }
                    Err(tk) => Res::Trap(tk),
                }
            }
            Ex::Suspend { .. } | Ex::Switch { .. } => unreachable!("no chain at the kernel"),
        };
        self.kf = f;
        res
    }

    fn after(&self) -> Ev {
        Ev::After {
            stacks: self.stores.iter().map(|s| s.stacks).collect(),
            held: 0,
            states: self
                .seen
                .iter()
                .map(|h| self.state_of(h.store, Some(*h)))
                .collect(),
        }
    }

    fn run_prog(mut self) -> (Vec<Ev>, Vec<usize>, Coverage) {
        let prog = self.prog;
        let mut store = 0;
        for (step, (sr, op)) in prog.steps.iter().enumerate() {
            store = prog.kernel_store(*sr, store);
            let res = self.kernel_step(store, op);
            self.log.push(Ev::Kernel { step, res });
            let after = self.after();
            self.log.push(after);
        }
        for h in self.seen.clone() {
            let mut f = Frame::new(Some(h), 1, 0);
            let op = Op::Drop {
                on: On::Own,
                slot: SlotRef::At(0),
            };
            let res = match self.exec(h.store, None, KERNEL_LOCK, &mut f, &op) {
                Ex::Res(res) => res,
                Ex::Raise(tk) => Res::Trap(tk),
                _ => unreachable!(),
            };
            self.log.push(Ev::Cleanup { res });
        }
        let after = self.after();
        self.log.push(after);
        let stacks = self.stores.iter().map(|s| s.stacks).collect();
        (self.log, stacks, self.coverage)
    }
}

// ----- generation ---------------------------------------------------------

/// Guests' store operands: mostly their own store.
fn on_s() -> BoxedStrategy<On> {
    prop_oneof![
        8 => Just(On::Own),
        2 => Just(On::OfHandle),
        1 => (0u8..3).prop_map(On::At),
    ]
    .boxed()
}

/// The kernel's store operands: the step's store or the handle's.
fn kernel_on_s() -> BoxedStrategy<On> {
    prop_oneof![Just(On::Own), Just(On::OfHandle)].boxed()
}

/// Slot numbers of `into` operands: taken modulo the slot count (4 in
/// guests, 6 in the kernel).
fn into_s() -> impl Strategy<Value = u8> {
    0u8..12
}

/// Slot operands: mostly a handle that is live, or the one just made or
/// received.
fn slot_s() -> impl Strategy<Value = SlotRef> {
    prop_oneof![
        3 => Just(SlotRef::Last),
        8 => into_s().prop_map(SlotRef::Live),
        2 => into_s().prop_map(SlotRef::At),
        1 => into_s().prop_map(SlotRef::Raw),
    ]
}

fn arg_s() -> impl Strategy<Value = i32> {
    -3i32..10
}

/// Tag operands: a normal tag (modulo their count), rarely the odd one.
fn tag_s() -> impl Strategy<Value = u8> {
    prop_oneof![12 => 0u8..6, 1 => Just(ODD_TAG)]
}

fn arity_s() -> impl Strategy<Value = Arity> {
    prop_oneof![
        20 => Just(Arity::Auto),
        1 => Just(Arity::Unit),
        1 => Just(Arity::Cont),
        1 => Just(Arity::I32),
        1 => Just(Arity::I32Cont),
    ]
}

fn bind_s() -> impl Strategy<Value = BindKind> {
    prop_oneof![
        Just(BindKind::Unit),
        Just(BindKind::I32),
        Just(BindKind::Cont),
        Just(BindKind::I32Cont),
    ]
}

fn rare() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.02)
}

/// Operands for a handle passed as a value: mostly not the one just used.
fn kslot_s() -> impl Strategy<Value = SlotRef> {
    prop_oneof![
        1 => Just(SlotRef::Last),
        2 => into_s().prop_map(SlotRef::Live),
        2 => into_s().prop_map(SlotRef::At),
        1 => into_s().prop_map(SlotRef::Raw),
    ]
}

/// A resume's operands. Guests' resumes handle fewer tags than the
/// kernel's, so that suspensions often pass them by (longer segments).
fn resume_s(guest: bool) -> impl Strategy<Value = ResumeOp> {
    let all = if guest {
        prop_oneof![
            4 => Just(AllTags::No),
            1 => Just(AllTags::Suspend),
            1 => Just(AllTags::SuspendAndSwitch),
        ]
        .boxed()
    } else {
        prop_oneof![
            1 => Just(AllTags::No),
            2 => Just(AllTags::Suspend),
            2 => Just(AllTags::SuspendAndSwitch),
        ]
        .boxed()
    };
    (
        (slot_s(), arity_s(), arg_s(), kslot_s()),
        (
            prop::collection::vec((tag_s(), prop::bool::weighted(0.35)), 0..=2),
            all,
        ),
        (rare(), into_s(), into_s(), rare()),
    )
        .prop_map(
            |((slot, arity, arg, kslot), (handlers, all), (wrong_result, into, pslot, lock))| {
                ResumeOp {
                    slot,
                    arity,
                    arg,
                    kslot,
                    handlers,
                    all,
                    wrong_result,
                    into,
                    pslot,
                    lock,
                }
            },
        )
}

fn new_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    (on, 0u8..4, into_s())
        .prop_map(|(on, func, into)| Op::New { on, func, into })
        .boxed()
}
fn resume_op_s(on: BoxedStrategy<On>, guest: bool) -> BoxedStrategy<Op> {
    (on, resume_s(guest))
        .prop_map(|(on, r)| Op::Resume { on, r })
        .boxed()
}
fn suspend_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    (on, tag_s(), arg_s(), kslot_s(), into_s(), rare())
        .prop_map(|(on, tag, arg, kslot, into, lock)| Op::Suspend {
            on,
            tag,
            arg,
            kslot,
            into,
            lock,
        })
        .boxed()
}
fn switch_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    (on, slot_s(), tag_s(), arg_s(), into_s())
        .prop_map(|(on, slot, tag, arg, into)| Op::Switch {
            on,
            slot,
            tag,
            arg,
            into,
        })
        .boxed()
}
/// Bind, drop, state, payload, in_continuation.
fn misc_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (on.clone(), slot_s(), bind_s(), arg_s(), kslot_s(), into_s()).prop_map(
            |(on, slot, kind, arg, kslot, into)| Op::Bind { on, slot, kind, arg, kslot, into }
        ),
        3 => (on.clone(), slot_s()).prop_map(|(on, slot)| Op::Drop { on, slot }),
        2 => (on.clone(), slot_s()).prop_map(|(on, slot)| Op::State { on, slot }),
        2 => (on.clone(), slot_s(), into_s())
            .prop_map(|(on, slot, pslot)| Op::Payload { on, slot, pslot }),
        1 => on.prop_map(|on| Op::InCont { on }),
    ]
    .boxed()
}

fn guest_op_s() -> impl Strategy<Value = Op> {
    let on = on_s;
    prop_oneof![
        6 => new_s(on()),
        6 => resume_op_s(on(), true),
        7 => suspend_s(on()),
        3 => switch_s(on()),
        3 => misc_s(on()),
        1 => Just(Op::Trap),
        2 => arg_s().prop_map(|v| Op::Return { v }),
        1 => prop::bool::weighted(0.2).prop_map(|locked| if locked {
            Op::ReturnHoldingLock
        } else {
            Op::Return { v: 1 }
        }),
    ]
}

/// Two ops: make a continuation (in the running store), then resume it
/// or switch to it.
fn pair_s() -> impl Strategy<Value = Vec<Op>> {
    let then = prop_oneof![
        3 => resume_s(true).prop_map(|r| Op::Resume {
            on: On::Own,
            r: ResumeOp { slot: SlotRef::Last, ..r },
        }),
        1 => (tag_s(), arg_s(), into_s()).prop_map(|(tag, arg, into)| Op::Switch {
            on: On::Own,
            slot: SlotRef::Last,
            tag,
            arg,
            into,
        }),
    ];
    let own = (new_s(Just(On::Own).boxed()), then).prop_map(|(new, then)| vec![new, then]);
    // Make in some store, then resume on the handle's store: from a guest
    // of another store, refused as `OtherStoreRunning`.
    let cross = (new_s((0u8..3).prop_map(On::At).boxed()), resume_s(true)).prop_map(|(new, r)| {
        vec![
            new,
            Op::Resume {
                on: On::OfHandle,
                r: ResumeOp {
                    slot: SlotRef::Last,
                    ..r
                },
            },
        ]
    });
    prop_oneof![4 => own, 1 => cross]
}

/// A guest function's ops: single ops and make-then-run pairs.
fn guest_ops_s() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![3 => guest_op_s().prop_map(|op| vec![op]), 1 => pair_s()],
        0..=8,
    )
    .prop_map(|chunks| chunks.into_iter().flatten().collect())
}

/// The kernel's ops (on the step's store): mostly make and resume.
fn kernel_op_s() -> impl Strategy<Value = Op> {
    let on = kernel_on_s;
    prop_oneof![
        5 => new_s(on()),
        12 => resume_op_s(on(), false),
        3 => misc_s(on()),
        1 => prop_oneof![suspend_s(on()), switch_s(on())],
    ]
}

fn store_ref_s() -> impl Strategy<Value = StoreRef> {
    prop_oneof![6 => Just(StoreRef::Same), 1 => (0u8..3).prop_map(StoreRef::At)]
}

/// The kernel's script: single steps and make-then-resume pairs.
fn steps_s() -> impl Strategy<Value = Vec<(StoreRef, Op)>> {
    let pair =
        (store_ref_s(), new_s(Just(On::Own).boxed()), resume_s(false)).prop_map(|(sr, new, r)| {
            vec![
                (sr, new),
                (
                    StoreRef::Same,
                    Op::Resume {
                        on: On::Own,
                        r: ResumeOp {
                            slot: SlotRef::Last,
                            ..r
                        },
                    },
                ),
            ]
        });
    prop::collection::vec(
        prop_oneof![3 => (store_ref_s(), kernel_op_s()).prop_map(|s| vec![s]), 1 => pair],
        1..=16,
    )
    .prop_map(|chunks| chunks.into_iter().flatten().collect())
}

fn prog_s() -> impl Strategy<Value = Prog> {
    (
        1usize..=3,
        1usize..=3,
        prop::collection::vec(guest_ops_s(), 1..=4),
        steps_s(),
    )
        .prop_map(|(stores, tags, funcs, steps)| Prog {
            stores,
            tags,
            funcs,
            steps,
        })
}

// ----- the property -------------------------------------------------------

/// Counts of what the programs exercised, by description: printed after
/// the run when `MODEL_TEST_STATS` is set, to check that the generator
/// still reaches deep chains, long segments, switches and every trap.
#[derive(Default)]
struct Coverage(std::collections::BTreeMap<String, usize>);

impl Coverage {
    fn add(&mut self, other: &Coverage) {
        for (what, n) in &other.0 {
            *self.0.entry(what.clone()).or_insert(0) += n;
        }
    }
}

fn op_name(op: &Op) -> &'static str {
    match op {
        Op::New { .. } => "new",
        Op::Resume { .. } => "resume",
        Op::Suspend { .. } => "suspend",
        Op::Switch { .. } => "switch",
        Op::Bind { .. } => "bind",
        Op::Drop { .. } => "drop",
        Op::State { .. } => "state",
        Op::Payload { .. } => "payload",
        Op::InCont { .. } => "in_continuation",
        Op::Trap => "trap",
        Op::Return { .. } => "return",
        Op::ReturnHoldingLock => "return holding a lock",
    }
}

fn res_name(r: &Res) -> String {
    match r {
        Res::Trap(tk) => format!("trap {:?}", tk.kind),
        Res::Suspended { .. } => "suspended".into(),
        Res::St(s) => format!("state {s:?}"),
        Res::Got(..) => "values".into(),
        Res::H(..) => "a handle".into(),
        Res::Returned(..) => "returned".into(),
        Res::Skip => "nothing (skipped)".into(),
        Res::Unit => "ok".into(),
        Res::Bool(b) => format!("{b}"),
    }
}

fn first_difference(real: &[Ev], model: &[Ev]) -> String {
    let i = real
        .iter()
        .zip(model)
        .position(|(a, b)| a != b)
        .unwrap_or(real.len().min(model.len()));
    let from = i.saturating_sub(6);
    let mut s = format!("logs differ at event {i}\ncommon prefix (last few):\n");
    for ev in &real[from..i] {
        s += &format!("    {ev:?}\n");
    }
    s += &format!("real : {:?}\nmodel: {:?}\n", real.get(i), model.get(i));
    s
}

/// Runs `prog` on the runtime and on the model; both must agree, and the
/// runtime must end with no stack out and the guests' captures released.
fn check(prog: &Prog, coverage: &mut Coverage) -> Result<(), TestCaseError> {
    let (model_log, model_stacks, model_coverage) = Model::new(prog).run_prog();
    let real = run_real(prog);
    coverage.add(&model_coverage);
    for ev in &real.log {
        let key = match ev {
            Ev::Start { .. } => String::from("guest started"),
            Ev::Guest { res, .. } => format!("guest op gave {}", res_name(res)),
            Ev::Kernel { res, .. } => format!("kernel op gave {}", res_name(res)),
            Ev::After { .. } | Ev::Cleanup { .. } => continue,
        };
        *coverage.0.entry(key).or_insert(0) += 1;
    }
    if real.log != model_log {
        return Err(TestCaseError::fail(first_difference(&real.log, &model_log)));
    }
    prop_assert!(
        real.stacks.iter().all(|&n| n == 0),
        "stacks out after every handle was dropped: {:?} (model {:?})",
        real.stacks,
        model_stacks
    );
    prop_assert_eq!(
        real.world_strong,
        1,
        "the guests' captures outlived the stores"
    );
    prop_assert!(!real.stores_alive);
    prop_assert_eq!(crate::sync::held(), 0);
    Ok(())
}

fn config() -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = DEFAULT_CASES;
    }
    if std::env::var_os("PROPTEST_RNG_SEED").is_none() {
        config.rng_seed = RngSeed::Fixed(DEFAULT_SEED);
    }
    // No `proptest-regressions/` files: a failure prints its input.
    config.failure_persistence = None;
    config
}

#[test]
fn model_runtime_and_reference_model_agree_on_random_programs() {
    let mut runner = TestRunner::new(config());
    let coverage = RefCell::new(Coverage::default());
    let started = std::time::Instant::now();
    let result = runner.run(&prog_s(), |prog| check(&prog, &mut coverage.borrow_mut()));
    std::eprintln!(
        "model test: {} cases in {:.2?}",
        runner.config().cases,
        started.elapsed()
    );
    if std::env::var_os("MODEL_TEST_STATS").is_some() {
        for (what, n) in &coverage.borrow().0 {
            std::eprintln!("{n:9} {what}");
        }
    }
    if let Err(e) = result {
        panic!("{e}");
    }
}
