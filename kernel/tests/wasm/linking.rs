//! Tests of the linker, in safe Rust only: instances that share a store
//! and import from each other, and what it refuses. Each names one
//! behaviour; the hostile ones must end in a clear error or trap.
#![forbid(unsafe_code)]

use super::{Counting, STACK};
use core::cell::Cell;
use kernel::cont::{MmapStacks, Store};
use kernel::wasm::{Error, Linker, Module, Val};
use std::rc::Rc;
use std::sync::Arc;

fn module(wat: &str) -> Arc<Module> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    Arc::new(Module::new(&bytes).expect("the test's module validates"))
}

fn linker() -> Linker {
    Linker::new(Store::new(MmapStacks::new(), STACK))
}

/// Exports a generator function that suspends with its own tag.
const MAKER: &str = r#"(module
  (type $f (func (param i32)))
  (type $k (cont $f))
  (tag $yield (export "yield") (param i32))
  (func $gen (export "gen") (param $n i32)
    (loop $l
      (suspend $yield (local.get $n))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $l)))
  (global $kept (export "kept") (mut (ref null $k)) (ref.null $k))
  (elem declare func $gen)
  (func (export "make") (param i32)
    (global.set $kept (cont.new $k (ref.func $gen)))))"#;

/// Resumes what the maker made, handling the maker's tag.
const DRIVER: &str = r#"(module
  (type $f (func (param i32)))
  (type $k (cont $f))
  (type $u (func))
  (type $ku (cont $u))
  (import "maker" "yield" (tag $yield (param i32)))
  (import "maker" "gen" (func $gen (param i32)))
  (import "maker" "kept" (global $kept (mut (ref null $k))))
  (elem declare func $gen)
  (func (export "first") (param $start i32) (result i32)
    (block $h (result i32 (ref $ku))
      (resume $k (on $yield $h) (local.get $start) (cont.new $k (ref.func $gen)))
      (unreachable))
    (drop))
  (func (export "park") (param $start i32)
    (block $h (result i32 (ref $ku))
      (resume $k (on $yield $h) (local.get $start) (global.get $kept))
      (unreachable))
    (drop)
    (drop)))"#;

#[test]
fn a_function_of_one_instance_runs_in_a_continuation_another_resumes() {
    let mut l = linker();
    let maker = l
        .instantiate(module(MAKER))
        .expect("the maker instantiates");
    l.register("maker", maker).expect("registered");
    let driver = l.instantiate(module(DRIVER)).expect("the driver links");
    let d = l.instance(driver).expect("the driver is there");
    assert_eq!(
        d.invoke("first", &[Val::I32(41)]).ok(),
        Some([Val::I32(41)].into())
    );
}

#[test]
fn an_import_nobody_registered_is_unlinkable() {
    let mut l = linker();
    match l.instantiate(module(DRIVER)) {
        Err(Error::Unlinkable(why)) => assert_eq!(why, "unknown import maker.yield"),
        other => panic!("expected Unlinkable, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn an_import_of_another_type_is_unlinkable_and_its_module_never_starts() {
    let mut l = linker();
    let maker = l
        .instantiate(module(MAKER))
        .expect("the maker instantiates");
    l.register("maker", maker).expect("registered");
    let wrong = r#"(module
      (import "maker" "gen" (func $gen (param i64)))
      (import "maker" "kept" (global $g (mut funcref)))
      (func $start unreachable)
      (start $start))"#;
    match l.instantiate(module(wrong)) {
        Err(Error::Unlinkable(why)) => {
            assert_eq!(
                why,
                "incompatible import type maker.gen: a function of another type"
            )
        }
        other => panic!("expected Unlinkable, got {:?}", other.map(|_| ())),
    }
    let global_as_func = r#"(module (import "maker" "kept" (func)))"#;
    match l.instantiate(module(global_as_func)) {
        Err(Error::Unlinkable(why)) => {
            assert_eq!(
                why,
                "incompatible import type maker.kept: an export of another kind"
            )
        }
        other => panic!("expected Unlinkable, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn registering_an_instance_the_linker_does_not_have_is_refused() {
    let mut l = linker();
    assert!(matches!(l.register("nobody", 0), Err(Error::NoSuchExport)));
    assert!(l.instance(0).is_none());
}

#[test]
fn a_function_reference_from_another_linker_traps_as_foreign() {
    let giver = r#"(module
      (type $un (func (param i32) (result i32)))
      (func $id (type $un) (local.get 0))
      (elem declare func $id)
      (func (export "func") (result (ref null $un)) (ref.func $id)))"#;
    let taker = r#"(module
      (type $un (func (param i32) (result i32)))
      (func (export "call") (param (ref null $un)) (result i32)
        (call_ref $un (i32.const 5) (local.get 0))))"#;
    let (mut a, mut b) = (linker(), linker());
    let g = a.instantiate(module(giver)).expect("instantiates");
    let t = b.instantiate(module(taker)).expect("instantiates");
    let f = a
        .instance(g)
        .expect("there")
        .invoke("func", &[])
        .expect("returns");
    match b.instance(t).expect("there").invoke("call", &f) {
        Err(e @ Error::Trap(_)) => {
            assert_eq!(
                e.trap_reason(),
                Some("reference of another instance or kind")
            )
        }
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn dropping_a_linker_cancels_a_continuation_suspended_across_two_instances() {
    let live = Rc::new(Cell::new(0));
    let mut l = Linker::new(Store::new(Counting(MmapStacks::new(), live.clone()), STACK));
    let maker = l
        .instantiate(module(MAKER))
        .expect("the maker instantiates");
    l.register("maker", maker).expect("registered");
    let driver = l.instantiate(module(DRIVER)).expect("the driver links");
    l.instance(maker)
        .expect("there")
        .invoke("make", &[Val::I32(0)])
        .expect("made");
    l.instance(driver)
        .expect("there")
        .invoke("park", &[Val::I32(3)])
        .expect("parked");
    assert_eq!(live.get(), 1, "the parked continuation holds a stack");
    drop(l);
    assert_eq!(
        live.get(),
        0,
        "every stack went back when the linker dropped"
    );
}

#[test]
fn a_module_whose_start_traps_stays_callable_through_the_table_it_wrote() {
    let mut l = linker();
    let owner = r#"(module
      (type $r (func (result i32)))
      (table $t (export "t") 1 funcref)
      (func (export "call0") (result i32) (call_indirect (type $r) (i32.const 0))))"#;
    let o = l.instantiate(module(owner)).expect("instantiates");
    l.register("owner", o).expect("registered");
    let failing = r#"(module
      (type $r (func (result i32)))
      (import "owner" "t" (table 1 funcref))
      (func $seven (type $r) (i32.const 7))
      (elem (i32.const 0) $seven)
      (func $start unreachable)
      (start $start))"#;
    match l.instantiate(module(failing)) {
        Err(e @ Error::Trap(_)) => assert_eq!(e.trap_reason(), Some("unreachable")),
        other => panic!(
            "expected the start function's trap, got {:?}",
            other.map(|_| ())
        ),
    }
    let owner = l.instance(o).expect("there");
    assert_eq!(owner.invoke("call0", &[]).ok(), Some([Val::I32(7)].into()));
}

/// Whether `importer` links against `exporter` registered as "m".
fn links(exporter: &str, importer: &str) -> Result<(), String> {
    let mut l = linker();
    let e = l
        .instantiate(module(exporter))
        .expect("the exporter instantiates");
    l.register("m", e).expect("registered");
    match l.instantiate(module(importer)) {
        Ok(_) => Ok(()),
        Err(Error::Unlinkable(why)) => Err(why),
        Err(other) => panic!("expected a link or Unlinkable, got {other:?}"),
    }
}

#[test]
fn a_global_import_of_a_reference_type_links_only_to_a_subtype() {
    let exporter = r#"(module (type $t (func)) (func $f (type $t)) (elem declare func $f)
        (global (export "ext") externref (ref.null extern))
        (global (export "fun") (ref $t) (ref.func $f))
        (global (export "var") (mut funcref) (ref.null func)))"#;
    let import = |name: &str, ty: &str| {
        format!(r#"(module (type $t (func)) (global (import "m" "{name}") {ty}))"#)
    };
    assert_eq!(links(exporter, &import("fun", "(ref null func)")), Ok(()));
    assert_eq!(links(exporter, &import("fun", "(ref $t)")), Ok(()));
    let refused = "incompatible import type m.ext: a global of another type or mutability";
    assert_eq!(
        links(exporter, &import("ext", "funcref")),
        Err(refused.into())
    );
    assert!(links(exporter, &import("ext", "(ref null $t)")).is_err());
    // A mutable global's type must be the same, not a subtype.
    assert!(links(exporter, &import("var", "(mut (ref null $t))")).is_err());
    assert!(links(exporter, &import("var", "(mut (ref null func))")).is_ok());
}

#[test]
fn a_function_import_links_to_the_same_type_of_another_module_and_not_to_another() {
    let exporter = r#"(module (type $t (func (param (ref null func)) (result i32)))
        (func (export "f") (type $t) (i32.const 1)))"#;
    let same = r#"(module (type $u (func (param funcref) (result i32)))
        (import "m" "f" (func (type $u))))"#;
    let other = r#"(module (type $u (func (param externref) (result i32)))
        (import "m" "f" (func (type $u))))"#;
    assert_eq!(links(exporter, same), Ok(()));
    assert_eq!(
        links(exporter, other),
        Err("incompatible import type m.f: a function of another type".into())
    );
}

#[test]
fn a_table_import_needs_the_same_element_type() {
    let exporter = r#"(module (table (export "t") 1 externref))"#;
    assert_eq!(
        links(exporter, r#"(module (table (import "m" "t") 1 externref))"#),
        Ok(())
    );
    assert_eq!(
        links(exporter, r#"(module (table (import "m" "t") 1 funcref))"#),
        Err("incompatible import type m.t: a table of another element type".into())
    );
}

#[test]
fn the_spectest_table_and_memory_are_shared_by_the_modules_of_a_linker() {
    let mut l = linker();
    let writer = module(
        r#"(module (import "spectest" "memory" (memory 1 2))
            (import "spectest" "table" (table 10 20 funcref))
            (func (export "put") (i32.store (i32.const 8) (i32.const 42))))"#,
    );
    let reader = module(
        r#"(module (import "spectest" "memory" (memory 1))
            (import "spectest" "table" (table 1 funcref))
            (func (export "get") (result i32 i32) (i32.load (i32.const 8)) (table.size)))"#,
    );
    let w = l.instantiate(writer).expect("the spectest imports link");
    let r = l.instantiate(reader).expect("the spectest imports link");
    l.instance(w).unwrap().invoke("put", &[]).expect("put");
    let got = l.instance(r).unwrap().invoke("get", &[]).expect("get");
    assert_eq!(got, vec![Val::I32(42), Val::I32(10)]);
}

#[test]
fn an_unknown_spectest_import_is_unlinkable() {
    let mut l = linker();
    for wat in [
        r#"(module (import "spectest" "unknown" (func)))"#,
        r#"(module (import "spectest" "print_i32" (global i32)))"#,
        r#"(module (import "spectest" "global_i32" (global (mut i32))))"#,
        r#"(module (import "spectest" "memory" (memory 3)))"#,
        r#"(module (import "spectest" "table" (table 10 externref)))"#,
    ] {
        match l.instantiate(module(wat)) {
            Err(Error::Unlinkable(_)) => {}
            other => panic!("{wat}: expected Unlinkable, got {:?}", other.map(|_| ())),
        }
    }
}

/// A print hook's closure is given back when its linker drops: the store
/// drops first (its continuations are cancelled while the instances
/// live), so the hooks go to the store before it, not from each
/// instance's drop after it, which found the store already freed.
#[test]
fn a_linkers_instance_with_a_print_hook_gives_the_hook_back_when_the_linker_drops() {
    let guard = Rc::new(());
    let mut l = linker();
    let i = l
        .instantiate(module("(module)"))
        .expect("an empty module instantiates");
    let held = guard.clone();
    l.instance(i)
        .expect("the instance just made")
        .set_print(move |_| {
            let _ = &held;
        });
    assert_eq!(Rc::strong_count(&guard), 2);
    drop(l);
    assert_eq!(Rc::strong_count(&guard), 1, "the hook was dropped");
}
