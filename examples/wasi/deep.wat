;; A recursion 10,000 calls deep (not a tail call: each call waits for the
;; next), then one line on stdout. Under `./qemu-run.sh run` every Wasm
;; call is a native frame of the interpreter on the program's 1 MiB
;; continuation stack: 96 bytes per call (docs/wasm.md), so 10,000 calls
;; take some 960 KB of it. About 10,700 fit; deeper, the program traps
;; "call stack exhausted", cleanly, as it does on a 64 KiB stack after
;; about 500 calls.
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  ;; Two iovecs: the text at 16 (26 bytes), and at 48 (14 bytes).
  (data (i32.const 0) "\10\00\00\00\1a\00\00\00")
  (data (i32.const 16) "recursed 10000 calls deep\n")
  (data (i32.const 8) "\30\00\00\00\0e\00\00\00")
  (data (i32.const 48) "wrong result!\n")
  ;; How deep it went: n, counted on the way back up.
  (func $down (param $n i32) (result i32)
    (if (result i32) (i32.eqz (local.get $n))
      (then (i32.const 0))
      (else (i32.add (i32.const 1)
              (call $down (i32.sub (local.get $n) (i32.const 1)))))))
  (func (export "_start")
    (drop (call $fd_write
      (i32.const 1)
      (select (i32.const 0) (i32.const 8)
        (i32.eq (call $down (i32.const 10000)) (i32.const 10000)))
      (i32.const 1)
      (i32.const 64)))))
