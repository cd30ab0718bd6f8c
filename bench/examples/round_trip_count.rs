//! Runs N round trips (one resume plus one suspend back, the loop body of
//! the `round_trip` benchmarks) of one library, for instruction counting:
//!
//! ```text
//! cargo build --release -p bench --example round_trip_count
//! valgrind --tool=callgrind target/release/examples/round_trip_count ours 100000
//! valgrind --tool=callgrind target/release/examples/round_trip_count ours 200000
//! ```
//!
//! The library is `ours` (default; the dynamic door), `ours-typed` (the
//! typed door), `corosensei`, `context` or `wasmtime`
//! (`bench/wat/round_trip.wat`'s `run(n)`, one call; compiling the module
//! and mapping its generator's stack are start-up, the same in both runs,
//! and cancel out like the rest). Criterion
//! measures time, which on a shared 2-core VM wanders by several per cent
//! from run to run; an instruction count does not. The difference between
//! the counts of two runs, divided by the difference in N, is the exact
//! count of one round trip with start-up and exit cancelled out.

use context::stack::ProtectedFixedSizeStack;
use context::{Context, Transfer};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, Yielder};

use std::hint::black_box;

use bench::STACK_SIZE;

fn ours(n: u64) -> i64 {
    let mut ours = bench::RoundTrip::new();
    let mut sum = 0i64;
    for _ in 0..n {
        sum += i64::from(black_box(ours.step()));
    }
    sum
}

/// The same through the typed door (`bench::TypedRoundTrip`).
fn ours_typed(n: u64) -> i64 {
    bench::with_typed_round_trip(|steps| steps.run(n))
}

fn corosensei(n: u64) -> i64 {
    let stack = DefaultStack::new(STACK_SIZE).unwrap();
    let mut co = Coroutine::with_stack(stack, |y: &Yielder<(), i32>, ()| -> () {
        loop {
            y.suspend(black_box(1i32));
        }
    });
    let mut sum = 0i64;
    for _ in 0..n {
        match co.resume(()) {
            CoroutineResult::Yield(v) => sum += i64::from(black_box(v)),
            CoroutineResult::Return(()) => panic!("the looping coroutine returned"),
        }
    }
    // SAFETY: the body's frames hold no values with destructors (and a
    // `panic = "abort"` build cannot unwind them).
    unsafe { co.force_reset() };
    sum
}

fn context(n: u64) -> i64 {
    extern "C" fn body(mut t: Transfer) -> ! {
        loop {
            // SAFETY: `t.context` is the caller's suspended side.
            t = unsafe { t.context.resume(black_box(1)) };
        }
    }
    let stack = ProtectedFixedSizeStack::new(STACK_SIZE).unwrap();
    // SAFETY: `stack` outlives every use of the context.
    let mut ctx = unsafe { Context::new(&stack, body) };
    let mut sum = 0i64;
    for _ in 0..n {
        // SAFETY: `ctx` is the body's latest suspension point.
        let t = unsafe { ctx.resume(0) };
        ctx = t.context;
        sum += black_box(t.data) as i64;
    }
    sum
}

fn wasmtime(n: u64) -> i64 {
    use wasmtime::{Config, Engine, Instance, Module, Store};
    // The engine of `benches/host.rs` (`wasm::engine`).
    let mut config = Config::new();
    config
        .wasm_function_references(true)
        .wasm_exceptions(true)
        .wasm_gc(true)
        .wasm_stack_switching(true)
        .async_stack_size(STACK_SIZE)
        .max_wasm_stack(32 * 1024);
    let engine = Engine::new(&config).unwrap();
    let module = Module::new(&engine, include_str!("../wat/round_trip.wat")).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let run = instance
        .get_typed_func::<i32, i32>(&mut store, "run")
        .unwrap();
    let n = i32::try_from(n).expect("at most i32::MAX round trips");
    i64::from(run.call(&mut store, black_box(n)).unwrap())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let lib = args.next().unwrap_or_else(|| "ours".to_string());
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let sum = match lib.as_str() {
        "ours" => ours(n),
        "ours-typed" => ours_typed(n),
        "corosensei" => corosensei(n),
        "context" => context(n),
        "wasmtime" => wasmtime(n),
        other => {
            panic!("unknown library {other:?}: ours, ours-typed, corosensei, context or wasmtime")
        }
    };
    println!("{lib}: {n} round trips, sum {sum}");
}
