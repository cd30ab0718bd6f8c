//! The `spectest` host module: the functions and globals a module may
//! import, named as the WebAssembly test suite names them.
//!
//! These are the imports a lone instance resolves, with the WASI
//! functions of [`super::wasi`] (others come from a `Linker`'s registered
//! instances): each
//! `print*` function formats its arguments as one line (`42 : i32`,
//! the reference interpreter's form) and hands it to the instance's print
//! hook, which is the serial console unless the embedder sets another
//! (`Instance::set_print`). An import of any other name, or of a
//! `spectest` name with another type, is refused when the module loads.

use crate::cont::{ValRaw, ValType};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A function of the `spectest` module.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFunc {
    Print,
    PrintI32,
    PrintI64,
    PrintF32,
    PrintF64,
    PrintI32F32,
    PrintF64F64,
    /// A function of `wasi_snapshot_preview1` (see [`super::wasi`]).
    Wasi(super::wasi::WasiFunc),
}

use ValType::{F32, F64, I32, I64};

impl HostFunc {
    /// The function `spectest.name`, if there is one.
    pub fn named(name: &str) -> Option<HostFunc> {
        Some(match name {
            "print" => HostFunc::Print,
            "print_i32" => HostFunc::PrintI32,
            "print_i64" => HostFunc::PrintI64,
            "print_f32" => HostFunc::PrintF32,
            "print_f64" => HostFunc::PrintF64,
            "print_i32_f32" => HostFunc::PrintI32F32,
            "print_f64_f64" => HostFunc::PrintF64F64,
            _ => return None,
        })
    }

    /// Its parameters (none returns anything).
    pub fn params(self) -> &'static [ValType] {
        match self {
            HostFunc::Print => &[],
            HostFunc::PrintI32 => &[I32],
            HostFunc::PrintI64 => &[I64],
            HostFunc::PrintF32 => &[F32],
            HostFunc::PrintF64 => &[F64],
            HostFunc::PrintI32F32 => &[I32, F32],
            HostFunc::PrintF64F64 => &[F64, F64],
            HostFunc::Wasi(w) => w.params().unwrap_or(&[]),
        }
    }

    /// Whether an import of type `params -> results` links to it.
    pub fn accepts(self, params: &[ValType], results: &[ValType]) -> bool {
        match self {
            HostFunc::Wasi(w) => w.accepts(params, results),
            _ => params == self.params() && results.is_empty(),
        }
    }

    /// The line it prints for `args` (of its params' types).
    pub fn line(self, args: &[ValRaw]) -> String {
        let parts: Vec<String> = self
            .params()
            .iter()
            .zip(args)
            .map(|(t, v)| match t {
                I32 => format!("{} : i32", v.i32()),
                I64 => format!("{} : i64", v.i64()),
                F32 => format!("{:?} : f32", v.f32()),
                _ => format!("{:?} : f64", v.f64()),
            })
            .collect();
        parts.join(" ")
    }
}

/// The global `spectest.name`, if there is one: its type and value.
pub fn global(name: &str) -> Option<(ValType, ValRaw)> {
    Some(match name {
        "global_i32" => (I32, ValRaw::from_i32(666)),
        "global_i64" => (I64, ValRaw::from_i64(666)),
        "global_f32" => (F32, ValRaw::from_f32(666.6)),
        "global_f64" => (F64, ValRaw::from_f64(666.6)),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn print_lines_name_each_value_and_its_type() {
        let f = HostFunc::named("print_i32_f32").expect("a spectest function");
        let line = f.line(&[ValRaw::from_i32(-3), ValRaw::from_f32(1.5)]);
        assert_eq!(line, "-3 : i32 1.5 : f32");
        assert_eq!(
            HostFunc::named("print").map(|f| f.line(&[])),
            Some(String::new())
        );
        assert_eq!(HostFunc::named("printf"), None);
    }
}
