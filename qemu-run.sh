#!/usr/bin/env bash
# qemu-run.sh: build the kernel, turn it into disk images, boot them in QEMU.
#
#   ./qemu-run.sh                  build and boot the demo kernel (BIOS);
#                                  serial output on this terminal
#   ./qemu-run.sh --uefi           the same, booted through UEFI (OVMF)
#   ./qemu-run.sh --gdb            start QEMU halted, waiting for GDB
#   ./qemu-run.sh test             host unit tests, then every in-kernel
#                                  suite in a boot of its own; ends with
#                                  "N passed, N failed"
#   ./qemu-run.sh test SUITE...    only these in-kernel suites (no host tests)
#   ./qemu-run.sh test --uefi      the in-kernel suites under UEFI
#   ./qemu-run.sh wasm FILE.wat    run the exported `main` of a WebAssembly
#                                  module in the kernel, spectest prints on
#                                  serial (examples/generator.wat, ...)
#   ./qemu-run.sh lint             cargo fmt --check and clippy (host
#                                  crates and the kernel target), as CI
#   ./qemu-run.sh bench            boot the benchmark kernel under
#                                  -icount shift=0: exact instruction counts
#   ./qemu-run.sh bench --host     criterion on the host: our continuation
#                                  core next to corosensei, context, Wasmtime
#   ... bench [--host] --json      the same, plus one JSON object as the
#                                  last line
#
# Environment: QEMU_TIMEOUT (seconds per boot, default 180).
#
# Exit status: 0 success; 1 a build, boot or test failure; 2 a missing
# prerequisite that this script could not install (it says which command to
# run).
set -euo pipefail

cd "$(dirname "$0")"
ROOT=$(pwd)
IMAGES="$ROOT/target/images"
KERNELS="$ROOT/target/x86_64-target/release"
TIMEOUT=${QEMU_TIMEOUT:-180}

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

# QEMU, and OVMF for UEFI boots. Installed with apt-get where we can.
ensure_qemu() {
    local need_ovmf=$1 missing=()
    command -v qemu-system-x86_64 >/dev/null 2>&1 || missing+=(qemu-system-x86)
    if [ "$need_ovmf" = yes ] && [ ! -f /usr/share/OVMF/OVMF_CODE_4M.fd ]; then
        missing+=(ovmf)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "qemu-run.sh: installing ${missing[*]} with apt-get"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2 && return 0
    fi
    say "qemu-run.sh: missing ${missing[*]}. Install with:"
    say "  sudo apt-get update && sudo apt-get install -y ${missing[*]}"
    exit 2
}

# ----------------------------------------------------------------- build ---

# Builds the kernel binaries named in $@ (release, frame pointers on) and
# their disk images for the firmware $FIRMWARE.
build() {
    local bins=() b
    for b in "$@"; do bins+=(--bin "$b"); done
    # Each step returns on failure by itself: callers use `if ! build`, and
    # bash ignores `set -e` there, so a failed compile must not go on to
    # boot the images of an earlier build.
    cargo kbuild --quiet --release "${bins[@]}" >&2 || return 1
    cargo build --quiet --release -p builder >&2 || return 1
    local elfs=()
    for b in "$@"; do elfs+=("$KERNELS/$b"); done
    "$ROOT/target/release/builder" "--$FIRMWARE" "$IMAGES" "${elfs[@]}" >&2 || return 1
}

# The in-kernel suites: every `[[bin]]` named `test-<suite>` (tests/<suite>.rs).
all_suites() {
    sed -n 's/^name *= *"test-\(.*\)"/\1/p' kernel/Cargo.toml
}

# ------------------------------------------------------------------ boot ---

# The QEMU command line for image $1. Serial goes to standard output.
qemu_cmd() {
    local image=$1
    QEMU=(qemu-system-x86_64 -accel tcg -m 512M -smp 1
        -display none -serial stdio -monitor none
        -no-reboot
        -device isa-debug-exit,iobase=0xf4,iosize=0x04
        -drive "format=raw,file=$image")
    if [ "$FIRMWARE" = uefi ]; then
        local vars="$IMAGES/OVMF_VARS_4M.fd"
        cp /usr/share/OVMF/OVMF_VARS_4M.fd "$vars"
        QEMU+=(-drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
            -drive "if=pflash,format=raw,file=$vars")
    fi
}

# Names what a QEMU exit status means. With isa-debug-exit, the kernel's
# 0x10 becomes 33 and 0x11 becomes 35; under -no-reboot a triple fault resets
# the CPU and QEMU exits with 0; `timeout` exits with 124.
outcome() {
    case $1 in
        33) echo success ;;
        35) echo "failure reported by the kernel" ;;
        124 | 137) echo "timed out after ${TIMEOUT} s" ;;
        0) echo "triple fault (the CPU reset; QEMU stopped under -no-reboot)" ;;
        *) echo "QEMU exited with status $1" ;;
    esac
}

# Boots the demo kernel with serial on this terminal.
run_demo() {
    ensure_toolchain
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    build kernel
    qemu_cmd "$IMAGES/kernel-$FIRMWARE.img"
    if [ "$GDB" = yes ]; then
        # The kernel is position independent and the bootloader loads it at
        # the start of its dynamic range (the boot log's "paging: ... kernel
        # image" line shows it). Until the bootloader has mapped it, only
        # hardware breakpoints can be set.
        say "QEMU is halted, waiting for GDB on localhost:1234. In another terminal:"
        say "  gdb -ex 'target remote localhost:1234' \\"
        say "      -ex 'add-symbol-file $KERNELS/kernel -o 0xffff800000000000' \\"
        say "      -ex 'hbreak kernel::boot::init' -ex continue"
        "${QEMU[@]}" -s -S
        return
    fi
    local status=0
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null || status=$?
    if [ "$status" = 33 ]; then
        return 0
    fi
    say "qemu-run.sh: demo: $(outcome "$status")"
    return 1
}

# ------------------------------------------------------------------ wasm ---

# Builds the wasm-main kernel around the WAT file $1 (build.rs embeds it)
# and boots it with serial on this terminal.
run_wasm() {
    local file=${1:-}
    if [ -z "$file" ] || [ ! -f "$file" ]; then
        say "qemu-run.sh: wasm needs a WAT file, e.g. ./qemu-run.sh wasm examples/generator.wat"
        return 2
    fi
    ensure_toolchain
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    WASM_MAIN=$(realpath "$file") build wasm-main || return 1
    qemu_cmd "$IMAGES/wasm-main-$FIRMWARE.img"
    local status=0
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null || status=$?
    [ "$status" = 33 ] && return 0
    say "qemu-run.sh: wasm: $(outcome "$status")"
    return 1
}

# ----------------------------------------------------------------- tests ---

PASSED=0
FAILED=0

# Host-side unit tests of the pure logic (cargo test on the host target).
run_host_tests() {
    local log="$ROOT/target/host-tests.log" status=0
    mkdir -p "$ROOT/target"
    cargo test -p kernel >"$log" 2>&1 || status=$?
    grep -E '^test .* \.\.\. ' "$log" || true
    local p f
    p=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
    f=$(sed -n 's/^test result: .* \([0-9]*\) passed; \([0-9]*\) failed.*/\2/p' "$log" | awk '{s+=$1} END {print s+0}')
    if [ "$status" != 0 ] && [ "$f" = 0 ]; then
        # It did not get as far as running tests: a build error.
        tail -n 30 "$log"
        echo "test host ... FAILED: cargo test did not run (see above)"
        f=1
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
}

# Boots suite $1 and counts its test lines. A boot that times out, triple
# faults or ends without its closing count is a failure named for the suite.
run_suite() {
    local suite=$1 log="$ROOT/target/suite-$1.log" status=0
    qemu_cmd "$IMAGES/test-$suite-$FIRMWARE.img"
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$log" 2>&1 || status=$?
    tr -d '\r' <"$log" | grep -E '^test [^ ]+ \.\.\. ' || true
    local p f
    p=$(tr -d '\r' <"$log" | grep -cE '^test [^ ]+ \.\.\. ok$' || true)
    f=$(tr -d '\r' <"$log" | grep -cE '^test [^ ]+ \.\.\. FAILED' || true)
    local closed=no
    tr -d '\r' <"$log" | grep -qE '^[0-9]+ passed, [0-9]+ failed$' && closed=yes
    if [ "$status" != 33 ] && [ "$f" = 0 ] || [ "$closed" = no ]; then
        echo "--- last lines of the $suite boot ---"
        tr -d '\r' <"$log" | tail -n 15
        echo "test $suite ... FAILED: $(outcome "$status")"
        f=$((f + 1))
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
}

run_tests() {
    local suites=("$@") host=yes
    if [ ${#suites[@]} -gt 0 ]; then host=no; else mapfile -t suites < <(all_suites); fi
    ensure_toolchain
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    [ "$host" = yes ] && run_host_tests
    local bins=() s
    for s in "${suites[@]}"; do bins+=("test-$s"); done
    if ! build "${bins[@]}"; then
        echo "test build ... FAILED: the kernel suites did not build"
        FAILED=$((FAILED + 1))
    else
        for s in "${suites[@]}"; do run_suite "$s"; done
    fi
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" = 0 ]
}

# ----------------------------------------------------------------- bench ---

# The in-kernel benchmark: under `-icount shift=0` QEMU's time-stamp counter
# advances one tick per guest instruction, so the kernel's rdtsc deltas are
# exact instruction counts. The kernel prints a table, then a JSON line.
run_bench_kernel() {
    ensure_toolchain
    ensure_qemu no
    FIRMWARE=bios
    build bench-icount
    qemu_cmd "$IMAGES/bench-icount-bios.img"
    local log="$ROOT/target/bench-icount.log" status=0
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" -icount shift=0 </dev/null >"$log" 2>&1 || status=$?
    if [ "$status" != 33 ]; then
        tr -d '\r' <"$log" | tail -n 20
        say "qemu-run.sh: bench: $(outcome "$status")"
        return 1
    fi
    # The kernel's own lines start after its "kernel:" banner; the table is
    # everything before the JSON line.
    tr -d '\r' <"$log" | sed -n '/^instructions per operation/,/^{/p' | grep -v '^{'
    if [ "$JSON" = yes ]; then
        tr -d '\r' <"$log" | grep '^{' | tail -n 1
    fi
}

# The host benchmark: criterion, our core next to corosensei, context and Wasmtime.
run_bench_host() {
    ensure_toolchain
    local args=()
    [ "$JSON" = yes ] && args+=(--json)
    cargo bench --quiet -p bench --bench host -- "${args[@]+"${args[@]}"}"
}

# ------------------------------------------------------------------ lint ---

# Formatting and clippy, for the host crates and for the kernel target, with
# the workspace's lints (every `unsafe` block documented). .ci/run runs this
# before the tests. The host benchmark's own targets are left out: they
# build Wasmtime, which takes minutes and holds no kernel code.
run_lint() {
    ensure_toolchain
    local status=0
    cargo fmt --all --check >&2 || { say "lint: cargo fmt --all would change files"; status=1; }
    cargo clippy --quiet -p kernel --lib --tests -- -D warnings >&2 || status=1
    cargo clippy --quiet -p bench --lib -- -D warnings >&2 || status=1
    cargo clippy --quiet -p builder -- -D warnings >&2 || status=1
    cargo clippy --quiet -Zbuild-std=core,compiler_builtins,alloc \
        -Zbuild-std-features=compiler-builtins-mem -Zjson-target-spec \
        --target x86_64-target.json -p kernel --release --bins -- -D warnings >&2 || status=1
    if [ "$status" = 0 ]; then
        echo "lint: formatting and clippy clean"
    else
        echo "lint: FAILED (see above)"
    fi
    return "$status"
}

# ------------------------------------------------------------------ main ---

MODE=demo
FIRMWARE=bios
GDB=no
JSON=no
HOST=no
ARGS=()
for arg in "$@"; do
    # The first word names the mode; later words are its arguments (so
    # `test wasm` runs the suite named wasm).
    if [ "$MODE" = demo ] && [ ${#ARGS[@]} -eq 0 ]; then
        case $arg in
            test | lint | bench | wasm) MODE=$arg; continue ;;
        esac
    fi
    case $arg in
        --json) JSON=yes ;;
        --host) HOST=yes ;;
        --uefi) FIRMWARE=uefi ;;
        --gdb) GDB=yes ;;
        -h | --help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) say "qemu-run.sh: unknown option $arg (see --help)"; exit 2 ;;
        *) ARGS+=("$arg") ;;
    esac
done

case $MODE in
    demo) run_demo ;;
    test) run_tests "${ARGS[@]+"${ARGS[@]}"}" ;;
    lint) run_lint ;;
    wasm) run_wasm "${ARGS[@]+"${ARGS[@]}"}" ;;
    bench) if [ "$HOST" = yes ]; then run_bench_host; else run_bench_kernel; fi ;;
esac
