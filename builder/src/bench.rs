//! `./qemu-run.sh bench [--host] [--json]`: the benchmarks.
//!
//! In the kernel (the default): the `bench-icount` kernel booted under
//! `-icount shift=0`, where QEMU's time-stamp counter advances one tick
//! per guest instruction, so the kernel's `rdtsc` deltas are exact
//! instruction counts: a figure that moves is a change of the code, not
//! of the machine's load. The kernel prints a table, then a JSON line.
//! On the host (`--host`): criterion, our continuation core next to
//! corosensei, context and Wasmtime (`cargo bench -p bench`).

use std::process::{Command, ExitCode};

use crate::cli::say;
use crate::kbuild::{self, Env};
use crate::qemu::{Firmware, Output};

/// The kernel benchmark, always under BIOS.
pub fn kernel(env: &Env, json: bool) -> ExitCode {
    let env = Env {
        firmware: Firmware::Bios,
        ..env.clone()
    };
    if let Err(e) = kbuild::build(&env, &["bench-icount"]) {
        say!("bench: {e}");
        return ExitCode::FAILURE;
    }
    let log = env.target.join("bench-icount.log");
    let qemu = env.qemu(env.image("bench-icount", None), "bench").icount();
    let ending = match qemu.run(Output::Log(&log), env.timeout) {
        Ok(e) => e,
        Err(e) => {
            say!("bench: cannot boot: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).replace('\r', "");
    if !ending.success() {
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(20)..] {
            println!("{line}");
        }
        say!("bench: {}", ending.describe(env.timeout));
        return ExitCode::FAILURE;
    }
    let (table, last_json) = read_bench(&text);
    for line in table {
        println!("{line}");
    }
    if json && let Some(j) = last_json {
        println!("{j}");
    }
    ExitCode::SUCCESS
}

/// The kernel's table (from its heading `instructions per operation` up
/// to its JSON line, which starts with `{`) and the last JSON line.
fn read_bench(text: &str) -> (Vec<&str>, Option<&str>) {
    let mut table = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if !inside && line.starts_with("instructions per operation") {
            inside = true;
        }
        if inside {
            if line.starts_with('{') {
                inside = false;
            } else {
                table.push(line);
            }
        }
    }
    let json = text.lines().rfind(|l| l.starts_with('{'));
    (table, json)
}

/// The host benchmark. The benchmark's own output is the mode's.
pub fn host(json: bool) -> ExitCode {
    let mut cmd = Command::new("cargo");
    cmd.args(["bench", "--quiet", "-p", "bench", "--bench", "host", "--"]);
    if json {
        cmd.arg("--json");
    }
    match cmd.status() {
        Ok(s) if s.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            say!("bench: cannot run cargo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_runs_from_its_heading_to_the_json_line() {
        let log = "kernel: boot\ninstructions per operation\n  switch  92\n{\"switch\": 92}\nbench: done\n";
        let (table, json) = read_bench(log);
        assert_eq!(table, ["instructions per operation", "  switch  92"]);
        assert_eq!(json, Some("{\"switch\": 92}"));
    }
}
