//! Docs that cannot drift: host tests that read the documentation (with
//! `include_str!`) and check the figures it quotes against the code. A
//! changed constant fails here until its doc moves with it.
//!
//! Each test names the page and the figure. The checks read the docs'
//! tables as text, so a figure is found by the words around it; when a
//! page is reworded, the test says which figure it could no longer find.

use crate::cont::Trap;
use crate::cont::stack::{
    ARGS_CAPACITY_OFFSET, CONTROL_CONTEXT_OFFSET, RBP_OFFSET, RIP_OFFSET, args_buffer_offset,
    args_object_offset, caller_vmctx_offset, func_ref_offset, initial_rsp_offset,
};
use crate::cont::switch::ControlEffect;
use crate::cont::trap::TEXT_BYTES;
use crate::paging::{CONT_STACKS_SIZE, CONT_STACKS_START, DYNAMIC_START, HEAP_SIZE, HEAP_START};
use alloc::format;
use alloc::string::String;

const SPEC: &str = include_str!("../../docs/spec.md");
const BOOT: &str = include_str!("../../docs/boot.md");
const CONTINUATIONS: &str = include_str!("../../docs/continuations.md");
const GUARANTEES: &str = include_str!("../../docs/guarantees.md");
const FAULTS: &str = include_str!("../../docs/faults.md");

/// `0xffff_c000_0000_0000`, the way the docs write addresses.
fn grouped_hex(v: u64) -> String {
    let h = format!("{v:016x}");
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

#[test]
fn spec_layout_table_quotes_the_offsets_of_stack_rs() {
    // Fixed words: the row's offset cell, then a word of its contents.
    for (offset, word) in [
        (RIP_OFFSET, "RIP of the control context"),
        (RBP_OFFSET, "RBP of the control context"),
        (CONTROL_CONTEXT_OFFSET, "RSP of the control context"),
        (ARGS_CAPACITY_OFFSET, "`capacity` |"),
    ] {
        line_with(SPEC, &[&format!("| `-{offset:#04x}` |"), word]);
    }
    // Words below the value slots: `-0xNN-s`, with s = 16 * capacity.
    for (at, word) in [
        (func_ref_offset(0), "function record"),
        (caller_vmctx_offset(0), "caller's context"),
        (args_object_offset(0), "args object"),
        (initial_rsp_offset(0), "how many results"),
    ] {
        line_with(SPEC, &[&format!("| `-{at:#04x}-s` |"), word]);
    }
    line_with(
        SPEC,
        &[&format!(
            "`-{:#04x}-s` up to `-0x20`",
            args_buffer_offset(0)
        )],
    );
}

#[test]
fn spec_and_continuations_quote_the_control_effect_numbers() {
    let effects = [
        ("return", ControlEffect::RETURN_TAG),
        ("resume", ControlEffect::RESUME_TAG),
        ("suspend", ControlEffect::SUSPEND_TAG),
        ("switch", ControlEffect::SWITCH_TAG),
        ("trap", ControlEffect::TRAP_TAG),
        ("resume_throw", ControlEffect::RESUME_THROW_TAG),
    ];
    let list = line_with(CONTINUATIONS, &["The control effects a switch carries"]);
    let rest = CONTINUATIONS
        .split_once(list)
        .map(|(_, after)| after.lines().take(2).collect::<String>())
        .unwrap_or_default();
    let both = format!("{list} {rest}");
    for (name, n) in effects {
        assert!(
            both.contains(&format!("{name} {n}")),
            "continuations.md: {name} {n}"
        );
        assert!(SPEC.contains(&format!("{name} {n}")), "spec.md: {name} {n}");
    }
    assert!(both.contains(&format!("cancel {}", ControlEffect::CANCEL_TAG)));
}

#[test]
fn boot_md_memory_map_quotes_the_regions_of_paging_rs() {
    let heap = line_with(BOOT, &[&grouped_hex(HEAP_START), "kernel heap"]);
    assert!(
        heap.contains(&grouped_hex(HEAP_START + HEAP_SIZE)),
        "{heap}"
    );
    assert!(heap.contains(&format!("{} MiB", HEAP_SIZE >> 20)), "{heap}");
    let stacks = line_with(
        BOOT,
        &[&grouped_hex(CONT_STACKS_START), "continuation stacks"],
    );
    assert!(
        stacks.contains(&grouped_hex(CONT_STACKS_START + CONT_STACKS_SIZE)),
        "{stacks}"
    );
    assert!(
        stacks.contains(&format!("{} GiB", CONT_STACKS_SIZE >> 30)),
        "{stacks}"
    );
    line_with(
        BOOT,
        &[&grouped_hex(DYNAMIC_START), "bootloader's dynamic range"],
    );
}

#[test]
fn the_default_stack_geometry_is_quoted_with_its_share_of_the_region() {
    // The defaults of `stacks::Config` (kernel-only module): 4 KiB guard,
    // 64 KiB stack, 16 Ki slots.
    let (guard, stack, slots) = (4096u64, 64 * 1024u64, 16 * 1024u64);
    let gib = (slots * (guard + stack)) as f64 / (1u64 << 30) as f64;
    let quoted = format!("16 Ki slots ({gib:.2} GiB of the 512 GiB)");
    assert!(BOOT.contains(&quoted), "boot.md lacks {quoted:?}");
}

#[test]
fn trap_size_and_text_room_are_what_the_docs_say() {
    assert_eq!(core::mem::size_of::<Trap>(), 256);
    line_with(GUARANTEES, &[&format!("{TEXT_BYTES}-byte text")]);
    assert!(FAULTS.contains(&format!("{TEXT_BYTES} bytes, no heap")));
}

#[test]
fn wasm_md_quotes_the_interpreters_stack_budget_reserve_and_memory_limit() {
    use crate::wasm::instance::{DEFAULT_STACK_BUDGET, MAX_PAGES, STACK_RESERVE};
    const WASM: &str = include_str!("../../docs/wasm.md");
    let budget = format!(
        "may use {} KiB of the caller's",
        DEFAULT_STACK_BUDGET / 1024
    );
    line_with(WASM, &[&budget]);
    let reserve = format!("all of its stack but the {} KiB kept", STACK_RESERVE / 1024);
    line_with(WASM, &[&reserve]);
    let pages = format!("`memory.grow` up to {MAX_PAGES}");
    line_with(WASM, &[&pages]);
}
