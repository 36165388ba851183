;; open + close: `bench(n, path_ptr, path_len)` opens the file named at path_ptr below the
;; first preopen (fd 3) for reading and closes it again, n times. The new fd lands at 0x00.
;; Returns 0, or the first non-zero errno.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "bench") (param $n i32) (param $path i32) (param $len i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        ;; dirflags SYMLINK_FOLLOW = 1, no oflags, rights FD_READ (2), no fdflags
        (local.set $errno (call $path_open (i32.const 3) (i32.const 1)
                                           (local.get $path) (local.get $len) (i32.const 0)
                                           (i64.const 2) (i64.const 0) (i32.const 0)
                                           (i32.const 0)))
        (br_if $done (local.get $errno))
        (local.set $errno (call $fd_close (i32.load (i32.const 0))))
        (br_if $done (local.get $errno))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $errno)))
