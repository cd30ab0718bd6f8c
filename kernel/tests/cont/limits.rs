//! Per-store limits on the host, from safe code only: the stack limit and
//! the API (`limits`, `set_limits`, `usage`). The heap quota is charged by
//! the kernel's allocator only; the in-kernel suite `tests/limits.rs`
//! checks it.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::pin::Pin;
use kernel::cont::dynamic::{ContObj, Func, Resumed};
use kernel::cont::limits::{DEFAULT_HEAP_QUOTA, DEFAULT_STACK_LIMIT, GUEST_HEAP_POOL};
use kernel::cont::typed;
use kernel::cont::{Cont, MmapStacks, STACK_CACHE, Store, StoreLimits, StoreUsage, Trap, TrapKind};

const STACK: usize = 64 * 1024;

fn limited(stacks: usize) -> Pin<Box<Store>> {
    Store::with_limits(
        MmapStacks::new(),
        STACK,
        StoreLimits {
            stacks,
            ..StoreLimits::DEFAULT
        },
    )
}

fn doubler(s: &Store) -> Func {
    s.func_wrap(|_: &Store, x: i32| -> Result<i32, Trap> { Ok(x * 2) })
        .unwrap()
}

#[test]
fn a_new_store_has_the_default_limits_and_holds_nothing() {
    let s = Store::new(MmapStacks::new(), STACK);
    assert_eq!(
        s.limits(),
        StoreLimits {
            heap_bytes: 4 * 1024 * 1024,
            stacks: 1024
        }
    );
    assert_eq!(s.limits(), StoreLimits::default());
    assert_eq!(
        s.usage(),
        StoreUsage {
            heap_bytes: 0,
            stacks: 0
        }
    );
}

#[test]
fn the_default_quota_is_a_small_share_of_the_guests_pool() {
    assert_eq!(GUEST_HEAP_POOL, 24 * 1024 * 1024);
    assert_eq!(GUEST_HEAP_POOL / DEFAULT_HEAP_QUOTA, 6);
    assert_eq!(DEFAULT_STACK_LIMIT, 1024);
}

#[test]
fn cont_new_past_the_stack_limit_traps_out_of_stacks_naming_the_limit() {
    let s = limited(3);
    let f = doubler(&s);
    let held: Vec<ContObj> = (0..3).map(|_| s.cont_new(f).unwrap()).collect();
    assert_eq!(s.usage().stacks, 3);
    let refused = s.cont_new(f).unwrap_err();
    assert_eq!(refused.kind(), TrapKind::OutOfStacks);
    assert!(
        refused.message().contains("StoreLimits::stacks"),
        "{}",
        refused.message()
    );
    // The refusal took nothing: the three run as before.
    for k in held {
        assert_eq!(s.resume::<i32, i32>(k, 4, &[]), Ok(Resumed::Returned(8)));
    }
}

#[test]
fn a_cached_stack_is_reused_at_the_limit_without_a_refusal() {
    let s = limited(2);
    let f = doubler(&s);
    let (a, b) = (s.cont_new(f).unwrap(), s.cont_new(f).unwrap());
    assert_eq!(s.resume::<i32, i32>(a, 1, &[]), Ok(Resumed::Returned(2)));
    // `a`'s stack is cached: the store still holds two, and the next
    // `cont.new` takes the cached one.
    assert_eq!((s.usage().stacks, s.cached_stacks()), (2, 1));
    let c = s.cont_new(f).unwrap();
    assert_eq!((s.usage().stacks, s.cached_stacks()), (2, 0));
    assert_eq!(
        s.cont_new(f).map_err(|t| t.kind()),
        Err(TrapKind::OutOfStacks)
    );
    assert_eq!(s.resume::<i32, i32>(b, 2, &[]), Ok(Resumed::Returned(4)));
    assert_eq!(s.resume::<i32, i32>(c, 3, &[]), Ok(Resumed::Returned(6)));
}

#[test]
fn a_guest_cont_new_past_the_stack_limit_gets_the_trap_as_err_and_returns() {
    let s = limited(STACK_CACHE + 2);
    let leaf = doubler(&s);
    // The guest holds one stack; it makes continuations until refused.
    let greedy = s
        .func_wrap(move |s: &Store, (): ()| -> Result<i32, Trap> {
            let mut made = Vec::new();
            let refusal = loop {
                match s.cont_new(leaf) {
                    Ok(k) => made.push(k),
                    Err(t) => break t,
                }
            };
            if refusal.kind() != TrapKind::OutOfStacks {
                return Err(refusal);
            }
            for &k in &made {
                s.drop_cont(k)?;
            }
            Ok(made.len() as i32)
        })
        .unwrap();
    let k = s.cont_new(greedy).unwrap();
    assert_eq!(
        s.resume::<(), i32>(k, (), &[]),
        Ok(Resumed::Returned(STACK_CACHE as i32 + 1))
    );
    assert_eq!(s.outstanding_stacks(), 0);
}

#[test]
fn set_limits_raises_the_stack_limit_for_the_next_cont_new() {
    let mut s = limited(1);
    let f = doubler(&s);
    let a = s.cont_new(f).unwrap();
    assert_eq!(
        s.cont_new(f).map_err(|t| t.kind()),
        Err(TrapKind::OutOfStacks)
    );
    let raised = StoreLimits {
        stacks: 2,
        heap_bytes: 1 << 20,
    };
    s.as_mut().set_limits(raised);
    assert_eq!(s.limits(), raised);
    let b = s.cont_new(f).unwrap();
    assert_eq!(s.usage().stacks, 2);
    assert_eq!(s.resume::<i32, i32>(a, 5, &[]), Ok(Resumed::Returned(10)));
    assert_eq!(s.resume::<i32, i32>(b, 6, &[]), Ok(Resumed::Returned(12)));
}

#[test]
fn a_limit_lowered_below_what_the_store_holds_takes_nothing_back() {
    let mut s = limited(3);
    let f = doubler(&s);
    let held: Vec<ContObj> = (0..3).map(|_| s.cont_new(f).unwrap()).collect();
    s.as_mut().set_limits(StoreLimits {
        stacks: 1,
        ..StoreLimits::DEFAULT
    });
    assert_eq!(s.usage().stacks, 3);
    for k in held {
        assert_eq!(s.resume::<i32, i32>(k, 1, &[]), Ok(Resumed::Returned(2)));
    }
    // Three cached stacks, over the limit of one: reused, never refused,
    // until the cache is empty.
    let again: Vec<ContObj> = (0..3).map(|_| s.cont_new(f).unwrap()).collect();
    assert_eq!(
        s.cont_new(f).map_err(|t| t.kind()),
        Err(TrapKind::OutOfStacks)
    );
    for k in again {
        assert_eq!(s.drop_cont(k), Ok(()));
    }
}

#[test]
fn a_stack_limit_of_zero_refuses_every_cont_new() {
    let s = limited(0);
    let f = doubler(&s);
    assert_eq!(
        s.cont_new(f).map_err(|t| t.kind()),
        Err(TrapKind::OutOfStacks)
    );
    assert_eq!(s.usage().stacks, 0);
}

#[test]
fn the_typed_door_meets_the_same_stack_limit_and_reads_the_same_usage() {
    let s = limited(1);
    let f = typed::Func::<i32, i32>::wrap(&s, |_: &Store, x: i32| Ok(x + 1)).unwrap();
    let k = Cont::new(&s, f).unwrap();
    assert_eq!(
        Cont::new(&s, f).err().map(|t| t.kind()),
        Some(TrapKind::OutOfStacks)
    );
    assert_eq!(s.usage().stacks, 1);
    assert!(matches!(k.resume(1, &[]), Ok(typed::Resumed::Returned(2))));
}
