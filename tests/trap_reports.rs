//! In-kernel tests of trap reports: a trap's backtrace, named by the
//! kernel's own symbol table and grouped by the stack each frame ran on, in
//! chain order, down to the kernel's stack (`docs/debugging.md`).
//!
//! These run where the symbol table is real: the kernel reads it from its
//! own ELF file, which the bootloader left in memory. Guest functions that a
//! test expects to see by name are `#[inline(never)]` and do work after
//! their last call, so that neither inlining nor a tail call removes their
//! frame. Each test keeps its report as data (groups of names) and checks
//! it exactly; the chain test also prints the report for a reader.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::arch::asm;
use core::cell::Cell;
use core::hint::black_box;
use core::pin::Pin;

mod scenarios;

use kernel::cont::dynamic::Func;
use kernel::cont::trace::{MAX_TRACE, Trace};
use kernel::cont::trap::MAX_FRAMES;
use kernel::cont::{Store, Trap, TrapKind};
use kernel::paging::CONT_STACKS_START;
use kernel::stacks::{self, KernelStacks};
use kernel::symbols::{self, Name};
use kernel::testing::TestResult;
use kernel::{check, check_eq};
use scenarios::{ok, trapped};
use x86_64::VirtAddr;

kernel::suite!(
    "trap_reports",
    [
        symbol_table_names_a_kernel_function_from_its_run_time_address,
        divide_by_zero_three_stacks_deep_reports_named_frames_grouped_by_stack_in_chain_order,
        guest_created_trap_starts_at_the_guest_function_that_made_it,
        full_backtrace_keeps_every_frame_past_the_ten_a_trap_carries,
    ]
);

const STACK: usize = 64 * 1024;

/// The prefix of every function of this test kernel (its crate name).
const CRATE: &str = module_path!();

fn store() -> Pin<Box<Store>> {
    Store::new(KernelStacks, STACK)
}

/// The TOS of the continuation stack the caller runs on (0: not on one),
/// from the pool's geometry: slot `i` ends at `CONT_STACKS_START + (i+1) *
/// slot_size`. `slot_size` is read on the kernel stack beforehand.
#[inline(always)]
fn tos_here(slot_size: usize) -> usize {
    let here = kernel::cont::switch::stack_pointer() as u64;
    stacks::slot_of(VirtAddr::new(here)).map_or(0, |slot| {
        CONT_STACKS_START.as_u64() as usize + (slot + 1) * slot_size
    })
}

/// The demangled name of the function each frame is in ("?" if none).
fn names(frames: &[kernel::cont::TraceFrame]) -> Vec<String> {
    frames
        .iter()
        .map(|f| {
            f.locate()
                .map_or("?".to_string(), |at| Name(at.symbol.name).to_string())
        })
        .collect()
}

/// For each stack group of `trace`, in order: its TOS and the names of the
/// plain functions of this test kernel in it (closures and the generic
/// runtime functions they are instances of left out).
fn own_frames_by_stack(trace: &Trace) -> Vec<(usize, Vec<String>)> {
    trace
        .groups()
        .map(|g| {
            let own = names(g.frames)
                .into_iter()
                .filter(|n| {
                    n.strip_prefix(CRATE)
                        .is_some_and(|rest| rest.starts_with("::") && !rest.contains(['{', '<']))
                })
                .collect();
            (g.stack_top, own)
        })
        .collect()
}

fn own(name: &str) -> String {
    format!("{CRATE}::{name}")
}

#[inline(never)]
fn named_function() -> u32 {
    black_box(42)
}

fn symbol_table_names_a_kernel_function_from_its_run_time_address() -> TestResult {
    let address = named_function as *const () as usize;
    let at = symbols::lookup(address).ok_or("no symbol for named_function")?;
    check_eq!(Name(at.symbol.name).to_string(), own("named_function"));
    check_eq!(at.offset, 0);
    let inside = symbols::lookup(address + 1).ok_or("no symbol one byte in")?;
    check_eq!((inside.symbol, inside.offset), (at.symbol, 1));
    check_eq!(black_box(named_function()), 42);
    Ok(())
}

/// Divides `n` by zero with the CPU's `div`: raises #DE inside this
/// function (Rust's own `/` would check and panic instead).
#[inline(never)]
fn divide_by_zero(n: u64) -> u64 {
    let quotient: u64;
    // SAFETY: `div` by a zero register raises #DE, which the kernel turns
    // into a trap of the continuation this runs in; no memory is touched.
    unsafe {
        asm!("div {zero}", zero = in(reg) 0u64, inout("rax") n => quotient,
             inout("rdx") 0u64 => _, options(nomem, nostack))
    };
    quotient
}

#[inline(never)]
fn level_c(top: &Cell<usize>, slot_size: usize) -> Result<(), Trap> {
    top.set(tos_here(slot_size));
    let q = divide_by_zero(black_box(7));
    black_box(q);
    Ok(())
}

// (level_b's body differs from level_a's by its `black_box(2)`: identical
// functions would be folded into one symbol by the compiler.)
#[inline(never)]
fn level_b(s: &Store, next: Func, top: &Cell<usize>, slot_size: usize) -> Result<(), Trap> {
    top.set(tos_here(slot_size));
    let k = s.cont_new(next)?;
    let r = s.resume::<_, ()>(k, (), &[]);
    black_box(2);
    black_box(&r);
    r.map(|_| ())
}

#[inline(never)]
fn level_a(s: &Store, next: Func, top: &Cell<usize>, slot_size: usize) -> Result<(), Trap> {
    top.set(tos_here(slot_size));
    let k = s.cont_new(next)?;
    let r = s.resume::<_, ()>(k, (), &[]);
    black_box(&r);
    r.map(|_| ())
}

/// a resumes b, which resumes c, which divides by zero. The trap comes
/// out of the kernel's resume of a; its report lists c's frames on c's
/// stack, then b's, then a's, then the kernel stack with this test.
fn divide_by_zero_three_stacks_deep_reports_named_frames_grouped_by_stack_in_chain_order()
-> TestResult {
    let slot_size = stacks::config().slot_size();
    let s = store();
    let tops: Rc<[Cell<usize>; 3]> = Rc::new([Cell::new(0), Cell::new(0), Cell::new(0)]);
    let t = tops.clone();
    let c = ok(s.func_wrap(move |_, ()| level_c(&t[2], slot_size)))?;
    let t = tops.clone();
    let b = ok(s.func_wrap(move |s, ()| level_b(s, c, &t[1], slot_size)))?;
    let t = tops.clone();
    let a = ok(s.func_wrap(move |s, ()| level_a(s, b, &t[0], slot_size)))?;
    let k = ok(s.cont_new(a))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!(trap.kind(), TrapKind::DivideByZero);

    let report = trap.report();
    kernel::println!("{report}");
    let trace = report.trace().ok_or("the full backtrace is gone")?;
    let (top_a, top_b, top_c) = (tops[0].get(), tops[1].get(), tops[2].get());
    check!(
        top_a != 0 && top_b != 0 && top_c != 0,
        "a guest did not run"
    );
    check_eq!(
        own_frames_by_stack(trace),
        [
            (top_c, alloc::vec![own("divide_by_zero"), own("level_c")]),
            (top_b, alloc::vec![own("level_b")]),
            (top_a, alloc::vec![own("level_a")]),
            (
                0,
                alloc::vec![
                    own(
                        "divide_by_zero_three_stacks_deep_reports_named_frames_grouped_by_stack_in_chain_order"
                    ),
                    own("suite_main"),
                ]
            ),
        ]
    );
    // The first frame is the faulting instruction itself, inside
    // divide_by_zero, not a return address.
    let first = trace.frames()[0];
    check!(!first.is_return);
    check_eq!(first.address, trap.backtrace().frames()[0]);

    // The same, as printed: the heading of each stack group, in order.
    let text = report.to_string();
    let headings: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .collect();
    let heading = |top: usize| {
        let slot = stacks::slot_of(VirtAddr::new(top as u64 - 1)).unwrap_or(usize::MAX);
        format!("  continuation on stack {slot} (TOS {top:#x}):")
    };
    check_eq!(
        headings,
        [
            heading(top_c),
            heading(top_b),
            heading(top_a),
            "  kernel stack:".to_string()
        ]
    );
    check_eq!(
        text.lines().next(),
        Some("trap: DivideByZero: integer division by zero")
    );
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

#[inline(never)]
fn make_trap() -> Trap {
    let trap = Trap::guest("made by the guest");
    black_box(&trap);
    trap
}

fn guest_created_trap_starts_at_the_guest_function_that_made_it() -> TestResult {
    let slot_size = stacks::config().slot_size();
    let s = store();
    let top = Rc::new(Cell::new(0));
    let t = top.clone();
    let f = ok(s.func_wrap(move |_, ()| -> Result<(), Trap> {
        t.set(tos_here(slot_size));
        Err(make_trap())
    }))?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!(
        (trap.kind(), trap.message()),
        (TrapKind::Guest, "made by the guest")
    );
    let trace = trap
        .backtrace()
        .trace()
        .ok_or("the full backtrace is gone")?;
    let first = trace.frames()[0];
    check_eq!(names(&[first]), [own("make_trap")]);
    check_eq!(first.stack_top, top.get());
    check_eq!(first.address, trap.backtrace().frames()[0]);
    Ok(())
}

/// Recurses `depth` times, then makes a trap at the bottom.
#[inline(never)]
fn recurse_then_trap(depth: u32) -> Trap {
    if depth == 0 {
        return Trap::guest("bottom");
    }
    let trap = recurse_then_trap(depth - 1);
    black_box(depth);
    trap
}

fn full_backtrace_keeps_every_frame_past_the_ten_a_trap_carries() -> TestResult {
    const DEPTH: u32 = 40;
    let s = store();
    let f = ok(s.func_wrap(|_, ()| -> Result<(), Trap> { Err(recurse_then_trap(DEPTH)) }))?;
    let k = ok(s.cont_new(f))?;
    let trap = trapped(s.resume::<_, ()>(k, (), &[]))?;
    check_eq!(trap.backtrace().frames().len(), MAX_FRAMES);
    let trace = trap
        .backtrace()
        .trace()
        .ok_or("the full backtrace is gone")?;
    check!(trace.frames().len() < MAX_TRACE, "the walk was cut short");
    let all = names(trace.frames());
    let recursion = all
        .iter()
        .filter(|n| **n == own("recurse_then_trap"))
        .count();
    // One frame per call: depth DEPTH down to 0.
    check_eq!(recursion, DEPTH as usize + 1);
    // The walk reached the kernel stack and this test.
    let groups: Vec<usize> = trace.groups().map(|g| g.stack_top).collect();
    check_eq!(groups.len(), 2);
    check_eq!(groups[1], 0);
    check!(
        all.contains(&own(
            "full_backtrace_keeps_every_frame_past_the_ten_a_trap_carries"
        )),
        "{all:?}"
    );
    Ok(())
}
