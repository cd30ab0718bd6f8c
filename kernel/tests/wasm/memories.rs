//! Tests of several memories (multi-memory) and of 64-bit memories and
//! tables (memory64), in safe Rust only: exact values copied between
//! memories, sizes and grows as i64, and the hostile ones, addresses that
//! wrap when the offset or the width is added, which must trap and never
//! read or write.
#![forbid(unsafe_code)]

use super::{STACK, call, instance, trap};
use kernel::cont::{MmapStacks, Store};
use kernel::wasm::{Error, Instance, Linker, Module, Val};
use std::sync::Arc;

const OOB: &str = "out of bounds memory access";

fn module(wat: &str) -> Arc<Module> {
    let bytes = wat::parse_str(wat).expect("the test's WAT parses");
    Arc::new(Module::new(&bytes).expect("the test's module validates"))
}

/// Two memories: 0 of one page with "hello" at 8, 1 of two pages with
/// 0xAA at 70000.
const TWO: &str = r#"(module
  (memory $a 1)
  (memory $b 2 3)
  (data (memory $a) (i32.const 8) "hello")
  (data (memory $b) (i32.const 70000) "\aa")
  (func (export "copy") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy $b $a (local.get $dst) (local.get $src) (local.get $n)))
  (func (export "copy_back") (param $dst i32) (param $src i32) (param $n i32)
    (memory.copy $a $b (local.get $dst) (local.get $src) (local.get $n)))
  (func (export "load_a") (param i32) (result i32) (i32.load8_u $a (local.get 0)))
  (func (export "load_b") (param i32) (result i32) (i32.load8_u $b (local.get 0)))
  (func (export "word_b") (param i32) (result i64) (i64.load $b offset=1 (local.get 0)))
  (func (export "store_b") (param i32 i32) (i32.store8 $b (local.get 0) (local.get 1)))
  (func (export "fill_b") (param i32 i32 i32)
    (memory.fill $b (local.get 0) (local.get 1) (local.get 2)))
  (func (export "sizes") (result i32 i32) (memory.size $a) (memory.size $b))
  (func (export "grow_b") (param i32) (result i32) (memory.grow $b (local.get 0))))"#;

#[test]
fn memory_copy_between_two_memories_moves_the_bytes_and_leaves_the_source() {
    let inst = instance(TWO);
    call(&inst, "copy", &[Val::I32(65536), Val::I32(8), Val::I32(5)]);
    let b: Vec<Val> = (65536..65541)
        .flat_map(|i| call(&inst, "load_b", &[Val::I32(i)]))
        .collect();
    let hello = b"hello".map(|c| Val::I32(c as i32));
    assert_eq!(b, hello);
    // The source keeps its bytes; memory 1's own data segment is there.
    assert_eq!(call(&inst, "load_a", &[Val::I32(8)]), [Val::I32(104)]);
    assert_eq!(call(&inst, "load_b", &[Val::I32(70000)]), [Val::I32(0xaa)]);
    // Eight bytes from 65537 of memory 1: "ello", then zeros.
    assert_eq!(
        call(&inst, "word_b", &[Val::I32(65536)]),
        [Val::I64(i64::from_le_bytes(*b"ello\0\0\0\0"))]
    );
}

#[test]
fn each_memory_has_its_own_size_and_bounds() {
    let inst = instance(TWO);
    assert_eq!(call(&inst, "sizes", &[]), [Val::I32(1), Val::I32(2)]);
    // Address 70000 is inside memory 1 (two pages) but not memory 0.
    assert_eq!(trap(&inst, "load_a", &[Val::I32(70000)]), OOB);
    // A copy from memory 1 that fits there but not in memory 0 traps and
    // writes nothing.
    let r = trap(
        &inst,
        "copy_back",
        &[Val::I32(65535), Val::I32(70000), Val::I32(2)],
    );
    assert_eq!(r, OOB);
    assert_eq!(call(&inst, "load_a", &[Val::I32(65535)]), [Val::I32(0)]);
    assert_eq!(call(&inst, "grow_b", &[Val::I32(1)]), [Val::I32(2)]);
    assert_eq!(call(&inst, "grow_b", &[Val::I32(1)]), [Val::I32(-1)]);
    assert_eq!(call(&inst, "sizes", &[]), [Val::I32(1), Val::I32(3)]);
    call(
        &inst,
        "fill_b",
        &[Val::I32(196607), Val::I32(7), Val::I32(1)],
    );
    assert_eq!(call(&inst, "load_b", &[Val::I32(196607)]), [Val::I32(7)]);
    assert_eq!(
        trap(
            &inst,
            "fill_b",
            &[Val::I32(196607), Val::I32(7), Val::I32(2)]
        ),
        OOB
    );
}

/// A 64-bit memory of one page (at most 4): the address and every size
/// are i64.
const WIDE: &str = r#"(module
  (memory i64 1 4)
  (data (i64.const 65528) "\01\02\03\04\05\06\07\08")
  (func (export "load") (param i64) (result i64) (i64.load (local.get 0)))
  (func (export "load_off") (param i64) (result i32)
    (i32.load8_u offset=0x10000 (local.get 0)))
  (func (export "load_max_off") (param i64) (result i32)
    (i32.load8_u offset=0xffffffffffffffff (local.get 0)))
  (func (export "store") (param i64 i64) (i64.store (local.get 0) (local.get 1)))
  (func (export "store_off") (param i64) (i32.store8 offset=2 (local.get 0) (i32.const 9)))
  (func (export "size") (result i64) (memory.size))
  (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0)))
  (func (export "fill") (param i64 i64) (memory.fill (local.get 0) (i32.const 5) (local.get 1)))
  (func (export "copy") (param i64 i64 i64)
    (memory.copy (local.get 0) (local.get 1) (local.get 2))))"#;

#[test]
fn a_64_bit_memory_loads_with_an_i64_address_and_refuses_one_above_4_gib() {
    let inst = instance(WIDE);
    assert_eq!(
        call(&inst, "load", &[Val::I64(65528)]),
        [Val::I64(0x0807_0605_0403_0201)]
    );
    // 4 GiB + 65528 would be the same bytes if the address were cut to
    // 32 bits: it is out of bounds.
    assert_eq!(trap(&inst, "load", &[Val::I64(0x1_0000_fff8)]), OOB);
    assert_eq!(trap(&inst, "load", &[Val::I64(0x1_0000_0000)]), OOB);
    // An offset of 64 KiB from address 0 is one past the page.
    assert_eq!(trap(&inst, "load_off", &[Val::I64(0)]), OOB);
}

#[test]
fn a_64_bit_memory_grows_and_reports_its_sizes_as_i64() {
    let inst = instance(WIDE);
    assert_eq!(call(&inst, "size", &[]), [Val::I64(1)]);
    assert_eq!(call(&inst, "grow", &[Val::I64(2)]), [Val::I64(1)]);
    assert_eq!(call(&inst, "size", &[]), [Val::I64(3)]);
    // Past the maximum, and by a delta that no 32-bit grow could name:
    // -1, and nothing changes.
    assert_eq!(call(&inst, "grow", &[Val::I64(2)]), [Val::I64(-1)]);
    assert_eq!(
        call(&inst, "grow", &[Val::I64(0x1_0000_0001)]),
        [Val::I64(-1)]
    );
    assert_eq!(call(&inst, "grow", &[Val::I64(-1)]), [Val::I64(-1)]);
    assert_eq!(call(&inst, "size", &[]), [Val::I64(3)]);
    // The grown pages are zeroed and addressable.
    call(&inst, "store", &[Val::I64(3 * 65536 - 8), Val::I64(-2)]);
    assert_eq!(
        call(&inst, "load", &[Val::I64(3 * 65536 - 8)]),
        [Val::I64(-2)]
    );
}

#[test]
fn a_64_bit_memory_without_a_maximum_still_stops_at_the_stores_memory_limit() {
    let bytes = wat::parse_str(
        r#"(module (memory i64 1)
        (func (export "grow") (param i64) (result i64) (memory.grow (local.get 0))))"#,
    )
    .expect("the test's WAT parses");
    let mut store = Store::new(MmapStacks::new(), STACK);
    store.as_mut().set_memory_limit(4 * 65536);
    let module = Arc::new(Module::new(&bytes).expect("validates"));
    let inst = Instance::new(module, store).expect("instantiates");
    assert_eq!(call(&inst, "grow", &[Val::I64(3)]), [Val::I64(1)]);
    assert_eq!(call(&inst, "grow", &[Val::I64(1)]), [Val::I64(-1)]);
    // 2^48 pages: the whole 64-bit index space, refused.
    assert_eq!(call(&inst, "grow", &[Val::I64(1 << 48)]), [Val::I64(-1)]);
}

#[test]
fn an_i64_address_that_wraps_when_the_offset_is_added_traps_and_never_reads() {
    let inst = instance(WIDE);
    // u64::MAX + 0x10000 wraps to 0xffff: a load there would read a
    // zero of page 0. It must trap.
    assert_eq!(trap(&inst, "load_off", &[Val::I64(-1)]), OOB);
    // The largest offset plus address 1 wraps to 0.
    assert_eq!(trap(&inst, "load_max_off", &[Val::I64(1)]), OOB);
    assert_eq!(trap(&inst, "load_max_off", &[Val::I64(0)]), OOB);
    // An i64.load 8 bytes wide at u64::MAX - 3: address plus width wraps.
    assert_eq!(trap(&inst, "load", &[Val::I64(-4)]), OOB);
    // A store at u64::MAX - 1 plus offset 2 would write byte 0.
    assert_eq!(trap(&inst, "store_off", &[Val::I64(-2)]), OOB);
    assert_eq!(call(&inst, "load", &[Val::I64(0)]), [Val::I64(0)]);
}

#[test]
fn bulk_instructions_on_a_64_bit_memory_refuse_ranges_that_wrap() {
    let inst = instance(WIDE);
    // Start u64::MAX, length 2: the end wraps to 1.
    assert_eq!(trap(&inst, "fill", &[Val::I64(-1), Val::I64(2)]), OOB);
    // Length u64::MAX from 1.
    assert_eq!(trap(&inst, "fill", &[Val::I64(1), Val::I64(-1)]), OOB);
    let r = trap(&inst, "copy", &[Val::I64(0), Val::I64(-8), Val::I64(16)]);
    assert_eq!(r, OOB);
    assert_eq!(call(&inst, "load", &[Val::I64(0)]), [Val::I64(0)]);
    // In bounds, they work: 8 bytes from 65528 copied to 0, then filled.
    call(&inst, "copy", &[Val::I64(0), Val::I64(65528), Val::I64(8)]);
    assert_eq!(
        call(&inst, "load", &[Val::I64(0)]),
        [Val::I64(0x0807_0605_0403_0201)]
    );
    call(&inst, "fill", &[Val::I64(0), Val::I64(4)]);
    assert_eq!(
        call(&inst, "load", &[Val::I64(0)]),
        [Val::I64(0x0807_0605_0505_0505)]
    );
}

#[test]
fn a_module_importing_one_memory_twice_copies_within_it() {
    let mut l = Linker::new(Store::new(MmapStacks::new(), STACK));
    let m = l
        .instantiate(module(
            r#"(module (memory (export "m") 1) (data (i32.const 0) "\01\02\03\04"))"#,
        ))
        .expect("the exporter instantiates");
    l.register("exp", m).expect("registers");
    let i = l
        .instantiate(module(
            r#"(module
              (memory $x (import "exp" "m") 1)
              (memory $y (import "exp" "m") 1)
              (func (export "copy") (memory.copy $y $x (i32.const 2) (i32.const 0) (i32.const 4)))
              (func (export "read") (result i32) (i32.load $x (i32.const 2))))"#,
        ))
        .expect("the importer instantiates");
    let inst = l.instance(i).expect("it is there");
    call(inst, "copy", &[]);
    assert_eq!(call(inst, "read", &[]), [Val::I32(0x0403_0201)]);
}

#[test]
fn a_64_bit_memory_does_not_link_to_a_32_bit_import_nor_the_reverse() {
    let mut l = Linker::new(Store::new(MmapStacks::new(), STACK));
    let m = l
        .instantiate(module(
            r#"(module (memory (export "m32") 1) (memory (export "m64") i64 1))"#,
        ))
        .expect("the exporter instantiates");
    l.register("exp", m).expect("registers");
    for wat in [
        r#"(module (memory (import "exp" "m64") 1))"#,
        r#"(module (memory (import "exp" "m32") i64 1))"#,
    ] {
        match l.instantiate(module(wat)) {
            Err(Error::Unlinkable(why)) => assert!(why.contains("index type"), "{why}"),
            other => panic!("linked: {other:?}"),
        }
    }
    let ok = l.instantiate(module(
        r#"(module (memory (import "exp" "m64") i64 1)
          (func (export "size") (result i64) (memory.size)))"#,
    ));
    let inst = l.instance(ok.expect("links")).expect("it is there");
    assert_eq!(call(inst, "size", &[]), [Val::I64(1)]);
}

#[test]
fn a_64_bit_table_is_indexed_by_i64_and_an_index_above_4_gi_is_out_of_bounds() {
    let inst = instance(
        r#"(module
      (type $t (func (result i32)))
      (table $tab i64 2 funcref)
      (elem (table $tab) (i64.const 1) func $seven)
      (func $seven (result i32) (i32.const 7))
      (func (export "call") (param i64) (result i32)
        (call_indirect $tab (type $t) (local.get 0)))
      (func (export "is_null") (param i64) (result i32)
        (ref.is_null (table.get $tab (local.get 0))))
      (func (export "size") (result i64) (table.size $tab))
      (func (export "grow") (param i64) (result i64)
        (table.grow $tab (ref.null func) (local.get 0))))"#,
    );
    assert_eq!(call(&inst, "call", &[Val::I64(1)]), [Val::I32(7)]);
    assert_eq!(call(&inst, "is_null", &[Val::I64(0)]), [Val::I32(1)]);
    // 4 Gi + 1 would name element 1 if cut to 32 bits.
    assert_eq!(
        trap(&inst, "call", &[Val::I64(0x1_0000_0001)]),
        "undefined element"
    );
    assert_eq!(
        trap(&inst, "is_null", &[Val::I64(0x1_0000_0000)]),
        "out of bounds table access"
    );
    assert_eq!(call(&inst, "grow", &[Val::I64(3)]), [Val::I64(2)]);
    assert_eq!(call(&inst, "grow", &[Val::I64(-1)]), [Val::I64(-1)]);
    assert_eq!(call(&inst, "size", &[]), [Val::I64(5)]);
}
