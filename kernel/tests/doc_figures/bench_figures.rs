//! Every kernel instruction count the docs quote is a figure of
//! `docs/performance.md`'s bench table, and that page agrees with itself.

use super::*;

const PERFORMANCE: &str = include_str!("../../../docs/performance.md");

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
    tick: u32,
    deferred_tick: u32,
    preempt: u32,
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
            tick: figure("| a timer tick, taken and counted"),
            deferred_tick: figure("| a timer tick deferred to a lock's release"),
            preempt: figure("| a preemption, from the tick"),
        }
    }

    fn all(&self) -> [u32; 11] {
        [
            self.dynamic,
            self.typed,
            self.switch,
            self.typed_switch,
            self.create,
            self.bind,
            self.trap,
            self.wasm,
            self.tick,
            self.deferred_tick,
            self.preempt,
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
        // The lever of preemption's sections, with the figures it reached.
        format!("240 with the two copies ({} today)", b.create),
        format!("the trap 872 -> 853 ({} today), which", b.trap),
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
    let wasm = flat(include_str!("../../../docs/wasm.md"));
    let quoted = format!(
        "it was {} instructions, next to {} for the runtime's own resume + suspend round trip",
        b.wasm, b.dynamic
    );
    assert!(wasm.contains(&quoted), "wasm.md lacks {quoted:?}");
}
