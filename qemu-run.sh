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
#   ./qemu-run.sh test --uefi      the in-kernel suites under UEFI
#   ./qemu-run.sh wasm FILE.wat    run the exported `main` of a WebAssembly
#                                  module in the kernel, spectest prints on
#                                  serial (examples/generator.wat, ...); the
#                                  module goes in the ramdisk, so the kernel
#                                  is not rebuilt for it
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
#   ./qemu-run.sh labs-check       every lab: the skeleton must fail its
#                                  checker, the solution pass it (CI)
#
# This script is the front door: it installs what is missing, builds with
# cargo and calls the host tool `builder` (builder/), which makes the disk
# images, packs ramdisks and boots the in-kernel suites in parallel.
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
# The kernel is position independent and the bootloader loads it at the
# start of its dynamic range (boot.rs; the boot log's "paging: ... kernel
# image" line shows it): GDB adds this to every address of its symbols.
KERNEL_OFFSET=0xffff800000000000

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
    # The disk images get each kernel without its DWARF sections: 8 of its
    # 8.5 MiB, which the bootloader would read from disk at every boot (10
    # seconds of a 13-second boot under TCG). The symbol table stays, for
    # the kernel's own trap reports (kernel/src/symbols.rs); GDB reads the
    # full file in $KERNELS (docs/debugging.md).
    local elfs=() objcopy
    objcopy="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin/llvm-objcopy"
    mkdir -p "$IMAGES/elf"
    for b in "$@"; do
        "$objcopy" --strip-debug "$KERNELS/$b" "$IMAGES/elf/$b" >&2 || return 1
        elfs+=("$IMAGES/elf/$b")
    done
    "$ROOT/target/release/builder" "--$FIRMWARE" "$IMAGES" "${elfs[@]}" >&2 || return 1
}

# The in-kernel suites: every `[[bin]]` named `test-<suite>` (tests/<suite>.rs),
# as `builder suites` reads them from `cargo metadata`.
all_suites() {
    cargo build --quiet --release -p builder >&2 || return 1
    "$ROOT/target/release/builder" suites
}

# ------------------------------------------------------------------ boot ---

# The QEMU command line for image $1. Serial goes to standard output. The
# suites' runner (builder/src/run.rs, `qemu`) boots the same machine: a
# change here belongs there too.
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
        say "QEMU is halted, waiting for GDB on localhost:1234. In another terminal:"
        say "  ./qemu-run.sh gdb"
        say "(or by hand: gdb -ex 'add-symbol-file $KERNELS/kernel -o $KERNEL_OFFSET' \\"
        say "   -ex 'source $ROOT/kernel/gdb/continuations.py' -ex 'target remote localhost:1234')"
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

# GDB for the QEMU that `--gdb` started: the demo kernel's symbols, the
# continuation commands, and a first stop at `kernel::boot::init`. Until the
# bootloader has mapped the kernel only hardware breakpoints can be set, so
# the first one is an `hbreak`; after it, `break` works too.
run_gdb_attach() {
    ensure_gdb
    exec gdb -q -ex 'set pagination off' -ex 'set confirm off' \
        -ex "add-symbol-file $KERNELS/kernel -o $KERNEL_OFFSET" \
        -ex "source $ROOT/kernel/gdb/continuations.py" \
        -ex 'target remote localhost:1234' \
        -ex 'hbreak kernel::boot::init' -ex continue
}

# GDB, installed with apt-get where we can.
ensure_gdb() {
    command -v gdb >/dev/null 2>&1 && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        say "qemu-run.sh: installing gdb with apt-get"
        apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdb >&2 && return 0
    fi
    say "qemu-run.sh: missing gdb. Install with:"
    say "  sudo apt-get update && sudo apt-get install -y gdb"
    exit 2
}

# ------------------------------------------------------------------ wasm ---

# Boots the wasm-main kernel with the module $1 (a .wat file, or a binary
# .wasm) as its ramdisk; serial on this terminal. The kernel is the same
# for every module, so only the disk image is made anew.
run_wasm() {
    local file=${1:-}
    if [ -z "$file" ] || [ ! -f "$file" ]; then
        say "qemu-run.sh: wasm needs a WAT file, e.g. ./qemu-run.sh wasm examples/generator.wat"
        return 2
    fi
    ensure_toolchain
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    build wasm-main || return 1
    local dir="$IMAGES/wasm"
    mkdir -p "$dir"
    "$ROOT/target/release/builder" wat "$file" "$dir/main.wasm" || return 1
    "$ROOT/target/release/builder" "--$FIRMWARE" --ramdisk "$dir/main.wasm" "$dir" "$IMAGES/elf/wasm-main" >&2 || return 1
    qemu_cmd "$dir/wasm-main-$FIRMWARE.img"
    local status=0
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null || status=$?
    [ "$status" = 33 ] && return 0
    say "qemu-run.sh: wasm: $(outcome "$status")"
    return 1
}

# The wast-main kernel, booted with the scripts $@ (files, or directories
# of *.wast) packed by `builder pack-wast` into its ramdisk; serial on this
# terminal. The kernel is the same for every script.
run_wast() {
    if [ $# -eq 0 ]; then
        say "qemu-run.sh: wast needs .wast files or directories, e.g. ./qemu-run.sh wast kernel/wast"
        return 2
    fi
    local f
    for f in "$@"; do
        [ -e "$f" ] || { say "qemu-run.sh: wast: no such file or directory: $f"; return 2; }
    done
    ensure_toolchain
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    build wast-main || return 1
    local dir="$IMAGES/wast"
    mkdir -p "$dir"
    "$ROOT/target/release/builder" pack-wast "$dir/bundle" "$@" || return 1
    "$ROOT/target/release/builder" "--$FIRMWARE" --ramdisk "$dir/bundle" "$dir" "$IMAGES/elf/wast-main" >&2 || return 1
    qemu_cmd "$dir/wast-main-$FIRMWARE.img"
    local status=0
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null || status=$?
    [ "$status" = 33 ] && return 0
    say "qemu-run.sh: wast: $(outcome "$status")"
    return 1
}

# ----------------------------------------------------------------- tests ---

PASSED=0
FAILED=0

# Host-side unit tests of the pure logic (cargo test on the host target):
# the kernel crate's, the continuation core's test crates (kernel/tests/,
# the package kernel-tests), and the runner's own (builder/src/run.rs: how
# a suite's boot is read).
run_host_tests() {
    local log="$ROOT/target/host-tests.log" status=0
    mkdir -p "$ROOT/target"
    cargo test -p kernel -p kernel-tests -p builder >"$log" 2>&1 || status=$?
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

# The `.wast` runner end to end, as `./qemu-run.sh wast` runs it: the
# scripts of kernel/wast packed by `builder pack-wast`, handed to the
# wast-main kernel as the bootloader's ramdisk. One test: the boot must end
# in success with "N passed, 0 failed", N > 0. (The runner's commands are
# tested one by one in the host tests and in the wasm suite.)
run_wast_test() {
    local log="$ROOT/target/suite-wast.log" dir="$IMAGES/wast-test" status=0 total
    local name="test wast::our_scripts_run_from_the_ramdisk_and_every_command_passes"
    mkdir -p "$dir"
    if ! "$ROOT/target/release/builder" pack-wast "$dir/bundle" kernel/wast >"$log" 2>&1 ||
        ! "$ROOT/target/release/builder" "--$FIRMWARE" --ramdisk "$dir/bundle" "$dir" \
            "$IMAGES/elf/wast-main" >>"$log" 2>&1; then
        tail -n 5 "$log"
        echo "$name ... FAILED: the bundle or its disk image could not be made"
        FAILED=$((FAILED + 1))
        return
    fi
    qemu_cmd "$dir/wast-main-$FIRMWARE.img"
    timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$log" 2>&1 || status=$?
    total=$(tr -d '\r' <"$log" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1 || true)
    if [ "$status" = 33 ] && [[ "$total" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
        echo "$name ... ok"
        PASSED=$((PASSED + 1))
    else
        tr -d '\r' <"$log" | grep -v '\.\.\. ok$' | tail -n 15
        echo "$name ... FAILED: $(outcome "$status")${total:+, $total}"
        FAILED=$((FAILED + 1))
    fi
}

# The public surface of the kernel crate, as built for the kernel target
# (so the kernel-only modules are in it): rustdoc's JSON on the pinned
# nightly, listed one item a line by `builder public-api`. A guest can call
# every item on it, so each new one must be a decision (docs/guarantees.md,
# "The public surface"). About 2 s, warm or after a change to the kernel.
PUBLIC_API="$ROOT/docs/public-api.txt"
public_api_json() {
    cargo rustdoc --quiet -Zbuild-std=core,compiler_builtins,alloc \
        -Zbuild-std-features=compiler-builtins-mem -Zjson-target-spec \
        --target x86_64-target.json -p kernel --lib --release \
        -- -Zunstable-options --output-format json 2>"$ROOT/target/public-api.log" || return 1
    cargo build --quiet --release -p builder >&2 || return 1
}

# One test line: the surface matches docs/public-api.txt.
run_public_api_test() {
    local name="test surface::public_api_matches_the_snapshot" diff
    if ! public_api_json; then
        tail -n 10 "$ROOT/target/public-api.log"
        echo "$name ... FAILED: rustdoc could not document the kernel crate"
        FAILED=$((FAILED + 1))
        return
    fi
    local list="$ROOT/target/public-api.txt" test item
    "$ROOT/target/release/builder" public-api "$KERNELS/../doc/kernel.json" --write "$list"
    # Items that must never be on the surface, each a test named for what a
    # guest could do with it (issue 17): one line per pair, "test|item".
    while IFS='|' read -r test item; do
        if grep -qF -- "$item" "$list"; then
            echo "test surface::$test ... FAILED: the surface has \"$(grep -F -- "$item" "$list" | head -n 1)\""
            FAILED=$((FAILED + 1))
        else
            echo "test surface::$test ... ok"
            PASSED=$((PASSED + 1))
        fi
    done <<'END'
a_guest_cannot_reinitialise_the_heap| fn kernel::heap::init(
a_guest_cannot_reload_the_gdt| fn kernel::gdt::init(
a_guest_cannot_reload_the_idt| fn kernel::interrupts::init(
a_guest_cannot_recut_the_stack_pool_from_scratch| fn kernel::stacks::init(
a_guest_cannot_swap_the_symbol_table| fn kernel::symbols::init(
a_guest_cannot_rebuild_the_page_tables| fn kernel::paging::init(
a_guest_cannot_move_the_kernel_stack_record| fn kernel::paging::record_kernel_stack(
a_guest_cannot_refill_the_frame_allocator| fn kernel::frames::init_from_boot_map(
a_guest_cannot_reach_the_frame_allocators_lock| kernel::frames::FRAMES
a_guest_cannot_serve_a_demand_fault_itself| fn kernel::stacks::on_page_fault(
ending_qemu_needs_the_machine| fn kernel::qemu::exit(
halting_needs_the_machine| fn kernel::qemu::halt_forever(
the_fatal_path_is_the_kernels_own| fn kernel::fatal::fatal(
installing_a_fatal_hook_needs_the_machine|pub fn kernel::fatal::set_fatal_hook(hook
a_guest_cannot_install_a_fault_catcher| fn kernel::fatal::set_fault_catcher(
freeing_a_frame_is_never_a_safe_call|pub fn kernel::frames::free_frame(
taking_a_frame_needs_the_machine|pub fn kernel::frames::allocate_frame()
probing_a_fault_is_never_a_safe_call|pub fn kernel::interrupts::probe<
END
    if diff=$("$ROOT/target/release/builder" public-api "$KERNELS/../doc/kernel.json" --check "$PUBLIC_API"); then
        echo "$name ... ok"
        PASSED=$((PASSED + 1))
    else
        echo "$name ... FAILED: $(echo "$diff" | wc -l) lines differ from docs/public-api.txt (- listed, + new; accept with ./qemu-run.sh public-api --update): $(echo "$diff" | head -n 20 | tr '\n' ';')"
        FAILED=$((FAILED + 1))
    fi
}

# `./qemu-run.sh public-api [--update]`.
run_public_api() {
    ensure_toolchain
    public_api_json || { tail -n 20 "$ROOT/target/public-api.log"; return 1; }
    local json="$KERNELS/../doc/kernel.json"
    if [ "$UPDATE" = yes ]; then
        "$ROOT/target/release/builder" public-api "$json" --write "$PUBLIC_API" || return 1
        echo "public-api: $(wc -l <"$PUBLIC_API") items written to docs/public-api.txt"
    elif "$ROOT/target/release/builder" public-api "$json" --check "$PUBLIC_API"; then
        echo "public-api: the surface matches docs/public-api.txt ($(wc -l <"$PUBLIC_API") items)"
    else
        echo "public-api: differs from docs/public-api.txt (- listed, + new); accept with --update"
        return 1
    fi
}

# Boots the in-kernel suites $@ with `builder run-suites` (builder/src/
# run.rs): in parallel, up to one QEMU per core, each killed after
# $TIMEOUT seconds; their lines in the order given, and a boot that times
# out, triple faults or ends without its count is a failure named for the
# suite. The runner hands back its counts through a file.
run_suites() {
    [ $# -gt 0 ] || return 0
    local counts="$ROOT/target/suite-counts" p f
    rm -f "$counts"
    "$ROOT/target/release/builder" run-suites "--$FIRMWARE" --timeout "$TIMEOUT" \
        --counts "$counts" "$@" || true
    if read -r p f <"$counts" 2>/dev/null; then
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
    else
        echo "test suites ... FAILED: builder run-suites ended without its counts"
        FAILED=$((FAILED + 1))
    fi
}

# The GDB test: GDB in batch mode starts a QEMU of its own at the other end
# of a pipe (QEMU's GDB stub on the pipe, serial to a file, so no TCP port
# is shared with anyone), and kernel/gdb/test_session.py stops the
# gdb-target kernel three continuations deep and checks what the commands
# of kernel/gdb/continuations.py print. It prints one line per check and a
# count, like a suite. GDB and QEMU each run under `timeout`.
run_gdb_test() {
    local log="$ROOT/target/suite-gdb.log" serial="$ROOT/target/suite-gdb-serial.log" status=0
    qemu_cmd "$IMAGES/gdb-target-$FIRMWARE.img"
    local i q=()
    for ((i = 0; i < ${#QEMU[@]}; i++)); do
        if [ "${QEMU[i]}" = -serial ]; then
            q+=(-serial "file:$serial")
            i=$((i + 1))
        else
            q+=("${QEMU[i]}")
        fi
    done
    q+=(-S -gdb stdio)
    # QEMU's time limit is the shorter, so that a kernel that never stops
    # where the test waits ends the session with its count, not the kill.
    timeout -k 5 $((TIMEOUT + 30)) gdb -batch -nx \
        -ex "target remote | exec timeout -k 5 $TIMEOUT $(printf '%q ' "${q[@]}")" \
        -ex "add-symbol-file $KERNELS/gdb-target -o $KERNEL_OFFSET" \
        -x "$ROOT/kernel/gdb/test_session.py" -ex kill </dev/null >"$log" 2>&1 || status=$?
    grep -E '^test [^ ]+ \.\.\. ' "$log" || true
    local p f closed=no
    p=$(grep -cE '^test [^ ]+ \.\.\. ok$' "$log" || true)
    f=$(grep -cE '^test [^ ]+ \.\.\. FAILED' "$log" || true)
    grep -qE '^[0-9]+ passed, [0-9]+ failed$' "$log" && closed=yes
    if [ "$closed" = no ]; then
        echo "--- last lines of the gdb session ---"
        tail -n 15 "$log"
        case $status in
            124 | 137) echo "test gdb ... FAILED: timed out after ${TIMEOUT} s" ;;
            *) echo "test gdb ... FAILED: the session ended before its count (gdb exit status $status)" ;;
        esac
        f=$((f + 1))
    fi
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
}

run_tests() {
    local suites=("$@") host=yes gdbtest=yes wasttest=yes
    ensure_toolchain
    if [ ${#suites[@]} -gt 0 ]; then
        host=no
        gdbtest=no
        wasttest=no
        local named=() s
        for s in "${suites[@]}"; do
            case $s in
                gdb) gdbtest=yes ;;
                wast) wasttest=yes ;;
                *) named+=("$s") ;;
            esac
        done
        suites=(${named[@]+"${named[@]}"})
    else
        local listed
        listed=$(all_suites) || { echo "test build ... FAILED: builder did not build"; echo "0 passed, 1 failed"; return 1; }
        mapfile -t suites <<<"$listed"
    fi
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    [ "$gdbtest" = yes ] && ensure_gdb
    [ "$host" = yes ] && run_host_tests
    [ "$host" = yes ] && run_public_api_test
    local bins=() s
    for s in ${suites[@]+"${suites[@]}"}; do bins+=("test-$s"); done
    [ "$gdbtest" = yes ] && bins+=(gdb-target)
    [ "$wasttest" = yes ] && bins+=(wast-main)
    if ! build "${bins[@]}"; then
        echo "test build ... FAILED: the kernel suites did not build"
        FAILED=$((FAILED + 1))
    else
        run_suites ${suites[@]+"${suites[@]}"}
        [ "$gdbtest" = yes ] && run_gdb_test
        [ "$wasttest" = yes ] && run_wast_test
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
    cargo clippy --quiet -p kernel-tests --tests -- -D warnings >&2 || status=1
    cargo clippy --quiet -p bench --lib -- -D warnings >&2 || status=1
    cargo clippy --quiet -p builder -p bundle --all-targets --all-features -- -D warnings >&2 || status=1
    cargo clippy --quiet -Zbuild-std=core,compiler_builtins,alloc \
        -Zbuild-std-features=compiler-builtins-mem -Zjson-target-spec \
        --target x86_64-target.json -p kernel --release --bins -- -D warnings >&2 || status=1
    # The labs' kernels, around the skeletons and around the solutions.
    local features
    for features in "" lab-solutions; do
        cargo clippy --quiet -Zbuild-std=core,compiler_builtins,alloc \
            -Zbuild-std-features=compiler-builtins-mem -Zjson-target-spec \
            --target x86_64-target.json -p labs --release --bins ${features:+--features "$features"} \
            -- -D warnings >&2 || status=1
    done
    if [ "$status" = 0 ]; then
        echo "lint: formatting and clippy clean"
    else
        echo "lint: FAILED (see above)"
    fi
    return "$status"
}

# ------------------------------------------------------------------ labs ---

# The labs (docs/labs/): lab N is the kernel `labN` of the `labs` package,
# its checker (labs/labN/check.rs) built around the student's file
# (labs/labN/student.rs) or, with the feature `lab-solutions`, around the
# reference solution (labs/solutions/labN.rs). The checker ends the boot
# with `lab N: PASS` (exit 0x10) or `lab N: FAIL: <why>` (exit 0x11).

all_labs() {
    sed -n 's/^name *= *"lab\([0-9]*\)"/\1/p' labs/Cargo.toml
}

# Builds the kernels of labs $2... against `student` or `solution` ($1),
# and their disk images.
build_labs() {
    local which=$1 bins=() features=() n elfs=()
    shift
    for n in "$@"; do bins+=(--bin "lab$n"); done
    [ "$which" = solution ] && features=(--features labs/lab-solutions)
    cargo kbuild --quiet --release -p labs "${bins[@]}" ${features[@]+"${features[@]}"} >&2 || return 1
    cargo build --quiet --release -p builder >&2 || return 1
    for n in "$@"; do elfs+=("$KERNELS/lab$n"); done
    "$ROOT/target/release/builder" "--$FIRMWARE" "$IMAGES" "${elfs[@]}" >&2 || return 1
}

# Boots lab $1's image, serial into target/lab$1.log (and on this terminal
# too when $2 is `show`). Sets VERDICT to pass, fail (the checker's own
# verdict, with its exit status) or what else happened (a timeout, a crash,
# a verdict that does not match the exit status).
boot_lab() {
    local n=$1 log="$ROOT/target/lab$1.log" status=0 line
    qemu_cmd "$IMAGES/lab$n-$FIRMWARE.img"
    if [ "${2:-}" = show ]; then
        timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null | tee "$log" || status=${PIPESTATUS[0]}
    else
        timeout -k 5 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$log" 2>&1 || status=$?
    fi
    line=$(tr -d '\r' <"$log" | grep -E "^lab $n: (PASS|FAIL)" | tail -n 1 || true)
    case "$status:$line" in
        "33:lab $n: PASS") VERDICT=pass ;;
        "35:lab $n: FAIL: "*) VERDICT=fail ;;
        *) VERDICT="no verdict ($(outcome "$status"))" ;;
    esac
}

# `./qemu-run.sh lab N [--solution]`: builds and boots lab N's checker
# against labs/labN/student.rs (or the reference solution).
run_lab() {
    local n=${1:-} which=student
    [ "$SOLUTION" = yes ] && which=solution
    if ! all_labs | grep -qx "$n"; then
        say "qemu-run.sh: lab takes a lab number: one of $(all_labs | tr '\n' ' ')(docs/labs/README.md)"
        exit 2
    fi
    ensure_toolchain
    ensure_qemu "$([ "$FIRMWARE" = uefi ] && echo yes || echo no)"
    build_labs "$which" "$n" || { say "qemu-run.sh: lab $n did not build"; return 1; }
    boot_lab "$n" show
    case $VERDICT in
        pass) return 0 ;;
        fail) return 1 ;;
        *) say "qemu-run.sh: lab $n: $VERDICT"; return 1 ;;
    esac
}

# The text block under "## What a correct solution prints" in lab $1's page.
lab_doc_output() {
    local page="" f
    for f in docs/labs/lab"$1"-*.md; do [ -f "$f" ] && page=$f; done
    [ -n "$page" ] || { echo "(no page docs/labs/lab$1-*.md)"; return 0; }
    awk '/^## What a correct solution prints/ { sect = 1; next }
         sect && /^```text$/ { inblock = 1; next }
         inblock && /^```$/ { exit }
         inblock { print }' "$page"
}

# `./qemu-run.sh labs-check` (CI): every lab's checker must FAIL against
# the skeleton in labs/labN/student.rs (a checker that passes the skeleton
# cannot fail) and PASS against the reference solution, printing exactly
# the output its page in docs/labs/ shows. Not part of `test`'s count.
run_labs_check() {
    ensure_toolchain
    ensure_qemu no
    FIRMWARE=bios
    local labs=() n bad=0 got want
    mapfile -t labs < <(all_labs)
    if ! build_labs student "${labs[@]}"; then
        echo "labs-check: the labs did not build against the skeletons"
        return 1
    fi
    for n in "${labs[@]}"; do
        boot_lab "$n"
        if [ "$VERDICT" = fail ]; then
            echo "lab $n skeleton ... fails its checker, as it must"
        else
            echo "lab $n skeleton ... WRONG: expected its checker's FAIL, got: $VERDICT"
            bad=$((bad + 1))
        fi
    done
    if ! build_labs solution "${labs[@]}"; then
        echo "labs-check: the labs did not build against the reference solutions"
        return 1
    fi
    for n in "${labs[@]}"; do
        boot_lab "$n"
        got=$(tr -d '\r' <"$ROOT/target/lab$n.log" | sed -n "/^lab $n: /,/^lab $n: \(PASS\|FAIL\)/p")
        want=$(lab_doc_output "$n")
        if [ "$VERDICT" != pass ]; then
            tr -d '\r' <"$ROOT/target/lab$n.log" | tail -n 15
            echo "lab $n solution ... WRONG: expected PASS, got: $VERDICT"
            bad=$((bad + 1))
        elif [ "$got" != "$want" ]; then
            diff <(echo "$want") <(echo "$got") | head -n 20 || true
            echo "lab $n solution ... WRONG: passes, but prints other lines than docs/labs/lab$n-*.md shows (< page, > serial)"
            bad=$((bad + 1))
        else
            echo "lab $n solution ... passes, printing what its page shows"
        fi
    done
    if [ "$bad" = 0 ]; then
        echo "labs-check: ${#labs[@]} labs, each skeleton fails and each solution passes"
    else
        echo "labs-check: FAILED ($bad wrong)"
    fi
    [ "$bad" = 0 ]
}

# ------------------------------------------------------------------ main ---

MODE=demo
FIRMWARE=bios
GDB=no
JSON=no
HOST=no
SOLUTION=no
UPDATE=no
ARGS=()
for arg in "$@"; do
    # The first word names the mode; later words are its arguments (so
    # `test wasm` runs the suite named wasm).
    if [ "$MODE" = demo ] && [ ${#ARGS[@]} -eq 0 ]; then
        case $arg in
            test | lint | bench | wasm | wast | lab) MODE=$arg; continue ;;
            labs-check) MODE=labscheck; continue ;;
            public-api) MODE=publicapi; continue ;;
            gdb) MODE=attach; continue ;;
        esac
    fi
    case $arg in
        --solution) SOLUTION=yes ;;
        --update) UPDATE=yes ;;
        --json) JSON=yes ;;
        --host) HOST=yes ;;
        --uefi) FIRMWARE=uefi ;;
        --gdb) GDB=yes ;;
        -h | --help) awk 'NR > 1 && !/^#/ { exit } NR > 1' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) say "qemu-run.sh: unknown option $arg (see --help)"; exit 2 ;;
        *) ARGS+=("$arg") ;;
    esac
done

# Words a mode does not take are a mistake (a misspelt command would
# otherwise boot the demo).
if [ ${#ARGS[@]} -gt 0 ] && { [ "$MODE" = demo ] || [ "$MODE" = lint ] || [ "$MODE" = bench ] ||
    [ "$MODE" = attach ] || [ "$MODE" = labscheck ] || [ "$MODE" = publicapi ]; }; then
    say "qemu-run.sh: unknown command or extra word: ${ARGS[*]} (see --help)"
    exit 2
fi

case $MODE in
    demo) run_demo ;;
    attach) run_gdb_attach ;;
    test) run_tests "${ARGS[@]+"${ARGS[@]}"}" ;;
    lint) run_lint ;;
    wasm) run_wasm "${ARGS[@]+"${ARGS[@]}"}" ;;
    wast) run_wast "${ARGS[@]+"${ARGS[@]}"}" ;;
    bench) if [ "$HOST" = yes ]; then run_bench_host; else run_bench_kernel; fi ;;
    lab) run_lab "${ARGS[@]+"${ARGS[@]}"}" ;;
    labscheck) run_labs_check ;;
    publicapi) run_public_api ;;
esac
