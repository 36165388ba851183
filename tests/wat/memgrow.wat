;; memory.grow inside _start, then every kind of pointer (iovec array, data, results, path)
;; points into the new pages: the host must look at the memory as it is now, not as it was
;; at the first call.
;; Output: "from the new page\n" written by fd_write straight from page 2, then
;; errno of a call before growing; old size (pages); fd_write errno, nwritten;
;; args_sizes_get errno, argc, argv_buf_size (results in the last 8 bytes of page 2);
;; random_get errno, "not all zero"; path_filestat_get errno, size (path in page 2);
;; after a second grow to 4 pages: clock_time_get errno into the last 8 bytes, "nonzero".
(module
  ;; @prelude
  (data (i32.const 0x8000) "from the new page\n")
  (data (i32.const 0x8020) "known.txt")
  (func $any_nonzero (param $p i32) (param $n i32) (result i32) (local $acc i32)
    (block $done
      (loop $more
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $acc (i32.or (local.get $acc) (i32.load8_u (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $more)))
    (i32.ne (local.get $acc) (i32.const 0)))
  (func $main
    (call $emit (call $args_sizes_get (i32.const 0x8100) (i32.const 0x8104)))
    (call $emit (memory.grow (i32.const 1)))
    ;; iovec at 0x10000 -> text copied to 0x10100
    (memory.copy (i32.const 0x10100) (i32.const 0x8000) (i32.const 18))
    (i32.store (i32.const 0x10000) (i32.const 0x10100))
    (i32.store (i32.const 0x10004) (i32.const 18))
    (call $emit (call $fd_write (i32.const 1) (i32.const 0x10000) (i32.const 1) (i32.const 0x10008)))
    (call $emit (i32.load (i32.const 0x10008)))
    (call $emit (call $args_sizes_get (i32.const 0x1fff8) (i32.const 0x1fffc)))
    (call $emit (i32.load (i32.const 0x1fff8)))
    (call $emit (i32.load (i32.const 0x1fffc)))
    (memory.fill (i32.const 0x1f000) (i32.const 0) (i32.const 0x100))
    (call $emit (call $random_get (i32.const 0x1f000) (i32.const 0x100)))
    (call $emit (call $any_nonzero (i32.const 0x1f000) (i32.const 0x100)))
    (memory.copy (i32.const 0x1e000) (i32.const 0x8020) (i32.const 9))
    (call $emit (call $path_filestat_get (i32.const 3) (i32.const 1) (i32.const 0x1e000)
                                         (i32.const 9) (i32.const 0x1e100)))
    (call $emit64 (i64.load (i32.const 0x1e120)))
    (drop (memory.grow (i32.const 2)))
    (i64.store (i32.const 0x3fff8) (i64.const 0))
    (call $emit (call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 0x3fff8)))
    (call $emit (i64.ne (i64.load (i32.const 0x3fff8)) (i64.const 0)))))
