//! The project's runner, a host tool: every mode of `./qemu-run.sh`; and
//! the steps they are made of, each a subcommand of its own: turning
//! kernel ELF files into bootable BIOS and UEFI disk images, packing what
//! the kernels read from their ramdisk, running the in-kernel test suites.
//!
//! `builder qemu-run ARGS...` is `./qemu-run.sh ARGS...` once the script
//! has installed what is missing (`cli.rs` reads the arguments; a module
//! per mode: `demo.rs` for the demo, `gdb`, `wasm` and `wast`;
//! `testing.rs` for `test`, with `run.rs` for the suites, `gdb_test.rs`
//! and `surface.rs`; `surface.rs` for `public-api`; `bench.rs`; `labs.rs`
//! for `lab`, `grade` and `labs-check`; `lint.rs`). Every mode builds through
//! `kbuild.rs` and boots through `qemu.rs`, the one QEMU command line.
//!
//! The kernel itself is a plain ELF; something has to put it on a disk with a
//! boot loader in front. The `bootloader` crate (0.11) does that: for BIOS it
//! writes an MBR disk with its boot sector and stages, for UEFI a GPT disk
//! with an EFI system partition. Both hand the kernel the same `BootInfo`.
//!
//! Usage: `builder [--bios] [--uefi] [--ramdisk FILE] <out-dir>
//! <kernel-elf>...` writes `<name>-bios.img` and/or `<name>-uefi.img` into
//! `<out-dir>` for each kernel, where `<name>` is the ELF's file name (both
//! images when neither flag is given); with `--ramdisk`, the bootloader
//! loads FILE into memory and hands it to the kernel (`BootInfo::
//! ramdisk_addr`). The modes do the same in-process (`kbuild.rs`).
//!
//! `builder pack-wast <bundle> <file-or-dir>...` packs `.wast` scripts
//! (each file, and every `*.wast` of each directory, sorted) into the
//! bundle the `wast-main` kernel runs (the workspace's `bundle` crate
//! holds the format and the packer, so the kernel reads what this writes).
//!
//! `builder wat <in.wat> <out.wasm>` turns a module in the text format into
//! a binary, for the `wasm-main` kernel's ramdisk; a syntax error is one
//! message naming the file, line and column.
//!
//! `builder suites` lists the in-kernel suites, one a line; `builder
//! run-suites [--uefi] [--timeout S] [--jobs N] [SUITE...]` boots them
//! (all, or those named) from `target/images/`, N at once (by default one
//! per core), and prints their lines in order (`run.rs`), then `N passed,
//! N failed`. (`./qemu-run.sh test` builds the images first and calls
//! `run.rs` in-process.)
//!
//! `builder public-api <kernel.json> [--check FILE | --write FILE]` lists
//! the kernel crate's public surface from rustdoc's JSON (`public_api.rs`):
//! on standard output, compared with FILE (exit 1 and the differing lines
//! if they differ), or written to FILE.

mod bench;
mod cli;
mod demo;
mod gdb_test;
mod kbuild;
mod labs;
mod lint;
mod program;
mod public_api;
mod qemu;
mod run;
mod surface;
mod testing;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use bootloader::{BootConfig, DiskImageBuilder};
use bootloader_boot_config::LevelFilter;

use crate::qemu::Firmware;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> ExitCode {
    let mut firmware = Images {
        bios: false,
        uefi: false,
    };
    let mut paths = Vec::new();
    let mut ramdisk = None;
    let mut args = std::env::args_os().skip(1);
    if std::env::args_os().nth(1).is_some_and(|a| a == "pack-wast") {
        return pack_wast(args.skip(1).map(PathBuf::from).collect());
    }
    match std::env::args_os()
        .nth(1)
        .as_deref()
        .and_then(|a| a.to_str())
    {
        Some("public-api") => return public_api(args.skip(1).collect()),
        Some("wat") => return wat(args.skip(1).map(PathBuf::from).collect()),
        Some("suites") => return list_suites(),
        Some("run-suites") => return run_suites(args.skip(1).collect()),
        Some("qemu-run") => {
            return cli::main(
                args.skip(1)
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect(),
            );
        }
        _ => {}
    }
    while let Some(arg) = args.next() {
        match arg.to_str() {
            Some("--bios") => firmware.bios = true,
            Some("--uefi") => firmware.uefi = true,
            Some("--ramdisk") => ramdisk = args.next().map(PathBuf::from),
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    if !firmware.bios && !firmware.uefi {
        firmware = Images {
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
        if let Err(err) = build_images(kernel, &out_dir, firmware, ramdisk.as_deref()) {
            eprintln!("builder: {}: {err}", kernel.display());
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Which disk images to write.
#[derive(Clone, Copy)]
struct Images {
    bios: bool,
    uefi: bool,
}

/// Writes the requested images for one kernel.
fn build_images(
    kernel: &Path,
    out_dir: &Path,
    firmware: Images,
    ramdisk: Option<&Path>,
) -> Result<()> {
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
    if let Some(r) = ramdisk {
        builder.set_ramdisk(r.to_path_buf());
    }
    if firmware.bios {
        builder.create_bios_image(&out_dir.join(format!("{name}-bios.img")))?;
    }
    if firmware.uefi {
        builder.create_uefi_image(&out_dir.join(format!("{name}-uefi.img")))?;
    }
    Ok(())
}

/// `builder pack-wast <bundle> <file-or-dir>...`: see the crate docs.
fn pack_wast(args: Vec<PathBuf>) -> ExitCode {
    let Some((out, inputs)) = args.split_first().filter(|(_, i)| !i.is_empty()) else {
        eprintln!("usage: builder pack-wast <bundle> <file-or-dir>...");
        return ExitCode::from(2);
    };
    match pack_files(inputs) {
        Ok(b) => match write_bundle(out, &b) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("builder: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("builder: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Writes `b` to `out`, after checking that the kernel's reader reads the
/// bytes back to the same bundle.
fn write_bundle(out: &Path, b: &bundle::Bundle) -> Result<()> {
    let bytes = bundle::encode(b);
    match bundle::decode(&bytes) {
        Ok(back) if back == *b => {}
        Ok(_) => return Err("the bundle reads back differently (a bug of the format)".into()),
        Err(e) => return Err(format!("the bundle does not read back: {e}").into()),
    }
    std::fs::write(out, bytes).map_err(|e| format!("cannot write {}: {e}", out.display()).into())
}

/// Every script named by `inputs` (directories: their `*.wast`, sorted).
fn pack_files(inputs: &[PathBuf]) -> Result<bundle::Bundle> {
    let mut files = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "wast"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(p.clone());
        }
    }
    let mut scripts = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| format!("{}: {e}", f.display()))?;
        let name = f
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or("a file without a name")?;
        // A script that does not parse fails alone (one "not run"
        // record); the others still run.
        scripts.push(bundle::pack::pack_file(name, &text));
    }
    Ok(bundle::Bundle { scripts })
}

/// `builder public-api <kernel.json> [--check FILE | --write FILE]`.
fn public_api(args: Vec<std::ffi::OsString>) -> ExitCode {
    let usage = "usage: builder public-api <kernel.json> [--check FILE | --write FILE]";
    let (json, mode) = match args.as_slice() {
        [json] => (json, None),
        [json, flag, file] if flag == "--check" || flag == "--write" => (
            json,
            Some((flag.to_string_lossy().into_owned(), PathBuf::from(file))),
        ),
        _ => {
            eprintln!("{usage}");
            return ExitCode::from(2);
        }
    };
    let lines = match surface::surface_of(Path::new(json)) {
        Ok(lines) => lines,
        Err(e) => {
            eprintln!("builder public-api: {e}");
            return ExitCode::FAILURE;
        }
    };
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    match mode {
        None => print!("{text}"),
        Some((flag, file)) if flag == "--write" => {
            if let Err(e) = std::fs::write(&file, text) {
                eprintln!("builder public-api: {}: {e}", file.display());
                return ExitCode::FAILURE;
            }
        }
        Some((_, file)) => {
            let old = std::fs::read_to_string(&file).unwrap_or_default();
            let differs = surface::diff(&old, &lines);
            if differs.is_empty() {
                return ExitCode::SUCCESS;
            }
            for line in differs {
                println!("{line}");
            }
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// `builder wat <in.wat> <out.wasm>`.
fn wat(args: Vec<PathBuf>) -> ExitCode {
    let [from, to] = args.as_slice() else {
        eprintln!("usage: builder wat <in.wat> <out.wasm>");
        return ExitCode::from(2);
    };
    // `parse_file` names the file in its errors, with line and column.
    let binary = match wat::parse_file(from) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("builder wat: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::write(to, binary) {
        eprintln!("builder wat: {}: {e}", to.display());
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// `builder suites`.
fn list_suites() -> ExitCode {
    match run::workspace() {
        Ok(ws) => {
            for s in ws.suites {
                println!("{s}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("builder suites: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `builder run-suites [--uefi] [--timeout S] [--jobs N] [SUITE...]`.
fn run_suites(args: Vec<std::ffi::OsString>) -> ExitCode {
    let usage = "usage: builder run-suites [--uefi] [--timeout S] [--jobs N] [SUITE...]";
    let mut uefi = false;
    let mut jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut timeout = 180;
    let mut named = Vec::new();
    let mut args = args.into_iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--uefi" => uefi = true,
            "--bios" => uefi = false,
            "--timeout" => match args.next().and_then(|t| t.parse().ok()) {
                Some(t) => timeout = t,
                None => {
                    eprintln!("{usage}");
                    return ExitCode::from(2);
                }
            },
            "--jobs" => match args.next().and_then(|t| t.parse().ok()) {
                Some(n) => jobs = n,
                None => {
                    eprintln!("{usage}");
                    return ExitCode::from(2);
                }
            },
            a if a.starts_with('-') => {
                eprintln!("{usage}");
                return ExitCode::from(2);
            }
            _ => named.push(arg),
        }
    }
    let ws = match run::workspace() {
        Ok(ws) => ws,
        Err(e) => {
            eprintln!("builder run-suites: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(s) = named.iter().find(|s| !ws.suites.contains(s)) {
        eprintln!(
            "builder run-suites: no suite named {s} (the suites: {})",
            ws.suites.join(" ")
        );
        return ExitCode::from(2);
    }
    let suites = if named.is_empty() { ws.suites } else { named };
    let firmware = if uefi { Firmware::Uefi } else { Firmware::Bios };
    let env = match kbuild::Env::new(ws.target, firmware) {
        Ok(env) => kbuild::Env {
            timeout: std::time::Duration::from_secs(timeout),
            ..env
        },
        Err(e) => {
            eprintln!("builder run-suites: {e}");
            return ExitCode::from(2);
        }
    };
    let (passed, failed) = run::run(&suites, &env, jobs);
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
