;; fdstat (24 bytes): filetype u8@0, flags u16@2, rights_base u64@8, rights_inheriting u64@16;
;; bytes 1 and 4-7 are padding. Each result buffer has 8 guard bytes on each side.
;; Output: (errno, 40 bytes: guard + fdstat + guard) for known.txt opened with O_APPEND and
;; the rights READ|WRITE|SEEK|TELL|FILESTAT_GET, for the preopen (fd 3) and for stdout.
(module
  ;; @prelude
  (data (i32.const 0x8000) "known.txt")
  (func $fdstat (param $fd i32) (param $buf i32)
    (call $guard (i32.sub (local.get $buf) (i32.const 8)) (i32.const 40))
    (call $emit (call $fd_fdstat_get (local.get $fd) (local.get $buf)))
    (call $emit_bytes (i32.sub (local.get $buf) (i32.const 8)) (i32.const 40)))
  (func $main
    (call $fdstat
      (call $open (i32.const 0x8000) (i32.const 9) (i32.const 0) (i64.const 0x200066) (i32.const 1))
      (i32.const 0x9008))
    (call $fdstat (i32.const 3) (i32.const 0x9108))
    (call $fdstat (i32.const 1) (i32.const 0x9208))))
