//! Runs one compute workload of `bench::compute` in wasmi, the
//! interpreter the host benchmark holds ours to, for instruction counting
//! beside `src/bin/wasm_compute.rs` (ours):
//!
//! ```text
//! cargo build --release -p bench --example wasmi_compute
//! valgrind --tool=callgrind target/release/examples/wasmi_compute sum 1000000
//! valgrind --tool=callgrind target/release/examples/wasmi_compute sum 2000000
//! ```
//!
//! The arguments are `wasm_compute`'s: a workload's name, the size `n`
//! (replacing the full-size argument) and, for the sieve, the run count.
//! The difference between the counts of two sizes is what the difference
//! costs, with wasmi's compilation and start-up cancelled out. An example,
//! not a binary, because wasmi is a dev-dependency of this crate.

use bench::compute::Args;
use wasmi::{Engine, Linker, Module, Store, Val};

fn main() {
    let mut argv = std::env::args().skip(1);
    let name = argv.next().unwrap_or_else(|| "sum".into());
    let n: Option<i64> = argv.next().map(|s| s.parse().expect("a number"));
    let t: Option<i32> = argv.next().map(|s| s.parse().expect("a number"));
    let (w, args) = bench::compute::chosen(&name, n, t);
    let engine = Engine::default();
    let module = Module::new(&engine, w.wat).expect("wasmi compiles the workload");
    let mut store = Store::new(&engine, ());
    let instance = Linker::<()>::new(&engine)
        .instantiate_and_start(&mut store, &module)
        .expect("wasmi instantiates the workload");
    let func = instance
        .get_func(&store, w.export)
        .expect("the workload's export");
    let args: Vec<Val> = match args {
        Args::I32(n) => vec![Val::I32(n)],
        Args::I64(n) => vec![Val::I64(n)],
        Args::I32Times(n, t) => vec![Val::I32(n), Val::I32(t)],
    };
    let mut out = [Val::I32(0)];
    let t0 = std::time::Instant::now();
    func.call(&mut store, &args, &mut out)
        .expect("the workload runs in wasmi");
    let elapsed = t0.elapsed();
    let r = match out[0] {
        Val::I32(r) => r as i64,
        Val::I64(r) => r,
        ref other => panic!("the workload returned {other:?}"),
    };
    if n.is_none() {
        assert_eq!(r, w.expect, "{name} gave the wrong result");
    }
    println!("{name}: {r} in {:.3} ms", elapsed.as_secs_f64() * 1e3);
}
