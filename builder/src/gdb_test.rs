//! The GDB test of `./qemu-run.sh test` (and `test gdb`): GDB in batch mode
//! starts a QEMU of its own at the other end of a pipe, and
//! `kernel/gdb/test_session.py` stops the `gdb-target` kernel three
//! continuations deep and checks what the commands of
//! `kernel/gdb/continuations.py` print, one line per check and a count,
//! like a suite.
//!
//! Why a pipe: QEMU's GDB stub on GDB's standard input and output needs no
//! TCP port, so two runs (or two engineers) on one machine cannot collide;
//! the serial output goes to a file instead. GDB and QEMU each have a time
//! limit, QEMU's the shorter, so that a kernel that never stops where the
//! test waits ends the session with its count, not the kill.

use std::process::Command;
use std::time::Duration;

use crate::kbuild::Env;
use crate::qemu::{Ending, Output, Serial, run_command};
use crate::testing::Counts;

/// Runs the session and adds its lines to `c`. The `gdb-target` image must
/// be built.
pub fn run(env: &Env, c: &mut Counts) {
    let log = env.target.join("suite-gdb.log");
    let serial = env.target.join("suite-gdb-serial.log");
    let qemu = env
        .qemu(env.image("gdb-target", None), "gdb")
        .serial(Serial::File(serial))
        .gdb_stub("stdio");
    if let Err(e) = qemu.prepare() {
        println!("test gdb ... FAILED: {e}");
        c.failed += 1;
        return;
    }
    let offset = match env.kernel_offset() {
        Ok(o) => o,
        Err(e) => {
            println!("test gdb ... FAILED: {e}");
            c.failed += 1;
            return;
        }
    };
    let secs = env.timeout.as_secs();
    let mut gdb = Command::new("gdb");
    gdb.args(["-batch", "-nx", "-ex"])
        .arg(format!(
            "target remote | exec timeout -k 5 {secs} {}",
            qemu.shell_words()
        ))
        .arg("-ex")
        .arg(format!(
            "add-symbol-file {} -o {}",
            env.kernels.join("gdb-target").display(),
            offset
        ))
        .arg("-x")
        .arg(env.root.join("kernel/gdb/test_session.py"))
        .args(["-ex", "kill"]);
    let ending = run_command(
        gdb,
        Output::Log(&log),
        env.timeout + Duration::from_secs(30),
    );
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap_or_default()).into_owned();
    let session = read_session(&text);
    for line in &session.lines {
        println!("{line}");
    }
    c.passed += session.passed;
    c.failed += session.failed;
    if !session.closed {
        println!("--- last lines of the gdb session ---");
        let lines: Vec<&str> = text.lines().collect();
        for line in &lines[lines.len().saturating_sub(15)..] {
            println!("{line}");
        }
        let why = match ending {
            Ok(Ending::TimedOut) => format!("timed out after {secs} s"),
            Ok(Ending::Exited(Some(s))) => {
                format!("the session ended before its count (gdb exit status {s})")
            }
            Ok(Ending::Exited(None)) => "the session ended before its count (gdb killed)".into(),
            Err(e) => format!("cannot start gdb: {e}"),
        };
        println!("test gdb ... FAILED: {why}");
        c.failed += 1;
    }
}

/// What a session printed: its check lines, counted, and whether it got
/// to its closing count.
#[derive(Debug, PartialEq)]
struct Session {
    lines: Vec<String>,
    passed: usize,
    failed: usize,
    closed: bool,
}

/// Reads GDB's output: the lines `test NAME ... VERDICT` (NAME without
/// spaces), those ending in `ok` passed, those whose verdict starts with
/// `FAILED` failed.
fn read_session(text: &str) -> Session {
    let mut s = Session {
        lines: Vec::new(),
        passed: 0,
        failed: 0,
        closed: false,
    };
    for line in text.lines() {
        if let Some(v) = crate::run::test_verdict(line) {
            s.lines.push(line.to_string());
            if v == "ok" {
                s.passed += 1;
            } else if v.starts_with("FAILED") {
                s.failed += 1;
            }
        }
        s.closed |= crate::run::is_count(line);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_its_check_lines_and_its_count() {
        let text = "Remote debugging using | exec ...\n\
            test gdb::a ... ok\n\
            test gdb::b ... FAILED: got 1, expected 2\n\
            1 passed, 1 failed\n";
        assert_eq!(
            read_session(text),
            Session {
                lines: vec![
                    "test gdb::a ... ok".into(),
                    "test gdb::b ... FAILED: got 1, expected 2".into()
                ],
                passed: 1,
                failed: 1,
                closed: true,
            }
        );
    }

    #[test]
    fn a_session_cut_short_is_not_closed() {
        let s = read_session("test gdb::a ... ok\nConnection closed\n");
        assert_eq!((s.passed, s.failed, s.closed), (1, 0, false));
    }
}
