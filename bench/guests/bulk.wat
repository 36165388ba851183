;; Bulk I/O throughput. Both exports open `path` (host-written at path_ptr) below the first
;; preopen (fd 3), move `total` bytes through fd_write / fd_read in `chunk`-byte calls (one
;; iovec each, buffer at 0x10000), and close it again.
;;   write_file: open (creating it if missing), then write `total` bytes from offset 0;
;;   read_file:  read until `total` bytes have arrived (reads may be short).
;; Both return 0, a WASI errno, or 0xFFFF when a write was short or EOF came early.
;; `total` must be a multiple of `chunk`; chunk <= 1 MiB (the memory holds 0x10000 + 1 MiB).
;; write_file does not truncate: the harness deletes the file first (untimed), so each write
;; makes a new file, and O_TRUNC's side effects (ext4 flushes a file truncated to 0 when it
;; is closed) stay out of the numbers.
(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close"
    (func $fd_close (param i32) (result i32)))
  (memory (export "memory") 17)

  ;; scratch: 0x00 fd, 0x04 nread/nwritten, 0x08 iovec {buf, len}
  (global $FD i32 (i32.const 0x00))
  (global $DONE i32 (i32.const 0x04))
  (global $IOV i32 (i32.const 0x08))
  (global $BUF i32 (i32.const 0x10000))
  (global $SHORT i32 (i32.const 0xFFFF))

  ;; path_open relative to fd 3 with the rights a file needs (read, write, seek, tell, filestat
  ;; get: asking for more, such as socket rights, is ENOTCAPABLE on node); the new fd lands at $FD.
  (func $open (param $path i32) (param $len i32) (param $oflags i32) (result i32)
    (call $path_open (i32.const 3) (i32.const 0) (local.get $path) (local.get $len)
                     (local.get $oflags) (i64.const 0x200066) (i64.const 0)
                     (i32.const 0) (global.get $FD)))

  (func (export "write_file") (param $path i32) (param $len i32) (param $total i32)
                              (param $chunk i32) (result i32)
    (local $errno i32) (local $fd i32)
    ;; OFLAGS_CREAT
    (local.set $errno (call $open (local.get $path) (local.get $len) (i32.const 1)))
    (if (local.get $errno) (then (return (local.get $errno))))
    (local.set $fd (i32.load (global.get $FD)))
    (i32.store (global.get $IOV) (global.get $BUF))
    (i32.store offset=4 (global.get $IOV) (local.get $chunk))
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $total)))
        (local.set $errno (call $fd_write (local.get $fd) (global.get $IOV) (i32.const 1)
                                          (global.get $DONE)))
        (br_if $done (local.get $errno))
        (if (i32.ne (i32.load (global.get $DONE)) (local.get $chunk))
          (then (local.set $errno (global.get $SHORT)) (br $done)))
        (local.set $total (i32.sub (local.get $total) (local.get $chunk)))
        (br $next)))
    (drop (call $fd_close (local.get $fd)))
    (local.get $errno))

  (func (export "read_file") (param $path i32) (param $len i32) (param $total i32)
                             (param $chunk i32) (result i32)
    (local $errno i32) (local $fd i32) (local $got i32)
    (local.set $errno (call $open (local.get $path) (local.get $len) (i32.const 0)))
    (if (local.get $errno) (then (return (local.get $errno))))
    (local.set $fd (i32.load (global.get $FD)))
    (i32.store (global.get $IOV) (global.get $BUF))
    (i32.store offset=4 (global.get $IOV) (local.get $chunk))
    (block $done
      (loop $next
        (br_if $done (i32.le_s (local.get $total) (i32.const 0)))
        (local.set $errno (call $fd_read (local.get $fd) (global.get $IOV) (i32.const 1)
                                         (global.get $DONE)))
        (br_if $done (local.get $errno))
        (local.set $got (i32.load (global.get $DONE)))
        (if (i32.eqz (local.get $got))
          (then (local.set $errno (global.get $SHORT)) (br $done)))
        (local.set $total (i32.sub (local.get $total) (local.get $got)))
        (br $next)))
    (drop (call $fd_close (local.get $fd)))
    (local.get $errno)))
