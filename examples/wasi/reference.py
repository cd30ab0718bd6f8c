#!/usr/bin/env python3
"""Runs a WASI module under Wasmtime (PyPI package wasmtime==51.0.0): the
reference the kernel's output is compared with.

    python3 examples/wasi/reference.py MODULE.wasm [ARGS...]

Writes what the program wrote to stdout and stderr (stdout first, then
stderr: each is captured whole), then exits with the program's exit code,
or 134 when it trapped (what the kernel's `run` mode gives for a trap).
Like the kernel, the program gets no environment variables and no
preopened directories; its first argument is the module's file name.
"""
import os
import sys
import tempfile

import wasmtime


def main():
    module_path, args = sys.argv[1], sys.argv[2:]
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, module_path)
    with tempfile.TemporaryDirectory() as tmp:
        out, err = os.path.join(tmp, "out"), os.path.join(tmp, "err")
        wasi = wasmtime.WasiConfig()
        wasi.argv = [os.path.basename(module_path)] + args
        wasi.stdout_file = out
        wasi.stderr_file = err
        store.set_wasi(wasi)
        code = 0
        try:
            instance = linker.instantiate(store, module)
            instance.exports(store)["_start"](store)
        except wasmtime.ExitTrap as e:
            code = e.code
        except wasmtime.Trap:
            code = 134
        sys.stdout.buffer.write(open(out, "rb").read())
        sys.stdout.buffer.write(open(err, "rb").read())
    sys.exit(code)


if __name__ == "__main__":
    main()
