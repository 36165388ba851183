;; subscription (48 bytes): userdata u64@0, tag u8@8, payload@16; clock payload: id u32@16,
;; timeout u64@24, precision u64@32, flags u16@40. fd payload: fd u32@16.
;; event (32 bytes): userdata u64@0, error u16@8, type u8@10, padding, nbytes u64@16,
;; flags u16@24, padding@26-31.
;; Subscriptions are built over 0xAA-filled memory, so their padding holds junk the host must
;; ignore. Each poll gets room for two events between guard bytes: 8 + 64 + 8.
;; Output, for a relative clock of 0 ns and for fd_write on stdout (both due at once):
;; errno, nevents, 80 bytes.
(module
  ;; @prelude
  (func $poll (param $sub i32)
    (call $guard (i32.const 0x9000) (i32.const 80))
    (i32.store (i32.const 0x8100) (i32.const 0xAAAAAAAA))
    (call $emit (call $poll_oneoff (local.get $sub) (i32.const 0x9008) (i32.const 1)
                                   (i32.const 0x8100)))
    (call $emit (i32.load (i32.const 0x8100)))
    (call $emit_bytes (i32.const 0x9000) (i32.const 80)))
  (func $main
    (call $guard (i32.const 0x8000) (i32.const 0x100))
    ;; clock: userdata 0x1122334455667788, MONOTONIC, timeout 0, precision 0, relative
    (i64.store (i32.const 0x8000) (i64.const 0x1122334455667788))
    (i32.store8 (i32.const 0x8008) (i32.const 0))
    (i32.store (i32.const 0x8010) (i32.const 1))
    (i64.store (i32.const 0x8018) (i64.const 0))
    (i64.store (i32.const 0x8020) (i64.const 0))
    (i32.store16 (i32.const 0x8028) (i32.const 0))
    (call $poll (i32.const 0x8000))
    ;; fd_write on stdout: userdata 0x8877665544332211
    (i64.store (i32.const 0x8040) (i64.const 0x8877665544332211))
    (i32.store8 (i32.const 0x8048) (i32.const 2))
    (i32.store (i32.const 0x8050) (i32.const 1))
    (call $poll (i32.const 0x8040))))
