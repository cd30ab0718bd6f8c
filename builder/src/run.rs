//! The runner of the in-kernel suites (`builder run-suites`): finds the
//! suites in cargo's metadata, boots each one's disk image in a QEMU of
//! its own, as many at once as the machine has cores, and prints every
//! suite's lines in a fixed order with the counts at the end.
//!
//! Why a program and not the shell: a suite is one boot of about three
//! seconds, most of it QEMU's own start-up and the firmware, and the boots
//! share nothing, so booting them side by side cuts the wall time of
//! `./qemu-run.sh test` by the number of cores. Running QEMUs in parallel,
//! killing the one that overruns its time, and keeping their outputs apart
//! is plain code here, where in bash it is background jobs and traps.
//!
//! What a suite is: a `[[bin]]` of the `kernel` package named `test-NAME`
//! (its source is `tests/NAME.rs`); its image is
//! `target/images/test-NAME-{bios,uefi}.img`, which the `test` mode
//! (`testing.rs`) builds before it calls the runner. Each boot is a
//! [`Qemu`](crate::qemu::Qemu), the same machine as every other mode's. A suite's kernel prints one line per test,
//! `test NAME ... ok` or `test NAME ... FAILED: why`, then its count, `N
//! passed, N failed`, and ends QEMU through the `isa-debug-exit` device.
//! A boot that times out, triple faults, fails without a failed test, or
//! ends without its count is one more failure, named for the suite, after
//! the last lines of its serial output.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

use crate::Result;
use crate::kbuild::Env;
use crate::qemu::{Ending, Output, Qemu};

/// Where the workspace's files are, as cargo reports them.
pub struct Workspace {
    /// The in-kernel suites, in the order of `kernel/Cargo.toml`.
    pub suites: Vec<String>,
    /// `target/` (cargo's target directory).
    pub target: PathBuf,
}

/// Reads `cargo metadata` for the workspace around the current directory.
pub fn workspace() -> Result<Workspace> {
    let out = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run cargo metadata: {e}"))?;
    if !out.status.success() {
        return Err("cargo metadata failed".into());
    }
    let doc: Value = serde_json::from_slice(&out.stdout)?;
    let target = doc["target_directory"]
        .as_str()
        .ok_or("cargo metadata has no target_directory")?;
    Ok(Workspace {
        suites: suites(&doc)?,
        target: PathBuf::from(target),
    })
}

/// The suites of a `cargo metadata` document: the binaries of the
/// `kernel` package whose names start with `test-`, without that prefix.
pub fn suites(metadata: &Value) -> Result<Vec<String>> {
    let kernel = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "kernel")
        .ok_or("cargo metadata lists no package named kernel")?;
    Ok(kernel["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "bin"))
        })
        .filter_map(|t| t["name"].as_str()?.strip_prefix("test-"))
        .map(str::to_string)
        .collect())
}

/// What one suite's boot produced.
#[derive(Debug, PartialEq)]
pub struct Outcome {
    /// The lines to print for it, in order.
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
}

/// Reads one suite's serial output: its test lines, counted, and one more
/// failure if the boot did not end in success with its closing count (or
/// ended in failure without a failed test to show for it).
pub fn judge(suite: &str, serial: &str, ending: Ending, timeout: Duration) -> Outcome {
    let clean: Vec<&str> = serial.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out = Outcome {
        lines: Vec::new(),
        passed: 0,
        failed: 0,
    };
    let mut closed = false;
    for line in &clean {
        if let Some(verdict) = test_verdict(line) {
            out.lines.push(line.to_string());
            if verdict == "ok" {
                out.passed += 1;
            } else if verdict.starts_with("FAILED") {
                out.failed += 1;
            }
        }
        // A stress suite's counts (`stress NAME: N ticks, ...`).
        if line.starts_with("stress ") {
            out.lines.push(line.to_string());
        }
        closed |= is_count(line);
    }
    if (!ending.success() && out.failed == 0) || !closed {
        out.lines
            .push(format!("--- last lines of the {suite} boot ---"));
        let tail = clean.len().saturating_sub(15);
        out.lines
            .extend(clean[tail..].iter().map(|l| l.to_string()));
        out.lines.push(format!(
            "test {suite} ... FAILED: {}",
            ending.describe(timeout)
        ));
        out.failed += 1;
    }
    out
}

/// For a line `test NAME ... VERDICT` (NAME without spaces), the verdict.
pub(crate) fn test_verdict(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("test ")?;
    let (name, rest) = rest.split_once(' ')?;
    if name.is_empty() {
        return None;
    }
    rest.strip_prefix("... ")
}

/// Whether `line` is a closing count, `N passed, N failed`.
pub(crate) fn is_count(line: &str) -> bool {
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    line.strip_suffix(" failed")
        .and_then(|l| l.split_once(" passed, "))
        .is_some_and(|(p, f)| number(p) && number(f))
}

/// Suites booted under `-icount shift=0`, as the benchmark is: QEMU's
/// clock then advances one nanosecond per guest instruction, so the timer
/// suite's periods, calibration and deferred ticks are exact counts, not
/// at the mercy of how busy the host is (under plain TCG the virtual
/// clock is the host's, and a host that deschedules QEMU for a few
/// milliseconds moves every figure).
pub const ICOUNT_SUITES: &[&str] = &["timer", "preempt"];

/// The suites that also run in stress mode (the kernel's `stress`
/// feature, `docs/interrupts.md`): each as the suite `stress-NAME`, whose
/// image `kbuild::build_stress` makes. `./qemu-run.sh test` runs them
/// with the others; `./qemu-run.sh test stress` runs only them. The
/// continuation core, the hostile guests, the Wasm engine, the fault
/// paths, the stacks and the store's limits: the suites whose guests run
/// on continuations (the timer's and preempt's own suites start the
/// clock themselves; `hostile_wasm` takes minutes under `-icount`).
pub const STRESS_SUITES: &[&str] = &["cont", "hostile", "wasm", "faults", "stacks", "limits"];

/// The prefix of a stress suite's name, and of its lines.
pub const STRESS_PREFIX: &str = "stress-";

/// `qemu` as `suite` boots: under `-icount shift=0` for the suites of
/// [`ICOUNT_SUITES`] and the stress suites (their clock is then counted
/// in instructions, and a run is the same every time, so a failure it
/// finds is found again), as it is for the others.
pub fn for_suite(suite: &str, qemu: Qemu) -> Qemu {
    if ICOUNT_SUITES.contains(&suite) || suite.starts_with(STRESS_PREFIX) {
        qemu.icount()
    } else {
        qemu
    }
}

/// Boots one suite, its serial output (and QEMU's own messages) into
/// `target/suite-NAME.log`, and judges it.
fn boot(suite: &str, env: &Env) -> Outcome {
    let image = env.image(&format!("test-{suite}"), None);
    let log = env.target.join(format!("suite-{suite}.log"));
    let qemu = for_suite(suite, env.qemu(image, suite));
    let ending = match qemu.run(Output::Log(&log), env.timeout) {
        Ok(e) => e,
        Err(e) => {
            return Outcome {
                lines: vec![format!("test {suite} ... FAILED: cannot boot: {e}")],
                passed: 0,
                failed: 1,
            };
        }
    };
    let serial = std::fs::read(&log).unwrap_or_default();
    judge(
        suite,
        &String::from_utf8_lossy(&serial),
        ending,
        env.timeout,
    )
}

/// Boots `suites` with up to `jobs` QEMUs at once and prints each suite's
/// lines once it and every suite before it have finished, so the output
/// is in the order of `suites` however the boots interleave. Returns the
/// total counts.
pub fn run(suites: &[String], env: &Env, jobs: usize) -> (usize, usize) {
    let next = AtomicUsize::new(0);
    let (tx, rx) = mpsc::channel();
    let (mut passed, mut failed) = (0, 0);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, suites.len().max(1)) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(suite) = suites.get(i) else { break };
                    if tx.send((i, boot(suite, env))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Results arrive in the order the boots end; print in the given one.
        let mut waiting = BTreeMap::new();
        let mut printed = 0;
        for (i, outcome) in rx {
            waiting.insert(i, outcome);
            while let Some(o) = waiting.remove(&printed) {
                for line in &o.lines {
                    println!("{line}");
                }
                passed += o.passed;
                failed += o.failed;
                printed += 1;
            }
        }
    });
    (passed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::{QEMU_FAILURE, QEMU_SUCCESS};

    const T: Duration = Duration::from_secs(180);

    #[test]
    fn suites_are_the_kernels_bins_named_test_in_manifest_order() {
        let doc: Value = serde_json::from_str(
            r#"{"packages": [
                {"name": "builder", "targets": [{"name": "test-not-kernel", "kind": ["bin"]}]},
                {"name": "kernel", "targets": [
                    {"name": "kernel", "kind": ["lib"]},
                    {"name": "test-memory", "kind": ["bin"]},
                    {"name": "gdb-target", "kind": ["bin"]},
                    {"name": "test-cont", "kind": ["bin"]},
                    {"name": "test-build", "kind": ["custom-build"]}
                ]}
            ]}"#,
        )
        .unwrap();
        assert_eq!(suites(&doc).unwrap(), ["memory", "cont"]);
    }

    #[test]
    fn only_the_timer_suite_boots_under_icount() {
        let args = |suite: &str| for_suite(suite, Qemu::new("x.img")).args();
        let timer = args("timer");
        assert!(timer.windows(2).any(|w| w == ["-icount", "shift=0"]));
        assert!(!args("cont").iter().any(|a| a == "-icount"));
    }

    #[test]
    fn the_stress_suites_boot_under_icount() {
        let args = for_suite("stress-wasm", Qemu::new("x.img")).args();
        assert!(args.windows(2).any(|w| w == ["-icount", "shift=0"]));
    }

    #[test]
    fn a_stress_suites_count_line_is_shown_with_its_test_lines() {
        let serial = "test stress-cont::a ... ok\n\
            stress stress-cont: 9 ticks (4 on continuation stacks), 3 preemptions\n\
            1 passed, 0 failed\n";
        let o = judge("stress-cont", serial, Ending::Exited(Some(QEMU_SUCCESS)), T);
        assert_eq!(
            o.lines,
            [
                "test stress-cont::a ... ok",
                "stress stress-cont: 9 ticks (4 on continuation stacks), 3 preemptions",
            ]
        );
        assert_eq!((o.passed, o.failed), (1, 0));
    }

    #[test]
    fn a_suite_that_ends_in_success_with_its_count_is_its_test_lines() {
        let serial = "kernel: boot\r\ntest a ... ok\r\ntest b ... ok\r\n2 passed, 0 failed\r\n";
        let o = judge("s", serial, Ending::Exited(Some(QEMU_SUCCESS)), T);
        assert_eq!(o.lines, ["test a ... ok", "test b ... ok"]);
        assert_eq!((o.passed, o.failed), (2, 0));
    }

    #[test]
    fn a_failed_test_with_its_count_is_counted_without_a_suite_failure() {
        let serial = "test a ... ok\ntest b ... FAILED: 1 != 2\n1 passed, 1 failed\n";
        let o = judge("s", serial, Ending::Exited(Some(QEMU_FAILURE)), T);
        assert_eq!(o.lines, ["test a ... ok", "test b ... FAILED: 1 != 2"]);
        assert_eq!((o.passed, o.failed), (1, 1));
    }

    #[test]
    fn a_boot_without_its_count_is_a_failure_named_for_the_suite() {
        let serial = "test a ... ok\npanicked at x.rs\n";
        let o = judge("cont", serial, Ending::Exited(Some(QEMU_FAILURE)), T);
        assert_eq!(
            o.lines,
            [
                "test a ... ok",
                "--- last lines of the cont boot ---",
                "test a ... ok",
                "panicked at x.rs",
                "test cont ... FAILED: failure reported by the kernel",
            ]
        );
        assert_eq!((o.passed, o.failed), (1, 1));
    }

    #[test]
    fn a_triple_fault_after_the_count_is_still_a_failure() {
        let serial = "test a ... ok\n1 passed, 0 failed\n";
        let o = judge("faults", serial, Ending::Exited(Some(0)), T);
        assert_eq!(
            o.lines.last().unwrap(),
            "test faults ... FAILED: triple fault (the CPU reset; QEMU stopped under -no-reboot)"
        );
        assert_eq!((o.passed, o.failed), (1, 1));
    }

    #[test]
    fn a_hang_is_a_failure_that_names_the_timeout() {
        let o = judge("stacks", "", Ending::TimedOut, Duration::from_secs(7));
        assert_eq!(
            o.lines,
            [
                "--- last lines of the stacks boot ---",
                "test stacks ... FAILED: timed out after 7 s",
            ]
        );
        assert_eq!((o.passed, o.failed), (0, 1));
    }

    #[test]
    fn only_the_last_fifteen_lines_of_a_failed_boot_are_shown() {
        let serial: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let o = judge("s", &serial, Ending::Exited(Some(QEMU_FAILURE)), T);
        assert_eq!(o.lines.len(), 1 + 15 + 1);
        assert_eq!(o.lines[1], "line 6");
        assert_eq!(o.lines[15], "line 20");
    }

    #[test]
    fn a_count_line_is_two_numbers_and_nothing_else() {
        assert!(is_count("12 passed, 0 failed"));
        assert!(!is_count("wast x: 12 passed, 0 failed"));
        assert!(!is_count(" passed, 0 failed"));
        assert!(!is_count("1 passed, 0 failed."));
    }

    #[test]
    fn a_test_line_needs_a_name_without_spaces_and_the_three_dots() {
        assert_eq!(test_verdict("test a::b ... ok"), Some("ok"));
        assert_eq!(test_verdict("test a b ... ok"), None);
        assert_eq!(test_verdict("test  ... ok"), None);
        assert_eq!(test_verdict("testing a ... ok"), None);
    }
}
