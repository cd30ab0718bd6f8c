;; Two tasks take turns with `switch`: each adds its step to a shared
;; total and switches to the other, handing its own continuation over.
(module
  (rec
    (type $tf (func (param (ref null $tc)) (result i32)))
    (type $tc (cont $tf)))
  (type $sf (func (param i32 (ref null $tc)) (result i32)))
  (type $sc (cont $sf))
  (tag $sw (result i32))
  (global $total (mut i32) (i32.const 0))
  (func $task (param $step i32) (param $peer (ref null $tc)) (result i32)
    (local $round i32)
    (loop $l
      (global.set $total (i32.add (i32.mul (global.get $total) (i32.const 10)) (local.get $step)))
      (local.set $round (i32.add (local.get $round) (i32.const 1)))
      (if (i32.lt_u (local.get $round) (i32.const 3))
        (then
          (local.set $peer (switch $tc $sw (local.get $peer)))
          (br $l))))
    (global.get $total))
  (elem declare func $task)
  (func (export "run") (result i32)
    (resume $sc (on $sw switch)
      (i32.const 1)
      (cont.bind $sc $tc (i32.const 2) (cont.new $sc (ref.func $task)))
      (cont.new $sc (ref.func $task)))))
