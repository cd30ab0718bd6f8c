;; A recursion whose every level, the deepest included, does what costs
;; the runtime the most native stack below an interpreted frame: a
;; continuation made, run and freed (a stack from the pool), and an
;; exception thrown and caught (a heap allocation).
(module
  (type $f (func)) (type $c (cont $f))
  (tag $e (param i32))
  (global $depth (mut i32) (i32.const 0))
  (func $nop)
  (elem declare func $nop)
  (func $heavy (param i32) (result i32)
    (global.set $depth (local.get 0))
    (resume $c (cont.new $c (ref.func $nop)))
    (block $caught (result i32)
      (try_table (catch $e $caught) (throw $e (local.get 0)))
      (unreachable))
    (drop)
    (i32.add (i32.const 1) (call $heavy (i32.add (local.get 0) (i32.const 1)))))
  (func (export "depth") (result i32) (global.get $depth))
  (func (export "heavy_recursion") (result i32) (call $heavy (i32.const 0))))
