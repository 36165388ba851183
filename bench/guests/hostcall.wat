;; Fixed cost per host call, and 4 KiB I/O through it (bench/hostcall.py).
;;   trivial(n):        args_sizes_get n times
;;   open(path, len):   path_open below the first preopen (fd 3), rights fd_read|fd_write;
;;                      the new fd lands at [0]
;;   io(read, fd, n):   n fd_write (read = 0) or fd_read (read = 1) calls of one 4 KiB iovec
;; Each returns 0, the first non-zero WASI errno, or 0xFFFF for a short read or write.
(module
  (import "wasi_snapshot_preview1" "args_sizes_get"
    (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; scratch: 0x00 fd, 0x04 nread/nwritten, 0x08 iovec {0x1000, 4096}, 0x200 path
  (func (export "trivial") (param $n i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $errno (call $args_sizes_get (i32.const 0x10) (i32.const 0x14)))
        (br_if $done (local.get $errno))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $errno))

  (func (export "open") (param $path i32) (param $len i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (local.get $len)
                     (i32.const 0) (i64.const 0x42) (i64.const 0)
                     (i32.const 0) (i32.const 0)))

  (func (export "io") (param $read i32) (param $fd i32) (param $n i32) (result i32)
    (local $errno i32)
    (i32.store (i32.const 0x08) (i32.const 0x1000))
    (i32.store (i32.const 0x0C) (i32.const 4096))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        (local.set $errno
          (if (result i32) (local.get $read)
            (then (call $fd_read (local.get $fd) (i32.const 0x08) (i32.const 1) (i32.const 0x04)))
            (else (call $fd_write (local.get $fd) (i32.const 0x08) (i32.const 1) (i32.const 0x04)))))
        (br_if $done (local.get $errno))
        (if (i32.ne (i32.load (i32.const 0x04)) (i32.const 4096))
          (then (local.set $errno (i32.const 0xFFFF)) (br $done)))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $errno)))
