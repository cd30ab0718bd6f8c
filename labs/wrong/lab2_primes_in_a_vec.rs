//! Lab 2, a WRONG solution (`labs-check` requires it to fail): the kernel
//! pulls every number from the generator and tests it against the primes
//! kept in a `Vec` on its own side. It prints exactly the right lines,
//! but there is no pipeline: one continuation, not one filter per prime.
//!
//! Expected: expected one filter per prime

use alloc::vec::Vec;
use kernel::cont::{Cont, Resumed, Store, Tag, Trap};
use labs::say;

pub fn sieve<'s>(s: &'s Store, numbers: Cont<'s, (), ()>, num: Tag<i32, ()>) -> Result<u32, Trap> {
    let _ = s;
    let mut primes: Vec<i32> = Vec::new();
    let mut k = numbers;
    while let Resumed::Suspended(x) = k.resume((), &[num.on()])? {
        let (x, rest) = x.take(num)?;
        if primes.iter().all(|p| x % p != 0) {
            say!("prime {x}");
            primes.push(x);
        }
        k = rest;
    }
    Ok(primes.len() as u32)
}
