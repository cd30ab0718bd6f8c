//! `resume` of fresh and suspended continuations: values in and out, handler lists, nesting, n-ary signatures.

use super::*;

#[test]
fn fresh_continuation_returns_its_results() {
    let s = store();
    let f = s.func_wrap(|_, (a, b): (i32, i32)| Ok(a * 10 + b)).unwrap();
    let k = s.cont_new(f).unwrap();
    assert_eq!(s.state(k), Some(State::Fresh));
    assert_eq!(s.outstanding_stacks(), 1);
    assert_eq!(f.results(), &[I32]);
    let v: i32 = returned(s.resume(k, (4, 2), &[]));
    assert_eq!(v, 42);
    assert_eq!(s.state(k), Some(State::Returned));
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn generator_yields_0_to_n_then_returns() {
    let s = store();
    let yld = s.tag_new(&[I32], &[]).unwrap();
    let gen_fn = s
        .func_wrap(move |s, n: i32| {
            for i in 0..n {
                s.suspend::<_, ()>(yld, i)?;
            }
            Ok(n * 100)
        })
        .unwrap();
    let mut k = s.cont_new(gen_fn).unwrap();
    let mut seen = Vec::new();
    let mut first = true;
    let result = loop {
        let r: Result<Resumed<i32>, Trap> = if first {
            s.resume(k, 5, &[Handler::suspend(yld)])
        } else {
            s.resume(k, (), &[Handler::suspend(yld)])
        };
        first = false;
        match r.unwrap() {
            Resumed::Suspended { handler, cont } => {
                assert_eq!(handler, 0);
                assert_eq!(s.state(cont), Some(State::Suspended));
                seen.push(s.payload::<i32>(cont).unwrap());
                k = cont;
            }
            Resumed::Returned(v) => break v,
        }
    };
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    assert_eq!(result, 500);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn tag_carries_payload_out_of_suspend_and_resume_values_back_in() {
    let s = store();
    let ask = s.tag_new(&[I32, I64], &[I64]).unwrap();
    let f = s
        .func_wrap(move |s, ()| Ok(s.suspend::<_, i64>(ask, (3, 4i64))? + 1))
        .unwrap();
    let k = s.cont_new(f).unwrap();
    let (handler, cont) = suspended::<i64>(s.resume(k, (), &[Handler::suspend(ask)]));
    assert_eq!(handler, 0);
    assert_eq!(s.payload::<(i32, i64)>(cont), Ok((3, 4)));
    // The wrong types do not read the mailbox, they trap.
    assert_eq!(
        trapped(s.payload::<(i64, i32)>(cont)).kind(),
        TrapKind::SignatureMismatch
    );
    let v: i64 = returned(s.resume(cont, 112i64, &[Handler::suspend(ask)]));
    assert_eq!(v, 113);
    // The handle is consumed: its payload is gone with it.
    assert_eq!(
        trapped(s.payload::<(i32, i64)>(cont)).kind(),
        TrapKind::ConsumedContinuation
    );
}

#[test]
fn handler_index_is_the_position_in_the_resume_list() {
    let s = store();
    let a = s.tag_new(&[], &[]).unwrap();
    let b = s.tag_new(&[], &[]).unwrap();
    let c = s.tag_new(&[], &[]).unwrap();
    let f = s.func_wrap(move |s, ()| s.suspend::<_, ()>(b, ())).unwrap();
    let k = s.cont_new(f).unwrap();
    let list = [
        Handler::suspend(a),
        Handler::switch(b),
        Handler::suspend(c),
        Handler::suspend(b),
    ];
    let (handler, cont) = suspended::<()>(s.resume(k, (), &list));
    assert_eq!(handler, 3);
    s.drop_cont(cont).unwrap();
}

#[test]
fn forward_tag_past_a_resume_that_does_not_handle_it() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b)).unwrap();
    let (handler, cont) =
        suspended::<i32>(s.resume(outer, (), &[Handler::suspend(b), Handler::suspend(a)]));
    assert_eq!(handler, 1);
    assert_eq!(s.payload::<i32>(cont), Ok(5));
    // The suspended segment spans both stacks.
    assert_eq!(s.outstanding_stacks(), 2);
    let v: i32 = returned(s.resume(cont, 7, &[Handler::suspend(a)]));
    assert_eq!(v, 15);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn nearest_handler_wins_when_two_resumes_handle_the_tag() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, a)).unwrap();
    // The inner resume catches `a`, resumes with 50: inner returns 100.
    let v: i32 = returned(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(v, 1100);
}

#[inline(never)]
fn resume_from_a_deeper_frame(s: &Store, k: ContObj, tag: Tag) -> Result<Resumed<i32>, Trap> {
    let pad = core::hint::black_box([0u8; 4096]);
    let r = s.resume(k, (), &[Handler::suspend(tag)]);
    core::hint::black_box(pad);
    r
}

#[test]
fn generator_resumes_after_the_resume_that_first_ran_it_has_returned() {
    let s = store();
    let yld = s.tag_new(&[I32], &[]).unwrap();
    let f = s
        .func_wrap(move |s, ()| {
            s.suspend::<_, ()>(yld, 1)?;
            s.suspend::<_, ()>(yld, 2)?;
            Ok(3)
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    // First resume from this frame, the next from a frame 4 KiB deeper.
    let (_, k) = suspended::<i32>(s.resume(k, (), &[Handler::suspend(yld)]));
    let p1: i32 = s.payload(k).unwrap();
    let (_, k) = suspended(resume_from_a_deeper_frame(&s, k, yld));
    let p2: i32 = s.payload(k).unwrap();
    let v: i32 = returned(s.resume(k, (), &[Handler::suspend(yld)]));
    assert_eq!((p1, p2, v), (1, 2, 3));
}

#[test]
fn nary_three_params_five_results_and_four_value_payload() {
    let s = store();
    let tag = s.tag_new(&[I32, I64, F32, F64], &[V128]).unwrap();
    let f = s
        .func_wrap(move |s, (a, b, c): (i32, i64, f64)| {
            let v: u128 = s.suspend(tag, (a, b, 1.5f32, c))?;
            Ok((a + 1, b * 2, 2.5f32, c * 2.0, v))
        })
        .unwrap();
    let k = s.cont_new(f).unwrap();
    type Results = (i32, i64, f32, f64, u128);
    let (_, k) = suspended::<Results>(s.resume(k, (7, -9i64, 0.75f64), &[Handler::suspend(tag)]));
    assert_eq!(s.payload::<(i32, i64, f32, f64)>(k), Ok((7, -9, 1.5, 0.75)));
    let big = 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210u128;
    assert_eq!(f.results(), &[I32, I64, F32, F64, V128]);
    let v: Results = returned(s.resume(k, big, &[Handler::suspend(tag)]));
    assert_eq!(v, (8, -18, 2.5, 1.5, big));
}

#[test]
fn thousand_nested_resumes_return_through_every_level() {
    let s = store();
    let me: Rc<Cell<Option<Func>>> = Rc::new(Cell::new(None));
    let me2 = me.clone();
    let level = s
        .func_wrap(move |s, depth: i32| {
            if depth == 0 {
                return Ok(0);
            }
            let k = s.cont_new(me2.get().unwrap())?;
            match s.resume::<_, i32>(k, depth - 1, &[])? {
                Resumed::Returned(v) => Ok(v + 1),
                Resumed::Suspended { .. } => Err(Trap::guest("unexpected suspend")),
            }
        })
        .unwrap();
    me.set(Some(level));
    let k = s.cont_new(level).unwrap();
    assert_eq!(returned::<i32>(s.resume(k, 1000, &[])), 1000);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn ten_thousand_continuations_run_to_completion_or_are_dropped() {
    let s = store();
    let t = s.tag_new(&[I32], &[]).unwrap();
    let f = s
        .func_wrap(move |s, x: i32| {
            s.suspend::<_, ()>(t, x)?;
            Ok(x * 2)
        })
        .unwrap();
    let ks: Vec<ContObj> = (0..10_000).map(|_| s.cont_new(f).unwrap()).collect();
    assert_eq!(s.outstanding_stacks(), 10_000);
    let (mut payloads, mut results) = (0i64, 0i64);
    for (i, &k) in ks.iter().enumerate() {
        let (_, k) = suspended::<i32>(s.resume(k, i as i32, &[Handler::suspend(t)]));
        payloads += s.payload::<i32>(k).unwrap() as i64;
        if i % 2 == 0 {
            results += returned::<i32>(s.resume(k, (), &[Handler::suspend(t)])) as i64;
        } else {
            s.drop_cont(k).unwrap();
        }
    }
    assert_eq!(payloads, 49_995_000);
    // Twice the sum of the even numbers below 10,000.
    assert_eq!(results, 2 * 24_995_000);
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn resume_of_a_forwarded_segment_returns_the_outermost_function_results() {
    // The segment inner..outer is ended by outer's return (i32), whatever
    // inner returns.
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b)).unwrap();
    let (_, cont) = suspended::<i32>(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(
        trapped(s.resume::<_, i64>(cont, 7, &[])).kind(),
        TrapKind::SignatureMismatch
    );
    assert_eq!(
        returned::<i32>(s.resume(cont, 7, &[Handler::suspend(a)])),
        15
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn a_function_with_seven_results_returns_all_seven() {
    let s = store();
    let f = s
        .func_wrap(|_, x: i32| Ok((x, x + 1, x + 2, x + 3, x + 4, x + 5, i64::from(x) << 40)))
        .unwrap();
    assert_eq!(f.results().len(), 7);
    let k = s.cont_new(f).unwrap();
    let r: (i32, i32, i32, i32, i32, i32, i64) = returned(s.resume(k, 10, &[]));
    assert_eq!(r, (10, 11, 12, 13, 14, 15, 10 << 40));
}

type Sixteen = (
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    i64,
    i32,
    u128,
);

/// The sixteen values as one array, to compare (tuples of more than 12
/// have no `PartialEq` or `Debug`).
fn flat(v: Sixteen) -> [i128; 16] {
    [
        v.0 as i128,
        v.1 as i128,
        v.2 as i128,
        v.3 as i128,
        v.4 as i128,
        v.5 as i128,
        v.6 as i128,
        v.7 as i128,
        v.8 as i128,
        v.9 as i128,
        v.10 as i128,
        v.11 as i128,
        v.12 as i128,
        v.13 as i128,
        v.14 as i128,
        v.15 as i128,
    ]
}

#[test]
fn sixteen_params_sixteen_results_and_a_sixteen_value_payload_pass_through() {
    let s = store();
    let tag = s
        .tag_new(
            <Sixteen as WasmValues>::TYPES,
            <Sixteen as WasmValues>::TYPES,
        )
        .unwrap();
    // The guest suspends its arguments plus one, and returns what the
    // resume sent back.
    let f = s
        .func_wrap(move |s, v: Sixteen| {
            let out: Sixteen = (
                v.0 + 1,
                v.1 + 1,
                v.2 + 1,
                v.3 + 1,
                v.4 + 1,
                v.5 + 1,
                v.6 + 1,
                v.7 + 1,
                v.8 + 1,
                v.9 + 1,
                v.10 + 1,
                v.11 + 1,
                v.12 + 1,
                v.13 + 1,
                v.14 + 1,
                v.15 + 1,
            );
            s.suspend::<Sixteen, Sixteen>(tag, out)
        })
        .unwrap();
    let args: Sixteen = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 1 << 100);
    let k = s.cont_new(f).unwrap();
    let Ok(Resumed::Suspended { cont: k, .. }) =
        s.resume::<Sixteen, Sixteen>(k, args, &[Handler::suspend(tag)])
    else {
        panic!("expected a suspension")
    };
    let p: Sixteen = s.payload(k).unwrap();
    let mut expected = [0i128; 16];
    for (i, e) in expected.iter_mut().enumerate() {
        *e = i as i128 + 1;
    }
    expected[15] = (1 << 100) + 1;
    assert_eq!(flat(p), expected);
    let back: Sixteen = (
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
    );
    let Ok(Resumed::Returned(r)) = s.resume::<Sixteen, Sixteen>(k, back, &[]) else {
        panic!("expected a return")
    };
    assert_eq!(flat(r), flat(back));
    assert_eq!(s.outstanding_stacks(), 0);
}
