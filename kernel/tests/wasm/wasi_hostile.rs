//! Hostile WASI calls, from the guest's side and safe Rust only: pointers
//! outside linear memory, lengths that wrap, iovec arrays that run off the
//! end, descriptors out of range. Each is an errno (EFAULT, EBADF,
//! EINVAL), never a trap of the host and never a write outside memory.
#![forbid(unsafe_code)]

use super::instance;
use kernel::wasm::Val::{self, I32};
use kernel::wasm::wasi::{self, RunError, errno};

/// A module with one page of memory (64 KiB), exporting `write` (fd_write)
/// and `raw` (any WASI call by name, given at build time).
fn module(name: &str, params: &str) -> String {
    let n = params.split_whitespace().count();
    let gets: String = (0..n).map(|i| format!("(local.get {i}) ")).collect();
    format!(
        r#"(module
  (import "wasi_snapshot_preview1" "{name}" (func $f (param {params}) (result i32)))
  (memory 1)
  (func (export "f") (param {params}) (result i32) (call $f {gets}))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0))))"#
    )
}

fn call(i: &kernel::wasm::Instance, args: &[i32]) -> i32 {
    let args: Vec<Val> = args.iter().map(|&a| I32(a)).collect();
    match i
        .invoke("f", &args)
        .expect("a WASI call returns")
        .as_slice()
    {
        [I32(e)] => *e,
        other => panic!("not an errno: {other:?}"),
    }
}

const END: i32 = 65536;

#[test]
fn fd_write_with_an_iovec_array_past_the_end_of_memory_is_efault() {
    let i = instance(&module("fd_write", "i32 i32 i32 i32"));
    i.capture_wasi_output();
    assert_eq!(call(&i, &[1, END - 4, 1, 0]), errno::FAULT);
    assert_eq!(call(&i, &[1, 0, 0x2000_0000, 0]), errno::FAULT);
    assert_eq!(call(&i, &[1, -8, 2, 0]), errno::FAULT);
    assert_eq!(i.take_wasi_output(), b"");
}

#[test]
fn fd_write_with_a_buffer_that_wraps_around_is_efault_and_writes_nothing() {
    let i = instance(&module("fd_write", "i32 i32 i32 i32"));
    i.capture_wasi_output();
    // iovec 0: 4 good bytes; iovec 1: at 0xffff_fff0, 0x20 bytes (wraps).
    i.invoke("store", &[I32(0), I32(100)]).unwrap();
    i.invoke("store", &[I32(4), I32(4)]).unwrap();
    i.invoke("store", &[I32(8), I32(-16)]).unwrap();
    i.invoke("store", &[I32(12), I32(0x20)]).unwrap();
    assert_eq!(call(&i, &[1, 0, 2, 16]), errno::FAULT);
    // A huge length from a valid start: also outside memory.
    i.invoke("store", &[I32(8), I32(0)]).unwrap();
    i.invoke("store", &[I32(12), I32(-1)]).unwrap();
    assert_eq!(call(&i, &[1, 0, 2, 16]), errno::FAULT);
    assert_eq!(i.take_wasi_output(), b"");
}

#[test]
fn fd_write_whose_iovecs_total_more_than_4_gib_is_einval_and_writes_nothing() {
    // 131,072 iovecs (1 MiB of them), each naming the same 64 KiB: 8 GiB.
    let wat = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
  (memory 17)
  (func (export "f") (result i32) (local $i i32)
    (loop $fill
      (i32.store offset=65536 (local.get $i) (i32.const 0))
      (i32.store offset=65540 (local.get $i) (i32.const 65536))
      (local.set $i (i32.add (local.get $i) (i32.const 8)))
      (br_if $fill (i32.lt_u (local.get $i) (i32.const 0x100000))))
    (call $w (i32.const 1) (i32.const 65536) (i32.const 131072) (i32.const 0))))"#;
    let i = instance(wat);
    i.capture_wasi_output();
    assert_eq!(i.invoke("f", &[]).unwrap(), [I32(errno::INVAL)]);
    assert_eq!(i.take_wasi_output(), b"");
}

#[test]
fn fd_write_to_a_descriptor_out_of_range_or_to_stdin_is_ebadf() {
    let i = instance(&module("fd_write", "i32 i32 i32 i32"));
    for fd in [0, 3, -1, i32::MAX] {
        assert_eq!(call(&i, &[fd, 0, 0, 0]), errno::BADF, "fd {fd}");
    }
}

#[test]
fn fd_write_with_nwritten_outside_memory_is_efault() {
    let i = instance(&module("fd_write", "i32 i32 i32 i32"));
    i.capture_wasi_output();
    assert_eq!(call(&i, &[1, 0, 0, END - 2]), errno::FAULT);
}

#[test]
fn args_get_with_pointers_past_the_end_is_efault_and_writes_nothing() {
    let i = instance(&module("args_get", "i32 i32"));
    i.set_wasi_args(vec![b"program".to_vec()], vec![]);
    assert_eq!(call(&i, &[END - 2, 0]), errno::FAULT);
    assert_eq!(call(&i, &[0, END - 3]), errno::FAULT);
    assert_eq!(i.invoke("load", &[I32(0)]).unwrap(), [I32(0)]);
}

#[test]
fn random_get_of_a_huge_length_is_efault() {
    let i = instance(&module("random_get", "i32 i32"));
    assert_eq!(call(&i, &[0, -1]), errno::FAULT);
    assert_eq!(call(&i, &[END, 1]), errno::FAULT);
    assert_eq!(call(&i, &[END, 0]), errno::SUCCESS);
}

#[test]
fn clock_time_get_into_memory_that_is_not_there_is_efault() {
    let i = instance(&module("clock_res_get", "i32 i32"));
    assert_eq!(call(&i, &[0, END - 7]), errno::FAULT);
}

#[test]
fn a_wasi_call_from_a_module_without_memory_is_efault() {
    let wat = r#"(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $f (param i32 i32) (result i32)))
  (func (export "f") (result i32) (call $f (i32.const 0) (i32.const 4))))"#;
    assert_eq!(instance(wat).invoke("f", &[]).unwrap(), [I32(errno::FAULT)]);
}

/// A program that ends its first run with `proc_exit(3)` and traps
/// (`unreachable`) on every later one. The second run's trap was once
/// reported as `Ok(3)`: `start` read the code the first run had left.
#[test]
fn a_second_start_that_traps_is_its_trap_not_the_first_runs_exit_code() {
    let wat = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (global $runs (mut i32) (i32.const 0))
  (func (export "_start")
    (global.set $runs (i32.add (global.get $runs) (i32.const 1)))
    (if (i32.eq (global.get $runs) (i32.const 1)) (then (call $exit (i32.const 3))))
    unreachable))"#;
    let i = instance(wat);
    assert_eq!(wasi::start(&i), Ok(3));
    assert_eq!(i.wasi_exit_code(), Some(3));
    assert_eq!(wasi::start(&i), Err(RunError::Trap("unreachable")));
    assert_eq!(i.wasi_exit_code(), None);
}
