//! In-kernel tests of continuation stacks: slots in the continuation-stack
//! region, demand paging, pooling and zeroing on reuse, and that thousands
//! of continuations come and go without leaking a frame.
//!
//! Frame counts are compared exactly. Where a test first warms something up
//! (a pool slot, a page table) it says so: the first use of a slot costs a
//! page-table page and a top page that stay with the pool by design; after
//! that, every cycle must give back exactly what it took.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::hint::black_box;
use core::ptr::{read_volatile, write_volatile};

mod scenarios;

use kernel::cont::dynamic::{ContObj, Handler, Resumed};
use kernel::cont::{ContStack, StackProvider, Store, StoreLimits, Trap, TrapKind, ValType};
use kernel::interrupts::{probe, vector};
use kernel::paging::{self, PAGE_SIZE};
use kernel::stacks::{self, Config, ConfigError, KernelStacks};
use kernel::testing::TestResult;
use kernel::{check, check_eq, frames, heap, println};
use scenarios::failing_guest;
use x86_64::VirtAddr;

kernel::suite!(
    "stacks",
    [
        a_new_stack_maps_only_its_top_page,
        demand_paging_maps_only_the_page_that_was_touched,
        a_touch_of_the_guard_page_is_never_mapped,
        freeing_unmaps_all_but_the_top_page_and_returns_their_frames,
        reuse_of_a_freed_stack_shows_only_zeroes,
        reuse_takes_the_most_recently_freed_slot,
        a_stack_leaving_its_store_shows_the_next_store_only_zeroes,
        arguments_that_cannot_fit_are_refused_before_anything_is_written,
        slot_count_and_stack_size_are_configurable,
        configuring_while_stacks_are_in_use_is_refused,
        suspending_10000_at_once_then_dropping_them_leaks_no_frames,
        create_run_drop_100000_times_leak_check,
    ]
);

const STACK_SIZE: usize = 64 * 1024;
const PAGE: usize = PAGE_SIZE as usize;

fn mapped(addr: usize) -> bool {
    paging::translate(VirtAddr::new(addr as u64)).is_some()
}

/// The pages of `stack`'s usable part that are mapped, as page indices
/// counted down from the top (0 = the top page).
fn mapped_pages(stack: &ContStack) -> Vec<usize> {
    let top = stack.top() as usize;
    (0..stack.len() / PAGE)
        .filter(|i| mapped(top - (i + 1) * PAGE))
        .collect()
}

fn allocate() -> Result<ContStack, String> {
    KernelStacks
        .allocate(STACK_SIZE, core::ptr::null())
        .map_err(|e| format!("allocate: {e:?}"))
}

fn a_new_stack_maps_only_its_top_page() -> TestResult {
    let stack = allocate()?;
    check_eq!(stack.len(), STACK_SIZE);
    check_eq!(stack.top() as usize % PAGE, 0);
    check_eq!(mapped_pages(&stack), [0]);
    let bottom = stack.bottom() as usize;
    check!(
        !mapped(bottom - 1),
        "the guard page below the stack is mapped"
    );
    KernelStacks.free(stack);
    Ok(())
}

fn demand_paging_maps_only_the_page_that_was_touched() -> TestResult {
    let stack = allocate()?;
    let faults = stacks::demand_faults();
    let target = stack.top() as usize - 5 * PAGE - 8;
    // SAFETY: the address is in the stack part of a slot we hold; the first
    // touch faults and the page-fault handler maps a zeroed page.
    let before = unsafe { read_volatile(target as *const u64) };
    check_eq!(before, 0);
    check_eq!(stacks::demand_faults(), faults + 1);
    check_eq!(mapped_pages(&stack), [0, 5]);
    KernelStacks.free(stack);
    Ok(())
}

fn a_touch_of_the_guard_page_is_never_mapped() -> TestResult {
    let stack = allocate()?;
    let guard = stack.bottom() as usize - 8;
    // Outside any continuation a guard touch is a kernel fault; the probe
    // catches it so that this test can look.
    // SAFETY: reads an address that must fault; the probe recovers; the
    // closure owns nothing and never leaves this stack.
    let fault = unsafe {
        probe(|| {
            read_volatile(guard as *const u64);
        })
    };
    KernelStacks.free(stack);
    let info = fault.err().ok_or("the guard page was readable")?;
    check_eq!(info.vector, vector::PAGE_FAULT);
    check_eq!(info.cr2, Some(guard as u64));
    check!(!mapped(guard));
    Ok(())
}

fn freeing_unmaps_all_but_the_top_page_and_returns_their_frames() -> TestResult {
    // Warm the pool: the slot taken below then costs no new frame.
    let warm = allocate()?;
    KernelStacks.free(warm);
    let free_frames = frames::free_count();
    let stack = allocate()?;
    let top = stack.top() as usize;
    // One word in each of pages 1, 2, 7 and 15 (page i spans
    // top-(i+1)*PAGE .. top-i*PAGE).
    for i in [1, 2, 7, 15] {
        // SAFETY: inside the stack part of a slot we hold.
        unsafe { write_volatile((top - i * PAGE - 8) as *mut u64, 0x5a5a) };
    }
    let pages = mapped_pages(&stack);
    let taken = free_frames - frames::free_count();
    KernelStacks.free(stack);
    check_eq!(pages, [0, 1, 2, 7, 15]);
    check_eq!(taken, 4);
    check_eq!(frames::free_count(), free_frames);
    for i in [1, 2, 7, 15] {
        check!(
            !mapped(top - i * PAGE - 8),
            "page {i} still mapped after free"
        );
    }
    check!(
        mapped(top - PAGE),
        "the pooled slot's top page was unmapped"
    );
    Ok(())
}

fn reuse_of_a_freed_stack_shows_only_zeroes() -> TestResult {
    let stack = allocate()?;
    let top = stack.top() as usize;
    // An earlier "guest" leaves data in the top page and in a deeper page.
    // SAFETY: inside the stack part of a slot we hold.
    unsafe {
        core::ptr::write_bytes((top - PAGE) as *mut u8, 0xab, PAGE);
        core::ptr::write_bytes((top - 4 * PAGE) as *mut u8, 0xcd, PAGE);
    }
    KernelStacks.free(stack);
    let again = allocate()?;
    check_eq!(again.top() as usize, top);
    let mut nonzero = 0usize;
    for addr in (top - 4 * PAGE..top).step_by(8) {
        // SAFETY: inside the stack part of a slot we hold (unmapped pages
        // are mapped zeroed on this first touch).
        nonzero += (unsafe { read_volatile(addr as *const u64) } != 0) as usize;
    }
    KernelStacks.free(again);
    check_eq!(nonzero, 0);
    Ok(())
}

/// A store keeps the stacks of its ended continuations unzeroed for its own
/// next `cont.new` (`STACK_CACHE`), but a stack that leaves it, when it
/// drops, is zeroed before another store's guest can run on it.
fn a_stack_leaving_its_store_shows_the_next_store_only_zeroes() -> TestResult {
    let first = Store::new(KernelStacks, STACK_SIZE);
    let scribble = first
        .func_wrap(|_: &Store, (): ()| -> Result<i64, Trap> {
            let secret = black_box([0xa5u8; 1024]);
            Ok(black_box(&secret) as *const [u8; 1024] as i64)
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = first.cont_new(scribble).map_err(|t| format!("{t}"))?;
    let top = first.stack_top(k).unwrap_or(0);
    let at = match first.resume::<(), i64>(k, (), &[]) {
        Ok(Resumed::Returned(at)) => at as usize,
        other => return Err(format!("expected a return, got {other:?}")),
    };
    check!(top - PAGE <= at && at + 1024 <= top);
    // SAFETY: the top page of a stack the store keeps: mapped, idle.
    check_eq!(unsafe { read_volatile(at as *const u8) }, 0xa5);
    check_eq!(first.cached_stacks(), 1);
    drop(first);

    let second = Store::new(KernelStacks, STACK_SIZE);
    let f = second
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { Ok(()) })
        .map_err(|e| format!("{e:?}"))?;
    let k = second.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(second.stack_top(k), Some(top));
    let mut nonzero = 0usize;
    for addr in (at..at + 1024).step_by(8) {
        // SAFETY: the top page of the stack of a fresh continuation of ours:
        // mapped, and nothing runs on it yet.
        nonzero += (unsafe { read_volatile(addr as *const u64) } != 0) as usize;
    }
    check_eq!(nonzero, 0);
    check_eq!(second.drop_cont(k), Ok(()));
    Ok(())
}

fn reuse_takes_the_most_recently_freed_slot() -> TestResult {
    let a = allocate()?;
    let b = allocate()?;
    let (top_a, top_b) = (a.top() as usize, b.top() as usize);
    check_eq!(top_a.abs_diff(top_b), stacks::config().slot_size());
    KernelStacks.free(a);
    KernelStacks.free(b);
    let c = allocate()?;
    let d = allocate()?;
    check_eq!(c.top() as usize, top_b);
    check_eq!(d.top() as usize, top_a);
    KernelStacks.free(c);
    KernelStacks.free(d);
    Ok(())
}

/// 4,000 parameters: a 62.5 KiB args buffer, which leaves less than the
/// one page of native stack that a 64 KiB stack must keep.
static MANY_I64: [ValType; 4000] = [ValType::I64; 4000];

fn arguments_that_cannot_fit_are_refused_before_anything_is_written() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    // SAFETY: `failing_guest` (it must never run here) follows the array-call convention (and is
    // never called: the continuation cannot be created).
    let f = unsafe { store.func_new_raw(failing_guest, core::ptr::null_mut(), &MANY_I64, &[]) }
        .map_err(|e| format!("{e:?}"))?;
    let free_frames = frames::free_count();
    let outstanding = stacks::outstanding();
    let pooled = stacks::pooled();
    match store.cont_new(f) {
        Err(trap) => check_eq!(trap.kind(), TrapKind::TooManyArguments),
        Ok(_) => return Err("a 4000-parameter function got a 64 KiB stack".into()),
    }
    check_eq!(frames::free_count(), free_frames);
    check_eq!(stacks::outstanding(), outstanding);
    check_eq!(stacks::pooled(), pooled);
    Ok(())
}

fn slot_count_and_stack_size_are_configurable() -> TestResult {
    let small = Config {
        stack_size: 16 * 1024,
        guard_size: 2 * PAGE,
        slots: 4,
    };
    stacks::configure(small).map_err(|e| format!("{e:?}"))?;
    let result = (|| -> TestResult {
        let store = Store::new(KernelStacks, 16 * 1024);
        let tag = store.tag_new(&[], &[]).map_err(|e| format!("{e:?}"))?;
        let parked = store
            .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
                s.suspend::<_, ()>(tag, ())?;
                Ok(())
            })
            .map_err(|e| format!("{e:?}"))?;
        let mut suspended = Vec::new();
        let mut tops = Vec::new();
        for _ in 0..4 {
            let k = store.cont_new(parked).map_err(|t| format!("{t}"))?;
            tops.push(store.stack_top(k).unwrap_or(0));
            match store.resume::<_, ()>(k, (), &[Handler::suspend(tag)]) {
                Ok(Resumed::Suspended { cont, .. }) => suspended.push(cont),
                other => return Err(format!("{other:?}")),
            }
        }
        // Slots are 2 guard pages + 16 KiB apart.
        check_eq!(tops[1] - tops[0], 16 * 1024 + 2 * PAGE);
        match store.cont_new(parked) {
            Err(trap) => check_eq!(trap.kind(), TrapKind::OutOfStacks),
            Ok(_) => return Err("a fifth stack from a four-slot pool".into()),
        }
        for k in suspended {
            store.drop_cont(k).map_err(|t| format!("{t}"))?;
        }
        Ok(())
    })();
    stacks::configure(Config::DEFAULT).map_err(|e| format!("{e:?}"))?;
    result
}

fn configuring_while_stacks_are_in_use_is_refused() -> TestResult {
    let stack = allocate()?;
    let refused = stacks::configure(Config::DEFAULT);
    KernelStacks.free(stack);
    check_eq!(refused, Err(ConfigError::InUse { outstanding: 1 }));
    check_eq!(
        stacks::configure(Config {
            stack_size: 6000,
            ..Config::DEFAULT
        }),
        Err(ConfigError::Invalid)
    );
    Ok(())
}

/// A store with a tag and a function that suspends once with its argument.
type Parking = (
    core::pin::Pin<alloc::boxed::Box<Store>>,
    kernel::cont::dynamic::Tag,
    kernel::cont::dynamic::Func,
);

/// Its stack limit is raised above the default: a test parks 10,000
/// continuations in it at once.
fn parking_store() -> Result<Parking, String> {
    let limits = StoreLimits {
        stacks: 16_384,
        ..StoreLimits::DEFAULT
    };
    let store = Store::with_limits(KernelStacks, STACK_SIZE, limits);
    let tag = store
        .tag_new(&[ValType::I64], &[])
        .map_err(|e| format!("{e:?}"))?;
    let parked = store
        .func_wrap(move |s: &Store, x: i64| -> Result<(), Trap> {
            s.suspend::<_, ()>(tag, black_box(x))?;
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    Ok((store, tag, parked))
}

/// Makes `n` continuations of `parked`, runs each to its first suspend, and
/// returns their handles: `n` suspended continuations at once.
fn suspend_many(
    store: &Store,
    tag: kernel::cont::dynamic::Tag,
    parked: kernel::cont::dynamic::Func,
    n: usize,
) -> Result<Vec<ContObj>, String> {
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let k = store.cont_new(parked).map_err(|t| format!("{t}"))?;
        match store.resume::<_, ()>(k, i as i64, &[Handler::suspend(tag)]) {
            Ok(Resumed::Suspended { cont, .. }) if store.payload::<i64>(cont) == Ok(i as i64) => {
                all.push(cont)
            }
            other => return Err(format!("continuation {i}: {other:?}")),
        }
    }
    Ok(all)
}

fn suspending_10000_at_once_then_dropping_them_leaks_no_frames() -> TestResult {
    const N: usize = 10_000;
    let (store, tag, parked) = parking_store()?;
    let outstanding = stacks::outstanding();

    // First round, cold: measure what one suspended continuation costs.
    let frames_before = frames::free_count();
    let heap_before = heap::used_bytes();
    let all = suspend_many(&store, tag, parked, N)?;
    check_eq!(stacks::outstanding(), outstanding + N);
    let frame_bytes = (frames_before - frames::free_count()) * PAGE;
    let heap_bytes = heap::used_bytes() - heap_before;
    println!(
        "stacks: {N} suspended continuations hold {} KiB of frames and {} KiB of heap: \
         {} bytes of frames + {} bytes of heap each",
        frame_bytes / 1024,
        heap_bytes / 1024,
        frame_bytes / N,
        heap_bytes / N
    );
    for k in all {
        store.drop_cont(k).map_err(|t| format!("{t}"))?;
    }
    check_eq!(stacks::outstanding(), outstanding + store.cached_stacks());

    // Second round, warm (slots pooled, page tables built): it must give
    // back exactly what it takes.
    let frames_warm = frames::free_count();
    let heap_warm = heap::used_bytes();
    let all = suspend_many(&store, tag, parked, N)?;
    check_eq!(stacks::outstanding(), outstanding + N);
    for k in all {
        store.drop_cont(k).map_err(|t| format!("{t}"))?;
    }
    check_eq!(stacks::outstanding(), outstanding + store.cached_stacks());
    check_eq!(frames::free_count(), frames_warm);
    check_eq!(heap::used_bytes(), heap_warm);
    Ok(())
}

fn create_run_drop_100000_times_leak_check() -> TestResult {
    let store = Store::new(KernelStacks, STACK_SIZE);
    let square = store
        .func_wrap(|_: &Store, x: i64| -> Result<i64, Trap> { Ok(x * x) })
        .map_err(|e| format!("{e:?}"))?;
    let run = |x: i64| -> Result<i64, String> {
        let k = store.cont_new(square).map_err(|t| format!("{t}"))?;
        match store.resume(k, x, &[]) {
            Ok(Resumed::Returned(v)) => Ok(v),
            other => Err(format!("{other:?}")),
        }
    };
    check_eq!(run(3)?, 9);
    let free_frames = frames::free_count();
    let heap_used = heap::used_bytes();
    let outstanding = stacks::outstanding();
    let mut sum = 0i64;
    for x in 0..100_000 {
        sum = sum.wrapping_add(run(x)?);
    }
    // sum of x² for x < 100000 = (n-1)n(2n-1)/6 with n = 100000
    check_eq!(sum, 333_328_333_350_000);
    check_eq!(frames::free_count(), free_frames);
    check_eq!(heap::used_bytes(), heap_used);
    check_eq!(stacks::outstanding(), outstanding);
    Ok(())
}
