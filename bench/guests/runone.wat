;; One complete small run, for runs per second: `_start` opens "f00.txt" in the first
;; preopen (fd 3), reads its 100 bytes, closes it and lists the preopen (one fd_readdir
;; into 4 KiB), then returns. Anything unexpected traps (`unreachable`), so a broken
;; set-up cannot pass for a fast run.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir"
    (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  ;; 0x00 fd, 0x04 nread / bufused, 0x08 iovec {0x100, 256}, 0x100 read buffer,
  ;; 0x1000 readdir buffer, 0x40 the path
  (data (i32.const 0x40) "f00.txt")
  (func (export "_start")
    (local $fd i32)
    (if (call $path_open (i32.const 3) (i32.const 1) (i32.const 0x40) (i32.const 7)
                         (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0)
                         (i32.const 0))
      (then unreachable))
    (local.set $fd (i32.load (i32.const 0)))
    (i32.store (i32.const 0x08) (i32.const 0x100))
    (i32.store (i32.const 0x0C) (i32.const 256))
    (if (call $fd_read (local.get $fd) (i32.const 0x08) (i32.const 1) (i32.const 0x04))
      (then unreachable))
    (if (i32.ne (i32.load (i32.const 0x04)) (i32.const 100)) (then unreachable))
    (if (call $fd_close (local.get $fd)) (then unreachable))
    (if (call $fd_readdir (i32.const 3) (i32.const 0x1000) (i32.const 4096) (i64.const 0)
                          (i32.const 0x04))
      (then unreachable))
    ;; 20 files and "." / ".." fill more than 20 entries' worth of headers
    (if (i32.lt_u (i32.load (i32.const 0x04)) (i32.const 480)) (then unreachable))))
