//! The second hostile pass, over the whole public surface: for each public
//! module of the kernel crate (`docs/public-api.txt`, grouped as in
//! `docs/guarantees.md`, "The public surface"), what a guest can call
//! without the `Machine`, called the way a careless or malicious guest
//! would: at every stack depth, from inside a continuation, with
//! arguments out of range, twice. Each test states the exact outcome; none
//! may end the boot.
//!
//! Safe code only, like `hostile.rs`: whatever this file can do, any guest
//! can.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::rc::Rc;
use alloc::vec::Vec;
use core::hint::black_box;
use core::pin::Pin;

use alloc::boxed::Box;
use kernel::cont::dynamic::Resumed;
use kernel::cont::{Store, Trap, TrapKind};
use kernel::memory_map::{LayoutError, Region};
use kernel::stacks::{self, Config, ConfigError, KernelStacks};
use kernel::sync::{self, Mutex};
use kernel::testing::{TestResult, last_segment};
use kernel::{check, check_eq, frames, heap, interrupts, paging, symbols};
use x86_64::{PhysAddr, VirtAddr};

kernel::suite!(
    "surface",
    [
        every_public_reader_that_locks_runs_at_every_depth_of_a_fresh_guest_stack,
        a_guest_holding_its_own_lock_demand_faults_its_stack_and_returns,
        a_guest_that_locks_its_own_lock_twice_traps_instead_of_hanging,
        reconfiguring_the_stack_pool_from_a_guest_is_refused_while_its_stack_is_in_use,
        an_invalid_stack_pool_configuration_is_refused_and_changes_nothing,
        touching_more_stack_than_a_guest_has_is_its_stack_overflow_trap,
        the_heap_count_of_a_guest_that_frees_what_it_took_comes_back,
        paging_questions_about_any_address_are_answered_without_a_fault,
        symbol_lookups_of_any_address_are_answered_without_a_fault,
        exception_names_cover_every_vector,
        memory_map_checks_refuse_bad_layouts_with_the_region_named,
        the_elf_reader_refuses_bytes_that_are_not_an_elf_file,
        the_wasm_reader_refuses_bytes_that_are_not_a_module,
        configuring_the_stack_pool_twice_with_no_stack_in_use_succeeds_both_times,
        last_segment_of_odd_paths_is_exact,
    ]
);

const STACK: usize = 64 * 1024;

fn store() -> Rc<Pin<Box<Store>>> {
    Rc::new(Store::new(KernelStacks, STACK))
}

/// Runs `f` as the guest function of one fresh continuation of `s` and
/// returns what it returned, or its trap.
fn in_guest<F>(s: &Store, f: F) -> Result<i32, Trap>
where
    F: Fn(&Store, ()) -> Result<i32, Trap> + 'static,
{
    let func = s
        .func_wrap(f)
        .map_err(|_| Trap::new(TrapKind::Guest, "func_wrap refused"))?;
    let k = s.cont_new(func)?;
    match s.resume::<(), i32>(k, (), &[])? {
        Resumed::Returned(v) => Ok(v),
        Resumed::Suspended { .. } => Err(Trap::new(TrapKind::Guest, "suspended")),
    }
}

/// Uses about `depth * 256` bytes of stack, then runs `f` there.
#[inline(never)]
fn at_depth(depth: usize, f: &dyn Fn() -> u64) -> u64 {
    // Zeroes the optimiser cannot see through: the frame keeps its 192 bytes.
    let pad = black_box([0u8; 192]);
    if depth == 0 {
        return f();
    }
    at_depth(depth - 1, f) + u64::from(pad[depth % 192])
}

/// Every public function that takes one of the kernel's locks, called from
/// a guest whose next stack page is not mapped yet, at 48 depths 256 bytes
/// apart (12 KiB: three pages), each in a fresh continuation. Each touches
/// the stack its locked section needs before it locks, so a demand fault
/// never finds the frame allocator, the stack pool, the page tables or the
/// heap locked (that would end the boot: "a continuation stack needed a
/// page while ... was held").
fn every_public_reader_that_locks_runs_at_every_depth_of_a_fresh_guest_stack() -> TestResult {
    let s = store();
    let probe_addr = VirtAddr::new(
        every_public_reader_that_locks_runs_at_every_depth_of_a_fresh_guest_stack as *const ()
            as u64,
    );
    for depth in 0..48usize {
        let got = in_guest(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
            let sum = at_depth(depth, &|| {
                let mut n = frames::free_count() as u64;
                n += stacks::config().slots as u64;
                n += stacks::outstanding() as u64;
                n += stacks::pooled() as u64;
                n += stacks::demand_faults();
                n += heap::used_bytes() as u64;
                n += u64::from(paging::translate(probe_addr).is_some());
                n += u64::from(paging::page_flags(probe_addr).is_some());
                n
            });
            Ok(i32::from(sum > 0))
        });
        check_eq!((depth, got), (depth, Ok(1)));
    }
    check_eq!(s.outstanding_stacks(), 0);
    Ok(())
}

/// A guest's own lock is not one the fault path needs: holding it while
/// its stack grows by demand faults is fine, and the lock count is back to
/// zero afterwards.
fn a_guest_holding_its_own_lock_demand_faults_its_stack_and_returns() -> TestResult {
    let s = store();
    let lock = Rc::new(Mutex::new("guest's own", 0u64));
    let l = lock.clone();
    let got = in_guest(&s, move |_: &Store, (): ()| -> Result<i32, Trap> {
        let mut held = l.lock();
        // 32 KiB deep: at least seven pages mapped on demand under the lock.
        *held = at_depth(128, &|| 7);
        Ok(*held as i32)
    });
    check_eq!(got, Ok(7));
    check_eq!(*lock.lock(), 7);
    check_eq!(sync::held(), 0);
    Ok(())
}

/// A second `lock` of a lock the guest holds cannot be waited out on one
/// CPU: it panics, naming the lock, and the panic is the guest's trap.
fn a_guest_that_locks_its_own_lock_twice_traps_instead_of_hanging() -> TestResult {
    let s = store();
    let got = in_guest(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        let lock = Mutex::new("locked twice", ());
        let _first = lock.lock();
        let _second = lock.lock();
        Ok(0)
    });
    check_eq!(got.map_err(|t| t.kind()), Err(TrapKind::Panic));
    check_eq!(sync::held(), 0);
    check_eq!(in_guest(&s, |_: &Store, (): ()| Ok(5)), Ok(5));
    Ok(())
}

/// `stacks::configure` is safe because it refuses while any stack is in
/// use; a guest's own stack is one.
fn reconfiguring_the_stack_pool_from_a_guest_is_refused_while_its_stack_is_in_use() -> TestResult {
    let s = store();
    let before = stacks::config();
    let got = in_guest(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        let small = Config {
            stack_size: 16 * 1024,
            guard_size: 4096,
            slots: 8,
        };
        Ok(match stacks::configure(small) {
            Err(ConfigError::InUse { outstanding }) => outstanding as i32,
            _ => -1,
        })
    });
    check_eq!(got, Ok(1));
    check_eq!(stacks::config(), before);
    Ok(())
}

fn an_invalid_stack_pool_configuration_is_refused_and_changes_nothing() -> TestResult {
    let before = stacks::config();
    for bad in [
        Config {
            stack_size: 4096,
            ..Config::DEFAULT
        },
        Config {
            stack_size: 64 * 1024 + 1,
            ..Config::DEFAULT
        },
        Config {
            guard_size: 0,
            ..Config::DEFAULT
        },
        Config {
            slots: 0,
            ..Config::DEFAULT
        },
        Config {
            slots: usize::MAX,
            ..Config::DEFAULT
        },
    ] {
        check_eq!(stacks::configure(bad), Err(ConfigError::Invalid));
    }
    check_eq!(stacks::config(), before);
    Ok(())
}

/// `touch_stack` reads below the stack pointer; asked for more than the
/// guest's stack holds, it reaches the guard page first: the guest's
/// stack overflow, a trap, and the kernel goes on.
fn touching_more_stack_than_a_guest_has_is_its_stack_overflow_trap() -> TestResult {
    let s = store();
    let got = in_guest(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        stacks::touch_stack(usize::MAX / 2);
        Ok(0)
    });
    check!(
        matches!(
            got.map_err(|t| t.kind()),
            Err(TrapKind::StackOverflow { .. })
        ),
        "expected a stack overflow trap, got {got:?}"
    );
    check_eq!(in_guest(&s, |_: &Store, (): ()| Ok(6)), Ok(6));
    Ok(())
}

fn the_heap_count_of_a_guest_that_frees_what_it_took_comes_back() -> TestResult {
    let s = store();
    // Warm: the store's own bookkeeping allocates on first use.
    check_eq!(in_guest(&s, |_: &Store, (): ()| Ok(0)), Ok(0));
    // What one more guest that allocates nothing leaves (its function
    // record, which the store keeps): the baseline for the next one.
    let before = heap::used_bytes();
    check_eq!(in_guest(&s, |_: &Store, (): ()| Ok(0)), Ok(0));
    let baseline = heap::used_bytes() - before;
    let before = heap::used_bytes();
    let got = in_guest(&s, |_: &Store, (): ()| -> Result<i32, Trap> {
        let v: Vec<u8> = alloc::vec![7; 100_000];
        let during = heap::used_bytes();
        drop(v);
        Ok(i32::from(during >= 100_000))
    });
    check_eq!(got, Ok(1));
    check_eq!(heap::used_bytes() - before, baseline);
    Ok(())
}

fn paging_questions_about_any_address_are_answered_without_a_fault() -> TestResult {
    check_eq!(paging::translate(VirtAddr::new(0)), None);
    check_eq!(paging::page_flags(VirtAddr::new(0)), None);
    check_eq!(
        paging::translate(VirtAddr::new(0xffff_ffff_ffff_f000)),
        None
    );
    // The guard page under the kernel's stack is never mapped.
    let guard = paging::kernel_stack()
        .ok_or("no kernel stack recorded")?
        .guard;
    check_eq!(paging::translate(guard.start_address()), None);
    // The window is arithmetic: no access, whatever the address.
    check_eq!(
        paging::phys_to_virt(PhysAddr::new(0x1000)) - paging::phys_to_virt(PhysAddr::new(0)),
        0x1000
    );
    check!(!paging::table_locked());
    check!(!frames::locked());
    check!(!heap::locked());
    check!(!stacks::pool_locked());
    Ok(())
}

fn symbol_lookups_of_any_address_are_answered_without_a_fault() -> TestResult {
    for addr in [0, 1, 0x1000, usize::MAX, usize::MAX / 2] {
        check_eq!(symbols::lookup(addr).map(|l| l.offset), None);
        check_eq!(symbols::lookup_frame(addr, true).map(|l| l.offset), None);
        check_eq!(symbols::lookup_frame(addr, false).map(|l| l.offset), None);
    }
    let here = symbol_lookups_of_any_address_are_answered_without_a_fault as *const () as usize;
    let found = symbols::lookup(here).ok_or("this test's own function has no symbol")?;
    check_eq!(found.offset, 0);
    Ok(())
}

fn exception_names_cover_every_vector() -> TestResult {
    check_eq!(interrupts::exception_name(14), "#PF page fault");
    for vector in 0..=u8::MAX {
        check!(!interrupts::exception_name(vector).is_empty());
    }
    check_eq!(interrupts::exception_name(255), "reserved or external");
    Ok(())
}

fn memory_map_checks_refuse_bad_layouts_with_the_region_named() -> TestResult {
    let a = Region::new("a", VirtAddr::new(0x1000), 0x2000).map_err(|e| alloc::format!("{e:?}"))?;
    let b = Region::new("b", VirtAddr::new(0x2000), 0x2000).map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(
        kernel::memory_map::check_layout(&[a, b]),
        Err(LayoutError::Overlap("a", "b"))
    );
    let odd =
        Region::new("odd", VirtAddr::new(0x1001), 0x1000).map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(
        kernel::memory_map::check_layout(&[odd]),
        Err(LayoutError::Unaligned("odd"))
    );
    let none =
        Region::new("none", VirtAddr::new(0x1000), 0).map_err(|e| alloc::format!("{e:?}"))?;
    check_eq!(
        kernel::memory_map::check_layout(&[none]),
        Err(LayoutError::Empty("none"))
    );
    check_eq!(
        Region::new("past the top", VirtAddr::new(0xffff_ffff_ffff_f000), 0x2000).map(|_| ()),
        Err(LayoutError::NonCanonical("past the top"))
    );
    check_eq!(
        kernel::memory_map::check_layout(&kernel::memory_map::FIXED_REGIONS),
        Ok(())
    );
    Ok(())
}

fn the_elf_reader_refuses_bytes_that_are_not_an_elf_file() -> TestResult {
    check!(kernel::elf::parse_elf(&[]).is_err());
    check!(kernel::elf::parse_elf(&[0x7f, b'E', b'L', b'F']).is_err());
    check!(kernel::elf::parse_elf(&[0u8; 4096]).is_err());
    check!(kernel::symbols::SymbolTable::from_elf(&[0u8; 64]).is_err());
    Ok(())
}

fn the_wasm_reader_refuses_bytes_that_are_not_a_module() -> TestResult {
    check!(kernel::wasm::Module::new(&[]).is_err());
    check!(kernel::wasm::Module::new(b"\0asm").is_err());
    check!(kernel::wasm::Module::new(&[0xff; 64]).is_err());
    // The smallest module there is: magic and version, nothing else.
    check!(kernel::wasm::Module::new(b"\0asm\x01\0\0\0").is_ok());
    Ok(())
}

/// The one init-like function left public: with no stack handed out (every
/// store of the tests above is gone) it may run any number of times, and
/// the pool works after it.
fn configuring_the_stack_pool_twice_with_no_stack_in_use_succeeds_both_times() -> TestResult {
    check_eq!(stacks::outstanding(), 0);
    check_eq!(stacks::configure(Config::DEFAULT), Ok(()));
    check_eq!(stacks::configure(Config::DEFAULT), Ok(()));
    check_eq!(stacks::config(), Config::DEFAULT);
    check_eq!((stacks::outstanding(), stacks::pooled()), (0, 0));
    let s = store();
    check_eq!(in_guest(&s, |_: &Store, (): ()| Ok(8)), Ok(8));
    Ok(())
}

fn last_segment_of_odd_paths_is_exact() -> TestResult {
    check_eq!(last_segment(""), "");
    check_eq!(last_segment("::"), "");
    check_eq!(last_segment("a::"), "");
    check_eq!(last_segment("::b"), "b");
    check_eq!(last_segment("é::ü"), "ü");
    Ok(())
}
