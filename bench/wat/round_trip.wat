;; Round trip: a generator that loops forever suspending the i32 1; the
;; exported driver resumes it $n times (n >= 1) with one (on $yield ...)
;; handler and adds up the values it receives, so it returns $n.
;; One iteration = one resume + one suspend back + reading the value.
(module
  (type $gen_ft (func))
  (type $gen_ct (cont $gen_ft))
  (tag $yield (param i32))

  (func $generator
    (loop $forever
      (suspend $yield (i32.const 1))
      (br $forever)))

  ;; `ref.func` is a libcall in Wasmtime; a global initialised once at
  ;; instantiation keeps it out of every call.
  (global $generator_ref (ref $gen_ft) (ref.func $generator))

  (func (export "run") (param $n i32) (result i32)
    (local $k (ref null $gen_ct))
    (local $sum i32)
    ;; One cont.new per call, outside the loop: it maps a stack.
    (local.set $k (cont.new $gen_ct (global.get $generator_ref)))
    (loop $again
      (block $on_yield (result i32 (ref $gen_ct))
        (resume $gen_ct (on $yield $on_yield) (local.get $k))
        ;; The generator never returns.
        (unreachable))
      ;; [value, continuation] on the stack.
      (local.set $k)
      (local.set $sum (i32.add (local.get $sum)))
      (br_if $again
        (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    ;; The generator stays suspended; its stack goes with the store.
    (local.get $sum)))
