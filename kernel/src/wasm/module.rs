//! Decoding and validation: a module's bytes become a [`Module`], every
//! section read by wasmparser and checked by its validator (with the
//! stack-switching, exception-handling, function-references and GC
//! proposals enabled), and every function body translated to the internal
//! form ([`super::code`]) as it is validated.
//!
//! Nothing here trusts the input: a module that does not validate, or uses
//! something this interpreter does not implement (a `spectest` import it
//! does not have, a shared memory, SIMD, GC objects), is refused with a
//! [`CompileError`] naming the offset, and never reaches the interpreter.
//! Imports from other modules are kept as [`Import`]s, with the type
//! each must have, for a [`super::Linker`] to resolve.

use super::code::{self, Clause, Code, CompileError};
use super::host::{self, HostFunc};
use super::types::{self, Sig};
use super::wasi::{self, WasiFunc};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use wasmparser::types::{CoreTypeId, Types};
use wasmparser::{
    CompositeInnerType, DataKind, ElementItems, ElementKind, ExternalKind, Operator, Parser,
    Payload, TableInit, TypeRef, ValidPayload, Validator, WasmFeatures,
};

/// What the interpreter accepts on top of WebAssembly 3.0: the
/// stack-switching proposal.
pub fn features() -> WasmFeatures {
    WasmFeatures::WASM3 | WasmFeatures::STACK_SWITCHING
}

/// One instruction of a constant expression (a global's initial value, a
/// segment's offset or item).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ConstOp {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    GlobalGet(u32),
    RefNull,
    RefFunc(u32),
    I32Add,
    I32Sub,
    I32Mul,
    I64Add,
    I64Sub,
    I64Mul,
}

/// A constant expression, in order.
pub type ConstExpr = Vec<ConstOp>;

/// A function: its type, and its code or the host function it imports
/// (whose `code` is empty but for the counts of params and results).
#[derive(Debug)]
pub struct FuncDef {
    /// Its type index in the module.
    pub ty: u32,
    /// Its canonical type (what `call_indirect` compares).
    pub type_id: CoreTypeId,
    pub sig: Sig,
    pub code: Code,
    pub host: Option<HostFunc>,
    /// Imported from another instance (resolved when instantiated).
    pub linked: bool,
}

/// A table: its limits and initial element.
#[derive(Debug)]
pub struct TableDef {
    pub initial: u64,
    pub maximum: Option<u64>,
    /// Its element type, as the module declares it.
    pub elem: wasmparser::RefType,
    pub init: ConstExpr,
    /// Indexed by an i64 (`table64`), not an i32.
    pub table64: bool,
    /// Imported from another instance.
    pub linked: bool,
}

/// A global: mutability and initial value.
#[derive(Debug)]
pub struct GlobalDef {
    pub mutable: bool,
    pub init: ConstExpr,
    /// Its slot type.
    pub ty: crate::cont::ValType,
    /// Its type as the module declares it (what an import is checked
    /// against).
    pub wasm_ty: wasmparser::ValType,
    /// Imported from another instance (`init` is empty).
    pub linked: bool,
}

/// Where an element or data segment goes at instantiation.
#[derive(Debug)]
pub enum SegmentMode {
    Passive,
    Active { index: u32, offset: ConstExpr },
    Declared,
}

#[derive(Debug)]
pub struct ElemDef {
    pub mode: SegmentMode,
    pub items: Vec<ConstExpr>,
}

#[derive(Debug)]
pub struct DataDef {
    pub mode: SegmentMode,
    pub bytes: Vec<u8>,
}

/// A memory's limits, in 64 KiB pages.
#[derive(Clone, Copy, Debug)]
pub struct MemoryDef {
    pub initial: u64,
    pub maximum: Option<u64>,
    /// Addressed by an i64 (memory64), not an i32.
    pub memory64: bool,
    /// Imported from another instance.
    pub linked: bool,
}

/// An import from another instance (a registered module of a `.wast`
/// script): what it is, by name, and the type it must have.
#[derive(Debug)]
pub struct Import {
    pub module: String,
    pub name: String,
    pub kind: ImportKind,
}

/// What an [`Import`] asks for.
#[derive(Debug)]
pub enum ImportKind {
    /// A function of this signature, and its type index in the module.
    Func(Sig, u32),
    Global {
        ty: crate::cont::ValType,
        /// The type as declared (reference types exactly).
        wasm_ty: wasmparser::ValType,
        mutable: bool,
    },
    Table {
        initial: u64,
        maximum: Option<u64>,
        elem: wasmparser::RefType,
        table64: bool,
    },
    Memory {
        initial: u64,
        maximum: Option<u64>,
        memory64: bool,
    },
    /// A tag of this signature, and its type index in the module.
    Tag(Sig, u32),
}

/// A decoded, validated and translated module.
pub struct Module {
    pub(crate) types: Types,
    /// Per type index: its signature (function or continuation type).
    pub(crate) sigs: Vec<Sig>,
    /// Per type index of a continuation type whose function's last param
    /// is a continuation: what that continuation takes (what a `switch`
    /// to this type gets back).
    pub(crate) switch_returns: Vec<&'static [crate::cont::ValType]>,
    pub(crate) funcs: Vec<FuncDef>,
    pub(crate) tables: Vec<TableDef>,
    /// The memories, imported ones first.
    pub(crate) memories: Vec<MemoryDef>,
    pub(crate) globals: Vec<GlobalDef>,
    /// Per tag: its signature.
    pub(crate) tags: Vec<Sig>,
    /// Per tag: its type index.
    pub(crate) tag_types: Vec<u32>,
    pub(crate) exports: Vec<(String, ExternalKind, u32)>,
    pub(crate) elems: Vec<ElemDef>,
    pub(crate) datas: Vec<DataDef>,
    pub(crate) start: Option<u32>,
    pub(crate) resume_tables: Vec<Vec<Clause>>,
    /// The loads and stores of the general form, of every function.
    pub(crate) memargs: Vec<code::MemArg>,
    /// Imports from other instances, in the order of the import section
    /// (within each kind, they are the first indices of that kind).
    pub(crate) imports: Vec<Import>,
}

impl core::fmt::Debug for Module {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Module")
            .field("funcs", &self.funcs.len())
            .field("exports", &self.exports)
            .finish()
    }
}

fn unsupported(what: &str, offset: usize) -> CompileError {
    CompileError {
        message: format!("not supported by this interpreter: {what}"),
        offset,
    }
}

fn const_expr(expr: &wasmparser::ConstExpr<'_>) -> Result<ConstExpr, CompileError> {
    let mut out = Vec::new();
    let mut reader = expr.get_operators_reader();
    while !reader.eof() {
        let (op, offset) = reader.read_with_offset()?;
        out.push(match op {
            Operator::I32Const { value } => ConstOp::I32(value),
            Operator::I64Const { value } => ConstOp::I64(value),
            Operator::F32Const { value } => ConstOp::F32(value.bits()),
            Operator::F64Const { value } => ConstOp::F64(value.bits()),
            Operator::GlobalGet { global_index } => ConstOp::GlobalGet(global_index),
            Operator::RefNull { .. } => ConstOp::RefNull,
            Operator::RefFunc { function_index } => ConstOp::RefFunc(function_index),
            Operator::I32Add => ConstOp::I32Add,
            Operator::I32Sub => ConstOp::I32Sub,
            Operator::I32Mul => ConstOp::I32Mul,
            Operator::I64Add => ConstOp::I64Add,
            Operator::I64Sub => ConstOp::I64Sub,
            Operator::I64Mul => ConstOp::I64Mul,
            Operator::End => break,
            other => {
                return Err(unsupported(&format!("constant {other:?}"), offset as usize));
            }
        });
    }
    Ok(out)
}

impl Module {
    /// Decodes, validates and translates `bytes`.
    pub fn new(bytes: &[u8]) -> Result<Module, CompileError> {
        let mut validator = Validator::new_with_features(features());
        let mut func_types: Vec<u32> = Vec::new();
        let mut codes: Vec<Code> = Vec::new();
        let mut tables = Vec::new();
        let mut memories = Vec::new();
        let mut globals = Vec::new();
        let mut tag_types: Vec<u32> = Vec::new();
        let mut exports = Vec::new();
        let mut elems = Vec::new();
        let mut datas = Vec::new();
        let mut start = None;
        let mut resume_tables = Vec::new();
        let mut memargs = Vec::new();
        let mut types = None;
        let mut imported_funcs: Vec<(u32, Option<HostFunc>, usize, String)> = Vec::new();
        let mut pending_imports: Vec<(String, String, Pending)> = Vec::new();
        let mut global_types: Vec<wasmparser::ValType> = Vec::new();
        for payload in Parser::new(0).parse_all(bytes) {
            let payload = payload?;
            let valid = validator.payload(&payload)?;
            match &payload {
                Payload::ImportSection(r) => {
                    for imp in r.clone().into_imports_with_offsets() {
                        let (offset, imp) = imp?;
                        let offset = offset as usize;
                        let what = format!("import {}.{}", imp.module, imp.name);
                        if let (wasi::MODULE, TypeRef::Func(t) | TypeRef::FuncExact(t)) =
                            (imp.module, imp.ty)
                        {
                            let h = HostFunc::Wasi(WasiFunc::named(imp.name));
                            imported_funcs.push((t, Some(h), offset, what));
                            continue;
                        }
                        let host_func = match imp.ty {
                            TypeRef::Func(t) | TypeRef::FuncExact(t)
                                if imp.module == "spectest" =>
                            {
                                HostFunc::named(imp.name)
                                    .filter(|h| spectest_accepts(&validator, *h, t))
                            }
                            _ => None,
                        };
                        let host_global = match imp.ty {
                            TypeRef::Global(g) if imp.module == "spectest" && !g.mutable => {
                                host::global(imp.name)
                                    .filter(|(ty, _)| spectest_global_fits(g.content_type, *ty))
                            }
                            _ => None,
                        };
                        // Any other import, a `spectest` one of another
                        // type or name, its table and its memory
                        // included, is resolved by a linker.
                        if host_func.is_none() && host_global.is_none() {
                            let pending = match imp.ty {
                                TypeRef::Func(t) | TypeRef::FuncExact(t) => {
                                    imported_funcs.push((t, None, offset, what));
                                    Pending::Func(t)
                                }
                                TypeRef::Global(g) => {
                                    global_types.push(g.content_type);
                                    globals.push(GlobalDef {
                                        mutable: g.mutable,
                                        init: Vec::new(),
                                        ty: crate::cont::ValType::I32,
                                        wasm_ty: g.content_type,
                                        linked: true,
                                    });
                                    Pending::Global(g.content_type, g.mutable)
                                }
                                TypeRef::Table(t) => {
                                    tables.push(TableDef {
                                        initial: t.initial,
                                        maximum: t.maximum,
                                        elem: t.element_type,
                                        init: alloc::vec![ConstOp::RefNull],
                                        table64: t.table64,
                                        linked: true,
                                    });
                                    Pending::Done(ImportKind::Table {
                                        initial: t.initial,
                                        maximum: t.maximum,
                                        elem: t.element_type,
                                        table64: t.table64,
                                    })
                                }
                                TypeRef::Memory(m) => {
                                    if m.shared || m.page_size_log2.is_some() {
                                        return Err(unsupported(&what, offset));
                                    }
                                    memories.push(MemoryDef {
                                        initial: m.initial,
                                        maximum: m.maximum,
                                        memory64: m.memory64,
                                        linked: true,
                                    });
                                    Pending::Done(ImportKind::Memory {
                                        initial: m.initial,
                                        maximum: m.maximum,
                                        memory64: m.memory64,
                                    })
                                }
                                TypeRef::Tag(t) => {
                                    tag_types.push(t.func_type_idx);
                                    Pending::Tag(t.func_type_idx)
                                }
                            };
                            pending_imports.push((
                                String::from(imp.module),
                                String::from(imp.name),
                                pending,
                            ));
                            continue;
                        }
                        match (imp.ty, host_func, host_global) {
                            (TypeRef::Func(t) | TypeRef::FuncExact(t), Some(h), _) => {
                                imported_funcs.push((t, Some(h), offset, what));
                            }
                            (TypeRef::Global(g), _, Some((ty, v))) => {
                                global_types.push(g.content_type);
                                globals.push(GlobalDef {
                                    mutable: false,
                                    init: alloc::vec![match ty {
                                        crate::cont::ValType::I64 => ConstOp::I64(v.i64()),
                                        crate::cont::ValType::F32 => ConstOp::F32(v.v128() as u32),
                                        crate::cont::ValType::F64 => ConstOp::F64(v.v128() as u64),
                                        _ => ConstOp::I32(v.i32()),
                                    }],
                                    ty,
                                    wasm_ty: g.content_type,
                                    linked: false,
                                });
                            }
                            _ => return Err(unsupported(&what, offset)),
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r.clone() {
                        func_types.push(t?);
                    }
                }
                Payload::TableSection(r) => {
                    for t in r.clone() {
                        let t = t?;
                        let init = match t.init {
                            TableInit::RefNull => alloc::vec![ConstOp::RefNull],
                            TableInit::Expr(e) => const_expr(&e)?,
                        };
                        tables.push(TableDef {
                            initial: t.ty.initial,
                            maximum: t.ty.maximum,
                            elem: t.ty.element_type,
                            init,
                            table64: t.ty.table64,
                            linked: false,
                        });
                    }
                }
                Payload::MemorySection(r) => {
                    for m in r.clone() {
                        let m = m?;
                        let at = r.range().start as usize;
                        if m.shared || m.page_size_log2.is_some() {
                            return Err(unsupported("shared or custom-page memories", at));
                        }
                        memories.push(MemoryDef {
                            initial: m.initial,
                            maximum: m.maximum,
                            memory64: m.memory64,
                            linked: false,
                        });
                    }
                }
                Payload::TagSection(r) => {
                    for t in r.clone() {
                        tag_types.push(t?.func_type_idx);
                    }
                }
                Payload::GlobalSection(r) => {
                    for g in r.clone() {
                        let g = g?;
                        global_types.push(g.ty.content_type);
                        globals.push(GlobalDef {
                            mutable: g.ty.mutable,
                            init: const_expr(&g.init_expr)?,
                            ty: crate::cont::ValType::I32,
                            wasm_ty: g.ty.content_type,
                            linked: false,
                        });
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r.clone() {
                        let e = e?;
                        exports.push((String::from(e.name), e.kind, e.index));
                    }
                }
                Payload::StartSection { func, .. } => start = Some(*func),
                Payload::ElementSection(r) => {
                    for e in r.clone() {
                        let e = e?;
                        let mode = match e.kind {
                            ElementKind::Passive => SegmentMode::Passive,
                            ElementKind::Declared => SegmentMode::Declared,
                            ElementKind::Active {
                                table_index,
                                offset_expr,
                            } => SegmentMode::Active {
                                index: table_index.unwrap_or(0),
                                offset: const_expr(&offset_expr)?,
                            },
                        };
                        let mut items = Vec::new();
                        match e.items {
                            ElementItems::Functions(fs) => {
                                for f in fs {
                                    items.push(alloc::vec![ConstOp::RefFunc(f?)]);
                                }
                            }
                            ElementItems::Expressions(_, es) => {
                                for x in es {
                                    items.push(const_expr(&x?)?);
                                }
                            }
                        }
                        elems.push(ElemDef { mode, items });
                    }
                }
                Payload::DataSection(r) => {
                    for d in r.clone() {
                        let d = d?;
                        let mode = match d.kind {
                            DataKind::Passive => SegmentMode::Passive,
                            DataKind::Active {
                                memory_index,
                                offset_expr,
                            } => SegmentMode::Active {
                                index: memory_index,
                                offset: const_expr(&offset_expr)?,
                            },
                        };
                        datas.push(DataDef {
                            mode,
                            bytes: d.data.to_vec(),
                        });
                    }
                }
                Payload::Version { .. }
                | Payload::TypeSection(_)
                | Payload::DataCountSection { .. }
                | Payload::CodeSectionStart { .. }
                | Payload::CodeSectionEntry(_)
                | Payload::CustomSection(_)
                | Payload::End(_) => {}
                other => {
                    let (offset, what) = match other.as_section() {
                        Some((id, range)) => (range.start as usize, format!("section {id}")),
                        None => (0, String::from("this payload")),
                    };
                    return Err(unsupported(&what, offset));
                }
            }
            match valid {
                ValidPayload::Func(to_validate, body) => {
                    let mut v = to_validate.into_validator(Default::default());
                    codes.push(code::translate(
                        &mut v,
                        &body,
                        &mut resume_tables,
                        &mut memargs,
                    )?);
                }
                ValidPayload::End(t) => types = Some(t),
                ValidPayload::Ok => {}
                ValidPayload::Parser(_) => {
                    return Err(unsupported("nested modules or components", 0));
                }
            }
        }
        let types = types.ok_or_else(|| CompileError {
            message: String::from("unexpected end of module"),
            offset: bytes.len(),
        })?;
        let tref = types.as_ref();
        let ntypes = tref.core_type_count_in_module();
        let mut sigs = Vec::with_capacity(ntypes as usize);
        let mut switch_returns = Vec::with_capacity(ntypes as usize);
        for i in 0..ntypes {
            let id = tref.core_type_at_in_module(i);
            sigs.push(types::sig_of(&types, id).unwrap_or(Sig::EMPTY));
            switch_returns.push(switch_return(&types, id));
        }
        let mut funcs = Vec::with_capacity(imported_funcs.len() + codes.len());
        for (g, t) in globals.iter_mut().zip(&global_types) {
            g.ty = types::slot_type(&types, *t);
        }
        for (ty, h, offset, what) in imported_funcs {
            let sig = sigs[ty as usize];
            if let Some(h) = h
                && !h.accepts(sig.params, sig.results)
            {
                let why = format!("{what}: a host function of another type");
                return Err(unsupported(&why, offset));
            }
            funcs.push(FuncDef {
                ty,
                type_id: tref.core_type_at_in_module(ty),
                sig,
                code: Code {
                    nparams: sig.params.len() as u32,
                    nlocals: sig.params.len() as u32,
                    nresults: sig.results.len() as u32,
                    frame_size: sig.params.len().max(sig.results.len()) as u32,
                    ..Code::default()
                },
                host: h,
                linked: h.is_none(),
            });
        }
        let imports = pending_imports
            .into_iter()
            .map(|(module, name, p)| Import {
                module,
                name,
                kind: match p {
                    Pending::Func(t) => ImportKind::Func(sigs[t as usize], t),
                    Pending::Tag(t) => ImportKind::Tag(sigs[t as usize], t),
                    Pending::Global(t, mutable) => ImportKind::Global {
                        ty: types::slot_type(&types, t),
                        wasm_ty: t,
                        mutable,
                    },
                    Pending::Done(k) => k,
                },
            })
            .collect();
        for (i, code) in codes.into_iter().enumerate() {
            let ty = func_types[i];
            funcs.push(FuncDef {
                ty,
                type_id: tref.core_type_at_in_module(ty),
                sig: sigs[ty as usize],
                code,
                host: None,
                linked: false,
            });
        }
        let tags = tag_types.iter().map(|&t| sigs[t as usize]).collect();
        Ok(Module {
            types,
            sigs,
            switch_returns,
            funcs,
            tables,
            memories,
            globals,
            tags,
            tag_types,
            exports,
            elems,
            datas,
            start,
            resume_tables,
            memargs,
            imports,
        })
    }

    /// The index of the module's start function, if it has one: each
    /// instantiation runs it before `Instance::new` returns.
    pub fn start(&self) -> Option<u32> {
        self.start
    }

    /// The index of the function exported as `name`.
    pub fn exported_func(&self, name: &str) -> Option<u32> {
        self.exports
            .iter()
            .find(|(n, k, _)| {
                n == name && matches!(k, ExternalKind::Func | ExternalKind::FuncExact)
            })
            .map(|e| e.2)
    }
}

/// Whether the `spectest` function `h` has the function type of index
/// `t` (the type section is read: the validator knows it).
fn spectest_accepts(validator: &Validator, h: HostFunc, t: u32) -> bool {
    let Some(tref) = validator.types(0) else {
        return false;
    };
    if t >= tref.core_type_count_in_module() {
        return false;
    }
    let id = tref.core_type_at_in_module(t);
    let CompositeInnerType::Func(f) = &tref[id].composite_type.inner else {
        return false;
    };
    let plain = |l: &[wasmparser::ValType]| -> Option<Vec<crate::cont::ValType>> {
        l.iter()
            .map(|v| match v {
                wasmparser::ValType::I32 => Some(crate::cont::ValType::I32),
                wasmparser::ValType::I64 => Some(crate::cont::ValType::I64),
                wasmparser::ValType::F32 => Some(crate::cont::ValType::F32),
                wasmparser::ValType::F64 => Some(crate::cont::ValType::F64),
                _ => None,
            })
            .collect()
    };
    match (plain(f.params()), plain(f.results())) {
        (Some(p), Some(r)) => h.accepts(&p, &r),
        _ => false,
    }
}

/// Whether a `spectest` global of slot type `have` fits an import of
/// `want` (only number types: the spectest globals are numbers).
fn spectest_global_fits(want: wasmparser::ValType, have: crate::cont::ValType) -> bool {
    use crate::cont::ValType as V;
    matches!(
        (want, have),
        (wasmparser::ValType::I32, V::I32)
            | (wasmparser::ValType::I64, V::I64)
            | (wasmparser::ValType::F32, V::F32)
            | (wasmparser::ValType::F64, V::F64)
    )
}

/// An import whose type is known once the type section is done.
enum Pending {
    Func(u32),
    Tag(u32),
    Global(wasmparser::ValType, bool),
    Done(ImportKind),
}

/// For a continuation type whose function takes a continuation last (a
/// `switch` target's type), the params of that continuation's function.
fn switch_return(types: &Types, id: CoreTypeId) -> &'static [crate::cont::ValType] {
    use wasmparser::{CompositeInnerType, HeapType, UnpackedIndex};
    let CompositeInnerType::Cont(c) = &types[id].composite_type.inner else {
        return &[];
    };
    let Some(fid) = c.0.as_core_type_id() else {
        return &[];
    };
    let CompositeInnerType::Func(f) = &types[fid].composite_type.inner else {
        return &[];
    };
    let Some(wasmparser::ValType::Ref(r)) = f.params().last() else {
        return &[];
    };
    match r.heap_type() {
        HeapType::Concrete(UnpackedIndex::Id(k)) | HeapType::Exact(UnpackedIndex::Id(k)) => {
            types::sig_of(types, k).map_or(&[], |s| s.params)
        }
        _ => &[],
    }
}
