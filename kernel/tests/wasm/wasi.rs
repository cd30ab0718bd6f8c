//! WASI preview 1 from the program's side: modules in the text format
//! that import `wasi_snapshot_preview1`, run by `wasi::start` on a
//! continuation with their output captured. Each call's result is the
//! errno and the bytes Wasmtime's implementation gives.

use super::instance;
use kernel::wasm::wasi::{self, RunError, errno};
use kernel::wasm::{Module, Val};

/// A module importing `imports` (WASI functions), with one page of
/// memory and `body` (its functions and data).
fn program(imports: &str, body: &str) -> String {
    format!(
        r#"(module
  {imports}
  (memory (export "memory") 1)
  {body})"#
    )
}

/// Runs `wat` with `args`; its exit code (or how it failed) and its output.
fn run(wat: &str, args: &[&str]) -> (Result<u32, RunError>, String) {
    let i = instance(wat);
    i.set_wasi_args(args.iter().map(|a| a.as_bytes().to_vec()).collect(), vec![]);
    i.capture_wasi_output();
    let code = wasi::start(&i);
    (
        code,
        String::from_utf8(i.take_wasi_output()).expect("UTF-8 output"),
    )
}

const FD_WRITE: &str = r#"(import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))"#;
const PROC_EXIT: &str = r#"(import "wasi_snapshot_preview1" "proc_exit"
    (func $proc_exit (param i32)))"#;

#[test]
fn fd_write_sends_each_iovec_in_order_and_reports_the_total() {
    let wat = program(
        FD_WRITE,
        r#"(data (i32.const 100) "hello, world\n")
  ;; two iovecs: "hello, " and "world\n"
  (data (i32.const 0) "\64\00\00\00\07\00\00\00\6b\00\00\00\06\00\00\00")
  (func (export "_start")
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 2) (i32.const 16))
      (then unreachable))
    (if (i32.ne (i32.load (i32.const 16)) (i32.const 13)) (then unreachable)))"#,
    );
    assert_eq!(run(&wat, &["p"]), (Ok(0), "hello, world\n".into()));
}

#[test]
fn proc_exit_ends_the_program_with_its_code_and_runs_nothing_after_it() {
    let wat = program(
        &format!("{FD_WRITE} {PROC_EXIT}"),
        r#"(data (i32.const 0) "\08\00\00\00\01\00\00\00!")
  (func (export "_start")
    (call $proc_exit (i32.const 42))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 16))))"#,
    );
    assert_eq!(run(&wat, &[]), (Ok(42), String::new()));
}

#[test]
fn proc_exit_from_inside_a_nested_continuation_ends_the_whole_program() {
    let wat = program(
        PROC_EXIT,
        r#"(type $f (func)) (type $c (cont $f))
  (func $inner (call $proc_exit (i32.const 7)))
  (elem declare func $inner)
  (func (export "_start") (resume $c (cont.new $c (ref.func $inner))) unreachable)"#,
    );
    assert_eq!(run(&wat, &[]).0, Ok(7));
}

#[test]
fn args_sizes_and_args_get_lay_out_nul_terminated_strings_and_pointers() {
    let wat = program(
        r#"(import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func $get (param i32 i32) (result i32)))"#,
        r#"(func (export "sizes") (result i32 i32 i32)
    (call $sizes (i32.const 0) (i32.const 4)) (i32.load (i32.const 0)) (i32.load (i32.const 4)))
  (func (export "get") (result i32 i32 i32 i64)
    (call $get (i32.const 16) (i32.const 64))
    (i32.load (i32.const 16)) (i32.load (i32.const 20)) (i64.load (i32.const 64)))"#,
    );
    let i = instance(&wat);
    i.set_wasi_args(vec![b"ab".to_vec(), b"cde".to_vec()], vec![]);
    let sizes = i.invoke("sizes", &[]).expect("runs");
    assert_eq!(sizes, [Val::I32(0), Val::I32(2), Val::I32(7)]);
    let got = i.invoke("get", &[]).expect("runs");
    // "ab\0cde\0" at 64; pointers 64 and 67.
    let text = i64::from_le_bytes(*b"ab\0cde\0\0");
    assert_eq!(
        got,
        [Val::I32(0), Val::I32(64), Val::I32(67), Val::I64(text)]
    );
}

#[test]
fn environ_is_empty_unless_the_embedder_gives_one() {
    let wat = program(
        r#"(import "wasi_snapshot_preview1" "environ_sizes_get" (func $sizes (param i32 i32) (result i32)))"#,
        r#"(func (export "sizes") (result i32 i32 i32)
    (call $sizes (i32.const 0) (i32.const 4)) (i32.load (i32.const 0)) (i32.load (i32.const 4)))"#,
    );
    let i = instance(&wat);
    assert_eq!(
        i.invoke("sizes", &[]).unwrap(),
        [Val::I32(0), Val::I32(0), Val::I32(0)]
    );
    i.set_wasi_args(vec![], vec![b"HOME=/".to_vec()]);
    assert_eq!(
        i.invoke("sizes", &[]).unwrap(),
        [Val::I32(0), Val::I32(1), Val::I32(7)]
    );
}

/// A module whose export `f` calls the WASI function `name` of type
/// `params -> i32` with the i32 arguments the test passes.
fn one_call(name: &str, params: &str) -> String {
    let n = params.split_whitespace().count();
    let gets: String = (0..n).map(|i| format!("(local.get {i}) ")).collect();
    program(
        &format!(
            r#"(import "wasi_snapshot_preview1" "{name}" (func $f (param {params}) (result i32)))"#
        ),
        &format!(
            r#"(func (export "f") (param {params}) (result i32) (call $f {gets}))
  (func (export "load64") (param i32) (result i64) (i64.load (local.get 0)))"#
        ),
    )
}

fn errno_of(wat: &str, args: &[Val]) -> i32 {
    match instance(wat)
        .invoke("f", args)
        .expect("the call returns")
        .as_slice()
    {
        [Val::I32(e)] => *e,
        other => panic!("not an errno: {other:?}"),
    }
}

#[test]
fn fd_read_of_stdin_reads_nothing_and_of_stdout_is_ebadf() {
    let wat = one_call("fd_read", "i32 i32 i32 i32");
    let i = instance(&wat);
    let read = |fd| i.invoke("f", &[Val::I32(fd), Val::I32(0), Val::I32(0), Val::I32(8)]);
    assert_eq!(read(0).unwrap(), [Val::I32(errno::SUCCESS)]);
    assert_eq!(i.invoke("load64", &[Val::I32(8)]).unwrap(), [Val::I64(0)]);
    assert_eq!(read(1).unwrap(), [Val::I32(errno::BADF)]);
}

#[test]
fn a_closed_descriptor_is_ebadf_afterwards() {
    let wat = program(
        r#"(import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))"#,
        r#"(func (export "close") (param i32) (result i32) (call $close (local.get 0)))"#,
    );
    let i = instance(&wat);
    assert_eq!(
        i.invoke("close", &[Val::I32(2)]).unwrap(),
        [Val::I32(errno::SUCCESS)]
    );
    assert_eq!(
        i.invoke("close", &[Val::I32(2)]).unwrap(),
        [Val::I32(errno::BADF)]
    );
    assert_eq!(
        i.invoke("close", &[Val::I32(3)]).unwrap(),
        [Val::I32(errno::BADF)]
    );
}

#[test]
fn fd_seek_on_a_standard_stream_is_espipe() {
    let wat = program(
        r#"(import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))"#,
        r#"(func (export "f") (param i32) (result i32)
    (call $seek (local.get 0) (i64.const 0) (i32.const 1) (i32.const 0)))"#,
    );
    let i = instance(&wat);
    assert_eq!(
        i.invoke("f", &[Val::I32(1)]).unwrap(),
        [Val::I32(errno::SPIPE)]
    );
    assert_eq!(
        i.invoke("f", &[Val::I32(9)]).unwrap(),
        [Val::I32(errno::BADF)]
    );
}

#[test]
fn fd_fdstat_get_calls_stdout_a_writable_character_device() {
    let wat = one_call("fd_fdstat_get", "i32 i32");
    let i = instance(&wat);
    assert_eq!(
        i.invoke("f", &[Val::I32(1), Val::I32(0)]).unwrap(),
        [Val::I32(0)]
    );
    assert_eq!(i.invoke("load64", &[Val::I32(0)]).unwrap(), [Val::I64(2)]);
    let rights = (1 << 6) | (1 << 27);
    assert_eq!(
        i.invoke("load64", &[Val::I32(8)]).unwrap(),
        [Val::I64(rights)]
    );
}

#[test]
fn there_are_no_preopened_directories() {
    let wat = one_call("fd_prestat_get", "i32 i32");
    assert_eq!(errno_of(&wat, &[Val::I32(3), Val::I32(0)]), errno::BADF);
    let wat = one_call("fd_prestat_dir_name", "i32 i32 i32");
    assert_eq!(
        errno_of(&wat, &[Val::I32(3), Val::I32(0), Val::I32(8)]),
        errno::BADF
    );
}

#[test]
fn clocks_zero_to_three_read_and_others_are_einval() {
    let wat = one_call("clock_res_get", "i32 i32");
    let i = instance(&wat);
    assert_eq!(
        i.invoke("f", &[Val::I32(1), Val::I32(0)]).unwrap(),
        [Val::I32(0)]
    );
    assert_eq!(i.invoke("load64", &[Val::I32(0)]).unwrap(), [Val::I64(1)]);
    assert_eq!(errno_of(&wat, &[Val::I32(4), Val::I32(0)]), errno::INVAL);
}

#[test]
fn the_monotonic_clock_does_not_go_backwards() {
    let wat = program(
        r#"(import "wasi_snapshot_preview1" "clock_time_get" (func $now (param i32 i64 i32) (result i32)))"#,
        r#"(func (export "f") (result i32)
    (drop (call $now (i32.const 1) (i64.const 1) (i32.const 0)))
    (drop (call $now (i32.const 1) (i64.const 1) (i32.const 8)))
    (i64.ge_u (i64.load (i32.const 8)) (i64.load (i32.const 0))))"#,
    );
    assert_eq!(instance(&wat).invoke("f", &[]).unwrap(), [Val::I32(1)]);
}

#[test]
fn random_get_fills_the_buffer_with_the_documented_generator() {
    let wat = one_call("random_get", "i32 i32");
    let i = instance(&wat);
    assert_eq!(
        i.invoke("f", &[Val::I32(0), Val::I32(8)]).unwrap(),
        [Val::I32(0)]
    );
    // xorshift64* from the seed 0x9e3779b97f4a7c15: one step.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    let first = x.wrapping_mul(0x2545_f491_4f6c_dd1d) as i64;
    assert_eq!(
        i.invoke("load64", &[Val::I32(0)]).unwrap(),
        [Val::I64(first)]
    );
}

#[test]
fn sched_yield_succeeds() {
    let wat = one_call("sched_yield", "");
    assert_eq!(errno_of(&wat, &[]), errno::SUCCESS);
}

#[test]
fn a_wasi_function_outside_the_subset_links_and_returns_enosys() {
    let wat = one_call("path_open", "i32 i32 i32 i32 i32");
    let args = [
        Val::I32(3),
        Val::I32(0),
        Val::I32(0),
        Val::I32(0),
        Val::I32(0),
    ];
    assert_eq!(errno_of(&wat, &args), errno::NOSYS);
}

#[test]
fn a_wasi_import_of_the_wrong_type_is_refused_naming_it() {
    let wat = program(
        r#"(import "wasi_snapshot_preview1" "fd_write" (func (param i32) (result i32)))"#,
        "",
    );
    let e = Module::new(&wat::parse_str(&wat).unwrap()).expect_err("refused");
    assert_eq!(
        e.message,
        "not supported by this interpreter: import wasi_snapshot_preview1.fd_write: \
         a host function of another type"
    );
}

#[test]
fn an_exported_main_returning_i32_gives_the_exit_code() {
    let wat = "(module (func (export \"main\") (result i32) (i32.const 5)))";
    assert_eq!(run(wat, &[]), (Ok(5), String::new()));
}

#[test]
fn a_trap_is_reported_with_its_reason_not_an_exit_code() {
    let wat = "(module (func (export \"_start\") unreachable))";
    assert_eq!(run(wat, &[]).0, Err(RunError::Trap("unreachable")));
}

#[test]
fn a_module_without_start_or_main_has_no_entry() {
    let wat = "(module (func (export \"go\")))";
    assert_eq!(run(wat, &[]).0, Err(RunError::NoEntry));
}
