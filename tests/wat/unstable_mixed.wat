;; A module importing both wasi_snapshot_preview1 (the prelude's calls and the $p1_ ones)
;; and wasi_unstable (the $u_ ones): one fd table behind both, each with its own layouts.
;; On known.txt (1234 bytes), opened through preview1:
;;   unstable fd_seek SET(2) 100, then preview1 fd_seek CUR(1) +10: errno, u64 offset each
;;   preview1 fd_filestat_get (errno, 80 bytes: guard + 64 + guard)
;;   unstable fd_filestat_get (errno, 72 bytes: guard + 56 + guard)
;;   unstable fd_close, then preview1 fd_seek on the closed fd: errno, errno
(module
  (import "wasi_unstable" "fd_seek" (func $u_fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_unstable" "fd_filestat_get" (func $u_fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_unstable" "fd_close" (func $u_fd_close (param i32) (result i32)))
  ;; @prelude
  (data (i32.const 0x8000) "known.txt")
  (func $main (local $fd i32)
    (local.set $fd (call $open (i32.const 0x8000) (i32.const 9) (i32.const 0)
                               (i64.const 0x20002e) (i32.const 0)))
    (call $emit (call $u_fd_seek (local.get $fd) (i64.const 100) (i32.const 2) (i32.const 0x8100)))
    (call $emit64 (i64.load (i32.const 0x8100)))
    (call $emit (call $fd_seek (local.get $fd) (i64.const 10) (i32.const 1) (i32.const 0x8100)))
    (call $emit64 (i64.load (i32.const 0x8100)))
    (call $guard (i32.const 0x9000) (i32.const 0x200))
    (call $emit (call $fd_filestat_get (local.get $fd) (i32.const 0x9008)))
    (call $emit_bytes (i32.const 0x9000) (i32.const 80))
    (call $emit (call $u_fd_filestat_get (local.get $fd) (i32.const 0x9108)))
    (call $emit_bytes (i32.const 0x9100) (i32.const 72))
    (call $emit (call $u_fd_close (local.get $fd)))
    (call $emit (call $fd_seek (local.get $fd) (i64.const 0) (i32.const 1) (i32.const 0x8100)))))
