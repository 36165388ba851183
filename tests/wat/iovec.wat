;; Scatter/gather: iovec arrays with an empty entry in the middle, guard bytes around and
;; between the buffers (0x9000-0x90ff). A short transfer is legal; bytes must land in order.
;; Output: fd_read(stdin) errno, nread, the 64 bytes at 0x9000;
;; fd_pwrite(new.bin, ["ab", "", "cde"], offset 2) errno, nwritten;
;; fd_pread(new.bin, [2 bytes @0x9088, 0 @0x9098, 4 @0x90a8], offset 1) errno, nread,
;; the 64 bytes at 0x9080.
(module
  ;; @prelude
  (data (i32.const 0x8200) "ab")
  (data (i32.const 0x8210) "cde")
  (data (i32.const 0x8300) "new.bin")
  (func $iov (param $at i32) (param $buf i32) (param $len i32)
    (i32.store (local.get $at) (local.get $buf))
    (i32.store (i32.add (local.get $at) (i32.const 4)) (local.get $len)))
  (func $main (local $fd i32)
    (call $guard (i32.const 0x9000) (i32.const 0x100))
    (call $iov (i32.const 0x8000) (i32.const 0x9008) (i32.const 2))
    (call $iov (i32.const 0x8008) (i32.const 0x9018) (i32.const 0))
    (call $iov (i32.const 0x8010) (i32.const 0x9028) (i32.const 3))
    (call $emit (call $fd_read (i32.const 0) (i32.const 0x8000) (i32.const 3) (i32.const 0x8100)))
    (call $emit (i32.load (i32.const 0x8100)))
    (call $emit_bytes (i32.const 0x9000) (i32.const 64))
    (local.set $fd (call $open (i32.const 0x8300) (i32.const 7) (i32.const 9)
                               (i64.const 0x1fffffff) (i32.const 0)))
    (call $iov (i32.const 0x8020) (i32.const 0x8200) (i32.const 2))
    (call $iov (i32.const 0x8028) (i32.const 0x8200) (i32.const 0))
    (call $iov (i32.const 0x8030) (i32.const 0x8210) (i32.const 3))
    (call $emit (call $fd_pwrite (local.get $fd) (i32.const 0x8020) (i32.const 3) (i64.const 2)
                                 (i32.const 0x8100)))
    (call $emit (i32.load (i32.const 0x8100)))
    (call $iov (i32.const 0x8040) (i32.const 0x9088) (i32.const 2))
    (call $iov (i32.const 0x8048) (i32.const 0x9098) (i32.const 0))
    (call $iov (i32.const 0x8050) (i32.const 0x90a8) (i32.const 4))
    (call $emit (call $fd_pread (local.get $fd) (i32.const 0x8040) (i32.const 3) (i64.const 1)
                                (i32.const 0x8100)))
    (call $emit (i32.load (i32.const 0x8100)))
    (call $emit_bytes (i32.const 0x9080) (i32.const 64))))
