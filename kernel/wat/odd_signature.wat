;; One function whose signature no other module of the kernel has, so that
;; loading this module interns a list of slot types of its own.
(module
  (func (export "odd") (param i32 i64 f32 f64 i64 i32 f64 i32 i32) (result f32 i64 i32 i32 i64)
    unreachable))
