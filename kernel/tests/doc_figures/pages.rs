//! Figures of the tour, the glossary, the guest rules, "write your own",
//! the Wasm page and the README: the numbers a reader meets first, checked
//! against the constants they quote.

use super::*;

#[test]
fn tour_and_glossary_quote_the_ist_stacks_of_gdt_rs() {
    const GDT: &str = include_str!("../../src/gdt.rs");
    const INTERRUPTS: &str = include_str!("../../src/interrupts.rs");
    const TIMER: &str = include_str!("../../src/timer.rs");
    let count = const_in(GDT, "pub const IST_COUNT: usize =");
    let size = const_in(GDT, "pub const IST_STACK_SIZE: usize =");
    // Every IST slot is named by exactly one gate (the exceptions' in
    // interrupts.rs, the tick's in timer.rs).
    assert_eq!(
        (INTERRUPTS.matches(".set_stack_index(gdt::").count()
            + TIMER.matches(".set_stack_index(gdt::").count()) as u64,
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
    use kernel::cont::{MAX_VALUES, STACK_CACHE, ValRaw};
    let shift = revision_store_shift();
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
            &format!("in the low {shift} bits"),
            &format!("in the top {}", 64 - shift),
        ],
    );
    line_with(
        GLOSSARY,
        &[
            "| **ValRaw**",
            &format!("One {}-byte value slot", core::mem::size_of::<ValRaw>()),
        ],
    );
    assert!(TOUR.contains(&format!("the top {} bits of its revision", 64 - shift)));
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
    const STACKS: &str = include_str!("../../src/stacks.rs");
    let stack = default_stack_config("stack_size");
    // `guard_size: Size4KiB::SIZE as usize`: one 4 KiB page.
    let guard = kernel::cont::PAGE_SIZE as u64;
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
    const PERFORMANCE: &str = include_str!("../../../docs/performance.md");
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
    // "corosensei N, context M": the figure before ", context".
    let corosensei = line_with(PERFORMANCE, &[", context 60"])
        .split(", context 60")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .unwrap_or_default();
    let quoted = format!("{host_typed} through the typed door against corosensei's {corosensei}");
    assert!(TOUR.contains(&quoted), "tour.md lacks {quoted:?}");
}

#[test]
fn wasm_md_quotes_the_interpreters_stack_budget_reserve_and_memory_limit() {
    use kernel::cont::limits::DEFAULT_MEMORY_LIMIT;
    use kernel::wasm::instance::{DEFAULT_STACK_BUDGET, STACK_RESERVE};
    use kernel::wasm::memory::FRAME_RESERVE;
    const WASM: &str = include_str!("../../../docs/wasm.md");
    let budget = format!(
        "may use {} KiB of the caller's",
        DEFAULT_STACK_BUDGET / 1024
    );
    line_with(WASM, &[&budget]);
    let reserve = format!("all of its stack but the {} KiB kept", STACK_RESERVE / 1024);
    line_with(WASM, &[&reserve]);
    let limit = format!("{} GiB by default", DEFAULT_MEMORY_LIMIT >> 30);
    line_with(WASM, &[&limit]);
    let reserve = format!(
        "than {FRAME_RESERVE} free frames (`memory::FRAME_RESERVE`, {} MiB)",
        FRAME_RESERVE * 4 / 1024
    );
    line_with(WASM, &[&reserve]);
    let slots = format!(
        "{} slots, so {0} memories at once",
        WASM_MEMORIES_SIZE / WASM_MEMORY_SLOT_SIZE
    );
    line_with(WASM, &[&slots]);
}

#[test]
fn wasm_md_quotes_lines_our_wast_script_really_prints() {
    use kernel::wast::{bundle, run};
    const WASM: &str = include_str!("../../../docs/wasm.md");
    // `kernel/wast/`, packed as the kernel's build script packs it.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../wast");
    let packed = ::bundle::pack::pack_dir(&dir).unwrap_or_else(|e| panic!("{e}"));
    let b = bundle::decode(&::bundle::encode(&packed)).expect("a well-formed bundle");
    let mut printed = Vec::new();
    for script in &b.scripts {
        let c = run::run_script(
            script,
            kernel::cont::Store::new(kernel::cont::MmapStacks::new(), 1024 * 1024),
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

#[test]
fn guarantees_guest_rules_and_readme_quote_the_per_store_limits() {
    use kernel::cont::limits::{
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
    const HEAP: &str = include_str!("../../src/heap.rs");
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
    let memory = format!(
        "| {} GiB a memory |",
        kernel::cont::limits::DEFAULT_MEMORY_LIMIT >> 30
    );
    let reserve = format!(
        "fewer than {} free frames",
        kernel::wasm::memory::FRAME_RESERVE
    );
    line_with(
        GUARANTEES,
        &["| memory limit (`Store::memory_limit`", &memory, &reserve],
    );
}

#[test]
fn wasm_md_quotes_the_host_threads_stack_cap_and_guarantees_the_fuzzers_default_cases() {
    const WASM: &str = include_str!("../../../docs/wasm.md");
    let cap = format!(
        "the budget is capped at {} MiB,",
        kernel::wasm::interp::HOST_THREAD_STACK / (1024 * 1024)
    );
    line_with(WASM, &[&cap]);
    let n = const_in(include_str!("../fuzz.rs"), "const DEFAULT_CASES: u64 =");
    let cases = format!("runs {},{:03} cases per reader", n / 1000, n % 1000);
    line_with(GUARANTEES, &[&cases]);
    let default = format!("(the default run has {},{:03};", n / 1000, n % 1000);
    line_with(README, &[&default, "FUZZ_CASES"]);
}

#[test]
fn tour_quotes_the_demo_lines_of_the_default_stack_pool() {
    let stack = default_stack_config("stack_size");
    let slots = default_stack_config("slots");
    // `Config::DEFAULT`'s guard is one page.
    let slot = stack + 4096;
    let start = CONT_STACKS_START.as_u64();
    let tour = TOUR.split_whitespace().collect::<Vec<_>>().join(" ");
    for quoted in [
        format!(
            "`stacks: {slots} slots of {} KiB + 4 KiB guard at {start:#x}, mapped on demand`",
            stack >> 10
        ),
        format!("`{start:#x} + (N+1) * {slot:#x}`"),
        format!("below stack 0's top, `{:#x}`", start + slot),
    ] {
        assert!(tour.contains(&quoted), "tour.md lacks {quoted:?}");
    }
}

/// `text` with every run of whitespace one space: a figure quoted across
/// a line break is found as written.
fn flattened(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn interrupts_md_and_the_readme_quote_the_stress_clocks_distances_and_suites() {
    const STRESS: &str = include_str!("../../src/stress.rs");
    const RUN: &str = include_str!("../../../builder/src/run.rs");
    const INTERRUPTS: &str = include_str!("../../../docs/interrupts.md");
    let micros = |name: &str| -> u64 {
        line_with(STRESS, &[&format!("pub const {name}: Duration")])
            .split("from_micros(")
            .nth(1)
            .and_then(|rest| rest.split(')').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("stress::{name} is not Duration::from_micros(N)"))
    };
    let (shortest, longest) = (micros("SHORTEST"), micros("LONGEST"));
    let interrupts = flattened(INTERRUPTS);
    let readme = flattened(README);
    // Under -icount shift=0 a microsecond is a thousand instructions.
    let quoted = format!(
        "({shortest} and {longest} µs: {shortest} 000 to {longest} 000 instructions under `-icount`)"
    );
    assert!(interrupts.contains(&quoted), "interrupts.md: {quoted}");
    let quoted = format!("every {shortest} to {longest} thousand instructions");
    assert!(readme.contains(&quoted), "README: {quoted}");
    // The suites `builder` runs in stress mode, as the pages list them.
    let suites: Vec<String> = line_with(RUN, &["pub const STRESS_SUITES: &[&str] = &["])
        .split('[')
        .nth(2)
        .expect("STRESS_SUITES' list")
        .split(['"', ',', ']', ';', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| format!("`{w}`"))
        .collect();
    let (last, rest) = suites.split_last().expect("some stress suites");
    let listed = format!("{} and {last}", rest.join(", "));
    assert!(interrupts.contains(&listed), "interrupts.md: {listed}");
    assert!(readme.contains(&listed), "README: {listed}");
}
