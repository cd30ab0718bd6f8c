//! Figures of the spec, the boot, fault and debugging pages and the GDB
//! extension: stack offsets, control effects, memory regions, fatal
//! vectors and trap sizes, checked against the kernel's constants.

use super::*;

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
    let memories = line_with(
        BOOT,
        &[&grouped_hex(WASM_MEMORIES_START), "Wasm linear memories"],
    );
    assert!(
        memories.contains(&grouped_hex(WASM_MEMORIES_START + WASM_MEMORIES_SIZE)),
        "{memories}"
    );
    assert!(
        memories.contains(&format!("{} TiB", WASM_MEMORIES_SIZE >> 40)),
        "{memories}"
    );
}

#[test]
fn boot_md_quotes_the_linear_memory_slots_and_their_count() {
    let slots = WASM_MEMORIES_SIZE / WASM_MEMORY_SLOT_SIZE;
    let gib = WASM_MEMORY_SLOT_SIZE >> 30;
    let first = (WASM_MEMORIES_START.as_u64() >> 39) & 0x1ff;
    let last = ((WASM_MEMORIES_START + (WASM_MEMORIES_SIZE - 1)).as_u64() >> 39) & 0x1ff;
    line_with(
        BOOT,
        &[&format!("{slots} slots of {gib} GiB: memory | guard")],
    );
    line_with(BOOT, &["level-4 entries", "| Wasm linear memories"]);
    line_with(BOOT, &[&format!("{first}..{last}")]);
    line_with(BOOT, &[&format!("into {slots} slots of {gib} GiB, one")]);
    line_with(BOOT, &[&format!(" {:#x} +", WASM_MEMORIES_START.as_u64())]);
    line_with(
        BOOT,
        &[&format!(
            " {:#x} +",
            (WASM_MEMORIES_START + WASM_MEMORIES_SIZE).as_u64()
        )],
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
        line.contains(&format!("`STACK_CACHE` ({})", kernel::cont::STACK_CACHE)),
        "{line}"
    );
}

/// The vectors whose handler in `interrupts.rs` ends the boot whatever code
/// faulted: every `always_fatal!` handler, and the double-fault and
/// machine-check handlers, which are written out.
fn always_fatal_vectors_in_the_code() -> Vec<String> {
    const INTERRUPTS: &str = include_str!("../../src/interrupts.rs");
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
    const INTERRUPTS: &str = include_str!("../../src/interrupts.rs");
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
        format!("REVISION_STORE_SHIFT = {}", revision_store_shift()),
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

#[test]
fn docs_quote_how_far_before_the_plain_landing_the_effect_landing_is() {
    let n = EFFECT_LANDING_BEFORE;
    let performance = include_str!("../../../docs/performance.md");
    for (doc, text, quote) in [
        (
            "spec.md",
            SPEC,
            format!("*effect landing*, {n} bytes before it"),
        ),
        ("tour.md", TOUR, format!("and {n} bytes before it one")),
        (
            "glossary.md",
            GLOSSARY,
            format!("`EFFECT_LANDING_BEFORE` ({n}) bytes"),
        ),
        (
            "continuations.md",
            CONTINUATIONS,
            format!("(`EFFECT_LANDING_BEFORE`, {n} bytes before"),
        ),
        ("continuations.md", CONTINUATIONS, format!("`sub rax, {n}`")),
        (
            "performance.md",
            performance,
            format!("and {n} bytes before it an effect landing"),
        ),
    ] {
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains(&quote), "{doc} lacks {quote:?}");
    }
}
