//! The program image: one WebAssembly module with its command line and
//! environment, and the modules it links to, as `./qemu-run.sh run
//! [--link NAME=FILE]... FILE ARGS...` hands them to the `run-main`
//! kernel in the bootloader's ramdisk.
//!
//! Why a format of its own: the arguments travel with the module, so the
//! kernel is built once and never rebuilt per program or per argument.
//! The reader checks every length against what is left, as the bundle's
//! does, so a truncated image is an error naming the byte, not a panic.
//!
//! ```text
//!  program = "WRUN" version:u32 nargs:u32 str* nenv:u32 str*
//!            nlibs:u32 (name:str module:bytes)* module:bytes
//!  str = bytes = len:u32 byte[len];  integers little-endian
//! ```
//!
//! The libraries are instantiated first, in order, each registered under
//! its name, so that the program's imports (and a later library's) link
//! to their exports.
//!
//! ```text
//! ```

use super::BundleError;
use alloc::vec::Vec;

/// The first bytes of every program image.
pub const MAGIC: &[u8; 4] = b"WRUN";
/// The format's version; a reader refuses any other.
pub const VERSION: u32 = 2;

/// A program image, read back: byte strings borrowed from the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program<'a> {
    /// The command line, the program's name first.
    pub args: Vec<&'a [u8]>,
    /// `NAME=value` strings.
    pub env: Vec<&'a [u8]>,
    /// The modules linked before the program: each name (the import
    /// module name it answers to) and binary.
    pub libs: Vec<(&'a [u8], &'a [u8])>,
    /// The module's binary.
    pub module: &'a [u8],
}

/// The image of `module` run with `args` and `env`, linked to `libs`
/// (name and binary each).
pub fn encode(args: &[&[u8]], env: &[&[u8]], libs: &[(&[u8], &[u8])], module: &[u8]) -> Vec<u8> {
    let mut out = Vec::from(&MAGIC[..]);
    out.extend_from_slice(&VERSION.to_le_bytes());
    for list in [args, env] {
        out.extend_from_slice(&(list.len() as u32).to_le_bytes());
        for s in list {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
    }
    out.extend_from_slice(&(libs.len() as u32).to_le_bytes());
    for (name, lib) in libs {
        for s in [name, lib] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
    }
    out.extend_from_slice(&(module.len() as u32).to_le_bytes());
    out.extend_from_slice(module);
    out
}

/// Reads an image made by [`encode`]; anything else is an error naming
/// the byte where it stops making sense.
pub fn decode(bytes: &[u8]) -> Result<Program<'_>, BundleError> {
    let mut at = 0;
    let mut take = |n: usize, what: &'static str| -> Result<&[u8], BundleError> {
        if n > bytes.len() - at {
            return Err(BundleError { offset: at, what });
        }
        let s = &bytes[at..at + n];
        at += n;
        Ok(s)
    };
    if take(4, "no program magic")? != MAGIC {
        return Err(BundleError {
            offset: 0,
            what: "not a program image (magic)",
        });
    }
    let word = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    if word(take(4, "no version")?) != VERSION {
        return Err(BundleError {
            offset: 4,
            what: "a program image of another version",
        });
    }
    let mut lists = [Vec::new(), Vec::new()];
    for list in &mut lists {
        let n = word(take(4, "truncated count")?);
        for _ in 0..n {
            let len = word(take(4, "truncated length")?) as usize;
            list.push(take(len, "truncated string")?);
        }
    }
    let nlibs = word(take(4, "truncated count")?);
    let mut libs = Vec::new();
    for _ in 0..nlibs {
        let len = word(take(4, "truncated length")?) as usize;
        let name = take(len, "truncated string")?;
        let len = word(take(4, "truncated module length")?) as usize;
        libs.push((name, take(len, "truncated module")?));
    }
    let len = word(take(4, "truncated module length")?) as usize;
    let module = take(len, "truncated module")?;
    if at != bytes.len() {
        return Err(BundleError {
            offset: at,
            what: "bytes after the module",
        });
    }
    let [args, env] = lists;
    Ok(Program {
        args,
        env,
        libs,
        module,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_image_reads_back_as_written() {
        let libs: &[(&[u8], &[u8])] = &[(b"env", b"\0asm lib")];
        let image = encode(&[b"p.wasm", b"a b"], &[b"X=1"], libs, b"\0asm\x01\0\0\0");
        let p = decode(&image).expect("a well-formed image");
        assert_eq!(p.args, [&b"p.wasm"[..], b"a b"]);
        assert_eq!(p.env, [&b"X=1"[..]]);
        assert_eq!(p.libs, libs);
        assert_eq!(p.module, b"\0asm\x01\0\0\0");
    }

    #[test]
    fn every_truncation_of_an_image_is_an_error_not_a_panic() {
        let image = encode(&[b"p"], &[], &[(b"l", b"\0asm")], b"\0asm");
        for cut in 0..image.len() {
            assert!(decode(&image[..cut]).is_err(), "cut at {cut}");
        }
        let mut long = image.clone();
        long.push(0);
        assert_eq!(decode(&long).unwrap_err().what, "bytes after the module");
    }
}
