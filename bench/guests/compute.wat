;; What epoch interruption costs pure wasm: `bench(n)` runs n iterations of a loop that calls
;; a small function (an epoch check at each function entry and loop header) and never calls
;; WASI. Returns 0 (the harness treats anything else as a broken setup).
(module
  (memory (export "memory") 1)
  (func $mix (param $x i32) (result i32)
    (i32.xor (i32.mul (local.get $x) (i32.const 1103515245)) (i32.const 12345)))
  (func (export "bench") (param $n i32) (result i32)
    (local $acc i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (call $mix (i32.add (local.get $acc) (local.get $n))))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    ;; keep $acc alive without making the result depend on it
    (i32.store (i32.const 0) (local.get $acc))
    (i32.const 0)))
