//! Lab 2's checker: a sieve of Eratosthenes as a pipeline of generators,
//! one continuation per prime (`docs/labs/lab2-primes.md`).
//!
//! The checker makes the source: a generator that yields 2, 3, ..., n
//! with a `suspend`, and notes before each one how many stacks its store
//! holds. It hands that continuation to the student's `sieve` and checks
//! three things: the lines said are `prime p` for exactly the primes up to
//! n (found here by trial division, with no continuation); `sieve`
//! returned how many there are; and the pipeline grew by one continuation
//! per prime: when the source yields x, its store holds one stack more
//! for every prime below x than when it yielded 2. Last, every stack must
//! be back once `sieve` returns.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::cell::RefCell;
use kernel::cont::{Cont, Func, Store, Tag};
use kernel::stacks::KernelStacks;
use labs::say;

#[cfg_attr(
    not(any(feature = "lab-solutions", feature = "lab-variant")),
    path = "student.rs"
)]
#[cfg_attr(feature = "lab-solutions", path = "../solutions/lab2.rs")]
#[cfg_attr(feature = "lab-variant", path = "../.variant/lab2.rs")]
mod student;

labs::lab!(2, "a prime sieve made of generators", check);

/// The largest numbers the checker sieves up to.
const RUNS: [i32; 3] = [30, 2, 1];

fn check() -> Result<(), String> {
    for n in RUNS {
        let heading = format!("sieve(2..={n})");
        say!("{heading}");
        let s = Store::new(KernelStacks, 64 * 1024);
        let num = Tag::<i32, ()>::new(&s).map_err(|e| format!("tag refused: {e:?}"))?;
        // (x, stacks the store held when the source yielded x)
        let seen: Rc<RefCell<Vec<(i32, usize)>>> = Rc::default();
        let noted = seen.clone();
        let source = Func::wrap(&s, move |s: &Store, n: i32| {
            for x in 2..=n {
                noted.borrow_mut().push((x, s.outstanding_stacks()));
                num.suspend(s, x)?;
            }
            Ok(())
        })
        .map_err(|e| format!("source refused: {e:?}"))?;
        let numbers = Cont::new(&s, source)
            .and_then(|k| k.bind(n))
            .map_err(|t| format!("source: {t}"))?;
        labs::take_log();
        let count = student::sieve(&s, numbers, num)
            .map_err(|trap| format!("{heading}: sieve returned {trap}"))?;
        let log = labs::take_log();
        let primes: Vec<i32> = (2..=n).filter(|&x| is_prime(x)).collect();
        let want: Vec<String> = primes.iter().map(|p| format!("prime {p}")).collect();
        labs::same_lines(&log, &want).map_err(|e| format!("{heading}: {e}"))?;
        if count as usize != primes.len() {
            return Err(format!(
                "{heading}: sieve returned {count}, there are {} primes",
                primes.len()
            ));
        }
        one_stage_per_prime(&seen.borrow(), n).map_err(|e| format!("{heading}: {e}"))?;
        if s.outstanding_stacks() != 0 {
            return Err(format!(
                "{heading}: {} stacks still held after sieve returned",
                s.outstanding_stacks()
            ));
        }
        say!("primes found: {count}");
    }
    Ok(())
}

fn is_prime(x: i32) -> bool {
    x >= 2 && (2..x).take_while(|d| d * d <= x).all(|d| x % d != 0)
}

/// Every number was asked for, once, in order; and when x was, the store
/// held one stack more per prime below x than when 2 was: one filter per
/// prime found so far, no more, no fewer.
fn one_stage_per_prime(seen: &[(i32, usize)], n: i32) -> Result<(), String> {
    let asked: Vec<i32> = seen.iter().map(|&(x, _)| x).collect();
    let all: Vec<i32> = (2..=n).collect();
    if asked != all {
        return Err(format!(
            "the source was asked for {asked:?}, not for each of 2..={n} once"
        ));
    }
    let Some(&(_, base)) = seen.first() else {
        return Ok(());
    };
    for &(x, stacks) in seen {
        let below = (2..x).filter(|&p| is_prime(p)).count();
        if stacks != base + below {
            return Err(format!(
                "when the source yielded {x}, {} continuations were stacked on it, \
                 expected one filter per prime below {x}: {below}",
                stacks - base.min(stacks)
            ));
        }
    }
    Ok(())
}
