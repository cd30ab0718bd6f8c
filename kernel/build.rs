//! Turns the WAT programs in `wat/` into WebAssembly binaries in
//! `OUT_DIR`, for the in-kernel suite (`tests/wasm.rs`) and the benchmark,
//! which have no WAT parser of their own: the kernel embeds the binaries.
//! And `commands.bundle`: the `.wast` scripts of `wast/` packed as the
//! `.wast` runner's bundle, with the packer `builder pack-wast` uses (the
//! `bundle` crate), for the host tests and the fuzzers; and
//! `never_ends.bundle`, the scripts of `wast-timeout/` (a command without
//! end, for the runner's tick budget).
//! (The `wasm-main` kernel embeds nothing: it reads its module from the
//! ramdisk, so running a module does not rebuild this crate.)

use bundle::pack;
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
    let packed = pack::pack_dir(Path::new("wast")).unwrap_or_else(|e| panic!("{e}"));
    let bytes = bundle::encode(&packed);
    std::fs::write(Path::new(&out).join("commands.bundle"), bytes).expect("OUT_DIR is writable");
    // A script with a command that never ends, for the runner's budget.
    println!("cargo::rerun-if-changed=wast-timeout");
    let packed = pack::pack_dir(Path::new("wast-timeout")).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        Path::new(&out).join("never_ends.bundle"),
        bundle::encode(&packed),
    )
    .expect("OUT_DIR is writable");
}

/// Writes the binary of the WAT file `from` to `to`.
fn convert(from: &Path, to: &Path) {
    let text = std::fs::read_to_string(from).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    let binary = wat::parse_str(&text).unwrap_or_else(|e| panic!("{}: {e}", from.display()));
    std::fs::write(to, binary).expect("OUT_DIR is writable");
}
