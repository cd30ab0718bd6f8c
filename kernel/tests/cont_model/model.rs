//! The reference model: a plain interpreter of the semantics the crate's
//! header states, that never switches a stack. Records, activations and
//! the running chain of each store are plain data; this file holds them
//! and the operations on handles, `control` how control moves between
//! continuations.

mod control;

use super::*;

/// A model handle: store, record, use count. `None` is `ContObj::NULL`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Mh {
    pub(crate) store: usize,
    pub(crate) rec: usize,
    pub(crate) rev: u64,
}
pub(crate) type MH = Option<Mh>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MVal {
    I(i32),
    K(MH),
}

/// One member of a chain or segment: its record, the handler list of the
/// operation that made it run (normalized tag index, is a switch), and
/// whether that operation is a drop's cancellation (whose list is empty):
/// then the record ends `Dropped`, not `Returned`, when its function
/// returns.
#[derive(Clone, Debug)]
pub(crate) struct Link {
    pub(crate) rec: usize,
    pub(crate) handlers: Vec<(usize, bool)>,
    pub(crate) cancel: bool,
}

/// Which op (at the activation's `pc`) a started continuation waits in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A resume: of the segment whose outermost link is just above.
    Resume,
    /// A drop: the cancellation of the segment just above.
    Drop,
    Suspend,
    Switch,
}

#[derive(Clone, Debug)]
pub(crate) struct Act {
    pub(crate) func: usize,
    pub(crate) pc: usize,
    pub(crate) f: Frame<MH>,
    pub(crate) wait: Option<Wait>,
}

/// What `payload` finds in the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mailbox {
    /// Fresh, or suspended by a switch: no payload of the tag's types.
    Empty,
    Payload(i32, MH),
}

#[derive(Clone, Debug)]
pub(crate) struct MRec {
    pub(crate) state: State,
    pub(crate) rev: u64,
    pub(crate) born: u64,
    pub(crate) func: usize,
    /// How many values the next resume/bind must still supply.
    pub(crate) expected: usize,
    pub(crate) bound: Vec<MVal>,
    pub(crate) mailbox: Mailbox,
    /// Fresh or suspended: the segment, outermost first, this record last.
    pub(crate) segment: Vec<Link>,
    pub(crate) act: Option<Act>,
}

#[derive(Default)]
pub(crate) struct MStore {
    /// Every record, in allocation order.
    pub(crate) recs: Vec<MRec>,
    /// Free records, last = next taken: LIFO, except that the last
    /// `cached` are the ones whose stack the store kept (`STACK_CACHE`),
    /// and a record that ends with the cache full goes in below them.
    pub(crate) free: Vec<usize>,
    /// How many of the free records keep their stack.
    pub(crate) cached: usize,
    /// The running chain, outermost first.
    pub(crate) chain: Vec<Link>,
    pub(crate) stacks: usize,
    /// Dropped: guests of later stores' drops no longer reach it.
    pub(crate) gone: bool,
}

/// How a resume, or a drop's cancellation, came back to its caller.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    Returned(i32),
    Suspended {
        handler: usize,
        cont: Mh,
    },
    /// The continuation it ran last ended with this trap.
    Trapped(Tk),
}

/// What the model's interpreter loop does next.
pub(crate) enum Flow {
    /// The top of the chain runs its next op.
    Go,
    /// The top of the chain ends with a trap: its function returned `Err`,
    /// or returned holding a lock.
    End(Tk),
    /// The kernel-level resume or drop gets this.
    Done(Outcome),
}

/// What one op asks for.
pub(crate) enum Ex {
    Res(Res),
    /// A trap raised by the runtime: the op's `Err`, to whoever ran it.
    Raise(Tk),
    Resume {
        c: usize,
        args: Vec<MVal>,
        handlers: Vec<(usize, bool)>,
    },
    /// The drop of suspended `c`: its segment runs, cancelled.
    Cancel {
        c: usize,
    },
    /// `resume_throw` of normal tag `tag` into suspended `c`.
    Throw {
        c: usize,
        tag: usize,
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

pub(crate) struct Model<'p> {
    pub(crate) prog: &'p Prog,
    pub(crate) stores: Vec<MStore>,
    /// The store whose chain runs (stores do not nest).
    pub(crate) running: Option<usize>,
    /// The lock a returning guest holds, if any (until its trap).
    pub(crate) held: Option<&'static str>,
    pub(crate) log: Vec<Ev>,
    pub(crate) seen: Vec<Mh>,
    /// The kernel script's locals.
    pub(crate) kf: Frame<MH>,
    /// What this program exercised (see [`Coverage`]).
    pub(crate) coverage: Coverage,
}

impl<'p> Model<'p> {
    pub(crate) fn new(prog: &'p Prog) -> Model<'p> {
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

    pub(crate) fn cover(&mut self, what: String) {
        *self.coverage.0.entry(what).or_insert(0) += 1;
    }

    pub(crate) fn rec(&mut self, x: usize, r: usize) -> &mut MRec {
        &mut self.stores[x].recs[r]
    }

    pub(crate) fn in_chain(&self, x: usize) -> bool {
        !self.stores[x].chain.is_empty()
    }

    pub(crate) fn hd(&mut self, h: MH) -> Hd {
        match h {
            None => Hd { stores: 0, rev: 0 },
            Some(m) => {
                if !self.seen.contains(&m) {
                    self.seen.push(m);
                }
                let gone = self.stores[m.store].gone;
                Hd {
                    stores: if gone { 0 } else { 1 << m.store },
                    rev: m.rev,
                }
            }
        }
    }

    pub(crate) fn handle(&self, x: usize, r: usize) -> Mh {
        Mh {
            store: x,
            rec: r,
            rev: self.stores[x].recs[r].rev,
        }
    }

    pub(crate) fn state_of(&self, x: usize, h: MH) -> Option<State> {
        let h = h.filter(|h| h.store == x && !self.stores[x].gone)?;
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

    pub(crate) fn handle_store(&self, f: &Frame<MH>, op: &Op) -> Option<usize> {
        let h = f.get(op.slot()?, |h| self.is_live(h)).h?;
        (!self.stores[h.store].gone).then_some(h.store)
    }

    pub(crate) fn is_live(&self, h: MH) -> bool {
        h.is_some_and(|m| {
            matches!(
                self.state_of(m.store, h),
                Some(State::Fresh | State::Suspended)
            )
        })
    }

    pub(crate) fn live(&self, x: usize, h: MH) -> Result<usize, TrapKind> {
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

    pub(crate) fn new_cont(&mut self, x: usize, func: usize) -> Mh {
        let st = &mut self.stores[x];
        let r = match st.free.pop() {
            Some(r) => {
                st.cached = st.cached.saturating_sub(1);
                r
            }
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
            cancel: false,
        }];
        rec.act = None;
        self.handle(x, r)
    }

    /// Record `r` has ended in `state`: its stack goes back, and it goes on
    /// the front of the free list (the next `New` takes it) if the store
    /// keeps its stack, else behind the records that keep theirs.
    pub(crate) fn release(&mut self, x: usize, r: usize, state: State) {
        let st = &mut self.stores[x];
        st.stacks -= 1;
        if st.cached < kernel::cont::STACK_CACHE {
            st.cached += 1;
            st.free.push(r);
        } else {
            let at = st.free.len() - st.cached;
            st.free.insert(at, r);
        }
        let rec = &mut st.recs[r];
        rec.state = state;
        rec.act = None;
        rec.segment.clear();
        rec.bound.clear();
    }

    pub(crate) fn payload(&self, x: usize, h: MH) -> Result<(i32, MH), TrapKind> {
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
    pub(crate) fn find_handler(&self, x: usize, key: (usize, bool)) -> Option<(usize, usize)> {
        let chain = &self.stores[x].chain;
        (0..chain.len())
            .rev()
            .find_map(|j| Some((j, chain[j].handlers.iter().position(|&h| h == key)?)))
    }

    /// One op on store `x`, checked in the runtime's order. `own_guest`:
    /// the function of the guest of store `x` running it (None: the
    /// kernel, or a guest of another store).
    pub(crate) fn exec(
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
                if let Some(tag) = r.throw {
                    return self.exec_throw(x, c, tag, r, lock_name);
                }
                if expected(self.stores[x].recs[c].expected) != arity_types(arity) {
                    return raise(TrapKind::SignatureMismatch);
                }
                if r.wrong_result {
                    return raise(TrapKind::SignatureMismatch);
                }
                if r.lock {
                    return Ex::Raise(Tk::lock(lock_name));
                }
                if !self.in_chain(x) && self.running.is_some() {
                    return raise(TrapKind::OtherStoreRunning);
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
                let t = self.prog.tag(*tag);
                if t == self.prog.tags {
                    return raise(TrapKind::SignatureMismatch);
                }
                if *lock {
                    return Ex::Raise(Tk::lock(lock_name));
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
            Op::Drop { slot, lock, .. } => {
                let c = match self.live(x, f.get(*slot, |h| self.is_live(h)).h) {
                    Ok(c) => c,
                    Err(kind) => return raise(kind),
                };
                if self.stores[x].recs[c].state == State::Fresh {
                    // Freed at once, lock or not: nothing runs.
                    self.rec(x, c).rev += 1;
                    self.release(x, c, State::Dropped);
                    self.cover("drop of a fresh continuation".into());
                    return Ex::Res(Res::Unit);
                }
                if *lock {
                    return Ex::Raise(Tk::lock(lock_name));
                }
                if !self.in_chain(x) && self.running.is_some() {
                    return raise(TrapKind::OtherStoreRunning);
                }
                Ex::Cancel { c }
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
            Op::Trap | Op::PassOn | Op::Return { .. } | Op::ReturnHoldingLock => Ex::Res(Res::Skip),
        }
    }

    /// The rest of a `resume_throw` of tag operand `tag` into live `c`
    /// (which expects no particular values: the payload is the tag's).
    pub(crate) fn exec_throw(
        &mut self,
        x: usize,
        c: usize,
        tag: u8,
        r: &ResumeOp,
        lock_name: &'static str,
    ) -> Ex {
        // The admission order (`cont/runtime/admission.rs`), as for a
        // resume: the types (the tag's payload, the results), then the
        // lock, then another store's chain.
        let t = self.prog.tag(tag);
        if t == self.prog.tags || r.wrong_result {
            return Ex::Raise(Tk::kind(TrapKind::SignatureMismatch));
        }
        if r.lock {
            return Ex::Raise(Tk::lock(lock_name));
        }
        if !self.in_chain(x) && self.running.is_some() {
            return Ex::Raise(Tk::kind(TrapKind::OtherStoreRunning));
        }
        if self.stores[x].recs[c].state == State::Fresh {
            // Its function never runs: the exception ends it at once.
            self.rec(x, c).rev += 1;
            self.release(x, c, State::Trapped);
            self.cover("resume_throw into a fresh continuation".into());
            return Ex::Raise(Tk::exception(t));
        }
        let mut handlers = self.prog.handlers(r);
        handlers.truncate(MAX_HANDLERS);
        Ex::Throw {
            c,
            tag: t,
            handlers,
        }
    }
}
