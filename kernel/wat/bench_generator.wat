;; The benchmark's generator (`kernel/benches/icount.rs`): `rounds n`
;; resumes, from Wasm, a continuation that suspends forever, n times.
(module
  (type $f (func)) (type $c (cont $f))
  (tag $yield)
  (func $gen (loop $l (suspend $yield) (br $l)))
  (elem declare func $gen)
  (global $k (mut (ref null $c)) (ref.null $c))
  (func (export "start") (global.set $k (cont.new $c (ref.func $gen))))
  (func (export "rounds") (param $n i32)
    (loop $l
      (if (local.get $n)
        (then
          (block $h (result (ref $c))
            (resume $c (on $yield $h) (global.get $k))
            (unreachable))
          (global.set $k)
          (local.set $n (i32.sub (local.get $n) (i32.const 1)))
          (br $l))))))
