//! Building what the modes boot: the kernel binaries (`cargo kbuild`,
//! release, for the kernel target), their stripped copies, and their disk
//! images; and where all of it lives.
//!
//! Why here and not in `qemu-run.sh`: every mode needs the same three
//! steps in the same order, and a failed step must stop the mode before it
//! boots the images of an earlier build; as functions returning `Result`
//! that cannot be forgotten.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::Result;
use crate::qemu::{Firmware, Qemu};

/// Where the workspace's files are, and how long a boot may take.
#[derive(Clone)]
pub struct Env {
    /// The repository (the current directory: `qemu-run.sh` changes to it).
    pub root: PathBuf,
    /// cargo's target directory.
    pub target: PathBuf,
    /// `target/images/`: the disk images and their stripped kernels.
    pub images: PathBuf,
    /// `target/x86_64-target/release/`: the kernels with their symbols.
    pub kernels: PathBuf,
    /// Seconds a boot may take (`QEMU_TIMEOUT`, default 180).
    pub timeout: Duration,
    /// The firmware of this run's boots (`--uefi`, or BIOS).
    pub firmware: Firmware,
    /// Where the bootloader loads the kernel, which GDB adds to every
    /// address of its symbols: `KERNEL_OFFSET`, set by `qemu-run.sh`
    /// (only the GDB modes need it, and [`Env::kernel_offset`] says when
    /// it is missing).
    pub kernel_offset: Option<String>,
}

impl Env {
    /// The paths under `target`, for boots under `firmware`.
    pub fn new(target: PathBuf, firmware: Firmware) -> Result<Self> {
        let timeout = match std::env::var("QEMU_TIMEOUT") {
            Ok(t) => t
                .parse()
                .map_err(|_| format!("QEMU_TIMEOUT is not a number of seconds: {t}"))?,
            Err(_) => 180,
        };
        Ok(Env {
            root: std::env::current_dir()?,
            images: target.join("images"),
            kernels: target.join("x86_64-target").join("release"),
            target,
            timeout: Duration::from_secs(timeout),
            firmware,
            kernel_offset: std::env::var("KERNEL_OFFSET").ok(),
        })
    }

    /// Where the bootloader loads the kernel (`KERNEL_OFFSET`).
    pub fn kernel_offset(&self) -> Result<&str> {
        self.kernel_offset
            .as_deref()
            .ok_or_else(|| "KERNEL_OFFSET is not set (qemu-run.sh sets it)".into())
    }

    /// The disk image of kernel `bin` (in `dir`, or `target/images/`).
    pub fn image(&self, bin: &str, dir: Option<&Path>) -> PathBuf {
        dir.unwrap_or(&self.images)
            .join(format!("{bin}-{}.img", self.firmware.name()))
    }

    /// A boot of `image` under this run's firmware, with UEFI's variables
    /// in a copy named for `name`.
    pub fn qemu(&self, image: PathBuf, name: &str) -> Qemu {
        let vars = self.images.join(format!("OVMF_VARS_4M-{name}.fd"));
        Qemu::new(image).firmware(self.firmware, vars)
    }
}

/// `cargo` with `args`, its output on standard error (standard output is
/// for the modes' own lines); whether it succeeded.
pub fn cargo(args: &[&str]) -> Result<()> {
    let status = Command::new("cargo")
        .args(args)
        .stdout(Stdio::from(std::io::stderr()))
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo {} failed", args.first().unwrap_or(&"")).into())
    }
}

/// Builds the kernel binaries `bins` (release, frame pointers on, as the
/// kernel's profile says) and their disk images for `env.firmware`.
///
/// The images get each kernel without its DWARF sections: 8 of its 8.5
/// MiB, which the bootloader would read from disk at every boot (10
/// seconds of a 13-second boot under TCG). The symbol table stays, for the
/// kernel's own trap reports (`kernel/src/symbols.rs`); GDB reads the full
/// file in `target/x86_64-target/release/` (docs/debugging.md).
pub fn build(env: &Env, bins: &[&str]) -> Result<()> {
    let mut args = vec!["kbuild", "--quiet", "--release"];
    for b in bins {
        args.extend(["--bin", b]);
    }
    cargo(&args)?;
    let mut elfs = Vec::new();
    for b in bins {
        elfs.push(strip(env, b, b)?);
    }
    images(env, &env.images, &elfs, None)
}

/// Builds the stress variants of the suites `suites` (the kernel's
/// `stress` feature: `docs/interrupts.md`, "Stress mode") and their disk
/// images, named `test-stress-NAME`. cargo keeps both builds of the
/// kernel apart (the feature is part of their hash) and copies whichever
/// it built last to `target/x86_64-target/release/test-NAME`, so each
/// kernel is stripped from there before the next build; the images of
/// the ordinary suites are made by [`build`] after this.
pub fn build_stress(env: &Env, suites: &[&str]) -> Result<()> {
    let mut args = vec!["kbuild", "--quiet", "--release", "--features", "stress"];
    let bins: Vec<String> = suites.iter().map(|s| format!("test-{s}")).collect();
    for b in &bins {
        args.extend(["--bin", b]);
    }
    cargo(&args)?;
    let mut elfs = Vec::new();
    for (s, b) in suites.iter().zip(&bins) {
        elfs.push(strip(env, b, &format!("test-stress-{s}"))?);
    }
    images(env, &env.images, &elfs, None)
}

/// Copies the kernel `bin` without its DWARF sections to
/// `target/images/elf/NAME` (see [`build`]).
fn strip(env: &Env, bin: &str, name: &str) -> Result<PathBuf> {
    let elf_dir = env.images.join("elf");
    std::fs::create_dir_all(&elf_dir)?;
    let out = elf_dir.join(name);
    let objcopy = objcopy()?;
    let ok = Command::new(&objcopy)
        .arg("--strip-debug")
        .arg(env.kernels.join(bin))
        .arg(&out)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", objcopy.display()))?
        .success();
    if !ok {
        return Err(format!("llvm-objcopy could not strip {bin}").into());
    }
    Ok(out)
}

/// Writes the disk images of `elfs` into `dir` for `env.firmware`, with
/// `ramdisk` when given.
pub fn images(env: &Env, dir: &Path, elfs: &[PathBuf], ramdisk: Option<&Path>) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let firmware = crate::Images {
        bios: env.firmware == Firmware::Bios,
        uefi: env.firmware == Firmware::Uefi,
    };
    for elf in elfs {
        crate::build_images(elf, dir, firmware, ramdisk)
            .map_err(|e| format!("{}: {e}", elf.display()))?;
    }
    Ok(())
}

/// The pinned toolchain's `llvm-objcopy` (component `llvm-tools`).
fn objcopy() -> Result<PathBuf> {
    let rustc = |args: &[&str]| -> Result<String> {
        let out = Command::new("rustc").args(args).output()?;
        Ok(String::from_utf8(out.stdout)?)
    };
    let sysroot = rustc(&["--print", "sysroot"])?;
    let host = rustc(&["-vV"])?
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or("rustc -vV names no host")?;
    Ok(Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host)
        .join("bin/llvm-objcopy"))
}
