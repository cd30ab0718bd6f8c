;; The sieve of Eratosthenes over [0, n) in linear memory, one byte per
;; number, run $times times; returns the number of primes below n (the
;; last run's count). Measures loads, stores and nested loops.
(module
  (memory 16)
  (func $sieve (param $n i32) (result i32)
    (local $i i32) (local $j i32) (local $count i32)
    ;; Clear: every number is a candidate.
    (memory.fill (i32.const 0) (i32.const 0) (local.get $n))
    (local.set $i (i32.const 2))
    (block $done
      (loop $outer
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (if (i32.eqz (i32.load8_u (local.get $i)))
          (then
            (local.set $count (i32.add (local.get $count) (i32.const 1)))
            (local.set $j (i32.mul (local.get $i) (local.get $i)))
            (block $marked
              ;; i * i may overflow i32 for large i: stop at i > 46340.
              (br_if $marked (i32.gt_u (local.get $i) (i32.const 46340)))
              (loop $mark
                (br_if $marked (i32.ge_u (local.get $j) (local.get $n)))
                (i32.store8 (local.get $j) (i32.const 1))
                (local.set $j (i32.add (local.get $j) (local.get $i)))
                (br $mark)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $outer)))
    (local.get $count))
  (func (export "run") (param $n i32) (param $times i32) (result i32)
    (local $r i32)
    (loop $again
      (local.set $r (call $sieve (local.get $n)))
      (local.set $times (i32.sub (local.get $times) (i32.const 1)))
      (br_if $again (i32.gt_s (local.get $times) (i32.const 0))))
    (local.get $r)))
