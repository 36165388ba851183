;; filestat (64 bytes): dev@0 ino@8 filetype u8@16 (+7 padding) nlink u64@24 size@32
;; atim@40 mtim@48 ctim@56. Every result buffer has 8 guard bytes on each side.
;; Output: nwritten, then three times (errno, 80 bytes: guard + filestat + guard) for
;; fd_filestat_get(new.bin), path_filestat_get(new.bin), fd_filestat_get(preopen dir);
;; then (errno, 80 bytes) for path_filestat_get of the last 64 bytes of memory.
(module
  ;; @prelude
  (data (i32.const 0x8000) "new.bin")
  (func $stat_result (param $errno i32) (param $buf i32)
    (call $emit (local.get $errno))
    (call $emit_bytes (i32.sub (local.get $buf) (i32.const 8)) (i32.const 80)))
  (func $main (local $fd i32)
    ;; O_CREAT|O_TRUNC, then write 1000 bytes from 0x8100 in one call.
    (local.set $fd (call $open (i32.const 0x8000) (i32.const 7) (i32.const 9)
                               (i64.const 0x1fffffff) (i32.const 0)))
    (i32.store (i32.const 0x8020) (i32.const 0x8100))
    (i32.store (i32.const 0x8024) (i32.const 1000))
    (call $must (call $fd_write (local.get $fd) (i32.const 0x8020) (i32.const 1) (i32.const 0x8028)))
    (call $emit (i32.load (i32.const 0x8028)))
    (call $guard (i32.const 0x9000) (i32.const 0x300))
    (call $stat_result (call $fd_filestat_get (local.get $fd) (i32.const 0x9008)) (i32.const 0x9008))
    (call $stat_result
      (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 0x8000) (i32.const 7)
                               (i32.const 0x9108))
      (i32.const 0x9108))
    (call $stat_result (call $fd_filestat_get (i32.const 3) (i32.const 0x9208)) (i32.const 0x9208))
    ;; The very last 64 bytes of memory are a valid destination.
    (call $guard (i32.sub (call $memend) (i32.const 72)) (i32.const 72))
    (call $emit (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 0x8000)
                                         (i32.const 7) (i32.sub (call $memend) (i32.const 64))))
    (call $emit_bytes (i32.sub (call $memend) (i32.const 72)) (i32.const 72))))
