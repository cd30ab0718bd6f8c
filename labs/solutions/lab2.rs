//! Lab 2, reference solution: the kernel pulls numbers from the head of a
//! chain of generators. Whatever reaches the head is a prime (no filter
//! below divides it); the head then becomes a new filter for that prime,
//! wrapped around the old head. A filter takes the chain below it as a
//! `ContObj` argument (a continuation is a value) and turns it back into a
//! typed handle with `Cont::from_raw`.

use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
use labs::say;

pub fn sieve<'s>(s: &'s Store, numbers: Cont<'s, (), ()>, num: Tag<i32, ()>) -> Result<u32, Trap> {
    let filter = Func::wrap(s, move |s: &Store, (below, p): (ContObj, i32)| {
        let mut below = Cont::<(), ()>::from_raw(s, below)?;
        while let Resumed::Suspended(x) = below.resume((), &[num.on()])? {
            let (x, rest) = x.take(num)?;
            if x % p != 0 {
                num.suspend(s, x)?;
            }
            below = rest;
        }
        Ok(())
    })
    .map_err(|_| Trap::guest("the filter function was refused"))?;
    let mut head = numbers;
    let mut primes = 0;
    while let Resumed::Suspended(x) = head.resume((), &[num.on()])? {
        let (p, rest) = x.take(num)?;
        say!("prime {p}");
        primes += 1;
        head = Cont::new(s, filter)?.bind(rest.into_raw())?.bind(p)?;
    }
    Ok(primes)
}
