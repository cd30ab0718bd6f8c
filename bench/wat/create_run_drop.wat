;; Create + run + drop: $n times (n >= 1), cont.new of a function that
;; returns the i32 1 at once, resume it to completion, add up the values;
;; returns $n. A finished continuation is unreachable (dropped) at once.
(module
  (type $one_ft (func (result i32)))
  (type $one_ct (cont $one_ft))

  (func $one (result i32)
    (i32.const 1))

  ;; `ref.func` is a libcall in Wasmtime: evaluated once, at instantiation.
  (global $one_ref (ref $one_ft) (ref.func $one))

  (func (export "run") (param $n i32) (result i32)
    (local $sum i32)
    (loop $again
      (local.set $sum
        (i32.add
          (local.get $sum)
          (resume $one_ct (cont.new $one_ct (global.get $one_ref)))))
      (br_if $again
        (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    (local.get $sum)))
