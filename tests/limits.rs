//! Per-store limits in the kernel, in safe Rust only: a guest that
//! allocates past its store's heap quota traps `OutOfMemory` while the
//! kernel and the other stores go on; what a store is charged is exact to
//! the byte, whoever frees the block and whenever; all guests together
//! never take the kernel's reserve; `cont.new` past the stack limit traps.
//! The host half (the stack limit and the API, no heap accounting there)
//! is `kernel/src/cont/limits_tests.rs`; `docs/guarantees.md`, "Per-store
//! limits", states the rules.
//!
//! Guests that fill their quota push their blocks into a `Vec` the kernel
//! made with room to spare, so that the kernel can free them afterwards
//! and check the heap is back to the byte; only the last test leaks for
//! good (`mem::forget`), and it runs last.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::vec;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::hint::black_box;
use core::pin::Pin;

use kernel::cont::limits::{DEFAULT_HEAP_QUOTA, GUEST_HEAP_POOL, KERNEL_HEAP_RESERVE};
use kernel::cont::{Resumed, Store, StoreLimits, StoreUsage, Trap, TrapKind};
use kernel::heap;
use kernel::stacks::KernelStacks;
use kernel::testing::TestResult;
use kernel::{check, check_eq};

kernel::suite!(
    "limits",
    [
        a_guest_allocation_is_charged_to_its_store_to_the_byte_and_credited_when_freed,
        a_block_a_guest_allocated_is_freed_by_the_kernel_after_its_store_dropped,
        a_cont_new_past_the_stack_limit_traps_out_of_stacks_naming_the_limit,
        one_store_at_its_quota_does_not_starve_another,
        many_stores_at_their_quota_never_take_the_kernel_below_its_reserve,
        // Last: its leak stays charged for the rest of the boot.
        a_guest_that_leaks_without_bound_traps_out_of_memory_and_the_kernel_allocates_after,
    ]
);

const STACK: usize = 64 * 1024;

/// Bytes of each block a filling guest allocates.
const CHUNK: usize = 64 * 1024;

/// Where guests put the blocks they allocate, for the kernel to free.
type Sink = Rc<RefCell<Vec<Vec<u8>>>>;

fn sink() -> Sink {
    // Room for more blocks than any quota holds, made by the kernel: the
    // guests' pushes never grow it.
    Rc::new(RefCell::new(Vec::with_capacity(512)))
}

fn store() -> Pin<Box<Store>> {
    Store::new(KernelStacks, STACK)
}

/// A continuation returning 42 runs to completion in `s`.
fn runs_normally(s: &Store) -> TestResult {
    let f = s
        .func_wrap(|_: &Store, x: i32| -> Result<i32, Trap> { Ok(x * 2) })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(s.resume::<i32, i32>(k, 21, &[]), Ok(Resumed::Returned(42)));
    Ok(())
}

/// Runs a guest of `s` that pushes `CHUNK`-byte blocks into `into` until an
/// allocation is refused, and returns the trap it ends with.
fn fill(s: &Store, into: &Sink) -> Result<Trap, alloc::string::String> {
    let into = into.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            loop {
                // Allocated before the borrow: a refusal abandons no
                // borrowed `RefCell`.
                let block = vec![1u8; CHUNK];
                into.borrow_mut().push(block);
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    match s.resume::<(), ()>(k, (), &[]) {
        Err(trap) => Ok(trap),
        other => Err(format!("expected a trap, got {other:?}")),
    }
}

/// Runs a guest of `s` that allocates `bytes` bytes, sums them and frees
/// them; its result.
fn allocate_and_sum(s: &Store, bytes: usize) -> Result<i64, alloc::string::String> {
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i64, Trap> {
            let v = black_box(vec![3u8; bytes]);
            Ok(v.iter().map(|&b| b as i64).sum())
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    match s.resume::<(), i64>(k, (), &[]) {
        Ok(Resumed::Returned(v)) => Ok(v),
        other => Err(format!("{other:?}")),
    }
}

fn a_guest_allocation_is_charged_to_its_store_to_the_byte_and_credited_when_freed() -> TestResult {
    // 1000 bytes take 1016 from the heap: the 16-byte header, no rounding.
    check_eq!(heap::charge_of(1000), 1016);
    let s = store();
    let kept = sink();
    let into = kept.clone();
    // The guest reads its store's usage before, with and after a block of
    // 1000 bytes, and leaves one of 4000 with the kernel.
    let f = s
        .func_wrap(move |s: &Store, (): ()| -> Result<(i64, i64, i64), Trap> {
            let before = s.usage().heap_bytes as i64;
            let block = black_box(vec![0u8; 1000]);
            let with = s.usage().heap_bytes as i64;
            drop(block);
            let after = s.usage().heap_bytes as i64;
            let kept = vec![0u8; 4000];
            into.borrow_mut().push(kept);
            Ok((before, with, after))
        })
        .map_err(|e| format!("{e:?}"))?;
    let guest_before = heap::guest_bytes();
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(
        s.resume::<(), (i64, i64, i64)>(k, (), &[]),
        Ok(Resumed::Returned((0, 1016, 0)))
    );
    check_eq!(
        s.usage(),
        StoreUsage {
            heap_bytes: 4016,
            stacks: 1
        }
    );
    check_eq!(heap::guest_bytes(), guest_before + 4016);
    // The kernel frees the block: it is credited to the store.
    kept.borrow_mut().clear();
    check_eq!(s.usage().heap_bytes, 0);
    check_eq!(heap::guest_bytes(), guest_before);
    Ok(())
}

fn a_block_a_guest_allocated_is_freed_by_the_kernel_after_its_store_dropped() -> TestResult {
    let used_before = heap::used_bytes();
    let guest_before = heap::guest_bytes();
    let kept = sink();
    let s = store();
    let into = kept.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            into.borrow_mut().push(vec![9u8; 2000]);
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(s.resume::<(), ()>(k, (), &[]), Ok(Resumed::Returned(())));
    drop(s);
    // The store is gone; its block is still charged to the guests.
    check_eq!(heap::guest_bytes(), guest_before + 2016);
    check_eq!(kept.borrow()[0][1999], 9);
    drop(kept);
    // Freed by the kernel: credited, and the heap is back to the byte
    // (the store's account went with its last block).
    check_eq!(heap::guest_bytes(), guest_before);
    check_eq!(heap::used_bytes(), used_before);
    Ok(())
}

fn a_cont_new_past_the_stack_limit_traps_out_of_stacks_naming_the_limit() -> TestResult {
    let limits = StoreLimits {
        stacks: 3,
        ..StoreLimits::DEFAULT
    };
    let s = Store::with_limits(KernelStacks, STACK, limits);
    let f = s
        .func_wrap(|_: &Store, x: i32| -> Result<i32, Trap> { Ok(x + 1) })
        .map_err(|e| format!("{e:?}"))?;
    let pool_before = kernel::stacks::outstanding();
    let held = (0..3)
        .map(|_| s.cont_new(f))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|t| format!("{t}"))?;
    let refused = s.cont_new(f);
    check_eq!(refused.map_err(|t| t.kind()), Err(TrapKind::OutOfStacks));
    let message = s.cont_new(f).err().map(|t| t.message()).unwrap_or("");
    check!(message.contains("StoreLimits::stacks"), "{message}");
    // Nothing was taken from the pool for the refusals.
    check_eq!(kernel::stacks::outstanding(), pool_before + 3);
    check_eq!(s.usage().stacks, 3);
    for k in held {
        check_eq!(s.resume::<i32, i32>(k, 1, &[]), Ok(Resumed::Returned(2)));
    }
    runs_normally(&s)
}

fn one_store_at_its_quota_does_not_starve_another() -> TestResult {
    let used_before = heap::used_bytes();
    let (a, b) = (store(), store());
    let kept = sink();
    let trap = fill(&a, &kept)?;
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check_eq!(
        trap.message(),
        "a guest allocation would pass its store's heap quota"
    );
    check!(
        trap.text()
            .starts_with("memory allocation of 65536 bytes failed"),
        "{}",
        trap.text()
    );
    // 63 blocks of 65,552 bytes fit in 4 MiB; the 64th would not.
    check_eq!(DEFAULT_HEAP_QUOTA, 4_194_304);
    check_eq!(heap::charge_of(CHUNK), 65_552);
    check_eq!(kept.borrow().len(), 63);
    check_eq!(a.usage().heap_bytes, 63 * 65_552);
    // B allocates and frees 1 MiB; A still runs what fits its quota.
    check_eq!(allocate_and_sum(&b, 1 << 20)?, 3 << 20);
    check_eq!(b.usage().heap_bytes, 0);
    runs_normally(&a)?;
    // The kernel allocates as before.
    let mine = black_box(vec![5u8; 1 << 20]);
    check_eq!(mine[(1 << 20) - 1], 5);
    drop(mine);
    // The kernel frees A's blocks (the guest's closure still holds the
    // `Vec`, so emptying it is what frees them).
    kept.borrow_mut().clear();
    check_eq!(a.usage().heap_bytes, 0);
    drop((a, b, kept));
    check_eq!(heap::used_bytes(), used_before);
    Ok(())
}

fn many_stores_at_their_quota_never_take_the_kernel_below_its_reserve() -> TestResult {
    const STORES: usize = 8;
    let used_before = heap::used_bytes();
    let guest_before = heap::guest_bytes();
    let kept = sink();
    let stores: Vec<_> = (0..STORES).map(|_| store()).collect();
    let mut refusals = Vec::new();
    for s in &stores {
        let trap = fill(s, &kept)?;
        check_eq!(trap.kind(), TrapKind::OutOfMemory);
        refusals.push(trap.message());
        check!(heap::guest_bytes() <= GUEST_HEAP_POOL);
    }
    // Six stores fit their quota in the guests' 24 MiB; the seventh meets
    // the pool's end, and the eighth gets not even one block.
    let quota = "a guest allocation would pass its store's heap quota";
    let pool =
        "a guest allocation would take the guests past their pool (the kernel's reserve stays)";
    check_eq!(refusals[..6], [quota; 6]);
    check_eq!(refusals[6..], [pool; 2]);
    check!(GUEST_HEAP_POOL - heap::guest_bytes() < heap::charge_of(CHUNK));
    // The kernel's reserve is there: half of it in one block.
    let mine = black_box(vec![5u8; KERNEL_HEAP_RESERVE / 2]);
    check_eq!(mine[KERNEL_HEAP_RESERVE / 2 - 1], 5);
    drop((mine, refusals, stores, kept));
    check_eq!(heap::guest_bytes(), guest_before);
    check_eq!(heap::used_bytes(), used_before);
    Ok(())
}

fn a_guest_that_leaks_without_bound_traps_out_of_memory_and_the_kernel_allocates_after()
-> TestResult {
    let s = store();
    let leak = s
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> {
            loop {
                core::mem::forget(black_box(vec![7u8; 800_000]));
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(leak).map_err(|t| format!("{t}"))?;
    let trap = match s.resume::<(), ()>(k, (), &[]) {
        Err(trap) => trap,
        other => return Err(format!("expected a trap, got {other:?}")),
    };
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check!(
        trap.text()
            .starts_with("memory allocation of 800000 bytes failed"),
        "{}",
        trap.text()
    );
    // Five blocks of 800,016 bytes fit the 4 MiB quota, and stay leaked.
    check_eq!(s.usage().heap_bytes, 5 * 800_016);
    // The kernel's next allocation, the one that once ended the boot.
    let mine = black_box(vec![1u8; 800_000]);
    check_eq!(mine.iter().map(|&b| b as usize).sum::<usize>(), 800_000);
    drop(mine);
    // Another store works normally, and so does the leaking one.
    let other = store();
    check_eq!(allocate_and_sum(&other, 800_000)?, 3 * 800_000);
    runs_normally(&other)?;
    runs_normally(&s)
}
