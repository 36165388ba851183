;; prestat (8 bytes): tag u8@0 (0 = dir), padding@1-3, pr_name_len u32@4.
;; Output: errno, 24 bytes (guard + prestat + guard) of fd_prestat_get(3); then errno and
;; 24 bytes around a buffer of exactly pr_name_len for fd_prestat_dir_name(3) (no NUL is
;; written past the name).
(module
  ;; @prelude
  (func $main
    (call $guard (i32.const 0x9000) (i32.const 0x200))
    (call $emit (call $fd_prestat_get (i32.const 3) (i32.const 0x9008)))
    (call $emit_bytes (i32.const 0x9000) (i32.const 24))
    (call $emit (call $fd_prestat_dir_name (i32.const 3) (i32.const 0x9108)
                                           (i32.load (i32.const 0x900c))))
    (call $emit_bytes (i32.const 0x9100) (i32.const 24))))
