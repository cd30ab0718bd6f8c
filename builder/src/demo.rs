//! The modes that boot one kernel with its serial on this terminal: the
//! demo (`./qemu-run.sh`, `--gdb`), GDB attached to it (`gdb`), a
//! WebAssembly module (`wasm FILE`) and `.wast` scripts (`wast
//! FILE-or-DIR...`).
//!
//! Why together: each is build, make an image (for `wasm` and `wast` with
//! a ramdisk made on the host, so their kernels are not rebuilt per
//! module), boot, and turn QEMU's exit status into the mode's own.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use crate::cli::say;
use crate::kbuild::{self, Env};
use crate::qemu::{Output, Qemu};

/// Boots `qemu` with serial on this terminal; success is the kernel's
/// success, anything else a message naming what happened.
fn boot_on_terminal(env: &Env, mode: &str, qemu: Qemu) -> ExitCode {
    match qemu.run(Output::Terminal, env.timeout) {
        Ok(e) if e.success() => ExitCode::SUCCESS,
        Ok(e) => {
            say!("{mode}: {}", e.describe(env.timeout));
            ExitCode::FAILURE
        }
        Err(e) => {
            say!("{mode}: cannot boot: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `./qemu-run.sh [--uefi] [--gdb]`: the demo kernel; with `gdb`, QEMU
/// starts halted with a GDB stub on port 1234 and no time limit.
pub fn demo(env: &Env, gdb: bool) -> ExitCode {
    if let Err(e) = kbuild::build(env, &["kernel"]) {
        say!("demo: {e}");
        return ExitCode::FAILURE;
    }
    let qemu = env.qemu(env.image("kernel", None), "demo");
    if !gdb {
        return boot_on_terminal(env, "demo", qemu);
    }
    let offset = match env.kernel_offset() {
        Ok(o) => o,
        Err(e) => {
            say!("demo: {e}");
            return ExitCode::from(2);
        }
    };
    let kernel = env.kernels.join("kernel");
    let py = env.root.join("kernel/gdb/continuations.py");
    eprintln!("QEMU is halted, waiting for GDB on localhost:1234. In another terminal:");
    eprintln!("  ./qemu-run.sh gdb");
    eprintln!(
        "(or by hand: gdb -ex 'add-symbol-file {} -o {}' \\",
        kernel.display(),
        offset
    );
    eprintln!(
        "   -ex 'source {}' -ex 'target remote localhost:1234')",
        py.display()
    );
    let qemu = qemu.gdb_stub("tcp::1234");
    if let Err(e) = qemu.prepare() {
        say!("demo: {e}");
        return ExitCode::FAILURE;
    }
    let e = qemu.command().exec();
    say!("demo: cannot start QEMU: {e}");
    ExitCode::FAILURE
}

/// `./qemu-run.sh gdb`: GDB for the QEMU that `--gdb` started: the demo
/// kernel's symbols, the continuation commands, and a first stop at
/// `kernel::boot::init`. Until the bootloader has mapped the kernel only
/// hardware breakpoints can be set, so the first one is an `hbreak`; after
/// it, `break` works too.
pub fn attach(env: &Env) -> ExitCode {
    let offset = match env.kernel_offset() {
        Ok(o) => o,
        Err(e) => {
            say!("gdb: {e}");
            return ExitCode::from(2);
        }
    };
    let e = Command::new("gdb")
        .arg("-q")
        .args(["-ex", "set pagination off", "-ex", "set confirm off"])
        .arg("-ex")
        .arg(format!(
            "add-symbol-file {} -o {}",
            env.kernels.join("kernel").display(),
            offset
        ))
        .arg("-ex")
        .arg(format!(
            "source {}",
            env.root.join("kernel/gdb/continuations.py").display()
        ))
        .args(["-ex", "target remote localhost:1234"])
        .args(["-ex", "hbreak kernel::boot::init", "-ex", "continue"])
        .exec();
    say!("gdb: cannot start gdb: {e}");
    ExitCode::FAILURE
}

/// `./qemu-run.sh wasm FILE`: the `wasm-main` kernel with the module FILE
/// (a `.wat` file, or a binary `.wasm`) as its ramdisk. The kernel is the
/// same for every module, so only the disk image is made anew.
pub fn wasm(env: &Env, words: &[String]) -> ExitCode {
    let file = match words {
        [f] if Path::new(f).is_file() => Path::new(f),
        _ => {
            say!("wasm needs a WAT file, e.g. ./qemu-run.sh wasm examples/generator.wat");
            return ExitCode::from(2);
        }
    };
    let dir = env.images.join("wasm");
    let made = kbuild::build(env, &["wasm-main"]).and_then(|()| {
        std::fs::create_dir_all(&dir)?;
        let binary = wat::parse_file(file)?;
        let module = dir.join("main.wasm");
        std::fs::write(&module, binary)?;
        kbuild::images(
            env,
            &dir,
            &[env.images.join("elf/wasm-main")],
            Some(&module),
        )
    });
    if let Err(e) = made {
        say!("wasm: {e}");
        return ExitCode::FAILURE;
    }
    let qemu = env.qemu(env.image("wasm-main", Some(&dir)), "wasm");
    boot_on_terminal(env, "wasm", qemu)
}

/// Packs the scripts `inputs` into `dir/bundle` and makes the `wast-main`
/// kernel's image in `dir` with it as the ramdisk; returns the image.
pub fn wast_image(env: &Env, dir: &Path, inputs: &[PathBuf]) -> crate::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let bundle = dir.join("bundle");
    crate::write_bundle(&bundle, &crate::pack_files(inputs)?)?;
    kbuild::images(env, dir, &[env.images.join("elf/wast-main")], Some(&bundle))?;
    Ok(env.image("wast-main", Some(dir)))
}

/// `./qemu-run.sh wast FILE-or-DIR...`: the `wast-main` kernel with the
/// scripts (files, or directories of `*.wast`) packed into its ramdisk.
pub fn wast(env: &Env, words: &[String]) -> ExitCode {
    if words.is_empty() {
        say!("wast needs .wast files or directories, e.g. ./qemu-run.sh wast kernel/wast");
        return ExitCode::from(2);
    }
    if let Some(f) = words.iter().find(|f| !Path::new(f).exists()) {
        say!("wast: no such file or directory: {f}");
        return ExitCode::from(2);
    }
    let inputs: Vec<PathBuf> = words.iter().map(PathBuf::from).collect();
    let image = kbuild::build(env, &["wast-main"])
        .and_then(|()| wast_image(env, &env.images.join("wast"), &inputs));
    match image {
        Ok(image) => boot_on_terminal(env, "wast", env.qemu(image, "wast")),
        Err(e) => {
            say!("wast: {e}");
            ExitCode::FAILURE
        }
    }
}
