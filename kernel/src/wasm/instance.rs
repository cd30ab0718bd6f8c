//! An instance: a module's runtime state (memory, globals, tables, tags,
//! its functions as runtime [`Func`]s) and the store its continuations
//! live in; and the calls in (`invoke` from Rust, the array-call entry for
//! a continuation).
//!
//! References in slots are made safe by construction rather than trusted:
//! a `funcref` is the function's index plus one, an `exnref` the index
//! plus one of an exception this instance keeps, each with a second word
//! naming the instance and the kind of reference ([`ref_word`]). The
//! interpreter checks that word and the index before it uses one, so a
//! reference from another instance, or of another kind, traps; it never
//! follows a pointer it read from a slot. Continuation references are the
//! runtime's own handles, which it checks on every use.
//!
//! ```text
//!  Instance (pinned)
//!  +----------------+  first field: its own store is dropped first,
//!  | store          |  cancelling every suspended continuation while the
//!  |                |  rest still lives (or a `Linker`'s, which it drops
//!  |                |  before any of its instances)
//!  | module, memory |
//!  | globals, tables|
//!  | tags (runtime) |---- one runtime Tag per Wasm tag
//!  | entries[i] ----|---- {instance, i}: the callee_vmctx of Func i,
//!  +----------------+     whose array call is `interpreter_array_call`
//! ```

use super::interp::{self, Thread};
pub(crate) use super::linker::Directory;
use super::module::Module;
use super::trap::{Exn, Unwind};
pub use super::val::{RefVal, Val};
use super::val::{from_slot, to_slot};
use crate::cont::dynamic::{Func, Handler, Tag};
use crate::cont::runtime::epoch;
use crate::cont::{Store, Trap, TrapKind, VMContext, ValRaw, ValType};
use alloc::boxed::Box;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::marker::PhantomPinned;
use core::pin::Pin;
use core::sync::atomic::{AtomicU64, Ordering};
use wasmparser::ExternalKind;

use super::memory::LinearMemory;
pub use super::memory::{MAX_PAGES, PAGE};
use super::segments::make_memory;

/// The most pages a memory of `store` may grow to (its module's maximum
/// may say less): the store's memory limit in pages
/// ([`Store::memory_limit`]), at most the 32-bit index space. A grow can
/// still fail earlier, when the frames are not there: it returns -1.
pub fn page_limit(store: &Store) -> u64 {
    ((store.memory_limit() / PAGE) as u64).min(MAX_PAGES)
}
/// The most elements a table may grow to here.
pub const MAX_TABLE: u64 = 1 << 20;
/// Native stack the outermost call (on the caller's own stack) may use by
/// default; see [`Instance::set_stack_budget`].
pub const DEFAULT_STACK_BUDGET: usize = 128 * 1024;
/// Native stack kept free at the bottom of a continuation's stack for the
/// runtime's own calls below the deepest interpreted frame.
pub const STACK_RESERVE: usize = 16 * 1024;

/// Where the `spectest` prints go. An `Rc`: a line runs a clone, outside
/// the cell's borrow, so the hook may call `set_print` or be abandoned.
type PrintHook = Rc<dyn Fn(&str)>;

static NEXT_INSTANCE: AtomicU64 = AtomicU64::new(1);

/// What a function's array call receives as `callee_vmctx`.
pub(crate) struct Entry {
    instance: *const Instance,
    index: u32,
}

/// Why a call into an instance failed.
#[derive(Debug)]
pub enum Error {
    /// No exported function of that name.
    NoSuchExport,
    /// The arguments are not the function's parameter types.
    ArgumentMismatch,
    /// The call trapped.
    Trap(Trap),
    /// An exception left the call: the tag's index in the module, and the
    /// payload.
    Exception { tag: u32, payload: Vec<ValRaw> },
    /// Instantiation failed (a segment out of bounds, too much memory...).
    Instantiate(&'static str),
    /// An import that no registered instance provides, or provides with
    /// another type.
    Unlinkable(String),
}

impl Error {
    /// The trap's reason in the specification's words, if it is a trap.
    pub fn trap_reason(&self) -> Option<&'static str> {
        match self {
            Error::Trap(t) => Some(super::trap::reason(t)),
            _ => None,
        }
    }
}

/// Where an instance's store is: its own (dropped first, with it), or the
/// one of the [`Linker`] that owns it, which drops that store before any
/// of its instances.
pub(crate) enum StoreSlot {
    Own(Pin<Box<Store>>),
    /// A `Linker`'s store: it lives as long as the linker, and the linker
    /// drops it before its instances (the store's drop cancels their
    /// continuations, which need them), so an instance of a linker never
    /// touches its store in its own drop.
    Shared(*const Store),
}

impl core::ops::Deref for StoreSlot {
    type Target = Store;
    fn deref(&self) -> &Store {
        match self {
            StoreSlot::Own(s) => s,
            // SAFETY: only linkers make shared slots, and a linker's
            // store lives while the linker does; the one code that runs
            // after it is freed, an instance's drop, does not come here
            // for a shared slot (`Drop for Instance`).
            StoreSlot::Shared(s) => unsafe { &**s },
        }
    }
}

/// Something an instance exports.
#[derive(Clone)]
pub(crate) enum Extern {
    Func(*const Instance, u32),
    Global(Rc<Cell<ValRaw>>, ValType, bool),
    Table(Rc<RefCell<Vec<ValRaw>>>, u64),
    Memory(Rc<RefCell<LinearMemory>>, u64),
    Tag(Tag),
}

/// A module instantiated in a store. See the module documentation.
pub struct Instance {
    pub(crate) store: StoreSlot,
    pub(crate) module: Arc<Module>,
    pub(crate) id: u64,
    /// Memory 0 (an empty one if the module has none), the memory of the
    /// interpreter's compact loads and stores and of WASI; it is also
    /// `memories[0]`.
    pub(crate) memory: Rc<RefCell<LinearMemory>>,
    /// Every memory, shared with the instances that import it (or owned
    /// elsewhere, if imported), and the most pages each may grow to.
    pub(crate) memories: Vec<Rc<RefCell<LinearMemory>>>,
    pub(crate) memory_max: Vec<u64>,
    pub(crate) globals: Vec<Rc<Cell<ValRaw>>>,
    pub(crate) tables: Vec<Rc<RefCell<Vec<ValRaw>>>>,
    pub(crate) table_max: Vec<u64>,
    /// Per function index: for an import from another instance of the
    /// same [`Linker`], that instance and its function index.
    pub(crate) links: Vec<Option<(*const Instance, u32)>>,
    /// The instances of this instance's [`Linker`] (none: a lone
    /// instance), so that references made by one may be used by another.
    pub(crate) directory: Option<Rc<Directory>>,
    /// Element segments (emptied by `elem.drop` and after active use).
    pub(crate) elems: Vec<RefCell<Vec<ValRaw>>>,
    /// Data segments still available to `memory.init`.
    pub(crate) data_live: Vec<Cell<bool>>,
    pub(crate) tags: Vec<Tag>,
    /// Per resume table of the module: the runtime's handler list.
    pub(crate) handlers: Vec<Vec<Handler>>,
    /// Per function: the runtime function a `cont.new` runs (`None`: it
    /// has more results than a continuation's mailbox holds).
    pub(crate) funcs: Vec<Option<Func>>,
    /// Never resized once made: each entry's address is a `Func`'s
    /// `callee_vmctx`.
    entries: Box<[Entry]>,
    /// Exceptions caught with a reference (`exnref` i names `exns[i-1]`).
    pub(crate) exns: RefCell<Vec<Exn>>,
    stack_budget: Cell<usize>,
    /// Ticks a call from the kernel's own stack may run (`None`: no limit).
    pub(crate) tick_budget: Cell<Option<u32>>,
    /// Where the `spectest` prints go (`None`: the serial console).
    print: RefCell<Option<PrintHook>>,
    pub(crate) wasi: super::wasi::Wasi,
    _pinned: PhantomPinned,
}

/// The print hook is a caller's closure, and its drop is that caller's
/// code: it is handed to the store, as a function's closure, so that it is
/// dropped with the store's other closures on one of the store's own
/// stacks (`Store::drop_closures`), where a panic is a trap, not on the
/// stack of whoever drops the instance. The instance's own store drops
/// right after this (its first field). A linker's store is gone by the
/// time its instances drop: the linker handed their hooks to it before
/// it dropped ([`Instance::give_hook_to_store`]), and a hook set since
/// (by code the store's drop ran) is dropped here, in place.
impl Drop for Instance {
    fn drop(&mut self) {
        match self.store {
            StoreSlot::Own(_) => self.give_hook_to_store(),
            StoreSlot::Shared(_) => drop(self.print.get_mut().take()),
        }
    }
}

impl Instance {
    /// Hands the print hook, if one is set, to the store, to be dropped
    /// with its closures (see `Drop for Instance`). The store must be
    /// alive: called by the instance's drop for its own store, and by a
    /// linker's drop, before its store drops, for its instances.
    pub(crate) fn give_hook_to_store(&self) {
        if let Some(hook) = self.print.borrow_mut().take() {
            // Refused only for more than `MAX_VALUES` results: none here.
            let _ = self
                .store
                .func_wrap(move |_: &Store, (): ()| -> Result<(), Trap> {
                    let _ = &hook;
                    Ok(())
                });
        }
    }
}

impl Instance {
    /// Instantiates `module` in `store`: memory, globals, tables, tags and
    /// the runtime function of each Wasm function; then the active
    /// segments and the start function.
    pub fn new(module: Arc<Module>, store: Pin<Box<Store>>) -> Result<Pin<Box<Instance>>, Error> {
        if let Some(imp) = module.imports.first() {
            return Err(Error::Unlinkable(alloc::format!(
                "unknown import {}.{} (a lone instance links only spectest and wasi_snapshot_preview1)",
                imp.module,
                imp.name
            )));
        }
        let inst = Instance::instantiate(module, StoreSlot::Own(store), None, Vec::new())?;
        inst.initialize()?;
        Ok(inst)
    }

    /// The first half of instantiation: `module`'s state with `imports`
    /// (one per `module.imports`, already checked against their types),
    /// its memory, globals, tables, tags and runtime functions; nothing
    /// outside the new instance is touched and no Wasm code runs (see
    /// [`Instance::initialize`]).
    pub(crate) fn instantiate(
        module: Arc<Module>,
        store: StoreSlot,
        directory: Option<Rc<Directory>>,
        imports: Vec<Extern>,
    ) -> Result<Pin<Box<Instance>>, Error> {
        let mut links = Vec::with_capacity(module.funcs.len());
        let mut globals = Vec::with_capacity(module.globals.len());
        let mut tables = Vec::with_capacity(module.tables.len());
        let mut table_max = Vec::with_capacity(module.tables.len());
        let mut tags = Vec::with_capacity(module.tags.len());
        let mut memories = Vec::with_capacity(module.memories.len());
        let mut memory_max = Vec::with_capacity(module.memories.len());
        for e in imports {
            match e {
                Extern::Func(i, f) => links.push((i, f)),
                Extern::Global(g, ..) => globals.push(g),
                Extern::Table(t, max) => {
                    tables.push(t);
                    table_max.push(max);
                }
                Extern::Memory(m, max) => {
                    memories.push(m);
                    memory_max.push(max);
                }
                Extern::Tag(t) => tags.push(t),
            }
        }
        let mut linked = links.into_iter();
        let links = module
            .funcs
            .iter()
            .map(|f| if f.linked { linked.next() } else { None })
            .collect();
        for sig in &module.tags[tags.len()..] {
            tags.push(
                store
                    .tag_new(sig.params, sig.results)
                    .map_err(|_| Error::Instantiate("a tag the runtime refuses"))?,
            );
        }
        let handlers = module
            .resume_tables
            .iter()
            .map(|clauses| {
                clauses
                    .iter()
                    .map(|c| match c.target {
                        Some(_) => Handler::suspend(tags[c.tag as usize]),
                        None => Handler::switch(tags[c.tag as usize]),
                    })
                    .collect()
            })
            .collect();
        for m in &module.memories[memories.len()..] {
            let (m, max) = make_memory(m, &store)?;
            memories.push(m);
            memory_max.push(max);
        }
        let memory = match memories.first() {
            Some(m) => m.clone(),
            None => Rc::new(RefCell::new(LinearMemory::empty())),
        };
        let mut inst = Box::pin(Instance {
            store,
            id: NEXT_INSTANCE.fetch_add(1, Ordering::Relaxed),
            memory,
            memories,
            memory_max,
            globals,
            tables,
            table_max,
            links,
            directory,
            elems: Vec::new(),
            data_live: module.datas.iter().map(|_| Cell::new(true)).collect(),
            tags,
            handlers,
            funcs: Vec::new(),
            entries: Box::new([]),
            exns: RefCell::new(Vec::new()),
            stack_budget: Cell::new(DEFAULT_STACK_BUDGET),
            tick_budget: Cell::new(None),
            print: RefCell::new(None),
            wasi: Default::default(),
            module,
            _pinned: PhantomPinned,
        });
        // SAFETY: the instance is not moved out of its pinned box: only
        // fields are filled in, and `entries` point at the box's fixed
        // address.
        let this = unsafe { inst.as_mut().get_unchecked_mut() };
        let here: *const Instance = this;
        this.entries = (0..this.module.funcs.len() as u32)
            .map(|index| Entry {
                instance: here,
                index,
            })
            .collect();
        for (entry, f) in this.entries.iter().zip(&this.module.funcs) {
            let vmctx = entry as *const Entry as *mut VMContext;
            // SAFETY: `interpreter_array_call` follows the array call for this
            // function's signature (it reads the params and writes the
            // results the signature names) and accepts `vmctx`, an `Entry`
            // that lives as long as the instance, which outlives the store
            // (the store is dropped first, see the module docs).
            let func = unsafe {
                this.store
                    .func_new_raw(interpreter_array_call, vmctx, f.sig.params, f.sig.results)
            };
            this.funcs.push(func.ok());
        }
        for g in this.globals.len()..this.module.globals.len() {
            let v = this.eval(&this.module.globals[g].init)?;
            this.globals.push(Rc::new(Cell::new(v)));
        }
        for t in &this.module.tables[this.tables.len()..] {
            let init = this.eval(&t.init)?;
            let max = t.maximum.unwrap_or(u32::MAX as u64).min(MAX_TABLE);
            if t.initial > max {
                return Err(Error::Instantiate("table larger than this kernel allows"));
            }
            let mut elems = Vec::new();
            elems
                .try_reserve_exact(t.initial as usize)
                .map_err(|_| Error::Instantiate("no room for the table"))?;
            elems.resize(t.initial as usize, init);
            this.tables.push(Rc::new(RefCell::new(elems)));
            this.table_max.push(max);
        }
        for e in &this.module.elems {
            let mut items = Vec::with_capacity(e.items.len());
            for x in &e.items {
                items.push(this.eval(x)?);
            }
            this.elems.push(RefCell::new(items));
        }
        Ok(inst)
    }

    /// The second half of instantiation: the active segments, written
    /// into tables and memory (which may be another instance's), then the
    /// start function. An instance that fails here may already be
    /// referenced from elsewhere, so a linker keeps it. A segment that
    /// does not fit traps, as the specification's `table.init` and
    /// `memory.init` would (the segments before it stay written).
    pub(crate) fn initialize(&self) -> Result<(), Error> {
        self.write_segments()?;
        if let Some(start) = self.module.start {
            self.call_index(start, &[])?;
        }
        Ok(())
    }

    /// The store this instance's continuations live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The module this instance was made from.
    pub fn module(&self) -> &Module {
        &self.module
    }

    /// How much native stack a call from [`Instance::invoke`] may use on
    /// the caller's stack before it traps with "call stack exhausted".
    /// Never more than that stack really has, whatever `bytes` says: the
    /// floor is at least the stack's bottom plus [`STACK_RESERVE`] (see
    /// `interp::stack_floor`), so any budget, `usize::MAX` too, is safe.
    pub fn set_stack_budget(&self, bytes: usize) {
        self.stack_budget.set(bytes);
    }

    /// Sends the lines the `spectest` print functions make to `f` instead
    /// of the serial console.
    pub fn set_print(&self, f: impl Fn(&str) + 'static) {
        *self.print.borrow_mut() = Some(Rc::new(f));
    }

    /// One line of a `spectest` print function.
    pub(crate) fn print(&self, line: &str) {
        let hook = self.print.borrow().clone();
        match hook {
            Some(f) => f(line),
            None => crate::println!("{line}"),
        }
    }

    /// The instance and function an import from another instance names.
    #[inline]
    pub(crate) fn link(&self, f: u32) -> Option<(&Instance, u32)> {
        self.links.get(f as usize).copied().flatten().map(|(i, g)| {
            // SAFETY: linked instances belong to the same `Linker`, which
            // keeps every instance alive as long as any of them.
            (unsafe { &*i }, g)
        })
    }

    /// The instance of this one's linker whose id is `id` (itself too).
    pub(crate) fn resolve(&self, id: u64) -> Option<&Instance> {
        if id == self.id {
            return Some(self);
        }
        let p = self.directory.as_ref()?.find(id)?;
        // SAFETY: the directory lists the live instances of this one's
        // linker, which outlive it.
        Some(unsafe { &*p })
    }

    /// What this instance exports as `name`.
    pub(crate) fn export(&self, name: &str) -> Option<Extern> {
        let &(_, kind, index) = self.module.exports.iter().find(|e| e.0 == name)?;
        let i = index as usize;
        Some(match kind {
            ExternalKind::Func | ExternalKind::FuncExact => match self.link(index) {
                Some((other, g)) => Extern::Func(other, g),
                None => Extern::Func(self, index),
            },
            ExternalKind::Global => {
                let g = &self.module.globals[i];
                Extern::Global(self.globals[i].clone(), g.ty, g.mutable)
            }
            ExternalKind::Table => Extern::Table(self.tables[i].clone(), self.table_max[i]),
            ExternalKind::Memory => Extern::Memory(self.memories[i].clone(), self.memory_max[i]),
            ExternalKind::Tag => Extern::Tag(self.tags[i]),
        })
    }

    /// The value of the global exported as `name`.
    pub fn get_global(&self, name: &str) -> Result<Val, Error> {
        match self.export(name) {
            Some(Extern::Global(g, ty, _)) => Ok(from_slot(g.get(), ty)),
            _ => Err(Error::NoSuchExport),
        }
    }

    /// Calls the exported function `name` with `args`.
    pub fn invoke(&self, name: &str, args: &[Val]) -> Result<Vec<Val>, Error> {
        let f = self.module.exported_func(name).ok_or(Error::NoSuchExport)?;
        match self.link(f) {
            Some((other, g)) => other.call_index(g, args),
            None => self.call_index(f, args),
        }
    }

    fn call_index(&self, f: u32, args: &[Val]) -> Result<Vec<Val>, Error> {
        let sig = self.module.funcs[f as usize].sig;
        if args.len() != sig.params.len() {
            return Err(Error::ArgumentMismatch);
        }
        let mut th = Thread::new(self.stack_budget.get());
        for (a, t) in args.iter().zip(sig.params) {
            th.stack
                .push(to_slot(*a, *t).ok_or(Error::ArgumentMismatch)?);
        }
        let ran = match self.tick_budget.get() {
            Some(ticks) => epoch::with_deadline(ticks, || interp::call(self, &mut th, f, 0)),
            None => interp::call(self, &mut th, f, 0),
        };
        match ran {
            Ok(()) => Ok(sig
                .results
                .iter()
                .zip(&th.stack)
                .map(|(t, v)| from_slot(*v, *t))
                .collect()),
            Err(Unwind::Trap(t)) => Err(Error::Trap(*t)),
            Err(Unwind::Exn(e)) => Err(Error::Exception {
                tag: self.tag_index(e.tag).unwrap_or(u32::MAX),
                payload: e.payload,
            }),
        }
    }

    /// The module's index of the runtime tag `tag`.
    pub(crate) fn tag_index(&self, tag: Tag) -> Option<u32> {
        self.tags.iter().position(|t| *t == tag).map(|i| i as u32)
    }

    /// The runtime tag of id `id` among this instance's tags, or those of
    /// the other instances of its linker.
    fn tag_by_id(&self, id: u32) -> Option<Tag> {
        if let Some(&t) = self.tags.iter().find(|t| t.id() == id) {
            return Some(t);
        }
        let d = self.directory.as_ref()?;
        let all = d.instances.borrow();
        all.iter().find_map(|&(_, p)| {
            // SAFETY: the directory lists live instances (see `resolve`).
            let other = unsafe { &*p };
            other.tags.iter().find(|t| t.id() == id).copied()
        })
    }

    /// What a runtime trap becomes in Wasm: an exception again if it is
    /// one of this instance's tags, else a trap.
    #[cold]
    #[inline(never)]
    pub(crate) fn unwind_of(&self, trap: Trap) -> Unwind {
        if let TrapKind::Exception { tag } = trap.kind()
            && let Some(t) = self.tag_by_id(tag)
        {
            let mut payload = [ValRaw::ZERO; crate::cont::MAX_VALUES];
            if let Some(n) = self.store.exception_payload_raw(&trap, t, &mut payload) {
                return Unwind::exn(Exn {
                    tag: t,
                    payload: payload[..n].to_vec(),
                });
            }
        }
        Unwind::trap(trap)
    }
}

/// The array call of every Wasm function that a continuation runs: a new
/// interpreter thread (value stack) on the continuation's own stack, the
/// params from the args buffer, the function, the results back. A trap
/// or an uncaught exception is recorded in the store and reported with
/// `false` (the exception's payload travels in the store).
///
/// # Safety
/// `callee_vmctx` is an `Entry` of a live instance, `caller_vmctx` that
/// instance's store, and `values` holds `len` slots, at least the
/// function's params and results.
unsafe extern "C" fn interpreter_array_call(
    callee_vmctx: *mut VMContext,
    caller_vmctx: *mut VMContext,
    values: *mut ValRaw,
    len: usize,
) -> bool {
    // SAFETY: per the contract.
    let (inst, index, store, slots) = unsafe {
        let e = &*(callee_vmctx as *const Entry);
        (
            &*e.instance,
            e.index,
            &*(caller_vmctx as *const Store),
            if len == 0 {
                &mut [][..]
            } else {
                core::slice::from_raw_parts_mut(values, len)
            },
        )
    };
    let sig = inst.module.funcs[index as usize].sig;
    // A budget spent is taken at the interpreter's safe points.
    epoch::polls_at_safe_points(store);
    // The args buffer is on the same stack, above this frame.
    let budget = store
        .stack_size()
        .saturating_sub(STACK_RESERVE + len * core::mem::size_of::<ValRaw>());
    let mut th = Thread::new(budget);
    th.stack.extend_from_slice(&slots[..sig.params.len()]);
    match interp::call(inst, &mut th, index, 0) {
        Ok(()) => {
            let n = sig.results.len();
            slots[..n].copy_from_slice(&th.stack[..n]);
            true
        }
        Err(Unwind::Trap(t)) => {
            store.record_guest_trap(*t);
            false
        }
        Err(Unwind::Exn(e)) => {
            // SAFETY: the payload's slots hold values of the tag's params
            // (the interpreter filled them from validated code).
            unsafe { store.set_exception_raw(e.tag, &e.payload) };
            store.record_guest_trap(Trap::new(
                TrapKind::Exception { tag: e.tag.id() },
                "uncaught exception",
            ));
            false
        }
    }
}
