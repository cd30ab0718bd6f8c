;; A memory of one page, no maximum, that the tests grow (to 256 MiB and
;; beyond) and read and write at its last byte: the linear memory as pages
;; of its own slot of the kernel's address space (`wasm/memory.rs`).
(module
  (memory 1)
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))
  (func (export "size") (result i32) (memory.size))
  ;; The address of the memory's last byte.
  (func $last (result i32)
    (i32.sub (i32.mul (memory.size) (i32.const 65536)) (i32.const 1)))
  (func (export "store_last") (param $v i32)
    (i32.store8 (call $last) (local.get $v)))
  (func (export "load_last") (result i32)
    (i32.load8_u (call $last)))
  ;; A load of the first byte past the end: out of bounds.
  (func (export "load_past_end") (result i32)
    (i32.load8_u (i32.add (call $last) (i32.const 1)))))
