//! In-kernel tests of the WebAssembly interpreter: WAT programs of
//! `kernel/wat/` (turned into binaries by `kernel/build.rs`) run on bare
//! metal, their continuations on the kernel's own continuation stacks.
//!
//! The host tests in `kernel/tests/wasm/` run the same programs on
//! stacks from `mmap`; here the interpreter's frames live in the slots of
//! the continuation-stack region (64 KiB each, guard page below), and its
//! float instructions compute in software (the kernel is soft-float).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::pin::Pin;

use kernel::cont::Store;
use kernel::stacks::{self, KernelStacks};
use kernel::testing::TestResult;
use kernel::wasm::{Error, Instance, Module, Val};
use kernel::{check, check_eq};

kernel::suite!(
    "wasm",
    [
        a_generator_yields_its_squares_to_the_resumer,
        a_scheduler_runs_three_tasks_from_a_table_in_turn,
        two_tasks_take_turns_with_switch,
        resuming_a_consumed_continuation_traps,
        resuming_null_traps,
        a_suspend_nobody_handles_traps,
        a_trap_in_a_continuation_reaches_the_invoker,
        deep_recursion_in_a_continuation_traps_as_call_stack_exhausted_after_one_call_per_96_bytes,
        a_loop_catching_two_hundred_thousand_exceptions_runs_in_constant_native_stack,
        an_exception_leaves_a_continuation_and_is_caught_outside,
        soft_float_arithmetic_gives_the_specifications_results,
        every_stack_goes_back_to_the_pool_when_the_instances_drop,
        our_own_wast_script_passes_every_command_on_bare_metal,
        machine a_wast_command_that_never_ends_fails_as_timed_out_and_the_rest_of_the_script_runs,
        a_wasi_program_prints_its_arguments_and_exits_from_a_continuation,
        a_memory_grows_to_256_mib_and_its_frames_go_back_when_it_drops,
        a_grow_past_the_stores_memory_limit_returns_minus_one,
        a_grow_larger_than_free_ram_returns_minus_one_and_takes_no_frame,
        six_hundred_one_page_modules_are_instantiated_at_once,
        a_second_and_a_64_bit_memory_take_a_slot_each_and_copy_exact_bytes,
    ]
);

/// The kernel's continuation stack size (one slot of the stack region).
const STACK: usize = 64 * 1024;

const GENERATOR: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/generator.wasm"));
const SCHEDULER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/scheduler.wasm"));
const PING_PONG: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/ping_pong.wasm"));
const FLOATS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/floats.wasm"));
const TRAPS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/traps.wasm"));
const BIG_MEMORY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/big_memory.wasm"));
const TWO_MEMORIES: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/two_memories.wasm"));
const WASI_ECHO: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/wasi_echo.wasm"));
/// `kernel/wast/*.wast`, packed by `build.rs` as `builder pack-wast` does.
const COMMANDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/commands.bundle"));
/// `kernel/wast-timeout/never_ends.wast`, packed the same way.
const NEVER_ENDS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/never_ends.bundle"));

/// The module `bytes` instantiated in a store of kernel stacks.
fn instance(bytes: &[u8]) -> Result<Pin<Box<Instance>>, String> {
    let module = Module::new(bytes).map_err(|e| format!("module refused: {e:?}"))?;
    Instance::new(Arc::new(module), Store::new(KernelStacks, STACK))
        .map_err(|e| format!("instantiation failed: {e:?}"))
}

/// The results of a call that must return.
fn call(i: &Instance, name: &str, args: &[Val]) -> Result<Vec<Val>, String> {
    i.invoke(name, args)
        .map_err(|e| format!("{name} failed: {e:?}"))
}

/// The reason of a call that must trap.
fn trap(i: &Instance, name: &str) -> Result<&'static str, String> {
    match i.invoke(name, &[]) {
        Err(e @ Error::Trap(_)) => Ok(e.trap_reason().unwrap_or("")),
        other => Err(format!("{name} did not trap: {other:?}")),
    }
}

fn a_generator_yields_its_squares_to_the_resumer() -> TestResult {
    let i = instance(GENERATOR)?;
    // 0 + 1 + 4 + ... + 81 = 285, from 10 values
    check_eq!(
        call(&i, "sum_squares", &[Val::I32(10)])?,
        [Val::I32(285_010)]
    );
    check_eq!(i.store().outstanding_stacks(), 0);
    Ok(())
}

fn a_scheduler_runs_three_tasks_from_a_table_in_turn() -> TestResult {
    let i = instance(SCHEDULER)?;
    check_eq!(call(&i, "run", &[])?, [Val::I32(6)]);
    let mut log = Vec::new();
    for at in 0..6 {
        match call(&i, "log", &[Val::I32(at)])?[..] {
            [Val::I32(b)] => log.push(b as u8),
            ref other => return Err(format!("log returned {other:?}")),
        }
    }
    check_eq!(&log[..], b"ABCBCC");
    Ok(())
}

fn two_tasks_take_turns_with_switch() -> TestResult {
    let i = instance(PING_PONG)?;
    check_eq!(call(&i, "run", &[])?, [Val::I32(12121)]);
    Ok(())
}

fn resuming_a_consumed_continuation_traps() -> TestResult {
    let i = instance(TRAPS)?;
    check_eq!(trap(&i, "consumed")?, "continuation already consumed");
    Ok(())
}

fn resuming_null_traps() -> TestResult {
    let i = instance(TRAPS)?;
    check_eq!(trap(&i, "null")?, "null continuation reference");
    Ok(())
}

fn a_suspend_nobody_handles_traps() -> TestResult {
    let i = instance(TRAPS)?;
    check_eq!(trap(&i, "unhandled")?, "unhandled tag");
    check_eq!(i.store().outstanding_stacks(), 0);
    Ok(())
}

fn a_trap_in_a_continuation_reaches_the_invoker() -> TestResult {
    let i = instance(TRAPS)?;
    check_eq!(trap(&i, "divide")?, "integer divide by zero");
    check_eq!(i.store().outstanding_stacks(), 0);
    Ok(())
}

fn deep_recursion_in_a_continuation_traps_as_call_stack_exhausted_after_one_call_per_96_bytes()
-> TestResult {
    let i = instance(TRAPS)?;
    check_eq!(trap(&i, "exhaust")?, "call stack exhausted");
    check_eq!(i.store().outstanding_stacks(), 0);
    // docs/wasm.md, "One Wasm call is one native frame": 96 bytes per
    // call, so the 48 KiB of a 64 KiB stack above the runtime's 16 KiB
    // reserve hold 512 calls, less the few the continuation's own first
    // frames take (at most 4 KiB of them, in the stress build: 42 calls).
    // 80 bytes a call would fit more than 563, 112 fewer than 439.
    match call(&i, "depth", &[])?[..] {
        [Val::I32(d)] => check!(
            (470..=512).contains(&d),
            "{d} nested calls fit: not 96 bytes per call"
        ),
        ref other => return Err(format!("depth returned {other:?}")),
    }
    Ok(())
}

/// A catch clause is reached by a tail call (`interp::control::caught`):
/// were it a call, each exception caught would leave a native frame, and
/// 200,000 of them would pass the kernel stack's 256 KiB.
fn a_loop_catching_two_hundred_thousand_exceptions_runs_in_constant_native_stack() -> TestResult {
    let i = instance(TRAPS)?;
    // 0 + 1 + ... + 199,999 = 19,999,900,000, modulo 2^32.
    let sum = (19_999_900_000u64 % (1 << 32)) as u32 as i32;
    check_eq!(
        call(&i, "catch_many", &[Val::I32(200_000)])?,
        [Val::I32(sum)]
    );
    Ok(())
}

fn an_exception_leaves_a_continuation_and_is_caught_outside() -> TestResult {
    let i = instance(TRAPS)?;
    check_eq!(call(&i, "exception", &[])?, [Val::I32(42)]);
    Ok(())
}

fn soft_float_arithmetic_gives_the_specifications_results() -> TestResult {
    let i = instance(FLOATS)?;
    check_eq!(call(&i, "f", &[Val::F64(2.0)])?, [Val::F64(1.5)]);
    match call(&i, "f", &[Val::F64(-1.0)])?[..] {
        [Val::F64(x)] => check!(x.is_nan(), "sqrt of a negative is NaN, got {x}"),
        ref other => return Err(format!("f returned {other:?}")),
    }
    check_eq!(call(&i, "nearest", &[Val::F32(-2.5)])?, [Val::F32(-2.0)]);
    check_eq!(call(&i, "to_int", &[Val::F64(-7.75)])?, [Val::I32(-7)]);
    Ok(())
}

fn every_stack_goes_back_to_the_pool_when_the_instances_drop() -> TestResult {
    let before = stacks::outstanding();
    {
        let i = instance(PING_PONG)?;
        check_eq!(call(&i, "run", &[])?, [Val::I32(12121)]);
        // The peer task is left suspended; the stacks of the ones that
        // ended stay with the instance's store for its next `cont.new`.
        check_eq!(i.store().outstanding_stacks(), 1);
        check_eq!(
            stacks::outstanding(),
            before + 1 + i.store().cached_stacks()
        );
    }
    check_eq!(stacks::outstanding(), before);
    Ok(())
}

/// The `.wast` runner on bare metal: every command kind of our own script
/// (two linked modules, a continuation across them, every assertion),
/// each line checked to end in `ok`.
fn our_own_wast_script_passes_every_command_on_bare_metal() -> TestResult {
    use kernel::wast::{bundle, run};
    let b = bundle::decode(COMMANDS).map_err(|e| format!("{e}"))?;
    let mut failed: Vec<String> = Vec::new();
    let mut total = run::Counts::default();
    for script in &b.scripts {
        let c = run::run_script(
            script,
            Store::new(KernelStacks, STACK),
            kernel::wasm::instance::DEFAULT_STACK_BUDGET,
            &mut |line: &str| {
                if !line.ends_with("... ok") {
                    failed.push(String::from(line));
                }
            },
        );
        total.passed += c.passed;
        total.failed += c.failed;
    }
    check!(failed.is_empty(), "failed lines: {failed:?}");
    check_eq!(
        total,
        run::Counts {
            passed: 29,
            failed: 0
        }
    );
    Ok(())
}

fn a_wasi_program_prints_its_arguments_and_exits_from_a_continuation() -> TestResult {
    let i = instance(WASI_ECHO)?;
    let args = ["echo", "one", "two"].map(|a| Vec::from(a.as_bytes()));
    i.set_wasi_args(Vec::from(args), Vec::new());
    i.capture_wasi_output();
    // proc_exit(3) from the continuation `_start` resumed, itself on a
    // continuation of `wasi::start`: two kernel stacks deep.
    check_eq!(kernel::wasm::wasi::start(&i), Ok(3));
    check_eq!(i.take_wasi_output(), b"one\ntwo\n");
    check_eq!(i.wasi_exit_code(), Some(3));
    check_eq!(i.store().outstanding_stacks(), 0);
    Ok(())
}

/// Wasm pages in 256 MiB.
const PAGES_256_MIB: i32 = 4096;

/// The 256 MiB of issue 21: a memory of one page grown by 4095 pages in
/// one `memory.grow`, read and written at its last byte, and every frame
/// (its 65,536 pages' and their page tables') back in the frame allocator
/// once the instance drops.
fn a_memory_grows_to_256_mib_and_its_frames_go_back_when_it_drops() -> TestResult {
    let before = kernel::frames::free_count();
    {
        let i = instance(BIG_MEMORY)?;
        check_eq!(
            call(&i, "grow", &[Val::I32(PAGES_256_MIB - 1)])?,
            [Val::I32(1)]
        );
        check_eq!(call(&i, "size", &[])?, [Val::I32(PAGES_256_MIB)]);
        check_eq!(call(&i, "load_last", &[])?, [Val::I32(0)]);
        call(&i, "store_last", &[Val::I32(0xa5)])?;
        check_eq!(call(&i, "load_last", &[])?, [Val::I32(0xa5)]);
        check_eq!(trap(&i, "load_past_end")?, "out of bounds memory access");
        check!(kernel::frames::free_count() < before - 65536);
    }
    check_eq!(kernel::frames::free_count(), before);
    Ok(())
}

/// `Store::set_memory_limit` bounds what a memory made in the store may
/// grow to: at 2 pages, a grow to 3 is -1 and the memory keeps its size.
fn a_grow_past_the_stores_memory_limit_returns_minus_one() -> TestResult {
    let module = Module::new(BIG_MEMORY).map_err(|e| format!("module refused: {e:?}"))?;
    let mut store = Store::new(KernelStacks, STACK);
    store
        .as_mut()
        .set_memory_limit(2 * kernel::wasm::memory::PAGE);
    let i = Instance::new(Arc::new(module), store)
        .map_err(|e| format!("instantiation failed: {e:?}"))?;
    check_eq!(call(&i, "grow", &[Val::I32(1)])?, [Val::I32(1)]);
    check_eq!(call(&i, "grow", &[Val::I32(1)])?, [Val::I32(-1)]);
    check_eq!(call(&i, "size", &[])?, [Val::I32(2)]);
    Ok(())
}

/// With the store's limit at the whole 4 GiB index space, a grow to it
/// asks for more frames than QEMU's 512 MiB have: -1, not a kernel fault,
/// and no frame taken.
fn a_grow_larger_than_free_ram_returns_minus_one_and_takes_no_frame() -> TestResult {
    let module = Module::new(BIG_MEMORY).map_err(|e| format!("module refused: {e:?}"))?;
    let mut store = Store::new(KernelStacks, STACK);
    store.as_mut().set_memory_limit(4 << 30);
    let i = Instance::new(Arc::new(module), store)
        .map_err(|e| format!("instantiation failed: {e:?}"))?;
    let before = kernel::frames::free_count();
    check_eq!(call(&i, "grow", &[Val::I32(65535)])?, [Val::I32(-1)]);
    check_eq!(call(&i, "size", &[])?, [Val::I32(1)]);
    check_eq!(kernel::frames::free_count(), before);
    Ok(())
}

/// Issue 21's old failure: the 469th one-page module found "no room for
/// the memory" when memories lived in the 32 MiB kernel heap. 600 live
/// at once now, each with its own bytes, and their slots are free again
/// after they drop.
fn six_hundred_one_page_modules_are_instantiated_at_once() -> TestResult {
    let slots_before = kernel::wasm::memory::slots_in_use();
    let module = Arc::new(Module::new(BIG_MEMORY).map_err(|e| format!("module refused: {e:?}"))?);
    let mut all = Vec::new();
    for n in 0..600 {
        let i = Instance::new(module.clone(), Store::new(KernelStacks, STACK))
            .map_err(|e| format!("instance {n} failed: {e:?}"))?;
        call(&i, "store_last", &[Val::I32(n % 256)])?;
        all.push(i);
    }
    check_eq!(kernel::wasm::memory::slots_in_use(), slots_before + 600);
    for (n, i) in all.iter().enumerate() {
        check_eq!(call(i, "load_last", &[])?, [Val::I32(n as i32 % 256)]);
    }
    drop(all);
    check_eq!(kernel::wasm::memory::slots_in_use(), slots_before);
    Ok(())
}

/// Before the runner had a budget, `(invoke "forever")` held the boot
/// until QEMU's timeout and every later command was lost. With a budget of
/// 100 ticks of a 1 ms timer (a host stall that long would be needed to
/// time out a command that returns at once), that one command fails as
/// timed out and the two after it pass. A module whose start function
/// never ends fails the same way (its instantiation runs under the
/// budget), and the module after it runs.
fn a_wast_command_that_never_ends_fails_as_timed_out_and_the_rest_of_the_script_runs(
    m: &kernel::Machine,
) -> TestResult {
    use kernel::wast::{bundle, run};
    let b = bundle::decode(NEVER_ENDS).map_err(|e| format!("{e}"))?;
    let [script] = &b.scripts[..] else {
        return Err(format!("{} scripts, expected one", b.scripts.len()));
    };
    let timer = kernel::timer::Timer::new(m);
    // The stress build's clock runs from the suite's first test to its
    // last (every 2 to 6 µs): the budget then counts its ticks.
    let started = match timer.start(core::time::Duration::from_millis(1)) {
        Ok(()) => true,
        Err(kernel::timer::TimerError::AlreadyRunning) => false,
        Err(e) => return Err(format!("{e:?}")),
    };
    let mut lines: Vec<String> = Vec::new();
    let counts = run::run_script_for(
        script,
        Store::new(KernelStacks, STACK),
        kernel::wasm::instance::DEFAULT_STACK_BUDGET,
        100,
        &mut |line: &str| lines.push(String::from(line)),
    );
    if started {
        check_eq!(timer.stop(), Ok(()));
    }
    let at = |line: u32, what: &str| format!("wast never_ends.wast:{line} {what} ... ok");
    check_eq!(
        lines,
        [
            at(4, "module"),
            at(11, "assert_return invoke \"one\""),
            at(12, "assert_return invoke \"bump\""),
            String::from(
                "wast never_ends.wast:13 assert_return invoke \"forever\" ... \
                 FAILED: timed out: it ran past its budget of ticks"
            ),
            at(14, "assert_return invoke \"one\""),
            at(15, "assert_return invoke \"bump\""),
            // A start function that never ends times out its module.
            String::from(
                "wast never_ends.wast:18 module ... \
                 FAILED: timed out: it ran past its budget of ticks"
            ),
            at(19, "module"),
            at(20, "assert_return invoke \"two\""),
        ]
    );
    check_eq!(
        counts,
        run::Counts {
            passed: 7,
            failed: 2
        }
    );
    Ok(())
}

/// Multi-memory and memory64 on bare metal: two memories of one instance
/// take two slots of the linear-memory region; bytes copied from the
/// 32-bit one to the 64-bit one read back exactly; an i64 address of
/// 4 GiB + 100 traps rather than reading the bytes at 100; the 64-bit
/// one grows to its maximum and no further; and when the instance drops,
/// the slots and every frame come back.
fn a_second_and_a_64_bit_memory_take_a_slot_each_and_copy_exact_bytes() -> TestResult {
    let slots_before = kernel::wasm::memory::slots_in_use();
    let frames_before = kernel::frames::free_count();
    let module = Module::new(TWO_MEMORIES).map_err(|e| format!("module refused: {e:?}"))?;
    let i = Instance::new(Arc::new(module), Store::new(KernelStacks, STACK))
        .map_err(|e| format!("instantiation failed: {e:?}"))?;
    check_eq!(kernel::wasm::memory::slots_in_use(), slots_before + 2);
    check_eq!(call(&i, "sizes", &[])?, [Val::I32(1), Val::I64(1)]);
    call(&i, "copy", &[Val::I64(65528)])?;
    check_eq!(
        call(&i, "load_wide", &[Val::I64(65528)])?,
        [Val::I64(0x8877_6655_4433_2211u64 as i64)]
    );
    check_eq!(trap(&i, "load_above_4_gib")?, "out of bounds memory access");
    check_eq!(call(&i, "grow_wide", &[Val::I64(2)])?, [Val::I64(1)]);
    check_eq!(call(&i, "grow_wide", &[Val::I64(1)])?, [Val::I64(-1)]);
    check_eq!(
        call(&i, "load_wide", &[Val::I64(3 * 65536 - 8)])?,
        [Val::I64(0)]
    );
    drop(i);
    check_eq!(kernel::wasm::memory::slots_in_use(), slots_before);
    check_eq!(kernel::frames::free_count(), frames_before);
    Ok(())
}
