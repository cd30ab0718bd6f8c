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
//! instantiated: its kind, and for a function or tag its signature, for a
//! global its type and mutability, for a table or memory its limits. A
//! mismatch is [`Error::Unlinkable`], and nothing of the module runs.

use super::instance::{Directory, Error, Extern, Instance, StoreSlot};
use super::module::{ImportKind, Module};
use crate::cont::Store;
use alloc::boxed::Box;
use alloc::format;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::pin::Pin;

/// Instances sharing one store, and the names they are registered under.
/// See the module documentation.
pub struct Linker {
    // Field order is drop order: the store goes first.
    store: Pin<Box<Store>>,
    instances: Vec<Pin<Box<Instance>>>,
    directory: Rc<Directory>,
    registered: Vec<(String, usize)>,
}

impl Linker {
    /// An empty linker whose instances live in `store`.
    pub fn new(store: Pin<Box<Store>>) -> Linker {
        Linker {
            store,
            instances: Vec::new(),
            directory: Rc::new(Directory::default()),
            registered: Vec::new(),
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
            let inst = self
                .registered
                .iter()
                .rev()
                .find(|(n, _)| *n == imp.module)
                .map(|&(_, i)| &self.instances[i])
                .ok_or_else(|| Error::Unlinkable(format!("unknown import {}", what())))?;
            let e = inst
                .export(&imp.name)
                .ok_or_else(|| Error::Unlinkable(format!("unknown import {}", what())))?;
            check(&imp.kind, &e).map_err(|why| {
                Error::Unlinkable(format!("incompatible import type {}: {why}", what()))
            })?;
            imports.push(e);
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

/// Whether export `e` fits import kind `k`; if not, why.
fn check(k: &ImportKind, e: &Extern) -> Result<(), &'static str> {
    match (k, e) {
        (ImportKind::Func(sig), Extern::Func(inst, f)) => {
            // SAFETY: `inst` is a live instance of this linker.
            let have = unsafe { &**inst }.module.funcs[*f as usize].sig;
            if have.params == sig.params && have.results == sig.results {
                Ok(())
            } else {
                Err("a function of another type")
            }
        }
        (ImportKind::Tag(sig), Extern::Tag(t)) => {
            if t.params() == sig.params && t.results() == sig.results {
                Ok(())
            } else {
                Err("a tag of another type")
            }
        }
        (ImportKind::Global { ty, mutable }, Extern::Global(_, t, m)) => {
            if ty == t && mutable == m {
                Ok(())
            } else {
                Err("a global of another type or mutability")
            }
        }
        (ImportKind::Table { initial, maximum }, Extern::Table(t, max)) => {
            limits(*initial, *maximum, t.borrow().len() as u64, *max)
        }
        (ImportKind::Memory { initial, maximum }, Extern::Memory(m, max)) => limits(
            *initial,
            *maximum,
            (m.borrow().len() / super::instance::PAGE) as u64,
            *max,
        ),
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
