;; Per-call cost of the cheapest WASI import: `bench(n)` calls args_sizes_get n times.
;; Returns 0, or the first non-zero errno (which the harness treats as a broken setup).
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "bench") (param $n i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        ;; argc -> [0], argv_buf_size -> [4]
        (local.set $errno (call $args_sizes_get (i32.const 0) (i32.const 4)))
        (br_if $done (local.get $errno))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $errno)))
