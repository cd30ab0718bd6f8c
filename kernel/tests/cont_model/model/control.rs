//! How control moves in the reference model: entering a segment,
//! delivering values and outcomes, returns, traps, `suspend` and `switch`
//! with their handler search, a guest's step, the kernel-level script, a
//! store's drop, and the run of a whole program.

use super::*;

impl<'p> Model<'p> {
    /// Links fresh or suspended `c`'s segment on top of `x`'s chain, under
    /// `handlers` (a cancellation: none), and makes `c` run.
    pub(crate) fn enter(&mut self, x: usize, c: usize, handlers: Vec<(usize, bool)>, cancel: bool) {
        let mut seg = core::mem::take(&mut self.rec(x, c).segment);
        seg[0].handlers = handlers;
        seg[0].cancel = cancel;
        let st = &mut self.stores[x];
        match st.chain.last() {
            Some(prev) => {
                let prev = prev.rec;
                st.recs[prev].state = State::Parent;
            }
            None => self.running = Some(x),
        }
        let depth = self.stores[x].chain.len() + seg.len();
        let what = if cancel { "cancel" } else { "resume" };
        self.cover(format!(
            "{what} of a segment of {} to depth {depth}",
            seg.len()
        ));
        let st = &mut self.stores[x];
        st.chain.extend(seg);
        st.recs[c].state = State::Running;
    }

    /// A resume of `c` (checked, args ready) with `handlers`, from the
    /// kernel or the top of `x`'s chain.
    pub(crate) fn start_resume(
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
        self.enter(x, c, handlers, false);
        self.deliver_values(x, c, vals)
    }

    /// The drop of suspended `c` (checked), from the kernel, the top of
    /// `x`'s chain, or `x`'s own drop: its segment runs under no handlers,
    /// and `c`'s pending `suspend` or `switch` returns `Err(Cancelled)`.
    pub(crate) fn start_cancel(&mut self, x: usize, c: usize) -> Flow {
        self.start_interrupted(x, c, Vec::new(), true, Tk::cancelled())
    }

    /// Suspended `c` (checked) resumed not with values but with `tk`: its
    /// pending `suspend` or `switch` returns `Err(tk)`. The values bound to
    /// it are dropped.
    pub(crate) fn start_interrupted(
        &mut self,
        x: usize,
        c: usize,
        handlers: Vec<(usize, bool)>,
        cancel: bool,
        tk: Tk,
    ) -> Flow {
        let rec = self.rec(x, c);
        rec.rev += 1;
        rec.bound.clear();
        self.enter(x, c, handlers, cancel);
        let mut act = self.rec(x, c).act.take().expect("a suspended one ran");
        assert!(
            matches!(act.wait, Some(Wait::Suspend | Wait::Switch)),
            "model: interrupted while waiting in {act:?}"
        );
        let op = op_name(&self.prog.funcs[act.func][act.pc]);
        let what = if cancel { "cancellation" } else { "exception" };
        self.cover(format!("{what} delivered to a pending {op}"));
        self.guest_done(x, &mut act, Res::Trap(tk));
        self.rec(x, c).act = Some(act);
        Flow::Go
    }

    /// The op at `act.pc` gave the guest `res`: it logs it (keeping an
    /// `Err` for `Op::PassOn`) and goes on with its next op.
    pub(crate) fn guest_done(&mut self, x: usize, act: &mut Act, res: Res) {
        if let Res::Trap(tk) = res {
            act.f.err = Some(tk);
        }
        self.log.push(Ev::Guest {
            store: x,
            func: act.func,
            pc: act.pc,
            res,
        });
        act.pc += 1;
        act.wait = None;
    }

    /// `c`, now the top of the chain, receives `vals`: a fresh one starts,
    /// a suspended one returns from its suspend or switch.
    pub(crate) fn deliver_values(&mut self, x: usize, c: usize, vals: Vec<MVal>) -> Flow {
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
                act.f.put(into, k, 2);
                act.f.absorb(v);
                self.guest_done(x, &mut act, Res::Got(v, h));
                self.rec(x, c).act = Some(act);
            }
        }
        Flow::Go
    }

    /// What a resume gives its resumer, into the resumer's frame.
    pub(crate) fn absorb(&mut self, x: usize, r: &ResumeOp, f: &mut Frame<MH>, o: Outcome) -> Res {
        match o {
            Outcome::Returned(v) => {
                f.absorb(v);
                Res::Returned(v)
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
                    Err(kind) => Err(Tk::kind(kind)),
                };
                f.put(r.into, Some(cont), 2);
                f.absorb(handler as i32);
                Res::Suspended {
                    handler,
                    cont: c,
                    payload,
                }
            }
            Outcome::Trapped(tk) => Res::Trap(tk),
        }
    }

    /// What a drop of a suspended continuation gives the dropper, once the
    /// outermost of the cancelled segment has ended.
    pub(crate) fn dropped(&mut self, o: Outcome) -> Res {
        let (what, res) = match o {
            Outcome::Returned(_) => ("returned", Res::Unit),
            Outcome::Trapped(tk) if tk.kind == TrapKind::Cancelled => {
                ("passed the cancellation on", Res::Unit)
            }
            Outcome::Trapped(tk) => ("trapped", Res::Trap(tk)),
            Outcome::Suspended { .. } => panic!("model: a cancelled segment suspended to its drop"),
        };
        self.cover(format!("cancelled segment {what}"));
        res
    }

    /// The operation that ran the segment now gone from the top of `x`'s
    /// chain gets `o`: the kernel, or the guest now on top (waiting in a
    /// resume, or in a drop).
    pub(crate) fn deliver_outcome(&mut self, x: usize, o: Outcome) -> Flow {
        let Some(top) = self.stores[x].chain.last().map(|l| l.rec) else {
            self.running = None;
            return Flow::Done(o);
        };
        self.rec(x, top).state = State::Running;
        let mut act = self.rec(x, top).act.take().expect("a resumer runs");
        let prog = self.prog;
        let res = match (act.wait, &prog.funcs[act.func][act.pc]) {
            (Some(Wait::Resume), Op::Resume { r, .. }) => self.absorb(x, r, &mut act.f, o),
            (Some(Wait::Drop), Op::Drop { .. }) => self.dropped(o),
            _ => panic!("model: resumer {act:?}"),
        };
        self.guest_done(x, &mut act, res);
        self.rec(x, top).act = Some(act);
        Flow::Go
    }

    /// The top of the chain returns `v` (a lock held makes that a trap).
    pub(crate) fn do_return(&mut self, x: usize, v: i32) -> Flow {
        if let Some(name) = self.held {
            return Flow::End(Tk::lock(name));
        }
        let link = self.stores[x].chain.pop().expect("a continuation returns");
        let state = if link.cancel {
            State::Dropped
        } else {
            State::Returned
        };
        self.release(x, link.rec, state);
        self.deliver_outcome(x, Outcome::Returned(v))
    }

    /// The top of the chain ends with `tk`: only it. Freed (`Dropped` if
    /// it passed a cancellation on, else `Trapped`), and the operation that
    /// ran it gets `Err(tk)`. Locks it held are forgotten.
    pub(crate) fn end(&mut self, x: usize, tk: Tk) -> Flow {
        let link = self.stores[x].chain.pop().expect("a continuation traps");
        self.held = None;
        let state = if tk.kind == TrapKind::Cancelled {
            State::Dropped
        } else {
            State::Trapped
        };
        let by = if link.cancel { "a drop" } else { "a resume" };
        let to = if self.in_chain(x) {
            "a guest"
        } else {
            "the kernel"
        };
        self.cover(format!(
            "{:?} ends a continuation run by {by} of {to}",
            tk.kind
        ));
        self.release(x, link.rec, state);
        self.deliver_outcome(x, Outcome::Trapped(tk))
    }

    pub(crate) fn do_suspend(
        &mut self,
        x: usize,
        j: usize,
        handler: usize,
        payload: (i32, MH),
    ) -> Flow {
        let cur = self.stores[x].chain.last().unwrap().rec;
        let seg = self.stores[x].chain.split_off(j);
        let to = if j == 0 { "the kernel" } else { "a guest" };
        self.cover(format!("suspend of a segment of {} to {to}", seg.len()));
        if seg.iter().skip(1).any(|l| l.cancel) {
            self.cover("suspend out of a cancelled segment, past its drop".into());
        }
        let rec = self.rec(x, cur);
        rec.state = State::Suspended;
        rec.mailbox = Mailbox::Payload(payload.0, payload.1);
        rec.expected = 2;
        rec.bound.clear();
        rec.segment = seg;
        let cont = self.handle(x, cur);
        self.deliver_outcome(x, Outcome::Suspended { handler, cont })
    }

    pub(crate) fn do_switch(&mut self, x: usize, j: usize, t: usize, arg: i32) -> Flow {
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
        if seg.iter().skip(1).any(|l| l.cancel) {
            self.cover("switch out of a cancelled segment, past its drop".into());
        }
        // The target's outermost takes the place of the segment's under
        // the handler's operation.
        let (handlers, cancel) = (seg[0].handlers.clone(), seg[0].cancel);
        let rec = self.rec(x, cur);
        rec.state = State::Suspended;
        rec.mailbox = Mailbox::Empty;
        rec.expected = 2;
        rec.bound.clear();
        rec.segment = seg;
        let mut tseg = core::mem::take(&mut self.rec(x, t).segment);
        tseg[0].handlers = handlers;
        tseg[0].cancel = cancel;
        self.stores[x].chain.extend(tseg);
        self.rec(x, t).state = State::Running;
        self.deliver_values(x, t, vals)
    }

    /// The top of `x`'s chain runs its next op.
    pub(crate) fn step(&mut self, x: usize) -> Flow {
        let cur = self.stores[x].chain.last().unwrap().rec;
        let mut act = self.rec(x, cur).act.take().expect("the top runs");
        let prog = self.prog;
        let op = prog.funcs[act.func].get(act.pc);
        let end = match op {
            None => Some(Ok(act.f.acc)),
            Some(Op::Trap) => Some(Err(Tk {
                kind: TrapKind::Guest,
                msg: Some(GUEST_TRAP),
            })),
            Some(Op::PassOn) => Some(act.f.err.map_or(Ok(act.f.acc), Err)),
            Some(Op::Return { v }) => Some(Ok(mix(act.f.acc, *v))),
            Some(Op::ReturnHoldingLock) => {
                self.held = Some(GUEST_LOCK);
                Some(Ok(act.f.acc))
            }
            Some(_) => None,
        };
        if let Some(end) = end {
            if matches!(op, Some(Op::PassOn)) {
                let what = act
                    .f
                    .err
                    .map_or("nothing".into(), |tk| format!("{:?}", tk.kind));
                self.cover(format!("guest passes on {what}"));
            }
            self.rec(x, cur).act = Some(act);
            return match end {
                Ok(v) => self.do_return(x, v),
                Err(tk) => self.end(x, tk),
            };
        }
        let op = op.unwrap();
        let target = prog.target(op.on(), x, self.handle_store(&act.f, op));
        let ex = if self.stores[target].gone {
            Ex::Res(Res::Skip)
        } else {
            let own = (target == x).then_some(act.func);
            self.exec(target, own, GUEST_LOCK, &mut act.f, op)
        };
        let res = match ex {
            Ex::Res(res) => res,
            Ex::Raise(tk) => {
                self.cover(format!("trap at a guest: {} {:?}", op_name(op), tk.kind));
                Res::Trap(tk)
            }
            Ex::Resume { c, args, handlers } => {
                assert_eq!(target, x, "model: a resume of another store's chain");
                act.wait = Some(Wait::Resume);
                self.rec(x, cur).act = Some(act);
                return self.start_resume(x, c, args, handlers);
            }
            Ex::Cancel { c } => {
                assert_eq!(target, x, "model: a drop in another store's chain");
                act.wait = Some(Wait::Drop);
                self.rec(x, cur).act = Some(act);
                return self.start_cancel(x, c);
            }
            Ex::Throw { c, tag, handlers } => {
                assert_eq!(target, x, "model: a resume of another store's chain");
                act.wait = Some(Wait::Resume);
                self.rec(x, cur).act = Some(act);
                return self.start_interrupted(x, c, handlers, false, Tk::exception(tag));
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
        self.guest_done(x, &mut act, res);
        self.rec(x, cur).act = Some(act);
        Flow::Go
    }

    /// Runs `x`'s chain until the kernel-level resume or drop gets an
    /// outcome.
    pub(crate) fn run(&mut self, x: usize, mut flow: Flow) -> Outcome {
        loop {
            flow = match flow {
                Flow::Go => self.step(x),
                Flow::End(tk) => self.end(x, tk),
                Flow::Done(o) => return o,
            };
        }
    }

    /// An op of the kernel (no chain runs) on store `x`, with locals `f`.
    pub(crate) fn kernel_exec(&mut self, x: usize, f: &mut Frame<MH>, op: &Op) -> Res {
        match self.exec(x, None, KERNEL_LOCK, f, op) {
            Ex::Res(res) => res,
            Ex::Raise(tk) => {
                self.cover(format!("trap at the kernel: {} {:?}", op_name(op), tk.kind));
                Res::Trap(tk)
            }
            Ex::Resume { c, args, handlers } => {
                let flow = self.start_resume(x, c, args, handlers);
                let o = self.run(x, flow);
                let Op::Resume { r, .. } = op else {
                    unreachable!()
                };
                self.absorb(x, r, f, o)
            }
            Ex::Cancel { c } => {
                let flow = self.start_cancel(x, c);
                let o = self.run(x, flow);
                self.dropped(o)
            }
            Ex::Throw { c, tag, handlers } => {
                let flow = self.start_interrupted(x, c, handlers, false, Tk::exception(tag));
                let o = self.run(x, flow);
                let Op::Resume { r, .. } = op else {
                    unreachable!()
                };
                self.absorb(x, r, f, o)
            }
            Ex::Suspend { .. } | Ex::Switch { .. } => unreachable!("no chain at the kernel"),
        }
    }

    pub(crate) fn kernel_step(&mut self, store: usize, op: &Op) -> Res {
        let x = self
            .prog
            .target(op.on(), store, self.handle_store(&self.kf, op));
        if matches!(
            op,
            Op::Trap | Op::PassOn | Op::Return { .. } | Op::ReturnHoldingLock
        ) {
            return Res::Skip;
        }
        let mut f = self.kf;
        let res = self.kernel_exec(x, &mut f, op);
        self.kf = f;
        res
    }

    /// Store `x` is dropped: it cancels each suspended continuation, going
    /// through its records in allocation order (records allocated meanwhile
    /// included), pass after pass until one finds nothing; nothing refuses (no chain runs, no lock is
    /// held). Then everything is freed, unseen.
    pub(crate) fn drop_store(&mut self, x: usize) {
        loop {
            let mut cancelled = false;
            let mut i = 0;
            while i < self.stores[x].recs.len() {
                if self.stores[x].recs[i].state == State::Suspended {
                    self.cover("store drop cancels a suspended continuation".into());
                    let flow = self.start_cancel(x, i);
                    let o = self.run(x, flow);
                    self.dropped(o);
                    cancelled = true;
                }
                i += 1;
            }
            if !cancelled {
                break;
            }
        }
        if self.stores[x]
            .recs
            .iter()
            .any(|r| r.state == State::Suspended)
        {
            self.cover("store drop leaves a suspended continuation behind".into());
        }
        self.stores[x].gone = true;
    }

    pub(crate) fn after(&self) -> Ev {
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

    pub(crate) fn run_prog(mut self) -> (Vec<Ev>, Vec<usize>, Coverage) {
        let prog = self.prog;
        let mut store = 0;
        for (step, (sr, op)) in prog.steps.iter().enumerate() {
            store = prog.kernel_store(*sr, store);
            let res = self.kernel_step(store, op);
            self.log.push(Ev::Kernel { step, res });
            let after = self.after();
            self.log.push(after);
        }
        let limit = prog.cleanup.limit();
        let mut i = 0;
        while i < limit && i < self.seen.len() {
            let h = self.seen[i];
            let mut f = Frame::new(Some(h), 1, 0);
            let op = Op::Drop {
                on: On::Own,
                slot: SlotRef::At(0),
                lock: false,
            };
            let res = self.kernel_exec(h.store, &mut f, &op);
            self.log.push(Ev::Cleanup { res });
            i += 1;
        }
        let after = self.after();
        self.log.push(after);
        let stacks = self.stores.iter().map(|s| s.stacks).collect();
        for x in 0..self.stores.len() {
            self.drop_store(x);
            self.log.push(Ev::Gone { store: x });
        }
        (self.log, stacks, self.coverage)
    }
}
