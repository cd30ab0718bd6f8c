//! `./qemu-run.sh test [--uefi] [--jobs N] [SUITE...]`: every test of the
//! project, one line each, and the closing count `N passed, N failed`.
//!
//! Why one mode: CI and the README run one command and read one count.
//! Without suites named: the host tests (`cargo test -p kernel -p
//! kernel-tests -p builder -p bundle`), the public surface (`surface.rs`), every in-kernel suite
//! (`run.rs`, in parallel), the GDB test (`gdb_test.rs`), the `.wast`
//! runner end to end (below) and the WASI examples (`program.rs`: built
//! from source, run by `./qemu-run.sh run`, compared with Wasmtime). With
//! suites named, only those; the names `gdb`, `wast` and `wasi` stand for
//! the last three. The suites `cont`, `hostile` and `wasm` also run in
//! stress mode (`run::STRESS_SUITES`: built with the kernel's `stress`
//! feature, booted as `stress-cont`, ...), with the rest or by name, and
//! `stress` names all three. The exit status is 0 exactly
//! when nothing failed.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use crate::cli::say;
use crate::kbuild::{self, Env};
use crate::qemu::Output;
use crate::run::{STRESS_PREFIX, STRESS_SUITES};

/// Tallies of the lines printed so far.
#[derive(Default)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
}

impl Counts {
    /// Prints the line of the test `label` (`test SUITE::NAME`): `LABEL
    /// ... ok` or `LABEL ... FAILED: why`, and counts it.
    pub fn line(&mut self, label: &str, verdict: Result<(), String>) {
        match verdict {
            Ok(()) => {
                println!("{label} ... ok");
                self.passed += 1;
            }
            Err(why) => {
                println!("{label} ... FAILED: {why}");
                self.failed += 1;
            }
        }
    }
}

/// The mode.
pub fn test(env: &Env, all: Vec<String>, named: &[String], jobs: Option<usize>) -> ExitCode {
    let everything = named.is_empty();
    let gdb = everything || named.iter().any(|s| s == "gdb");
    let wast = everything || named.iter().any(|s| s == "wast");
    let wasi = everything || named.iter().any(|s| s == "wasi");
    let stress_names: Vec<String> = STRESS_SUITES
        .iter()
        .map(|s| format!("{STRESS_PREFIX}{s}"))
        .collect();
    // The stress suites named (`stress` names them all).
    let stressed: Vec<&str> = STRESS_SUITES
        .iter()
        .zip(&stress_names)
        .filter(|(_, long)| everything || named.iter().any(|s| s == "stress" || s == *long))
        .map(|(s, _)| *s)
        .collect();
    let suites: Vec<String> = if everything {
        all
    } else {
        let suites: Vec<String> = named
            .iter()
            .filter(|s| !["gdb", "wast", "wasi", "stress"].contains(&s.as_str()))
            .filter(|s| !stress_names.contains(s))
            .cloned()
            .collect();
        if let Some(s) = suites.iter().find(|s| !all.contains(s)) {
            say!(
                "test: no suite named {s} (the suites: {}, and gdb, wast, wasi, stress and {})",
                all.join(" "),
                stress_names.join(" ")
            );
            return ExitCode::from(2);
        }
        suites
    };
    let mut c = Counts::default();
    if everything {
        host_tests(env, &mut c);
        crate::surface::test(env, &mut c);
    }
    let mut bins: Vec<String> = suites.iter().map(|s| format!("test-{s}")).collect();
    if gdb {
        bins.push("gdb-target".into());
    }
    if wast {
        bins.push("wast-main".into());
    }
    if wasi {
        bins.push("run-main".into());
    }
    let bins: Vec<&str> = bins.iter().map(String::as_str).collect();
    // The stress kernels first: cargo leaves the build it made last at each
    // binary's path, and the ordinary suites' build must be that one.
    let built = (stressed.is_empty() || kbuild::build_stress(env, &stressed).is_ok())
        && (bins.is_empty() || kbuild::build(env, &bins).is_ok());
    if !built {
        println!("test build ... FAILED: the kernel suites did not build");
        c.failed += 1;
    } else {
        let jobs =
            jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        // The stress suites first: each takes longer than most others,
        // and the runner fills the cores in this order.
        let suites: Vec<String> = stressed
            .iter()
            .map(|s| format!("{STRESS_PREFIX}{s}"))
            .chain(suites)
            .collect();
        let (p, f) = crate::run::run(&suites, env, jobs);
        c.passed += p;
        c.failed += f;
        if gdb {
            crate::gdb_test::run(env, &mut c);
        }
        if wast {
            wast_test(env, &mut c);
        }
        if wasi {
            crate::program::test(env, &mut c);
        }
    }
    println!("{} passed, {} failed", c.passed, c.failed);
    if c.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Host-side unit tests of the pure logic (cargo test on the host
/// target): the kernel crate's, its host suites (the package
/// `kernel-tests`, `kernel/tests/`), the runner's own and the bundle
/// formats'. Their output goes to
/// `target/host-tests.log`; their `test ... ` lines are printed and their
/// counts added.
fn host_tests(env: &Env, c: &mut Counts) {
    let log = env.target.join("host-tests.log");
    let ran = std::fs::File::create(&log).and_then(|file| {
        Command::new("cargo")
            .args([
                "test",
                "--no-fail-fast",
                "-p",
                "kernel",
                "-p",
                "kernel-tests",
                "-p",
                "builder",
                "-p",
                "bundle",
            ])
            .stdout(file.try_clone()?)
            .stderr(file)
            .status()
    });
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let (p, f) = read_cargo_test(&text);
    for line in text.lines().filter(|l| is_cargo_test_line(l)) {
        println!("{line}");
    }
    c.passed += p;
    c.failed += f;
    if !ran.is_ok_and(|s| s.success()) && f == 0 {
        // It did not get as far as running tests: a build error.
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(30)..] {
            println!("{line}");
        }
        println!("test host ... FAILED: cargo test did not run (see above)");
        c.failed += 1;
    }
}

/// Whether `line` is one of `cargo test`'s result lines, `test NAME ... `.
fn is_cargo_test_line(line: &str) -> bool {
    line.strip_prefix("test ")
        .is_some_and(|r| r.contains(" ... "))
}

/// The sums of the `test result: ... N passed; N failed; ...` lines of a
/// `cargo test` output (one per test binary and doctest run).
fn read_cargo_test(text: &str) -> (usize, usize) {
    let (mut passed, mut failed) = (0, 0);
    for line in text.lines().filter(|l| l.starts_with("test result: ")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let number_before = |word: &str| -> usize {
            words
                .windows(2)
                .find(|w| w[1].trim_end_matches(';') == word)
                .and_then(|w| w[0].parse().ok())
                .unwrap_or(0)
        };
        passed += number_before("passed");
        failed += number_before("failed");
    }
    (passed, failed)
}

/// The `.wast` runner end to end, as `./qemu-run.sh wast` runs it: the
/// scripts of `kernel/wast` packed into a bundle, handed to the
/// `wast-main` kernel as the bootloader's ramdisk. One test: the boot must
/// end in success with "N passed, 0 failed", N > 0. (The runner's commands
/// are tested one by one in the host tests and in the wasm suite.)
fn wast_test(env: &Env, c: &mut Counts) {
    let name = "test wast::our_scripts_run_from_the_ramdisk_and_every_command_passes";
    let log = env.target.join("suite-wast.log");
    let dir = env.images.join("wast-test");
    let image = match crate::demo::wast_image(env, &dir, &[PathBuf::from("kernel/wast")]) {
        Ok(i) => i,
        Err(e) => {
            println!("{e}");
            c.line(
                name,
                Err("the bundle or its disk image could not be made".into()),
            );
            return;
        }
    };
    let ending = match env.qemu(image, "wast").run(Output::Log(&log), env.timeout) {
        Ok(e) => e,
        Err(e) => return c.line(name, Err(format!("cannot boot: {e}"))),
    };
    let serial = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let lines: Vec<&str> = serial.lines().map(|l| l.trim_end_matches('\r')).collect();
    let total = lines.iter().rev().find(|l| crate::run::is_count(l));
    let all_passed = total.is_some_and(|t| {
        t.split_once(" passed, ")
            .is_some_and(|(p, f)| f == "0 failed" && p.parse::<usize>().is_ok_and(|p| p > 0))
    });
    if ending.success() && all_passed {
        return c.line(name, Ok(()));
    }
    let shown: Vec<&&str> = lines.iter().filter(|l| !l.ends_with("... ok")).collect();
    for line in &shown[shown.len().saturating_sub(15)..] {
        println!("{line}");
    }
    let mut why = ending.describe(env.timeout);
    if let Some(t) = total {
        why = format!("{why}, {t}");
    }
    c.line(name, Err(why));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_test_counts_are_summed_over_every_result_line() {
        let out = "running 2 tests\n\
            test a ... ok\n\
            test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n\
            test result: FAILED. 5 passed; 1 failed; 2 ignored; 0 measured; 0 filtered out; finished in 1.2s\n";
        assert_eq!(read_cargo_test(out), (7, 1));
    }

    #[test]
    fn a_cargo_test_line_has_the_three_dots() {
        assert!(is_cargo_test_line("test cont::a ... ok"));
        assert!(is_cargo_test_line(
            "test src/lib.rs - x (line 3) - compile fail ... ok"
        ));
        assert!(!is_cargo_test_line("test result: ok. 1 passed; 0 failed"));
        assert!(!is_cargo_test_line("running 3 tests"));
    }
}
