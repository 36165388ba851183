;; A full directory listing: `bench(n, min_entries)` reads the whole of the first preopen (fd 3) n times,
;; each time from cookie 0 (a rewind) into a 192 KiB buffer at 0x10000, calling fd_readdir
;; again from the last complete entry's d_next until a call leaves the buffer part-full, as
;; wasi-libc's readdir does. Returns 0, a WASI errno, 0xFFFF if an entry was larger than the
;; buffer, or 0xFFFE if a listing held fewer than `min_entries` entries.
(module
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 4)
  (global $BUF i32 (i32.const 0x10000))
  (global $SIZE i32 (i32.const 0x30000))
  (func $list (result i32)
    (local $errno i32) (local $cookie i64) (local $used i32) (local $at i32)
    (local $end i32) (local $count i32) (local $next i32)
    (loop $call
      (local.set $errno (call $fd_readdir (i32.const 3) (global.get $BUF) (global.get $SIZE)
                                          (local.get $cookie) (i32.const 0)))
      (if (local.get $errno) (then (return (local.get $errno))))
      (local.set $used (i32.load (i32.const 0)))
      (local.set $at (global.get $BUF))
      (local.set $end (i32.add (global.get $BUF) (local.get $used)))
      ;; walk the complete entries: 24-byte header (d_next u64, d_ino u64, d_namlen u32,
      ;; d_type u8) + name
      (block $walked
        (loop $entry
          (br_if $walked (i32.gt_u (i32.add (local.get $at) (i32.const 24)) (local.get $end)))
          (local.set $next (i32.add (i32.add (local.get $at) (i32.const 24))
                                    (i32.load offset=16 (local.get $at))))
          (br_if $walked (i32.gt_u (local.get $next) (local.get $end)))
          (local.set $cookie (i64.load (local.get $at)))
          (local.set $count (i32.add (local.get $count) (i32.const 1)))
          (local.set $at (local.get $next))
          (br $entry)))
      (if (i32.eq (local.get $used) (global.get $SIZE))
        (then
          ;; a full buffer with no complete entry: nothing can make progress
          (if (i32.eq (local.get $at) (global.get $BUF)) (then (return (i32.const 0xFFFF))))
          (br $call))))
    (i32.store (i32.const 0x08) (local.get $count))
    (i32.const 0))
  (func (export "bench") (param $n i32) (param $min i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $errno (call $list))
        (br_if $done (local.get $errno))
        (if (i32.lt_u (i32.load (i32.const 0x08)) (local.get $min))
          (then (local.set $errno (i32.const 0xFFFE))))
        (br_if $done (local.get $errno))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $errno)))
