//! Turns the WAT programs in `wat/` into WebAssembly binaries in
//! `OUT_DIR`, for the in-kernel suite (`tests/wasm.rs`), which has no WAT
//! parser of its own: the kernel embeds the binaries.

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
        let text = std::fs::read_to_string(&path).expect("a readable WAT file");
        let binary = wat::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let name = path.file_stem().expect("a file name");
        std::fs::write(Path::new(&out).join(name).with_extension("wasm"), binary)
            .expect("OUT_DIR is writable");
    }
}
