;; hello world: `_start` writes "hello\n" to stdout (fd 1) and returns; traps on an error.
;; For whole-process cold start (`vfswasi run hello.wasm` and its counterparts).
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x10) "hello\n")
  (func (export "_start")
    (i32.store (i32.const 0x00) (i32.const 0x10))
    (i32.store (i32.const 0x04) (i32.const 6))
    (if (call $fd_write (i32.const 1) (i32.const 0x00) (i32.const 1) (i32.const 0x08))
      (then unreachable))))
