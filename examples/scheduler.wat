;; A cooperative scheduler in WebAssembly: three tasks, each a
;; continuation in a table, print their progress and yield; the scheduler
;; resumes them round-robin until every one has returned. Task i runs
;; i + 1 steps and prints 10 * i + step at each.
;;
;;   ./qemu-run.sh wasm examples/scheduler.wat
(module
  (import "spectest" "print_i32" (func $print (param i32)))
  (type $task (func (param i32)))
  (type $task_cont (cont $task))
  (type $rest (func))
  (type $rest_cont (cont $rest))
  (tag $yield)
  (table $ready 3 (ref null $rest_cont))

  (func $task (param $id i32) (local $step i32)
    (loop $again
      (call $print (i32.add (i32.mul (local.get $id) (i32.const 10)) (local.get $step)))
      (suspend $yield)
      (local.set $step (i32.add (local.get $step) (i32.const 1)))
      (br_if $again (i32.le_u (local.get $step) (local.get $id)))))
  (elem declare func $task)

  (func $spawn (param $id i32)
    (table.set $ready (local.get $id)
      (cont.bind $task_cont $rest_cont (local.get $id)
        (cont.new $task_cont (ref.func $task)))))

  ;; Runs every task to its end; returns how many resumes it took.
  (func (export "main") (result i32)
    (local $i i32) (local $live i32) (local $resumes i32) (local $k (ref null $rest_cont))
    (call $spawn (i32.const 0))
    (call $spawn (i32.const 1))
    (call $spawn (i32.const 2))
    (local.set $live (i32.const 3))
    (loop $round
      (local.set $i (i32.const 0))
      (loop $each
        (block $next
          (br_if $next (ref.is_null (table.get $ready (local.get $i))))
          (local.set $resumes (i32.add (local.get $resumes) (i32.const 1)))
          (block $yielded (result (ref $rest_cont))
            (resume $rest_cont (on $yield $yielded) (table.get $ready (local.get $i)))
            (table.set $ready (local.get $i) (ref.null $rest_cont))
            (local.set $live (i32.sub (local.get $live) (i32.const 1)))
            (br $next))
          (local.set $k)
          (table.set $ready (local.get $i) (local.get $k)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $each (i32.lt_u (local.get $i) (i32.const 3))))
      (br_if $round (local.get $live)))
    (local.get $resumes)))
