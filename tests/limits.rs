//! Per-store limits in the kernel, in safe Rust only: a guest that
//! allocates past its store's heap quota traps `OutOfMemory` while the
//! kernel and the other stores go on; what a store is charged is exact to
//! the byte, whoever frees the block and whenever; all guests together
//! never take the kernel's reserve; `cont.new` past the stack limit traps.
//! The host half (the stack limit and the API, no heap accounting there)
//! is `kernel/tests/cont/limits.rs`; `docs/guarantees.md`, "Per-store
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

use kernel::cont::dynamic::Resumed;
use kernel::cont::limits::{DEFAULT_HEAP_QUOTA, GUEST_HEAP_POOL, KERNEL_HEAP_RESERVE};
use kernel::cont::{Store, StoreLimits, StoreUsage, Trap, TrapKind};
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
        a_panic_right_after_a_refused_try_reserve_is_a_panic_trap_not_out_of_memory,
        a_refused_try_reserve_in_one_store_does_not_make_another_stores_panic_out_of_memory,
        an_allocation_too_large_to_describe_traps_out_of_memory,
        a_guest_refused_the_store_it_makes_leaves_no_uncharged_block_behind,
        every_heap_byte_taken_by_the_stores_a_guest_makes_is_charged_to_the_guests_store,
        a_line_of_stores_each_made_by_a_guest_of_the_last_gives_back_every_byte_dropped_first_to_last,
        a_store_a_guest_makes_with_no_heap_limit_is_held_by_the_guests_pool,
        a_panic_whose_message_cannot_be_formatted_for_want_of_heap_traps_out_of_memory,
        a_guest_out_of_heap_inside_a_println_argument_leaves_the_console_free,
        a_page_aligned_block_is_charged_exactly_what_it_takes_from_the_heap,
        a_quota_lowered_below_usage_refuses_more_until_the_store_holds_less,
        a_block_allocated_by_a_guest_cancelled_inside_another_stores_guest_is_charged_to_its_own_store,
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

/// The trap a guest of `s` running `f` ends with.
fn trap_of<F>(s: &Store, f: F) -> Result<Trap, alloc::string::String>
where
    F: Fn(&Store, ()) -> Result<(), Trap> + 'static,
{
    let f = s.func_wrap(f).map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    match s.resume::<(), ()>(k, (), &[]) {
        Err(trap) => Ok(trap),
        other => Err(format!("expected a trap, got {other:?}")),
    }
}

/// A guest whose `try_reserve` past its quota was refused (an `Err` it
/// handles) and which then panics of its own accord, with no allocation
/// between: the trap is the panic's, not an out-of-memory one. (The
/// refusal's per-CPU word was still set, and coloured the panic.)
fn a_panic_right_after_a_refused_try_reserve_is_a_panic_trap_not_out_of_memory() -> TestResult {
    let s = store();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<(), Trap> {
        let mut v: Vec<u8> = Vec::new();
        if v.try_reserve(2 * DEFAULT_HEAP_QUOTA).is_err() {
            panic!("the guest's own panic");
        }
        Ok(())
    })?;
    check_eq!(trap.kind(), TrapKind::Panic);
    check!(
        trap.text().starts_with("the guest's own panic"),
        "{}",
        trap.text()
    );
    runs_normally(&s)
}

/// A guest of store X handles a refused `try_reserve` and returns; then a
/// guest of store Y panics before allocating anything: Y's trap is a
/// panic. (The refusal word is per CPU, and once carried X's refusal into
/// Y's trap.)
fn a_refused_try_reserve_in_one_store_does_not_make_another_stores_panic_out_of_memory()
-> TestResult {
    let x = store();
    let f = x
        .func_wrap(|_: &Store, (): ()| -> Result<i32, Trap> {
            let mut v: Vec<u8> = Vec::new();
            Ok(i32::from(v.try_reserve(2 * DEFAULT_HEAP_QUOTA).is_err()))
        })
        .map_err(|e| format!("{e:?}"))?;
    let y = store();
    let g = y
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> { panic!("Y's own panic") })
        .map_err(|e| format!("{e:?}"))?;
    let (kx, ky) = (
        x.cont_new(f).map_err(|t| format!("{t}"))?,
        y.cont_new(g).map_err(|t| format!("{t}"))?,
    );
    check_eq!(x.resume::<(), i32>(kx, (), &[]), Ok(Resumed::Returned(1)));
    let trap = match y.resume::<(), ()>(ky, (), &[]) {
        Err(trap) => trap,
        other => return Err(format!("expected a trap, got {other:?}")),
    };
    check_eq!(trap.kind(), TrapKind::Panic);
    check!(trap.text().starts_with("Y's own panic"), "{}", trap.text());
    Ok(())
}

/// A guest asks for a block so large that the block and its header
/// cannot be described (`isize::MAX - 8` bytes): refused, and the trap is
/// `OutOfMemory` naming the heap, as for any block the heap has no room
/// for. (It was a plain `Panic`, the allocator having recorded no
/// refusal.)
fn an_allocation_too_large_to_describe_traps_out_of_memory() -> TestResult {
    let s = store();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<(), Trap> {
        let v: Vec<u8> = Vec::with_capacity(black_box(isize::MAX as usize - 8));
        black_box(&v);
        Ok(())
    })?;
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check_eq!(
        trap.message(),
        "the kernel heap has no block that large left"
    );
    check_eq!(s.usage().heap_bytes, 0);
    runs_normally(&s)
}

/// A guest of a store with a heap quota of 0 makes a store of its own,
/// fifty times, each refused (`OutOfMemory`): the kernel heap is back to
/// the byte each time. (The new store's heap account, which is charged to
/// nobody, was opened before the store's own block was refused, and 32
/// bytes of the kernel's reserve stayed taken per try, for ever.)
fn a_guest_refused_the_store_it_makes_leaves_no_uncharged_block_behind() -> TestResult {
    let s = Store::with_limits(
        KernelStacks,
        STACK,
        StoreLimits {
            heap_bytes: 0,
            ..StoreLimits::DEFAULT
        },
    );
    let f = s
        .func_wrap(|_: &Store, (): ()| -> Result<(), Trap> {
            let mine = Store::new(KernelStacks, STACK);
            black_box(&mine);
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    let attempt = || -> Result<Trap, alloc::string::String> {
        let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
        match s.resume::<(), ()>(k, (), &[]) {
            Err(trap) => Ok(trap),
            other => Err(format!("expected a trap, got {other:?}")),
        }
    };
    // Once first: the continuation's record and stack are the store's
    // from then on.
    check_eq!(attempt()?.kind(), TrapKind::OutOfMemory);
    let used_before = heap::used_bytes();
    for _ in 0..50 {
        check_eq!(attempt()?.kind(), TrapKind::OutOfMemory);
    }
    check_eq!(heap::used_bytes(), used_before);
    check_eq!(s.usage().heap_bytes, 0);
    Ok(())
}

/// A 4096-byte page aligned to 4096, allocated by a guest: its store is
/// charged 8,192 bytes (the header takes a whole alignment unit below
/// it), exactly what the heap's use grows by; freeing it gives both back.
fn a_page_aligned_block_is_charged_exactly_what_it_takes_from_the_heap() -> TestResult {
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let s = store();
    let kept: Rc<RefCell<Option<Box<Page>>>> = Rc::default();
    let into = kept.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<i64, Trap> {
            let page = Box::new(Page([5; 4096]));
            let at = &*page as *const Page as usize;
            *into.borrow_mut() = Some(page);
            Ok((at % 4096) as i64)
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    let used_before = heap::used_bytes();
    check_eq!(s.resume::<(), i64>(k, (), &[]), Ok(Resumed::Returned(0)));
    check_eq!(s.usage().heap_bytes, 8192);
    check_eq!(heap::used_bytes(), used_before + 8192);
    check_eq!(
        kept.borrow()
            .as_ref()
            .map(|p| p.0.iter().map(|&b| b as usize).sum::<usize>()),
        Some(5 * 4096)
    );
    drop(kept.borrow_mut().take());
    check_eq!(s.usage().heap_bytes, 0);
    check_eq!(heap::used_bytes(), used_before);
    Ok(())
}

/// The owner lowers a store's quota below what its guests hold: nothing is
/// taken back, the next guest allocation is refused (`OutOfMemory`, the
/// store's quota), and once the kernel frees the blocks a guest allocating
/// under the new quota runs.
fn a_quota_lowered_below_usage_refuses_more_until_the_store_holds_less() -> TestResult {
    let mut s = store();
    let kept = sink();
    let into = kept.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            let block = vec![1u8; CHUNK];
            into.borrow_mut().push(block);
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(s.resume::<(), ()>(k, (), &[]), Ok(Resumed::Returned(())));
    check_eq!(s.usage().heap_bytes, heap::charge_of(CHUNK));
    s.as_mut().set_limits(StoreLimits {
        heap_bytes: 1000,
        ..StoreLimits::DEFAULT
    });
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<(), Trap> {
        black_box(vec![2u8; 100]);
        Ok(())
    })?;
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check_eq!(
        trap.message(),
        "a guest allocation would pass its store's heap quota"
    );
    check_eq!(s.usage().heap_bytes, heap::charge_of(CHUNK));
    kept.borrow_mut().clear();
    check_eq!(s.usage().heap_bytes, 0);
    check_eq!(allocate_and_sum(&s, 100)?, 300);
    Ok(())
}

/// A guest of store A drops store B, whose suspended guest, cancelled
/// there (A's chain set aside), allocates a 1000-byte block and hands it
/// out: the block is charged to B, never to A, and freeing it after B is
/// gone takes it off the guests' total to the byte.
fn a_block_allocated_by_a_guest_cancelled_inside_another_stores_guest_is_charged_to_its_own_store()
-> TestResult {
    let kept = sink();
    let b = store();
    let t = b.tag_new(&[], &[]).map_err(|e| format!("{e:?}"))?;
    let into = kept.clone();
    let f = b
        .func_wrap(move |s: &Store, (): ()| -> Result<(), Trap> {
            let r = s.suspend::<(), ()>(t, ());
            // Cancelled: allocates on its way out.
            let block = vec![9u8; 1000];
            into.borrow_mut().push(block);
            r
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = b.cont_new(f).map_err(|t| format!("{t}"))?;
    match b.resume::<(), ()>(k, (), &[kernel::cont::dynamic::Handler::suspend(t)]) {
        Ok(Resumed::Suspended { .. }) => {}
        other => return Err(format!("expected a suspension, got {other:?}")),
    }
    let a = store();
    let slot: Rc<RefCell<Option<Pin<Box<Store>>>>> = Rc::new(RefCell::new(Some(b)));
    let sl = slot.clone();
    let g = a
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            let dying = sl.borrow_mut().take();
            drop(dying);
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = a.cont_new(g).map_err(|t| format!("{t}"))?;
    let guest_before = heap::guest_bytes();
    check_eq!(a.resume::<(), ()>(k, (), &[]), Ok(Resumed::Returned(())));
    check!(slot.borrow().is_none());
    check_eq!(kept.borrow().len(), 1);
    check_eq!(a.usage().heap_bytes, 0);
    check_eq!(heap::guest_bytes(), guest_before + heap::charge_of(1000));
    kept.borrow_mut().clear();
    check_eq!(heap::guest_bytes(), guest_before);
    runs_normally(&a)
}

/// A guest of a store with a 64 KiB quota makes stores of its own and
/// forgets them until an allocation is refused: what the heap gave up for
/// them, their heap accounts included, is exactly what its store is
/// charged. (Each store's account was charged to nobody: 32 bytes of the
/// kernel's reserve per store, beyond any quota.)
fn every_heap_byte_taken_by_the_stores_a_guest_makes_is_charged_to_the_guests_store() -> TestResult
{
    let s = Store::with_limits(
        KernelStacks,
        STACK,
        StoreLimits {
            heap_bytes: 64 * 1024,
            ..StoreLimits::DEFAULT
        },
    );
    let made: Rc<core::cell::Cell<usize>> = Rc::default();
    let count = made.clone();
    let f = s
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            loop {
                core::mem::forget(Store::new(KernelStacks, STACK));
                count.set(count.get() + 1);
            }
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = s.cont_new(f).map_err(|t| format!("{t}"))?;
    let used_before = heap::used_bytes();
    let trap = match s.resume::<(), ()>(k, (), &[]) {
        Err(trap) => trap,
        other => return Err(format!("expected a trap, got {other:?}")),
    };
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check!(made.get() > 10, "only {} stores", made.get());
    check_eq!(heap::used_bytes() - used_before, s.usage().heap_bytes);
    Ok(())
}

/// A panic message whose `Display` allocates (here a `format!`).
struct Allocating;

impl core::fmt::Display for Allocating {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = format!("{}", black_box(12345));
        f.write_str(&text)
    }
}

/// A store with a heap quota of 0: every allocation of its guests fails.
fn store_without_heap() -> Pin<Box<Store>> {
    Store::with_limits(
        KernelStacks,
        STACK,
        StoreLimits {
            heap_bytes: 0,
            ..StoreLimits::DEFAULT
        },
    )
}

/// A guest with no heap left panics with a message whose formatting
/// allocates: the allocation fails inside the panic handler, whose own
/// panic (the allocation-error handler's) becomes the guest's trap,
/// `OutOfMemory`; the store and the kernel go on.
fn a_panic_whose_message_cannot_be_formatted_for_want_of_heap_traps_out_of_memory() -> TestResult {
    let s = store_without_heap();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<(), Trap> {
        panic!("refused: {}", Allocating)
    })?;
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check!(
        trap.text()
            .starts_with("memory allocation of 8 bytes failed"),
        "{}",
        trap.text()
    );
    check_eq!(s.usage().heap_bytes, 0);
    check_eq!(kernel::sync::held(), 0);
    runs_normally(&s)
}

/// A guest with no heap left prints a value whose formatting allocates,
/// with the console's lock held: it traps `OutOfMemory`, the console's lock
/// is given back, and the kernel prints after it.
fn a_guest_out_of_heap_inside_a_println_argument_leaves_the_console_free() -> TestResult {
    let s = store_without_heap();
    let trap = trap_of(&s, |_: &Store, (): ()| -> Result<(), Trap> {
        kernel::println!("  a guest prints {}", Allocating);
        Ok(())
    })?;
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check!(!kernel::serial::locked());
    kernel::println!("  the kernel prints after it");
    check_eq!(kernel::sync::held(), 0);
    runs_normally(&s)
}

/// A guest of store 0 makes store 1, a guest of store 1 makes store 2, and
/// so on to store 100; the kernel keeps them all and drops them first to
/// last. Each store's account outlives it while the next store (charged to
/// it) lives, and the last drop frees the whole line of accounts at once:
/// the heap and the guests' total come back to the byte.
fn a_line_of_stores_each_made_by_a_guest_of_the_last_gives_back_every_byte_dropped_first_to_last()
-> TestResult {
    let used_before = heap::used_bytes();
    let guest_before = heap::guest_bytes();
    let mut line: Vec<Pin<Box<Store>>> = Vec::with_capacity(101);
    line.push(store());
    let made: Rc<RefCell<Option<Pin<Box<Store>>>>> = Rc::default();
    for _ in 0..100 {
        let into = made.clone();
        let last = line.last().ok_or("the line is empty")?;
        let f = last
            .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
                let next = store();
                *into.borrow_mut() = Some(next);
                Ok(())
            })
            .map_err(|e| format!("{e:?}"))?;
        let k = last.cont_new(f).map_err(|t| format!("{t}"))?;
        check_eq!(last.resume::<(), ()>(k, (), &[]), Ok(Resumed::Returned(())));
        let next = made.borrow_mut().take().ok_or("no store was made")?;
        line.push(next);
    }
    check!(heap::guest_bytes() > guest_before);
    for s in line.drain(..) {
        drop(s);
    }
    drop((line, made));
    check_eq!(heap::guest_bytes(), guest_before);
    check_eq!(heap::used_bytes(), used_before);
    Ok(())
}

/// A guest makes a store of its own with a heap quota of `usize::MAX` and
/// hands it out; a guest of that store, run by the kernel, allocates until
/// refused: the guests' pool refuses it, the kernel's reserve stays free,
/// and the kernel allocates a megabyte after it.
fn a_store_a_guest_makes_with_no_heap_limit_is_held_by_the_guests_pool() -> TestResult {
    let maker = store();
    let made: Rc<RefCell<Option<Pin<Box<Store>>>>> = Rc::default();
    let into = made.clone();
    let f = maker
        .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
            let unlimited = StoreLimits {
                heap_bytes: usize::MAX,
                ..StoreLimits::DEFAULT
            };
            *into.borrow_mut() = Some(Store::with_limits(KernelStacks, STACK, unlimited));
            Ok(())
        })
        .map_err(|e| format!("{e:?}"))?;
    let k = maker.cont_new(f).map_err(|t| format!("{t}"))?;
    check_eq!(
        maker.resume::<(), ()>(k, (), &[]),
        Ok(Resumed::Returned(()))
    );
    let greedy = made.borrow_mut().take().ok_or("no store was made")?;
    check_eq!(greedy.limits().heap_bytes, usize::MAX);
    let guest_before = heap::guest_bytes();
    let kept = sink();
    let trap = fill(&greedy, &kept)?;
    check_eq!(trap.kind(), TrapKind::OutOfMemory);
    check_eq!(
        trap.message(),
        "a guest allocation would take the guests past their pool (the kernel's reserve stays)"
    );
    check!(heap::guest_bytes() <= GUEST_HEAP_POOL);
    check!(heap::guest_bytes() > GUEST_HEAP_POOL - CHUNK - 1024);
    check!(heap::used_bytes() < heap::guest_bytes() + KERNEL_HEAP_RESERVE);
    let mine = black_box(vec![5u8; 1 << 20]);
    check_eq!(mine[(1 << 20) - 1], 5);
    drop(mine);
    kept.borrow_mut().clear();
    check_eq!(heap::guest_bytes(), guest_before);
    Ok(())
}
