//! Per-store resource limits: how much of the kernel heap a store's guests
//! may hold, and how many stacks the store may hold at once; and what a
//! store reports it uses.
//!
//! Without limits one guest could take every byte of the heap or every
//! stack of the pool, and the next allocation of the kernel itself, or of
//! another store, would fail. So each store has a [`StoreLimits`]
//! (defaults below, chosen so that no one store comes near starving
//! another or the kernel), and the runtime refuses what would pass it:
//!
//! * **heap** (kernel only): an allocation made while a guest of the store
//!   runs on this CPU is charged to the store, and credited back when the
//!   block is freed, by whoever frees it (`heap.rs` keeps the account in a
//!   header of each block). Past the quota the allocator returns null, the
//!   allocation-error handler panics on the guest's stack, and that panic
//!   becomes a trap of kind [`TrapKind::OutOfMemory`](crate::cont::TrapKind)
//!   instead of `Panic`. All guests together are also held under
//!   [`GUEST_HEAP_POOL`], so that [`KERNEL_HEAP_RESERVE`] bytes always stay
//!   for the kernel, however many stores there are. On the host the heap is
//!   `std`'s: the quota is kept and reported, but nothing is charged.
//! * **stacks** (host and kernel): a `cont.new` that would need a new stack
//!   from the provider while the store already holds
//!   [`StoreLimits::stacks`] of them (live or cached) traps
//!   `OutOfStacks`. A `cont.new` that reuses a cached stack holds no more
//!   stacks than before and is never refused.
//!
//! * **linear memory** (host and kernel): a Wasm memory made for an
//!   instance of the store may grow to at most [`Store::memory_limit`]
//!   bytes ([`DEFAULT_MEMORY_LIMIT`] unless the owner sets another with
//!   [`Store::set_memory_limit`]); past it `memory.grow` returns -1. The
//!   memory's pages are not heap: they are frames mapped in the memory's own
//!   slot of the linear-memory region (`wasm/memory.rs`), which also keeps
//!   a reserve of frames for the kernel whatever the limits say.
//!
//! Wasmtime's `StoreLimits` / `ResourceLimiter` play the same part there.
//! The limits are read only where memory is taken (an allocation, a
//! `cont.new` that asks the provider): the resume, suspend and switch paths
//! never look at them.
//!
//! Who may change them: [`Store::set_limits`] takes `Pin<&mut Store>`, which
//! only the owner of the store has. A guest gets `&Store`, so it cannot
//! raise its own store's limits; a store it makes for itself is a store of
//! its own, but the heap it allocates while it runs is still charged to the
//! store whose guest it is.

use super::store::Store;
use core::cell::Cell;
use core::pin::Pin;

/// Bytes of the kernel heap that guests can never take: however many
/// stores there are, their charged bytes together stay at most
/// [`GUEST_HEAP_POOL`], so the kernel's own allocations keep working when
/// every store is at its quota.
pub const KERNEL_HEAP_RESERVE: usize = 8 * 1024 * 1024;

/// Bytes of the kernel heap all guests together may hold: the heap less
/// the kernel's reserve.
pub const GUEST_HEAP_POOL: usize = crate::paging::HEAP_SIZE as usize - KERNEL_HEAP_RESERVE;

/// A store's default heap quota: an eighth of the heap, a sixth of the
/// guests' pool, so one store at its quota leaves the others most of it.
pub const DEFAULT_HEAP_QUOTA: usize = 4 * 1024 * 1024;

/// A store's default stack limit: a sixteenth of the kernel's pool of
/// continuation stacks.
pub const DEFAULT_STACK_LIMIT: usize = 1024;

const _: () = assert!(DEFAULT_HEAP_QUOTA <= GUEST_HEAP_POOL / 4);

/// A store's default limit on each of its linear memories: 1 GiB (16,384
/// Wasm pages). What RAM there is bounds it further: a grow that would
/// leave the kernel less than its reserve of frames fails.
pub const DEFAULT_MEMORY_LIMIT: usize = 1 << 30;

/// What a store may hold at once. See the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Bytes of the kernel heap its guests may hold, block headers
    /// included (see [`StoreUsage::heap_bytes`]).
    pub heap_bytes: usize,
    /// Stacks it may hold from its provider, live continuations' and
    /// cached ones together.
    pub stacks: usize,
}

impl StoreLimits {
    /// [`DEFAULT_HEAP_QUOTA`] and [`DEFAULT_STACK_LIMIT`]: what
    /// [`Store::new`] gives.
    pub const DEFAULT: StoreLimits = StoreLimits {
        heap_bytes: DEFAULT_HEAP_QUOTA,
        stacks: DEFAULT_STACK_LIMIT,
    };
}

impl Default for StoreLimits {
    fn default() -> Self {
        StoreLimits::DEFAULT
    }
}

/// What a store holds now, against its [`StoreLimits`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreUsage {
    /// Heap bytes charged to the store and not yet freed: for each block,
    /// what it takes from the heap (the request, its 16-byte header and the
    /// allocator's rounding; `heap.rs`). Always 0 on the host.
    pub heap_bytes: usize,
    /// Stacks the store holds from its provider (live continuations' and
    /// the ones it caches: [`Store::outstanding_stacks`] +
    /// [`Store::cached_stacks`]).
    pub stacks: usize,
}

/// A store's limits as it keeps them: the stack limit in the store, the
/// heap quota in the heap's account of the store (kernel) or beside the
/// stack limit (host, where nothing is charged).
pub(crate) struct Limits {
    stacks: Cell<usize>,
    memory_bytes: Cell<usize>,
    #[cfg(target_os = "none")]
    account: crate::heap::Account,
    #[cfg(not(target_os = "none"))]
    heap_bytes: Cell<usize>,
}

impl Limits {
    pub(crate) fn new(limits: StoreLimits) -> Limits {
        Limits {
            stacks: Cell::new(limits.stacks),
            memory_bytes: Cell::new(DEFAULT_MEMORY_LIMIT),
            #[cfg(target_os = "none")]
            account: crate::heap::Account::open(limits.heap_bytes),
            #[cfg(not(target_os = "none"))]
            heap_bytes: Cell::new(limits.heap_bytes),
        }
    }

    #[inline]
    pub(crate) fn stacks(&self) -> usize {
        self.stacks.get()
    }

    fn heap_quota(&self) -> usize {
        #[cfg(target_os = "none")]
        return self.account.quota();
        #[cfg(not(target_os = "none"))]
        return self.heap_bytes.get();
    }
}

/// The heap account of the store whose guest runs on this CPU (null: none
/// runs, the kernel allocates for itself): whom the allocator charges
/// (`heap.rs`).
#[cfg(target_os = "none")]
#[inline]
pub(crate) fn running_account() -> *mut crate::heap::AccountRecord {
    let store = super::gate::running();
    if store.is_null() {
        return core::ptr::null_mut();
    }
    // SAFETY: a store in RUNNING has a chain running on this CPU, so it is
    // alive (a store drops only with no chain of its own running).
    unsafe { (*store).limits.account.record() }
}

impl Store {
    /// This store's limits.
    pub fn limits(&self) -> StoreLimits {
        StoreLimits {
            heap_bytes: self.limits.heap_quota(),
            stacks: self.limits.stacks(),
        }
    }

    /// Changes this store's limits. Only the store's owner can (a guest
    /// has `&Store`, never `Pin<&mut Store>`). A limit below what the store
    /// holds now takes nothing back: it refuses what would add to it until
    /// the store holds less.
    ///
    /// ```compile_fail,E0599
    /// // A guest is given `&Store`: it cannot raise its own store's limits.
    /// use kernel::cont::{Store, StoreLimits};
    /// fn guest(s: &Store) {
    ///     s.set_limits(StoreLimits { heap_bytes: usize::MAX, stacks: usize::MAX });
    /// }
    /// ```
    pub fn set_limits(self: Pin<&mut Self>, limits: StoreLimits) {
        self.limits.stacks.set(limits.stacks);
        #[cfg(target_os = "none")]
        self.limits.account.set_quota(limits.heap_bytes);
        #[cfg(not(target_os = "none"))]
        self.limits.heap_bytes.set(limits.heap_bytes);
    }

    /// The most bytes one linear memory made in this store may grow to
    /// (see the module documentation).
    pub fn memory_limit(&self) -> usize {
        self.limits.memory_bytes.get()
    }

    /// Changes [`Store::memory_limit`], for memories made from now on (a
    /// memory's limit is fixed when it is made). Only the store's owner can.
    pub fn set_memory_limit(self: Pin<&mut Self>, bytes: usize) {
        self.limits.memory_bytes.set(bytes);
    }

    /// What this store holds now: heap bytes charged to it, stacks.
    pub fn usage(&self) -> StoreUsage {
        StoreUsage {
            #[cfg(target_os = "none")]
            heap_bytes: self.limits.account.charged(),
            #[cfg(not(target_os = "none"))]
            heap_bytes: 0,
            stacks: self.stacks_held.get(),
        }
    }
}
