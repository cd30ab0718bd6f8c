//! The generator: proptest strategies for programs, biased towards what
//! finds defects (deep chains, long segments, switches, handles reused
//! after their end, foreign stores, forgotten locks) while keeping every
//! program finite.

use super::*;

/// Guests' store operands: mostly their own store.
pub(crate) fn on_s() -> BoxedStrategy<On> {
    prop_oneof![
        8 => Just(On::Own),
        2 => Just(On::OfHandle),
        1 => (0u8..3).prop_map(On::At),
    ]
    .boxed()
}

/// The kernel's store operands: the step's store or the handle's.
pub(crate) fn kernel_on_s() -> BoxedStrategy<On> {
    prop_oneof![Just(On::Own), Just(On::OfHandle)].boxed()
}

/// Slot numbers of `into` operands: taken modulo the slot count (4 in
/// guests, 6 in the kernel).
pub(crate) fn into_s() -> impl Strategy<Value = u8> {
    0u8..12
}

/// Slot operands: mostly a handle that is live, or the one just made or
/// received.
pub(crate) fn slot_s() -> impl Strategy<Value = SlotRef> {
    prop_oneof![
        3 => Just(SlotRef::Last),
        8 => into_s().prop_map(SlotRef::Live),
        2 => into_s().prop_map(SlotRef::At),
        1 => into_s().prop_map(SlotRef::Raw),
    ]
}

pub(crate) fn arg_s() -> impl Strategy<Value = i32> {
    -3i32..10
}

/// Tag operands: a normal tag (modulo their count), rarely the odd one.
pub(crate) fn tag_s() -> impl Strategy<Value = u8> {
    prop_oneof![12 => 0u8..6, 1 => Just(ODD_TAG)]
}

pub(crate) fn arity_s() -> impl Strategy<Value = Arity> {
    prop_oneof![
        20 => Just(Arity::Auto),
        1 => Just(Arity::Unit),
        1 => Just(Arity::Cont),
        1 => Just(Arity::I32),
        1 => Just(Arity::I32Cont),
    ]
}

pub(crate) fn bind_s() -> impl Strategy<Value = BindKind> {
    prop_oneof![
        Just(BindKind::Unit),
        Just(BindKind::I32),
        Just(BindKind::Cont),
        Just(BindKind::I32Cont),
    ]
}

pub(crate) fn rare() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.02)
}

/// Operands for a handle passed as a value: mostly not the one just used.
pub(crate) fn kslot_s() -> impl Strategy<Value = SlotRef> {
    prop_oneof![
        1 => Just(SlotRef::Last),
        2 => into_s().prop_map(SlotRef::Live),
        2 => into_s().prop_map(SlotRef::At),
        1 => into_s().prop_map(SlotRef::Raw),
    ]
}

/// A resume's operands. Guests' resumes handle fewer tags than the
/// kernel's, so that suspensions often pass them by (longer segments).
pub(crate) fn resume_s(guest: bool) -> impl Strategy<Value = ResumeOp> {
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
        (
            rare(),
            into_s(),
            into_s(),
            rare(),
            prop_oneof![14 => Just(None), 1 => tag_s().prop_map(Some)],
        ),
    )
        .prop_map(
            |(
                (slot, arity, arg, kslot),
                (handlers, all),
                (wrong_result, into, pslot, lock, throw),
            )| {
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
                    throw,
                }
            },
        )
}

pub(crate) fn new_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    (on, 0u8..4, into_s())
        .prop_map(|(on, func, into)| Op::New { on, func, into })
        .boxed()
}
pub(crate) fn resume_op_s(on: BoxedStrategy<On>, guest: bool) -> BoxedStrategy<Op> {
    (on, resume_s(guest))
        .prop_map(|(on, r)| Op::Resume { on, r })
        .boxed()
}
pub(crate) fn suspend_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
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
pub(crate) fn switch_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
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
pub(crate) fn drop_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    (on, slot_s(), rare())
        .prop_map(|(on, slot, lock)| Op::Drop { on, slot, lock })
        .boxed()
}
/// Bind, drop, state, payload, in_continuation.
pub(crate) fn misc_s(on: BoxedStrategy<On>) -> BoxedStrategy<Op> {
    prop_oneof![
        3 => (on.clone(), slot_s(), bind_s(), arg_s(), kslot_s(), into_s()).prop_map(
            |(on, slot, kind, arg, kslot, into)| Op::Bind { on, slot, kind, arg, kslot, into }
        ),
        3 => drop_s(on.clone()),
        2 => (on.clone(), slot_s()).prop_map(|(on, slot)| Op::State { on, slot }),
        2 => (on.clone(), slot_s(), into_s())
            .prop_map(|(on, slot, pslot)| Op::Payload { on, slot, pslot }),
        1 => on.prop_map(|on| Op::InCont { on }),
    ]
    .boxed()
}

pub(crate) fn guest_op_s() -> impl Strategy<Value = Op> {
    let on = on_s;
    prop_oneof![
        6 => new_s(on()),
        6 => resume_op_s(on(), true),
        7 => suspend_s(on()),
        3 => switch_s(on()),
        3 => misc_s(on()),
        // More drops: of what suspended to this guest, a cancellation in a
        // chain.
        2 => drop_s(on()),
        1 => Just(Op::Trap),
        2 => Just(Op::PassOn),
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
pub(crate) fn pair_s() -> impl Strategy<Value = Vec<Op>> {
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
pub(crate) fn guest_ops_s() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![3 => guest_op_s().prop_map(|op| vec![op]), 1 => pair_s()],
        0..=8,
    )
    .prop_map(|chunks| chunks.into_iter().flatten().collect())
}

/// The kernel's ops (on the step's store): mostly make and resume.
pub(crate) fn kernel_op_s() -> impl Strategy<Value = Op> {
    let on = kernel_on_s;
    prop_oneof![
        5 => new_s(on()),
        12 => resume_op_s(on(), false),
        3 => misc_s(on()),
        1 => prop_oneof![suspend_s(on()), switch_s(on())],
    ]
}

pub(crate) fn store_ref_s() -> impl Strategy<Value = StoreRef> {
    prop_oneof![6 => Just(StoreRef::Same), 1 => (0u8..3).prop_map(StoreRef::At)]
}

/// The kernel's script: single steps and make-then-resume pairs.
pub(crate) fn steps_s() -> impl Strategy<Value = Vec<(StoreRef, Op)>> {
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

/// Mostly every handle; sometimes the first few, leaving the rest to the
/// stores' drops.
pub(crate) fn cleanup_s() -> impl Strategy<Value = Cleanup> {
    prop_oneof![3 => Just(Cleanup::All), 1 => (0u8..6).prop_map(Cleanup::First)]
}

pub(crate) fn prog_s() -> impl Strategy<Value = Prog> {
    (
        1usize..=3,
        1usize..=3,
        prop::collection::vec(guest_ops_s(), 1..=4),
        steps_s(),
        cleanup_s(),
    )
        .prop_map(|(stores, tags, funcs, steps, cleanup)| Prog {
            stores,
            tags,
            funcs,
            steps,
            cleanup,
        })
}
