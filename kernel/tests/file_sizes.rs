//! No source file of the kernel library is longer than a reader can hold:
//! every `.rs` file under `kernel/src` has at most 700 lines, tests
//! included.
//!
//! Long files were where production code and large test suites used to
//! live together; the suites now live beside the code (this package), and
//! a module that outgrows the limit is split into modules named for what
//! they are. This test walks `kernel/src` (with `std::fs`, from
//! `CARGO_MANIFEST_DIR`) and names every file over the limit.

use std::path::{Path, PathBuf};

/// The most lines a file under `kernel/src` may have.
const MAX_LINES: usize = 700;

/// Every `.rs` file under `dir`, recursively, in path order.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|x| x == "rs") {
            files.push(path);
        }
    }
    files
}

/// The files of `files` longer than `max` lines, with their lengths.
fn longer_than(files: &[PathBuf], max: usize) -> Vec<(PathBuf, usize)> {
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).expect("a readable source file");
            (f.clone(), text.lines().count())
        })
        .filter(|(_, n)| *n > max)
        .collect()
}

#[test]
fn no_file_under_kernel_src_is_longer_than_700_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../src");
    let files = rust_files(&src);
    assert!(files.len() > 50, "kernel/src holds {} files", files.len());
    let long = longer_than(&files, MAX_LINES);
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn the_size_check_names_a_file_over_the_limit() {
    // The check itself, on this package's own sources with a limit one
    // line below this file's length: it must name this file.
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("file_sizes.rs");
    let lines = std::fs::read_to_string(&here).unwrap().lines().count();
    let long = longer_than(std::slice::from_ref(&here), lines - 1);
    assert_eq!(long, vec![(here, lines)]);
}
