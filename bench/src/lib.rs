//! The workload of our side of the round-trip benchmark, defined once for
//! the criterion benchmark (`benches/host.rs`) and the instruction-counting
//! example (`examples/round_trip_count.rs`), so that both measure exactly
//! the same thing.
//!
//! One round trip: the kernel-level code resumes a continuation that loops
//! for ever suspending one `i32` to the tag the resume handles, reads the
//! payload, and keeps the new handle. corosensei's and context's versions
//! live beside their benchmarks; they are a few lines each.

use kernel::cont::dynamic::{self, ContObj, Handler};
use kernel::cont::{Cont, Func, MmapStacks, Resumed, Store, Tag, Trap, ValType};
use std::hint::black_box;
use std::pin::Pin;

/// Stack size of every coroutine in these benchmarks, for every library.
pub const STACK_SIZE: usize = 64 * 1024;

/// A store with one continuation that suspends `1i32` for ever.
pub struct RoundTrip {
    store: Pin<Box<Store>>,
    handlers: [Handler; 1],
    k: ContObj,
}

impl RoundTrip {
    pub fn new() -> RoundTrip {
        let store = Store::new(MmapStacks::new(), STACK_SIZE);
        let tag = store.tag_new(&[ValType::I32], &[]).unwrap();
        let body = store
            .func_wrap(move |s: &Store, ()| -> Result<(), Trap> {
                loop {
                    s.suspend::<_, ()>(tag, black_box(1i32))?;
                }
            })
            .unwrap();
        let k = store.cont_new(body).unwrap();
        RoundTrip {
            store,
            handlers: [Handler::suspend(tag)],
            k,
        }
    }

    /// One resume and the suspend back; returns the payload.
    #[inline(always)]
    pub fn step(&mut self) -> i32 {
        match self
            .store
            .resume::<_, ()>(self.k, (), black_box(&self.handlers))
        {
            Ok(dynamic::Resumed::Suspended { cont, .. }) => {
                let payload: i32 = self.store.payload(cont).unwrap();
                self.k = cont;
                payload
            }
            _ => panic!("the looping continuation stopped suspending"),
        }
    }
}

impl Default for RoundTrip {
    fn default() -> RoundTrip {
        RoundTrip::new()
    }
}

impl Drop for RoundTrip {
    fn drop(&mut self) {
        // Its stack goes back to the pool; the store would free it anyway.
        self.store.drop_cont(self.k).unwrap();
    }
}

/// The same round trip through the typed door (`Cont::resume`,
/// `Tag::suspend`, `Suspension::take`), the one a Rust guest is written
/// against: a continuation of `() -> ()` that suspends `1i32` for ever to
/// a `Tag<i32, ()>` the resume handles. Its handle borrows its store, so
/// the store lives in [`with_typed_round_trip`]'s frame and the steps are
/// lent to `run`.
pub struct TypedRoundTrip<'s> {
    tag: Tag<i32, ()>,
    handlers: [Handler; 1],
    k: Option<Cont<'s, (), ()>>,
}

impl TypedRoundTrip<'_> {
    /// `n` round trips, each a resume and the suspend back; returns the
    /// sum of the payloads. The handle stays in a local between steps (a
    /// register), as a guest's loop would keep it.
    pub fn run(&mut self, n: u64) -> i64 {
        let mut k = self.k.take().expect("the handle is back after every run");
        let mut sum = 0i64;
        for _ in 0..n {
            let (payload, next) = match k.resume((), &self.handlers) {
                Ok(Resumed::Suspended(s)) => s.take(self.tag).expect("the tag's own suspension"),
                _ => panic!("the looping continuation stopped suspending"),
            };
            k = next;
            sum += i64::from(black_box(payload));
        }
        self.k = Some(k);
        sum
    }
}

/// Makes a store and its looping continuation, and runs `run` with them.
pub fn with_typed_round_trip<T>(run: impl FnOnce(&mut TypedRoundTrip<'_>) -> T) -> T {
    let store = Store::new(MmapStacks::new(), STACK_SIZE);
    let tag = Tag::<i32, ()>::new(&store).unwrap();
    let body = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        loop {
            tag.suspend(s, black_box(1i32))?;
        }
    })
    .unwrap();
    let mut steps = TypedRoundTrip {
        tag,
        handlers: [tag.on()],
        k: Some(Cont::new(&store, body).unwrap()),
    };
    run(&mut steps)
    // The suspended continuation is dropped (cancelled) here, then the
    // store.
}

/// The compute workloads the interpreter is measured on against wasmi
/// (`benches/host.rs`) and counted by the instruction-counting harness
/// (`src/bin/wasm_compute.rs`): WAT programs of `bench/wat/`, one exported
/// call each, with the argument that sets its size and the result it must
/// give.
pub mod compute {
    use kernel::cont::{MmapStacks, Store};
    use kernel::wasm::{Instance, Module, Val};
    use std::pin::Pin;
    use std::sync::Arc;

    /// The full-size argument of a workload, and how the call is made.
    #[derive(Clone, Copy, Debug)]
    pub enum Args {
        /// `export(n: i32) -> i32`.
        I32(i32),
        /// `export(n: i64) -> i64`.
        I64(i64),
        /// `export(n: i32, times: i32) -> i32`.
        I32Times(i32, i32),
    }

    /// One workload.
    pub struct Workload {
        /// The JSON key's middle part: `wasm_<name>_ns`.
        pub name: &'static str,
        pub wat: &'static str,
        pub export: &'static str,
        pub args: Args,
        /// What the full-size call returns.
        pub expect: i64,
    }

    /// fib(27) on i32 and on i64, the sum of 0..10^7 (wrapping i32), and
    /// the sieve of 10^6 run 10 times (78,498 primes).
    pub const WORKLOADS: [Workload; 4] = [
        Workload {
            name: "fib_i32",
            wat: include_str!("../wat/fib_i32.wat"),
            export: "fib",
            args: Args::I32(27),
            expect: 196_418,
        },
        Workload {
            name: "fib_i64",
            wat: include_str!("../wat/fib_i64.wat"),
            export: "fib",
            args: Args::I64(27),
            expect: 196_418,
        },
        Workload {
            name: "sum",
            wat: include_str!("../wat/sum.wat"),
            export: "sum",
            args: Args::I32(10_000_000),
            // 10^7 (10^7 - 1) / 2 modulo 2^32, as an i32.
            expect: -2_014_260_032,
        },
        Workload {
            name: "sieve",
            wat: include_str!("../wat/sieve.wat"),
            export: "run",
            args: Args::I32Times(1_000_000, 10),
            expect: 78_498,
        },
    ];

    /// The workload a counting harness names on its command line
    /// (`src/bin/wasm_compute.rs`, `examples/wasmi_compute.rs`), with its
    /// size `n` and the sieve's run count `times` in place of the full-size
    /// ones where given. Panics on an unknown name.
    pub fn chosen(name: &str, n: Option<i64>, times: Option<i32>) -> (&'static Workload, Args) {
        let w = WORKLOADS
            .iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("no workload {name}: fib_i32, fib_i64, sum or sieve"));
        let args = match (w.args, n) {
            (a, None) => a,
            (Args::I32(_), Some(n)) => Args::I32(n as i32),
            (Args::I64(_), Some(n)) => Args::I64(n),
            (Args::I32Times(_, full), Some(n)) => Args::I32Times(n as i32, times.unwrap_or(full)),
        };
        (w, args)
    }

    /// The stack-switching workloads of `bench/wat` (the ones Wasmtime
    /// runs in `benches/host.rs`), which `src/bin/wasm_compute.rs` runs in
    /// this interpreter: name, WAT, and operations per unit of `run`'s
    /// argument (a switch exchange is two switches). `run(n)` returns `n`.
    pub const SWITCHING: [(&str, &str, u32); 3] = [
        ("round_trip", include_str!("../wat/round_trip.wat"), 1),
        (
            "create_run_drop",
            include_str!("../wat/create_run_drop.wat"),
            1,
        ),
        ("switch", include_str!("../wat/switch.wat"), 2),
    ];

    /// A workload instantiated in this crate's interpreter.
    pub struct Ours {
        inst: Pin<Box<Instance>>,
        export: &'static str,
    }

    impl Ours {
        pub fn new(w: &Workload) -> Ours {
            let bytes = wat::parse_str(w.wat).expect("the workload's WAT parses");
            let module = Module::new(&bytes).expect("the workload validates");
            let store = Store::new(MmapStacks::new(), crate::STACK_SIZE);
            let inst = Instance::new(Arc::new(module), store).expect("the workload instantiates");
            Ours {
                inst,
                export: w.export,
            }
        }

        /// Calls the export with `args`; returns its result.
        pub fn run(&self, args: Args) -> i64 {
            let args: &[Val] = match args {
                Args::I32(n) => &[Val::I32(n)],
                Args::I64(n) => &[Val::I64(n)],
                Args::I32Times(n, t) => &[Val::I32(n), Val::I32(t)],
            };
            match self.inst.invoke(self.export, args).as_deref() {
                Ok([Val::I32(r)]) => *r as i64,
                Ok([Val::I64(r)]) => *r,
                other => panic!("the workload returned {other:?}"),
            }
        }
    }
}
