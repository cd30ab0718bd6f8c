//! A teaching kernel for x86_64 built around stack-switching continuations.
//!
//! Every bootable binary (the demo in `main.rs`, and one per test suite in the
//! top-level `tests/` folder) is a thin `entry_point!` around this library:
//! it calls [`init`] and then does its one job.
//!
//! The library is `no_std` everywhere. Modules that hold pure logic (the frame
//! allocator's bookkeeping, page-table index arithmetic, the continuation
//! core) also build for the host, where `cargo test -p kernel --lib` runs
//! their small unit tests with `std`; the larger host suites are
//! integration tests in `kernel/tests/`, written against the public API.
#![no_std]
#![cfg_attr(target_os = "none", feature(abi_x86_interrupt))]
#![cfg_attr(not(target_os = "none"), feature(thread_local))]
// `asm goto` with outputs: every switch site has two landings, one that
// carries no effect (the common one: a resume that comes back suspended
// to handler 0, a suspend that is resumed) and one a few bytes before it
// that receives the effect in RDI (`cont/machine/switch.rs`).
#![feature(asm_goto_with_outputs)]
// Guaranteed tail calls (`become`): the interpreter's handlers each end by
// jumping to the next op's (`wasm/interp/dispatch.rs`), so that a run of
// ops leaves no native frames and one Wasm call costs one frame. The
// feature is marked incomplete; what it is used for here (same-signature
// calls of function pointers on x86_64) is what it implements.
#![feature(explicit_tail_calls)]
#![allow(incomplete_features)]

#[cfg(test)]
extern crate std;

extern crate alloc;

pub mod cont;
mod cpu_local;
pub mod elf;
pub mod fatal;
pub mod frames;
pub mod memory_map;
pub mod paging;
pub mod serial;
pub mod symbols;
pub mod sync;
pub mod testing;
pub mod trap_report;
pub mod wasm;
pub mod wast;

#[cfg(target_os = "none")]
pub mod apic;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod boot_tables;
#[cfg(target_os = "none")]
pub mod exceptions;
#[cfg(target_os = "none")]
pub mod gdt;
#[cfg(target_os = "none")]
mod guest_faults;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod interrupts;
#[cfg(all(target_os = "none", feature = "lab-hooks"))]
pub mod lab_hooks;
mod machine;
#[cfg(target_os = "none")]
pub mod probe;
#[cfg(target_os = "none")]
pub mod qemu;
#[cfg(target_os = "none")]
pub mod stacks;
#[cfg(all(target_os = "none", feature = "stress"))]
pub mod stress;
#[cfg(target_os = "none")]
pub mod timer;

#[cfg(target_os = "none")]
pub use boot::{BOOTLOADER_CONFIG, init, ramdisk};
/// Re-exported for `suite!`, so that suite files need not name it.
#[cfg(target_os = "none")]
pub use bootloader_api;
pub use machine::Machine;
