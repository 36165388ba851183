;; dirent: d_next u64@0, d_ino u64@8, d_namlen u32@16, d_type u8@20, padding@21-23, then the
;; name (not NUL-terminated). Directory "d" holds exactly one file, x.txt.
;; Output, for fd_readdir on "d" with (cookie, buf_len) = (0, 256), (0, 30), (2, 256):
;; errno, bufused, the 256-byte buffer (prefilled with guard bytes);
;; then errno and the 64-byte filestat of d/x.txt (to compare d_ino with ino).
(module
  ;; @prelude
  (data (i32.const 0x8000) "d")
  (data (i32.const 0x8010) "d/x.txt")
  (func $readdir (param $fd i32) (param $cookie i64) (param $len i32)
    (call $guard (i32.const 0x9000) (i32.const 256))
    (call $emit (call $fd_readdir (local.get $fd) (i32.const 0x9000) (local.get $len)
                                  (local.get $cookie) (i32.const 0x8100)))
    (call $emit (i32.load (i32.const 0x8100)))
    (call $emit_bytes (i32.const 0x9000) (i32.const 256)))
  (func $main (local $fd i32)
    ;; O_DIRECTORY with FD_READDIR | FD_FILESTAT_GET
    (local.set $fd (call $open (i32.const 0x8000) (i32.const 1) (i32.const 2)
                               (i64.const 0x204000) (i32.const 0)))
    (call $readdir (local.get $fd) (i64.const 0) (i32.const 256))
    (call $readdir (local.get $fd) (i64.const 0) (i32.const 30))
    (call $readdir (local.get $fd) (i64.const 2) (i32.const 256))
    (call $emit (call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 0x8010)
                                         (i32.const 7) (i32.const 0x9200)))
    (call $emit_bytes (i32.const 0x9200) (i32.const 64))))
