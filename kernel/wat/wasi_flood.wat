;; A WASI program for the in-kernel hostile suite: `_start` writes its
;; whole memory (one 64 KiB page) to stdout again and again, until a write
;; fails or after 4096 writes (256 MiB), and exits with that write's errno
;; (0 if none failed). `iovec_len` reads the iovec's length back: a use
;; of the memory after the run.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  ;; 0: the iovec (buf 0, len 65536), 8: nwritten.
  (data (i32.const 4) "\00\00\01\00")
  (func (export "_start") (local $n i32) (local $e i32)
    (block $done (loop $next
      (local.set $e
        (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (br_if $done (local.get $e))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br_if $next (i32.lt_u (local.get $n) (i32.const 4096)))))
    (call $proc_exit (local.get $e)))
  (func (export "iovec_len") (result i32) (i32.load (i32.const 4))))
