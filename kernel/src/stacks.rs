//! Continuation stacks in the kernel: the continuation-stack region cut into
//! slots of an unmapped guard and a stack that is mapped page by page on
//! first touch, with a pool that hands freed slots out again.
//!
//! This is the kernel's [`StackProvider`]. Three things make continuations
//! cheap enough to have many thousands at once:
//!
//! * **Slots at fixed addresses.** Slot `i` starts at
//!   `CONT_STACKS_START + i * slot_size`, so the page-fault handler finds the
//!   slot of any faulting address with one division and no search.
//! * **Demand paging.** A new stack has only its top page mapped (it holds
//!   the layout header of `docs/spec.md` §1 and the first frames). A touch anywhere
//!   else in the stack part of a slot in use faults, and [`on_page_fault`]
//!   maps a zeroed frame there and lets the instruction run again. A touch of
//!   the guard is never mapped: it is a stack overflow.
//! * **Pooling.** A freed slot keeps its top page mapped and goes on a free
//!   list; the next `allocate` pops it in O(1). Freeing unmaps every page
//!   below the top one (giving their frames back) and zeroes the top page,
//!   so a guest of one store never sees what a guest of another left.
//!   (Before a stack comes here, its store may keep it for its own next
//!   continuations: `cont::STACK_CACHE`.)
//!
//! ```text
//!  CONT_STACKS_START + i * slot_size                         + (i+1) * slot_size
//!  |<-- guard_size -->|<------------------ stack_size ------------------>|
//!  +------------------+------------------------------------+-------------+
//!  | guard: never     | mapped on first touch (zeroed      |  top page:  |
//!  | mapped; a touch  | frame), unmapped when the slot     |  mapped at  |
//!  | is an overflow   | is freed                           |  allocation |
//!  +------------------+------------------------------------+-------------+
//!                                                                        ^ TOS
//! ```
//!
//! ## Faults while a lock is held
//!
//! The pool, the frame allocator and the page tables are each behind a
//! lock, and the page-fault handler needs the same three to map a page on
//! demand. If code running on a continuation stack held one of them and
//! then touched a new page of its own stack, the handler could not take the
//! lock. So the rule here is: before taking a lock on a continuation stack,
//! touch the stack the locked section may need ([`touch_stack`]). Any demand
//! fault (or overflow) then happens before the lock is taken. The handler
//! itself only ever `try_lock`s, and reports a bug if a lock is busy.

use crate::cont::{ContStack, StackError, StackProvider, Store};
use crate::frames;
use crate::paging::{self, CONT_STACKS_SIZE, CONT_STACKS_START, DATA_FLAGS};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicUsize, Ordering};
use x86_64::VirtAddr;
use x86_64::structures::paging::{Page, PageSize, PhysFrame, Size4KiB};

/// How the region is cut up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Usable bytes of each stack (a multiple of the page size).
    pub stack_size: usize,
    /// Unmapped bytes below each stack (a multiple of the page size, at
    /// least one page). Inline stack probes touch every page of a large
    /// frame in order, so one guard page catches even frames larger than it.
    pub guard_size: usize,
    /// How many slots the pool may hand out at once.
    pub slots: usize,
}

impl Config {
    /// 64 KiB stacks with one guard page, 16 Ki slots (1.06 GiB of the
    /// 512 GiB region; only what is touched costs memory).
    pub const DEFAULT: Config = Config {
        stack_size: 64 * 1024,
        guard_size: Size4KiB::SIZE as usize,
        slots: 16 * 1024,
    };

    /// Bytes from one slot's start to the next.
    pub const fn slot_size(&self) -> usize {
        self.guard_size + self.stack_size
    }

    fn is_valid(&self) -> bool {
        let page = Size4KiB::SIZE as usize;
        self.stack_size >= 2 * page
            && self.stack_size.is_multiple_of(page)
            && self.guard_size >= page
            && self.guard_size.is_multiple_of(page)
            && self.slots > 0
            && (self.slots as u64).saturating_mul(self.slot_size() as u64) <= CONT_STACKS_SIZE
    }
}

/// Why the pool could not be (re)configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Sizes not page multiples, a stack under two pages, no guard, or more
    /// slots than the region holds.
    Invalid,
    /// Stacks are still in use.
    InUse { outstanding: usize },
}

/// What the page-fault handler learns about an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Demand {
    /// Not in the continuation-stack region.
    NotOurs,
    /// The page was mapped: run the instruction again.
    Mapped,
    /// In the guard of slot `slot`: a stack overflow.
    Guard { slot: usize },
    /// In a slot that is not handed out (a stale pointer into a freed stack).
    NotInUse { slot: usize },
    /// No frame left to map.
    OutOfMemory,
    /// A lock was held by the interrupted code (a bug: see the module docs).
    Busy,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Unused,
    InUse,
    Pooled,
}

#[derive(Clone, Copy)]
struct Slot {
    state: SlotState,
    /// The highest page of the slot's stack, which holds the layout
    /// header: worked out once, when the pool is cut, so that handing out
    /// and freeing a pooled slot need no address arithmetic.
    top_page: Page,
    /// The lowest page of the stack part that may be mapped; everything
    /// from here up to the top page is checked when the slot is freed.
    lowest_mapped: Page,
    /// The store whose continuation runs on the slot: where the fault
    /// handler sends a trap for a fault on this stack.
    owner: *const Store,
}

struct Pool {
    config: Config,
    slots: Vec<Slot>,
    /// Pooled slots, most recently freed last (it is still warm in the TLB).
    free: Vec<u32>,
    /// Slots `next_unused..` have never been handed out.
    next_unused: usize,
    outstanding: usize,
    demand_faults: u64,
}

impl Pool {
    fn new(config: Config) -> Pool {
        Pool {
            config,
            slots: (0..config.slots)
                .map(|slot| {
                    // The slot's end, less one page.
                    let top = CONT_STACKS_START + ((slot + 1) * config.slot_size()) as u64;
                    let top_page = Page::containing_address(top - Size4KiB::SIZE);
                    Slot {
                        state: SlotState::Unused,
                        top_page,
                        lowest_mapped: top_page,
                        owner: core::ptr::null(),
                    }
                })
                .collect(),
            free: Vec::with_capacity(config.slots),
            next_unused: 0,
            outstanding: 0,
            demand_faults: 0,
        }
    }

    /// Unmaps every page of `slot` below its top page, freeing the frames.
    fn unmap_below_top(&mut self, slot: usize) {
        let top_page = self.slots[slot].top_page;
        for page in Page::range(self.slots[slot].lowest_mapped, top_page) {
            // SAFETY: the slot is not in use, so nothing references its pages.
            if let Ok(frame) = unsafe { paging::unmap_page(page) } {
                frames::free(frame).expect("a stack frame is ours to free");
            }
        }
        self.slots[slot].lowest_mapped = top_page;
    }

    /// Unmaps all of `slot`, the top page too.
    fn unmap_all(&mut self, slot: usize) {
        self.unmap_below_top(slot);
        let top_page = self.slots[slot].top_page;
        // SAFETY: the slot is not in use.
        if let Ok(frame) = unsafe { paging::unmap_page(top_page) } {
            frames::free(frame).expect("a stack frame is ours to free");
        }
        self.slots[slot].state = SlotState::Unused;
    }
}

/// The geometry in force, also outside the lock: the fault handler must
/// tell a guard page from a stack page even when the interrupted code holds
/// the pool's lock. Written by `configure` (with the lock held, and no stack
/// in use), read anywhere.
static SLOT_SIZE: AtomicUsize = AtomicUsize::new(0);
static GUARD_SIZE: AtomicUsize = AtomicUsize::new(0);
static SLOT_COUNT: AtomicUsize = AtomicUsize::new(0);

/// The slot `addr` lies in, by arithmetic alone (never takes a lock).
pub fn slot_of(addr: VirtAddr) -> Option<usize> {
    slot_at(addr.as_u64())
}

/// [`slot_of`] for an address read from a pointer, which is then not
/// checked for being canonical (on the path that frees a stack, where
/// every instruction counts: the pointer is a stack's top, handed out here).
fn slot_at(addr: u64) -> Option<usize> {
    let slot_size = SLOT_SIZE.load(Ordering::Relaxed);
    let offset = addr.checked_sub(CONT_STACKS_START.as_u64())? as usize;
    if slot_size == 0 {
        return None;
    }
    let slot = offset / slot_size;
    (slot < SLOT_COUNT.load(Ordering::Relaxed)).then_some(slot)
}

/// Whether `addr` is in the guard of its slot (never takes a lock).
pub fn in_guard(addr: VirtAddr) -> bool {
    slot_of(addr).is_some_and(|slot| {
        let start = CONT_STACKS_START + (slot * SLOT_SIZE.load(Ordering::Relaxed)) as u64;
        addr - start < GUARD_SIZE.load(Ordering::Relaxed) as u64
    })
}

/// Whether the pool's lock is held (by code a fault interrupted).
pub fn pool_locked() -> bool {
    POOL.is_locked()
}

// SAFETY: the kernel runs on one CPU; the owner pointers in the slots are
// only read (by the fault handler, which dereferences one only while that
// store has a chain running, so is alive), never shared across threads.
unsafe impl Send for Pool {}

static POOL: crate::sync::Mutex<Option<Pool>> = crate::sync::Mutex::kernel("stack pool", None);

/// A fresh frame, zeroed through the physical-memory window.
fn zeroed_frame(frame: PhysFrame) -> PhysFrame {
    let window = paging::phys_to_virt(frame.start_address());
    // SAFETY: the frame was just allocated: nobody else uses it, and the
    // window maps all of it.
    unsafe { core::ptr::write_bytes(window.as_mut_ptr::<u8>(), 0, Size4KiB::SIZE as usize) };
    frame
}

/// Touches the `bytes` of stack below the current stack pointer, one read
/// per page, so that a demand fault (or an overflow) happens here rather
/// than inside a section that holds a lock. See the module docs.
#[inline(always)]
pub fn touch_stack(bytes: usize) {
    let rsp = crate::cont::switch::stack_pointer();
    let mut offset = Size4KiB::SIZE as usize;
    while offset <= bytes {
        // SAFETY: the address is below RSP on the running stack: mapped,
        // mapped on demand, or a guard page whose fault is the overflow
        // report we want to happen here.
        unsafe { core::ptr::read_volatile((rsp - offset) as *const u8) };
        offset += Size4KiB::SIZE as usize;
    }
}

/// Stack that a locked section of the pool, frame allocator, page tables or
/// heap may use below its caller, with room to spare.
pub const LOCKED_SECTION_STACK: usize = 8 * 1024;

/// Sets up the pool with [`Config::DEFAULT`]. Runs once at boot, after the
/// heap.
pub(crate) fn init() {
    configure(Config::DEFAULT).expect("the default configuration is valid");
}

/// Re-cuts the region with `config`. Allowed only while no stack is in use;
/// pooled slots are unmapped first.
pub fn configure(config: Config) -> Result<(), ConfigError> {
    if !config.is_valid() {
        return Err(ConfigError::Invalid);
    }
    touch_stack(LOCKED_SECTION_STACK);
    let mut guard = POOL.lock();
    if let Some(pool) = guard.as_mut() {
        if pool.outstanding != 0 {
            return Err(ConfigError::InUse {
                outstanding: pool.outstanding,
            });
        }
        while let Some(slot) = pool.free.pop() {
            pool.unmap_all(slot as usize);
        }
    }
    *guard = Some(Pool::new(config));
    SLOT_SIZE.store(config.slot_size(), Ordering::Relaxed);
    GUARD_SIZE.store(config.guard_size, Ordering::Relaxed);
    SLOT_COUNT.store(config.slots, Ordering::Relaxed);
    Ok(())
}

/// The configuration in force.
pub fn config() -> Config {
    touch_stack(LOCKED_SECTION_STACK);
    POOL.lock().as_ref().expect("stacks::init has run").config
}

/// Stacks handed out and not yet freed.
pub fn outstanding() -> usize {
    touch_stack(LOCKED_SECTION_STACK);
    POOL.lock().as_ref().map_or(0, |pool| pool.outstanding)
}

/// Freed slots waiting in the pool.
pub fn pooled() -> usize {
    touch_stack(LOCKED_SECTION_STACK);
    POOL.lock().as_ref().map_or(0, |pool| pool.free.len())
}

/// Pages mapped by demand faults since boot.
pub fn demand_faults() -> u64 {
    touch_stack(LOCKED_SECTION_STACK);
    POOL.lock().as_ref().map_or(0, |pool| pool.demand_faults)
}

/// Whether `addr` lies in the continuation-stack region at all.
pub fn in_region(addr: VirtAddr) -> bool {
    (CONT_STACKS_START..CONT_STACKS_START + CONT_STACKS_SIZE).contains(&addr)
}

/// The store that owns the stack slot `addr` lies in, if the slot is in use
/// and was given an owner: the fault handler's way from a faulting stack
/// pointer to the chain that must trap. Never waits for the lock.
pub(crate) fn owner_of(addr: VirtAddr) -> Option<*const Store> {
    if !in_region(addr) {
        return None;
    }
    let guard = POOL.try_lock()?;
    let pool = guard.as_ref()?;
    let slot = &pool.slots[slot_of(addr)?];
    (slot.state == SlotState::InUse && !slot.owner.is_null()).then_some(slot.owner)
}

/// The page-fault handler's question: can a fault at `addr` be served by
/// mapping a page? Never waits for a lock (see the module docs).
pub(crate) fn on_page_fault(addr: VirtAddr) -> Demand {
    if !in_region(addr) {
        return Demand::NotOurs;
    }
    // Where the address is needs no lock: a guard touch is an overflow
    // whoever holds what.
    let Some(slot) = slot_of(addr) else {
        return Demand::NotInUse { slot: usize::MAX };
    };
    // A lab's pager decides first (`lab_hooks`, docs/labs/lab9-pager.md);
    // the kernel maps only what the arithmetic below would.
    #[cfg(feature = "lab-hooks")]
    if crate::lab_hooks::pager_maps(
        addr,
        SLOT_SIZE.load(Ordering::Relaxed),
        GUARD_SIZE.load(Ordering::Relaxed),
    ) == Some(false)
    {
        return Demand::Guard { slot };
    }
    if in_guard(addr) {
        return Demand::Guard { slot };
    }
    let Some(mut guard) = POOL.try_lock() else {
        return Demand::Busy;
    };
    let Some(pool) = guard.as_mut() else {
        return Demand::NotInUse { slot };
    };
    if pool.slots[slot].state != SlotState::InUse {
        return Demand::NotInUse { slot };
    }
    let frame = match frames::try_allocate() {
        Ok(frame) => zeroed_frame(frame),
        Err(frames::AllocError::Busy) => return Demand::Busy,
        Err(_) => return Demand::OutOfMemory,
    };
    let page = Page::containing_address(addr);
    // SAFETY: the page is in the stack part of a slot in use and unmapped
    // (it faulted as not present); the frame is fresh and ours.
    match unsafe { paging::try_map_page(page, frame, DATA_FLAGS) } {
        Ok(()) => {
            let s = &mut pool.slots[slot];
            s.lowest_mapped = s.lowest_mapped.min(page);
            pool.demand_faults += 1;
            Demand::Mapped
        }
        Err(err) => {
            frames::free(frame).expect("the frame was just allocated");
            match err {
                paging::MapError::Busy => Demand::Busy,
                _ => Demand::OutOfMemory,
            }
        }
    }
}

/// The kernel's [`StackProvider`]: a handle on the one global pool. Every
/// store made with it shares the pool.
#[derive(Clone, Copy, Debug, Default)]
pub struct KernelStacks;

// SAFETY: every stack is the stack part of a pool slot handed out to one
// owner until `free`, below a page-aligned top (slot ends are page
// multiples), with the slot's unmapped guard below; its size is the pool's,
// and a larger request is refused; it never calls a store.
unsafe impl StackProvider for KernelStacks {
    fn allocate(&mut self, size: usize, owner: *const ()) -> Result<ContStack, StackError> {
        touch_stack(LOCKED_SECTION_STACK);
        let mut guard = POOL.lock();
        let pool = guard.as_mut().expect("stacks::init has run");
        if size > pool.config.stack_size {
            return Err(StackError::UnsupportedSize);
        }
        let slot = match pool.free.pop() {
            Some(slot) => slot as usize,
            None => {
                if pool.next_unused == pool.config.slots {
                    return Err(StackError::OutOfMemory);
                }
                let slot = pool.next_unused;
                let top_page = pool.slots[slot].top_page;
                let frame = frames::allocate().map_err(|_| StackError::OutOfMemory)?;
                // SAFETY: a never-used slot's pages are unmapped and nothing
                // points into them; the frame is fresh and ours.
                if unsafe { paging::map_page(top_page, zeroed_frame(frame), DATA_FLAGS) }.is_err() {
                    frames::free(frame).expect("the frame was just allocated");
                    return Err(StackError::OutOfMemory);
                }
                pool.slots[slot].lowest_mapped = top_page;
                pool.next_unused += 1;
                slot
            }
        };
        pool.slots[slot].state = SlotState::InUse;
        pool.slots[slot].owner = owner.cast();
        pool.outstanding += 1;
        // The end of the top page; a pointer, for `ContStack`.
        let top = pool.slots[slot]
            .top_page
            .start_address()
            .as_mut_ptr::<u8>()
            .wrapping_add(Size4KiB::SIZE as usize);
        // SAFETY: `top - stack_size .. top` is the stack part of a slot now
        // in use: its top page is mapped, the rest is mapped on first touch
        // by `on_page_fault`; the guard below is never mapped; the pool owns
        // it until `free`.
        Ok(unsafe {
            ContStack::from_raw_parts(top, pool.config.stack_size, pool.config.guard_size)
        })
    }

    fn free(&mut self, stack: ContStack) {
        touch_stack(LOCKED_SECTION_STACK);
        let mut guard = POOL.lock();
        let pool = guard.as_mut().expect("stacks::init has run");
        let slot = slot_at(stack.top() as u64 - 1).expect("a stack this pool handed out");
        assert!(
            pool.slots[slot].state == SlotState::InUse,
            "stack slot {slot} freed twice"
        );
        pool.unmap_below_top(slot);
        let top_page = pool.slots[slot].top_page.start_address();
        // SAFETY: the top page is mapped (it stays mapped while the slot is
        // in use or pooled) and nothing runs on the stack any more.
        unsafe { core::ptr::write_bytes(top_page.as_mut_ptr::<u8>(), 0, Size4KiB::SIZE as usize) };
        pool.slots[slot].state = SlotState::Pooled;
        pool.slots[slot].owner = core::ptr::null();
        pool.free.push(slot as u32);
        pool.outstanding -= 1;
    }

    fn outstanding(&self) -> usize {
        outstanding()
    }
}
