;; A script with a command that never ends between commands that pass:
;; under a tick budget the runner reports that one command as timed out
;; and runs the rest (tests/wasm.rs).
(module
  (global $n (mut i32) (i32.const 0))
  (func (export "one") (result i32) (i32.const 1))
  (func (export "forever") (loop $again (br $again)))
  (func (export "bump") (result i32)
    (global.set $n (i32.add (global.get $n) (i32.const 1)))
    (global.get $n)))
(assert_return (invoke "one") (i32.const 1))
(assert_return (invoke "bump") (i32.const 1))
(assert_return (invoke "forever"))
(assert_return (invoke "one") (i32.const 1))
(assert_return (invoke "bump") (i32.const 2))
;; A start function that never ends: the instantiation times out, and the
;; script goes on with the next module.
(module (func $spin (loop $again (br $again))) (start $spin))
(module (func (export "two") (result i32) (i32.const 2)))
(assert_return (invoke "two") (i32.const 2))
