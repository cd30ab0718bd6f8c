//! The floors of `kernel/src/cont/`: every file imports only from its own
//! floor or the floors below it (`cont/mod.rs` draws them).
//!
//! A reader takes the continuation core one floor at a time, from the
//! bottom: `values/` (plain values), `machine/` (stacks, the switch, the
//! entry into a guest), `runtime/` (the store and its operations), `doors/`
//! (the typed and raw doors). That only works if no file reaches up, so
//! this test reads the sources (with `std::fs`, from `CARGO_MANIFEST_DIR`),
//! gives each file the floor of its folder, resolves every path it names
//! through `super::` or `crate::cont::` to the floor of the module it names,
//! and fails naming the file and line of each reference to a higher floor.
//! The file at the top of `cont/` (`mod.rs`, which draws the floors)
//! stands above every floor and may name anything.
//!
//! It also keeps the kernel's stack pool out of the core: no file of a
//! floor names `crate::stacks` or the kernel's trap report, which import
//! the core (the circle `stacks.rs` <-> `cont` is gone and stays gone).
//!
//! Code after a `#[cfg(test)]` line (or a `cfg` naming `test`) that opens
//! a `mod tests {` is a file's
//! own unit tests, which may use anything, and is not read; neither are
//! comments.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;
use std::{assert, assert_eq, format, panic};

/// The floors, lowest first: the folder each is.
const FLOORS: [&str; 4] = ["values", "machine", "runtime", "doors"];
/// The floor of the files at the top of `cont/`: above every floor.
const TOP: usize = FLOORS.len();
/// Kernel modules that import the core: no floor names them.
const KERNEL_SIDE: [&str; 2] = ["crate::stacks", "crate::trap_report"];

fn cont_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../src/cont")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
    out
}

/// The floor of a file, from its folder under `cont/`.
fn floor_of_file(relative: &Path) -> usize {
    let first = relative
        .components()
        .next()
        .and_then(|c| c.as_os_str().to_str());
    match first {
        Some(folder) if relative.components().count() > 1 => {
            FLOORS.iter().position(|f| *f == folder).unwrap_or(TOP)
        }
        _ => TOP,
    }
}

/// What a module name at the level of `cont` (`crate::cont::NAME`) is on:
/// each floor folder, each module inside one (named by the root's
/// re-exports as well), and each item `cont/mod.rs` re-exports from one.
/// A name not in the map (`scenarios`, the host tests) is on the top.
struct Names(BTreeMap<String, usize>);

impl Names {
    fn read(cont: &Path) -> Names {
        let mut map = BTreeMap::new();
        for (floor, folder) in FLOORS.iter().enumerate() {
            map.insert(folder.to_string(), floor);
            for file in rust_files(&cont.join(folder)) {
                let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                if stem != "mod" {
                    let old = map.insert(stem.to_string(), floor);
                    assert!(
                        old.is_none_or(|f| f == floor),
                        "module `{stem}` is on two floors"
                    );
                }
            }
        }
        let mut names = Names(map);
        // The root's re-exports of items: `pub use contref::{ContObj, ..}`.
        let root = fs::read_to_string(cont.join("mod.rs")).expect("cont/mod.rs");
        for stmt in code(&root).split(';') {
            let Some(rest) = stmt.trim().strip_prefix("pub use ") else {
                continue;
            };
            let Some(floor) = names.floor_of_path(rest) else {
                continue;
            };
            for item in leaves(rest) {
                names.0.entry(item).or_insert(floor);
            }
        }
        names
    }

    /// The floor of the module a `cont`-level path starts with, if known.
    fn floor_of_path(&self, path: &str) -> Option<usize> {
        let first = path.split("::").next()?.trim();
        self.0.get(first).copied()
    }
}

/// The last segment of every path a `use` tree names: `a::{b, c::d}` gives
/// `b` and `d`; `a as b` gives `b`.
fn leaves(tree: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in tree.split([',', '{', '}']) {
        let part = part.trim();
        if part.is_empty() || part.ends_with("::") {
            continue;
        }
        let name = match part.split_once(" as ") {
            Some((_, alias)) => alias.trim(),
            None => part.rsplit("::").next().unwrap_or(part).trim(),
        };
        if !name.is_empty() && name != "self" && name != "*" {
            out.push(name.to_string());
        }
    }
    out
}

/// A file's code without comments and without its unit tests: each line
/// kept (so line numbers hold), comments blanked, everything from a
/// `#[cfg(test)]` that opens `mod tests` on blanked.
fn code(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    let mut in_tests = false;
    for (i, line) in lines.iter().enumerate() {
        let next = lines.get(i + 1).map_or("", |l| l.trim());
        let test_cfg = line.trim().starts_with("#[cfg(") && line.contains("test");
        if test_cfg && next.starts_with("mod tests {") {
            in_tests = true;
        }
        if !in_tests {
            out.push_str(line.split("//").next().unwrap_or(""));
        }
        out.push('\n');
    }
    out
}

/// The `cont`-level module names a piece of code starting at a path
/// prefix names: `contref::X` gives `contref`, `{contref::X, store::Y}`
/// gives both.
fn first_segments(after: &str) -> Vec<String> {
    let after = after.trim_start();
    if let Some(group) = after.strip_prefix('{') {
        // Top-level entries of the group, up to its closing brace.
        let (mut depth, mut entry, mut out) = (0, String::new(), Vec::new());
        for ch in group.chars() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(std::mem::take(&mut entry));
                    continue;
                }
                _ => {}
            }
            entry.push(ch);
        }
        out.push(entry);
        return out
            .iter()
            .filter_map(|e| ident(e.trim()))
            .filter(|e| e != "self")
            .collect();
    }
    ident(after).into_iter().collect()
}

fn ident(s: &str) -> Option<String> {
    let name: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

/// One reference to a higher floor: where, what, and the two floors.
#[derive(Debug)]
struct Violation {
    file: String,
    line: usize,
    names: String,
    from: usize,
    to: usize,
}

/// Every reference in `text` (a file on `floor` in folder `folder` of
/// `cont/`, or at its top when `folder` is None) to a module on a higher
/// floor, or a floor file's reference to the kernel side.
fn violations(
    shown: &str,
    text: &str,
    floor: usize,
    in_folder: bool,
    names: &Names,
) -> Vec<Violation> {
    let mut out = Vec::new();
    if floor == TOP {
        return out;
    }
    for (n, line) in code(text).lines().enumerate() {
        // The prefixes that reach the level of `cont`, and where the next
        // segment lands. In a floor folder `super::x` is a sibling (same
        // floor) unless the file is the folder's `mod.rs`.
        let mut refs: Vec<(usize, String)> = Vec::new();
        for prefix in ["crate::cont::", "super::super::"] {
            for (at, _) in line.match_indices(prefix) {
                for name in first_segments(&line[at + prefix.len()..]) {
                    refs.push((names.0.get(&name).copied().unwrap_or(TOP), name));
                }
            }
        }
        for (at, _) in line.match_indices("super::") {
            let before = &line[..at];
            if before.ends_with("super::") {
                continue;
            }
            if line[at + 7..].starts_with("super::") {
                continue;
            }
            for name in first_segments(&line[at + 7..]) {
                let to = if in_folder {
                    floor
                } else {
                    names.0.get(&name).copied().unwrap_or(TOP)
                };
                refs.push((to, name));
            }
        }
        for (to, name) in refs {
            if to > floor {
                out.push(Violation {
                    file: shown.to_string(),
                    line: n + 1,
                    names: name,
                    from: floor,
                    to,
                });
            }
        }
        for kernel in KERNEL_SIDE {
            if line.contains(kernel) {
                out.push(Violation {
                    file: shown.to_string(),
                    line: n + 1,
                    names: kernel.to_string(),
                    from: floor,
                    to: TOP,
                });
            }
        }
    }
    out
}

fn floor_name(f: usize) -> &'static str {
    FLOORS
        .get(f)
        .copied()
        .unwrap_or("the top of cont/ or the kernel side")
}

fn check(file: &Path, cont: &Path, names: &Names) -> Vec<Violation> {
    let relative = file.strip_prefix(cont).expect("a file under cont/");
    let floor = floor_of_file(relative);
    // A folder's own `mod.rs` names its modules with `self`-relative
    // paths; its `super::` is the level of `cont`.
    let in_folder = relative.file_name().is_some_and(|n| n != "mod.rs");
    let text = fs::read_to_string(file).expect("a readable source file");
    let shown = format!("kernel/src/cont/{}", relative.display());
    violations(&shown, &text, floor, in_folder, names)
}

#[test]
fn no_file_of_cont_imports_from_a_floor_above_its_own() {
    let cont = cont_dir();
    let names = Names::read(&cont);
    let files = rust_files(&cont);
    let on_floors = files
        .iter()
        .filter(|f| floor_of_file(f.strip_prefix(&cont).unwrap()) < TOP)
        .count();
    assert!(on_floors >= 20, "only {on_floors} files on the floors");
    let wrong: Vec<String> = files
        .iter()
        .flat_map(|f| check(f, &cont, &names))
        .map(|v| {
            format!(
                "{}:{}: `{}` is on {}, above {}",
                v.file,
                v.line,
                v.names,
                floor_name(v.to),
                floor_name(v.from)
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "imports from a higher floor:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_names_the_file_and_line_of_an_import_from_above() {
    // The same reading, over files written here: a machine file that takes
    // the store from the runtime, and one that names the kernel's stacks.
    let names = Names::read(&cont_dir());
    let upward =
        "//! A stack.\n\nuse super::call::FuncRecord;\nuse crate::cont::runtime::store::Store;\n";
    let found = violations("machine/bad.rs", upward, 1, true, &names);
    let seen: Vec<(usize, &str, usize)> = found
        .iter()
        .map(|v| (v.line, v.names.as_str(), v.to))
        .collect();
    assert_eq!(seen, [(4, "runtime", 2)]);
    // Through a root re-export: `crate::cont::Store` is the runtime's.
    let through_root = "use crate::cont::{ValRaw, Store};\n";
    let found = violations("values/bad.rs", through_root, 0, true, &names);
    let seen: Vec<(usize, &str, usize)> = found
        .iter()
        .map(|v| (v.line, v.names.as_str(), v.to))
        .collect();
    assert_eq!(seen, [(1, "Store", 2)]);
    let kernel = "fn f() { crate::stacks::slot_of(x); }\n";
    let found = violations("runtime/bad.rs", kernel, 2, true, &names);
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].line, found[0].names.as_str()),
        (1, "crate::stacks")
    );
    // Comments and a file's own unit tests are not read.
    let quiet = "// use crate::cont::runtime::store::Store;\n#[cfg(test)]\nmod tests {\n    use crate::cont::doors::typed::Cont;\n}\n";
    assert!(violations("machine/ok.rs", quiet, 1, true, &names).is_empty());
}
