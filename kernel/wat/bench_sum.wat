;; The interpreter's compute figure in the kernel benchmark: the sum loop
;; of the host benchmark's `bench/wat/sum.wat` (the same function), timed
;; for two sizes so that the difference is the cost of one iteration.
(module
  (func (export "sum") (param $n i32) (result i32)
    (local $i i32) (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (local.get $i)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc)))
