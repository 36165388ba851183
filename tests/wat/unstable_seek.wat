;; wasi_unstable whence: CUR=0, END=1, SET=2 (preview1 has SET=0, CUR=1, END=2).
;; On known.txt (1234 bytes): each fd_seek emits its errno and the 8 bytes at the result
;; pointer (0xAA guard bytes when nothing was written), then fd_tell (errno, offset) and an
;; fd_read of up to 8 bytes at that position (errno, nread).
(module
  ;; @prelude
  (data (i32.const 0x8000) "known.txt")
  (func $seek (param $fd i32) (param $offset i64) (param $whence i32)
    (call $guard (i32.const 0x8100) (i32.const 8))
    (call $emit (call $fd_seek (local.get $fd) (local.get $offset) (local.get $whence)
                               (i32.const 0x8100)))
    (call $emit_bytes (i32.const 0x8100) (i32.const 8)))
  (func $main (local $fd i32)
    ;; read, seek and tell rights
    (local.set $fd (call $open (i32.const 0x8000) (i32.const 9) (i32.const 0) (i64.const 0x26)
                               (i32.const 0)))
    (call $seek (local.get $fd) (i64.const 100) (i32.const 2))   ;; SET 100   -> 100
    (call $seek (local.get $fd) (i64.const 10) (i32.const 0))    ;; CUR +10   -> 110
    (call $seek (local.get $fd) (i64.const -4) (i32.const 1))    ;; END -4    -> 1230
    (call $seek (local.get $fd) (i64.const 0) (i32.const 0))     ;; CUR +0    -> 1230
    (call $seek (local.get $fd) (i64.const 5) (i32.const 3))     ;; no such whence: EINVAL
    (call $seek (local.get $fd) (i64.const -2000) (i32.const 0)) ;; before 0: EINVAL
    (call $emit (call $fd_tell (local.get $fd) (i32.const 0x8110)))
    (call $emit64 (i64.load (i32.const 0x8110)))
    (i32.store (i32.const 0x8120) (i32.const 0x8200))
    (i32.store (i32.const 0x8124) (i32.const 8))
    (call $emit (call $fd_read (local.get $fd) (i32.const 0x8120) (i32.const 1) (i32.const 0x8128)))
    (call $emit (i32.load (i32.const 0x8128)))))
