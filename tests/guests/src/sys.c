/* sys: raw wasi_snapshot_preview1 calls (no libc I/O wrappers), printing deterministic facts.
 *
 *   sys args ARG...          argc/argv as the host reports them, consistency of the two calls
 *   sys env                  environ_sizes_get / environ_get, sorted
 *   sys clocks NOW_S         all four clocks; NOW_S = the host's realtime in seconds
 *   sys clock_invalid res|time ID   one call with an unknown clock id
 *   sys sleep NS             poll_oneoff on one relative clock
 *   sys poll CASE [PATH OFF] CASE: abs past two zero fdread fdwrite badfd userdata
 *                            (fdread: PATH under fd 3, read position OFF)
 *   sys random N             random_get of N bytes
 *   sys exit CODE            proc_exit
 *   sys raise SIG            proc_raise (must return an errno, never signal the host)
 *   sys yield                sched_yield
 *   sys sock PATH            sock_* on stdin, a file (PATH, under the preopen fd 3) and fd 3
 *   sys stdio                fdstat of 0-2, gathered writes, chunked echo of stdin, seek on stdio
 *   sys prestat              fd_prestat_get / dir_name from fd 3 up to the first EBADF
 *   sys fdstat_badfd         every fd_* call on fd 99
 *   sys advise PATH          fd_advise with every advice value
 *   sys advise_invalid PATH A   fd_advise with an unknown advice value A
 *   sys close_stdio          close fd 1, then write to it (report goes to stderr)
 *
 * Output is one fact per line, "key value ...", numbers in decimal; errnos are numeric.
 * Exit code 0 unless the subcommand says otherwise; a broken invariant prints "FAIL ..." and
 * exits 1.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

/* Not declared by every wasi-libc: proc_raise is still part of preview1. */
__wasi_errno_t sys_proc_raise(uint32_t sig)
    __attribute__((__import_module__("wasi_snapshot_preview1"), __import_name__("proc_raise")));

#define GUARD 0xAA
#define MS 1000000ull

static int failed = 0;

static void write_all(int fd, const void *data, size_t len) {
    const uint8_t *p = data;
    while (len > 0) {
        __wasi_ciovec_t iov = {p, len};
        __wasi_size_t n = 0;
        if (__wasi_fd_write(fd, &iov, 1, &n) != 0 || n == 0) return;
        p += n;
        len -= n;
    }
}

static void vout(int fd, const char *fmt, va_list ap) {
    char buf[1024];
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    if (n < 0) return;
    write_all(fd, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void out(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vout(1, fmt, ap);
    va_end(ap);
}

static void err(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vout(2, fmt, ap);
    va_end(ap);
}

static void check(int ok, const char *what) {
    if (!ok) {
        out("FAIL %s\n", what);
        failed = 1;
    }
}

static int guard_ok(const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (p[i] != GUARD) return 0;
    return 1;
}

static uint64_t now(__wasi_clockid_t id) {
    __wasi_timestamp_t t = 0;
    check(__wasi_clock_time_get(id, 1, &t) == 0, "clock_time_get");
    return t;
}

static __wasi_fd_t open_file(const char *path) {
    __wasi_fd_t fd = (__wasi_fd_t)-1;
    __wasi_rights_t rights = __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_SEEK | __WASI_RIGHTS_FD_TELL |
                             __WASI_RIGHTS_FD_ADVISE | __WASI_RIGHTS_FD_FILESTAT_GET |
                             __WASI_RIGHTS_POLL_FD_READWRITE;
    __wasi_errno_t e = __wasi_path_open(3, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, path, 0, rights, 0, 0,
                                        &fd);
    if (e != 0) {
        out("FAIL open %s errno %d\n", path, e);
        exit(1);
    }
    return fd;
}

/* --- args / env ------------------------------------------------------------------------- */

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Shared by args and environ: sizes call, then the get call into guarded buffers. */
static char **fetch_strings(__wasi_errno_t (*sizes)(__wasi_size_t *, __wasi_size_t *),
                            __wasi_errno_t (*get)(uint8_t **, uint8_t *), __wasi_size_t *count,
                            const char *label) {
    __wasi_size_t n = 0, size = 0;
    check(sizes(&n, &size) == 0, "sizes_get");
    out("%s_count %u\n%s_bufsize %u\n", label, n, label, size);
    uint8_t **ptrs = malloc((n + 4) * sizeof *ptrs);
    uint8_t *buf = malloc(size + 32);
    memset(ptrs, GUARD, (n + 4) * sizeof *ptrs);
    memset(buf, GUARD, size + 32);
    check(get(ptrs, buf) == 0, "get");
    check(guard_ok((uint8_t *)(ptrs + n), 4 * sizeof *ptrs), "pointer array guard");
    check(guard_ok(buf + size, 32), "string buffer guard");
    /* The strings are packed back to back in the buffer, each NUL-terminated. */
    size_t used = 0;
    for (__wasi_size_t i = 0; i < n; i++) {
        check(ptrs[i] == buf + used, "string pointer position");
        used += strlen((char *)ptrs[i]) + 1;
    }
    check(used == size, "buffer size matches the strings");
    *count = n;
    return (char **)ptrs;
}

static int cmd_args(int argc, char **argv) {
    __wasi_size_t n;
    char **args = fetch_strings(__wasi_args_sizes_get, __wasi_args_get, &n, "args");
    check((int)n == argc, "argc agrees with libc");
    for (__wasi_size_t i = 0; i < n; i++) {
        check(strcmp(args[i], argv[i]) == 0, "arg agrees with libc");
        out("arg %u %zu %s\n", i, strlen(args[i]), args[i]);
    }
    return failed;
}

static int cmd_env(void) {
    __wasi_size_t n;
    char **env = fetch_strings(__wasi_environ_sizes_get, __wasi_environ_get, &n, "env");
    qsort(env, n, sizeof *env, cmp_str);
    for (__wasi_size_t i = 0; i < n; i++) {
        check(strchr(env[i], '=') != NULL, "env entry has '='");
        out("env %s\n", env[i]);
    }
    return failed;
}

/* --- clocks ----------------------------------------------------------------------------- */

static int cmd_clocks(const char *now_s) {
    for (__wasi_clockid_t id = 0; id < 4; id++) {
        __wasi_timestamp_t res = 0, t = 0;
        __wasi_errno_t e1 = __wasi_clock_res_get(id, &res);
        __wasi_errno_t e2 = __wasi_clock_time_get(id, 0, &t);
        out("clock %u res_errno %d res_positive %d time_errno %d\n", id, e1, e1 == 0 && res > 0,
            e2);
    }
    /* Monotonic (and, where supported, the CPU-time clocks) never go backwards. */
    for (__wasi_clockid_t id = 1; id < 4; id++) {
        __wasi_timestamp_t prev = 0, t = 0;
        int ok = 1;
        for (int i = 0; i < 1000; i++) {
            if (__wasi_clock_time_get(id, 0, &t) != 0) { ok = -1; break; }
            if (t < prev) ok = 0;
            prev = t;
        }
        out("clock %u nondecreasing %d\n", id, ok);
    }
    uint64_t host = strtoull(now_s, NULL, 10) * 1000000000ull;
    uint64_t real = now(__WASI_CLOCKID_REALTIME);
    uint64_t diff = real > host ? real - host : host - real;
    out("realtime_within_minute %d\n", diff < 60 * 1000 * MS);
    return failed;
}

/* An unknown clock id (its own subcommand: wasmtime traps on it instead of returning). */
static int cmd_clock_invalid(const char *which, uint32_t id) {
    __wasi_timestamp_t t = 0xAAAAAAAAAAAAAAAAull;
    __wasi_errno_t e = !strcmp(which, "res") ? __wasi_clock_res_get(id, &t)
                                             : __wasi_clock_time_get(id, 0, &t);
    out("clock_invalid %s %u errno %d untouched %d\n", which, id, e, t == 0xAAAAAAAAAAAAAAAAull);
    return failed;
}

/* --- poll_oneoff ------------------------------------------------------------------------ */

static __wasi_subscription_t clock_sub(uint64_t userdata, __wasi_clockid_t id, uint64_t timeout,
                                       int abstime) {
    __wasi_subscription_t s;
    memset(&s, 0, sizeof s);
    s.userdata = userdata;
    s.u.tag = __WASI_EVENTTYPE_CLOCK;
    s.u.u.clock.id = id;
    s.u.u.clock.timeout = timeout;
    s.u.u.clock.flags = abstime ? __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME : 0;
    return s;
}

static __wasi_subscription_t fd_sub(uint64_t userdata, __wasi_eventtype_t type, __wasi_fd_t fd) {
    __wasi_subscription_t s;
    memset(&s, 0, sizeof s);
    s.userdata = userdata;
    s.u.tag = type;
    s.u.u.fd_read.file_descriptor = fd;
    return s;
}

/* Poll, then print the errno, the event count and each event (userdata in hex). */
static void poll_print(const __wasi_subscription_t *subs, __wasi_size_t nsubs, int with_nbytes) {
    __wasi_event_t events[8];
    memset(events, GUARD, sizeof events);
    __wasi_size_t n = 0xAAAAAAAA;
    __wasi_errno_t e = __wasi_poll_oneoff(subs, events, nsubs, &n);
    out("poll errno %d\n", e);
    if (e != 0) return;
    out("nevents %u\n", n);
    for (__wasi_size_t i = 0; i < n && i < 8; i++) {
        __wasi_event_t *ev = &events[i];
        out("event userdata %016llx error %d type %d", (unsigned long long)ev->userdata, ev->error,
            ev->type);
        if (ev->type != __WASI_EVENTTYPE_CLOCK) {
            if (with_nbytes) out(" nbytes %llu", (unsigned long long)ev->fd_readwrite.nbytes);
            out(" flags %d", ev->fd_readwrite.flags);
        }
        out("\n");
    }
    check(n > 8 || guard_ok((uint8_t *)&events[n], (8 - n) * sizeof *events), "event guard");
}

static int cmd_sleep(uint64_t ns) {
    __wasi_subscription_t s = clock_sub(42, __WASI_CLOCKID_MONOTONIC, ns, 0);
    uint64_t t0 = now(__WASI_CLOCKID_MONOTONIC);
    poll_print(&s, 1, 0);
    uint64_t t1 = now(__WASI_CLOCKID_MONOTONIC);
    out("slept_enough %d\n", t1 - t0 >= ns);
    return failed;
}

static int cmd_poll(const char *which, const char *path, const char *offset) {
    if (!strcmp(which, "abs")) {
        /* An absolute deadline 20 ms ahead: returns no earlier than it. */
        uint64_t deadline = now(__WASI_CLOCKID_MONOTONIC) + 20 * MS;
        __wasi_subscription_t s = clock_sub(7, __WASI_CLOCKID_MONOTONIC, deadline, 1);
        poll_print(&s, 1, 0);
        out("reached_deadline %d\n", now(__WASI_CLOCKID_MONOTONIC) >= deadline);
    } else if (!strcmp(which, "past")) {
        /* An absolute deadline already passed, on the realtime clock. */
        __wasi_subscription_t s = clock_sub(8, __WASI_CLOCKID_REALTIME, 1, 1);
        poll_print(&s, 1, 0);
    } else if (!strcmp(which, "two")) {
        /* 10 ms and 60 s: only the earlier one fires. */
        __wasi_subscription_t s[2] = {clock_sub(1, __WASI_CLOCKID_MONOTONIC, 60000 * MS, 0),
                                      clock_sub(2, __WASI_CLOCKID_MONOTONIC, 10 * MS, 0)};
        poll_print(s, 2, 0);
    } else if (!strcmp(which, "zero")) {
        poll_print(NULL, 0, 0);
    } else if (!strcmp(which, "fdread")) {
        /* A regular file is always readable; nbytes = bytes left after the current offset. */
        __wasi_fd_t fd = open_file(path);
        __wasi_filesize_t pos = 0;
        check(__wasi_fd_seek(fd, (__wasi_filedelta_t)strtoll(offset, NULL, 10), __WASI_WHENCE_SET,
                             &pos) == 0, "seek");
        __wasi_subscription_t s = fd_sub(0x0123456789abcdefull, __WASI_EVENTTYPE_FD_READ, fd);
        poll_print(&s, 1, 1);
    } else if (!strcmp(which, "fdwrite")) {
        __wasi_subscription_t s = fd_sub(0xfedcba9876543210ull, __WASI_EVENTTYPE_FD_WRITE, 1);
        poll_print(&s, 1, 0);
    } else if (!strcmp(which, "badfd")) {
        __wasi_subscription_t s = fd_sub(99, __WASI_EVENTTYPE_FD_READ, 99);
        poll_print(&s, 1, 0);
    } else if (!strcmp(which, "userdata")) {
        /* Two writable streams: both events, full 64-bit userdata echoed. */
        __wasi_subscription_t s[2] = {fd_sub(0xffffffffffffffffull, __WASI_EVENTTYPE_FD_WRITE, 1),
                                      fd_sub(0x8000000000000001ull, __WASI_EVENTTYPE_FD_WRITE, 2)};
        poll_print(s, 2, 0);
    } else {
        out("FAIL unknown poll case %s\n", which);
        return 2;
    }
    return failed;
}

/* --- misc ------------------------------------------------------------------------------- */

/* Whether `buf` looks random: short buffers hold many distinct bytes, long ones use every
   byte value about equally often (a buffer of 1 then zeros, or a repeated pattern, fails). */
static int spread_ok(const uint8_t *buf, size_t n) {
    size_t counts[256] = {0}, distinct = 0, lo = SIZE_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) distinct += counts[buf[i]]++ == 0;
    if (n < 4096) return n == 0 || distinct * 8 >= n * 5;
    for (int v = 0; v < 256; v++) {
        if (counts[v] < lo) lo = counts[v];
        if (counts[v] > hi) hi = counts[v];
    }
    return lo * 512 > n && hi * 128 < n;  /* every value within half and twice the mean */
}

static int cmd_random(size_t n) {
    uint8_t *buf = malloc(n + 16), *again = malloc(n + 1);
    memset(buf, 0, n);
    memset(buf + n, GUARD, 16);
    __wasi_errno_t e = __wasi_random_get(buf, n);
    int nonzero = 0;
    for (size_t i = 0; i < n; i++) nonzero |= buf[i] != 0;
    int differs = __wasi_random_get(again, n) == 0 && n > 0 && memcmp(buf, again, n) != 0;
    out("random errno %d count %zu nonzero %d spread %d differs %d guard %d\n", e, n, nonzero,
        spread_ok(buf, n), differs, guard_ok(buf + n, 16));
    return failed;
}

static int cmd_sock(const char *path) {
    __wasi_fd_t file = open_file(path);
    struct { const char *name; __wasi_fd_t fd; } fds[] = {{"stdin", 0}, {"file", file}, {"dir", 3}};
    for (size_t i = 0; i < sizeof fds / sizeof *fds; i++) {
        uint8_t byte;
        __wasi_iovec_t iov = {&byte, 1};
        __wasi_ciovec_t ciov = {&byte, 1};
        __wasi_size_t n = 0;
        __wasi_roflags_t roflags = 0;
        __wasi_fd_t newfd = 0;
        out("%s recv %d send %d shutdown %d accept %d\n", fds[i].name,
            __wasi_sock_recv(fds[i].fd, &iov, 1, 0, &n, &roflags),
            __wasi_sock_send(fds[i].fd, &ciov, 1, 0, &n),
            __wasi_sock_shutdown(fds[i].fd, __WASI_SDFLAGS_RD | __WASI_SDFLAGS_WR),
            __wasi_sock_accept(fds[i].fd, 0, &newfd));
    }
    return failed;
}

static int cmd_stdio(void) {
    for (__wasi_fd_t fd = 0; fd < 3; fd++) {
        __wasi_fdstat_t st;
        __wasi_errno_t e = __wasi_fd_fdstat_get(fd, &st);
        out("fdstat %u errno %d filetype %d flags %d base %llu inheriting %llu\n", fd, e,
            st.fs_filetype, st.fs_flags, (unsigned long long)st.fs_rights_base,
            (unsigned long long)st.fs_rights_inheriting);
    }
    for (__wasi_fd_t fd = 0; fd < 3; fd++) {
        __wasi_filesize_t pos = 0;
        out("seek %u errno %d tell_errno %d\n", fd, __wasi_fd_seek(fd, 0, __WASI_WHENCE_CUR, &pos),
            __wasi_fd_tell(fd, &pos));
    }
    /* Gathered writes with empty iovecs in between, to stdout and to stderr. */
    __wasi_ciovec_t iovs[5] = {{(const uint8_t *)"", 0}, {(const uint8_t *)"gath", 4},
                               {(const uint8_t *)"x", 0}, {(const uint8_t *)"ered\n", 5},
                               {(const uint8_t *)"", 0}};
    for (__wasi_fd_t fd = 1; fd < 3; fd++) {
        __wasi_size_t n = 0;
        __wasi_errno_t e = __wasi_fd_write(fd, iovs, 5, &n);
        /* A short write is legal (wasmtime writes one iovec per call): finish by hand. */
        size_t done = n;
        for (size_t i = 0, off = 0; e == 0 && i < 5; off += iovs[i].buf_len, i++)
            if (done < off + iovs[i].buf_len) {
                size_t skip = done > off ? done - off : 0;
                write_all(fd, iovs[i].buf + skip, iovs[i].buf_len - skip);
                done = off + iovs[i].buf_len;
            }
        out("writev %u errno %d first_call_wrote_something %d total %zu\n", fd, e,
            n > 0 && n <= 9, done);
    }
    __wasi_size_t n = 99;
    out("write_empty errno %d", __wasi_fd_write(1, iovs, 0, &n));
    out(" nwritten %u\n", n);
    /* Echo stdin through 1+2-byte scattered reads, to EOF. */
    out("echo-begin\n");
    size_t total = 0;
    int reads = 0;
    for (;;) {
        uint8_t a[1], b[2];
        __wasi_iovec_t riov[3] = {{a, 1}, {b, 0}, {b, 2}};
        __wasi_size_t got = 0;
        __wasi_errno_t e = __wasi_fd_read(0, riov, 3, &got);
        if (e != 0) {
            out("\nFAIL read errno %d\n", e);
            return 1;
        }
        if (got == 0) break;
        reads++;
        write_all(1, a, 1);
        if (got > 1) write_all(1, b, got - 1);
        total += got;
    }
    out("echo-end\nstdin_bytes %zu at_least_reads %d\n", total, reads >= (int)(total + 2) / 3);
    return failed;
}

static int cmd_prestat(void) {
    for (__wasi_fd_t fd = 3;; fd++) {
        __wasi_prestat_t ps;
        __wasi_errno_t e = __wasi_fd_prestat_get(fd, &ps);
        if (e != 0) {
            out("prestat %u errno %d\n", fd, e);
            break;
        }
        if (ps.u.dir.pr_name_len == 0) {
            out("FAIL empty preopen name\n");
            return 1;
        }
        size_t len = ps.u.dir.pr_name_len;
        char name[256];
        memset(name, GUARD, sizeof name);
        if (len + 8 > sizeof name) {
            out("FAIL name too long\n");
            return 1;
        }
        e = __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len + 8);
        /* The name is not NUL-terminated: nothing past it is written. */
        out("prestat %u tag %d len %zu errno %d guard %d name %.*s\n", fd, ps.tag, len, e,
            guard_ok((uint8_t *)name + len, 8), (int)len, name);
        memset(name, GUARD, sizeof name);
        e = __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, len - 1);
        out("prestat %u short_buffer errno %d untouched_past_buffer %d\n", fd, e,
            guard_ok((uint8_t *)name + len - 1, 8));
    }
    return failed;
}

static int cmd_fdstat_badfd(void) {
    const __wasi_fd_t fd = 99;
    uint8_t buf[64];
    __wasi_iovec_t iov = {buf, sizeof buf};
    __wasi_ciovec_t ciov = {buf, sizeof buf};
    __wasi_size_t n;
    __wasi_filesize_t pos;
    __wasi_fdstat_t fdstat;
    __wasi_filestat_t filestat;
    __wasi_prestat_t prestat;
    struct { const char *name; __wasi_errno_t e; } calls[] = {
        {"fd_advise", __wasi_fd_advise(fd, 0, 0, __WASI_ADVICE_NORMAL)},
        {"fd_allocate", __wasi_fd_allocate(fd, 0, 1)},
        {"fd_datasync", __wasi_fd_datasync(fd)},
        {"fd_fdstat_get", __wasi_fd_fdstat_get(fd, &fdstat)},
        {"fd_fdstat_set_flags", __wasi_fd_fdstat_set_flags(fd, 0)},
        {"fd_fdstat_set_rights", __wasi_fd_fdstat_set_rights(fd, 0, 0)},
        {"fd_filestat_get", __wasi_fd_filestat_get(fd, &filestat)},
        {"fd_filestat_set_size", __wasi_fd_filestat_set_size(fd, 0)},
        {"fd_filestat_set_times", __wasi_fd_filestat_set_times(fd, 0, 0, 0)},
        {"fd_pread", __wasi_fd_pread(fd, &iov, 1, 0, &n)},
        {"fd_prestat_get", __wasi_fd_prestat_get(fd, &prestat)},
        {"fd_prestat_dir_name", __wasi_fd_prestat_dir_name(fd, buf, sizeof buf)},
        {"fd_pwrite", __wasi_fd_pwrite(fd, &ciov, 1, 0, &n)},
        {"fd_read", __wasi_fd_read(fd, &iov, 1, &n)},
        {"fd_readdir", __wasi_fd_readdir(fd, buf, sizeof buf, 0, &n)},
        {"fd_renumber_from", __wasi_fd_renumber(fd, 98)},
        {"fd_renumber_to_open", __wasi_fd_renumber(fd, 2)},
        {"fd_seek", __wasi_fd_seek(fd, 0, __WASI_WHENCE_SET, &pos)},
        {"fd_sync", __wasi_fd_sync(fd)},
        {"fd_tell", __wasi_fd_tell(fd, &pos)},
        {"fd_write", __wasi_fd_write(fd, &ciov, 1, &n)},
        {"fd_close", __wasi_fd_close(fd)},
    };
    for (size_t i = 0; i < sizeof calls / sizeof *calls; i++)
        out("%s %d\n", calls[i].name, calls[i].e);
    /* fd 2 survived the failed renumber onto it. */
    out("fd2_still_open %d\n", __wasi_fd_fdstat_get(2, &fdstat) == 0);
    return failed;
}

static int cmd_advise(const char *path) {
    __wasi_fd_t fd = open_file(path);
    for (int advice = __WASI_ADVICE_NORMAL; advice <= __WASI_ADVICE_NOREUSE; advice++)
        out("advice %d errno %d\n", advice, __wasi_fd_advise(fd, 0, 10, (__wasi_advice_t)advice));
    out("advice_zero_len errno %d\n", __wasi_fd_advise(fd, 5, 0, __WASI_ADVICE_NORMAL));
    out("advice_past_eof errno %d\n", __wasi_fd_advise(fd, 1000, 1000, __WASI_ADVICE_RANDOM));
    return failed;
}

/* An unknown advice value (its own subcommand: wasmtime traps on it instead of returning). */
static int cmd_advise_invalid(const char *path, uint32_t advice) {
    __wasi_fd_t fd = open_file(path);
    out("advice %u errno %d\n", advice, __wasi_fd_advise(fd, 0, 10, (__wasi_advice_t)advice));
    return failed;
}

static int cmd_close_stdio(void) {
    __wasi_errno_t closed = __wasi_fd_close(1);
    __wasi_ciovec_t iov = {(const uint8_t *)"lost\n", 5};
    __wasi_size_t n = 0;
    __wasi_fdstat_t st;
    err("close %d\n", closed);
    err("write %d\n", __wasi_fd_write(1, &iov, 1, &n));
    err("fdstat %d\n", __wasi_fd_fdstat_get(1, &st));
    err("close_again %d\n", __wasi_fd_close(1));
    return 0;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        err("usage: sys CMD ...\n");
        return 2;
    }
    const char *cmd = argv[1];
    const char *a2 = argc > 2 ? argv[2] : "";
    const char *a3 = argc > 3 ? argv[3] : "";
    if (!strcmp(cmd, "args")) return cmd_args(argc, argv);
    if (!strcmp(cmd, "env")) return cmd_env();
    if (!strcmp(cmd, "clocks")) return cmd_clocks(a2);
    if (!strcmp(cmd, "clock_invalid")) return cmd_clock_invalid(a2, strtoul(a3, NULL, 10));
    if (!strcmp(cmd, "sleep")) return cmd_sleep(strtoull(a2, NULL, 10));
    if (!strcmp(cmd, "poll")) return cmd_poll(a2, a3, argc > 4 ? argv[4] : "0");
    if (!strcmp(cmd, "random")) return cmd_random(strtoul(a2, NULL, 10));
    if (!strcmp(cmd, "exit")) __wasi_proc_exit((__wasi_exitcode_t)strtoul(a2, NULL, 10));
    if (!strcmp(cmd, "raise")) {
        out("raise errno %d\n", sys_proc_raise((uint32_t)strtoul(a2, NULL, 10)));
        return 0;
    }
    if (!strcmp(cmd, "yield")) {
        out("yield errno %d\n", __wasi_sched_yield());
        return 0;
    }
    if (!strcmp(cmd, "sock")) return cmd_sock(a2);
    if (!strcmp(cmd, "stdio")) return cmd_stdio();
    if (!strcmp(cmd, "prestat")) return cmd_prestat();
    if (!strcmp(cmd, "fdstat_badfd")) return cmd_fdstat_badfd();
    if (!strcmp(cmd, "advise")) return cmd_advise(a2);
    if (!strcmp(cmd, "advise_invalid")) return cmd_advise_invalid(a2, strtoul(a3, NULL, 10));
    if (!strcmp(cmd, "close_stdio")) return cmd_close_stdio();
    err("unknown command %s\n", cmd);
    return 2;
}
