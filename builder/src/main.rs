//! Host tool: turns kernel ELF files into bootable BIOS and UEFI disk images.
//!
//! The kernel itself is a plain ELF; something has to put it on a disk with a
//! boot loader in front. The `bootloader` crate (0.11) does that: for BIOS it
//! writes an MBR disk with its boot sector and stages, for UEFI a GPT disk
//! with an EFI system partition. Both hand the kernel the same `BootInfo`.
//!
//! Usage: `builder <out-dir> <kernel-elf>...` writes `<name>-bios.img` and
//! `<name>-uefi.img` into `<out-dir>` for each kernel, where `<name>` is the
//! ELF's file name. `qemu-run.sh` calls this after building the kernels.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bootloader::{BootConfig, DiskImageBuilder};
use bootloader_boot_config::LevelFilter;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let Some(out_dir) = args.next() else {
        eprintln!("usage: builder <out-dir> <kernel-elf>...");
        return ExitCode::from(2);
    };
    let kernels: Vec<PathBuf> = args.collect();
    if kernels.is_empty() {
        eprintln!("usage: builder <out-dir> <kernel-elf>...");
        return ExitCode::from(2);
    }
    if let Err(err) = std::fs::create_dir_all(&out_dir) {
        eprintln!("builder: cannot create {}: {err}", out_dir.display());
        return ExitCode::FAILURE;
    }
    for kernel in &kernels {
        if let Err(err) = build_images(kernel, &out_dir) {
            eprintln!("builder: {}: {err}", kernel.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Writes the BIOS and the UEFI image for one kernel.
fn build_images(kernel: &Path, out_dir: &Path) -> Result<()> {
    let name = kernel
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or("kernel path has no file name")?;
    // The bootloader logs its own progress over serial before the kernel
    // starts; keep that to warnings so the kernel's lines stand out, and keep
    // it off the (unused) frame buffer.
    let mut config = BootConfig::default();
    config.log_level = LevelFilter::Warn;
    config.frame_buffer_logging = false;
    let mut builder = DiskImageBuilder::new(kernel.to_path_buf());
    builder.set_boot_config(&config);
    builder.create_bios_image(&out_dir.join(format!("{name}-bios.img")))?;
    builder.create_uefi_image(&out_dir.join(format!("{name}-uefi.img")))?;
    Ok(())
}
