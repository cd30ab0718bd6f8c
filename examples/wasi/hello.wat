;; The smallest WASI program, in the text format: writes a line to
;; stdout with fd_write and ends with proc_exit(7). `./qemu-run.sh run
;; examples/wasi/hello.wat` prints the line and exits with status 7.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; The iovec at 0: the text at 16, 27 bytes long.
  (data (i32.const 0) "\10\00\00\00\1b\00\00\00")
  (data (i32.const 16) "hello from a WASI program!\n")
  (func (export "_start")
    ;; fd 1, one iovec at 0, the count written to 8.
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (call $proc_exit (i32.const 7))))
