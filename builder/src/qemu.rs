//! The one QEMU command line of the project, and what QEMU's exit status
//! means: every boot (the demo, `wasm`, `wast`, the suites, the GDB test,
//! the benchmark, the labs) goes through [`Qemu`].
//!
//! Why one place: the machine a suite is judged on must be the machine the
//! demo and the benchmark run on (one CPU under TCG, 512 MiB, the
//! `isa-debug-exit` device, no reboot after a triple fault), and the
//! reading of the exit status (the kernel's 0x10 is QEMU's 33) must be the
//! same for every mode. Written twice, the two copies drift.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::Result;

/// QEMU's exit status when the kernel wrote 0x10 (success) to the
/// `isa-debug-exit` port: QEMU exits with `(value << 1) | 1`.
pub const QEMU_SUCCESS: i32 = 0x21;
/// The same for 0x11, the kernel's failure.
pub const QEMU_FAILURE: i32 = 0x23;

/// UEFI's firmware (OVMF, Debian's package `ovmf`): its code, read-only,
/// and the template of its variables, which each boot copies.
const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// The firmware that boots an image: `bios` images or `uefi` ones.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Firmware {
    Bios,
    Uefi,
}

impl Firmware {
    /// The word in image names and flags: `bios` or `uefi`.
    pub fn name(self) -> &'static str {
        match self {
            Firmware::Bios => "bios",
            Firmware::Uefi => "uefi",
        }
    }
}

/// Where a boot's serial output goes.
pub enum Serial {
    /// QEMU's standard output (the default): this terminal, or the log
    /// that [`Qemu::run`] is given.
    Stdio,
    /// A file QEMU writes itself (when its standard output is GDB's pipe).
    File(PathBuf),
}

/// One boot of one disk image: the machine, the firmware, and the extras
/// a mode asks for (exact instruction counting, a GDB stub).
pub struct Qemu {
    image: PathBuf,
    uefi_vars: Option<PathBuf>,
    icount: bool,
    gdb: Option<&'static str>,
    halted: bool,
    serial: Serial,
}

/// What to do with the boot's output in [`Qemu::run`].
pub enum Output<'a> {
    /// On this terminal.
    Terminal,
    /// Into a file (standard output and error both).
    Log(&'a Path),
    /// On this terminal and into a file.
    Tee(&'a Path),
}

impl Qemu {
    /// A boot of `image` under BIOS, serial on standard output.
    pub fn new(image: impl Into<PathBuf>) -> Self {
        Qemu {
            image: image.into(),
            uefi_vars: None,
            icount: false,
            gdb: None,
            halted: false,
            serial: Serial::Stdio,
        }
    }

    /// Boots under `firmware`; for UEFI, `vars` is this boot's own copy of
    /// the firmware's variables (UEFI writes them, so two QEMUs must not
    /// share one), made fresh by [`Qemu::prepare`].
    pub fn firmware(mut self, firmware: Firmware, vars: impl Into<PathBuf>) -> Self {
        self.uefi_vars = (firmware == Firmware::Uefi).then(|| vars.into());
        self
    }

    /// `-icount shift=0`: the time-stamp counter advances one tick per
    /// guest instruction, so the kernel's `rdtsc` deltas are exact
    /// instruction counts.
    pub fn icount(mut self) -> Self {
        self.icount = true;
        self
    }

    /// A GDB stub on `dev` (`tcp::1234`, or `stdio` for a GDB that started
    /// QEMU at the other end of a pipe), the CPU halted until GDB says go.
    pub fn gdb_stub(mut self, dev: &'static str) -> Self {
        self.gdb = Some(dev);
        self.halted = true;
        self
    }

    /// Where serial goes.
    pub fn serial(mut self, serial: Serial) -> Self {
        self.serial = serial;
        self
    }

    /// The arguments after `qemu-system-x86_64`.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = [
            "-accel", "tcg", "-m", "512M", "-smp", "1", "-display", "none", "-serial",
        ]
        .map(String::from)
        .into();
        a.push(match &self.serial {
            Serial::Stdio => "stdio".into(),
            Serial::File(f) => format!("file:{}", f.display()),
        });
        a.extend(
            [
                "-monitor",
                "none",
                "-no-reboot",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-drive",
            ]
            .map(String::from),
        );
        a.push(format!("format=raw,file={}", self.image.display()));
        if let Some(vars) = &self.uefi_vars {
            a.push("-drive".into());
            a.push(format!("if=pflash,format=raw,readonly=on,file={OVMF_CODE}"));
            a.push("-drive".into());
            a.push(format!("if=pflash,format=raw,file={}", vars.display()));
        }
        if self.icount {
            a.extend(["-icount", "shift=0"].map(String::from));
        }
        if let Some(dev) = self.gdb {
            a.extend(["-gdb".into(), dev.into()]);
        }
        if self.halted {
            a.push("-S".into());
        }
        a
    }

    /// The command line as one shell word list (for GDB's `target remote
    /// | COMMAND`, which hands it to `/bin/sh`).
    pub fn shell_words(&self) -> String {
        std::iter::once("qemu-system-x86_64".to_string())
            .chain(self.args())
            .map(|w| shell_quote(&w))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Copies UEFI's variables for this boot (nothing to do under BIOS).
    pub fn prepare(&self) -> Result<()> {
        if let Some(vars) = &self.uefi_vars {
            std::fs::copy(OVMF_VARS, vars)
                .map_err(|e| format!("cannot copy the UEFI variables: {e}"))?;
        }
        Ok(())
    }

    /// The command, ready to spawn.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("qemu-system-x86_64");
        cmd.args(self.args());
        cmd
    }

    /// Boots, standard input closed, output as `out` says, and kills QEMU
    /// after `timeout`.
    pub fn run(&self, out: Output<'_>, timeout: Duration) -> Result<Ending> {
        self.prepare()?;
        run_command(self.command(), out, timeout)
    }
}

/// Runs `cmd`, standard input closed, output as `out` says, and kills it
/// after `timeout`.
pub fn run_command(mut cmd: Command, out: Output<'_>, timeout: Duration) -> Result<Ending> {
    cmd.stdin(Stdio::null());
    match out {
        Output::Terminal => wait_for(cmd.spawn()?, timeout, None),
        Output::Log(log) => {
            let file = File::create(log)?;
            cmd.stdout(file.try_clone()?).stderr(file);
            wait_for(cmd.spawn()?, timeout, None)
        }
        Output::Tee(log) => {
            let mut file = File::create(log)?;
            let mut child = cmd.stdout(Stdio::piped()).spawn()?;
            let mut pipe = child.stdout.take().ok_or("no pipe from QEMU")?;
            let copier = std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n @ 1..) = pipe.read(&mut buf) {
                    let mut term = std::io::stdout().lock();
                    let _ = term.write_all(&buf[..n]).and_then(|()| term.flush());
                    let _ = file.write_all(&buf[..n]);
                }
            });
            wait_for(child, timeout, Some(copier))
        }
    }
}

/// Waits for `child`, killing it when `timeout` has passed; then for the
/// thread that copies its output, if any.
fn wait_for(
    mut child: std::process::Child,
    timeout: Duration,
    copier: Option<std::thread::JoinHandle<()>>,
) -> Result<Ending> {
    let deadline = Instant::now() + timeout;
    let ending = loop {
        if let Some(status) = child.try_wait()? {
            break ended(status);
        }
        if Instant::now() >= deadline {
            // Already ended between the two calls, or now killed: either
            // way, reap it.
            let _ = child.kill();
            let status = child.wait()?;
            break if status.success() {
                ended(status)
            } else {
                Ending::TimedOut
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    if let Some(c) = copier {
        let _ = c.join();
    }
    Ok(ending)
}

fn ended(status: ExitStatus) -> Ending {
    Ending::Exited(status.code())
}

/// `word`, quoted for `/bin/sh` when it holds anything but plain
/// characters.
fn shell_quote(word: &str) -> String {
    let plain = |c: char| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c);
    if !word.is_empty() && word.chars().all(plain) {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// How a boot ended.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Ending {
    /// QEMU exited with this status (or was ended by a signal: `None`).
    Exited(Option<i32>),
    /// The runner killed QEMU when the time ran out.
    TimedOut,
}

impl Ending {
    /// The kernel reported success (0x10 on the exit port).
    pub fn success(self) -> bool {
        self == Ending::Exited(Some(QEMU_SUCCESS))
    }

    /// The kernel reported failure (0x11 on the exit port).
    pub fn kernel_failure(self) -> bool {
        self == Ending::Exited(Some(QEMU_FAILURE))
    }

    /// What the ending means, for a failure line. Under `-no-reboot` a
    /// triple fault resets the CPU and QEMU exits with 0.
    pub fn describe(self, timeout: Duration) -> String {
        match self {
            Ending::Exited(Some(QEMU_SUCCESS)) => "success".into(),
            Ending::Exited(Some(QEMU_FAILURE)) => "failure reported by the kernel".into(),
            Ending::Exited(Some(0)) => {
                "triple fault (the CPU reset; QEMU stopped under -no-reboot)".into()
            }
            Ending::Exited(Some(s)) => format!("QEMU exited with status {s}"),
            Ending::Exited(None) => "QEMU was ended by a signal".into(),
            Ending::TimedOut => format!("timed out after {} s", timeout.as_secs()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_machine_is_one_tcg_cpu_with_the_exit_device_and_no_reboot() {
        assert_eq!(
            Qemu::new("/i/k-bios.img").args().join(" "),
            "-accel tcg -m 512M -smp 1 -display none -serial stdio -monitor none \
             -no-reboot -device isa-debug-exit,iobase=0xf4,iosize=0x04 \
             -drive format=raw,file=/i/k-bios.img"
        );
    }

    #[test]
    fn uefi_adds_the_firmware_code_and_this_boots_own_variables() {
        let args = Qemu::new("/i/k-uefi.img")
            .firmware(Firmware::Uefi, "/i/vars.fd")
            .args();
        assert_eq!(
            args[args.len() - 4..],
            [
                "-drive",
                "if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd",
                "-drive",
                "if=pflash,format=raw,file=/i/vars.fd"
            ]
        );
    }

    #[test]
    fn bios_ignores_the_variables_file() {
        let args = Qemu::new("/i/k.img")
            .firmware(Firmware::Bios, "/i/vars.fd")
            .args();
        assert!(!args.iter().any(|a| a.contains("pflash")));
    }

    #[test]
    fn the_gdb_test_boot_is_halted_with_its_stub_on_stdio_and_serial_in_a_file() {
        let q = Qemu::new("/i/g.img")
            .serial(Serial::File("/t/s.log".into()))
            .gdb_stub("stdio");
        let args = q.args();
        assert!(args.windows(2).any(|w| w == ["-serial", "file:/t/s.log"]));
        assert_eq!(args[args.len() - 3..], ["-gdb", "stdio", "-S"]);
    }

    #[test]
    fn icount_counts_one_tick_per_instruction() {
        let args = Qemu::new("/i/b.img").icount().args();
        assert!(args.windows(2).any(|w| w == ["-icount", "shift=0"]));
    }

    #[test]
    fn shell_words_quote_only_what_the_shell_would_split() {
        assert_eq!(shell_quote("file:/a/b.log"), "file:/a/b.log");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn exit_statuses_name_what_the_kernel_or_the_machine_did() {
        let t = Duration::from_secs(9);
        assert_eq!(Ending::Exited(Some(33)).describe(t), "success");
        assert_eq!(
            Ending::Exited(Some(35)).describe(t),
            "failure reported by the kernel"
        );
        assert_eq!(
            Ending::Exited(Some(0)).describe(t),
            "triple fault (the CPU reset; QEMU stopped under -no-reboot)"
        );
        assert_eq!(
            Ending::Exited(Some(1)).describe(t),
            "QEMU exited with status 1"
        );
        assert_eq!(Ending::TimedOut.describe(t), "timed out after 9 s");
    }
}
