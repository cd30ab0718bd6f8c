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

use crate::cont::Trap;
use crate::cont::stack::{
    ARGS_CAPACITY_OFFSET, CONTROL_CONTEXT_OFFSET, RBP_OFFSET, RIP_OFFSET, args_buffer_offset,
    args_object_offset, caller_vmctx_offset, func_ref_offset, initial_rsp_offset,
};
use crate::cont::switch::ControlEffect;
use crate::cont::trace::{MAX_TRACE, TRACES, Trace};
use crate::cont::trap::{MAX_FRAMES, TEXT_BYTES};
use crate::paging::{CONT_STACKS_SIZE, CONT_STACKS_START, DYNAMIC_START, HEAP_SIZE, HEAP_START};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use x86_64::VirtAddr;
use x86_64::structures::idt::ExceptionVector;

const SPEC: &str = include_str!("../../docs/spec.md");
const BOOT: &str = include_str!("../../docs/boot.md");
const CONTINUATIONS: &str = include_str!("../../docs/continuations.md");
const GUARANTEES: &str = include_str!("../../docs/guarantees.md");
const FAULTS: &str = include_str!("../../docs/faults.md");
const DEBUGGING: &str = include_str!("../../docs/debugging.md");
const GDB_EXTENSION: &str = include_str!("../gdb/continuations.py");
const QEMU_RUN: &str = include_str!("../../qemu-run.sh");

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
fn boot_md_memory_map_quotes_the_regions_of_memory_map_rs() {
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
fn guarantees_quote_the_size_of_a_stores_stack_cache() {
    let line = line_with(GUARANTEES, &["| 11 |", "cache"]);
    assert!(
        line.contains(&format!("`STACK_CACHE` ({})", crate::cont::STACK_CACHE)),
        "{line}"
    );
}

/// The vectors whose handler in `interrupts.rs` ends the boot whatever code
/// faulted: every `always_fatal!` handler, and the double-fault and
/// machine-check handlers, which are written out.
fn always_fatal_vectors_in_the_code() -> Vec<String> {
    const INTERRUPTS: &str = include_str!("interrupts.rs");
    let mut names: Vec<String> = INTERRUPTS
        .lines()
        .filter_map(|l| l.strip_prefix("always_fatal!("))
        .filter_map(|rest| rest.split("V::").nth(1))
        .map(|v| v.trim_end_matches([')', ';']).replace(", error_code", ""))
        .collect();
    assert!(INTERRUPTS.contains("extern \"x86-interrupt\" fn double_fault("));
    assert!(INTERRUPTS.contains("fatal_exception(V::MachineCheck as u8"));
    names.extend(["Double".into(), "MachineCheck".into()]);
    names
}

/// The vector numbers in parentheses in the paragraph of `doc` that
/// starts with `opening`, as the `x86_64` crate names them.
fn vectors_listed_after(doc: &str, opening: &str) -> Vec<String> {
    let (_, rest) = doc.split_once(opening).expect("the list of vectors");
    let paragraph = rest.split("\n\n").next().unwrap_or_default();
    let paragraph = paragraph.split(".\n").next().unwrap_or_default();
    paragraph
        .split('(')
        .skip(1)
        .filter_map(|part| part.split_once(')'))
        .filter_map(|(n, _)| n.parse::<u8>().ok())
        .map(|n| match ExceptionVector::try_from(n) {
            Ok(v) => format!("{v:?}"),
            Err(_) => panic!("vector {n} is not an exception"),
        })
        .collect()
}

#[test]
fn faults_md_and_interrupts_rs_list_exactly_the_always_fatal_vectors() {
    const INTERRUPTS: &str = include_str!("interrupts.rs");
    let mut code = always_fatal_vectors_in_the_code();
    code.sort();
    assert_eq!(code.len(), 10, "{code:?}");
    for (doc, opening) in [
        (FAULTS, "Ten vectors are never guest faults and stay fatal:"),
        (
            INTERRUPTS,
            "//! Ten vectors are always fatal, in guest code as in the kernel's:",
        ),
    ] {
        let mut listed = vectors_listed_after(doc, opening);
        listed.sort();
        assert_eq!(listed, code, "{opening}");
    }
}

#[test]
fn the_gdb_extension_quotes_the_constants_of_the_kernel() {
    // Rust `const`s are not in the debug information, so continuations.py
    // and qemu-run.sh write these out.
    for quoted in [
        format!("CONT_STACKS_START = {CONT_STACKS_START:#X}"),
        format!("CONTROL_CONTEXT_OFFSET = {CONTROL_CONTEXT_OFFSET:#x}"),
        format!(
            "REVISION_STORE_SHIFT = {}",
            crate::cont::contref::REVISION_STORE_SHIFT
        ),
    ] {
        line_with(GDB_EXTENSION, &[&quoted]);
    }
    line_with(QEMU_RUN, &[&format!("KERNEL_OFFSET={DYNAMIC_START:#x}")]);
}

#[test]
fn debugging_md_quotes_the_load_address_and_the_slot_geometry() {
    // The defaults of `stacks::Config`, as above: 4 KiB guard, 64 KiB stack.
    let slot = 4096u64 + 64 * 1024;
    line_with(
        DEBUGGING,
        &[&format!("`{CONT_STACKS_START:#x} + (N + 1) * {slot:#x}`")],
    );
    line_with(
        DEBUGGING,
        &[&format!("`{DYNAMIC_START:#x}`"), "the bootloader loads it"],
    );
}

#[test]
fn trap_report_frame_counts_are_what_debugging_and_faults_say() {
    let kib = core::mem::size_of::<Trace>() / 1024;
    for quoted in [
        format!("only the first {MAX_FRAMES} return addresses"),
        format!("up to {MAX_TRACE} frames on every"),
        format!("one of {TRACES} fixed buffers per CPU"),
        format!("until {TRACES} later traps"),
        format!("prints the first {MAX_FRAMES} frames"),
        format!("(about {kib} KiB)"),
    ] {
        assert!(DEBUGGING.contains(&quoted), "debugging.md lacks {quoted:?}");
    }
    assert!(DEBUGGING.contains(&format!(
        "first {MAX_FRAMES} frames (the full walk was overwritten"
    )));
    for quoted in [
        format!("carries the first {MAX_FRAMES} return addresses"),
        format!("(up to {MAX_TRACE}\nframes)"),
    ] {
        assert!(FAULTS.contains(&quoted), "faults.md lacks {quoted:?}");
    }
}

// ----- the tour, the glossary, the guest rules and "write your own" -----

const TOUR: &str = include_str!("../../docs/tour.md");
const GLOSSARY: &str = include_str!("../../docs/glossary.md");
const GUEST_RULES: &str = include_str!("../../docs/guest-rules.md");
const WRITE_YOUR_OWN: &str = include_str!("../../docs/write-your-own.md");

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

/// A field of `stacks::Config::DEFAULT`, read from `stacks.rs` (a
/// kernel-only module): `64 * 1024` for `stack_size`.
#[track_caller]
fn default_stack_config(field: &str) -> u64 {
    const STACKS: &str = include_str!("stacks.rs");
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

#[test]
fn tour_and_glossary_quote_the_ist_stacks_of_gdt_rs() {
    const GDT: &str = include_str!("gdt.rs");
    const INTERRUPTS: &str = include_str!("interrupts.rs");
    let count = const_in(GDT, "pub const IST_COUNT: usize =");
    let size = const_in(GDT, "pub const IST_STACK_SIZE: usize =");
    // Every IST slot is named by exactly one gate.
    assert_eq!(
        INTERRUPTS.matches(".set_stack_index(gdt::").count() as u64,
        count
    );
    let ist = line_with(GLOSSARY, &["| **IST** |"]);
    let quoted = format!("uses {}, {} KiB each", number_word(count), size >> 10);
    assert!(ist.contains(&quoted), "glossary.md lacks {quoted:?}");
    let quoted = format!("(with {} interrupt stacks)", number_word(count));
    assert!(TOUR.contains(&quoted), "tour.md lacks {quoted:?}");
}

#[test]
fn glossary_quotes_the_control_effect_numbers() {
    let list = format!(
        "(return {}, resume {}, suspend {}, switch {}, trap {}, resume_throw {}, cancel {})",
        ControlEffect::RETURN_TAG,
        ControlEffect::RESUME_TAG,
        ControlEffect::SUSPEND_TAG,
        ControlEffect::SWITCH_TAG,
        ControlEffect::TRAP_TAG,
        ControlEffect::RESUME_THROW_TAG,
        ControlEffect::CANCEL_TAG
    );
    line_with(GLOSSARY, &["| **control effect** |", &list]);
    line_with(
        GLOSSARY,
        &[
            "| **cancellation** |",
            &format!("the cancel effect ({})", ControlEffect::CANCEL_TAG),
        ],
    );
    assert!(TOUR.contains(&format!(
        "a switch with the trap effect ({})",
        ControlEffect::TRAP_TAG
    )));
}

#[test]
fn docs_quote_the_value_limits_the_stack_cache_and_the_revision_split() {
    use crate::cont::contref::REVISION_STORE_SHIFT;
    use crate::cont::{MAX_VALUES, STACK_CACHE, ValRaw};
    line_with(
        GLOSSARY,
        &[
            "| **mailbox** |",
            &format!("`ContRef::values`, {MAX_VALUES} slots"),
        ],
    );
    line_with(
        GLOSSARY,
        &[
            "| **stack cache** |",
            &format!("`STACK_CACHE`, {STACK_CACHE})"),
        ],
    );
    line_with(
        GLOSSARY,
        &[
            "| **revision** |",
            &format!("in the low {REVISION_STORE_SHIFT} bits"),
            &format!("in the top {}", 64 - REVISION_STORE_SHIFT),
        ],
    );
    line_with(
        GLOSSARY,
        &[
            "| **ValRaw**",
            &format!("One {}-byte value slot", core::mem::size_of::<ValRaw>()),
        ],
    );
    assert!(TOUR.contains(&format!(
        "the top {} bits of its revision",
        64 - REVISION_STORE_SHIFT
    )));
    let limit = format!("`MAX_VALUES` ({MAX_VALUES})");
    assert!(TOUR.contains(&limit), "tour.md lacks {limit:?}");
    line_with(GUEST_RULES, &[&format!("more than {limit} values")]);
}

#[test]
fn tour_and_guest_rules_quote_the_default_stacks_and_the_heap() {
    let stack = default_stack_config("stack_size");
    let slots = default_stack_config("slots");
    let limits = format!(
        "{} KiB stacks by default ({} Ki of them)",
        stack >> 10,
        slots >> 10
    );
    assert!(TOUR.contains(&limits), "tour.md lacks {limits:?}");
    assert!(TOUR.contains(&format!("a {} MiB heap", HEAP_SIZE >> 20)));
    line_with(
        GUEST_RULES,
        &[&format!(
            "Up to the stack's size ({} KiB by default",
            stack >> 10
        )],
    );
}

#[test]
fn tour_quotes_the_registers_of_the_first_instruction_on_a_fresh_stack() {
    for quoted in [
        format!("**RSP = `TOS-{:#x}-s`**", initial_rsp_offset(0)),
        format!("**RBP = `TOS-{RBP_OFFSET:#x}`**"),
        format!(
            "RSP is then `TOS-{:#x}-s`, 16-byte aligned",
            args_buffer_offset(0)
        ),
    ] {
        assert!(
            TOUR.contains(&quoted) || GLOSSARY.contains(&quoted),
            "{quoted:?}"
        );
    }
    line_with(
        GLOSSARY,
        &[
            "| **start trampoline** |",
            &format!("Keeps RBP at `TOS-{RBP_OFFSET:#x}`"),
        ],
    );
    line_with(
        GLOSSARY,
        &[
            "| **control context** |",
            &format!("Three words at `TOS-{CONTROL_CONTEXT_OFFSET:#x}`"),
        ],
    );
}

#[test]
fn boot_md_picture_and_write_your_own_quote_the_region_and_slot_0() {
    const STACKS: &str = include_str!("stacks.rs");
    let stack = default_stack_config("stack_size");
    // `guard_size: Size4KiB::SIZE as usize`: one 4 KiB page.
    let guard = crate::cont::PAGE_SIZE as u64;
    line_with(STACKS, &["guard_size: Size4KiB::SIZE as usize,"]);
    let start = CONT_STACKS_START.as_u64();
    let entry = (start >> 39) & 0x1ff;
    line_with(BOOT, &[&format!(" {start:#x} +")]);
    line_with(
        BOOT,
        &[&format!(
            "{:#x} +",
            (CONT_STACKS_START + CONT_STACKS_SIZE).as_u64()
        )],
    );
    line_with(
        BOOT,
        &[
            &format!("| continuation stacks, {} GiB", CONT_STACKS_SIZE >> 30),
            &format!("level-4 entry {entry}"),
        ],
    );
    line_with(BOOT, &["TOS of slot 0 ="]);
    line_with(BOOT, &[&format!("  {:#x}", start + guard + stack)]);
    line_with(BOOT, &[&format!("| kernel heap, {} MiB", HEAP_SIZE >> 20)]);
    line_with(BOOT, &[&format!(" {:#x} +", HEAP_START.as_u64())]);
    line_with(
        BOOT,
        &[&format!(" {:#x} +", (HEAP_START + HEAP_SIZE).as_u64())],
    );
    let first = (DYNAMIC_START.as_u64() >> 39) & 0x1ff;
    let last = ((HEAP_START.as_u64() >> 39) & 0x1ff) - 1;
    line_with(BOOT, &["| bootloader's dynamic range:", "level-4 entries"]);
    line_with(BOOT, &[&format!("|  {first}..{last}")]);
    line_with(
        WRITE_YOUR_OWN,
        &[&format!(
            "(`{:#x} .. {:#x}`",
            start + guard,
            start + guard + stack
        )],
    );
    line_with(
        WRITE_YOUR_OWN,
        &[&format!("below the slot's {} KiB guard", guard >> 10)],
    );
}

#[test]
fn tour_quotes_the_round_trip_figures_of_performance_md() {
    const PERFORMANCE: &str = include_str!("../../docs/performance.md");
    // The first figure cell of the table row that starts with `row`.
    let figure = |row: &str| -> String {
        let line = line_with(PERFORMANCE, &[row]);
        line.split('|').nth(2).unwrap_or_default().trim().into()
    };
    let typed = figure("| the same through the typed door (`Cont::resume`");
    let dynamic = figure("| resume + suspend round trip, dynamic door");
    let quoted = format!("costs {typed} instructions through the typed door and {dynamic} through");
    assert!(TOUR.contains(&quoted), "tour.md lacks {quoted:?}");
    let host = line_with(PERFORMANCE, &["through the typed door, Wasmtime"]);
    let host_typed = host
        .split(" through the typed door")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .unwrap_or_default();
    let corosensei = line_with(PERFORMANCE, &["corosensei 37"]);
    assert!(corosensei.contains("context 60"), "{corosensei}");
    let quoted = format!("{host_typed} through the typed door against corosensei's 37");
    assert!(TOUR.contains(&quoted), "tour.md lacks {quoted:?}");
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

#[test]
fn wasm_md_quotes_lines_our_wast_script_really_prints() {
    use crate::wast::{bundle, run};
    const WASM: &str = include_str!("../../docs/wasm.md");
    const OWN: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/commands.bundle"));
    let b = bundle::decode(OWN).expect("build.rs packs a well-formed bundle");
    let mut printed = Vec::new();
    for script in &b.scripts {
        let c = run::run_script(
            script,
            crate::cont::Store::new(crate::cont::MmapStacks::new(), 1024 * 1024),
            1024 * 1024,
            &mut |l: &str| printed.push(String::from(l)),
        );
        printed.push(format!(
            "wast {}: {} passed, {} failed",
            script.name, c.passed, c.failed
        ));
    }
    let quoted: Vec<&str> = WASM
        .lines()
        .filter(|l| l.starts_with("wast commands.wast"))
        .collect();
    assert!(quoted.len() >= 5, "wasm.md quotes the run: {quoted:?}");
    for q in quoted {
        assert!(
            printed.iter().any(|p| p == q),
            "wasm.md quotes {q:?}, which the run does not print"
        );
    }
}

const README: &str = include_str!("../../README.md");

#[test]
fn guarantees_guest_rules_and_readme_quote_the_per_store_limits() {
    use crate::cont::limits::{
        DEFAULT_HEAP_QUOTA, DEFAULT_STACK_LIMIT, GUEST_HEAP_POOL, KERNEL_HEAP_RESERVE,
    };
    let mib = |b: usize| format!("{} MiB", b >> 20);
    let quota = mib(DEFAULT_HEAP_QUOTA);
    let (pool, reserve) = (mib(GUEST_HEAP_POOL), mib(KERNEL_HEAP_RESERVE));
    let stacks = DEFAULT_STACK_LIMIT;
    // The table of guarantees.md, one row per limit.
    line_with(
        GUARANTEES,
        &["| heap quota (", &format!("| {quota} a store |")],
    );
    line_with(
        GUARANTEES,
        &[
            "| guests' pool |",
            &format!("| {pool}, all stores together |"),
            &format!("reserve of {reserve} of the {} MiB heap", HEAP_SIZE >> 20),
        ],
    );
    line_with(
        GUARANTEES,
        &["| stack limit (", &format!("| {stacks} stacks a store |")],
    );
    // The shares the prose names.
    assert_eq!(HEAP_SIZE as usize / DEFAULT_HEAP_QUOTA, 8);
    assert_eq!(GUEST_HEAP_POOL / DEFAULT_HEAP_QUOTA, 6);
    assert!(GUARANTEES.contains("an eighth of the heap and a sixth\nof the guests' pool"));
    assert!(GUARANTEES.contains("six stores at their quota fill\nthe pool, and the seventh"));
    let slots = default_stack_config("slots");
    assert_eq!(slots as usize / stacks, 16);
    assert!(GUARANTEES.contains(&format!("a sixteenth of the pool's {slots} stacks")));
    // What 1000 bytes are charged: the request and the header, as the
    // allocator rounds them.
    const HEAP: &str = include_str!("heap.rs");
    let header = const_in(HEAP, "pub const HEADER_BYTES: usize =") as usize;
    assert!(GUARANTEES.contains(&format!("a {header}-byte header")));
    let inner = core::alloc::Layout::from_size_align(1000 + header, header).unwrap();
    let charged = linked_list_allocator::hole::HoleList::align_layout(inner)
        .unwrap()
        .size();
    assert!(GUARANTEES.contains(&format!("(1000 bytes are charged {charged})")));
    // The guest's side and the README.
    line_with(GUEST_RULES, &[&format!("heap quota ({quota} by default;")]);
    line_with(
        GUEST_RULES,
        &[&format!("its store's limit ({stacks} by default)")],
    );
    assert!(README.contains(&format!("by default {quota} of the kernel\nheap")));
    assert!(README.contains(&format!("and {stacks} stacks;")));
    assert!(README.contains(&format!("keeps an {reserve} reserve")));
    const WASM: &str = include_str!("../../docs/wasm.md");
    line_with(WASM, &[&format!("its store's quota ({quota} by default;")]);
}

#[test]
fn wasm_md_quotes_the_host_threads_stack_cap_and_guarantees_the_fuzzers_default_cases() {
    const WASM: &str = include_str!("../../docs/wasm.md");
    let cap = format!(
        "the budget is capped at {} MiB,",
        crate::wasm::interp::HOST_THREAD_STACK / (1024 * 1024)
    );
    line_with(WASM, &[&cap]);
    let n = crate::fuzz::DEFAULT_CASES;
    let cases = format!("runs {},{:03} cases per reader", n / 1000, n % 1000);
    line_with(GUARANTEES, &[&cases]);
    let default = format!("(the default run has {},{:03};", n / 1000, n % 1000);
    line_with(README, &[&default, "FUZZ_CASES"]);
}

// ----- every test name the docs quote is a real test -----
//
// These read the docs and the sources from disk when the test runs (from
// the workspace root, one level above `CARGO_MANIFEST_DIR`), so a new page
// of `docs/` or a new suite of `tests/` is covered without a line here.

/// A test as its runner names it, one segment a piece:
/// `["cont", "typed", "name"]` for a test of the library's host build or
/// of a host test crate (`kernel/tests/cont/typed.rs`),
/// `["hostile", "name"]` for a test of an in-kernel suite, `["gdb", "name"]`.
type TestPath = Vec<String>;

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the kernel crate sits in the workspace")
        .into()
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

fn is_ident(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// The name `fn` declares on `line` (`pub(crate) unsafe fn name(`), if any.
fn fn_name(line: &str) -> Option<&str> {
    let (before, after) = line.trim().split_once("fn ")?;
    let modifiers = [
        "pub",
        "pub(crate)",
        "pub(super)",
        "const",
        "unsafe",
        "async",
    ];
    let only_modifiers = before
        .split_whitespace()
        .all(|w| modifiers.contains(&w) || w.starts_with("extern"));
    let name = after.split(['(', '<']).next()?;
    (only_modifiers && is_ident(name)).then_some(name)
}

/// The names `for_each_scenario!` (`tests/scenarios.rs`) lists: each
/// harness (the host crate's `cont::scenarios` and the in-kernel `cont`
/// suite) makes one test of each.
fn scenario_names(root: &std::path::Path) -> Vec<String> {
    let source = read(&root.join("tests/scenarios.rs"));
    let (_, list) = source
        .split_once("macro_rules! for_each_scenario {")
        .and_then(|(_, rest)| rest.split_once("$m!("))
        .expect("scenarios.rs defines for_each_scenario!");
    let list = list.split_once(')').map(|(l, _)| l).unwrap_or_default();
    let names: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|n| is_ident(n))
        .map(String::from)
        .collect();
    assert!(names.len() > 10, "for_each_scenario! lists {names:?}");
    names
}

/// Every `#[test]` run on the host: of the kernel crate's host build
/// (`kernel/src`) and of the host test crates (`kernel/tests`, one folder
/// a crate, named first in the path), with its module path: the module of
/// its file, then the inline `mod name {` blocks around it (found by their
/// indentation, as rustfmt leaves it). A module that calls
/// `for_each_scenario!` holds a test of each scenario.
fn host_tests(root: &std::path::Path, scenarios: &[String]) -> Vec<TestPath> {
    let mut tests = Vec::new();
    for dir in ["kernel/src", "kernel/tests"] {
        tests.extend(host_tests_under(&root.join(dir), scenarios));
    }
    tests
}

/// The `#[test]`s of the `.rs` files under `src`, as [`host_tests`] says.
fn host_tests_under(src: &std::path::Path, scenarios: &[String]) -> Vec<TestPath> {
    let mut tests = Vec::new();
    for file in files_under(src, ".rs") {
        let relative = file.strip_prefix(src).expect("a file under its folder");
        let mut module: Vec<String> = relative
            .with_extension("")
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        if matches!(
            module.last().map(String::as_str),
            Some("mod" | "lib" | "main")
        ) {
            module.pop();
        }
        // (indentation of the `mod` line, its name), innermost last.
        let mut inline: Vec<(usize, String)> = Vec::new();
        let mut attributed = false;
        for line in read(&file).lines() {
            let indent = line.len() - line.trim_start().len();
            let text = line.trim();
            if inline
                .last()
                .is_some_and(|(at, _)| *at == indent && text == "}")
            {
                inline.pop();
                continue;
            }
            let here = |inline: &[(usize, String)]| {
                let mut path = module.clone();
                path.extend(inline.iter().map(|(_, m)| m.clone()));
                path
            };
            if let Some(name) = text
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .strip_prefix("mod ")
                .and_then(|rest| rest.strip_suffix(" {"))
            {
                inline.push((indent, name.into()));
            } else if text.contains("for_each_scenario!(") && !text.starts_with("//") {
                for s in scenarios {
                    let mut path = here(&inline);
                    path.push(s.clone());
                    tests.push(path);
                }
            }
            if text == "#[test]" {
                attributed = true;
            } else if attributed && let Some(name) = fn_name(text) {
                let mut path = here(&inline);
                path.push(name.into());
                tests.push(path);
                attributed = false;
            } else if text.ends_with('{') || text.ends_with(';') {
                // Not a function: the attribute was on something else.
                // (Attributes, even over several lines, end otherwise.)
                attributed = false;
            }
        }
    }
    tests
}

/// Every test of the in-kernel suites: the names each `tests/*.rs` lists
/// in its `suite!("name", [...])` (the last segment of each path, as
/// `testing::last_segment` names it), as `[suite, name]`. A list built by
/// a macro from `for_each_scenario!` (the `cont` suite) holds the
/// scenarios too.
fn kernel_suite_tests(root: &std::path::Path, scenarios: &[String]) -> Vec<TestPath> {
    let mut tests = Vec::new();
    for file in files_under(&root.join("tests"), ".rs") {
        let source = read(&file);
        let Some((_, call)) = source.split_once("suite!(") else {
            continue; // a GDB target, not a suite
        };
        let suite = call
            .split('"')
            .nth(1)
            .expect("suite! names its suite first");
        let list = call.split_once('[').map(|(_, l)| l).unwrap_or_default();
        let list = list.split_once(']').map(|(l, _)| l).unwrap_or_default();
        let mut names: Vec<String> = list
            .lines()
            .map(|l| l.split("//").next().unwrap_or_default())
            .flat_map(|l| l.split([',', ' ']))
            .map(|t| t.rsplit("::").next().unwrap_or_default())
            .filter(|t| is_ident(t) && *t != "machine")
            .map(String::from)
            .collect();
        if list.contains('$') {
            names.extend(scenarios.iter().cloned());
        }
        for name in names {
            tests.push(alloc::vec![suite.into(), name]);
        }
    }
    tests
}

/// The tests the runner prints besides the suites': the GDB test's (the
/// names `test_session.py` checks), and the lines `test suite::name` that
/// `qemu-run.sh` and `builder` write out whole (the `.wast` run, the public
/// surface) or build from a list of `name|item` lines (the surface checks).
fn runner_tests(root: &std::path::Path) -> Vec<TestPath> {
    let mut tests = Vec::new();
    let gdb = read(&root.join("kernel/gdb/test_session.py"));
    let listed = gdb
        .split_once("for test in [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| list)
        .expect("test_session.py lists its tests");
    let checked = gdb
        .split("check(\"")
        .skip(1)
        .filter_map(|rest| rest.split_once('"'))
        .map(|(name, _)| name);
    for name in listed
        .split([',', '\n', ' '])
        .filter(|n| is_ident(n))
        .chain(checked)
    {
        tests.push(alloc::vec!["gdb".into(), name.into()]);
    }
    let mut runners = alloc::vec![root.join("qemu-run.sh")];
    runners.extend(files_under(&root.join("builder/src"), ".rs"));
    for file in runners {
        let source = read(&file);
        for rest in source.split("test ").skip(1) {
            let word: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if let Some((suite, name)) = word.split_once("::")
                && is_ident(suite)
                && is_ident(name)
            {
                tests.push(alloc::vec![suite.into(), name.into()]);
            }
        }
        let surface = source.contains("test surface::$test");
        for line in source.lines().filter(|_| surface) {
            if let Some((name, _)) = line.split_once('|')
                && is_ident(name)
            {
                tests.push(alloc::vec!["surface".into(), name.into()]);
            }
        }
    }
    tests
}

/// A test name as a doc quotes it: `tests/cont.rs::name` is written
/// `["cont", "name"]`; `…` before the name says the real name ends with
/// what is written, `…` after it that it starts with it.
#[derive(Debug)]
struct Quote {
    path: Vec<String>,
    abbreviated_before: bool,
    abbreviated_after: bool,
}

fn words(name: &str) -> usize {
    name.trim_matches('_').split('_').count()
}

/// What counts as a quoted test name, in backticks (or after `test ` at
/// the start of a line of quoted runner output):
/// - an abbreviation, `…name`, `name…` or `…name…`;
/// - a test by its file, `tests/suite.rs::name`;
/// - a path through a test module, `x_tests::name`, `x::tests::name`,
///   `scenarios::name`, or one that names a module of tests only;
/// - `suite::name` where `suite` is a suite the runner prints or a host
///   test crate (`cont_hostile`, a folder of `kernel/tests`), maybe with
///   modules between (`cont_hostile::safe_code::name`), and the name has
///   five words or more (`stacks::touch_stack` is a function);
/// - a bare name of five words or more that no `fn` of the sources
///   declares (test names state a behaviour; shorter bare names are left
///   alone).
///
/// The two last rules skip functions: `quoted_test` is given the suites
/// and a test for the names of non-test `fn`s.
fn quoted_test(token: &str, suites: &[&str], is_other_fn: &dyn Fn(&str) -> bool) -> Option<Quote> {
    let abbreviated_before = token.starts_with('…');
    let abbreviated_after = token.ends_with('…');
    let core = token.trim_start_matches('…').trim_end_matches('…');
    let (by_file, core) = match core.strip_prefix("tests/") {
        Some(rest) => {
            let (stem, name) = rest.split_once(".rs::")?;
            (true, format!("{stem}::{name}"))
        }
        None => (false, core.into()),
    };
    let path: Vec<String> = core.split("::").map(String::from).collect();
    let lowercase = |s: &String| is_ident(s) && !s.bytes().any(|b| b.is_ascii_uppercase());
    if !path.iter().all(lowercase) {
        return None;
    }
    let name = path.last()?;
    let through_tests = path[..path.len() - 1]
        .iter()
        .any(|m| m == "tests" || m.ends_with("_tests") || m == "scenarios");
    let quote = Quote {
        path: path.clone(),
        abbreviated_before,
        abbreviated_after,
    };
    let counts = abbreviated_before
        || abbreviated_after
        || by_file
        || through_tests
        || (path.len() == 1 && name.ends_with("_tests"))
        || (path.len() >= 2 && suites.contains(&path[0].as_str()) && words(name) >= 5)
        || (path.len() == 1 && words(name) >= 5 && !is_other_fn(name));
    counts.then_some(quote)
}

/// Whether `quote` names one of `tests` (or, unabbreviated, a module that
/// holds some of them): its segments are a run of some test's path, and
/// an abbreviated last segment matches that test's name as it says.
fn names_a_test(quote: &Quote, tests: &[TestPath]) -> bool {
    let q = &quote.path;
    if !quote.abbreviated_before && !quote.abbreviated_after {
        return tests
            .iter()
            .any(|t| t.windows(q.len()).any(|w| w == q.as_slice()));
    }
    let (modules, written) = q.split_at(q.len() - 1);
    let written = written[0].as_str();
    tests.iter().any(|t| {
        let name = t.last().map(String::as_str).unwrap_or_default();
        let fits = match (quote.abbreviated_before, quote.abbreviated_after) {
            (true, true) => name.contains(written),
            (true, false) => name.ends_with(written),
            _ => name.starts_with(written),
        };
        let above = &t[..t.len() - 1];
        fits && above.len() >= modules.len() && above.ends_with(modules)
    })
}

/// The backticked spans of `line`, and a quoted runner line's test name
/// (`test scenarios::name ... ok`).
fn spans(line: &str) -> Vec<&str> {
    let mut found: Vec<&str> = line.split('`').skip(1).step_by(2).collect();
    if let Some(rest) = line.strip_prefix("test ")
        && let Some((name, _)) = rest.split_once(" ... ")
    {
        found.push(name);
    }
    found
}

#[test]
fn every_test_name_the_docs_and_the_readme_quote_is_a_real_test() {
    let root = workspace_root();
    let scenarios = scenario_names(&root);
    let mut tests = host_tests(&root, &scenarios);
    tests.extend(kernel_suite_tests(&root, &scenarios));
    tests.extend(runner_tests(&root));
    let mut suites: Vec<String> = tests
        .iter()
        .filter(|t| t.len() == 2)
        .map(|t| t[0].clone())
        .collect();
    // The host test crates, each a folder of `kernel/tests`.
    let crates = std::fs::read_dir(root.join("kernel/tests")).expect("kernel/tests");
    suites.extend(
        crates
            .filter_map(Result::ok)
            .filter(|e| e.path().is_dir())
            .map(|e| e.file_name().to_string_lossy().into_owned()),
    );
    suites.sort();
    suites.dedup();
    let suites: Vec<&str> = suites.iter().map(String::as_str).collect();
    // The names every `fn` of the sources declares outside a test list.
    let mut fns = Vec::new();
    for dir in ["kernel/src", "kernel/tests", "tests", "builder/src", "labs"] {
        for file in files_under(&root.join(dir), ".rs") {
            fns.extend(read(&file).lines().filter_map(fn_name).map(String::from));
        }
    }
    let is_test = |n: &str| tests.iter().any(|t| t.last().is_some_and(|l| l == n));
    let is_other_fn = |n: &str| !is_test(n) && fns.iter().any(|f| f == n);

    let mut docs = files_under(&root.join("docs"), ".md");
    docs.push(root.join("README.md"));
    let (mut quoted, mut wrong) = (0, Vec::new());
    for doc in docs {
        let shown = format!("{}", doc.strip_prefix(&root).unwrap_or(&doc).display());
        let text = read(&doc);
        // A page that teaches writing a test (`write-your-own.md`) shows
        // the run of the test it writes out in its own code: a test too.
        let own: Vec<&str> = text
            .split("```")
            .skip(1)
            .step_by(2)
            .flat_map(str::lines)
            .filter_map(fn_name)
            .collect();
        for (n, line) in text.lines().enumerate() {
            for token in spans(line) {
                let Some(quote) = quoted_test(token, &suites, &is_other_fn) else {
                    continue;
                };
                quoted += 1;
                let its_own = !quote.abbreviated_before
                    && !quote.abbreviated_after
                    && quote.path.last().is_some_and(|n| own.contains(&n.as_str()));
                if !its_own && !names_a_test(&quote, &tests) {
                    wrong.push(format!("{shown}:{}: `{token}`", n + 1));
                }
            }
        }
    }
    assert!(quoted > 50, "the docs quote {quoted} test names");
    assert!(
        wrong.is_empty(),
        "{} quoted test names name no test (host tests, the suites of tests/, the GDB test, \
         the runner's own lines):\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

// ----- every kernel instruction count is the bench's -----

const PERFORMANCE: &str = include_str!("../../docs/performance.md");

/// `doc` with every run of white space (line breaks and the indentation
/// of list items included) made one space, so a quote may wrap anywhere.
fn flat(doc: &str) -> String {
    doc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The figures of the table "In the kernel" of `docs/performance.md`,
/// which is what `./qemu-run.sh bench` printed last (the bench boots a
/// kernel under QEMU, so no host test can run it): the one source every
/// other quote of a kernel instruction count is checked against.
struct KernelBench {
    dynamic: u32,
    typed: u32,
    switch: u32,
    typed_switch: u32,
    create: u32,
    bind: u32,
    trap: u32,
    wasm: u32,
}

impl KernelBench {
    #[track_caller]
    fn from_performance_md() -> Self {
        let figure = |row: &str| -> u32 {
            let line = line_with(PERFORMANCE, &[row]);
            let cell = line.split('|').nth(2).unwrap_or_default().trim();
            cell.parse()
                .unwrap_or_else(|_| panic!("performance.md: {row:?} has no figure: {line}"))
        };
        Self {
            dynamic: figure("| resume + suspend round trip, dynamic door (`Store::resume`) |"),
            typed: figure("| the same through the typed door (`Cont::resume`"),
            switch: figure("| switch (half of a ping-pong exchange) |"),
            typed_switch: figure("| the same exchange through the typed door (`Tag::switch`"),
            create: figure("| `cont.new` + resume to the end + drop |"),
            bind: figure("| `cont.bind` of one value |"),
            trap: figure("| a trap, from `resume` to the `Err` in the kernel |"),
            wasm: figure("| a Wasm `resume` + `suspend` of a generator run by the interpreter"),
        }
    }

    fn all(&self) -> [u32; 8] {
        [
            self.dynamic,
            self.typed,
            self.switch,
            self.typed_switch,
            self.create,
            self.bind,
            self.trap,
            self.wasm,
        ]
    }
}

#[test]
fn performance_md_quotes_its_own_bench_table_in_its_sections_and_changelog() {
    let b = KernelBench::from_performance_md();
    let page = flat(PERFORMANCE);
    assert!(
        page.contains("The table is what `./qemu-run.sh bench` printed last"),
        "performance.md says where its table comes from"
    );
    for quoted in [
        format!("### Create + run + drop: {}", b.create),
        format!("### A trap: {}", b.trap),
        format!(
            "The listing is of the build that measures {} (the table above)",
            b.typed
        ),
        format!("the figure, {}, is the median less the 4", b.typed),
        format!("The switch ({}) does the round trip's work once", b.switch),
        format!("The typed door's exchange ({}) skips", b.typed_switch),
    ] {
        assert!(page.contains(&quoted), "performance.md lacks {quoted:?}");
    }
    // The changelog's last row is the build the table was measured on.
    let (_, changelog) = PERFORMANCE
        .split_once("## Changelog")
        .expect("performance.md has a changelog");
    let last = changelog
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .last()
        .unwrap_or_default();
    let row = format!(
        "| {} (typed {}) | {} | {} | {} | {} |",
        b.dynamic, b.typed, b.switch, b.create, b.bind, b.trap
    );
    assert!(
        last.ends_with(&row),
        "the changelog's last row ends {row:?}: {last}"
    );
}

#[test]
fn every_kernel_instruction_count_the_docs_quote_is_a_figure_of_the_bench_table() {
    let b = KernelBench::from_performance_md();
    let root = workspace_root();
    let mut docs = files_under(&root.join("docs"), ".md");
    docs.push(root.join("README.md"));
    docs.retain(|d| !d.ends_with("docs/performance.md"));
    let mut wrong = Vec::new();
    for doc in &docs {
        let shown = format!("{}", doc.strip_prefix(&root).unwrap_or(doc).display());
        // `N instructions` with N of 20 or more, across a line break too:
        // the smallest figure of the bench is above that, and smaller
        // counts are of single steps (`four pop`s), not of the bench.
        let text = read(doc);
        let words: Vec<(usize, &str)> = text
            .lines()
            .enumerate()
            .flat_map(|(n, l)| l.split_whitespace().map(move |w| (n + 1, w)))
            .collect();
        for pair in words.windows(2) {
            let ((line, number), (_, next)) = (pair[0], pair[1]);
            let number = number.trim_start_matches(['(', '*']);
            if next.starts_with("instructions")
                && let Ok(n) = number.parse::<u32>()
                && n >= 20
                && !b.all().contains(&n)
            {
                wrong.push(format!("{shown}:{line}: {n} instructions"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "instruction counts that are no figure of performance.md's table \
         (update the doc, or the table with what `./qemu-run.sh bench` prints):\n{}",
        wrong.join("\n")
    );
    // The quotes that pair two figures (the tour's has its own test).
    let continuations = flat(CONTINUATIONS);
    let quoted = format!(
        "round trip {} instructions against the dynamic door's {}",
        b.typed, b.dynamic
    );
    assert!(
        continuations.contains(&quoted),
        "continuations.md lacks {quoted:?}"
    );
    let wasm = flat(include_str!("../../docs/wasm.md"));
    let quoted = format!(
        "it was {} instructions, next to {} for the runtime's own resume + suspend round trip",
        b.wasm, b.dynamic
    );
    assert!(wasm.contains(&quoted), "wasm.md lacks {quoted:?}");
}
