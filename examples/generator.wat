;; A generator in WebAssembly: `$squares` suspends with each square
;; 1, 4, 9, ... up to n*n; `main` resumes it until it returns, printing
;; every value it receives, then the sum.
;;
;;   ./qemu-run.sh wasm examples/generator.wat
(module
  (import "spectest" "print_i32" (func $print (param i32)))
  (type $sq (func (param i32)))
  (type $sq_cont (cont $sq))
  (type $rest (func))
  (type $rest_cont (cont $rest))
  (tag $yield (param i32))

  (func $squares (param $n i32) (local $i i32)
    (loop $next
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (suspend $yield (i32.mul (local.get $i) (local.get $i)))
      (br_if $next (i32.lt_u (local.get $i) (local.get $n)))))
  (elem declare func $squares)

  (func (export "main") (result i32)
    (local $k (ref null $rest_cont)) (local $sum i32) (local $v i32)
    (block $done
      (block $yielded (result i32 (ref $rest_cont))
        (resume $sq_cont (on $yield $yielded)
          (i32.const 5) (cont.new $sq_cont (ref.func $squares)))
        (br $done))
      (local.set $k)
      (local.set $v)
      (loop $more
        (call $print (local.get $v))
        (local.set $sum (i32.add (local.get $sum) (local.get $v)))
        (block $yielded (result i32 (ref $rest_cont))
          (resume $rest_cont (on $yield $yielded) (local.get $k))
          (br $done))
        (local.set $k)
        (local.set $v)
        (br $more)))
    (local.get $sum)))
