//! The executor: runs a program on the real runtime ([`Store`] with
//! [`MmapStacks`], real stacks and real switches), every guest one
//! interpreter ([`run_guest`]) of its op list, and logs what every
//! operation gave back, the states `Store::state` reports and the stacks
//! each store has out.

use super::*;

pub(crate) type StoreRc = Rc<Pin<Box<Store>>>;

/// What every guest closure captures (one `Rc`, released when the stores
/// drop their closures).
pub(crate) struct World {
    pub(crate) prog: Prog,
    pub(crate) stores: Vec<Weak<Pin<Box<Store>>>>,
    pub(crate) funcs: RefCell<Vec<Vec<Func>>>,
    pub(crate) tags: Vec<Tag>,
    pub(crate) log: RefCell<Vec<Ev>>,
    pub(crate) seen: RefCell<Vec<ContObj>>,
}

/// The store a guest runs in, and its index: the guest reaches it through
/// the `&Store` it was called with, also while that store is being dropped
/// (its `Rc` no longer upgrades then). `None` for the kernel.
pub(crate) type Own<'a> = Option<(&'a Store, usize)>;

impl World {
    /// `f` of store `i`, if it is not dropped (or is `own`'s).
    pub(crate) fn with<T>(&self, i: usize, own: Own<'_>, f: impl FnOnce(&Store) -> T) -> Option<T> {
        match own {
            Some((s, si)) if si == i => Some(f(s)),
            _ => self.stores[i].upgrade().map(|s| f(&s)),
        }
    }
    pub(crate) fn push(&self, ev: Ev) {
        self.log.borrow_mut().push(ev);
    }
    /// What store `i` says of `k` (`None` too once it is dropped).
    pub(crate) fn state(&self, i: usize, k: ContObj, own: Own<'_>) -> Option<State> {
        self.with(i, own, |s| s.state(k)).flatten()
    }
    /// Which stores know `k` (as a bit set): exactly its own store, while
    /// that is not dropped.
    pub(crate) fn mask(&self, k: ContObj, own: Own<'_>) -> u8 {
        (0..self.stores.len())
            .filter(|&i| self.state(i, k, own).is_some())
            .fold(0, |m, i| m | 1 << i)
    }
    /// The log's view of `k`; remembers it for the kernel's final drops.
    pub(crate) fn hd(&self, k: ContObj, own: Own<'_>) -> Hd {
        let stores = self.mask(k, own);
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
    pub(crate) fn tag(&self, t: u8) -> Tag {
        self.tags[self.prog.tag(t)]
    }
    /// The log's view of a trap: an exception names its tag by index.
    pub(crate) fn tk(&self, t: &Trap) -> Tk {
        match Tk::of(t) {
            Tk {
                kind: TrapKind::Exception { tag },
                ..
            } => Tk::exception(self.tags.iter().position(|g| g.id() == tag).unwrap()),
            tk => tk,
        }
    }
    /// The store that made the handle of `op`'s handle operand.
    pub(crate) fn handle_store(&self, f: &Frame<ContObj>, op: &Op, own: Own<'_>) -> Option<usize> {
        let k = f.get(op.slot()?, |k| self.live(k, own)).h;
        (0..self.stores.len()).find(|&i| self.state(i, k, own).is_some())
    }
    /// Whether some store says `k` is fresh or suspended.
    pub(crate) fn live(&self, k: ContObj, own: Own<'_>) -> bool {
        (0..self.stores.len())
            .any(|i| matches!(self.state(i, k, own), Some(State::Fresh | State::Suspended)))
    }
    pub(crate) fn handlers(&self, r: &ResumeOp) -> ([Handler; MAX_HANDLERS], usize) {
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
/// function). `own`: the store of the guest running it. An `Err` is the
/// op's result, and the frame keeps it for `Op::PassOn`.
pub(crate) fn exec_real(
    w: &World,
    (st, x): (&Store, usize),
    own_guest: Option<usize>,
    own: Own<'_>,
    lock_name: &'static str,
    f: &mut Frame<ContObj>,
    op: &Op,
) -> Res {
    match exec_real_op(w, (st, x), own_guest, own, lock_name, f, op) {
        Ok(res) => res,
        Err(t) => {
            f.err = Some(t);
            Res::Trap(w.tk(&t))
        }
    }
}

pub(crate) fn exec_real_op(
    w: &World,
    (st, x): (&Store, usize),
    own_guest: Option<usize>,
    own: Own<'_>,
    lock_name: &'static str,
    f: &mut Frame<ContObj>,
    op: &Op,
) -> Result<Res, Trap> {
    let live = |k| w.live(k, own);
    Ok(match op {
        Op::New { func, into, .. } => {
            let Some(func) = w.prog.new_func(*func, own_guest) else {
                return Ok(Res::Skip);
            };
            let func = w.funcs.borrow()[x][func];
            let k = st.cont_new(func)?;
            f.put(*into, k, 2);
            Res::H(w.hd(k, own))
        }
        Op::Resume { r, .. } => {
            let s = f.get(r.slot, live);
            let kv = f.get(r.kslot, live).h;
            let arg = f.acc.wrapping_add(r.arg);
            let (hs, hn) = w.handlers(r);
            let hs = &hs[..hn];
            let lock = Mutex::new(lock_name, ());
            let guard = r.lock.then(|| lock.lock());
            let arity = resolve(r.arity, s.rem);
            let throw = r.throw.map(|t| w.tag(t));
            let out = if r.wrong_result {
                resume_real::<i64>(st, s.h, (arity, throw), arg, kv, hs).map(|o| match o {
                    Resumed::Returned(v) => Resumed::Returned(v as i32),
                    Resumed::Suspended { handler, cont } => Resumed::Suspended { handler, cont },
                })
            } else {
                resume_real::<i32>(st, s.h, (arity, throw), arg, kv, hs)
            };
            drop(guard);
            match out? {
                Resumed::Returned(v) => {
                    f.absorb(v);
                    Res::Returned(v)
                }
                Resumed::Suspended { handler, cont } => {
                    let c = w.hd(cont, own);
                    let payload = match st.payload::<(i32, ContObj)>(cont) {
                        Ok((p, ph)) => {
                            let phd = w.hd(ph, own);
                            f.put_aside(r.pslot, ph);
                            f.absorb(p);
                            Ok((p, phd))
                        }
                        Err(t) => Err(w.tk(&t)),
                    };
                    f.put(r.into, cont, 2);
                    f.absorb(handler as i32);
                    Res::Suspended {
                        handler,
                        cont: c,
                        payload,
                    }
                }
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
            let kv = f.get(*kslot, live).h;
            let m = Mutex::new(lock_name, ());
            let guard = lock.then(|| m.lock());
            let r = st.suspend::<(i32, ContObj), (i32, ContObj)>(
                w.tag(*tag),
                (f.acc.wrapping_add(*arg), kv),
            );
            drop(guard);
            let (v, k) = r?;
            let h = w.hd(k, own);
            f.put(*into, k, 2);
            f.absorb(v);
            Res::Got(v, h)
        }
        Op::Switch {
            slot,
            tag,
            arg,
            into,
            ..
        } => {
            let target = f.get(*slot, live).h;
            let arg = f.acc.wrapping_add(*arg);
            let (v, k) = st.switch::<i32, (i32, ContObj)>(target, w.tag(*tag), arg)?;
            let h = w.hd(k, own);
            f.put(*into, k, 2);
            f.absorb(v);
            Res::Got(v, h)
        }
        Op::Bind {
            slot,
            kind,
            arg,
            kslot,
            into,
            ..
        } => {
            let s = f.get(*slot, live);
            let kv = f.get(*kslot, live).h;
            let a = f.acc.wrapping_add(*arg);
            let k = match kind {
                BindKind::Unit => st.bind(s.h, ()),
                BindKind::I32 => st.bind(s.h, a),
                BindKind::Cont => st.bind(s.h, kv),
                BindKind::I32Cont => st.bind(s.h, (a, kv)),
            }?;
            f.put(
                *into,
                k,
                s.rem.saturating_sub(bind_types(*kind).len() as u8),
            );
            Res::H(w.hd(k, own))
        }
        Op::Drop { slot, lock, .. } => {
            let k = f.get(*slot, live).h;
            let m = Mutex::new(lock_name, ());
            let guard = lock.then(|| m.lock());
            let r = st.drop_cont(k);
            drop(guard);
            r?;
            Res::Unit
        }
        Op::State { slot, .. } => Res::St(st.state(f.get(*slot, live).h)),
        Op::Payload { slot, pslot, .. } => {
            let (p, ph) = st.payload::<(i32, ContObj)>(f.get(*slot, live).h)?;
            let h = w.hd(ph, own);
            f.put(*pslot, ph, 2);
            f.absorb(p);
            Res::Got(p, h)
        }
        Op::InCont { .. } => Res::Bool(st.in_continuation()),
        Op::Trap | Op::PassOn | Op::Return { .. } | Op::ReturnHoldingLock => Res::Skip,
    })
}

/// `st.resume(k, ..)` with the values `arity` says, or `resume_throw` of
/// `throw` with the payload `(arg, kv)`. Out of line: each `resume` is
/// inlined, and a debug build gives each its own stack slots, which in one
/// frame with the rest of `exec_real_op` would overflow a guest's stack.
#[inline(never)]
pub(crate) fn resume_real<R: kernel::cont::WasmValues>(
    st: &Store,
    k: ContObj,
    (arity, throw): (Arity, Option<Tag>),
    arg: i32,
    kv: ContObj,
    hs: &[Handler],
) -> Result<Resumed<R>, Trap> {
    if let Some(tag) = throw {
        return st.resume_throw(k, tag, (arg, kv), hs);
    }
    match arity {
        Arity::Unit | Arity::Auto => st.resume(k, (), hs),
        Arity::Cont => st.resume(k, kv, hs),
        Arity::I32 => st.resume(k, arg, hs),
        Arity::I32Cont => st.resume(k, (arg, kv), hs),
    }
}

/// The one guest: function `fi` of store `si`, interpreting its ops. It
/// logs what each op gives it, an `Err` included, and goes on.
pub(crate) fn run_guest(
    w: &World,
    s: &Store,
    si: usize,
    fi: usize,
    arg: i32,
    k: ContObj,
) -> Result<i32, Trap> {
    let own = Some((s, si));
    let kh = w.hd(k, own);
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
            Op::PassOn => return f.err.map_or(Ok(f.acc), Err),
            Op::Return { v } => return Ok(mix(f.acc, *v)),
            Op::ReturnHoldingLock => {
                let m = Mutex::new(GUEST_LOCK, ());
                core::mem::forget(m.lock());
                return Ok(f.acc);
            }
            _ => {
                let x = w.prog.target(op.on(), si, w.handle_store(&f, op, own));
                if x == si {
                    exec_real(w, (s, x), Some(fi), own, GUEST_LOCK, &mut f, op)
                } else if let Some(other) = w.stores[x].upgrade() {
                    exec_real(w, (&other, x), None, own, GUEST_LOCK, &mut f, op)
                } else {
                    // A store dropped before this guest's own.
                    Res::Skip
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

pub(crate) struct RealRun {
    pub(crate) log: Vec<Ev>,
    /// Stacks out per store after the kernel's final drops.
    pub(crate) stacks: Vec<usize>,
    /// Strong counts of the guests' `World` once the stores are gone
    /// (1: only ours), and whether any store outlived its drop.
    pub(crate) world_strong: usize,
    pub(crate) stores_alive: bool,
}

pub(crate) fn real_states(w: &World, stores: &[StoreRc]) -> Vec<Option<State>> {
    let seen = w.seen.borrow().clone();
    seen.iter()
        .map(|&k| stores.iter().find_map(|s| s.state(k)))
        .collect()
}

pub(crate) fn run_real(prog: &Prog) -> RealRun {
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
        let x = prog.target(op.on(), store, w.handle_store(&f, op, None));
        let res = match op {
            Op::Trap | Op::PassOn | Op::Return { .. } | Op::ReturnHoldingLock => Res::Skip,
            _ => exec_real(&w, (&stores[x], x), None, None, KERNEL_LOCK, &mut f, op),
        };
        w.push(Ev::Kernel { step, res });
        let after = Ev::After {
            stacks: stores.iter().map(|s| s.outstanding_stacks()).collect(),
            held: kernel::sync::held(),
            states: real_states(&w, &stores),
        };
        w.push(after);
    }
    // The kernel drops the handles seen, in the order first seen; the
    // guests that cancellations run may show it more.
    let limit = prog.cleanup.limit();
    for i in 0.. {
        let Some(k) = w.seen.borrow().get(i).copied().filter(|_| i < limit) else {
            break;
        };
        let res = match stores.iter().find(|s| s.state(k).is_some()) {
            Some(s) => match s.drop_cont(k) {
                Ok(()) => Res::Unit,
                Err(t) => Res::Trap(w.tk(&t)),
            },
            None => Res::Skip,
        };
        w.push(Ev::Cleanup { res });
    }
    let after = Ev::After {
        stacks: stores.iter().map(|s| s.outstanding_stacks()).collect(),
        held: kernel::sync::held(),
        states: real_states(&w, &stores),
    };
    w.push(after);
    let stacks = stores.iter().map(|s| s.outstanding_stacks()).collect();
    // The stores drop in order; each cancels what is still suspended in it
    // (its guests log as they run).
    let weak: Vec<_> = stores.iter().map(Rc::downgrade).collect();
    for (i, s) in stores.into_iter().enumerate() {
        drop(s);
        w.push(Ev::Gone { store: i });
    }
    let log = core::mem::take(&mut *w.log.borrow_mut());
    RealRun {
        log,
        stacks,
        world_strong: Rc::strong_count(&w),
        stores_alive: weak.iter().any(|s| s.upgrade().is_some()),
    }
}
