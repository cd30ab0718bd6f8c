//! Runs one compute workload of `bench::compute` in this crate's
//! interpreter, for timing and instruction counting while the interpreter
//! is worked on:
//!
//! ```text
//! cargo build --release -p bench --bin wasm_compute
//! target/release/wasm_compute sum               # full size, prints ms
//! valgrind --tool=callgrind target/release/wasm_compute sum 1000000
//! valgrind --tool=callgrind target/release/wasm_compute sum 2000000
//! ```
//!
//! A binary rather than an example because a binary does not build the
//! crate's dev-dependencies (Wasmtime, wasmi), whose first release build
//! takes many minutes. The optional second argument replaces the size
//! argument (`n`; the sieve's run count stays 10 unless a third is given);
//! two counts whose sizes differ give the cost of the difference exactly.
//! The stack-switching workloads (`round_trip`, `switch`,
//! `create_run_drop`) run the same way, `n` being their export's argument.

use bench::compute::{Args, Ours, SWITCHING};
use std::time::Instant;

fn main() {
    let mut argv = std::env::args().skip(1);
    let name = argv.next().unwrap_or_else(|| "sum".into());
    let n: Option<i64> = argv.next().map(|s| s.parse().expect("a number"));
    let t: Option<i32> = argv.next().map(|s| s.parse().expect("a number"));
    if let Some((_, wat, per_n)) = SWITCHING.iter().find(|(w, _, _)| *w == name) {
        let n = n.unwrap_or(1_000_000) as i32;
        let w = bench::compute::Workload {
            name: "switching",
            wat,
            export: "run",
            args: Args::I32(n),
            expect: 0,
        };
        let ours = Ours::new(&w);
        let t0 = Instant::now();
        let r = ours.run(Args::I32(n));
        let elapsed = t0.elapsed();
        println!(
            "{name}: {r} in {:.3} ms, {:.1} ns per operation",
            elapsed.as_secs_f64() * 1e3,
            elapsed.as_secs_f64() * 1e9 / (n as f64 * *per_n as f64)
        );
        return;
    }
    let (w, args) = bench::compute::chosen(&name, n, t);
    let ours = Ours::new(w);
    let t0 = Instant::now();
    let r = ours.run(args);
    let elapsed = t0.elapsed();
    if n.is_none() {
        assert_eq!(r, w.expect, "{name} gave the wrong result");
    }
    println!("{name}: {r} in {:.3} ms", elapsed.as_secs_f64() * 1e3);
}
