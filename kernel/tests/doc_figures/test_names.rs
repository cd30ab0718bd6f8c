//! Every test name the docs and the README quote is a real test.
//!
//! These read the docs and the sources from disk when the test runs (from
//! the workspace root, two levels above `CARGO_MANIFEST_DIR`), so a new page
//! of `docs/` or a new suite of `tests/` or `kernel/tests/` is covered
//! without a line here.

use super::*;

/// A test as its runner names it, one segment a piece:
/// `["cont", "hostile_tests", "name"]` for a host test,
/// `["hostile", "name"]` for a test of an in-kernel suite, `["gdb", "name"]`.
type TestPath = Vec<String>;

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
/// suite) makes one test
/// of each.
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

/// Every `#[test]` of the kernel crate's host build, with its module path:
/// the module of its file, then the inline `mod name {` blocks around it
/// (found by their indentation, as rustfmt leaves it). A module that calls
/// `for_each_scenario!` holds a test of each scenario.
fn host_tests(root: &std::path::Path, scenarios: &[String]) -> Vec<TestPath> {
    let mut tests = Vec::new();
    for dir in [root.join("kernel/src"), root.join("kernel/tests")] {
        for file in files_under(&dir, ".rs") {
            tests.extend(tests_of_file(&dir, &file, scenarios));
        }
    }
    tests
}

/// The `#[test]`s of one host source file under `dir` (`kernel/src`, or
/// `kernel/tests`, whose first segment is the name of the test binary).
fn tests_of_file(
    dir: &std::path::Path,
    file: &std::path::Path,
    scenarios: &[String],
) -> Vec<TestPath> {
    let mut tests = Vec::new();
    let relative = file.strip_prefix(dir).expect("a file under its folder");
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
    for line in read(file).lines() {
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
            tests.push(std::vec![suite.into(), name]);
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
        tests.push(std::vec!["gdb".into(), name.into()]);
    }
    let mut runners = std::vec![root.join("qemu-run.sh")];
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
                tests.push(std::vec![suite.into(), name.into()]);
            }
        }
        let surface = source.contains("test surface::$test");
        for line in source.lines().filter(|_| surface) {
            if let Some((name, _)) = line.split_once('|')
                && is_ident(name)
            {
                tests.push(std::vec!["surface".into(), name.into()]);
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
/// - `suite::name` where `suite` is a suite the runner prints and the name
///   has five words or more (`stacks::touch_stack` is a function);
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
