//! Lab 2, a WRONG solution (`labs-check` requires it to fail): the
//! pipeline is right, but each filter's test is the wrong way round: it
//! passes on the multiples of its prime and drops the rest.
//!
//! Expected: expected `prime 3`, got `prime 4`

use kernel::cont::dynamic::ContObj;
use kernel::cont::{Cont, Func, Resumed, Store, Tag, Trap};
use labs::say;

pub fn sieve<'s>(s: &'s Store, numbers: Cont<'s, (), ()>, num: Tag<i32, ()>) -> Result<u32, Trap> {
    let filter = Func::wrap(s, move |s: &Store, (below, p): (ContObj, i32)| {
        let mut below = Cont::<(), ()>::from_raw(s, below)?;
        while let Resumed::Suspended(x) = below.resume((), &[num.on()])? {
            let (x, rest) = x.take(num)?;
            if x % p == 0 {
                num.suspend(s, x)?;
            }
            below = rest;
        }
        Ok(())
    })?;
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
