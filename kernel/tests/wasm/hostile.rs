//! Hostile tests of the interpreter's API, written in safe Rust only:
//! references carried from one instance to another, values of the wrong
//! kind, malformed modules. Each must end in a clear error or trap.
#![forbid(unsafe_code)]

use super::{call, instance};
use kernel::cont::TrapKind;
use kernel::wasm::{Error, Module, Val};

const GIVER: &str = r#"(module
  (type $un (func (param i32) (result i32)))
  (type $f (func)) (type $c (cont $f))
  (func $id (type $un) (local.get 0))
  (func $nothing)
  (elem declare func $id $nothing)
  (func (export "func") (result (ref null $un)) (ref.func $id))
  (func (export "cont") (result (ref null $c)) (cont.new $c (ref.func $nothing))))"#;

const TAKER: &str = r#"(module
  (type $un (func (param i32) (result i32)))
  (type $f (func)) (type $c (cont $f))
  (func (export "call") (param (ref null $un)) (result i32)
    (call_ref $un (i32.const 5) (local.get 0)))
  (func (export "resume") (param (ref null $c)) (resume $c (local.get 0))))"#;

fn one_ref(vals: &[Val]) -> Val {
    match vals {
        [v @ Val::Ref(_)] => *v,
        other => panic!("expected one reference, got {other:?}"),
    }
}

#[test]
fn a_function_reference_of_another_instance_traps_when_called() {
    let giver = instance(GIVER);
    let taker = instance(TAKER);
    let f = one_ref(&call(&giver, "func", &[]));
    assert_eq!(
        call(&giver, "func", &[]),
        [f],
        "the same reference each time"
    );
    match taker.invoke("call", &[f]) {
        Err(Error::Trap(t)) => assert_eq!(t.message(), "reference of another instance or kind"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_continuation_of_another_instances_store_is_refused_as_foreign() {
    let giver = instance(GIVER);
    let taker = instance(TAKER);
    let k = one_ref(&call(&giver, "cont", &[]));
    match taker.invoke("resume", &[k]) {
        Err(Error::Trap(t)) => assert_eq!(t.kind(), TrapKind::ForeignContinuation),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_reference_of_one_kind_is_refused_where_another_is_expected() {
    let giver = instance(GIVER);
    let taker = instance(TAKER);
    let f = one_ref(&call(&giver, "func", &[]));
    let k = one_ref(&call(&giver, "cont", &[]));
    assert!(matches!(
        taker.invoke("resume", &[f]),
        Err(Error::ArgumentMismatch)
    ));
    assert!(matches!(
        taker.invoke("call", &[k]),
        Err(Error::ArgumentMismatch)
    ));
}

#[test]
fn wrong_argument_counts_and_types_and_unknown_exports_are_errors() {
    let taker = instance(TAKER);
    assert!(matches!(
        taker.invoke("call", &[]),
        Err(Error::ArgumentMismatch)
    ));
    assert!(matches!(
        taker.invoke("call", &[Val::I32(1)]),
        Err(Error::ArgumentMismatch)
    ));
    assert!(matches!(
        taker.invoke("nope", &[]),
        Err(Error::NoSuchExport)
    ));
    match taker.invoke("call", &[Val::NullRef]) {
        Err(e) => assert_eq!(e.trap_reason(), Some("null function reference")),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn truncated_and_garbage_modules_are_refused() {
    let good = wat::parse_str(GIVER).expect("parses");
    // (8 bytes, the header alone, is the empty module: valid.)
    for cut in [0, 4, 7, 9, good.len() / 2, good.len() - 1] {
        assert!(
            Module::new(&good[..cut]).is_err(),
            "a module cut at {cut} bytes"
        );
    }
    let mut flipped = good.clone();
    for b in flipped.iter_mut().skip(8) {
        *b ^= 0x5a;
    }
    assert!(Module::new(&flipped).is_err());
}

#[test]
fn a_function_reference_passed_as_an_exception_reference_traps() {
    let giver = instance(GIVER);
    let thrower =
        instance(r#"(module (func (export "rethrow") (param exnref) (throw_ref (local.get 0))))"#);
    let f = one_ref(&call(&giver, "func", &[]));
    match thrower.invoke("rethrow", &[f]) {
        Err(Error::Trap(t)) => assert_eq!(t.message(), "reference of another instance or kind"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn a_host_extern_reference_passed_as_a_function_reference_traps_when_called() {
    let taker = instance(TAKER);
    match taker.invoke("call", &[Val::Extern(9)]) {
        Err(Error::Trap(t)) => assert_eq!(t.message(), "reference of another instance or kind"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// A print hook that replaces its own instance's hook while it runs (it
/// reaches the instance through a `Weak`): the new hook takes the next
/// line. (The hook once ran inside a borrow of the hook's cell, and
/// `set_print` panicked "already borrowed": on the kernel's stack, the
/// end of the boot; and a hook abandoned by an out-of-memory trap left
/// that borrow behind for good.)
#[test]
fn a_print_hook_that_sets_its_own_instances_hook_hands_the_next_line_to_the_new_one() {
    use std::cell::RefCell;
    use std::rc::Rc;
    let wat = r#"(module
  (import "spectest" "print_i32" (func $p (param i32)))
  (func (export "say") (param i32) (call $p (local.get 0))))"#;
    let inst = Rc::new(instance(wat));
    let lines = Rc::new(RefCell::new(Vec::new()));
    let (weak, l) = (Rc::downgrade(&inst), lines.clone());
    inst.set_print(move |line| {
        l.borrow_mut().push(format!("first hook: {line}"));
        if let Some(i) = weak.upgrade() {
            let l = l.clone();
            i.set_print(move |line| l.borrow_mut().push(format!("second hook: {line}")));
        }
    });
    inst.invoke("say", &[Val::I32(1)]).unwrap();
    inst.invoke("say", &[Val::I32(2)]).unwrap();
    assert_eq!(
        *lines.borrow(),
        ["first hook: 1 : i32", "second hook: 2 : i32"]
    );
}

/// `LinearMemory` is public, so a guest may make one and grow it by
/// anything: a grow whose new size overflows, or passes the maximum, is
/// `None` and changes nothing; a maximum past 4 GiB is refused at `new`.
#[test]
fn a_linear_memory_grown_by_absurd_amounts_refuses_and_keeps_its_bytes() {
    use kernel::wasm::memory::{LinearMemory, MAX_PAGES, MemoryError, PAGE};
    assert_eq!(
        LinearMemory::new(0, MAX_PAGES + 1).err(),
        Some(MemoryError::TooLarge)
    );
    let mut m = LinearMemory::new(1, 2).unwrap();
    m[PAGE - 1] = 7;
    assert_eq!(m.grow(u64::MAX), None);
    assert_eq!(m.grow(2), None);
    assert_eq!((m.pages(), m.len(), m[PAGE - 1]), (1, PAGE, 7));
    assert_eq!(m.grow(1), Some(1));
    assert_eq!(
        (m.pages(), m.len(), m[PAGE - 1], m[2 * PAGE - 1]),
        (2, 2 * PAGE, 7, 0)
    );
}
