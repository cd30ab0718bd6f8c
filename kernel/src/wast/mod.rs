//! The `.wast` script runner: WebAssembly test scripts, packed by the host
//! into a [`bundle`], run command by command on the interpreter
//! ([`crate::wasm`]) with one line printed per command.
//!
//! The kernel cannot parse the text format, so the split is: the host
//! parses and encodes (`builder pack-wast`, with the `bundle` crate's packer),
//! the kernel decodes ([`bundle::decode`], which refuses malformed input)
//! and runs ([`run::run_script`]). The same runner runs on the host in
//! the unit tests. `docs/wasm.md` ("Running .wast scripts") shows the
//! whole path.

pub use ::bundle;
pub mod run;
