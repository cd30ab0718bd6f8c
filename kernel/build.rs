//! Turns the WAT programs in `wat/` into WebAssembly binaries in
//! `OUT_DIR`, for the in-kernel suite (`tests/wasm.rs`) and the benchmark,
//! which have no WAT parser of their own: the kernel embeds the binaries.
//! Also `main.wasm` for the `wasm-main` kernel (`./qemu-run.sh wasm
//! FILE.wat`): the file the environment variable `WASM_MAIN` names, or
//! `examples/generator.wat`.
//! And `commands.bundle`: the `.wast` scripts of `wast/` packed as the
//! `.wast` runner's bundle, with the same packer `builder pack-wast` uses.

extern crate alloc;

#[path = "src/wast/bundle.rs"]
#[allow(dead_code)]
mod bundle;
#[path = "../builder/src/pack.rs"]
mod pack;

use std::path::Path;

fn main() {
    let out = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    println!("cargo::rerun-if-changed=wat");
    let mut entries: Vec<_> = std::fs::read_dir("wat")
        .expect("kernel/wat exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_stem().expect("a file name").to_owned();
        convert(&path, &Path::new(&out).join(name).with_extension("wasm"));
    }
    println!("cargo::rerun-if-changed=wast");
    println!("cargo::rerun-if-changed=../builder/src/pack.rs");
    println!("cargo::rerun-if-changed=src/wast/bundle.rs");
    let mut scripts: Vec<_> = std::fs::read_dir("wast")
        .expect("kernel/wast exists")
        .map(|e| e.expect("a readable entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "wast"))
        .collect();
    scripts.sort();
    let mut packed = Vec::new();
    for path in scripts {
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // Named as `builder pack-wast` names it: the file name.
        let name = path.file_name().expect("a name").to_string_lossy();
        packed.push(pack::pack_script(&name, &text).unwrap_or_else(|e| panic!("{e}")));
    }
    let bytes = bundle::encode(&bundle::Bundle { scripts: packed });
    std::fs::write(Path::new(&out).join("commands.bundle"), bytes).expect("OUT_DIR is writable");
    println!("cargo::rerun-if-env-changed=WASM_MAIN");
    let main = std::env::var("WASM_MAIN").unwrap_or_else(|_| "../examples/generator.wat".into());
    println!("cargo::rerun-if-changed={main}");
    convert(Path::new(&main), &Path::new(&out).join("main.wasm"));
}

/// Writes the binary of the WAT file `from` to `to`.
fn convert(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    let binary = wat::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    std::fs::write(to, binary).expect("OUT_DIR is writable");
}
