//! A Rust `std` program for the kernel's WASI layer (`examples/wasi/build.sh`
//! builds it for `wasm32-wasip1`): formatting, the command line, a
//! `BTreeMap` of 100,000 entries, a `HashMap` (seeded by `random_get`) and
//! an exit code of its own choosing.
//!
//! Why these: they are what ordinary Rust code touches first, and each
//! reaches a different WASI call (`args_get`, `fd_write`, `random_get`,
//! `proc_exit`), or the allocator's `memory.grow` (the map needs a few
//! megabytes of linear memory).

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    println!("args: {}", args.len());
    for (i, a) in args.iter().enumerate().skip(1) {
        println!("  arg {i}: {a:?}");
    }

    // 100,000 keys, inserted in a scrambled order (a multiplicative hash
    // modulo a prime visits every residue once).
    let mut map = BTreeMap::new();
    for i in 0u64..100_000 {
        let k = (i * 7_919) % 100_003;
        map.insert(k, k * k);
    }
    let sum: u64 = map.values().fold(0u64, |s, v| s.wrapping_add(*v));
    println!("btreemap: {} entries, first {:?}, last {:?}", map.len(),
        map.first_key_value(), map.last_key_value());
    println!("btreemap: sum of squares mod 2^64 = {sum:#x}");
    let between: Vec<_> = map.range(500..510).map(|(k, _)| *k).collect();
    println!("btreemap: keys in 500..510: {between:?}");

    let mut words: HashMap<&str, usize> = HashMap::new();
    for w in "the quick brown fox jumps over the lazy dog the end".split(' ') {
        *words.entry(w).or_default() += 1;
    }
    let mut counted: Vec<_> = words.into_iter().collect();
    counted.sort();
    println!("words: {counted:?}");
    println!("float: {:.3} {:e} {:>8}|", std::f64::consts::PI, 6.02e23f64, "right");

    // The exit code: the number of arguments past the program's name.
    eprintln!("tally: exiting with {}", args.len() - 1);
    ExitCode::from((args.len() - 1) as u8)
}
