;; A generator of squares `0, 1, 4, ...` below `n`: the consumer sums
;; what it yields.
(module
  (type $gf (func (param i32)))
  (type $gc (cont $gf))
  (type $kf (func))
  (type $kc (cont $kf))
  (tag $yield (param i32))
  (func $gen (param $n i32) (local $i i32)
    (block $end (loop $l
      (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
      (suspend $yield (i32.mul (local.get $i) (local.get $i)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
  (elem declare func $gen)
  (func (export "sum_squares") (param $n i32) (result i32)
    (local $k (ref null $kc)) (local $sum i32) (local $count i32)
    (block $done
      (block $on_yield (result i32 (ref $kc))
        (resume $gc (on $yield $on_yield) (local.get $n) (cont.new $gc (ref.func $gen)))
        (br $done))
      (local.set $k)
      (local.set $sum (i32.add (local.get $sum)))
      (local.set $count (i32.add (local.get $count) (i32.const 1)))
      (loop $next
        (block $on_yield2 (result i32 (ref $kc))
          (resume $kc (on $yield $on_yield2) (local.get $k))
          (br $done))
        (local.set $k)
        (local.set $sum (i32.add (local.get $sum)))
        (local.set $count (i32.add (local.get $count) (i32.const 1)))
        (br $next)))
    ;; sum * 1000 + how many values came out
    (i32.add (i32.mul (local.get $sum) (i32.const 1000)) (local.get $count))))
