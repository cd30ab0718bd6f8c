;; Switch ping-pong: $ping and $pong hand control to each other with
;; `switch` under one (on $sw switch) handler. The exported driver runs
;; $ping, which does $n exchanges (n >= 1), each two switches
;; (ping -> pong -> ping); it returns $n.
(module
  ;; A continuation that is switched to receives the handle of the one that
  ;; switched away, whose type is again $ct: the types refer to each other,
  ;; hence the `rec` group (which needs the GC proposal).
  (rec
    (type $ft (func (param (ref null $ct))))
    (type $ct (cont $ft)))
  (type $ping_ft (func (param i32)))
  (type $ping_ct (cont $ping_ft))
  (tag $sw)

  (func $pong (type $ft) (param $other (ref null $ct))
    (loop $forever
      (local.set $other (switch $ct $sw (local.get $other)))
      (br $forever)))

  (func $ping (type $ping_ft) (param $n i32)
    (local $other (ref null $ct))
    (local.set $other (cont.new $ct (global.get $pong_ref)))
    (loop $again
      (local.set $other (switch $ct $sw (local.get $other)))
      (br_if $again
        (local.tee $n (i32.sub (local.get $n) (i32.const 1)))))
    ;; $pong stays suspended; its stack goes with the store.
  )

  ;; `ref.func` is a libcall in Wasmtime: both are evaluated once, at
  ;; instantiation.
  (global $pong_ref (ref $ft) (ref.func $pong))
  (global $ping_ref (ref $ping_ft) (ref.func $ping))

  (func (export "run") (param $n i32) (result i32)
    (resume $ping_ct (on $sw switch)
      (local.get $n)
      (cont.new $ping_ct (global.get $ping_ref)))
    (local.get $n)))
