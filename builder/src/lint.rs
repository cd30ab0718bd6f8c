//! `./qemu-run.sh lint`: formatting and clippy, for the host crates and
//! for the kernel target, with the workspace's lints (every `unsafe` block
//! documented). CI runs it before the tests.
//!
//! Why every step even after a failure: one run shows every complaint.
//! The host benchmark's own targets are left out: they build Wasmtime,
//! which takes minutes and holds no kernel code.

use std::process::ExitCode;

use crate::kbuild::cargo;

/// The flags that build `core` and `alloc` for the kernel target.
const KERNEL_TARGET: &[&str] = &[
    "-Zbuild-std=core,compiler_builtins,alloc",
    "-Zbuild-std-features=compiler-builtins-mem",
    "-Zjson-target-spec",
    "--target",
    "x86_64-target.json",
];

pub fn lint() -> ExitCode {
    let mut clean = true;
    if cargo(&["fmt", "--all", "--check"]).is_err() {
        eprintln!("lint: cargo fmt --all would change files");
        clean = false;
    }
    let deny = ["--", "-D", "warnings"];
    let host: [&[&str]; 4] = [
        &["-p", "kernel", "--lib", "--tests"],
        &["-p", "kernel-tests", "--tests"],
        &["-p", "bench", "--lib"],
        &[
            "-p",
            "builder",
            "-p",
            "bundle",
            "--all-targets",
            "--all-features",
        ],
    ];
    // The kernel's binaries, and one suite of the stress build (the code
    // behind the kernel's `stress` feature); then the labs' kernels, around
    // the skeletons and around the solutions.
    let kernel: [&[&str]; 4] = [
        &["-p", "kernel", "--release", "--bins"],
        &[
            "-p",
            "kernel",
            "--release",
            "--bin",
            "test-cont",
            "--features",
            "stress",
        ],
        &["-p", "labs", "--release", "--bins"],
        &[
            "-p",
            "labs",
            "--release",
            "--bins",
            "--features",
            "lab-solutions",
        ],
    ];
    let runs = host
        .iter()
        .map(|a| a.to_vec())
        .chain(kernel.iter().map(|a| [KERNEL_TARGET, a].concat()));
    for args in runs {
        let args = [&["clippy", "--quiet"][..], &args, &deny].concat();
        clean &= cargo(&args).is_ok();
    }
    if clean {
        println!("lint: formatting and clippy clean");
        ExitCode::SUCCESS
    } else {
        println!("lint: FAILED (see above)");
        ExitCode::FAILURE
    }
}
