//! A linker: instances that share one store and import from each other,
//! as the modules of a `.wast` script do after `register`.
//!
//! A lone [`Instance`] owns its store and resolves only `spectest`
//! imports. Modules that import functions, globals, tables, memories or
//! tags from each other must also share a store: a continuation made by
//! one instance is resumed by another, and a tag's handler may be
//! installed by a third. The linker owns that store and every instance
//! made in it, and drops the store first, so the cancellation of every
//! suspended continuation runs while all the instances whose frames it
//! unwinds still exist (the same order a lone instance keeps with its own
//! store).
//!
//! ```text
//!  Linker
//!  +---------------+
//!  | store         |  dropped first: cancels every continuation
//!  | instances ----|---- Pin<Box<Instance>> each, store slot `Shared`
//!  | directory     |---- (id, instance) of each: how a reference made by
//!  | registered    |     one instance is used by another
//!  +---------------+
//! ```
//!
//! An import is checked against the export it names when a module is
//! instantiated: its kind, and its exact type ([`super::exact`]): a
//! function's type may be a subtype of the import's, so may an immutable
//! global's; a mutable global's, a table's element type and a tag's
//! must be the same; a table's or memory's limits must fit. A mismatch
//! is [`Error::Unlinkable`], and nothing of the module runs.
//!
//! The `spectest` module's functions and number globals are the host's
//! ([`super::host`]); its tables `table` and `table64` (10 elements, at
//! most 20, of `funcref`; the second indexed by i64) and its memory (1
//! page, at most 2) are made by the linker the first time a module
//! imports them, one of each for all its instances, as the test suite's
//! scripts expect. A table's or memory's index type (i32 or i64) must be
//! the import's. Any other `spectest` import, or one of
//! another type, is unlinkable (unless a module was registered under
//! that name).

use super::exact;
use super::instance::{Error, Extern, Instance, StoreSlot};
use super::memory::LinearMemory;
use super::module::{ImportKind, Module};
use crate::cont::{Store, ValRaw};
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::RefCell;
use core::pin::Pin;

/// Instances sharing one store, and the names they are registered under.
/// See the module documentation.
pub struct Linker {
    // Field order is drop order: the store goes first.
    store: Pin<Box<Store>>,
    instances: Vec<Pin<Box<Instance>>>,
    directory: Rc<Directory>,
    registered: Vec<(String, usize)>,
    /// The `spectest` table and memory, once a module imported them.
    spectest_table: Option<Rc<RefCell<Vec<ValRaw>>>>,
    spectest_table64: Option<Rc<RefCell<Vec<ValRaw>>>>,
    spectest_memory: Option<Rc<RefCell<LinearMemory>>>,
}

/// The `spectest` table's size and maximum, and its memory's, in pages.
const SPECTEST_TABLE: (usize, u64) = (10, 20);
const SPECTEST_MEMORY: (u64, u64) = (1, 2);

/// The print hooks of the instances go to the store while it lives (see
/// `Drop for Instance`); then the fields drop, the store first.
impl Drop for Linker {
    fn drop(&mut self) {
        for inst in &self.instances {
            inst.give_hook_to_store();
        }
    }
}

impl Linker {
    /// An empty linker whose instances live in `store`.
    pub fn new(store: Pin<Box<Store>>) -> Linker {
        Linker {
            store,
            instances: Vec::new(),
            directory: Rc::new(Directory::default()),
            registered: Vec::new(),
            spectest_table: None,
            spectest_table64: None,
            spectest_memory: None,
        }
    }

    /// The shared store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Instantiates `module`, its imports taken from the registered
    /// instances; returns its index.
    pub fn instantiate(&mut self, module: Arc<Module>) -> Result<usize, Error> {
        let mut imports = Vec::with_capacity(module.imports.len());
        for imp in &module.imports {
            let what = || format!("{}.{}", imp.module, imp.name);
            let unknown = || Error::Unlinkable(format!("unknown import {}", what()));
            let inst = self
                .registered
                .iter()
                .rev()
                .find(|(n, _)| *n == imp.module)
                .map(|&(_, i)| &self.instances[i]);
            let e = match inst {
                Some(inst) => {
                    let e = inst.export(&imp.name).ok_or_else(unknown)?;
                    let ty = export_type(inst, &imp.name, &e);
                    (e, ty)
                }
                None if imp.module == "spectest" => self.spectest(&imp.name).ok_or_else(unknown)?,
                None => return Err(unknown()),
            };
            check(&imp.kind, &module, &e.0, &e.1).map_err(|why| {
                Error::Unlinkable(format!("incompatible import type {}: {why}", what()))
            })?;
            imports.push(e.0);
        }
        let slot = StoreSlot::Shared(&*self.store as *const Store);
        let inst = Instance::instantiate(module, slot, Some(self.directory.clone()), imports)?;
        self.directory.add(&inst);
        self.instances.push(inst);
        let index = self.instances.len() - 1;
        // An instance whose segments or start function failed stays, as
        // the specification's store keeps it: a table it wrote into, or
        // a continuation its start function left, may still name it.
        self.instances[index].initialize()?;
        Ok(index)
    }

    /// The `spectest` table or memory named `name`, made the first time.
    fn spectest(&mut self, name: &str) -> Option<(Extern, ExportType)> {
        match name {
            "table" | "table64" => {
                let table64 = name == "table64";
                let slot = match table64 {
                    true => &mut self.spectest_table64,
                    false => &mut self.spectest_table,
                };
                let t = slot.get_or_insert_with(|| {
                    Rc::new(RefCell::new(alloc::vec![ValRaw::ZERO; SPECTEST_TABLE.0]))
                });
                let e = Extern::Table(t.clone(), SPECTEST_TABLE.1);
                Some((e, ExportType::Table(exact::funcref(), table64)))
            }
            "memory" => {
                if self.spectest_memory.is_none() {
                    let m = LinearMemory::new(SPECTEST_MEMORY.0, SPECTEST_MEMORY.1).ok()?;
                    self.spectest_memory = Some(Rc::new(RefCell::new(m)));
                }
                let m = self.spectest_memory.as_ref()?;
                Some((
                    Extern::Memory(m.clone(), SPECTEST_MEMORY.1),
                    ExportType::Memory(false),
                ))
            }
            _ => None,
        }
    }

    /// The instance at `index`.
    pub fn instance(&self, index: usize) -> Option<&Instance> {
        self.instances.get(index).map(|i| &**i)
    }

    /// Makes instance `index`'s exports importable as module `name`.
    pub fn register(&mut self, name: &str, index: usize) -> Result<(), Error> {
        if index >= self.instances.len() {
            return Err(Error::NoSuchExport);
        }
        self.registered.push((String::from(name), index));
        Ok(())
    }
}

/// The instances of one [`Linker`], by id: how a reference made by one
/// instance is resolved in another, without following a pointer read
/// from a slot.
#[derive(Default)]
pub(crate) struct Directory {
    pub(crate) instances: RefCell<Vec<(u64, *const Instance)>>,
}

impl Directory {
    /// Lists `inst`, which its linker keeps until the store is gone.
    pub(crate) fn add(&self, inst: &Instance) {
        self.instances.borrow_mut().push((inst.id, inst));
    }

    pub(crate) fn find(&self, id: u64) -> Option<*const Instance> {
        self.instances
            .borrow()
            .iter()
            .find(|(i, _)| *i == id)
            .map(|e| e.1)
    }
}

/// The exact type of `e`, what `inst` exports as `name`, for an import
/// check.
fn export_type(inst: &Instance, name: &str, e: &Extern) -> ExportType {
    let index = inst
        .module
        .exports
        .iter()
        .find(|x| x.0 == name)
        .map_or(0, |x| x.2 as usize);
    let types = inst.module.types.as_ref();
    match e {
        Extern::Func(inst, f) => ExportType::Func(*inst, *f),
        Extern::Global(..) => ExportType::Global(super::exact::of_val(
            types,
            inst.module.globals[index].wasm_ty,
        )),
        Extern::Table(..) => ExportType::Table(
            super::exact::of_val(
                types,
                wasmparser::ValType::Ref(inst.module.tables[index].elem),
            ),
            inst.module.tables[index].table64,
        ),
        Extern::Tag(_) => ExportType::Tag(inst, inst.module.tag_types[index]),
        Extern::Memory(..) => ExportType::Memory(inst.module.memories[index].memory64),
    }
}

/// The exact type of an export, where its [`Extern`] does not say it.
pub(crate) enum ExportType {
    /// A function: its type, in its instance's module.
    Func(*const Instance, u32),
    Global(exact::Exact),
    /// A table: its element type, and whether it is indexed by i64.
    Table(exact::Exact, bool),
    /// A tag: its type id, in the module of `Instance`.
    Tag(*const Instance, u32),
    /// A memory: whether it is addressed by i64 (its limits are in the
    /// [`Extern`]).
    Memory(bool),
}

/// Whether export `e` of type `ty` fits import kind `k` of module
/// `importer`; if not, why.
fn check(
    k: &ImportKind,
    importer: &Module,
    e: &Extern,
    ty: &ExportType,
) -> Result<(), &'static str> {
    let types = importer.types.as_ref();
    match (k, e, ty) {
        (ImportKind::Func(_, want), Extern::Func(..), ExportType::Func(inst, f)) => {
            // SAFETY: `inst` is a live instance of this linker.
            let owner = &unsafe { &**inst }.module;
            let have = owner.funcs[*f as usize].type_id;
            let want = types.core_type_at_in_module(*want);
            if exact::func_matches(owner.types.as_ref(), have, types, want) {
                Ok(())
            } else {
                Err("a function of another type")
            }
        }
        (ImportKind::Tag(_, want), Extern::Tag(_), ExportType::Tag(inst, t)) => {
            // SAFETY: `inst` is a live instance of this linker.
            let owner = &unsafe { &**inst }.module;
            let have = owner.types.as_ref().core_type_at_in_module(*t);
            let want = types.core_type_at_in_module(*want);
            if exact::same_type(owner.types.as_ref(), have, types, want) {
                Ok(())
            } else {
                Err("a tag of another type")
            }
        }
        (
            ImportKind::Global {
                wasm_ty, mutable, ..
            },
            Extern::Global(_, _, m),
            ExportType::Global(have),
        ) => {
            let want = exact::of_val(types, *wasm_ty);
            let fits = if *mutable {
                exact::same(have, &want)
            } else {
                exact::is_subtype(have, &want)
            };
            if fits && mutable == m {
                Ok(())
            } else {
                Err("a global of another type or mutability")
            }
        }
        (
            ImportKind::Table {
                initial,
                maximum,
                elem,
                table64,
            },
            Extern::Table(t, max),
            ExportType::Table(have, have64),
        ) => {
            let want = exact::of_val(types, wasmparser::ValType::Ref(*elem));
            if !exact::same(have, &want) {
                return Err("a table of another element type");
            }
            if table64 != have64 {
                return Err("a table of another index type");
            }
            let len = t
                .try_borrow()
                .map_err(|_| "a table in use by a preempted call")?
                .len();
            limits(*initial, *maximum, len as u64, *max)
        }
        (
            ImportKind::Memory {
                initial,
                maximum,
                memory64,
            },
            Extern::Memory(m, max),
            ExportType::Memory(have64),
        ) => {
            if memory64 != have64 {
                return Err("a memory of another index type");
            }
            let pages = m
                .try_borrow()
                .map_err(|_| "a memory in use by a preempted call")?
                .pages();
            limits(*initial, *maximum, pages, *max)
        }
        _ => Err("an export of another kind"),
    }
}

/// Whether a table or memory of `size` (at most `max`) meets an import's
/// limits.
fn limits(initial: u64, maximum: Option<u64>, size: u64, max: u64) -> Result<(), &'static str> {
    if size < initial {
        return Err("smaller than the import's minimum");
    }
    match maximum {
        Some(m) if max > m => Err("a maximum larger than the import's"),
        _ => Ok(()),
    }
}
