//! The labs (docs/labs/): `./qemu-run.sh lab N [--solution]`,
//! `./qemu-run.sh grade` and `./qemu-run.sh labs-check`.
//!
//! Lab N is the kernel `labN` of the `labs` package: its checker
//! (`labs/labN/check.rs`) built around the student's file
//! (`labs/labN/student.rs`), with the feature `lab-solutions` around the
//! reference solution (`labs/solutions/labN.rs`), or with `lab-variant`
//! around `labs/.variant/labN.rs`, where `labs-check` copies the wrong
//! solutions of `labs/wrong/labN_<what>.rs` one at a time. The checker
//! ends the boot with `lab N: PASS` (exit 0x10) or `lab N: FAIL: <why>`
//! (exit 0x11). Why a check of the labs themselves: a checker that passes
//! the skeleton cannot fail, one that passes a plausible wrong answer
//! teaches it, and a page that shows other lines than the solution prints
//! misleads the student.

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

/// What a lab's kernel is built around.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Around {
    /// The student's file, `labs/labN/student.rs`.
    Student,
    /// The reference solution, `labs/solutions/labN.rs`.
    Solution,
    /// `labs/.variant/labN.rs`: a wrong solution put there.
    Variant,
}

/// Builds the kernels of `labs` around the students' files, the reference
/// solutions or the variants, and their disk images.
fn build_labs(env: &Env, around: Around, labs: &[u32]) -> crate::Result<()> {
    let bins: Vec<String> = labs.iter().map(|n| format!("lab{n}")).collect();
    let mut args = vec!["kbuild", "--quiet", "--release", "-p", "labs"];
    for b in &bins {
        args.extend(["--bin", b]);
    }
    match around {
        Around::Student => {}
        Around::Solution => args.extend(["--features", "labs/lab-solutions"]),
        Around::Variant => args.extend(["--features", "labs/lab-variant"]),
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
    let around = if solution {
        Around::Solution
    } else {
        Around::Student
    };
    if build_labs(env, around, &[n]).is_err() {
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
/// the skeleton and against each of its wrong solutions (for the reason
/// the wrong solution names), and PASS against the reference solution,
/// printing exactly the output its page in docs/labs/ shows. Not part of
/// `test`'s count.
pub fn check(env: &Env) -> ExitCode {
    let env = Env {
        firmware: Firmware::Bios,
        ..env.clone()
    };
    let labs = all_labs(&env);
    let mut bad = 0;
    if build_labs(&env, Around::Student, &labs).is_err() {
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
    bad += check_variants(&env, &labs);
    if build_labs(&env, Around::Solution, &labs).is_err() {
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
            "labs-check: {} labs, each skeleton and each wrong solution fails and each solution passes",
            labs.len()
        );
        ExitCode::SUCCESS
    } else {
        println!("labs-check: FAILED ({bad} wrong)");
        ExitCode::FAILURE
    }
}

/// The fewest wrong solutions a lab may have in `labs/wrong/`.
const MIN_VARIANTS: usize = 2;

/// A wrong solution: `labs/wrong/labN_<what>.rs`, and the words its
/// checker's FAIL line must contain (its `//! Expected: ` line).
#[derive(Debug, PartialEq)]
struct Variant {
    lab: u32,
    name: String,
    expected: String,
    source: String,
}

/// Lab `lab`'s wrong solution named `name`, read from its text: `None`
/// without an `//! Expected: ` line.
fn parse_variant(lab: u32, name: &str, source: String) -> Option<Variant> {
    let expected = source
        .lines()
        .find_map(|l| l.strip_prefix("//! Expected: "))?
        .trim()
        .to_string();
    Some(Variant {
        lab,
        name: name.to_string(),
        expected,
        source,
    })
}

/// The lab number and the `<what>` of a file name `labN_<what>.rs`.
fn variant_name(file: &str) -> Option<(u32, &str)> {
    let stem = file.strip_prefix("lab")?.strip_suffix(".rs")?;
    let (n, what) = stem.split_once('_')?;
    Some((n.parse().ok()?, what))
}

/// Every wrong solution in `labs/wrong/`, by file name; a file named like
/// one but without an `Expected:` line is an error.
fn all_variants(env: &Env) -> Result<Vec<Variant>, String> {
    let dir = env.root.join("labs/wrong");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let file = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let Some((lab, what)) = variant_name(file) else {
            continue;
        };
        let source = std::fs::read_to_string(&path).unwrap_or_default();
        match parse_variant(lab, what, source) {
            Some(v) => out.push(v),
            None => return Err(format!("labs/wrong/{file} has no `//! Expected: ` line")),
        }
    }
    Ok(out)
}

/// The reason in a lab's FAIL line, if the serial has one.
fn fail_reason(serial: &str, n: u32) -> Option<String> {
    let fail = format!("lab {n}: FAIL: ");
    serial
        .lines()
        .rfind(|l| l.starts_with(&fail))
        .map(|l| l[fail.len()..].to_string())
}

/// Boots every lab's checker around each of its wrong solutions, in rounds
/// (round k: the k-th wrong solution of every lab that has one, built
/// together), and counts those that did not fail for the reason they
/// name. A lab with fewer than [`MIN_VARIANTS`] counts as wrong too.
fn check_variants(env: &Env, labs: &[u32]) -> usize {
    let variants = match all_variants(env) {
        Ok(v) => v,
        Err(e) => {
            println!("labs-check: {e}");
            return 1;
        }
    };
    let mut bad = 0;
    let of = |n: u32| -> Vec<&Variant> { variants.iter().filter(|v| v.lab == n).collect() };
    for &n in labs {
        if of(n).len() < MIN_VARIANTS {
            println!(
                "lab {n} wrong solutions ... WRONG: {} in labs/wrong/, a lab needs at least {MIN_VARIANTS}",
                of(n).len()
            );
            bad += 1;
        }
    }
    let dir = env.root.join("labs/.variant");
    if std::fs::create_dir_all(&dir).is_err() {
        println!("labs-check: cannot make {}", dir.display());
        return bad + 1;
    }
    let rounds = labs.iter().map(|&n| of(n).len()).max().unwrap_or(0);
    for round in 0..rounds {
        let this: Vec<&Variant> = labs
            .iter()
            .filter_map(|&n| of(n).get(round).copied())
            .collect();
        for v in &this {
            if std::fs::write(dir.join(format!("lab{}.rs", v.lab)), &v.source).is_err() {
                println!("labs-check: cannot write labs/.variant/lab{}.rs", v.lab);
                return bad + 1;
            }
        }
        let ns: Vec<u32> = this.iter().map(|v| v.lab).collect();
        if build_labs(env, Around::Variant, &ns).is_err() {
            println!("labs-check: the wrong solutions of round {round} did not build ({ns:?})");
            bad += this.len();
            continue;
        }
        for v in this {
            let n = v.lab;
            let verdict = boot_lab(env, n, false);
            let reason = fail_reason(&read_log(&env.target.join(format!("lab{n}.log"))), n);
            let label = format!("lab {n} wrong solution {}", v.name);
            match (verdict, reason) {
                (Verdict::Fail, Some(why)) if why.contains(&v.expected) => {
                    println!("{label} ... fails its checker: {why}");
                }
                (Verdict::Fail, Some(why)) => {
                    println!(
                        "{label} ... WRONG: fails, but not for its reason (`{}`): {why}",
                        v.expected
                    );
                    bad += 1;
                }
                (Verdict::Pass, _) => {
                    println!("{label} ... WRONG: passes its checker");
                    bad += 1;
                }
                (Verdict::Fail, None) => unreachable!("a Fail verdict has a FAIL line"),
                (Verdict::None(why), _) => {
                    println!("{label} ... WRONG: {why}");
                    bad += 1;
                }
            }
        }
    }
    bad
}

/// Points a lab is worth in `grade`.
const POINTS: u32 = 10;

/// One lab's result in `grade`: its number, its title (from its first
/// line on serial), and `None` if it passed or the reason it did not.
#[derive(Debug, PartialEq)]
struct Graded {
    lab: u32,
    title: String,
    failed: Option<String>,
}

/// The report `grade` prints: a line per lab with its score, the reason
/// under a lab that failed, and the total.
fn grade_report(results: &[Graded]) -> String {
    let width = results.iter().map(|g| g.title.len()).max().unwrap_or(0);
    let mut out = String::new();
    let mut total = 0;
    for g in results {
        let (verdict, points) = match g.failed {
            None => ("PASS", POINTS),
            Some(_) => ("FAIL", 0),
        };
        total += points;
        out.push_str(&format!(
            "lab {:<2} {:<width$}  {verdict}  {points:>2}/{POINTS}\n",
            g.lab, g.title
        ));
        if let Some(why) = &g.failed {
            out.push_str(&format!("       {why}\n"));
        }
    }
    out.push_str(&format!(
        "score: {total}/{}\n",
        POINTS * results.len() as u32
    ));
    out
}

/// `./qemu-run.sh grade`: every lab's checker around the student's file,
/// one score per lab and a total, as xv6's `make grade` prints. A lab that
/// does not build scores 0 and the others are still graded.
pub fn grade(env: &Env) -> ExitCode {
    let env = Env {
        firmware: Firmware::Bios,
        ..env.clone()
    };
    let labs = all_labs(&env);
    let mut built: Vec<u32> = labs.clone();
    if build_labs(&env, Around::Student, &labs).is_err() {
        built.retain(|&n| build_labs(&env, Around::Student, &[n]).is_ok());
    }
    let mut results = Vec::new();
    for &n in &labs {
        let title = |serial: &str| {
            serial
                .lines()
                .find_map(|l| l.strip_prefix(&format!("lab {n}: ")))
                .unwrap_or("")
                .to_string()
        };
        if !built.contains(&n) {
            results.push(Graded {
                lab: n,
                title: String::new(),
                failed: Some(format!(
                    "labs/lab{n}/student.rs did not build (`./qemu-run.sh lab {n}` shows why)"
                )),
            });
            continue;
        }
        let verdict = boot_lab(&env, n, false);
        let serial = read_log(&env.target.join(format!("lab{n}.log")));
        let failed = match verdict {
            Verdict::Pass => None,
            Verdict::Fail => Some(fail_reason(&serial, n).unwrap_or_default()),
            Verdict::None(why) => Some(why),
        };
        results.push(Graded {
            lab: n,
            title: title(&serial),
            failed,
        });
    }
    print!("{}", grade_report(&results));
    if results.iter().all(|g| g.failed.is_none()) {
        ExitCode::SUCCESS
    } else {
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
    fn grade_prints_a_score_per_lab_the_reason_of_a_failure_and_the_total() {
        let results = [
            Graded {
                lab: 1,
                title: "short".into(),
                failed: None,
            },
            Graded {
                lab: 2,
                title: "a longer title".into(),
                failed: Some("it said 3 lines".into()),
            },
        ];
        assert_eq!(
            grade_report(&results),
            "lab 1  short           PASS  10/10\n\
             lab 2  a longer title  FAIL   0/10\n       it said 3 lines\n\
             score: 10/20\n"
        );
    }

    #[test]
    fn a_wrong_solution_is_named_by_its_file_and_fails_for_its_expected_line() {
        assert_eq!(
            variant_name("lab4_trap_as_cancelled.rs"),
            Some((4, "trap_as_cancelled"))
        );
        assert_eq!(variant_name("lab4.rs"), None);
        assert_eq!(variant_name("README.md"), None);
        let v = parse_variant(
            4,
            "x",
            "//! A wrong one.\n//!\n//! Expected: not a timeout \nfn f() {}\n".into(),
        );
        assert_eq!(v.map(|v| v.expected), Some("not a timeout".to_string()));
        assert_eq!(parse_variant(4, "x", "fn f() {}\n".into()), None);
    }

    #[test]
    fn the_reason_is_what_follows_the_last_fail_line() {
        let serial = "lab 3: title\nlab 3: FAIL: it trapped\n";
        assert_eq!(fail_reason(serial, 3), Some("it trapped".to_string()));
        assert_eq!(fail_reason("lab 3: PASS\n", 3), None);
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
