#!/usr/bin/env bash
# qemu-run.sh: build the kernel, turn it into disk images, boot them in QEMU.
#
#   ./qemu-run.sh                  build and boot the demo kernel (BIOS);
#                                  serial output on this terminal
#   ./qemu-run.sh --uefi           the same, booted through UEFI (OVMF)
#   ./qemu-run.sh --gdb            start QEMU halted, waiting for GDB
#   ./qemu-run.sh gdb              (in another terminal) GDB with the demo
#                                  kernel's symbols and the continuation
#                                  commands (kernel/gdb/continuations.py),
#                                  attached to that QEMU
#   ./qemu-run.sh test             host unit tests, then every in-kernel
#                                  suite in a boot of its own, as many at
#                                  once as there are cores (`builder
#                                  run-suites`); ends with "N passed, N
#                                  failed"
#   ./qemu-run.sh test SUITE...    only these in-kernel suites (no host
#                                  tests); the suite `gdb` is the GDB test,
#                                  `wast` the .wast runner from a ramdisk
#   ./qemu-run.sh test stress      only the stress suites: cont, hostile,
#                                  wasm, faults, stacks and limits built
#                                  with the kernel's `stress` feature (a
#                                  jittered clock every few thousand
#                                  instructions, every resume preemptible;
#                                  docs/interrupts.md), booted as
#                                  stress-cont, ...; each prints a line of
#                                  tick counts (STRESS_SEED=N: another run)
#   ./qemu-run.sh test --uefi      the in-kernel suites under UEFI
#   ./qemu-run.sh test --jobs N    at most N QEMUs at once (default: one
#                                  per core)
#   ./qemu-run.sh wasm FILE.wat    run the exported `main` of a WebAssembly
#                                  module in the kernel, spectest prints on
#                                  serial (examples/generator.wat, ...); the
#                                  module goes in the ramdisk, so the kernel
#                                  is not rebuilt for it; `main` may run 30 s
#                                  (3000 ticks), then stops: "timed out"
#   ./qemu-run.sh run FILE [ARGS...]  run a WASI program (.wasm from a
#                                  stock toolchain, or .wat) in the kernel:
#                                  its output here, its exit code as this
#                                  script's status (134: it trapped, or
#                                  ran past its 30 s budget: "timed out");
#                                  examples/wasi/build.sh builds examples
#   ./qemu-run.sh run --link NAME=LIB FILE ...  the same, LIB (.wasm or
#                                  .wat) instantiated first and registered
#                                  as NAME for FILE's imports (repeatable)
#   ./qemu-run.sh wast FILE-or-DIR...  run .wast scripts (a directory: its
#                                  *.wast) in the kernel, packed on the
#                                  host into the bootloader's ramdisk;
#                                  one line per command, "N passed, N
#                                  failed"
#   ./qemu-run.sh public-api       compare the kernel crate's public
#                                  surface (rustdoc JSON) with the list
#                                  in docs/public-api.txt
#   ./qemu-run.sh public-api --update  rewrite docs/public-api.txt
#   ./qemu-run.sh lint             cargo fmt --check and clippy (host
#                                  crates and the kernel target), as CI
#   ./qemu-run.sh bench            boot the benchmark kernel under
#                                  -icount shift=0: exact instruction counts
#   ./qemu-run.sh bench --host     criterion on the host: our continuation
#                                  core next to corosensei, context, Wasmtime
#   ... bench [--host] --json      the same, plus one JSON object as the
#                                  last line
#   ./qemu-run.sh lab N            build and boot lab N's checker against
#                                  labs/labN/student.rs (docs/labs/)
#   ./qemu-run.sh lab N --solution the same, against the reference solution
#   ./qemu-run.sh grade            every lab's checker against your files:
#                                  a score per lab and a total
#   ./qemu-run.sh labs-check       every lab: the skeleton and each wrong
#                                  solution (labs/wrong/) must fail its
#                                  checker, the solution pass it (CI)
#
# This script is the front door, and a thin one: it installs what is
# missing (the pinned toolchain, QEMU and OVMF, GDB), builds the host tool
# `builder` (builder/) and hands it the arguments unchanged (`builder
# qemu-run ARGS...`, builder/src/cli.rs). Everything else, the builds, the
# disk images, the one QEMU command line (builder/src/qemu.rs) and every
# mode, is Rust.
#
# Environment: QEMU_TIMEOUT (seconds per boot, default 180).
#
# Exit status: 0 success; 1 a build, boot or test failure; 2 a mistyped
# command, or a missing prerequisite that this script could not install
# (it says which command to run).
set -euo pipefail

cd "$(dirname "$0")"

# The kernel is position independent and the bootloader loads it at the
# start of its dynamic range (boot.rs; the boot log's "paging: ... kernel
# image" line shows it): GDB adds this to every address of its symbols
# (builder's GDB modes read it from here; kernel/src/doc_figures.rs checks
# it against the kernel's constant).
export KERNEL_OFFSET=0xffff800000000000

say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- set-up ---

# The pinned nightly (rust-toolchain.toml) with the components the kernel
# build needs. rustup installs it here if it is missing.
ensure_toolchain() {
    if ! command -v rustup >/dev/null 2>&1; then
        say "qemu-run.sh: rustup is not installed. Install it, then run this again:"
        say "  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --default-toolchain none"
        exit 2
    fi
    local channel
    channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
    if ! rustup run "$channel" rustc --version >/dev/null 2>&1; then
        say "qemu-run.sh: installing the pinned toolchain $channel"
        rustup toolchain install "$channel" --profile minimal \
            --component rust-src,llvm-tools-preview,rustfmt,clippy \
            --target x86_64-unknown-none >&2
    fi
}

# Debian packages $@, installed with apt-get where we can (as root);
# otherwise the command to run, and exit status 2.
ensure_packages() {
    [ $# -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "qemu-run.sh: installing $* with apt-get"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2 && return 0
    fi
    say "qemu-run.sh: missing $*. Install with:"
    say "  sudo apt-get update && sudo apt-get install -y $*"
    exit 2
}

# QEMU, and OVMF for UEFI boots ($1 = yes).
ensure_qemu() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    if [ "$1" = yes ] && [ ! -f /usr/share/OVMF/OVMF_CODE_4M.fd ]; then
        missing+=(ovmf)
    fi
    ensure_packages ${missing[@]+"${missing[@]}"}
}

ensure_gdb() {
    command -v gdb >/dev/null 2>&1 || ensure_packages gdb
}

# ------------------------------------------------------------------ main ---

# What the mode needs installed: the first word that is not a flag names
# the mode (builder reads the arguments again, and rejects bad ones).
mode=demo uefi=no host=no words=() skip=no
for arg in "$@"; do
    [ "$skip" = yes ] && { skip=no; continue; }
    case $arg in
        --jobs) skip=yes ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        --uefi) uefi=yes ;;
        --host) host=yes ;;
        -*) ;;
        *) words+=("$arg") ;;
    esac
done
[ ${#words[@]} -gt 0 ] && mode=${words[0]}

ensure_toolchain
case $mode in
    lint | public-api) ;;
    bench) [ "$host" = yes ] || ensure_qemu no ;;
    labs-check | grade) ensure_qemu no ;;
    gdb) ensure_gdb ;;
    test)
        ensure_qemu "$uefi"
        # The GDB test runs with every suite, or when named.
        if [ ${#words[@]} -eq 1 ] || printf '%s\n' "${words[@]:1}" | grep -qx gdb; then
            ensure_gdb
        fi
        ;;
    *) ensure_qemu "$uefi" ;;
esac

cargo build --quiet --release -p builder >&2 || exit 1
exec target/release/builder qemu-run "$@"
