//! The kernel heap: `alloc` (Box, Vec, String, ...) over a fixed 32 MiB
//! virtual range, managed by `linked_list_allocator`, with every block
//! charged to the store whose guest asked for it.
//!
//! `paging::init` maps `paging::HEAP_START .. HEAP_START + HEAP_SIZE` to
//! fresh frames (read-write, no-execute) before this module hands the range
//! to the allocator; see the virtual memory map in `paging`. A linked-list
//! allocator is slow for many tiny blocks but simple to read, and keeps no
//! size classes: freed blocks merge with their neighbours and are reused by
//! any later request that fits.
//!
//! Allocation may run on a continuation stack (guest code allocates), so
//! the allocator is wrapped: before it takes its lock it touches the stack
//! the locked section may need (`stacks::touch_stack`), so that a demand
//! fault or an overflow never strikes while the lock is held.
//!
//! # Accounting (per-store limits)
//!
//! An allocation made while a guest of store S runs on this CPU (`running`
//! in `cont/runtime/gate.rs` names S) is *charged* to S's account; one made on the
//! kernel's behalf (no guest running) to nobody. A block is credited back
//! to the account it was charged to when it is freed, whoever frees it:
//! the kernel, another store's guest, or nobody's code after S has
//! dropped. So each block remembers its account, in a 16-byte header just
//! below the address the caller gets:
//!
//! ```text
//!   block from linked_list_allocator (align = max(align, 16))
//!   |<---------- offset = max(align, 16) ---------->|
//!   +-----------------------+-----------------------+------------------------+
//!   | padding (align > 16)  | account  |  charged   | the caller's bytes ... |
//!   +-----------------------+-----------------------+------------------------+
//!                           ^ header (16 bytes)     ^ what `alloc` returns
//!   account: *mut AccountRecord, null = the kernel's own block
//!   charged: bytes this block takes from the heap (credited back on free)
//! ```
//!
//! What a block is charged is what it takes from the heap: the request plus
//! the offset, rounded as the allocator rounds (`HoleList::align_layout`),
//! so the charges of a store's live blocks add up to exactly its share of
//! `used_bytes()`.
//!
//! An account (`AccountRecord`: quota, bytes charged, live blocks, whether
//! its store still exists) is a small block of the heap made with the
//! store, charged like any other: to the store whose guest made the store,
//! or to nobody when the kernel did. When the store drops, the
//! record stays while blocks charged to it live (a guest can leak, or hand
//! a block to the kernel), and the free of the last one frees it.
//!
//! The allocator refuses (returns null) a charged allocation that would
//! take the account past its quota, or all guests together past
//! `GUEST_HEAP_POOL`, the heap less the kernel's reserve
//! (`cont::limits`). It records why in a per-CPU word; `alloc`'s
//! allocation-error handler then panics, on the guest's stack, and the
//! panic handler turns that panic into a trap of kind `OutOfMemory`
//! (`guest_faults.rs`) instead of `Panic`. A request too large to
//! describe with its header is refused the same way (`HeapFull`). The
//! word alone does not make a panic an out-of-memory one: a refused
//! `try_reserve` whose `Err` the guest handled leaves it set, so the panic
//! handler also asks that the panic be the allocation-error handler's
//! (its text `memory allocation of N bytes failed`). Every successful
//! allocation clears the word, and the panic handler takes it.
//!
//! When the heap runs out on the kernel's own stack, the handler's panic
//! is the kernel's: the panic handler (`boot`) reports it and ends the
//! boot.

use crate::cont::limits::GUEST_HEAP_POOL;
use crate::cpu_local::cpu_local;
use crate::paging::{HEAP_SIZE, HEAP_START};
use crate::stacks::{LOCKED_SECTION_STACK, touch_stack};
use crate::sync::Mutex;
use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use core::ptr::NonNull;
use linked_list_allocator::Heap;
use linked_list_allocator::hole::HoleList;

/// Bytes of the header below every block handed out (see the module docs).
pub const HEADER_BYTES: usize = 16;

/// The header below every block: whom it was charged, and how much.
#[repr(C)]
struct BlockHeader {
    account: *mut AccountRecord,
    charged: usize,
}

const _: () = assert!(core::mem::size_of::<BlockHeader>() == HEADER_BYTES);

/// A store's heap account. Read and written only under the heap's lock.
pub(crate) struct AccountRecord {
    quota: usize,
    charged: usize,
    blocks: usize,
    store_alive: bool,
}

/// Why the last allocation on this CPU was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// It would have taken the running store past its heap quota.
    StoreQuota,
    /// It would have taken all guests together past `GUEST_HEAP_POOL`.
    GuestPool,
    /// The heap had no block that large left.
    HeapFull,
}

impl Refusal {
    /// The trap message for a guest whose allocation was refused so.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::StoreQuota => "a guest allocation would pass its store's heap quota",
            Refusal::GuestPool => {
                "a guest allocation would take the guests past their pool (the kernel's reserve stays)"
            }
            Refusal::HeapFull => "the kernel heap has no block that large left",
        }
    }
}

cpu_local! {
    /// Why the last allocation on this CPU was refused; `None` once one
    /// succeeds. Read (and cleared) by the guest-panic path.
    static LAST_REFUSAL: Cell<Option<Refusal>> = Cell::new(None);
}

/// What the heap's lock guards: the allocator and the guests' total.
struct HeapState {
    heap: Heap,
    /// Bytes charged to any account, of live or dropped stores.
    guest_bytes: usize,
}

/// The allocator behind the kernel's lock, touching the stack before it
/// locks (see the module docs).
struct KernelHeap(Mutex<HeapState>);

/// The layout asked of the allocator for a caller's `layout` (the
/// caller's bytes and the header below them), and the offset of the
/// caller's bytes in it. `None`: too large to describe.
fn inner_layout(layout: Layout) -> Option<(Layout, usize)> {
    let offset = layout.align().max(HEADER_BYTES);
    let size = layout.size().checked_add(offset)?;
    let inner = Layout::from_size_align(size, offset).ok()?;
    Some((inner, offset))
}

/// What a block of layout `inner` takes from the heap: what
/// `Heap::used` grows by when it hands it out.
fn heap_bytes_of(inner: Layout) -> usize {
    HoleList::align_layout(inner).map_or(inner.size(), |l| l.size())
}

impl HeapState {
    /// A block for `layout` charged to `account` (null: nobody), or null
    /// when the account, the guests' pool or the heap has no room.
    fn allocate(&mut self, layout: Layout, account: *mut AccountRecord) -> *mut u8 {
        let Some((inner, offset)) = inner_layout(layout) else {
            // Too large for any heap: refused as a block with no room.
            LAST_REFUSAL.set(Some(Refusal::HeapFull));
            return core::ptr::null_mut();
        };
        let charged = heap_bytes_of(inner);
        // SAFETY: a non-null account is the live record of the running
        // store (`running_account`), and the heap's lock is held.
        let record = unsafe { account.as_mut() };
        if let Some(record) = &record {
            let refusal = if record.charged.saturating_add(charged) > record.quota {
                Some(Refusal::StoreQuota)
            } else if self.guest_bytes.saturating_add(charged) > GUEST_HEAP_POOL {
                Some(Refusal::GuestPool)
            } else {
                None
            };
            if refusal.is_some() {
                LAST_REFUSAL.set(refusal);
                return core::ptr::null_mut();
            }
        }
        let Ok(block) = self.heap.allocate_first_fit(inner) else {
            LAST_REFUSAL.set(Some(Refusal::HeapFull));
            return core::ptr::null_mut();
        };
        if let Some(record) = record {
            record.charged += charged;
            record.blocks += 1;
            self.guest_bytes += charged;
        }
        LAST_REFUSAL.set(None);
        // SAFETY: the block is `offset + layout.size()` bytes, aligned to
        // `offset` (>= 16), so the caller's bytes start `offset` in and the
        // header's 16 bytes fit just below them, 8-aligned.
        unsafe {
            let user = block.as_ptr().add(offset);
            user.sub(HEADER_BYTES)
                .cast::<BlockHeader>()
                .write(BlockHeader { account, charged });
            user
        }
    }

    /// Frees a block `allocate` made for `layout`, crediting its account;
    /// and, when that was the last block of the account of a store that is
    /// gone, the account's record too, which is itself a block charged to
    /// the account of the store whose guest made that store, and so on up:
    /// a loop, not a recursion, however long the line of stores.
    ///
    /// # Safety
    /// `user` came from `allocate` with this `layout` and is freed once.
    unsafe fn deallocate(&mut self, user: NonNull<u8>, layout: Layout) {
        let mut next = Some((user, layout));
        while let Some((user, layout)) = next.take() {
            let (inner, offset) = inner_layout(layout).expect("the layout was allocated");
            // SAFETY: per the contract, the header `allocate` wrote is
            // below `user` and the block starts `offset` before it; an
            // account record freed next was made by `allocate` with the
            // record's layout (`Account::open`), and no block or store
            // names it any more (its last block is this one, its store is
            // gone).
            unsafe {
                let header = user.as_ptr().sub(HEADER_BYTES).cast::<BlockHeader>().read();
                if let Some(record) = header.account.as_mut() {
                    record.charged -= header.charged;
                    record.blocks -= 1;
                    self.guest_bytes -= header.charged;
                    if record.blocks == 0 && !record.store_alive {
                        next = Some((
                            NonNull::new_unchecked(header.account.cast()),
                            Layout::new::<AccountRecord>(),
                        ));
                    }
                }
                let block = NonNull::new_unchecked(user.as_ptr().sub(offset));
                self.heap.deallocate(block, inner);
            }
        }
    }
}

// SAFETY: `Heap` hands out each block once until it is given back, and the
// lock serialises every use of it; the header and the offset stay inside
// the block `Heap` handed out, and the caller's bytes after the header are
// `layout.size()` bytes aligned to `layout.align()`. Touching the stack
// first changes nothing about the memory handed out.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        touch_stack(LOCKED_SECTION_STACK);
        let account = crate::cont::limits::running_account();
        self.0.lock().allocate(layout, account)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        touch_stack(LOCKED_SECTION_STACK);
        if let Some(block) = NonNull::new(ptr) {
            // SAFETY: `GlobalAlloc`'s contract: `ptr` came from `alloc` with
            // this same layout and is given back once.
            unsafe { self.0.lock().deallocate(block, layout) }
        }
    }
}

#[global_allocator]
static ALLOCATOR: KernelHeap = KernelHeap(Mutex::kernel(
    "heap",
    HeapState {
        heap: Heap::empty(),
        guest_bytes: 0,
    },
));

/// A store's heap account, as the store holds it: its record in the heap,
/// released when the store drops (the record itself goes when the last
/// block charged to it is freed).
pub(crate) struct Account(NonNull<AccountRecord>);

impl Account {
    /// A fresh account with `quota` bytes. Its record is a block like any
    /// other, charged to the store whose guest runs (the one making this
    /// store), or to nobody on the kernel's behalf: so the stores a guest
    /// makes take nothing from the heap that its own store is not charged
    /// for. Refused (the store's quota, the guests' pool, the heap full):
    /// the allocation-error handler (a panic).
    pub(crate) fn open(quota: usize) -> Account {
        let layout = Layout::new::<AccountRecord>();
        touch_stack(LOCKED_SECTION_STACK);
        let account = crate::cont::limits::running_account();
        let block = ALLOCATOR.0.lock().allocate(layout, account);
        let Some(block) = NonNull::new(block) else {
            alloc::alloc::handle_alloc_error(layout)
        };
        let record = block.cast::<AccountRecord>();
        // SAFETY: a fresh block of the record's layout.
        unsafe {
            record.write(AccountRecord {
                quota,
                charged: 0,
                blocks: 0,
                store_alive: true,
            })
        };
        Account(record)
    }

    /// The record, for the allocator to charge.
    #[inline]
    pub(crate) fn record(&self) -> *mut AccountRecord {
        self.0.as_ptr()
    }

    /// Runs `f` on the record under the heap's lock.
    fn with<T>(&self, f: impl FnOnce(&mut AccountRecord) -> T) -> T {
        touch_stack(LOCKED_SECTION_STACK);
        let _state = ALLOCATOR.0.lock();
        // SAFETY: the record lives while its store holds this `Account`,
        // and the lock serialises every access to it.
        f(unsafe { &mut *self.0.as_ptr() })
    }

    pub(crate) fn quota(&self) -> usize {
        self.with(|r| r.quota)
    }

    pub(crate) fn set_quota(&self, quota: usize) {
        self.with(|r| r.quota = quota)
    }

    /// Bytes charged and not yet credited back.
    pub(crate) fn charged(&self) -> usize {
        self.with(|r| r.charged)
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        touch_stack(LOCKED_SECTION_STACK);
        let mut state = ALLOCATOR.0.lock();
        let record = self.0.as_ptr();
        // SAFETY: the record is live until this drop or the last block's
        // free, whichever comes later; the lock serialises both.
        unsafe {
            (*record).store_alive = false;
            if (*record).blocks == 0 {
                state.deallocate(self.0.cast(), Layout::new::<AccountRecord>());
            }
        }
    }
}

/// Hands the mapped heap range to the allocator. Runs once, after
/// `paging::init` has mapped the range. Not public: a second call would
/// hand the allocator a range whose blocks are in use.
pub(crate) fn init() {
    // SAFETY: `paging::init` mapped HEAP_START..HEAP_START+HEAP_SIZE to
    // frames used by nothing else, and this runs once, so the allocator
    // owns the range exclusively from here on.
    unsafe {
        ALLOCATOR
            .0
            .lock()
            .heap
            .init(HEAP_START.as_mut_ptr(), HEAP_SIZE as usize)
    };
}

/// Whether the allocator's lock is held (by code a fault interrupted).
pub fn locked() -> bool {
    ALLOCATOR.0.is_locked()
}

/// Bytes currently allocated from the heap, block headers included.
pub fn used_bytes() -> usize {
    touch_stack(LOCKED_SECTION_STACK);
    ALLOCATOR.0.lock().heap.used()
}

/// Bytes charged to stores (live or dropped) and not yet freed: at most
/// `cont::limits::GUEST_HEAP_POOL`.
pub fn guest_bytes() -> usize {
    touch_stack(LOCKED_SECTION_STACK);
    ALLOCATOR.0.lock().guest_bytes
}

/// Why the last allocation on this CPU was refused, if the last one was;
/// clears the word. The guest-panic path asks, to tell an out-of-memory
/// panic from others.
pub(crate) fn take_refusal() -> Option<Refusal> {
    LAST_REFUSAL.take()
}

/// What a block of `size` bytes aligned to at most 16, allocated by a
/// guest, is charged: the request and its header, as the allocator rounds
/// them. For tests and reports that state an exact usage.
pub fn charge_of(size: usize) -> usize {
    Layout::from_size_align(size, 1)
        .ok()
        .and_then(inner_layout)
        .map_or(usize::MAX, |(inner, _)| heap_bytes_of(inner))
}
