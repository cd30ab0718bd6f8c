;; A Wasm guest whose one call out of the interpreter is a print, then a
;; loop without end (tests/preempt.rs): the instance's print hook, the
;; embedder's Rust, runs on the guest's stack under the guest's budget.
(module
  (import "spectest" "print_i32" (func $print (param i32)))
  (func (export "print_then_forever")
    (call $print (i32.const 7))
    (loop $again
      (br $again))))
