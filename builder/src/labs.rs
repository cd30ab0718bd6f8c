//! The labs (docs/labs/): `./qemu-run.sh lab N [--solution]` and
//! `./qemu-run.sh labs-check`.
//!
//! Lab N is the kernel `labN` of the `labs` package: its checker
//! (`labs/labN/check.rs`) built around the student's file
//! (`labs/labN/student.rs`) or, with the feature `lab-solutions`, around
//! the reference solution (`labs/solutions/labN.rs`). The checker ends the
//! boot with `lab N: PASS` (exit 0x10) or `lab N: FAIL: <why>` (exit
//! 0x11). Why a check of the labs themselves: a checker that passes the
//! skeleton cannot fail, and a page that shows other lines than the
//! solution prints misleads the student.

use std::path::Path;
use std::process::{Command, ExitCode};

use crate::cli::say;
use crate::kbuild::{self, Env};
use crate::qemu::{Firmware, Output};

/// The labs' numbers, from the `[[bin]]`s `labN` of `labs/Cargo.toml`.
fn all_labs(env: &Env) -> Vec<u32> {
    let manifest = std::fs::read_to_string(env.root.join("labs/Cargo.toml")).unwrap_or_default();
    manifest
        .lines()
        .filter_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "name").then_some(())?;
            value
                .trim()
                .strip_prefix("\"lab")?
                .strip_suffix('"')?
                .parse()
                .ok()
        })
        .collect()
}

/// Builds the kernels of `labs` around the skeletons or, with `solution`,
/// the reference solutions, and their disk images.
fn build_labs(env: &Env, solution: bool, labs: &[u32]) -> crate::Result<()> {
    let bins: Vec<String> = labs.iter().map(|n| format!("lab{n}")).collect();
    let mut args = vec!["kbuild", "--quiet", "--release", "-p", "labs"];
    for b in &bins {
        args.extend(["--bin", b]);
    }
    if solution {
        args.extend(["--features", "labs/lab-solutions"]);
    }
    kbuild::cargo(&args)?;
    let elfs: Vec<_> = bins.iter().map(|b| env.kernels.join(b)).collect();
    kbuild::images(env, &env.images, &elfs, None)
}

/// How a lab's boot ended.
#[derive(Debug, PartialEq)]
enum Verdict {
    Pass,
    Fail,
    /// Anything else: a timeout, a crash, a verdict that does not match
    /// the exit status.
    None(String),
}

/// Boots lab `n`'s image, serial into `target/labN.log` (and on this
/// terminal too when `show`).
fn boot_lab(env: &Env, n: u32, show: bool) -> Verdict {
    let log = env.target.join(format!("lab{n}.log"));
    let qemu = env.qemu(env.image(&format!("lab{n}"), None), &format!("lab{n}"));
    let out = if show {
        Output::Tee(&log)
    } else {
        Output::Log(&log)
    };
    let ending = match qemu.run(out, env.timeout) {
        Ok(e) => e,
        Err(e) => return Verdict::None(format!("cannot boot: {e}")),
    };
    let serial = read_log(&log);
    let pass = format!("lab {n}: PASS");
    let fail = format!("lab {n}: FAIL");
    let last = serial
        .lines()
        .rfind(|l| l.starts_with(&pass) || l.starts_with(&fail));
    match last {
        Some(l) if ending.success() && l == pass => Verdict::Pass,
        Some(l) if ending.kernel_failure() && l.starts_with(&format!("{fail}: ")) => Verdict::Fail,
        _ => Verdict::None(format!("no verdict ({})", ending.describe(env.timeout))),
    }
}

/// A log without its carriage returns.
fn read_log(log: &Path) -> String {
    String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).replace('\r', "")
}

/// `./qemu-run.sh lab N [--solution]`.
pub fn lab(env: &Env, words: &[String], solution: bool) -> ExitCode {
    let labs = all_labs(env);
    let n = match words {
        [w] => w.parse().ok().filter(|n| labs.contains(n)),
        _ => None,
    };
    let Some(n) = n else {
        let list: String = labs.iter().map(|n| format!("{n} ")).collect();
        say!("lab takes a lab number: one of {list}(docs/labs/README.md)");
        return ExitCode::from(2);
    };
    if build_labs(env, solution, &[n]).is_err() {
        say!("lab {n} did not build");
        return ExitCode::FAILURE;
    }
    match boot_lab(env, n, true) {
        Verdict::Pass => ExitCode::SUCCESS,
        Verdict::Fail => ExitCode::FAILURE,
        Verdict::None(why) => {
            say!("lab {n}: {why}");
            ExitCode::FAILURE
        }
    }
}

/// The text block under "## What a correct solution prints" in lab `n`'s
/// page, `docs/labs/labN-*.md`.
fn doc_output(env: &Env, n: u32) -> String {
    let prefix = format!("lab{n}-");
    let page = std::fs::read_dir(env.root.join("docs/labs"))
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|f| f.to_str())
                .is_some_and(|f| f.starts_with(&prefix) && f.ends_with(".md"))
        })
        .max();
    let Some(page) = page else {
        return format!("(no page docs/labs/lab{n}-*.md)");
    };
    block_under_heading(&std::fs::read_to_string(page).unwrap_or_default())
}

/// The first ```` ```text ```` block after the heading "## What a correct
/// solution prints".
fn block_under_heading(page: &str) -> String {
    let mut lines = page
        .lines()
        .skip_while(|l| !l.starts_with("## What a correct solution prints"))
        .skip(1)
        .skip_while(|l| *l != "```text")
        .skip(1);
    let block: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
    block.join("\n")
}

/// The checker's lines of a lab's serial output: from its first `lab N: `
/// line to its verdict, `lab N: PASS` or `lab N: FAIL...`.
fn checker_lines(serial: &str, n: u32) -> String {
    let start = format!("lab {n}: ");
    let (pass, fail) = (format!("lab {n}: PASS"), format!("lab {n}: FAIL"));
    let mut out = Vec::new();
    let mut inside = false;
    for line in serial.lines() {
        if inside {
            out.push(line);
            inside = !(line.starts_with(&pass) || line.starts_with(&fail));
        } else if line.starts_with(&start) {
            out.push(line);
            inside = true;
        }
    }
    out.join("\n")
}

/// `./qemu-run.sh labs-check` (CI): every lab's checker must FAIL against
/// the skeleton and PASS against the reference solution, printing exactly
/// the output its page in docs/labs/ shows. Not part of `test`'s count.
pub fn check(env: &Env) -> ExitCode {
    let env = Env {
        firmware: Firmware::Bios,
        ..env.clone()
    };
    let labs = all_labs(&env);
    let mut bad = 0;
    if build_labs(&env, false, &labs).is_err() {
        println!("labs-check: the labs did not build against the skeletons");
        return ExitCode::FAILURE;
    }
    for &n in &labs {
        match boot_lab(&env, n, false) {
            Verdict::Fail => println!("lab {n} skeleton ... fails its checker, as it must"),
            v => {
                let got = match v {
                    Verdict::Pass => "pass".to_string(),
                    Verdict::None(why) => why,
                    Verdict::Fail => unreachable!(),
                };
                println!("lab {n} skeleton ... WRONG: expected its checker's FAIL, got: {got}");
                bad += 1;
            }
        }
    }
    if build_labs(&env, true, &labs).is_err() {
        println!("labs-check: the labs did not build against the reference solutions");
        return ExitCode::FAILURE;
    }
    for &n in &labs {
        let verdict = boot_lab(&env, n, false);
        let serial = read_log(&env.target.join(format!("lab{n}.log")));
        let got = checker_lines(&serial, n);
        let want = doc_output(&env, n);
        if verdict != Verdict::Pass {
            let lines: Vec<&str> = serial.lines().collect();
            for line in &lines[lines.len().saturating_sub(15)..] {
                println!("{line}");
            }
            let got = match verdict {
                Verdict::Fail => "fail".to_string(),
                Verdict::None(why) => why,
                Verdict::Pass => unreachable!(),
            };
            println!("lab {n} solution ... WRONG: expected PASS, got: {got}");
            bad += 1;
        } else if got.trim_end_matches('\n') != want.trim_end_matches('\n') {
            show_diff(&env, n, &want, &got);
            println!(
                "lab {n} solution ... WRONG: passes, but prints other lines than docs/labs/lab{n}-*.md shows (< page, > serial)"
            );
            bad += 1;
        } else {
            println!("lab {n} solution ... passes, printing what its page shows");
        }
    }
    if bad == 0 {
        println!(
            "labs-check: {} labs, each skeleton fails and each solution passes",
            labs.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("labs-check: FAILED ({bad} wrong)");
        ExitCode::FAILURE
    }
}

/// The first 20 lines of `diff` between the page's block and the serial.
fn show_diff(env: &Env, n: u32, want: &str, got: &str) {
    let page = env.target.join(format!("lab{n}-page.txt"));
    let serial = env.target.join(format!("lab{n}-serial.txt"));
    if std::fs::write(&page, format!("{want}\n")).is_err()
        || std::fs::write(&serial, format!("{got}\n")).is_err()
    {
        return;
    }
    if let Ok(out) = Command::new("diff").arg(&page).arg(&serial).output() {
        for line in String::from_utf8_lossy(&out.stdout).lines().take(20) {
            println!("{line}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_block_is_the_text_fence_under_its_heading() {
        let page = "# Lab\n```text\nnot this\n```\n## What a correct solution prints\n\nIt prints:\n```text\nlab 1: x\nlab 1: PASS\n```\nmore\n";
        assert_eq!(block_under_heading(page), "lab 1: x\nlab 1: PASS");
    }

    #[test]
    fn the_checkers_lines_run_from_its_first_line_to_its_verdict() {
        let serial = "kernel: boot\nlab 2: primes\n2 3 5\nlab 2: PASS\nkernel: exit\n";
        assert_eq!(
            checker_lines(serial, 2),
            "lab 2: primes\n2 3 5\nlab 2: PASS"
        );
    }
}
