;; wasi_unstable filestat (56 bytes): dev@0 ino@8 filetype u8@16 (+3 padding) nlink u32@20
;; size@24 atim@32 mtim@40 ctim@48 -- 8 bytes shorter than preview1's 64, with nlink a u32.
;; new.bin (1000 bytes) gets a hard link first, so nlink is 2. Every result buffer has 8 guard
;; bytes on each side: the 8 after the struct are where preview1's layout would still write.
;; Output: nwritten, link errno, then three times (errno, 72 bytes: guard + filestat + guard)
;; for fd_filestat_get(new.bin), path_filestat_get(link.bin), fd_filestat_get(preopen dir);
;; then (errno, 64 bytes: guard + filestat) for fd_filestat_get into the last 56 bytes of
;; memory, which only the 56-byte layout fits.
(module
  ;; @prelude
  (data (i32.const 0x8000) "new.bin")
  (data (i32.const 0x8010) "link.bin")
  (func $stat_result (param $errno i32) (param $buf i32)
    (call $emit (local.get $errno))
    (call $emit_bytes (i32.sub (local.get $buf) (i32.const 8)) (i32.const 72)))
  (func $main (local $fd i32)
    ;; O_CREAT|O_TRUNC, then write 1000 bytes from 0x8100 in one call.
    (local.set $fd (call $open (i32.const 0x8000) (i32.const 7) (i32.const 9)
                               (i64.const 0x1fffffff) (i32.const 0)))
    (i32.store (i32.const 0x8020) (i32.const 0x8100))
    (i32.store (i32.const 0x8024) (i32.const 1000))
    (call $must (call $fd_write (local.get $fd) (i32.const 0x8020) (i32.const 1) (i32.const 0x8028)))
    (call $emit (i32.load (i32.const 0x8028)))
    (call $emit (call $path_link (i32.const 3) (i32.const 0) (i32.const 0x8000) (i32.const 7)
                                 (i32.const 3) (i32.const 0x8010) (i32.const 8)))
    (call $guard (i32.const 0x9000) (i32.const 0x300))
    (call $stat_result (call $fd_filestat_get (local.get $fd) (i32.const 0x9008)) (i32.const 0x9008))
    (call $stat_result
      (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 0x8010) (i32.const 8)
                               (i32.const 0x9108))
      (i32.const 0x9108))
    (call $stat_result (call $fd_filestat_get (i32.const 3) (i32.const 0x9208)) (i32.const 0x9208))
    (call $guard (i32.sub (call $memend) (i32.const 64)) (i32.const 64))
    (call $emit (call $fd_filestat_get (local.get $fd) (i32.sub (call $memend) (i32.const 56))))
    (call $emit_bytes (i32.sub (call $memend) (i32.const 64)) (i32.const 64))))
