;; fiber.wat: fibers for C programs, made of the kernel's continuations.
;;
;; A C program (examples/wasi/fibers.c) declares
;;
;;   int fiber_new(void (*body)(int), int arg);   /* a fiber, not started */
;;   int fiber_resume(int fiber, int value);       /* run it to its next yield */
;;   int fiber_yield(int value);                    /* back to the resumer */
;;
;; as imports of module "env", and links with --import-table, so that its
;; function table is imported from "env" too. This module is that "env": `./qemu-run.sh run --link
;; env=examples/wasi/fiber.wat fibers.wasm` instantiates it first,
;; registers it, and links the C module to it, so that the C module's
;; function pointers are indices in the table below.
;;
;; A fiber is a continuation in the table $fibers. fiber_resume resumes
;; it with a handler for $yield: the value the fiber yields comes back as
;; fiber_resume's result, and what the next fiber_resume passes becomes
;; the result of that fiber_yield. A fiber that returned is gone: resuming
;; it (or an index that never was a fiber) gives -1, so -1 means "done"
;; and a fiber should not yield it.
(module
  ;; A C fiber body: void body(int arg).
  (type $body (func (param i32)))
  ;; What a new fiber runs: the body's table index, its argument, and the
  ;; first value it is resumed with (which it does not need).
  (type $start (func (param i32 i32 i32)))
  (type $start_k (cont $start))
  ;; A fiber: resumed with a value, it returns nothing.
  (type $fiber (func (param i32)))
  (type $fiber_k (cont $fiber))

  ;; fiber_yield's value out, the next fiber_resume's value back in.
  (tag $yield (param i32) (result i32))

  ;; The C module's function table (it imports it as
  ;; env.__indirect_function_table): room for 64 function pointers.
  (table $funcs (export "__indirect_function_table") 64 funcref)
  ;; Every fiber made so far; null once it has returned.
  (table $fibers 0 (ref null $fiber_k))

  (func $start (type $start) (param $body i32) (param $arg i32) (param $first i32)
    (call_indirect $funcs (type $body) (local.get $arg) (local.get $body)))
  (elem declare func $start)

  ;; A new fiber that will run body(arg): its index.
  (func (export "fiber_new") (param $body i32) (param $arg i32) (result i32)
    (table.grow $fibers
      (cont.bind $start_k $fiber_k (local.get $body) (local.get $arg)
        (cont.new $start_k (ref.func $start)))
      (i32.const 1)))

  ;; Runs fiber $f until it yields (that value) or returns (-1).
  (func (export "fiber_resume") (param $f i32) (param $v i32) (result i32)
    (local $k (ref null $fiber_k))
    (if (i32.ge_u (local.get $f) (table.size $fibers))
      (then (return (i32.const -1))))
    (local.set $k (table.get $fibers (local.get $f)))
    (if (ref.is_null (local.get $k))
      (then (return (i32.const -1))))
    ;; Taken out while it runs: a fiber that resumes itself finds null.
    (table.set $fibers (local.get $f) (ref.null $fiber_k))
    (block $yielded (result i32 (ref $fiber_k))
      (resume $fiber_k (on $yield $yielded) (local.get $v) (local.get $k))
      ;; It returned: it stays null.
      (return (i32.const -1)))
    ;; It yielded: the value, then the rest of the fiber, which is kept.
    (local.set $k)
    (table.set $fibers (local.get $f) (local.get $k)))

  ;; Suspends the running fiber with $v; returns what resumes it.
  (func (export "fiber_yield") (param $v i32) (result i32)
    (suspend $yield (local.get $v))))
