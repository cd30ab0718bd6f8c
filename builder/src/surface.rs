//! The public surface of the kernel crate against its snapshot,
//! `docs/public-api.txt`: the mode `./qemu-run.sh public-api [--update]`
//! and the `surface::` lines of `./qemu-run.sh test`.
//!
//! Why a check: a guest can call every public item, so each new one must
//! be a decision (docs/guarantees.md, "The public surface"). The surface
//! is what rustdoc's JSON shows for the crate as built for the kernel
//! target (so the kernel-only modules are in it), listed one item a line
//! by `public_api.rs`; about 2 s, warm or after a change to the kernel.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use crate::kbuild::Env;
use crate::testing::Counts;

/// Items that must never be on the surface, one a line, `test|item`: for
/// each, the line `test surface::$test ... ok`, or `FAILED` when the item
/// (matched as a substring of the listing) is on it. Each name says what
/// a guest could do with the item (issue 17).
const FORBIDDEN: &str = "\
a_guest_cannot_reinitialise_the_heap| fn kernel::heap::init(
a_guest_cannot_reload_the_gdt| fn kernel::gdt::init(
a_guest_cannot_reload_the_idt| fn kernel::interrupts::init(
a_guest_cannot_recut_the_stack_pool_from_scratch| fn kernel::stacks::init(
a_guest_cannot_swap_the_symbol_table| fn kernel::symbols::init(
a_guest_cannot_rebuild_the_page_tables| fn kernel::paging::init(
a_guest_cannot_move_the_kernel_stack_record| fn kernel::paging::record_kernel_stack(
a_guest_cannot_refill_the_frame_allocator| fn kernel::frames::init_from_boot_map(
a_guest_cannot_reach_the_frame_allocators_lock| kernel::frames::FRAMES
a_guest_cannot_serve_a_demand_fault_itself| fn kernel::stacks::on_page_fault(
ending_qemu_needs_the_machine| fn kernel::qemu::exit(
halting_needs_the_machine| fn kernel::qemu::halt_forever(
the_fatal_path_is_the_kernels_own| fn kernel::fatal::fatal(
installing_a_fatal_hook_needs_the_machine|pub fn kernel::fatal::set_fatal_hook(hook
a_guest_cannot_install_a_fault_catcher| fn kernel::fatal::set_fault_catcher(
freeing_a_frame_is_never_a_safe_call|pub fn kernel::frames::free_frame(
taking_a_frame_needs_the_machine|pub fn kernel::frames::allocate_frame()
probing_a_fault_is_never_a_safe_call|pub fn kernel::interrupts::probe<
walking_a_backtrace_from_a_made_up_frame_pointer_is_never_a_safe_call|pub fn kernel::trap_report::kernel_backtrace(
";

/// The snapshot's path.
fn snapshot(env: &Env) -> PathBuf {
    env.root.join("docs/public-api.txt")
}

/// rustdoc's JSON of the kernel crate for the kernel target, on the pinned
/// nightly; its messages go to `target/public-api.log`. Returns the JSON's
/// path.
fn rustdoc_json(env: &Env) -> Result<PathBuf, ()> {
    let log = env.target.join("public-api.log");
    let status = std::fs::File::create(&log).and_then(|file| {
        Command::new("cargo")
            .args([
                "rustdoc",
                "--quiet",
                "-Zbuild-std=core,compiler_builtins,alloc",
                "-Zbuild-std-features=compiler-builtins-mem",
                "-Zjson-target-spec",
                "--target",
                "x86_64-target.json",
                "-p",
                "kernel",
                "--lib",
                "--release",
                "--",
                "-Zunstable-options",
                "--output-format",
                "json",
            ])
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(file)
            .status()
    });
    match status {
        Ok(s) if s.success() => Ok(env.kernels.join("../doc/kernel.json")),
        _ => Err(()),
    }
}

/// The last `n` lines of rustdoc's messages, on standard output.
fn show_log(env: &Env, n: usize) {
    let text = std::fs::read_to_string(env.target.join("public-api.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for line in &lines[lines.len().saturating_sub(n)..] {
        println!("{line}");
    }
}

/// The surface listed in rustdoc's JSON at `json`, one item a line.
pub fn surface_of(json: &Path) -> Result<Vec<String>, String> {
    let bytes = std::fs::read(json).map_err(|e| format!("{}: {e}", json.display()))?;
    let doc = serde_json::from_slice(&bytes).map_err(|e| format!("JSON: {e}"))?;
    crate::public_api::surface(&doc)
}

/// How `new` differs from the listing `old`: `- item` for each item gone,
/// then `+ item` for each one added, each group sorted.
pub fn diff(old: &str, new: &[String]) -> Vec<String> {
    let old: BTreeSet<&str> = old.lines().collect();
    let new: BTreeSet<&str> = new.iter().map(String::as_str).collect();
    let gone = old.difference(&new).map(|l| format!("- {l}"));
    let added = new.difference(&old).map(|l| format!("+ {l}"));
    gone.chain(added).collect()
}

/// `./qemu-run.sh public-api [--update]`.
pub fn mode(env: &Env, update: bool) -> ExitCode {
    let Ok(json) = rustdoc_json(env) else {
        show_log(env, 20);
        return ExitCode::FAILURE;
    };
    let lines = match surface_of(&json) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("builder public-api: {e}");
            return ExitCode::FAILURE;
        }
    };
    let file = snapshot(env);
    if update {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        if let Err(e) = std::fs::write(&file, text) {
            eprintln!("builder public-api: {}: {e}", file.display());
            return ExitCode::FAILURE;
        }
        println!(
            "public-api: {} items written to docs/public-api.txt",
            lines.len()
        );
        return ExitCode::SUCCESS;
    }
    let old = std::fs::read_to_string(&file).unwrap_or_default();
    let differs = diff(&old, &lines);
    if differs.is_empty() {
        println!(
            "public-api: the surface matches docs/public-api.txt ({} items)",
            old.lines().count()
        );
        return ExitCode::SUCCESS;
    }
    for line in differs {
        println!("{line}");
    }
    println!(
        "public-api: differs from docs/public-api.txt (- listed, + new); accept with --update"
    );
    ExitCode::FAILURE
}

/// The `surface::` lines of `./qemu-run.sh test`: one per forbidden item,
/// and one for the whole listing against the snapshot. The listing is
/// left in `target/public-api.txt`.
pub fn test(env: &Env, c: &mut Counts) {
    let name = "test surface::public_api_matches_the_snapshot";
    let Ok(json) = rustdoc_json(env) else {
        show_log(env, 10);
        return c.line(
            name,
            Err("rustdoc could not document the kernel crate".into()),
        );
    };
    let lines = match surface_of(&json) {
        Ok(l) => l,
        Err(e) => return c.line(name, Err(format!("the JSON could not be read: {e}"))),
    };
    let listing: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let _ = std::fs::write(env.target.join("public-api.txt"), &listing);
    for (test, item) in FORBIDDEN.lines().filter_map(|l| l.split_once('|')) {
        let found = lines.iter().find(|l| l.contains(item));
        let verdict = match found {
            Some(l) => Err(format!("the surface has \"{l}\"")),
            None => Ok(()),
        };
        c.line(&format!("test surface::{test}"), verdict);
    }
    let old = std::fs::read_to_string(snapshot(env)).unwrap_or_default();
    let differs = diff(&old, &lines);
    if differs.is_empty() {
        return c.line(name, Ok(()));
    }
    let shown: String = differs.iter().take(20).map(|l| format!("{l};")).collect();
    c.line(
        name,
        Err(format!(
            "{} lines differ from docs/public-api.txt (- listed, + new; accept with ./qemu-run.sh public-api --update): {shown}",
            differs.len()
        )),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_forbidden_line_is_a_test_name_and_an_item() {
        let pairs: Vec<(&str, &str)> = FORBIDDEN
            .lines()
            .map(|l| l.split_once('|').expect("a bar on every line"))
            .collect();
        assert_eq!(pairs.len(), 19);
        for (test, item) in pairs {
            assert!(test.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert!(item.contains("kernel::"), "{item}");
        }
    }

    #[test]
    fn a_diff_lists_items_gone_then_items_added() {
        let new = ["pub fn a()".to_string(), "pub fn c()".to_string()];
        assert_eq!(
            diff("pub fn a()\npub fn b()\n", &new),
            ["- pub fn b()", "+ pub fn c()"]
        );
    }

    #[test]
    fn the_same_items_in_another_order_do_not_differ() {
        let new = ["pub fn b()".to_string(), "pub fn a()".to_string()];
        assert!(diff("pub fn a()\npub fn b()\n", &new).is_empty());
    }
}
