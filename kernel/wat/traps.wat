;; One export per trap the stack-switching instructions raise, two that
;; come out of a continuation (a trap and an exception), a recursion
;; without end on the invoker's own stack, and a loop that catches an
;; exception at every step.
(module
  (type $f (func)) (type $c (cont $f))
  (type $rf (func (result i32))) (type $rc (cont $rf))
  (tag $t)
  (tag $e (param i32))
  (func $suspends (suspend $t))
  (func $divides (result i32) (i32.div_s (i32.const 1) (i32.const 0)))
  (func $throws (result i32) (throw $e (i32.const 21)))
  (global $depth (mut i32) (i32.const 0))
  (func $recurse (param i32) (result i32)
    (global.set $depth (i32.add (global.get $depth) (i32.const 1)))
    (i32.add (i32.const 1) (call $recurse (local.get 0))))
  (func (export "depth") (result i32) (global.get $depth))
  (func (export "recurse_here") (result i32) (call $recurse (i32.const 0)))
  (func $deep (result i32) (call $recurse (i32.const 0)))
  (elem declare func $suspends $divides $throws $deep)
  (func (export "consumed") (local $k (ref null $c))
    (local.set $k (cont.new $c (ref.func $suspends)))
    (block $h (result (ref $c))
      (resume $c (on $t $h) (local.get $k)) (return))
    (drop)
    (resume $c (local.get $k)))
  (func (export "null") (resume $c (ref.null $c)))
  (func (export "unhandled") (resume $c (cont.new $c (ref.func $suspends))))
  (func (export "divide") (result i32) (resume $rc (cont.new $rc (ref.func $divides))))
  (func (export "exhaust") (result i32) (resume $rc (cont.new $rc (ref.func $deep))))
  (func (export "exception") (result i32)
    (block $caught (result i32)
      (try_table (catch $e $caught) (drop (resume $rc (cont.new $rc (ref.func $throws)))))
      (return (i32.const -1)))
    (i32.mul (i32.const 2)))
  ;; Sums 0 + 1 + ... + (n - 1), each number thrown and caught: once from
  ;; a call, once from a throw in this function. The interpreter goes on
  ;; at a catch clause by a tail call, so that the loop runs in constant
  ;; native stack however many exceptions it catches.
  (func $throw_it (param i32) (throw $e (local.get 0)))
  (func (export "catch_many") (param $n i32) (result i32)
    (local $i i32) (local $sum i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $sum
          (i32.add (local.get $sum)
            (block $h (result i32)
              (try_table (catch $e $h)
                (if (i32.and (local.get $i) (i32.const 1))
                  (then (call $throw_it (local.get $i)))
                  (else (throw $e (local.get $i)))))
              (i32.const -1))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $sum)))
