//! The list of live stores, for debuggers: where GDB
//! (`kernel/gdb/continuations.py`) starts to find every continuation.
//!
//! A store keeps its continuations in its own table (`Store::all`), but
//! nothing in the kernel names every store: each is a `Pin<Box<Store>>` on
//! some stack or in some closure. A debugger stopped at an arbitrary
//! instruction needs one symbol to start from, so every store links itself
//! into this list when it is made and unlinks itself when it drops:
//!
//! ```text
//!   LIVE_STORES ──> Store #3 ──next_live──> Store #1 ──next_live──> null
//!                   (newest)                (oldest)
//! ```
//!
//! The runtime never reads the list: it is written only by `Store::new`
//! and `Store`'s drop, never on the path of a resume, suspend or switch.
//! The head is per CPU (`cpu_local!`): on the kernel target a plain
//! `static`, `kernel::cont::registry::LIVE_STORES` in the symbol table; on
//! the host one per thread, which is sound because a `Store` is `!Send`,
//! so it is dropped on the thread that made it.

use super::store::Store;
use crate::cpu_local::cpu_local;
use core::cell::Cell;

cpu_local! {
    /// The newest live store of this CPU (null: none); the others follow
    /// through each store's `next_live`.
    pub(crate) static LIVE_STORES: Cell<*const Store> = Cell::new(core::ptr::null());
}

/// A store's link in the list: the next older live store (null: none).
pub(crate) struct LiveLink {
    next_live: Cell<*const Store>,
}

impl LiveLink {
    /// A link not in the list yet.
    pub(crate) const fn unlinked() -> LiveLink {
        LiveLink {
            next_live: Cell::new(core::ptr::null()),
        }
    }
}

/// Puts `store` at the head of the list. Called once, by `Store::new`,
/// when the store has reached the address it keeps (it is pinned).
pub(crate) fn register(store: &Store) {
    store.live.next_live.set(LIVE_STORES.get());
    LIVE_STORES.set(store);
}

/// Takes `store` out of the list. Called once, by `Store`'s drop.
pub(crate) fn unregister(store: &Store) {
    let me: *const Store = store;
    let next = store.live.next_live.get();
    if LIVE_STORES.get() == me {
        LIVE_STORES.set(next);
        return;
    }
    let mut at = LIVE_STORES.get();
    while !at.is_null() {
        // SAFETY: every store on the list is alive: it unlinks itself here
        // before its memory goes, and the list is this CPU's (or thread's)
        // alone, the same CPU `store` was made and is dropped on.
        let link = unsafe { &(*at).live.next_live };
        if link.get() == me {
            link.set(next);
            return;
        }
        at = link.get();
    }
}

/// The ids of the live stores of this CPU (on the host: this thread),
/// newest first: what a debugger walking the list finds. Safe to call from
/// anywhere, a guest included: every store on the list is alive (it unlinks
/// itself when it drops; a forgotten store is never freed), and the list
/// is read, never changed. The host's hostile tests
/// (`kernel/tests/cont_hostile/cache/live_stores.rs`) check it after every way a
/// store can end.
pub fn live_store_ids() -> alloc::vec::Vec<u32> {
    let mut out = alloc::vec::Vec::new();
    let mut at = LIVE_STORES.get();
    while !at.is_null() {
        // SAFETY: stores on the list are alive (see `unregister`).
        let store = unsafe { &*at };
        out.push(store.id);
        at = store.live.next_live.get();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cont::MmapStacks;
    use alloc::vec::Vec;

    /// The live stores of this thread, newest first.
    fn live() -> Vec<*const Store> {
        let mut out = Vec::new();
        let mut at = LIVE_STORES.get();
        while !at.is_null() {
            out.push(at);
            // SAFETY: stores on the list are alive (see `unregister`).
            at = unsafe { (*at).live.next_live.get() };
        }
        out
    }

    #[test]
    fn a_new_store_heads_the_live_list_until_it_drops() {
        let before = live();
        let s = Store::new(MmapStacks::new(), 64 * 1024);
        let me: *const Store = &*s;
        assert_eq!(live().first(), Some(&me));
        assert_eq!(live().len(), before.len() + 1);
        drop(s);
        assert_eq!(live(), before);
    }

    #[test]
    fn dropping_a_middle_store_leaves_the_others_linked_in_order() {
        let before = live();
        let a = Store::new(MmapStacks::new(), 64 * 1024);
        let b = Store::new(MmapStacks::new(), 64 * 1024);
        let c = Store::new(MmapStacks::new(), 64 * 1024);
        let (pa, pc): (*const Store, *const Store) = (&*a, &*c);
        drop(b);
        let mut expected = alloc::vec![pc, pa];
        expected.extend(before.iter().copied());
        assert_eq!(live(), expected);
        drop(a);
        drop(c);
        assert_eq!(live(), before);
    }
}
