;; Stat-heavy loop: `bench(n, path_ptr, path_len)` calls path_filestat_get n times on the
;; path the host wrote at path_ptr, relative to the first preopen (fd 3), following symlinks.
;; The 64-byte filestat lands at 0x100. Returns 0, or the first non-zero errno.
(module
  (import "wasi_snapshot_preview1" "path_filestat_get"
    (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "bench") (param $n i32) (param $path i32) (param $len i32) (result i32)
    (local $errno i32)
    (block $done
      (loop $next
        (br_if $done (i32.eqz (local.get $n)))
        ;; fd 3, LOOKUPFLAGS_SYMLINK_FOLLOW = 1
        (local.set $errno (call $path_filestat_get (i32.const 3) (i32.const 1)
                                                   (local.get $path) (local.get $len)
                                                   (i32.const 0x100)))
        (br_if $done (local.get $errno))
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br $next)))
    (local.get $errno)))
