;; Every command kind of the .wast runner, written for this kernel: the
;; in-kernel suite `wasm` and a host unit test run it, and every command
;; must pass. Two modules link through `register`: a counter with a
;; shared global, a table, a memory and a tag, and a client that imports
;; them and runs a continuation whose handler is in the client while the
;; suspending code is in the counter.

(module $counter
  (type $f (func))
  (tag $tick (export "tick"))
  (global $total (export "total") (mut i32) (i32.const 7))
  (table $slots (export "slots") 2 funcref)
  (memory $mem (export "mem") 1)
  (func $bump (export "bump") (param $by i32) (result i32)
    (global.set $total (i32.add (global.get $total) (local.get $by)))
    (global.get $total))
  (func $pause (export "pause")
    (suspend $tick))
  (func (export "peek") (param $at i32) (result i32)
    (i32.load (local.get $at)))
)

(register "counter" $counter)

(assert_return (invoke "bump" (i32.const 5)) (i32.const 12))
(assert_return (get "total") (i32.const 12))
(invoke "bump" (i32.const 1))
(assert_return (get $counter "total") (i32.const 13))

(module $client
  (type $f (func))
  (type $k (cont $f))
  (import "counter" "bump" (func $bump (param i32) (result i32)))
  (import "counter" "pause" (func $pause))
  (import "counter" "total" (global $total (mut i32)))
  (import "counter" "slots" (table $slots 2 funcref))
  (import "counter" "mem" (memory 1))
  (import "counter" "tick" (tag $tick))
  (elem declare func $pause)

  ;; Calls across instances see and change the same global.
  (func (export "bump-twice") (result i32)
    (drop (call $bump (i32.const 10)))
    (call $bump (i32.const 10)))
  (func (export "read-total") (result i32) (global.get $total))

  ;; The counter's function, resumed here: it suspends with the counter's
  ;; tag, which the handler installed here names through its import.
  (func (export "ticks") (result i32)
    (local $n i32)
    (local $k (ref null $k))
    (local.set $k (cont.new $k (ref.func $pause)))
    (loop $again
      (block $on_tick (result (ref $k))
        (resume $k (on $tick $on_tick) (local.get $k))
        (return (local.get $n)))
      (local.set $k)
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $again))
    (unreachable))

  ;; The imported table and memory are the counter's own.
  (func (export "fill-slot") (table.set $slots (i32.const 1) (ref.func $pause)))
  (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1)))

  (func (export "nan") (result f32) (f32.div (f32.const 0) (f32.const 0)))
  (func (export "quiet-nan") (result f64) (f64.const nan:0x8000000000001))
  (func (export "null") (result funcref) (ref.null func))
  (func (export "func") (result funcref) (ref.func $pause))
  (func (export "divide") (param i32 i32) (result i32)
    (i32.div_s (local.get 0) (local.get 1)))
  (func $deep (export "deep") (param i32) (result i32)
    (call $deep (i32.add (local.get 0) (i32.const 1))))
  (func (export "throws") (throw $tick))
  (func (export "lost") (suspend $tick))
)

(assert_return (invoke "bump-twice") (i32.const 33))
(assert_return (invoke $counter "bump" (i32.const 0)) (i32.const 33))
(assert_return (invoke "read-total") (i32.const 33))
(assert_return (invoke "ticks") (i32.const 1))
(invoke "fill-slot")
(invoke "poke" (i32.const 8) (i32.const 99))
(assert_return (invoke $counter "peek" (i32.const 8)) (i32.const 99))
(assert_return (invoke "nan") (f32.const nan:canonical))
(assert_return (invoke "quiet-nan") (f64.const nan:arithmetic))
(assert_return (invoke "null") (ref.null func))
(assert_return (invoke "func") (ref.func))
(assert_return (invoke "divide" (i32.const 3) (i32.const 2)) (either (i32.const 0) (i32.const 1)))
(assert_trap (invoke "divide" (i32.const 1) (i32.const 0)) "integer divide by zero")
(assert_trap (invoke "divide" (i32.const 1) (i32.const 0)) "integer divide")
(assert_exhaustion (invoke "deep" (i32.const 0)) "call stack exhausted")
(assert_exception (invoke "throws"))
(assert_suspension (invoke "lost") "unhandled")

(assert_invalid
  (module (func (result i32) (i64.const 1)))
  "type mismatch")
(assert_malformed
  (module binary "\00asm\02\00\00\00")
  "unknown binary version")
(assert_unlinkable
  (module (import "counter" "absent" (func)))
  "unknown import")
(assert_unlinkable
  (module (import "counter" "bump" (func (param i64))))
  "incompatible import type")
(assert_trap
  (module (func $start unreachable) (start $start))
  "unreachable")
