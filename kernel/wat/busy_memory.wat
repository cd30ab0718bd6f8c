;; A memory a preempted call holds borrowed (tests/hostile_wasm.rs): `grow`
;; adds 2048 pages (128 MiB), long enough for the preemption stub to stop
;; it inside the grow, which holds the memory's borrow; `size` and `load`
;; then find the memory in use, and trap.
(module
  (memory 1 4096)
  (func (export "grow") (result i32) (memory.grow (i32.const 2048)))
  (func (export "size") (result i32) (memory.size))
  (func (export "load") (result i32) (i32.load (i32.const 0))))
