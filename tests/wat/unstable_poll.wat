;; wasi_unstable subscription (56 bytes): userdata u64@0, tag u8@8, payload@16; the clock
;; payload is identifier u64@16, id u32@24, timeout u64@32, precision u64@40, flags u16@48
;; (preview1: 48 bytes, no identifier). fd payload: fd u32@16. Events are 32 bytes, as in
;; preview1. Subscriptions are built over 0xAA-filled memory (junk in every gap), with an
;; identifier whose low half is no valid clock id, so a host reading the preview1 layout
;; answers differently. Each poll gets room for two events between guard bytes (8 + 64 + 8).
;; Output for each of three polls: errno, nevents, 80 bytes.
;;   1. one relative MONOTONIC clock, timeout 0
;;   2. a MONOTONIC clock an hour away, then (at +56) fd_write on stdout: only the latter fires
;;   3. one absolute REALTIME clock at time 0 (long past)
(module
  ;; @prelude
  (func $poll (param $sub i32) (param $n i32)
    (call $guard (i32.const 0x9000) (i32.const 80))
    (i32.store (i32.const 0x8ff0) (i32.const 0xAAAAAAAA))
    (call $emit (call $poll_oneoff (local.get $sub) (i32.const 0x9008) (local.get $n)
                                   (i32.const 0x8ff0)))
    (call $emit (i32.load (i32.const 0x8ff0)))
    (call $emit_bytes (i32.const 0x9000) (i32.const 80)))
  (func $clock (param $at i32) (param $userdata i64) (param $id i32) (param $timeout i64)
               (param $flags i32)
    (i64.store (local.get $at) (local.get $userdata))
    (i32.store8 (i32.add (local.get $at) (i32.const 8)) (i32.const 0))
    (i64.store (i32.add (local.get $at) (i32.const 16)) (i64.const 0x7777777777777777))
    (i32.store (i32.add (local.get $at) (i32.const 24)) (local.get $id))
    (i64.store (i32.add (local.get $at) (i32.const 32)) (local.get $timeout))
    (i64.store (i32.add (local.get $at) (i32.const 40)) (i64.const 0))
    (i32.store16 (i32.add (local.get $at) (i32.const 48)) (local.get $flags)))
  (func $main
    (call $guard (i32.const 0x8000) (i32.const 0x200))
    (call $clock (i32.const 0x8000) (i64.const 0x1122334455667788) (i32.const 1) (i64.const 0)
                 (i32.const 0))
    (call $poll (i32.const 0x8000) (i32.const 1))
    (call $clock (i32.const 0x8040) (i64.const 0xA0) (i32.const 1) (i64.const 3600000000000)
                 (i32.const 0))
    (i64.store (i32.const 0x8078) (i64.const 0xB1))
    (i32.store8 (i32.const 0x8080) (i32.const 2))
    (i32.store (i32.const 0x8088) (i32.const 1))
    (call $poll (i32.const 0x8040) (i32.const 2))
    (call $clock (i32.const 0x8100) (i64.const 0xC2) (i32.const 0) (i64.const 0) (i32.const 1))
    (call $poll (i32.const 0x8100) (i32.const 1))))
