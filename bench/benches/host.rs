//! Host benchmark: the continuation core (`kernel::cont`) against
//! `corosensei`, `context` (Boost.Context's fcontext) and Wasmtime (the
//! stack-switching proposal's own instructions, compiled by Cranelift),
//! doing the same work in one run, then a table of the results.
//!
//! Three measurements, each with 64 KiB stacks for every library:
//!
//! * `round_trip`: a coroutine that loops forever yielding an `i32`; one
//!   iteration is one resume plus one suspend back to the caller, and the
//!   caller reads the yielded value;
//! * `create_run_drop`: make a coroutine whose body returns an `i32` at
//!   once, run it to completion, read the value, drop it; the stack is
//!   reused every time (ours: the `MmapStacks` pool; corosensei: one
//!   `DefaultStack` lent to a `ScopedCoroutine`, as its own benchmark does;
//!   context: one `ProtectedFixedSizeStack`), so no iteration maps memory;
//!   Wasmtime maps a fresh stack for every `cont.new` (see `wasm`);
//! * `switch`: two coroutines hand control to each other; one iteration is
//!   one switch. corosensei has no symmetric switch (a coroutine can only
//!   yield back to whoever resumed it), so its cell stays empty.
//!
//! The Wasmtime workloads are WAT modules in `bench/wat/`, each exporting
//! `run(n)`, which does `n` iterations in a loop inside Wasm: the host times
//! whole calls with criterion's `iter_custom` and criterion divides by the
//! iteration count, so the host-to-Wasm call is paid once per sample (or
//! per few thousand iterations, see `wasm`), not once per iteration.
//!
//! After criterion has run, the binary reads criterion's median estimates
//! back (`<target>/criterion/<group>/<bench>/new/estimates.json`) and prints
//! one table: ns per operation for each library and the ratios ours /
//! corosensei and ours / wasmtime. With `--json` (`cargo bench -p bench
//! --bench host -- --json`) or `BENCH_JSON=1` it also prints one JSON
//! object as its last line, for scripts and CI. The table is the point: criterion's own output is one
//! block per benchmark and leaves the comparison to the reader.

use context::stack::ProtectedFixedSizeStack;
use context::{Context, Transfer};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, ScopedCoroutine, Yielder};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use kernel::cont::dynamic::{ContObj, Handler, Resumed};
use kernel::cont::{MmapStacks, Store, Trap};
use std::ffi::OsString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Every library gets stacks of this size, so none wins by touching less
/// memory.
use bench::STACK_SIZE;

/// The libraries, in table order: criterion bench names inside each group.
const LIBS: [&str; 4] = ["ours", "corosensei", "context", "wasmtime"];
/// The criterion groups, in table order, with their row labels.
const GROUPS: [(&str, &str); 3] = [
    ("round_trip", "round trip (resume + suspend)"),
    ("create_run_drop", "create + run + drop"),
    ("switch", "switch (one way)"),
];

/// Wasmtime's side: an engine with the stack-switching proposal on, and a
/// runner that calls a module's exported `run(n)` for criterion's
/// `iter_custom`.
mod wasm {
    use std::hint::black_box;
    use std::time::{Duration, Instant};
    use wasmtime::{Config, Engine, Instance, Module, Store, TypedFunc};

    /// The engine every workload compiles with. Stack switching needs
    /// function references and exceptions; the switch module's types refer
    /// to each other (a `rec` group), which needs GC. Continuation stacks
    /// are `async_stack_size` long: 64 KiB like every other library's, of
    /// which Wasm code may use `max_wasm_stack`.
    pub fn engine() -> Engine {
        let mut config = Config::new();
        config
            .wasm_function_references(true)
            .wasm_exceptions(true)
            .wasm_gc(true)
            .wasm_stack_switching(true)
            .async_stack_size(bench::STACK_SIZE)
            .max_wasm_stack(32 * 1024);
        Engine::new(&config).expect("a Wasmtime engine with stack switching")
    }

    /// Stacks one store may hold before it is replaced. Wasmtime's
    /// `cont.new` maps a fresh stack every time and unmaps none until the
    /// store is dropped; about 32,000 live ones exhaust `vm.max_map_count`
    /// (65,530 mappings by default, about two per stack). 4,096 stacks
    /// of 64 KiB are 256 MiB of address space, little of it touched.
    const STACKS_PER_STORE: u64 = 4096;

    /// One workload: a module whose export `run(n: i32) -> i32` does `n`
    /// iterations (n >= 1) and returns `n` when they all went as planned.
    pub struct Workload {
        engine: Engine,
        module: Module,
        /// Stacks one call maps whatever `n` is, and stacks per iteration.
        per_call: u64,
        per_iter: u64,
        /// The current store, its `run`, and the stacks mapped in it so far.
        live: Option<(Store<()>, TypedFunc<i32, i32>, u64)>,
    }

    impl Workload {
        pub fn new(engine: &Engine, wat: &str, per_call: u64, per_iter: u64) -> Workload {
            Workload {
                engine: engine.clone(),
                module: Module::new(engine, wat).expect("the workload's WAT compiles"),
                per_call,
                per_iter,
                live: None,
            }
        }

        /// The most iterations one call may do without its store running
        /// past `STACKS_PER_STORE`.
        fn max_per_call(&self) -> u64 {
            let cap = match self.per_iter {
                0 => u64::MAX,
                k => (STACKS_PER_STORE - self.per_call) / k,
            };
            cap.min(i32::MAX as u64)
        }

        /// Time `iters` iterations: as few calls of `run` as the stack limit
        /// allows, each timed on its own, the times added. Whenever the next
        /// call would take the store past `STACKS_PER_STORE`, the store is
        /// dropped (unmapping its stacks) and a new one instantiated, both
        /// between two timed calls, so neither is in the figure. (For
        /// `create_run_drop` that leaves Wasmtime's `munmap` of each stack
        /// out of the time: its drop is deferred to the store.)
        pub fn time(&mut self, iters: u64) -> Duration {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(self.max_per_call());
                total += self.call(n);
                left -= n;
            }
            total
        }

        fn call(&mut self, n: u64) -> Duration {
            let stacks = self.per_call + n * self.per_iter;
            if self
                .live
                .as_ref()
                .is_none_or(|(_, _, used)| used + stacks > STACKS_PER_STORE)
            {
                self.live = None; // unmaps the old store's stacks first
                let mut store = Store::new(&self.engine, ());
                let instance = Instance::new(&mut store, &self.module, &[])
                    .expect("instantiating the workload");
                let run = instance
                    .get_typed_func::<i32, i32>(&mut store, "run")
                    .expect("the workload exports run(i32) -> i32");
                self.live = Some((store, run, 0));
            }
            let (store, run, used) = self.live.as_mut().unwrap();
            *used += stacks;
            let n = i32::try_from(n).unwrap();
            let t0 = Instant::now();
            let r = run.call(&mut *store, black_box(n));
            let elapsed = t0.elapsed();
            assert_eq!(
                r.expect("the workload trapped"),
                n,
                "the workload went wrong"
            );
            elapsed
        }
    }
}

fn round_trip(g: &mut BenchmarkGroup<'_, WallTime>, engine: &wasmtime::Engine) {
    // Every library runs the same loop, timed whole (`iter_custom`): n
    // resumes, each reading the i32 the coroutine yields, added up through
    // `black_box`. Ours keeps its one-shot handle in a local across the
    // loop, as a guest does; `b.iter` would make it a field put back after
    // every step.

    // Ours: the typed door (`bench::TypedRoundTrip`), the API a Rust guest
    // is written in; the tag carries one i32 out and nothing back in.
    bench::with_typed_round_trip(|steps| {
        g.bench_function("ours", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                black_box(steps.run(iters));
                start.elapsed()
            })
        });
    });

    // Ours through the dynamic door (`bench::RoundTrip`): a row of its own.
    {
        let mut ours = bench::RoundTrip::new();
        g.bench_function("ours-dynamic", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut sum = 0i64;
                for _ in 0..iters {
                    sum += i64::from(black_box(ours.step()));
                }
                black_box(sum);
                start.elapsed()
            })
        });
    }

    // corosensei: the same loop through a `Yielder`.
    {
        let stack = DefaultStack::new(STACK_SIZE).unwrap();
        let mut co = Coroutine::with_stack(stack, |y: &Yielder<(), i32>, ()| -> () {
            loop {
                y.suspend(black_box(1i32));
            }
        });
        g.bench_function("corosensei", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut sum = 0i64;
                for _ in 0..iters {
                    match co.resume(()) {
                        CoroutineResult::Yield(v) => sum += i64::from(black_box(v)),
                        CoroutineResult::Return(()) => panic!("the looping coroutine returned"),
                    }
                }
                black_box(sum);
                start.elapsed()
            })
        });
        // Dropping a suspended coroutine unwinds it, which a `panic =
        // "abort"` build cannot do; nothing on its stack needs dropping.
        // SAFETY: the body's frames hold no values with destructors.
        unsafe { co.force_reset() };
    }

    // context: each side hands the other its `Context` in a `Transfer`.
    {
        extern "C" fn body(mut t: Transfer) -> ! {
            loop {
                // SAFETY: `t.context` is the benchmark's suspended side.
                t = unsafe { t.context.resume(black_box(1)) };
            }
        }
        let stack = ProtectedFixedSizeStack::new(STACK_SIZE).unwrap();
        // SAFETY: `stack` outlives every use of the context below.
        let mut ctx = Some(unsafe { Context::new(&stack, body) });
        g.bench_function("context", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                let mut c = ctx.take().unwrap();
                let mut sum = 0i64;
                for _ in 0..iters {
                    // SAFETY: `c` is the body's latest suspension point.
                    let t = unsafe { c.resume(0) };
                    c = t.context;
                    sum += black_box(t.data) as i64;
                }
                ctx = Some(c);
                black_box(sum);
                start.elapsed()
            })
        });
        // The body is abandoned mid-loop (its frames own nothing) when
        // `stack` is unmapped at the end of this block.
    }

    // Wasmtime: `run(n)` makes one generator (one stack per call) and
    // resumes it n times with an `(on $yield $label)` handler, adding up the
    // i32s it suspends with; the loop is in Wasm, so the host-to-Wasm call
    // and the one `cont.new` are paid once per sample.
    {
        let mut w = wasm::Workload::new(engine, include_str!("../wat/round_trip.wat"), 1, 0);
        g.bench_function("wasmtime", |b| b.iter_custom(|iters| w.time(iters)));
    }
}

fn create_run_drop(g: &mut BenchmarkGroup<'_, WallTime>, engine: &wasmtime::Engine) {
    {
        let store = Store::new(MmapStacks::new(), STACK_SIZE);
        let body = store
            .func_wrap(|_: &Store, ()| Ok(black_box(1i32)))
            .unwrap();
        g.bench_function("ours", |b| {
            b.iter(|| {
                let k = store.cont_new(body).unwrap();
                match store.resume(k, (), &[]) {
                    Ok(Resumed::Returned(v)) => black_box::<i32>(v),
                    _ => panic!("the continuation did not return"),
                }
            })
        });
        assert_eq!(store.outstanding_stacks(), 0);
    }

    {
        let mut stack = DefaultStack::new(STACK_SIZE).unwrap();
        g.bench_function("corosensei", |b| {
            b.iter(|| {
                let co = ScopedCoroutine::<(), (), i32, _>::with_stack(&mut stack, |_, ()| {
                    black_box(1i32)
                });
                co.scope(|mut co| match co.resume(()) {
                    CoroutineResult::Return(v) => black_box(v),
                    CoroutineResult::Yield(()) => panic!("the coroutine yielded"),
                })
            })
        });
    }

    {
        // An fcontext has no "return": a finished body jumps back for the
        // last time and is never resumed, which is what this one does.
        extern "C" fn body(t: Transfer) -> ! {
            // SAFETY: `t.context` is the benchmark, waiting for the result.
            unsafe { t.context.resume(black_box(1)) };
            unreachable!("a finished context was resumed")
        }
        let stack = ProtectedFixedSizeStack::new(STACK_SIZE).unwrap();
        g.bench_function("context", |b| {
            b.iter(|| {
                // SAFETY: `stack` outlives the context, which is dropped
                // (it is a bare pointer) before the next one reuses it.
                let t = unsafe { Context::new(&stack, body).resume(0) };
                black_box(t.data)
            })
        });
    }

    // Wasmtime: `run(n)` does n times `cont.new` + `resume` to completion,
    // adding up the returned i32s; every `cont.new` maps a stack, which is
    // part of the figure, but unmapping it is not: that happens when
    // `wasm::Workload` replaces the store, every 4,096 iterations, untimed.
    {
        let mut w = wasm::Workload::new(engine, include_str!("../wat/create_run_drop.wat"), 0, 1);
        g.bench_function("wasmtime", |b| b.iter_custom(|iters| w.time(iters)));
    }
}

/// Ping-pong: one coroutine switches to another, which switches back; one
/// iteration is one switch. Every library times `iters` exchanges (two
/// switches each) from outside and reports half the time, so a sample's
/// figure holds also one start of the pair and one teardown, spread over
/// the sample's (tens of thousands of) iterations.
///
/// corosensei is absent: its coroutines are asymmetric, a `Yielder` can
/// only suspend back to whoever resumed it, so two coroutines cannot hand
/// control to each other without a trip through the caller (which is the
/// round trip, twice), and its cell in the table stays "-".
fn switch(g: &mut BenchmarkGroup<'_, WallTime>, engine: &wasmtime::Engine) {
    // Ours: `ping` makes `pong` and switches to it `n` times under one
    // `Handler::switch`; each switch hands over the switcher's own handle,
    // as kernel/benches/icount.rs does.
    {
        let store = Store::new(MmapStacks::new(), STACK_SIZE);
        let tag = store.tag_new(&[], &[]).unwrap();
        let pong = store
            .func_wrap(move |s: &Store, mut other: ContObj| -> Result<(), Trap> {
                loop {
                    other = s.switch(other, tag, ())?;
                }
            })
            .unwrap();
        let ping = store
            .func_wrap(move |s: &Store, n: i64| -> Result<(), Trap> {
                let mut other = s.cont_new(pong)?;
                for _ in 0..n {
                    other = s.switch(other, tag, ())?;
                }
                // Cancels `pong` (its pending switch returns an error and
                // its frames return) and pools its stack.
                s.drop_cont(other)
            })
            .unwrap();
        let handlers = [Handler::switch(tag)];
        g.bench_function("ours", |b| {
            b.iter_custom(|iters| {
                let k = store.cont_new(ping).unwrap();
                let t0 = Instant::now();
                let r = store.resume::<_, ()>(k, black_box(iters as i64), &handlers);
                let elapsed = t0.elapsed();
                assert!(
                    matches!(r, Ok(Resumed::Returned(()))),
                    "ping did not return"
                );
                elapsed / 2
            })
        });
        assert_eq!(store.outstanding_stacks(), 0);
    }

    // context: two contexts resume each other; every fcontext jump is
    // already symmetric (it hands over the jumper's own context).
    {
        struct PingArgs {
            n: u64,
            pong: Option<Context>,
        }
        extern "C" fn ping(t: Transfer) -> ! {
            let main = t.context;
            // SAFETY: the benchmark passes a `PingArgs` it keeps alive until
            // `ping` jumps back to it.
            let args = unsafe { &mut *(t.data as *mut PingArgs) };
            let mut pong = args.pong.take().unwrap();
            for _ in 0..args.n {
                // SAFETY: `pong` is pong's latest suspension point.
                pong = unsafe { pong.resume(0) }.context;
            }
            // SAFETY: `main` is the benchmark, waiting for this jump.
            unsafe { main.resume(0) };
            unreachable!("a finished ping was resumed")
        }
        extern "C" fn pong(mut t: Transfer) -> ! {
            loop {
                // SAFETY: `t.context` is ping's latest suspension point.
                t = unsafe { t.context.resume(black_box(0)) };
            }
        }
        let ping_stack = ProtectedFixedSizeStack::new(STACK_SIZE).unwrap();
        let pong_stack = ProtectedFixedSizeStack::new(STACK_SIZE).unwrap();
        g.bench_function("context", |b| {
            b.iter_custom(|iters| {
                // Fresh contexts on the same two stacks every sample; the
                // last sample's pair is abandoned (its frames own nothing).
                let mut args = PingArgs {
                    n: iters,
                    // SAFETY: both stacks outlive every context made on them.
                    pong: Some(unsafe { Context::new(&pong_stack, pong) }),
                };
                // SAFETY: as above.
                let ctx = unsafe { Context::new(&ping_stack, ping) };
                let t0 = Instant::now();
                // SAFETY: `args` lives until ping jumps back.
                unsafe { ctx.resume(&mut args as *mut PingArgs as usize) };
                t0.elapsed() / 2
            })
        });
    }

    // Wasmtime: `run(n)` starts `$ping` under `(on $sw switch)`; `$ping`
    // makes `$pong` and does n exchanges with `switch $ct $sw`. Two stacks
    // per call.
    {
        let mut w = wasm::Workload::new(engine, include_str!("../wat/switch.wat"), 2, 0);
        g.bench_function("wasmtime", |b| b.iter_custom(|iters| w.time(iters) / 2));
    }
}

/// Where criterion writes its estimates, by criterion's own rule:
/// `CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the target
/// directory `cargo metadata` reports, plus `criterion`. (The binary's own
/// path does not tell: recent cargo builds benches under
/// `<target>/release/build/<pkg>/<hash>/out/`.) The directory is handed to
/// criterion too, so both agree by construction.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return Path::new(&target).join("criterion");
    }
    cargo_target_dir()
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("criterion")
}

/// `target_directory` from `cargo metadata` (cargo sets `CARGO` for the
/// processes it runs).
fn cargo_target_dir() -> Option<PathBuf> {
    let out = Command::new(std::env::var_os("CARGO")?)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .ok()?;
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    Some(PathBuf::from(meta["target_directory"].as_str()?))
}

/// The median point estimate (ns) of one benchmark, if criterion wrote it
/// during this run (an older file, e.g. from before a filtered run, would
/// report a figure this run did not measure).
fn median_ns(dir: &Path, group: &str, lib: &str, since: SystemTime) -> Option<f64> {
    let path = dir.join(group).join(lib).join("new/estimates.json");
    if std::fs::metadata(&path).ok()?.modified().ok()? < since {
        return None;
    }
    parse_median(&std::fs::read_to_string(path).ok()?)
}

/// Reads `median.point_estimate` out of criterion's estimates file.
fn parse_median(json: &str) -> Option<f64> {
    let estimates: serde_json::Value = serde_json::from_str(json).ok()?;
    estimates["median"]["point_estimate"].as_f64()
}

fn fmt_ns(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.2}"))
}

fn json_num(v: Option<f64>) -> String {
    v.map_or_else(|| "null".to_string(), |v| format!("{v:.3}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

/// The compute workloads in wasmi: the same WAT, wasmi's default
/// configuration.
mod interp {
    use bench::compute::{Args, Workload};
    use wasmi::{Engine, Linker, Module, Store};

    pub struct Wasmi {
        store: Store<()>,
        func: wasmi::Func,
    }

    impl Wasmi {
        pub fn new(w: &Workload) -> Wasmi {
            let engine = Engine::default();
            let module = Module::new(&engine, w.wat).expect("wasmi compiles the workload");
            let mut store = Store::new(&engine, ());
            let instance = Linker::<()>::new(&engine)
                .instantiate_and_start(&mut store, &module)
                .expect("wasmi instantiates the workload");
            let func = instance
                .get_func(&store, w.export)
                .expect("the workload's export");
            Wasmi { store, func }
        }

        pub fn run(&mut self, args: Args) -> i64 {
            use wasmi::Val;
            let args: &[Val] = match args {
                Args::I32(n) => &[Val::I32(n)],
                Args::I64(n) => &[Val::I64(n)],
                Args::I32Times(n, t) => &[Val::I32(n), Val::I32(t)],
            };
            let mut out = [Val::I32(0)];
            self.func
                .call(&mut self.store, args, &mut out)
                .expect("the workload runs in wasmi");
            match out[0] {
                Val::I32(r) => r as i64,
                Val::I64(r) => r,
                ref other => panic!("the workload returned {other:?}"),
            }
        }
    }
}

/// Median ns of one call of each compute workload, ours and wasmi's:
/// eleven paired calls, after one warm-up call each. Every call's result
/// is checked.
fn compute() -> Vec<(&'static str, f64, f64)> {
    use bench::compute::{Ours, WORKLOADS};
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let mut rows = Vec::new();
    for w in &WORKLOADS {
        let ours = Ours::new(w);
        let mut wasmi = interp::Wasmi::new(w);
        assert_eq!(ours.run(w.args), w.expect, "{}: ours", w.name);
        assert_eq!(wasmi.run(w.args), w.expect, "{}: wasmi", w.name);
        let runs = 11;
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let t0 = Instant::now();
            assert_eq!(ours.run(black_box(w.args)), w.expect);
            a.push(t0.elapsed().as_nanos() as f64);
            let t0 = Instant::now();
            assert_eq!(wasmi.run(black_box(w.args)), w.expect);
            b.push(t0.elapsed().as_nanos() as f64);
        }
        rows.push((w.name, median(a), median(b)));
    }
    rows
}

/// Median ns per operation of each stack-switching workload of
/// `bench/wat` run by this interpreter (wasmi has no stack switching;
/// Wasmtime runs the same WAT in the criterion groups): eleven calls of
/// `run(n)`, after one warm-up call, each checked to return `n`.
fn switching_interpreted() -> Vec<(&'static str, f64)> {
    use bench::compute::{Args, Ours, SWITCHING, Workload};
    const N: i32 = 20_000;
    SWITCHING
        .iter()
        .map(|&(name, wat, per_n)| {
            let w = Workload {
                name,
                wat,
                export: "run",
                args: Args::I32(N),
                expect: N as i64,
            };
            let ours = Ours::new(&w);
            assert_eq!(ours.run(w.args), w.expect, "{name}: ours");
            let mut v: Vec<f64> = (0..11)
                .map(|_| {
                    let t0 = Instant::now();
                    assert_eq!(ours.run(black_box(w.args)), w.expect);
                    t0.elapsed().as_nanos() as f64 / (N as f64 * per_n as f64)
                })
                .collect();
            v.sort_by(f64::total_cmp);
            (name, v[v.len() / 2])
        })
        .collect()
}

fn report(
    dir: &Path,
    since: SystemTime,
    json: bool,
    compute: &[(&str, f64, f64)],
    switching: &[(&str, f64)],
) {
    // results[group][lib]
    let results: Vec<Vec<Option<f64>>> = GROUPS
        .iter()
        .map(|(g, _)| LIBS.iter().map(|l| median_ns(dir, g, l, since)).collect())
        .collect();
    if results.iter().flatten().all(Option::is_none) {
        // `cargo test --benches` runs each benchmark once and measures
        // nothing; there is no table to print.
        println!("no estimates written by this run (test mode or filtered out)");
        return;
    }
    println!();
    println!("Wasm interpreters, ms per call, median of paired runs:");
    println!(
        "{:<32}{:>10}{:>10}{:>14}",
        "", "ours", "wasmi", "ours/wasmi"
    );
    for (name, ours, wasmi) in compute {
        println!(
            "{:<32}{:>10.1}{:>10.1}{:>13.2}x",
            name,
            ours / 1e6,
            wasmi / 1e6,
            ours / wasmi
        );
    }
    // Two decimals, or four for a ratio below 0.1 (ours / Wasmtime's
    // create + run + drop is about 0.005), so it does not print as 0.00x.
    let fmt_ratio = |r: Option<f64>| match r {
        None => "-".to_string(),
        Some(r) if r < 0.1 => format!("{r:.4}x"),
        Some(r) => format!("{r:.2}x"),
    };
    println!();
    println!("Wasm stack switching, ns per operation: this interpreter, Wasmtime (compiled):");
    for (name, ours) in switching {
        let wasmtime = median_ns(dir, name, "wasmtime", since);
        println!(
            "{:<32}{:>10.1}{:>10}{:>14}",
            name,
            ours,
            fmt_ns(wasmtime),
            fmt_ratio(wasmtime.map(|w| ours / w))
        );
    }
    println!();
    println!("ns per operation, median of criterion's samples, 64 KiB stacks:");
    println!(
        "{:<32}{:>10}{:>12}{:>10}{:>10}{:>18}{:>16}",
        "", "ours", "corosensei", "context", "wasmtime", "ours/corosensei", "ours/wasmtime"
    );
    for ((_, label), row) in GROUPS.iter().zip(&results) {
        println!(
            "{:<32}{:>10}{:>12}{:>10}{:>10}{:>18}{:>16}",
            label,
            fmt_ns(row[0]),
            fmt_ns(row[1]),
            fmt_ns(row[2]),
            fmt_ns(row[3]),
            fmt_ratio(ratio(row[0], row[1])),
            fmt_ratio(ratio(row[0], row[3])),
        );
    }
    let dynamic = median_ns(dir, "round_trip", "ours-dynamic", since);
    println!(
        "{:<32}{:>10}{:>12}{:>10}{:>10}{:>18}",
        "round trip, dynamic door",
        fmt_ns(dynamic),
        fmt_ns(results[0][1]),
        "",
        "",
        fmt_ratio(ratio(dynamic, results[0][1])),
    );
    if json {
        let mut fields = Vec::new();
        fields.push(format!("\"round_trip_dynamic_ns\":{}", json_num(dynamic)));
        fields.push(format!(
            "\"round_trip_dynamic_ratio_vs_corosensei\":{}",
            json_num(ratio(dynamic, results[0][1]))
        ));
        for ((group, _), row) in GROUPS.iter().zip(&results) {
            fields.push(format!("\"{group}_ns\":{}", json_num(row[0])));
            fields.push(format!("\"corosensei_{group}_ns\":{}", json_num(row[1])));
            fields.push(format!(
                "\"{group}_ratio_vs_corosensei\":{}",
                json_num(ratio(row[0], row[1]))
            ));
            fields.push(format!("\"context_{group}_ns\":{}", json_num(row[2])));
            fields.push(format!(
                "\"{group}_ratio_vs_context\":{}",
                json_num(ratio(row[0], row[2]))
            ));
            fields.push(format!("\"wasmtime_{group}_ns\":{}", json_num(row[3])));
            fields.push(format!(
                "\"{group}_ratio_vs_wasmtime\":{}",
                json_num(ratio(row[0], row[3]))
            ));
        }
        for (name, ours, wasmi) in compute {
            fields.push(format!("\"wasm_{name}_ns\":{}", json_num(Some(*ours))));
            fields.push(format!("\"wasmi_{name}_ns\":{}", json_num(Some(*wasmi))));
            fields.push(format!(
                "\"wasm_{name}_ratio_vs_wasmi\":{}",
                json_num(Some(ours / wasmi))
            ));
        }
        for (name, ours) in switching {
            let wasmtime = median_ns(dir, name, "wasmtime", since);
            fields.push(format!("\"wasm_{name}_ns\":{}", json_num(Some(*ours))));
            fields.push(format!(
                "\"wasm_{name}_ratio_vs_wasmtime\":{}",
                json_num(wasmtime.map(|w| ours / w))
            ));
        }
        println!("{{{}}}", fields.join(","));
    }
}

fn main() {
    // Criterion parses the process's own arguments and rejects ones it does
    // not know, so `--json` cannot reach it: run this binary again without
    // the flag and with `BENCH_JSON=1`, which means the same thing.
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.iter().any(|a| a == "--json") {
        let exe = std::env::current_exe().expect("path of the bench binary");
        let status = Command::new(exe)
            .args(args.iter().filter(|a| *a != "--json"))
            .env("BENCH_JSON", "1")
            .status()
            .expect("re-running the bench binary");
        std::process::exit(status.code().unwrap_or(1));
    }
    let json = std::env::var_os("BENCH_JSON").is_some_and(|v| v == "1");

    // File times have at least this resolution on the filesystems we run on;
    // back off a little so a file written right at start-up still counts.
    let since = SystemTime::now() - Duration::from_millis(10);
    let dir = criterion_dir();
    // Short runs: these operations take nanoseconds (Wasmtime's create:
    // microseconds), so 3 s of samples are plenty, and all eleven
    // benchmarks finish in about a minute.
    let mut c = Criterion::default()
        .output_directory(&dir)
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let engine = wasm::engine();
    {
        let mut g = c.benchmark_group("round_trip");
        round_trip(&mut g, &engine);
        g.finish();
    }
    {
        let mut g = c.benchmark_group("create_run_drop");
        create_run_drop(&mut g, &engine);
        g.finish();
    }
    {
        let mut g = c.benchmark_group("switch");
        switch(&mut g, &engine);
        g.finish();
    }
    c.final_summary();
    // Not in test mode (`cargo test --benches`), where each benchmark runs
    // once and a second of sieve would only slow the test down.
    let measuring = !std::env::args().any(|a| a == "--test");
    let compute = if measuring { compute() } else { Vec::new() };
    let switching = if measuring {
        switching_interpreted()
    } else {
        Vec::new()
    };
    report(&dir, since, json, &compute, &switching);
}
