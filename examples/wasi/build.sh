#!/usr/bin/env bash
# Builds the WASI examples with stock toolchains, into OUT (default
# target/examples): tally.wasm (Rust std, wasm32-wasip1, the repository's
# pinned nightly), sort.wasm (C, zig's clang and wasi-libc) and
# fibers.wasm (C whose fibers come from fiber.wat, linked by the kernel).
#
#   examples/wasi/build.sh [OUT]
#
# Pinned: the Rust toolchain is rust-toolchain.toml's; zig is the PyPI
# package ziglang==$ZIG_VERSION. What is missing is installed: the
# rustup target wasm32-wasip1, and ziglang with pip (--user when not
# root). The binaries are never committed: `./qemu-run.sh test` runs this
# script and then the kernel on what it made.
set -euo pipefail
ZIG_VERSION=0.17.1
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${1:-$root/target/examples}
mkdir -p "$out"
cd "$root"

channel=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup target list --installed --toolchain "$channel" | grep -qx wasm32-wasip1; then
    echo "build.sh: rustup target add wasm32-wasip1 ($channel)" >&2
    rustup target add --toolchain "$channel" wasm32-wasip1 >&2
fi
if [ "$(python3 -m ziglang version 2>/dev/null)" != "$ZIG_VERSION" ]; then
    echo "build.sh: pip install ziglang==$ZIG_VERSION" >&2
    user=--user
    [ "$(id -u)" = 0 ] && user=
    python3 -m pip install -q $user "ziglang==$ZIG_VERSION" >&2
fi

# Each binary is made again only when its source (or this script) is
# newer.
fresh() { [ "$1" -nt "$2" ] && [ "$1" -nt "$here/build.sh" ]; }

# Rust: one file, std, optimised; no cargo project needed.
fresh "$out/tally.wasm" "$here/tally.rs" || rustc +"$channel" --edition 2021 --target wasm32-wasip1 -C opt-level=2 -C strip=symbols \
    "$here/tally.rs" -o "$out/tally.wasm"
# C: wasi-libc's crt1 calls main and passes its status to proc_exit.
# The stack is 1 MiB rather than zig's default 16 MiB: that default makes
# a 257-page initial memory, which the kernel's 32 MiB heap cannot grow
# (a grow copies the memory), until memories move to page tables.
fresh "$out/sort.wasm" "$here/sort.c" || python3 -m ziglang cc -target wasm32-wasi -O2 -s -Wl,-z,stack-size=1048576 \
    "$here/sort.c" -o "$out/sort.wasm"
# C with fibers: fiber_new/fiber_resume/fiber_yield are imports of "env",
# and --import-table imports the function table from there too, so that
# fiber.wat (instantiated first, as "env") can call the C fiber bodies
# through their function pointers.
fresh "$out/fibers.wasm" "$here/fibers.c" || python3 -m ziglang cc -target wasm32-wasi -O2 -s -Wl,-z,stack-size=1048576 \
    -Wl,--import-table "$here/fibers.c" -o "$out/fibers.wasm"
echo "build.sh: $out/tally.wasm $out/sort.wasm $out/fibers.wasm" >&2
