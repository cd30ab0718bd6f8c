//! The in-kernel benchmark: how many instructions each continuation
//! operation costs, counted exactly.
//!
//! `./qemu-run.sh bench` boots this kernel under `-icount shift=0`. In that
//! mode QEMU advances the guest's time-stamp counter by exactly one tick per
//! executed guest instruction, so an `rdtsc` difference *is* an instruction
//! count, identical from run to run and independent of the host's load.
//! Each figure is the median over many samples of one operation, minus the
//! cost of the measurement itself (two `rdtsc`s with nothing between them).
//!
//! The kernel prints a table and, as its last line, the same figures as one
//! JSON object.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::arch::x86_64::_rdtsc;
use core::hint::black_box;
use core::time::Duration;

use bootloader_api::{BootInfo, entry_point};
use kernel::cont::dynamic::{ContObj, Handler, Resumed};
use kernel::cont::typed;
use kernel::cont::{Cont, Func, Store, Tag, Trap};
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::KernelStacks;
use kernel::timer::Timer;
use kernel::wasm::{Instance, Module, Val};

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// Samples per figure.
const SAMPLES: usize = 2001;

#[inline(always)]
fn now() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { _rdtsc() }
}

fn median(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// The median cost of `op`, minus the cost of an empty measurement.
fn measure(overhead: u64, mut op: impl FnMut() -> u64) -> u64 {
    let samples = (0..SAMPLES).map(|_| op()).collect();
    median(samples).saturating_sub(overhead)
}

/// Ticks measured for the tick's figure.
const TICK_SAMPLES: usize = 201;

/// Round trips per sample of the interpreted generator.
const WASM_ROUNDS: i32 = 100;

/// The interpreter's generator (`kernel/wat/bench_generator.wat`).
const WASM_GENERATOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_generator.wasm"));

/// The interpreter's compute loop (`kernel/wat/bench_sum.wat`).
const WASM_SUM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/bench_sum.wasm"));

/// Iterations of the sum loop per sample.
const SUM_ITERATIONS: i32 = 1000;

/// Instructions of one call of the Wasm function `sum n`.
fn wasm_sum(instance: &Instance, n: i32) -> u64 {
    let t0 = now();
    let r = instance.invoke("sum", &[Val::I32(n)]);
    let t1 = now();
    let want = (0..n).fold(0i32, |a, i| a.wrapping_add(i));
    assert!(
        matches!(r.as_deref(), Ok([Val::I32(v)]) if *v == want),
        "sum {n}: {r:?}"
    );
    t1 - t0
}

/// Instructions of one call of the Wasm function `rounds n`.
fn wasm_rounds(instance: &Instance, n: i32) -> u64 {
    let t0 = now();
    let r = instance.invoke("rounds", &[Val::I32(n)]);
    let t1 = now();
    assert!(r.is_ok(), "rounds {n}: {r:?}");
    t1 - t0
}

/// One resume of a generator and its suspend back, timed from inside a
/// function of its own: the handle and the store arrive in registers, so
/// the count holds the operation and the spills it needs, not the
/// bookkeeping of whatever loop calls it (which moves with code layout).
#[inline(never)]
fn one_round_trip(store: &Store, k: ContObj, handlers: &[Handler]) -> (ContObj, u64) {
    let t0 = now();
    let r = store.resume::<_, ()>(k, (), handlers);
    let t1 = now();
    match r {
        Ok(Resumed::Suspended { cont, .. }) => (cont, t1 - t0),
        other => panic!("round trip: {other:?}"),
    }
}

/// The same through the typed front door: the resume of an owned handle,
/// and the `take` that turns the suspension back into one.
#[inline(never)]
fn one_typed_round_trip<'s>(
    k: Cont<'s, (), ()>,
    tag: Tag<(), ()>,
    handlers: &[Handler],
) -> (Cont<'s, (), ()>, u64) {
    let t0 = now();
    let next = match k.resume((), handlers) {
        Ok(typed::Resumed::Suspended(s)) => s.take(tag),
        _ => panic!("typed round trip: the generator stopped"),
    };
    let t1 = now();
    match next {
        Ok(((), k)) => (k, t1 - t0),
        Err(trap) => panic!("typed round trip: {trap}"),
    }
}

/// The switch exchange of `main` through the typed door: each side
/// switches to a typed handle (`Tag::switch`), whose types the compiler has
/// checked, and takes the handle it is sent back over with
/// `Cont::from_raw` (a continuation's type is recursive, so it travels as a
/// `ContObj`). Instructions per switch, with one `from_raw`. A function of
/// its own, so that `main`'s other figures keep their code layout.
#[inline(never)]
fn typed_switch(store: &Store, overhead: u64) -> u64 {
    let typed_switch_tag = Tag::<(), ContObj>::new(store).unwrap();
    static TYPED_SAMPLES_AB: spin::Mutex<Vec<u64>> = spin::Mutex::new(Vec::new());
    let typed_pong = Func::wrap(
        store,
        move |s: &Store, mut other: ContObj| -> Result<(), Trap> {
            loop {
                let target = Cont::<ContObj, ()>::from_raw(s, other)?;
                other = typed_switch_tag.switch(s, target)?;
            }
        },
    )
    .unwrap()
    .detach();
    let typed_ping = Func::wrap(store, move |s: &Store, (): ()| -> Result<(), Trap> {
        let mut other = Cont::new(s, typed_pong)?;
        let mut samples = Vec::with_capacity(SAMPLES);
        for _ in 0..SAMPLES {
            let t0 = now();
            let back = typed_switch_tag.switch(s, other)?;
            other = Cont::from_raw(s, back)?;
            samples.push(now() - t0);
        }
        drop(other);
        *TYPED_SAMPLES_AB.lock() = samples;
        Ok(())
    })
    .unwrap();
    match Cont::new(store, typed_ping)
        .unwrap()
        .resume((), &[typed_switch_tag.on_switch()])
    {
        Ok(typed::Resumed::Returned(())) => {}
        _ => panic!("typed switch: the exchange did not return"),
    }
    median(core::mem::take(&mut *TYPED_SAMPLES_AB.lock())).saturating_sub(overhead) / 2
}

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    let overhead = median(
        (0..SAMPLES)
            .map(|_| {
                let t0 = now();
                now() - t0
            })
            .collect(),
    );
    let store = Store::new(KernelStacks, 64 * 1024);
    let yield_tag = store.tag_new(&[], &[]).unwrap();
    let handlers = [Handler::suspend(yield_tag)];

    // resume + suspend: a generator that suspends forever.
    let generator = store
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            loop {
                s.suspend::<_, ()>(yield_tag, ())?;
            }
        })
        .unwrap();
    let mut k = store.cont_new(generator).unwrap();
    let round_trip = measure(overhead, || {
        let (cont, instructions) = one_round_trip(&store, k, &handlers);
        k = cont;
        instructions
    });
    store.drop_cont(k).unwrap();

    // The typed round trip: the same generator, typed.
    let typed_tag = Tag::<(), ()>::new(&store).unwrap();
    let typed_handlers = [typed_tag.on()];
    let typed_generator = Func::wrap(&store, move |s: &Store, (): ()| -> Result<(), Trap> {
        loop {
            typed_tag.suspend(s, ())?;
        }
    })
    .unwrap();
    let mut typed_k = Some(Cont::new(&store, typed_generator).unwrap());
    let typed_round_trip = measure(overhead, || {
        let k = typed_k
            .take()
            .expect("the handle is back after each sample");
        let (k, instructions) = one_typed_round_trip(k, typed_tag, &typed_handlers);
        typed_k = Some(k);
        instructions
    });
    drop(typed_k);

    // switch: two tasks hand control back and forth with `switch`; a
    // sample is one A→B→A exchange, i.e. two switches.
    let switch_tag = store.tag_new(&[], &[]).unwrap();
    static SAMPLES_AB: spin::Mutex<Vec<u64>> = spin::Mutex::new(Vec::new());
    let pong = store
        .func_wrap(move |s: &Store, mut other: ContObj| -> Result<(), Trap> {
            loop {
                other = s.switch(other, switch_tag, ())?;
            }
        })
        .unwrap();
    let ping = store
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let mut other = s.cont_new(pong)?;
            let mut samples = Vec::with_capacity(SAMPLES);
            for _ in 0..SAMPLES {
                let t0 = now();
                other = s.switch(other, switch_tag, ())?;
                samples.push(now() - t0);
            }
            s.drop_cont(other)?;
            *SAMPLES_AB.lock() = samples;
            Ok(())
        })
        .unwrap();
    let k = store.cont_new(ping).unwrap();
    match store.resume::<_, ()>(k, (), &[Handler::switch(switch_tag)]) {
        Ok(Resumed::Returned(_)) => {}
        other => panic!("switch: {other:?}"),
    }
    let switch = median(core::mem::take(&mut *SAMPLES_AB.lock())).saturating_sub(overhead) / 2;

    let typed_switch = typed_switch(&store, overhead);

    // cont.new + resume to completion + drop, on a pooled stack.
    let add = store
        .func_wrap(|_: &Store, (a, b): (i32, i32)| -> Result<i32, Trap> { Ok(a + b) })
        .unwrap();
    let create_run_drop = measure(overhead, || {
        let t0 = now();
        let k = store.cont_new(add).unwrap();
        let r = store.resume::<_, i32>(k, (1, 2), &[]);
        let t1 = now();
        match r {
            Ok(Resumed::Returned(v)) => assert_eq!(v, 3i32),
            other => panic!("create/run/drop: {other:?}"),
        }
        t1 - t0
    });

    // cont.bind of one argument to a fresh continuation.
    let bind = measure(overhead, || {
        let k = store.cont_new(add).unwrap();
        let t0 = now();
        let bound = store.bind(k, 7i32);
        let t1 = now();
        store.drop_cont(bound.unwrap()).unwrap();
        t1 - t0
    });

    // A trap: the guest fails at once; from resume to `Err` in the kernel.
    let fails = store
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Err(Trap::guest("bench")) })
        .unwrap();
    let trap = measure(overhead, || {
        let k = store.cont_new(fails).unwrap();
        let t0 = now();
        let r = store.resume::<_, ()>(k, (), &[]);
        let t1 = now();
        assert!(black_box(r).is_err());
        t1 - t0
    });

    // The interpreter: a Wasm `resume` of a Wasm generator and its
    // `suspend` back, both interpreted; per round trip, from calls of
    // `WASM_ROUNDS` round trips minus calls of none.
    let module = Module::new(WASM_GENERATOR).expect("the benchmark's module validates");
    let instance = Instance::new(
        alloc::sync::Arc::new(module),
        Store::new(KernelStacks, 64 * 1024),
    )
    .expect("the benchmark's module instantiates");
    instance.invoke("start", &[]).expect("start");
    let few = SAMPLES / 20;
    let empty = median((0..few).map(|_| wasm_rounds(&instance, 0)).collect());
    let full = median(
        (0..few)
            .map(|_| wasm_rounds(&instance, WASM_ROUNDS))
            .collect(),
    );
    let wasm_round_trip = full.saturating_sub(empty) / WASM_ROUNDS as u64;
    drop(instance);

    // The interpreter computing: one iteration of a loop of local i32
    // arithmetic, a compare and two branches; from calls of
    // `SUM_ITERATIONS` iterations minus calls of none.
    let module = Module::new(WASM_SUM).expect("the sum module validates");
    let instance = Instance::new(
        alloc::sync::Arc::new(module),
        Store::new(KernelStacks, 64 * 1024),
    )
    .expect("the sum module instantiates");
    let empty = median((0..few).map(|_| wasm_sum(&instance, 0)).collect());
    let full = median(
        (0..few)
            .map(|_| wasm_sum(&instance, SUM_ITERATIONS))
            .collect(),
    );
    let wasm_sum_iteration = full.saturating_sub(empty) / SUM_ITERATIONS as u64;
    drop(instance);

    // A tick taken and counted: with the timer on, a loop that reads the
    // TSC sees a gap whenever a tick ran between two reads; the gap minus
    // the loop's own step is the tick (delivery, handler, EOI, iretq).
    // Measured last: the timer's calibration (18 ms of PIT time) and its
    // ticks touch nothing measured above.
    let timer = Timer::new(&machine);
    let mut gaps = Vec::with_capacity(TICK_SAMPLES);
    let mut step = u64::MAX;
    timer
        .start(Duration::from_micros(50))
        .expect("the benchmark's timer starts");
    let mut last = now();
    while gaps.len() < TICK_SAMPLES {
        let t = now();
        let gap = t - last;
        last = t;
        step = step.min(gap);
        // A loop step is a handful of instructions, a tick dozens.
        if gap > 20 {
            gaps.push(gap);
        }
    }
    timer.stop().expect("the benchmark's timer stops");
    let tick = median(gaps).saturating_sub(step);

    let deferred_tick = deferred_tick(&timer);
    let preempt_round_trip = preempt_round_trip(&timer);

    println!("instructions per operation (median of {SAMPLES}, -icount shift=0):");
    println!("  resume + suspend round trip      {round_trip:>6}");
    println!("  the same, typed door (+ take)    {typed_round_trip:>6}");
    println!("  switch                           {switch:>6}");
    println!("  the same, typed door (+ from_raw) {typed_switch:>5}");
    println!("  cont.new + resume to end + drop  {create_run_drop:>6}");
    println!("  cont.bind (one value)            {bind:>6}");
    println!("  trap back to the resumer         {trap:>6}");
    println!("  Wasm resume + suspend, interpreted {wasm_round_trip:>4}");
    println!("  Wasm sum loop, one iteration     {wasm_sum_iteration:>6}");
    println!("  timer tick, taken and counted    {tick:>6}");
    println!("  timer tick deferred to a release {deferred_tick:>6}");
    println!("  preemption: tick to the resumer and back {preempt_round_trip:>3}");
    println!("  (measurement overhead removed    {overhead:>6})");
    println!(
        "{{\"round_trip_instructions\":{round_trip},\
         \"typed_round_trip_instructions\":{typed_round_trip},\"switch_instructions\":{switch},\
         \"typed_switch_instructions\":{typed_switch},\
         \"create_run_drop_instructions\":{create_run_drop},\"bind_instructions\":{bind},\
         \"trap_instructions\":{trap},\"wasm_round_trip_instructions\":{wasm_round_trip},\
         \"wasm_sum_iteration_instructions\":{wasm_sum_iteration},\
         \"tick_instructions\":{tick},\"deferred_tick_instructions\":{deferred_tick},\
         \"preempt_round_trip_instructions\":{preempt_round_trip},\
         \"rdtsc_overhead_instructions\":{overhead}}}"
    );
    machine.exit(ExitCode::Success)
}

/// A lock held for a few hundred instructions at a time, the timer on: a
/// tick that falls due inside waits, lands at the release and is
/// deferred, and the release sees it. A loop step with such a tick minus
/// one without is what a deferred tick costs, from the release's `sti`
/// to the loop's next step (delivery, the handler that defers it, EOI,
/// `iretq`, and the release's call of the preemption point).
fn deferred_tick(timer: &Timer) -> u64 {
    static HELD: kernel::sync::Mutex<u64> = kernel::sync::Mutex::new("bench", 0);
    let deferred = kernel::sync::deferred_ticks();
    let mut gaps = Vec::with_capacity(TICK_SAMPLES);
    let mut step = u64::MAX;
    timer
        .start(Duration::from_micros(50))
        .expect("the benchmark's timer starts");
    let mut last = now();
    while gaps.len() < TICK_SAMPLES {
        {
            let mut guard = HELD.lock();
            for _ in 0..50 {
                *guard = black_box(*guard + 1);
            }
        }
        let t = now();
        let gap = t - last;
        last = t;
        step = step.min(gap);
        if gap > step + 20 {
            gaps.push(gap);
        }
    }
    timer.stop().expect("the benchmark's timer stops");
    assert!(kernel::sync::deferred_ticks() - deferred >= TICK_SAMPLES as u64 / 2);
    median(gaps).saturating_sub(step)
}

/// The instructions a guest loses to one preemption: from its last
/// instruction before the tick to its first after it is resumed, minus
/// what the kernel did in between (it read the clock at both ends). The
/// guest reads the TSC in a loop and records every gap longer than a
/// loop step; each gap holds one tick, the preemption to the kernel's
/// `resume_for`, the kernel's own instructions, and the resume back.
fn preempt_round_trip(timer: &Timer) -> u64 {
    use alloc::rc::Rc;
    use core::cell::Cell;
    let store = Store::new(KernelStacks, 64 * 1024);
    let (gap, step) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(u64::MAX)));
    let (guest_gap, guest_step) = (gap.clone(), step.clone());
    let guest = Func::wrap(&store, move |_: &Store, (): ()| -> Result<(), Trap> {
        let mut prev = now();
        loop {
            let t = now();
            let g = t - prev;
            prev = t;
            // A loop step is about ten instructions; a tick alone is
            // over fifty.
            if g > 100 {
                black_box(&guest_gap).set(g);
            } else if g < guest_step.get() {
                black_box(&guest_step).set(g);
            }
        }
    })
    .unwrap();
    let mut samples = Vec::with_capacity(TICK_SAMPLES);
    timer
        .start(Duration::from_micros(100))
        .expect("the benchmark's timer starts");
    let mut k = Cont::new(&store, guest).unwrap();
    let mut back_before: Option<u64> = None;
    for _ in 0..4 * TICK_SAMPLES {
        if samples.len() == TICK_SAMPLES {
            break;
        }
        gap.set(0);
        let t_resume = now();
        // The kernel's part of the gap this slice records: from the last
        // preemption's return to this resume.
        let kernel_part = back_before.map(|b| t_resume - b);
        let next = match k.resume_for(1, (), &[]) {
            Ok(typed::Timed::Preempted(next)) => next,
            _ => panic!("the benchmark's guest was not preempted"),
        };
        let t_back = now();
        if let Some(kernel_part) = kernel_part
            && gap.get() > kernel_part
        {
            samples.push(gap.get() - kernel_part);
        }
        back_before = Some(t_back);
        k = next;
    }
    // Dropped while the timer runs: its drop runs it on for two ticks.
    drop(k);
    timer.stop().expect("the benchmark's timer stops");
    if samples.is_empty() {
        return 0;
    }
    median(samples).saturating_sub(step.get())
}
