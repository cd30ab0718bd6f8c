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

/// `Store::set_memory_limit` at its edges: below one page it allows no
/// page (a module asking for one is refused when it is instantiated, a
/// grow of a memory of none is -1), a page and a byte allow one page, and
/// `usize::MAX` is the 32-bit index space, not more.
#[test]
fn a_memory_limit_below_one_page_allows_no_page_and_usize_max_allows_the_index_space() {
    use kernel::cont::{MmapStacks, Store};
    use kernel::wasm::Instance;
    use kernel::wasm::instance::page_limit;
    use kernel::wasm::memory::{MAX_PAGES, PAGE};
    use std::sync::Arc;
    let mut s = Store::new(MmapStacks::new(), super::STACK);
    s.as_mut().set_memory_limit(PAGE - 1);
    assert_eq!((s.memory_limit(), page_limit(&s)), (PAGE - 1, 0));
    s.as_mut().set_memory_limit(PAGE + 1);
    assert_eq!(page_limit(&s), 1);
    s.as_mut().set_memory_limit(usize::MAX);
    assert_eq!(page_limit(&s), MAX_PAGES);
    s.as_mut().set_memory_limit(0);
    let one = Module::new(&wat::parse_str("(module (memory 1))").unwrap()).unwrap();
    match Instance::new(Arc::new(one), s).err() {
        Some(Error::Instantiate(why)) => assert_eq!(why, "memory larger than this kernel allows"),
        other => panic!("expected a refused instantiation, got {other:?}"),
    }
    let mut s = Store::new(MmapStacks::new(), super::STACK);
    s.as_mut().set_memory_limit(0);
    let none = Module::new(
        &wat::parse_str(
            r#"(module (memory 0)
                 (func (export "grow") (result i32) (memory.grow (i32.const 1)))
                 (func (export "size") (result i32) (memory.size)))"#,
        )
        .unwrap(),
    )
    .unwrap();
    let inst = Instance::new(Arc::new(none), s).unwrap();
    assert_eq!(call(&inst, "grow", &[]), [Val::I32(-1)]);
    assert_eq!(call(&inst, "size", &[]), [Val::I32(0)]);
}

/// `Instance::set_tick_budget` at its edges, on the host, where no tick
/// comes: with a budget of 0 (counted as 1 tick), `u32::MAX` or none, a
/// call runs to its exact result; the budget is armed while the call runs
/// (a print from inside it sees it) and never after.
#[test]
fn tick_budgets_of_zero_and_u32_max_without_a_timer_never_time_a_call_out_nor_stay_armed() {
    use kernel::cont::preempt;
    use std::cell::Cell;
    use std::rc::Rc;
    let inst = instance(
        r#"(module
             (import "spectest" "print_i32" (func $print (param i32)))
             (func (export "sum") (param i32) (result i32) (local i32)
               (block (loop
                 (br_if 1 (i32.eqz (local.get 0)))
                 (local.set 1 (i32.add (local.get 1) (local.get 0)))
                 (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                 (br 0)))
               (call $print (local.get 1))
               (local.get 1)))"#,
    );
    let seen: Rc<Cell<Option<bool>>> = Rc::default();
    let inside = seen.clone();
    inst.set_print(move |_| inside.set(Some(preempt::armed())));
    for (budget, armed_inside) in [(Some(0), true), (Some(u32::MAX), true), (None, false)] {
        seen.set(None);
        inst.set_tick_budget(budget);
        assert_eq!(call(&inst, "sum", &[Val::I32(1000)]), [Val::I32(500_500)]);
        assert_eq!(seen.get(), Some(armed_inside), "budget {budget:?}");
        assert!(!preempt::armed());
    }
}

/// `Instance::exported_func`: `None` for a name not exported and for one
/// that names a global; the function it gives runs as a continuation in
/// the instance's own store, and another store refuses it as foreign.
#[test]
fn exported_func_is_none_for_a_global_or_a_missing_name_and_foreign_to_another_store() {
    use kernel::cont::dynamic::Resumed;
    use kernel::cont::{MmapStacks, Store};
    let inst = instance(
        r#"(module
             (global (export "g") i32 (i32.const 1))
             (func (export "seven") (result i32) (i32.const 7)))"#,
    );
    assert!(inst.exported_func("g").is_none());
    assert!(inst.exported_func("nope").is_none());
    let f = inst.exported_func("seven").unwrap();
    let other = Store::new(MmapStacks::new(), super::STACK);
    assert_eq!(
        other.cont_new(f).err().map(|t| t.kind()),
        Some(TrapKind::ForeignFunc)
    );
    let k = inst.store().cont_new(f).unwrap();
    assert_eq!(
        inst.store().resume::<(), i32>(k, (), &[]),
        Ok(Resumed::Returned(7))
    );
}

/// One instance whose exports hand out a function and a continuation of
/// 16 results each, typed `(ref null $big)` and `(ref null $cbig)`, and
/// take a function of one param and one result and a continuation of
/// none, whose types the host's `Val::Ref` does not carry.
const SIXTEEN: &str = r#"(module
  (type $un (func (param i32) (result i32)))
  (type $big (func (result i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64 i64)))
  (type $cbig (cont $big))
  (type $f (func)) (type $c (cont $f))
  (func $sixteen (type $big)
    (i64.const 1) (i64.const 2) (i64.const 3) (i64.const 4) (i64.const 5) (i64.const 6)
    (i64.const 7) (i64.const 8) (i64.const 9) (i64.const 10) (i64.const 11) (i64.const 12)
    (i64.const 13) (i64.const 14) (i64.const 15) (i64.const 16))
  (elem declare func $sixteen)
  (func (export "big") (result (ref null $big)) (ref.func $sixteen))
  (func (export "cont_big") (result (ref null $cbig)) (cont.new $cbig (ref.func $sixteen)))
  (func (export "call") (param (ref null $un)) (result i32)
    (call_ref $un (i32.const 5) (local.get 0)))
  (func (export "tail") (param (ref null $un)) (result i32)
    (return_call_ref $un (i32.const 5) (local.get 0)))
  (func (export "resume") (param (ref null $c))
    (resume $c (local.get 0)) (resume $c (local.get 0))))"#;

#[test]
fn a_function_reference_of_another_type_traps_when_called_by_reference() {
    let i = instance(SIXTEEN);
    let f = one_ref(&call(&i, "big", &[]));
    assert_eq!(
        super::trap(&i, "call", &[f]),
        "function reference of another type"
    );
}

#[test]
fn a_function_reference_of_another_type_traps_when_tail_called_by_reference() {
    let i = instance(SIXTEEN);
    let f = one_ref(&call(&i, "big", &[]));
    assert_eq!(
        super::trap(&i, "tail", &[f]),
        "function reference of another type"
    );
}

#[test]
fn a_continuation_returning_other_results_than_its_resume_expects_traps() {
    let i = instance(SIXTEEN);
    let k = one_ref(&call(&i, "cont_big", &[]));
    assert_eq!(
        super::trap(&i, "resume", &[k]),
        "continuation returned results of another type"
    );
}
