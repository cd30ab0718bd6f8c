//! Where continuation stacks come from: the `StackProvider` trait, and
//! `MmapStacks`, the provider for host tests.
//!
//! The runtime never maps memory itself. It asks a provider for a stack of
//! a given size and gives it back when the continuation ends, so the same
//! runtime runs on Linux (stacks from `mmap`) and in the kernel (stacks in
//! the kernel's continuation-stack region, mapped into its own page
//! tables). Every stack has guard page(s) below it that are never mapped:
//! running off the bottom faults instead of silently overwriting whatever
//! lies below.

use super::stack::ContStack;
#[cfg(target_os = "linux")]
use alloc::vec::Vec;

/// The page size (`memory_map::PAGE_SIZE`) as a `usize`, for the pointer
/// arithmetic of stacks.
pub const PAGE_SIZE: usize = crate::memory_map::PAGE_SIZE as usize;

/// Why a provider could not give a stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackError {
    /// No memory (or no free slot) for another stack.
    OutOfMemory,
    /// The requested size is not one this provider hands out.
    UnsupportedSize,
}

/// A source of continuation stacks.
///
/// # Safety
/// The runtime builds its stacks' headers in what `allocate` returns and
/// runs code there, so an implementation promises: every stack it hands
/// out has at least the `size` usable bytes asked for, readable and
/// writable, below a page-aligned top, with unmapped guard page(s) below,
/// owned by nobody else until it comes back through `free`; and none of its
/// methods calls back into the code that asked.
///
/// ```compile_fail,E0200
/// // Safe code cannot promise that: a provider written without `unsafe`
/// // does not compile.
/// use kernel::cont::{ContStack, StackError, StackProvider};
/// struct Mine;
/// impl StackProvider for Mine {
///     fn allocate(&mut self, _: usize, _: *const ()) -> Result<ContStack, StackError> {
///         Err(StackError::OutOfMemory)
///     }
///     fn free(&mut self, _: ContStack) {}
///     fn outstanding(&self) -> usize { 0 }
/// }
/// ```
pub unsafe trait StackProvider {
    /// A stack of at least `size` usable bytes: TOS page aligned, the usable
    /// bytes readable and writable, guard page(s) below never mapped.
    /// `owner` is an opaque word naming whoever will run code on it (the
    /// runtime passes its store; null: nobody): a provider that can find a
    /// stack from an address, as the kernel's fault handler does, keeps it
    /// and gives it back, never looking inside, so that a fault on the
    /// stack can become a trap of its owner's chain.
    fn allocate(&mut self, size: usize, owner: *const ()) -> Result<ContStack, StackError>;
    /// Takes back a stack this provider allocated. Its contents are dead.
    fn free(&mut self, stack: ContStack);
    /// How many stacks are allocated and not yet freed (for leak checks).
    fn outstanding(&self) -> usize;
}

/// Host stacks from Linux `mmap` (through `rustix`): one `PROT_NONE` guard page below each
/// stack, and a pool of freed stacks that `allocate` reuses.
#[cfg(target_os = "linux")]
pub struct MmapStacks {
    pool: Vec<ContStack>,
    outstanding: usize,
}

/// The three memory-mapping calls the host provider needs, through
/// `rustix` (the crate Wasmtime uses for the same job) rather than system
/// calls written in assembly here.
#[cfg(target_os = "linux")]
mod linux {
    use rustix::mm::{MapFlags, MprotectFlags, ProtFlags, mmap_anonymous, mprotect, munmap};

    /// `len` bytes of fresh, inaccessible, private anonymous memory.
    pub fn map_none(len: usize) -> Option<*mut u8> {
        // SAFETY: an anonymous mapping at an address of the kernel's choice
        // touches no existing memory.
        unsafe {
            mmap_anonymous(
                core::ptr::null_mut(),
                len,
                ProtFlags::empty(),
                MapFlags::PRIVATE,
            )
        }
        .ok()
        .map(|p| p.cast())
    }
    /// Makes `addr..addr+len` readable and writable.
    ///
    /// # Safety
    /// `addr..addr+len` must be a mapping this module made and owns.
    pub unsafe fn protect_read_write(addr: *mut u8, len: usize) -> bool {
        // SAFETY: per the contract, the range is ours.
        unsafe { mprotect(addr.cast(), len, MprotectFlags::READ | MprotectFlags::WRITE) }.is_ok()
    }
    /// `munmap(addr, len)`.
    ///
    /// # Safety
    /// `addr..addr+len` must be a mapping this module made and nothing uses.
    pub unsafe fn unmap(addr: *mut u8, len: usize) {
        // SAFETY: per the contract, the range is ours and dead.
        let r = unsafe { munmap(addr.cast(), len) };
        debug_assert!(r.is_ok());
    }
}

#[cfg(target_os = "linux")]
impl MmapStacks {
    pub fn new() -> MmapStacks {
        MmapStacks {
            pool: Vec::new(),
            outstanding: 0,
        }
    }
    /// Stacks freed and kept for reuse.
    pub fn pooled(&self) -> usize {
        self.pool.len()
    }
}

#[cfg(target_os = "linux")]
impl Default for MmapStacks {
    fn default() -> Self {
        MmapStacks::new()
    }
}

// SAFETY: every stack is a fresh private mapping (or one it made earlier
// and got back), `size` rounded up to pages read/write below a page-aligned
// top, one PROT_NONE page below; it never calls a store.
#[cfg(target_os = "linux")]
unsafe impl StackProvider for MmapStacks {
    fn allocate(&mut self, size: usize, _owner: *const ()) -> Result<ContStack, StackError> {
        let size = size
            .max(PAGE_SIZE)
            .checked_next_multiple_of(PAGE_SIZE)
            .ok_or(StackError::UnsupportedSize)?;
        if let Some(i) = self.pool.iter().position(|s| s.len() == size) {
            self.outstanding += 1;
            return Ok(self.pool.swap_remove(i));
        }
        let total = size
            .checked_add(PAGE_SIZE)
            .ok_or(StackError::UnsupportedSize)?;
        let base = linux::map_none(total).ok_or(StackError::OutOfMemory)?;
        // SAFETY: `base..base+total` is the mapping just made; the lowest
        // page stays PROT_NONE as the guard.
        if !unsafe { linux::protect_read_write(base.add(PAGE_SIZE), size) } {
            // SAFETY: still ours and unused.
            unsafe { linux::unmap(base, total) };
            return Err(StackError::OutOfMemory);
        }
        self.outstanding += 1;
        // SAFETY: `base+PAGE_SIZE .. base+total` is read/write and ours;
        // `base+total` is page aligned (mmap returns page-aligned memory).
        Ok(unsafe { ContStack::from_raw_parts(base.add(total), size, PAGE_SIZE) })
    }

    fn free(&mut self, stack: ContStack) {
        self.outstanding -= 1;
        self.pool.push(stack);
    }

    fn outstanding(&self) -> usize {
        self.outstanding
    }
}

#[cfg(target_os = "linux")]
impl Drop for MmapStacks {
    fn drop(&mut self) {
        for stack in self.pool.drain(..) {
            let base = stack.bottom().wrapping_sub(stack.guard());
            // SAFETY: a pooled stack is a whole mapping made by `allocate`
            // (guard + usable bytes) that nothing uses any more.
            unsafe { linux::unmap(base, stack.guard() + stack.len()) };
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn mmap_stacks_are_page_aligned_writable_and_pooled() {
        let mut stacks = MmapStacks::new();
        let a = stacks.allocate(64 * 1024, core::ptr::null()).unwrap();
        assert_eq!(a.top() as usize % PAGE_SIZE, 0);
        assert_eq!((a.len(), a.guard()), (64 * 1024, PAGE_SIZE));
        // SAFETY: the lowest and highest usable bytes are ours.
        unsafe {
            a.bottom().write(1);
            a.top().sub(1).write(2);
        }
        assert_eq!(stacks.outstanding(), 1);
        let top = a.top();
        stacks.free(a);
        assert_eq!((stacks.outstanding(), stacks.pooled()), (0, 1));
        let b = stacks.allocate(64 * 1024, core::ptr::null()).unwrap();
        assert_eq!(b.top(), top);
        assert_eq!((stacks.outstanding(), stacks.pooled()), (1, 0));
        stacks.free(b);
    }
}
