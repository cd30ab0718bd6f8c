//! Host tool: turns kernel ELF files into bootable BIOS and UEFI disk images.
//!
//! The kernel itself is a plain ELF; something has to put it on a disk with a
//! boot loader in front. The `bootloader` crate (0.11) does that: for BIOS it
//! writes an MBR disk with its boot sector and stages, for UEFI a GPT disk
//! with an EFI system partition. Both hand the kernel the same `BootInfo`.
//!
//! Usage: `builder [--bios] [--uefi] <out-dir> <kernel-elf>...` writes
//! `<name>-bios.img` and/or `<name>-uefi.img` into `<out-dir>` for each
//! kernel, where `<name>` is the ELF's file name (both images when neither
//! flag is given). `qemu-run.sh` calls this after building the kernels.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bootloader::{BootConfig, DiskImageBuilder};
use bootloader_boot_config::LevelFilter;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let mut firmware = Firmware {
        bios: false,
        uefi: false,
    };
    let mut paths = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.to_str() {
            Some("--bios") => firmware.bios = true,
            Some("--uefi") => firmware.uefi = true,
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if !firmware.bios && !firmware.uefi {
        firmware = Firmware {
            bios: true,
            uefi: true,
        };
    }
    let mut args = paths.into_iter();
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
        if let Err(err) = build_images(kernel, &out_dir, firmware) {
            eprintln!("builder: {}: {err}", kernel.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Which disk images to write.
#[derive(Clone, Copy)]
struct Firmware {
    bios: bool,
    uefi: bool,
}

/// Writes the requested images for one kernel.
fn build_images(kernel: &Path, out_dir: &Path, firmware: Firmware) -> Result<()> {
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
    if firmware.bios {
        builder.create_bios_image(&out_dir.join(format!("{name}-bios.img")))?;
    }
    if firmware.uefi {
        builder.create_uefi_image(&out_dir.join(format!("{name}-uefi.img")))?;
    }
    Ok(())
}
