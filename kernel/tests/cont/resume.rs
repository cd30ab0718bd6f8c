//! `resume` of fresh and suspended continuations: values in and out, handler lists, nesting, n-ary signatures.

use super::*;
use crate::scenarios_shared::forwarding_pair;

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
fn nearest_handler_wins_when_two_resumes_handle_the_tag() {
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, a).unwrap()).unwrap();
    // The inner resume catches `a`, resumes with 50: inner returns 100.
    let v: i32 = returned(s.resume(outer, (), &[Handler::suspend(a)]));
    assert_eq!(v, 1100);
}

#[test]
fn resume_of_a_forwarded_segment_returns_the_outermost_function_results() {
    // The segment inner..outer is ended by outer's return (i32), whatever
    // inner returns.
    let s = store();
    let a = s.tag_new(&[I32], &[I32]).unwrap();
    let b = s.tag_new(&[I32], &[I32]).unwrap();
    let outer = s.cont_new(forwarding_pair(&s, a, b).unwrap()).unwrap();
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
