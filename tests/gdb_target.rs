//! The kernel the GDB test stops in (`./qemu-run.sh test gdb`): a guest
//! running three continuations deep, next to continuations in other states
//! (one of them preempted by the timer in the middle of a loop) and in a
//! second store.
//!
//! Not a test suite of its own: `kernel/gdb/test_session.py` boots it under
//! GDB, stops at `gdb_target::innermost` and checks what the commands of
//! `kernel/gdb/continuations.py` print there. Booted without GDB it simply
//! runs to the end and exits with success, so a change that breaks the
//! scene itself shows up as a failed boot, not as a puzzling GDB session.
//!
//! What is live when `innermost` runs:
//!
//! ```text
//!   store 1: #0 ticker   Suspended (ticked once, to the kernel)
//!            #1 outer    Parent    resumed by the kernel, handling `tick`
//!            #2 middle   Parent    resumed by outer, handling `up`
//!            #3 inner    Running   resumed by middle, handling `down`
//!   store 2: #0 idle     Fresh     (never resumed)
//!            #1 spinner  Suspended (preempted by a tick inside `spinner`'s
//!                                   loop, which never yields)
//!
//!   chain: innermost, inner_guest -> middle_guest -> outer_guest -> scene (kernel)
//! ```
//!
//! Each level records the stack slot it runs on in [`GDB_TARGET_SLOTS`], as the
//! kernel's own pool computes it, so the test can compare the slots the
//! extension prints with the kernel's, not with numbers written in a test.
#![no_std]
#![no_main]

extern crate alloc;

use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use bootloader_api::{BootInfo, entry_point};
use kernel::cont::typed::{self, Timed};
use kernel::cont::{Cont, Func, Store, Tag, Trap};
use kernel::println;
use kernel::qemu::ExitCode;
use kernel::stacks::{self, KernelStacks};
use kernel::timer::Timer;

entry_point!(main, config = &kernel::BOOTLOADER_CONFIG);

/// The stack slot of the outer, middle and inner guest, each written by
/// the guest itself before it goes deeper (`usize::MAX`: not yet run).
/// Unmangled, so that the linker keeps it under this name for GDB.
#[unsafe(no_mangle)]
static GDB_TARGET_SLOTS: [AtomicUsize; 3] = [const { AtomicUsize::new(usize::MAX) }; 3];
use GDB_TARGET_SLOTS as SLOTS;

/// What `scene` returns when every level ran: inner gets 3 and returns
/// 3 * 7, middle adds 100, outer adds 1000.
const EXPECTED: i32 = 3 * 7 + 100 + 1000;

fn main(boot_info: &'static mut BootInfo) -> ! {
    let machine = kernel::init(boot_info);
    let a = Store::new(KernelStacks, 64 * 1024);
    let b = Store::new(KernelStacks, 64 * 1024);
    match scene(&machine, &a, &b) {
        Ok(EXPECTED) => {
            println!("gdb-target: the chain returned {EXPECTED}");
            machine.exit(ExitCode::Success)
        }
        Ok(other) => println!("gdb-target: the chain returned {other}, expected {EXPECTED}"),
        Err(trap) => println!("gdb-target: {trap}"),
    }
    machine.exit(ExitCode::Failure)
}

/// Records the slot of the stack the caller runs on as level `level`.
fn record_slot(level: usize) {
    let rsp = kernel::cont::switch::stack_pointer() as u64;
    SLOTS[level].store(
        stacks::slot_of(x86_64::VirtAddr::new(rsp)).unwrap_or(usize::MAX),
        Ordering::Relaxed,
    );
}

/// A trap for a resume that came back other than the scene expects.
fn unexpected(what: &'static str) -> Trap {
    Trap::guest(what)
}

/// How many rounds `spinner`'s loop has made.
static SPINS: AtomicU64 = AtomicU64::new(0);

fn scene(machine: &kernel::Machine, a: &Store, b: &Store) -> Result<i32, Trap> {
    let define = |_| unexpected("a definition was refused");
    // Store 2: one continuation made and never resumed.
    let idle = Cont::new(b, Func::wrap(b, |_: &Store, ()| Ok(0i32)).map_err(define)?)?;
    // #1: a loop that never yields, run with a budget of two ticks: the
    // second tick lands inside the loop and preempts it. The clock is
    // stopped again at once, so that nothing ticks under GDB.
    let spin = Func::wrap(b, |_: &Store, ()| -> Result<i32, Trap> { spinner() }).map_err(define)?;
    let timer = Timer::new(machine);
    timer
        .start(Duration::from_micros(500))
        .map_err(|_| unexpected("the timer did not start"))?;
    let preempted = Cont::new(b, spin)?.resume_for(2, (), &[]);
    timer
        .stop()
        .map_err(|_| unexpected("the timer did not stop"))?;
    let Timed::Preempted(spinning) = preempted? else {
        return Err(unexpected("the spinner was not preempted"));
    };

    // Store 1, #0: a ticker, suspended after its first tick.
    let tick = Tag::<i32, ()>::new(a).map_err(define)?;
    let ticker = Func::wrap(a, move |s: &Store, ()| ticker(s, tick)).map_err(define)?;
    let typed::Resumed::Suspended(first) = Cont::new(a, ticker)?.resume((), &[tick.on()])? else {
        return Err(unexpected("the ticker returned at once"));
    };
    let (_, ticker) = first.take(tick)?;

    // #1..#3: kernel -> outer -> middle -> inner.
    let up = Tag::<i32, ()>::new(a).map_err(define)?;
    let down = Tag::<i32, ()>::new(a).map_err(define)?;
    let inner = Func::wrap(a, |s: &Store, x: i32| inner_guest(s, x))
        .map_err(define)?
        .detach();
    let middle = Func::wrap(a, move |s: &Store, x: i32| middle_guest(s, inner, down, x))
        .map_err(define)?
        .detach();
    let outer =
        Func::wrap(a, move |s: &Store, x: i32| outer_guest(s, middle, up, x)).map_err(define)?;
    let result = match Cont::new(a, outer)?.resume(1, &[tick.on()])? {
        typed::Resumed::Returned(v) => v,
        typed::Resumed::Suspended(_) => return Err(unexpected("outer suspended")),
    };
    // The spinner's drop cannot end its loop with the clock stopped: its
    // frames are abandoned, its stack given back (`cont::preempt`).
    drop((ticker, idle, spinning));
    Ok(result)
}

/// Counts for ever and never suspends: only a tick takes the CPU from it.
/// `cbt` of its preempted continuation reaches this frame.
#[inline(never)]
fn spinner() -> ! {
    loop {
        SPINS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ticks forever; the scene resumes it once and drops it suspended.
fn ticker(s: &Store, tick: Tag<i32, ()>) -> Result<(), Trap> {
    let mut n = 0;
    loop {
        n += 1;
        tick.suspend(s, n)?;
    }
}

/// Level 1: resumes `middle` with `x + 1`, handling `up`.
#[inline(never)]
fn outer_guest(s: &Store, middle: Func<i32, i32>, up: Tag<i32, ()>, x: i32) -> Result<i32, Trap> {
    record_slot(0);
    match Cont::new(s, middle)?.resume(x + 1, &[up.on()])? {
        typed::Resumed::Returned(v) => Ok(v + 1000),
        typed::Resumed::Suspended(_) => Err(unexpected("middle suspended")),
    }
}

/// Level 2: resumes `inner` with `x + 1`, handling `down`.
#[inline(never)]
fn middle_guest(s: &Store, inner: Func<i32, i32>, down: Tag<i32, ()>, x: i32) -> Result<i32, Trap> {
    record_slot(1);
    match Cont::new(s, inner)?.resume(x + 1, &[down.on()])? {
        typed::Resumed::Returned(v) => Ok(v + 100),
        typed::Resumed::Suspended(_) => Err(unexpected("inner suspended")),
    }
}

/// Level 3: three continuations deep.
#[inline(never)]
fn inner_guest(_: &Store, x: i32) -> Result<i32, Trap> {
    record_slot(2);
    Ok(innermost(x))
}

/// Where the GDB test stops: called by `inner_guest` once every level has
/// recorded its slot.
#[inline(never)]
fn innermost(x: i32) -> i32 {
    core::hint::black_box(x) * 7
}
