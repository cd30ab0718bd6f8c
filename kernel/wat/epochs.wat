;; Loops for the Wasm epoch tests (tests/preempt.rs, tests/wasm.rs): a
;; count whose every step is seen twice (a local and a global, in step),
;; a loop without end, a chain of tail calls without end (no branch
;; at all: only its calls are safe points), and the count run on a
;; continuation of its own (its loop is a child of the caller's).
(module
  (type $count (func (param i64) (result i64)))
  (type $count_k (cont $count))
  (elem declare func $count_to)
  (global $n (export "n") (mut i64) (i64.const 0))
  ;; Counts to $to: each step adds 1 to the local $i and to the global $n.
  ;; Returns $i; a step lost or repeated at a preemption would leave $i
  ;; or $n off the exact count.
  (func $count_to (export "count_to") (param $to i64) (result i64)
    (local $i i64)
    (block $done
      (loop $step
        (br_if $done (i64.ge_u (local.get $i) (local.get $to)))
        (local.set $i (i64.add (local.get $i) (i64.const 1)))
        (global.set $n (i64.add (global.get $n) (i64.const 1)))
        (br $step)))
    (local.get $i))
  (func (export "forever")
    (loop $again
      (global.set $n (i64.add (global.get $n) (i64.const 1)))
      (br $again)))
  (func $tail (export "tail_calls_forever")
    (global.set $n (i64.add (global.get $n) (i64.const 1)))
    (return_call $tail))
  ;; `count_to` on a new continuation, run by a plain `resume`; returns
  ;; its result plus 1000.
  (func (export "count_in_a_child") (param $to i64) (result i64)
    (i64.add
      (resume $count_k (local.get $to) (cont.new $count_k (ref.func $count_to)))
      (i64.const 1000))))
