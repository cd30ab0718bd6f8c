;; A scheduler: three tasks in a table of continuations, each yielding
;; after every step; the scheduler resumes them in turn until all have
;; returned, logging each task's id at each step into memory.
(module
  (type $f (func)) (type $c (cont $f))
  (type $tf (func (param i32))) (type $tc (cont $tf))
  (tag $yield)
  (memory 1)
  (global $len (mut i32) (i32.const 0))
  (table $ready 3 (ref null $c))
  (func $log (param i32)
    (i32.store8 (global.get $len) (local.get 0))
    (global.set $len (i32.add (global.get $len) (i32.const 1))))
  ;; task id runs id + 1 steps
  (func $task (param $id i32) (local $i i32)
    (loop $l
      (call $log (i32.add (i32.const 0x41) (local.get $id)))
      (suspend $yield)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.le_u (local.get $i) (local.get $id)))))
  (elem declare func $task)
  (func (export "run") (result i32) (local $i i32) (local $live i32) (local $k (ref null $c))
    (table.set $ready (i32.const 0) (cont.bind $tc $c (i32.const 0) (cont.new $tc (ref.func $task))))
    (table.set $ready (i32.const 1) (cont.bind $tc $c (i32.const 1) (cont.new $tc (ref.func $task))))
    (table.set $ready (i32.const 2) (cont.bind $tc $c (i32.const 2) (cont.new $tc (ref.func $task))))
    (local.set $live (i32.const 3))
    (loop $round
      (local.set $i (i32.const 0))
      (loop $each
        (block $skip
          (br_if $skip (ref.is_null (table.get $ready (local.get $i))))
          (block $yielded (result (ref $c))
            (resume $c (on $yield $yielded) (table.get $ready (local.get $i)))
            ;; returned: the slot empties
            (table.set $ready (local.get $i) (ref.null $c))
            (local.set $live (i32.sub (local.get $live) (i32.const 1)))
            (br $skip))
          (local.set $k)
          (table.set $ready (local.get $i) (local.get $k)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $each (i32.lt_u (local.get $i) (i32.const 3))))
      (br_if $round (local.get $live)))
    (global.get $len))
  (func (export "log") (param i32) (result i32) (i32.load8_u (local.get 0))))
