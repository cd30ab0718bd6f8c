;; Output a preempted write holds (tests/hostile_wasm.rs): `big` writes
;; 2 MiB to stdout in one fd_write, long enough for the preemption stub
;; to stop it while it copies into the capture buffer; `small` writes
;; one byte, "x", and returns the errno.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory 65)
  ;; The iovec at 0: 2 MiB from 4096. The one at 16: one byte from 8.
  (data (i32.const 0) "\00\10\00\00\00\00\20\00")
  (data (i32.const 8) "x")
  (data (i32.const 16) "\08\00\00\00\01\00\00\00")
  (func (export "big") (result i32)
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 32)))
  (func (export "small") (result i32)
    (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 32))))
