;; Two memories in the kernel's page tables, each in a slot of its own: a
;; 32-bit one with bytes to copy, and a 64-bit one (i64 addresses and
;; sizes) that they are copied into (`wasm/memory.rs`, multi-memory and
;; memory64).
(module
  (memory $small 1)
  (memory $wide i64 1 3)
  (data (memory $small) (i32.const 100) "\11\22\33\44\55\66\77\88")
  ;; Copies the 8 bytes at 100 of $small to $to of $wide.
  (func (export "copy") (param $to i64)
    (memory.copy $wide $small (local.get $to) (i32.const 100) (i32.const 8)))
  (func (export "load_wide") (param $at i64) (result i64)
    (i64.load $wide (local.get $at)))
  ;; An address of 4 GiB + 100: the bytes at 100 if it were cut to 32
  ;; bits; out of bounds.
  (func (export "load_above_4_gib") (result i64)
    (i64.load $wide (i64.const 0x1_0000_0064)))
  (func (export "grow_wide") (param $by i64) (result i64)
    (memory.grow $wide (local.get $by)))
  (func (export "sizes") (result i32 i64)
    (memory.size $small) (memory.size $wide)))
