;; Shared helpers for every WAT guest. tests/test_wat_abi.py inserts this text, preceded by
;; the wasi_snapshot_preview1 imports the module mentions, at the module's ";; @prelude" line.
;;
;; Memory map (one page to start with):
;;   0x0000-0x00ff  scratch for these helpers
;;   0x1000-0x7fff  output buffer: $emit* append to it, $flush writes it to stdout at the end
;;   0x8000-        free for the guest's own data
;; Results therefore reach Python as one little-endian blob, appended after anything the
;; guest wrote to stdout itself. A failing setup step ($must) emits its errno, flushes and
;; exits with 125.

(memory (export "memory") 1)
(global $out (mut i32) (i32.const 0x1000))

(func $memend (result i32)
  (i32.mul (memory.size) (i32.const 0x10000)))

(func $emit (param $v i32)
  (i32.store (global.get $out) (local.get $v))
  (global.set $out (i32.add (global.get $out) (i32.const 4))))

(func $emit64 (param $v i64)
  (i64.store (global.get $out) (local.get $v))
  (global.set $out (i32.add (global.get $out) (i32.const 8))))

(func $emit_bytes (param $p i32) (param $n i32)
  (memory.copy (global.get $out) (local.get $p) (local.get $n))
  (global.set $out (i32.add (global.get $out) (local.get $n))))

;; Fill [p, p+n) with the 0xAA guard byte.
(func $guard (param $p i32) (param $n i32)
  (memory.fill (local.get $p) (i32.const 0xAA) (local.get $n)))

(func $must (param $errno i32)
  (if (local.get $errno)
    (then
      (call $emit (local.get $errno))
      (call $flush)
      (call $proc_exit (i32.const 125)))))

;; path_open relative to the preopen (fd 3), following symlinks; returns the new fd.
(func $open (param $path i32) (param $len i32) (param $oflags i32) (param $rights i64)
            (param $fdflags i32) (result i32)
  (call $must (call $path_open (i32.const 3) (i32.const 1) (local.get $path) (local.get $len)
    (local.get $oflags) (local.get $rights) (local.get $rights) (local.get $fdflags)
    (i32.const 0x10)))
  (i32.load (i32.const 0x10)))

;; Write the output buffer to stdout, coping with short writes.
(func $flush (local $p i32)
  (local.set $p (i32.const 0x1000))
  (block $done
    (loop $more
      (br_if $done (i32.ge_u (local.get $p) (global.get $out)))
      (i32.store (i32.const 0) (local.get $p))
      (i32.store (i32.const 4) (i32.sub (global.get $out) (local.get $p)))
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))
        (then unreachable))
      (if (i32.eqz (i32.load (i32.const 8))) (then unreachable))
      (local.set $p (i32.add (local.get $p) (i32.load (i32.const 8))))
      (br $more))))

(func (export "_start")
  (call $main)
  (call $flush))
