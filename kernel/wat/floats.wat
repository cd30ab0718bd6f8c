;; Float instructions, which the kernel computes in software.
(module
  (func (export "f") (param f64) (result f64)
    (f64.sqrt (f64.add (local.get 0) (f64.const 0.25))))
  (func (export "nearest") (param f32) (result f32) (f32.nearest (local.get 0)))
  (func (export "to_int") (param f64) (result i32) (i32.trunc_f64_s (local.get 0))))
