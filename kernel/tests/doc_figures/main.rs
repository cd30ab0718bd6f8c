//! Docs that cannot drift: host tests that read the documentation (with
//! `include_str!`) and check the figures it quotes against the code. A
//! changed constant fails here until its doc moves with it.
//!
//! Each test names the page and the figure. The checks read the docs'
//! tables as text, so a figure is found by the words around it; when a
//! page is reworded, the test says which figure it could no longer find.
//! The last two groups check every page at once, read from disk: each
//! test name a doc quotes names a real test, and each kernel instruction
//! count is a figure of `docs/performance.md`'s bench table.
//!
//! The checks are grouped by what they read: [`layout`] (the spec, the
//! boot and fault pages, the debugging page and the GDB extension against
//! the kernel's offsets, regions and vectors), [`pages`] (the tour, the
//! glossary, the guest rules, "write your own", the Wasm page and the
//! README), [`test_names`] and [`bench_figures`].

mod bench_figures;
mod layout;
mod pages;
mod test_names;

use kernel::cont::Trap;
use kernel::cont::stack::{
    ARGS_CAPACITY_OFFSET, CONTROL_CONTEXT_OFFSET, RBP_OFFSET, RIP_OFFSET, args_buffer_offset,
    args_object_offset, caller_vmctx_offset, func_ref_offset, initial_rsp_offset,
};
use kernel::cont::switch::{ControlEffect, EFFECT_LANDING_BEFORE};
use kernel::cont::trace::{MAX_TRACE, TRACES, Trace};
use kernel::cont::trap::{MAX_FRAMES, TEXT_BYTES};
use kernel::paging::{
    CONT_STACKS_SIZE, CONT_STACKS_START, DYNAMIC_START, HEAP_SIZE, HEAP_START, WASM_MEMORIES_SIZE,
    WASM_MEMORIES_START, WASM_MEMORY_SLOT_SIZE,
};
use std::format;
use std::string::String;
use std::vec::Vec;
use x86_64::VirtAddr;
use x86_64::structures::idt::ExceptionVector;

const SPEC: &str = include_str!("../../../docs/spec.md");
const BOOT: &str = include_str!("../../../docs/boot.md");
const CONTINUATIONS: &str = include_str!("../../../docs/continuations.md");
const GUARANTEES: &str = include_str!("../../../docs/guarantees.md");
const FAULTS: &str = include_str!("../../../docs/faults.md");
const DEBUGGING: &str = include_str!("../../../docs/debugging.md");
const GDB_EXTENSION: &str = include_str!("../../gdb/continuations.py");
const QEMU_RUN: &str = include_str!("../../../qemu-run.sh");
const TOUR: &str = include_str!("../../../docs/tour.md");
const GLOSSARY: &str = include_str!("../../../docs/glossary.md");
const GUEST_RULES: &str = include_str!("../../../docs/guest-rules.md");
const WRITE_YOUR_OWN: &str = include_str!("../../../docs/write-your-own.md");
const README: &str = include_str!("../../../README.md");

/// `0xffff_c000_0000_0000`, the way the docs write addresses.
fn grouped_hex(v: VirtAddr) -> String {
    let h = format!("{:016x}", v.as_u64());
    format!("0x{}_{}_{}_{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

/// The one line of `doc` that contains every one of `words`.
#[track_caller]
fn line_with<'a>(doc: &'a str, words: &[&str]) -> &'a str {
    let mut found = doc.lines().filter(|l| words.iter().all(|w| l.contains(w)));
    let line = found
        .next()
        .unwrap_or_else(|| panic!("no line contains all of {words:?}"));
    assert!(
        found.next().is_none(),
        "more than one line contains {words:?}"
    );
    line
}

/// The number `N` of the line `prefix N;` or `prefix N * M;` of `source`,
/// for constants of kernel-only modules (not built for the host).
#[track_caller]
fn const_in(source: &str, prefix: &str) -> u64 {
    let line = line_with(source, &[prefix]);
    let expr = line
        .split_once(prefix)
        .map(|(_, rest)| rest.trim().trim_end_matches([',', ';']))
        .unwrap_or_default();
    expr.split('*')
        .map(|n| n.trim().parse::<u64>().expect("a product of integers"))
        .product()
}

/// `REVISION_STORE_SHIFT` of `cont/runtime/contref.rs` (crate-private): the bits
/// of a revision below the store's id.
#[track_caller]
fn revision_store_shift() -> u64 {
    const CONTREF: &str = include_str!("../../src/cont/runtime/contref.rs");
    const_in(CONTREF, "const REVISION_STORE_SHIFT: u32 =")
}

/// A field of `stacks::Config::DEFAULT`, read from `stacks.rs` (a
/// kernel-only module): `64 * 1024` for `stack_size`.
#[track_caller]
fn default_stack_config(field: &str) -> u64 {
    const STACKS: &str = include_str!("../../src/stacks.rs");
    let (_, block) = STACKS
        .split_once("pub const DEFAULT: Config = Config {")
        .expect("stacks::Config::DEFAULT");
    let block = block.split_once('}').map(|(b, _)| b).unwrap_or_default();
    const_in(block, &format!("{field}:"))
}

fn number_word(n: u64) -> &'static str {
    [
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
    ][n as usize]
}

fn workspace_root() -> std::path::PathBuf {
    // This package is `kernel/tests/`, two levels below the workspace.
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root")
}

#[track_caller]
fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files under `dir` (recursively) whose names end with `ext`, sorted.
fn files_under(dir: &std::path::Path, ext: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a readable directory entry").path();
        if path.is_dir() {
            found.extend(files_under(&path, ext));
        } else if path.to_str().is_some_and(|p| p.ends_with(ext)) {
            found.push(path);
        }
    }
    found.sort();
    found
}
