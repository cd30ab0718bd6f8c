//! Host benchmark: the continuation core (`kernel::cont`) against
//! `corosensei` and `context` (Boost.Context's fcontext), doing the same
//! work in one run, then a table of the results.
//!
//! Two measurements, each with 64 KiB stacks for every library:
//!
//! * `round_trip`: a coroutine that loops forever yielding an `i32`; one
//!   iteration is one resume plus one suspend back to the caller, and the
//!   caller reads the yielded value;
//! * `create_run_drop`: make a coroutine whose body returns an `i32` at
//!   once, run it to completion, read the value, drop it; the stack is
//!   reused every time (ours: the `MmapStacks` pool; corosensei: one
//!   `DefaultStack` lent to a `ScopedCoroutine`, as its own benchmark does;
//!   context: one `ProtectedFixedSizeStack`), so no iteration maps memory.
//!
//! After criterion has run, the binary reads criterion's median estimates
//! back (`<target>/criterion/<group>/<bench>/new/estimates.json`) and prints
//! one table: ns per operation for each library and the ratio ours /
//! corosensei. With `--json` (`cargo bench -p bench --bench host -- --json`)
//! or `BENCH_JSON=1` it also prints one JSON object as its last line, for
//! scripts and CI. The table is the point: criterion's own output is one
//! block per benchmark and leaves the comparison to the reader.

use context::stack::ProtectedFixedSizeStack;
use context::{Context, Transfer};
use corosensei::stack::DefaultStack;
use corosensei::{Coroutine, CoroutineResult, ScopedCoroutine, Yielder};
use criterion::{BenchmarkGroup, Criterion, measurement::WallTime};
use kernel::cont::{MmapStacks, Resumed, Store};
use std::ffi::OsString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

/// Every library gets stacks of this size, so none wins by touching less
/// memory.
use bench::STACK_SIZE;

/// The libraries, in table order: criterion bench names inside each group.
const LIBS: [&str; 3] = ["ours", "corosensei", "context"];
/// The criterion groups, in table order, with their row labels.
const GROUPS: [(&str, &str); 2] = [
    ("round_trip", "round trip (resume + suspend)"),
    ("create_run_drop", "create + run + drop"),
];

fn round_trip(g: &mut BenchmarkGroup<'_, WallTime>) {
    // Ours: suspend to the tag the resume handles (bench::RoundTrip). The
    // tag carries one i32 out and nothing back in, like the corosensei and
    // context versions.
    {
        let mut ours = bench::RoundTrip::new();
        g.bench_function("ours", |b| b.iter(|| black_box(ours.step())));
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
            b.iter(|| match co.resume(()) {
                CoroutineResult::Yield(v) => black_box(v),
                CoroutineResult::Return(()) => panic!("the looping coroutine returned"),
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
            b.iter(|| {
                // SAFETY: `ctx` is the body's latest suspension point.
                let t = unsafe { ctx.take().unwrap().resume(0) };
                ctx = Some(t.context);
                black_box(t.data)
            })
        });
        // The body is abandoned mid-loop (its frames own nothing) when
        // `stack` is unmapped at the end of this block.
    }
}

fn create_run_drop(g: &mut BenchmarkGroup<'_, WallTime>) {
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

fn report(dir: &Path, since: SystemTime, json: bool) {
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
    println!("ns per operation, median of criterion's samples, 64 KiB stacks:");
    println!(
        "{:<32}{:>10}{:>12}{:>10}{:>18}",
        "", "ours", "corosensei", "context", "ours/corosensei"
    );
    for ((_, label), row) in GROUPS.iter().zip(&results) {
        println!(
            "{:<32}{:>10}{:>12}{:>10}{:>18}",
            label,
            fmt_ns(row[0]),
            fmt_ns(row[1]),
            fmt_ns(row[2]),
            ratio(row[0], row[1]).map_or("-".to_string(), |r| format!("{r:.2}x")),
        );
    }
    if json {
        let mut fields = Vec::new();
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
    // Short runs: these operations take nanoseconds, so 3 s of samples are
    // plenty, and all six benchmarks finish in well under a minute.
    let mut c = Criterion::default()
        .output_directory(&dir)
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    {
        let mut g = c.benchmark_group("round_trip");
        round_trip(&mut g);
        g.finish();
    }
    {
        let mut g = c.benchmark_group("create_run_drop");
        create_run_drop(&mut g);
        g.finish();
    }
    c.final_summary();
    report(&dir, since, json);
}
