/*
 * fsops: a WASI preview1 filesystem-operation interpreter for tests.
 *
 * Reads one operation per line from stdin and prints exactly one result line per operation
 * on stdout (blank lines and lines starting with '#' are skipped and print nothing). Every
 * call goes straight to the `wasi_snapshot_preview1` import (declared below with explicit
 * pointer+length arguments, so paths may hold any byte, NUL included), so results are exact
 * WASI errnos, never libc's.
 *
 * ---- Input syntax ---------------------------------------------------------------------------
 * Tokens are separated by spaces/tabs. A token is either bare (any run of non-blank bytes,
 * taken literally) or quoted: "..." with the escapes \\ \" \n \t \r \0 and \xHH (exactly two
 * hex digits); "" is the empty string. Numbers are decimal or 0x-hex (a leading '-' where a
 * signed value is allowed). FD / DIRFD are plain numbers; the preopen is normally 3.
 * An FD / DIRFD may also be written $K: the fd returned by the K-th `open` of this run (0-based,
 * counting every open line that reached path_open, failed or not; a failed one's $K is fd
 * 0xFFFFFFFF, which no host hands out). Hosts may number new fds differently (wasmtime reuses
 * the most recently freed one, vfswasi the lowest), so scripts run on several hosts use $K.
 * Flag sets are a comma list of names, or a number for the raw bits; "0" / "-" mean none.
 * A raw number must fit the field's width (else ERR parse), but its bits are passed on
 * unchecked: wasmtime traps on undefined flag bits or enum values, so only hosts that
 * validate (answering INVAL) can be given them.
 *
 *   open DIRFD PATH [oflags F] [rights R] [inherit R] [fdflags F] [lookup follow|nofollow|N]
 *        -> ok FD          oflags: creat,directory,excl,trunc    fdflags: append,dsync,nonblock,rsync,sync
 *        rights: comma list of exact right names (fd_read, path_open, ... as in the witx), "all",
 *        a number, or the libc-style access words "read" / "write" (as open(2) with O_RDONLY /
 *        O_WRONLY / O_RDWR asks: every right except the other mode's group). Defaults:
 *        rights read, inherit all, lookup follow (the only op whose lookup defaults to follow).
 *   close FD                                  -> ok
 *   read FD N                                 -> ok "BYTES"       (one fd_read, one iovec)
 *   write FD DATA                             -> ok NWRITTEN
 *   pread FD N OFF                            -> ok "BYTES"
 *   pwrite FD DATA OFF                        -> ok NWRITTEN
 *   seek FD OFF set|cur|end|N                 -> ok NEWOFFSET   (OFF is signed)
 *   tell FD                                   -> ok OFFSET
 *   sync FD / datasync FD                     -> ok
 *   advise FD OFF LEN normal|sequential|random|willneed|dontneed|noreuse|N  -> ok
 *   allocate FD OFF LEN                       -> ok
 *   truncate FD SIZE                          -> ok             (fd_filestat_set_size)
 *   fstat FD                                  -> ok TYPE size=N nlink=N   ("ok dir" for a
 *                                                directory: its size and nlink vary by backend)
 *   stat DIRFD PATH [follow|nofollow]         -> the same, by path (default nofollow)
 *   ino FD | ino DIRFD PATH [follow]          -> ok #K   K numbers distinct (dev,ino) pairs in
 *                                                the order this run first saw them
 *   inocheck FD                               -> ok same=N differ=M [NAME...]  compares every
 *                                                d_ino of a full listing with the entry's
 *                                                path_filestat_get (nofollow) ino; "." with FD's
 *                                                fd_filestat_get; ".." is skipped
 *   ftimes FD | times DIRFD PATH [follow]     -> ok atim=NS mtim=NS
 *   fsettimes FD ATIM MTIM FST                -> ok   FST: atim,atim_now,mtim,mtim_now
 *   settimes DIRFD PATH ATIM MTIM FST [follow|nofollow]  -> ok
 *   fdstat FD [norights]                      -> ok TYPE FDFLAGS [base=0xHEX inh=0xHEX]
 *   setflags FD FDFLAGS                       -> ok
 *   setrights FD BASE INHERIT                 -> ok   (rights syntax as for open)
 *   mkdir DIRFD PATH / rmdir DIRFD PATH / unlink DIRFD PATH  -> ok
 *   rename DIRFD OLD DIRFD NEW                -> ok
 *   link DIRFD OLD DIRFD NEW [follow|nofollow] -> ok  (default nofollow)
 *   symlink TARGET DIRFD PATH                 -> ok
 *   readlink DIRFD PATH [BUFLEN]              -> ok "BYTES"   (BUFLEN default 4096)
 *   readdir FD [BUFLEN] [COOKIE]              -> ok USED NEXT:TYPE:NAME ... [cut:N]
 *        one fd_readdir call (BUFLEN default 4096, COOKIE default 0), entries in the order
 *        returned; a trailing entry that did not fit whole shows as cut:N (N bytes of it came)
 *   ls FD                                     -> ok NAME:TYPE ...  the whole directory (fd_readdir
 *        resumed with cookies), sorted by name, without "." and ".."
 *   renumber FROM TO                          -> ok
 *   prestat FD [BUFLEN]                       -> ok dir "NAME"     (fd_prestat_get + dir_name,
 *                                                whose buffer is BUFLEN long, default pr_name_len)
 *
 * ---- Output ---------------------------------------------------------------------------------
 *   ok ...        success
 *   err NAME      the WASI errno by name (NOENT, NOTCAPABLE, ...; E<n> if unknown)
 *   ERR parse     the line could not be parsed (unknown op, bad arity, number or flag name)
 *   bad ...       the host broke the ABI (wrote past a buffer, bufused > buf_len, a readdir
 *                 cookie that does not advance)
 * TYPE is one of unknown blk chr dir file dgram stream link. FDFLAGS is a comma list or "-".
 * Strings are printed quoted with the escapes above; names in ls/readdir are printed bare when
 * they only hold [A-Za-z0-9._+-] (and are not empty), quoted otherwise.
 * The interpreter reads fd 0 and writes fd 1: a script that closes, renumbers over or writes
 * to them garbles its own input or output.
 */

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- raw imports ---------------------------------------------------------------------------- */

#define WASI(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(#name)))
#define P(x) ((int32_t)(intptr_t)(x))

WASI(fd_advise) int32_t w_fd_advise(int32_t, int64_t, int64_t, int32_t);
WASI(fd_allocate) int32_t w_fd_allocate(int32_t, int64_t, int64_t);
WASI(fd_close) int32_t w_fd_close(int32_t);
WASI(fd_datasync) int32_t w_fd_datasync(int32_t);
WASI(fd_fdstat_get) int32_t w_fd_fdstat_get(int32_t, int32_t);
WASI(fd_fdstat_set_flags) int32_t w_fd_fdstat_set_flags(int32_t, int32_t);
WASI(fd_fdstat_set_rights) int32_t w_fd_fdstat_set_rights(int32_t, int64_t, int64_t);
WASI(fd_filestat_get) int32_t w_fd_filestat_get(int32_t, int32_t);
WASI(fd_filestat_set_size) int32_t w_fd_filestat_set_size(int32_t, int64_t);
WASI(fd_filestat_set_times) int32_t w_fd_filestat_set_times(int32_t, int64_t, int64_t, int32_t);
WASI(fd_pread) int32_t w_fd_pread(int32_t, int32_t, int32_t, int64_t, int32_t);
WASI(fd_prestat_get) int32_t w_fd_prestat_get(int32_t, int32_t);
WASI(fd_prestat_dir_name) int32_t w_fd_prestat_dir_name(int32_t, int32_t, int32_t);
WASI(fd_pwrite) int32_t w_fd_pwrite(int32_t, int32_t, int32_t, int64_t, int32_t);
WASI(fd_read) int32_t w_fd_read(int32_t, int32_t, int32_t, int32_t);
WASI(fd_readdir) int32_t w_fd_readdir(int32_t, int32_t, int32_t, int64_t, int32_t);
WASI(fd_renumber) int32_t w_fd_renumber(int32_t, int32_t);
WASI(fd_seek) int32_t w_fd_seek(int32_t, int64_t, int32_t, int32_t);
WASI(fd_sync) int32_t w_fd_sync(int32_t);
WASI(fd_tell) int32_t w_fd_tell(int32_t, int32_t);
WASI(fd_write) int32_t w_fd_write(int32_t, int32_t, int32_t, int32_t);
WASI(path_create_directory) int32_t w_path_create_directory(int32_t, int32_t, int32_t);
WASI(path_filestat_get) int32_t w_path_filestat_get(int32_t, int32_t, int32_t, int32_t, int32_t);
WASI(path_filestat_set_times)
int32_t w_path_filestat_set_times(int32_t, int32_t, int32_t, int32_t, int64_t, int64_t, int32_t);
WASI(path_link)
int32_t w_path_link(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
WASI(path_open)
int32_t w_path_open(int32_t, int32_t, int32_t, int32_t, int32_t, int64_t, int64_t, int32_t, int32_t);
WASI(path_readlink) int32_t w_path_readlink(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
WASI(path_remove_directory) int32_t w_path_remove_directory(int32_t, int32_t, int32_t);
WASI(path_rename) int32_t w_path_rename(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t);
WASI(path_symlink) int32_t w_path_symlink(int32_t, int32_t, int32_t, int32_t, int32_t);
WASI(path_unlink_file) int32_t w_path_unlink_file(int32_t, int32_t, int32_t);

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const ERRNO_NAMES[] = {
    "SUCCESS", "TOOBIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN",
    "ALREADY", "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED",
    "CONNRESET", "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG",
    "HOSTUNREACH", "IDRM", "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR",
    "LOOP", "MFILE", "MLINK", "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET",
    "NETUNREACH", "NFILE", "NOBUFS", "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM",
    "NOMSG", "NOPROTOOPT", "NOSPC", "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE",
    "NOTSOCK", "NOTSUP", "NOTTY", "NXIO", "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO",
    "PROTONOSUPPORT", "PROTOTYPE", "RANGE", "ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT",
    "TXTBSY", "XDEV", "NOTCAPABLE",
};

static const char *const TYPE_NAMES[] = {"unknown", "blk", "chr", "dir", "file", "dgram",
                                         "stream", "link"};

typedef struct {
    const char *name;
    uint64_t bits;
} flagname_t;

#define END_OF_TABLE {NULL, 0}

static const flagname_t OFLAGS[] = {
    {"creat", 1}, {"directory", 2}, {"excl", 4}, {"trunc", 8}, END_OF_TABLE};
static const flagname_t FDFLAGS[] = {
    {"append", 1}, {"dsync", 2}, {"nonblock", 4}, {"rsync", 8}, {"sync", 16}, END_OF_TABLE};
static const flagname_t FSTFLAGS[] = {
    {"atim", 1}, {"atim_now", 2}, {"mtim", 4}, {"mtim_now", 8}, END_OF_TABLE};
static const flagname_t LOOKUP[] = {{"follow", 1}, {"nofollow", 0}, END_OF_TABLE};
static const flagname_t WHENCE[] = {{"set", 0}, {"cur", 1}, {"end", 2}, END_OF_TABLE};
static const flagname_t ADVICE[] = {{"normal", 0},   {"sequential", 1}, {"random", 2},
                                    {"willneed", 3}, {"dontneed", 4},   {"noreuse", 5},
                                    END_OF_TABLE};
static const flagname_t RIGHTS[] = {
    {"fd_datasync", 1ull << 0},
    {"fd_read", 1ull << 1},
    {"fd_seek", 1ull << 2},
    {"fd_fdstat_set_flags", 1ull << 3},
    {"fd_sync", 1ull << 4},
    {"fd_tell", 1ull << 5},
    {"fd_write", 1ull << 6},
    {"fd_advise", 1ull << 7},
    {"fd_allocate", 1ull << 8},
    {"path_create_directory", 1ull << 9},
    {"path_create_file", 1ull << 10},
    {"path_link_source", 1ull << 11},
    {"path_link_target", 1ull << 12},
    {"path_open", 1ull << 13},
    {"fd_readdir", 1ull << 14},
    {"path_readlink", 1ull << 15},
    {"path_rename_source", 1ull << 16},
    {"path_rename_target", 1ull << 17},
    {"path_filestat_get", 1ull << 18},
    {"path_filestat_set_size", 1ull << 19},
    {"path_filestat_set_times", 1ull << 20},
    {"fd_filestat_get", 1ull << 21},
    {"fd_filestat_set_size", 1ull << 22},
    {"fd_filestat_set_times", 1ull << 23},
    {"path_symlink", 1ull << 24},
    {"path_remove_directory", 1ull << 25},
    {"path_unlink_file", 1ull << 26},
    {"poll_fd_readwrite", 1ull << 27},
    {"sock_shutdown", 1ull << 28},
    {"sock_accept", 1ull << 29},
    {"all", (1ull << 30) - 1},
    END_OF_TABLE};

/* The two access-mode groups wasi-libc's openat() computes rights from. */
#define RIGHTS_ALL ((1ull << 30) - 1)
#define READ_GROUP ((1ull << 1) | (1ull << 14))                                  /* read, readdir */
#define WRITE_GROUP ((1ull << 0) | (1ull << 6) | (1ull << 8) | (1ull << 22)) /* datasync .. set_size */

/* ---- tokens --------------------------------------------------------------------------------- */

#define MAX_TOKENS 32

typedef struct {
    char *p; /* NUL-terminated copy (the bytes may hold NULs too: use n) */
    size_t n;
} tok_t;

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Split `line` (len bytes) into tokens written into `arena` (at least len+MAX_TOKENS bytes).
   Returns the token count, or -1 on a syntax error. */
static int tokenize(const char *line, size_t len, char *arena, tok_t *toks) {
    size_t i = 0;
    int nt = 0;
    char *out = arena;
    for (;;) {
        while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
        if (i >= len) return nt;
        if (nt == MAX_TOKENS) return -1;
        toks[nt].p = out;
        if (line[i] == '"') {
            i++;
            for (;;) {
                if (i >= len) return -1; /* unterminated */
                char c = line[i++];
                if (c == '"') break;
                if (c != '\\') {
                    *out++ = c;
                    continue;
                }
                if (i >= len) return -1;
                c = line[i++];
                switch (c) {
                case '\\': *out++ = '\\'; break;
                case '"': *out++ = '"'; break;
                case 'n': *out++ = '\n'; break;
                case 't': *out++ = '\t'; break;
                case 'r': *out++ = '\r'; break;
                case '0': *out++ = '\0'; break;
                case 'x': {
                    if (i + 2 > len) return -1;
                    int hi = hexval((unsigned char)line[i]), lo = hexval((unsigned char)line[i + 1]);
                    if (hi < 0 || lo < 0) return -1;
                    *out++ = (char)(hi * 16 + lo);
                    i += 2;
                    break;
                }
                default: return -1;
                }
            }
            if (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') return -1;
        } else {
            while (i < len && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') *out++ = line[i++];
        }
        toks[nt].n = (size_t)(out - toks[nt].p);
        *out++ = '\0';
        nt++;
    }
}

static int tok_is(const tok_t *t, const char *s) { return t->n == strlen(s) && memcmp(t->p, s, t->n) == 0; }

static int parse_u64(const tok_t *t, uint64_t *v) {
    const char *s = t->p;
    size_t n = t->n, i = 0;
    uint64_t r = 0;
    if (n == 0) return -1;
    if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        for (i = 2; i < n; i++) {
            int h = hexval((unsigned char)s[i]);
            if (h < 0 || r > (UINT64_MAX >> 4)) return -1;
            r = r * 16 + (uint64_t)h;
        }
    } else {
        for (i = 0; i < n; i++) {
            if (s[i] < '0' || s[i] > '9') return -1;
            uint64_t d = (uint64_t)(s[i] - '0');
            if (r > (UINT64_MAX - d) / 10) return -1;
            r = r * 10 + d;
        }
    }
    *v = r;
    return 0;
}

static int parse_i64(const tok_t *t, int64_t *v) {
    uint64_t u;
    if (t->n > 0 && t->p[0] == '-') {
        tok_t rest = {t->p + 1, t->n - 1};
        if (parse_u64(&rest, &u) || u > (uint64_t)INT64_MAX + 1) return -1;
        *v = (int64_t)(0 - u);
        return 0;
    }
    if (parse_u64(t, &u) || u > (uint64_t)INT64_MAX) return -1;
    *v = (int64_t)u;
    return 0;
}

static int parse_u32(const tok_t *t, uint32_t *v) {
    uint64_t u;
    if (parse_u64(t, &u) || u > UINT32_MAX) return -1;
    *v = (uint32_t)u;
    return 0;
}

/* A comma list of names from `table`, a number, or "-" / "0" for none. */
static int parse_flags(const tok_t *t, const flagname_t *table, uint64_t *out) {
    if (parse_u64(t, out) == 0) return 0;
    if (tok_is(t, "-")) {
        *out = 0;
        return 0;
    }
    uint64_t r = 0;
    size_t i = 0;
    while (i <= t->n) {
        size_t j = i;
        while (j < t->n && t->p[j] != ',') j++;
        const flagname_t *f = table;
        for (; f->name; f++)
            if (strlen(f->name) == j - i && memcmp(f->name, t->p + i, j - i) == 0) break;
        if (!f->name) return -1;
        r |= f->bits;
        i = j + 1;
    }
    *out = r;
    return 0;
}

/* One value from a table (whence, advice, lookup) or a number. */
static int parse_enum(const tok_t *t, const flagname_t *table, uint64_t *out) {
    if (parse_u64(t, out) == 0) return 0;
    for (const flagname_t *f = table; f->name; f++)
        if (tok_is(t, f->name)) {
            *out = f->bits;
            return 0;
        }
    return -1;
}

/* Lookup flags: follow / nofollow or a 32-bit number. */
static int parse_lookup(const tok_t *t, uint64_t *out) {
    return parse_enum(t, LOOKUP, out) || *out > UINT32_MAX ? -1 : 0;
}

/* Rights: exact names / all / number, plus the libc-style access words read and write. */
static int parse_rights(const tok_t *t, uint64_t *out) {
    if (parse_u64(t, out) == 0) return 0;
    if (tok_is(t, "-")) {
        *out = 0;
        return 0;
    }
    uint64_t exact = 0, modes = 0;
    int have_mode = 0;
    size_t i = 0;
    while (i <= t->n) {
        size_t j = i;
        while (j < t->n && t->p[j] != ',') j++;
        tok_t item = {t->p + i, j - i};
        if (tok_is(&item, "read")) {
            have_mode = 1;
            modes |= READ_GROUP;
        } else if (tok_is(&item, "write")) {
            have_mode = 1;
            modes |= WRITE_GROUP;
        } else {
            const flagname_t *f = RIGHTS;
            for (; f->name; f++)
                if (strlen(f->name) == item.n && memcmp(f->name, item.p, item.n) == 0) break;
            if (!f->name) return -1;
            exact |= f->bits;
        }
        i = j + 1;
    }
    if (have_mode) exact |= (RIGHTS_ALL & ~(READ_GROUP | WRITE_GROUP)) | modes;
    *out = exact;
    return 0;
}

/* ---- output --------------------------------------------------------------------------------- */

/* say(): a minimal printf (%s %d %u %zu %llu %llx %02x): libc's vfprintf drags in floating-point
   formatting, which doubles the module and with it the compile time of every test run. */
static void put_u64(unsigned long long v, unsigned base, int width) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n < width) digits[n++] = '0';
    while (n) putchar(digits[--n]);
}

static void say(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    for (const char *f = fmt; *f; f++) {
        if (*f != '%') {
            putchar(*f);
            continue;
        }
        f++;
        if (*f == 's') fputs(va_arg(ap, const char *), stdout);
        else if (*f == 'd') {
            int v = va_arg(ap, int);
            if (v < 0) putchar('-');
            put_u64(v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v, 10, 1);
        } else if (*f == 'u') put_u64(va_arg(ap, unsigned), 10, 1);
        else if (f[0] == 'z' && f[1] == 'u') f++, put_u64(va_arg(ap, size_t), 10, 1);
        else if (f[0] == 'l' && f[1] == 'l' && (f[2] == 'u' || f[2] == 'x'))
            f += 2, put_u64(va_arg(ap, unsigned long long), *f == 'u' ? 10 : 16, 1);
        else if (f[0] == '0' && f[1] == '2' && f[2] == 'x') f += 2, put_u64(va_arg(ap, unsigned), 16, 2);
        else putchar(*f); /* "%%" and anything unknown: the character itself */
    }
    va_end(ap);
}

static void put_quoted(const char *p, size_t n) {
    putchar('"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (c) {
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        default:
            if (c >= 0x20 && c < 0x7f) putchar(c);
            else say("\\x%02x", c);
        }
    }
    putchar('"');
}

static void put_name(const char *p, size_t n) {
    int bare = n > 0;
    for (size_t i = 0; i < n && bare; i++) {
        unsigned char c = (unsigned char)p[i];
        bare = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '+' || c == '-';
    }
    if (bare) fwrite(p, 1, n, stdout);
    else put_quoted(p, n);
}

static const char *type_name(unsigned t) { return t < 8 ? TYPE_NAMES[t] : "unknown"; }

static void put_flags(uint64_t bits, const flagname_t *table) {
    int first = 1;
    for (const flagname_t *f = table; f->name; f++)
        if (bits & f->bits) {
            say("%s%s", first ? "" : ",", f->name);
            first = 0;
            bits &= ~f->bits;
        }
    if (bits) say("%s0x%llx", first ? "" : ",", (unsigned long long)bits), first = 0;
    if (first) putchar('-');
}

/* Prints "err NAME\n" and returns 1 if e is an error, else returns 0 (nothing printed). */
static int fail(int32_t e) {
    if (e == 0) return 0;
    if (e > 0 && e < (int32_t)(sizeof ERRNO_NAMES / sizeof *ERRNO_NAMES))
        say("err %s\n", ERRNO_NAMES[e]);
    else
        say("err E%d\n", (int)e);
    return 1;
}

/* Result buffers get a guard tail: the host must not write past the length it was given. */
#define GUARD 16
#define GUARD_BYTE 0xA5
#define MAX_BUF (1u << 24)

static unsigned char *guarded(size_t n) {
    unsigned char *b = malloc(n + GUARD);
    if (b) memset(b, GUARD_BYTE, n + GUARD);
    return b;
}

static int overrun(const unsigned char *b, size_t n) {
    for (size_t i = 0; i < GUARD; i++)
        if (b[n + i] != GUARD_BYTE) {
            say("bad overrun\n");
            return 1;
        }
    return 0;
}

/* ---- little-endian struct fields ------------------------------------------------------------ */

static uint64_t u64_at(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static uint32_t u32_at(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint16_t u16_at(const unsigned char *p) {
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

typedef struct {
    uint64_t dev, ino, nlink, size, atim, mtim, ctim;
    unsigned filetype;
} filestat_t;

static void decode_filestat(const unsigned char *b, filestat_t *st) {
    st->dev = u64_at(b);
    st->ino = u64_at(b + 8);
    st->filetype = b[16];
    st->nlink = u64_at(b + 24);
    st->size = u64_at(b + 32);
    st->atim = u64_at(b + 40);
    st->mtim = u64_at(b + 48);
    st->ctim = u64_at(b + 56);
}

static int32_t fd_stat(uint32_t fd, filestat_t *st) {
    _Alignas(8) unsigned char b[64];
    int32_t e = w_fd_filestat_get((int32_t)fd, P(b));
    if (!e) decode_filestat(b, st);
    return e;
}

static int32_t path_stat(uint32_t dirfd, uint32_t lookup, const tok_t *path, filestat_t *st) {
    _Alignas(8) unsigned char b[64];
    int32_t e = w_path_filestat_get((int32_t)dirfd, (int32_t)lookup, P(path->p), (int32_t)path->n, P(b));
    if (!e) decode_filestat(b, st);
    return e;
}

/* ---- directory listing ---------------------------------------------------------------------- */

typedef struct {
    char *name;
    size_t n;
    unsigned type;
    uint64_t ino;
} entry_t;

static void free_entries(entry_t *v, size_t n) {
    for (size_t i = 0; i < n; i++) free(v[i].name);
    free(v);
}

/* Reads the whole directory by resuming fd_readdir from the last whole entry's d_next.
   On success returns 0 and the entries (with "." and ".."); on failure prints the result
   line ("err ..." or "bad ...") and returns 1. */
static int list_dir(uint32_t fd, entry_t **out, size_t *count) {
    size_t cap = 16, n = 0, bufsize = 4096;
    entry_t *v = malloc(cap * sizeof *v);
    uint64_t cookie = 0;
    int rounds = 0;
    for (;;) {
        if (++rounds > 100000) {
            say("bad readdir never ends\n");
            goto fail;
        }
        unsigned char *buf = guarded(bufsize);
        uint32_t used = 0;
        int32_t e = w_fd_readdir((int32_t)fd, P(buf), (int32_t)bufsize, (int64_t)cookie, P(&used));
        if (fail(e)) {
            free(buf);
            goto fail;
        }
        if (used > bufsize) {
            say("bad bufused=%u\n", (unsigned)used);
            free(buf);
            goto fail;
        }
        if (overrun(buf, bufsize)) {
            free(buf);
            goto fail;
        }
        size_t pos = 0, whole = 0;
        while (used - pos >= 24) {
            uint32_t namlen = u32_at(buf + pos + 16);
            if (used - pos - 24 < namlen) break;
            uint64_t next = u64_at(buf + pos);
            if (next == cookie) {
                say("bad cookie %llu repeats\n", (unsigned long long)next);
                free(buf);
                goto fail;
            }
            if (n == cap) v = realloc(v, (cap *= 2) * sizeof *v);
            v[n].name = malloc(namlen + 1);
            memcpy(v[n].name, buf + pos + 24, namlen);
            v[n].name[namlen] = 0;
            v[n].n = namlen;
            v[n].type = buf[pos + 20];
            v[n].ino = u64_at(buf + pos + 8);
            n++;
            cookie = next;
            whole++;
            pos += 24 + namlen;
        }
        free(buf);
        if (used < bufsize) break;
        if (whole == 0) {
            if (bufsize >= MAX_BUF) {
                say("bad readdir entry too big\n");
                goto fail;
            }
            bufsize *= 2;
        }
    }
    *out = v;
    *count = n;
    return 0;
fail:
    free_entries(v, n);
    return 1;
}

static int is_dot_or_dotdot(const entry_t *e) {
    return (e->n == 1 && e->name[0] == '.') || (e->n == 2 && e->name[0] == '.' && e->name[1] == '.');
}

static int cmp_entry(const void *a, const void *b) {
    const entry_t *x = a, *y = b;
    size_t m = x->n < y->n ? x->n : y->n;
    int c = memcmp(x->name, y->name, m);
    return c ? c : (x->n > y->n) - (x->n < y->n);
}

/* ---- identity numbering for `ino` ----------------------------------------------------------- */

static uint64_t seen_dev[1024], seen_ino[1024];
static size_t nseen;

static size_t ino_ordinal(uint64_t dev, uint64_t ino) {
    for (size_t i = 0; i < nseen; i++)
        if (seen_dev[i] == dev && seen_ino[i] == ino) return i + 1;
    if (nseen == 1024) return 0;
    seen_dev[nseen] = dev;
    seen_ino[nseen] = ino;
    return ++nseen;
}

/* ---- fd registers: $K = the fd the K-th open returned ------------------------------------------ */

#define MAX_OPENS 65536
#define NO_FD 0xFFFFFFFFu

static uint32_t opened[MAX_OPENS];
static size_t nopened;

static void remember_open(uint32_t fd) {
    if (nopened < MAX_OPENS) opened[nopened] = fd;
    nopened++; /* past MAX_OPENS the numbering still advances; those $K are parse errors */
}

/* An FD argument: a number, or $K for the K-th open's fd (ERR parse if no such open yet). */
static int parse_fd(const tok_t *t, uint32_t *fd) {
    if (t->n > 1 && t->p[0] == '$') {
        tok_t rest = {t->p + 1, t->n - 1};
        uint64_t k;
        if (parse_u64(&rest, &k) || k >= nopened || k >= MAX_OPENS) return -1;
        *fd = opened[k];
        return 0;
    }
    return parse_u32(t, fd);
}

/* ---- operations ----------------------------------------------------------------------------- */
/* Each returns -1 on a parse error (having printed nothing), else 0 after printing its line. */

#define NEED(cond) \
    do {           \
        if (!(cond)) return -1; \
    } while (0)

static int op_open(tok_t *a, int n) {
    uint32_t dirfd, fd = 0;
    uint64_t oflags = 0, base = 0, inh = RIGHTS_ALL, fdflags = 0, lookup = 1;
    tok_t readmode = {"read", 4};
    NEED(n >= 2 && n % 2 == 0 && !parse_fd(&a[0], &dirfd));
    parse_rights(&readmode, &base);
    for (int i = 2; i < n; i += 2) {
        if (tok_is(&a[i], "oflags")) NEED(!parse_flags(&a[i + 1], OFLAGS, &oflags) && oflags <= 0xffff);
        else if (tok_is(&a[i], "rights")) NEED(!parse_rights(&a[i + 1], &base));
        else if (tok_is(&a[i], "inherit")) NEED(!parse_rights(&a[i + 1], &inh));
        else if (tok_is(&a[i], "fdflags")) NEED(!parse_flags(&a[i + 1], FDFLAGS, &fdflags) && fdflags <= 0xffff);
        else if (tok_is(&a[i], "lookup")) NEED(!parse_lookup(&a[i + 1], &lookup));
        else return -1;
    }
    if (fail(w_path_open((int32_t)dirfd, (int32_t)lookup, P(a[1].p), (int32_t)a[1].n, (int32_t)oflags,
                         (int64_t)base, (int64_t)inh, (int32_t)fdflags, P(&fd)))) {
        remember_open(NO_FD);
        return 0;
    }
    remember_open(fd);
    say("ok %u\n", (unsigned)fd);
    return 0;
}

/* ops of the form "OP FD" returning nothing */
static int op_fd_only(tok_t *a, int n, int32_t (*call)(int32_t)) {
    uint32_t fd;
    NEED(n == 1 && !parse_fd(&a[0], &fd));
    if (!fail(call((int32_t)fd))) say("ok\n");
    return 0;
}
static int op_close(tok_t *a, int n) { return op_fd_only(a, n, w_fd_close); }
static int op_sync(tok_t *a, int n) { return op_fd_only(a, n, w_fd_sync); }
static int op_datasync(tok_t *a, int n) { return op_fd_only(a, n, w_fd_datasync); }

static int do_read(uint32_t fd, uint64_t len, int positional, uint64_t off) {
    unsigned char *buf = guarded(len);
    uint32_t iov[2] = {(uint32_t)P(buf), (uint32_t)len}, got = 0;
    int32_t e = positional ? w_fd_pread((int32_t)fd, P(iov), 1, (int64_t)off, P(&got))
                           : w_fd_read((int32_t)fd, P(iov), 1, P(&got));
    if (!fail(e)) {
        if (got > len) say("bad nread=%u\n", (unsigned)got);
        else if (!overrun(buf, len)) {
            say("ok ");
            put_quoted((char *)buf, got);
            putchar('\n');
        }
    }
    free(buf);
    return 0;
}

static int op_read(tok_t *a, int n) {
    uint32_t fd;
    uint64_t len;
    NEED(n == 2 && !parse_fd(&a[0], &fd) && !parse_u64(&a[1], &len) && len <= MAX_BUF);
    return do_read(fd, len, 0, 0);
}

static int op_pread(tok_t *a, int n) {
    uint32_t fd;
    uint64_t len, off;
    NEED(n == 3 && !parse_fd(&a[0], &fd) && !parse_u64(&a[1], &len) && len <= MAX_BUF &&
         !parse_u64(&a[2], &off));
    return do_read(fd, len, 1, off);
}

static int do_write(uint32_t fd, const tok_t *data, int positional, uint64_t off) {
    uint32_t iov[2] = {(uint32_t)P(data->p), (uint32_t)data->n}, put = 0;
    int32_t e = positional ? w_fd_pwrite((int32_t)fd, P(iov), 1, (int64_t)off, P(&put))
                           : w_fd_write((int32_t)fd, P(iov), 1, P(&put));
    if (!fail(e)) say("ok %u\n", (unsigned)put);
    return 0;
}

static int op_write(tok_t *a, int n) {
    uint32_t fd;
    NEED(n == 2 && !parse_fd(&a[0], &fd));
    return do_write(fd, &a[1], 0, 0);
}

static int op_pwrite(tok_t *a, int n) {
    uint32_t fd;
    uint64_t off;
    NEED(n == 3 && !parse_fd(&a[0], &fd) && !parse_u64(&a[2], &off));
    return do_write(fd, &a[1], 1, off);
}

static int op_seek(tok_t *a, int n) {
    uint32_t fd;
    int64_t off;
    uint64_t whence, pos = 0;
    NEED(n == 3 && !parse_fd(&a[0], &fd) && !parse_i64(&a[1], &off) &&
         !parse_enum(&a[2], WHENCE, &whence) && whence <= 255);
    if (!fail(w_fd_seek((int32_t)fd, off, (int32_t)whence, P(&pos))))
        say("ok %llu\n", (unsigned long long)pos);
    return 0;
}

static int op_tell(tok_t *a, int n) {
    uint32_t fd;
    uint64_t pos = 0;
    NEED(n == 1 && !parse_fd(&a[0], &fd));
    if (!fail(w_fd_tell((int32_t)fd, P(&pos)))) say("ok %llu\n", (unsigned long long)pos);
    return 0;
}

static int op_advise(tok_t *a, int n) {
    uint32_t fd;
    uint64_t off, len, advice;
    NEED(n == 4 && !parse_fd(&a[0], &fd) && !parse_u64(&a[1], &off) && !parse_u64(&a[2], &len) &&
         !parse_enum(&a[3], ADVICE, &advice) && advice <= 255);
    if (!fail(w_fd_advise((int32_t)fd, (int64_t)off, (int64_t)len, (int32_t)advice))) say("ok\n");
    return 0;
}

static int op_allocate(tok_t *a, int n) {
    uint32_t fd;
    uint64_t off, len;
    NEED(n == 3 && !parse_fd(&a[0], &fd) && !parse_u64(&a[1], &off) && !parse_u64(&a[2], &len));
    if (!fail(w_fd_allocate((int32_t)fd, (int64_t)off, (int64_t)len))) say("ok\n");
    return 0;
}

static int op_truncate(tok_t *a, int n) {
    uint32_t fd;
    uint64_t size;
    NEED(n == 2 && !parse_fd(&a[0], &fd) && !parse_u64(&a[1], &size));
    if (!fail(w_fd_filestat_set_size((int32_t)fd, (int64_t)size))) say("ok\n");
    return 0;
}

static void put_stat(const filestat_t *st) {
    if (st->filetype == 3) { /* a directory's size and link count are the backend's own */
        say("ok dir\n");
        return;
    }
    say("ok %s size=%llu nlink=%llu\n", type_name(st->filetype), (unsigned long long)st->size,
           (unsigned long long)st->nlink);
}

static void put_times(const filestat_t *st) {
    say("ok atim=%llu mtim=%llu\n", (unsigned long long)st->atim, (unsigned long long)st->mtim);
}

/* "FD" or "DIRFD PATH [follow|nofollow]": fd_filestat_get or path_filestat_get */
static int stat_target(tok_t *a, int n, int allow_fd, filestat_t *st, int32_t *err) {
    uint32_t fd;
    uint64_t lookup = 0;
    if (n == 1 && allow_fd) {
        NEED(!parse_fd(&a[0], &fd));
        *err = fd_stat(fd, st);
        return 0;
    }
    NEED((n == 2 || n == 3) && !parse_fd(&a[0], &fd));
    if (n == 3) NEED(!parse_lookup(&a[2], &lookup));
    *err = path_stat(fd, (uint32_t)lookup, &a[1], st);
    return 0;
}

static int op_fstat(tok_t *a, int n) {
    filestat_t st;
    int32_t e;
    NEED(n == 1 && !stat_target(a, n, 1, &st, &e));
    if (!fail(e)) put_stat(&st);
    return 0;
}

static int op_stat(tok_t *a, int n) {
    filestat_t st;
    int32_t e;
    NEED(n >= 2 && !stat_target(a, n, 0, &st, &e));
    if (!fail(e)) put_stat(&st);
    return 0;
}

static int op_ftimes(tok_t *a, int n) {
    filestat_t st;
    int32_t e;
    NEED(n == 1 && !stat_target(a, n, 1, &st, &e));
    if (!fail(e)) put_times(&st);
    return 0;
}

static int op_times(tok_t *a, int n) {
    filestat_t st;
    int32_t e;
    NEED(n >= 2 && !stat_target(a, n, 0, &st, &e));
    if (!fail(e)) put_times(&st);
    return 0;
}

static int op_ino(tok_t *a, int n) {
    filestat_t st;
    int32_t e;
    NEED(!stat_target(a, n, 1, &st, &e));
    if (!fail(e)) say("ok #%zu\n", ino_ordinal(st.dev, st.ino));
    return 0;
}

static int op_inocheck(tok_t *a, int n) {
    uint32_t fd;
    entry_t *v;
    size_t cnt, same = 0, differ = 0;
    NEED(n == 1 && !parse_fd(&a[0], &fd));
    if (list_dir(fd, &v, &cnt)) return 0;
    char *names = calloc(1, 1);
    size_t nlen = 0;
    for (size_t i = 0; i < cnt; i++) {
        filestat_t st;
        int32_t e;
        if (v[i].n == 2 && memcmp(v[i].name, "..", 2) == 0) continue;
        if (v[i].n == 1 && v[i].name[0] == '.') e = fd_stat(fd, &st);
        else {
            tok_t name = {v[i].name, v[i].n};
            e = path_stat(fd, 0, &name, &st);
        }
        if (!e && st.ino == v[i].ino) {
            same++;
            continue;
        }
        differ++;
        names = realloc(names, nlen + v[i].n + 2);
        names[nlen++] = ' ';
        memcpy(names + nlen, v[i].name, v[i].n);
        nlen += v[i].n;
        names[nlen] = 0;
    }
    say("ok same=%zu differ=%zu%s\n", same, differ, names);
    free(names);
    free_entries(v, cnt);
    return 0;
}

static int op_fsettimes(tok_t *a, int n) {
    uint32_t fd;
    uint64_t atim, mtim, fst;
    NEED(n == 4 && !parse_fd(&a[0], &fd) && !parse_u64(&a[1], &atim) && !parse_u64(&a[2], &mtim) &&
         !parse_flags(&a[3], FSTFLAGS, &fst) && fst <= 0xffff);
    if (!fail(w_fd_filestat_set_times((int32_t)fd, (int64_t)atim, (int64_t)mtim, (int32_t)fst)))
        say("ok\n");
    return 0;
}

static int op_settimes(tok_t *a, int n) {
    uint32_t fd;
    uint64_t atim, mtim, fst, lookup = 0;
    NEED((n == 5 || n == 6) && !parse_fd(&a[0], &fd) && !parse_u64(&a[2], &atim) &&
         !parse_u64(&a[3], &mtim) && !parse_flags(&a[4], FSTFLAGS, &fst) && fst <= 0xffff);
    if (n == 6) NEED(!parse_lookup(&a[5], &lookup));
    if (!fail(w_path_filestat_set_times((int32_t)fd, (int32_t)lookup, P(a[1].p), (int32_t)a[1].n,
                                        (int64_t)atim, (int64_t)mtim, (int32_t)fst)))
        say("ok\n");
    return 0;
}

static int op_fdstat(tok_t *a, int n) {
    uint32_t fd;
    _Alignas(8) unsigned char b[24];
    NEED((n == 1 || (n == 2 && tok_is(&a[1], "norights"))) && !parse_fd(&a[0], &fd));
    if (fail(w_fd_fdstat_get((int32_t)fd, P(b)))) return 0;
    say("ok %s ", type_name(b[0]));
    put_flags(u16_at(b + 2), FDFLAGS);
    if (n == 1)
        say(" base=0x%llx inh=0x%llx", (unsigned long long)u64_at(b + 8),
               (unsigned long long)u64_at(b + 16));
    putchar('\n');
    return 0;
}

static int op_setflags(tok_t *a, int n) {
    uint32_t fd;
    uint64_t flags;
    NEED(n == 2 && !parse_fd(&a[0], &fd) && !parse_flags(&a[1], FDFLAGS, &flags) && flags <= 0xffff);
    if (!fail(w_fd_fdstat_set_flags((int32_t)fd, (int32_t)flags))) say("ok\n");
    return 0;
}

static int op_setrights(tok_t *a, int n) {
    uint32_t fd;
    uint64_t base, inh;
    NEED(n == 3 && !parse_fd(&a[0], &fd) && !parse_rights(&a[1], &base) && !parse_rights(&a[2], &inh));
    if (!fail(w_fd_fdstat_set_rights((int32_t)fd, (int64_t)base, (int64_t)inh))) say("ok\n");
    return 0;
}

/* ops of the form "OP DIRFD PATH" */
static int op_dir_path(tok_t *a, int n, int32_t (*call)(int32_t, int32_t, int32_t)) {
    uint32_t fd;
    NEED(n == 2 && !parse_fd(&a[0], &fd));
    if (!fail(call((int32_t)fd, P(a[1].p), (int32_t)a[1].n))) say("ok\n");
    return 0;
}
static int op_mkdir(tok_t *a, int n) { return op_dir_path(a, n, w_path_create_directory); }
static int op_rmdir(tok_t *a, int n) { return op_dir_path(a, n, w_path_remove_directory); }
static int op_unlink(tok_t *a, int n) { return op_dir_path(a, n, w_path_unlink_file); }

static int op_rename(tok_t *a, int n) {
    uint32_t fd1, fd2;
    NEED(n == 4 && !parse_fd(&a[0], &fd1) && !parse_fd(&a[2], &fd2));
    if (!fail(w_path_rename((int32_t)fd1, P(a[1].p), (int32_t)a[1].n, (int32_t)fd2, P(a[3].p),
                            (int32_t)a[3].n)))
        say("ok\n");
    return 0;
}

static int op_link(tok_t *a, int n) {
    uint32_t fd1, fd2;
    uint64_t lookup = 0;
    NEED((n == 4 || n == 5) && !parse_fd(&a[0], &fd1) && !parse_fd(&a[2], &fd2));
    if (n == 5) NEED(!parse_lookup(&a[4], &lookup));
    if (!fail(w_path_link((int32_t)fd1, (int32_t)lookup, P(a[1].p), (int32_t)a[1].n, (int32_t)fd2,
                          P(a[3].p), (int32_t)a[3].n)))
        say("ok\n");
    return 0;
}

static int op_symlink(tok_t *a, int n) {
    uint32_t fd;
    NEED(n == 3 && !parse_fd(&a[1], &fd));
    if (!fail(w_path_symlink(P(a[0].p), (int32_t)a[0].n, (int32_t)fd, P(a[2].p), (int32_t)a[2].n)))
        say("ok\n");
    return 0;
}

static int op_readlink(tok_t *a, int n) {
    uint32_t fd;
    uint64_t len = 4096;
    NEED((n == 2 || n == 3) && !parse_fd(&a[0], &fd));
    if (n == 3) NEED(!parse_u64(&a[2], &len) && len <= MAX_BUF);
    unsigned char *buf = guarded(len);
    uint32_t used = 0;
    if (!fail(w_path_readlink((int32_t)fd, P(a[1].p), (int32_t)a[1].n, P(buf), (int32_t)len, P(&used)))) {
        if (used > len) say("bad bufused=%u\n", (unsigned)used);
        else if (!overrun(buf, len)) {
            say("ok ");
            put_quoted((char *)buf, used);
            putchar('\n');
        }
    }
    free(buf);
    return 0;
}

static int op_readdir(tok_t *a, int n) {
    uint32_t fd;
    uint64_t len = 4096, cookie = 0;
    NEED(n >= 1 && n <= 3 && !parse_fd(&a[0], &fd));
    if (n >= 2) NEED(!parse_u64(&a[1], &len) && len <= MAX_BUF);
    if (n == 3) NEED(!parse_u64(&a[2], &cookie));
    unsigned char *buf = guarded(len);
    uint32_t used = 0;
    if (!fail(w_fd_readdir((int32_t)fd, P(buf), (int32_t)len, (int64_t)cookie, P(&used)))) {
        if (used > len) say("bad bufused=%u\n", (unsigned)used);
        else if (!overrun(buf, len)) {
            say("ok %u", (unsigned)used);
            size_t pos = 0;
            while (pos < used) {
                if (used - pos < 24 || used - pos - 24 < u32_at(buf + pos + 16)) {
                    say(" cut:%zu", used - pos);
                    break;
                }
                uint32_t namlen = u32_at(buf + pos + 16);
                say(" %llu:%s:", (unsigned long long)u64_at(buf + pos), type_name(buf[pos + 20]));
                put_name((char *)buf + pos + 24, namlen);
                pos += 24 + namlen;
            }
            putchar('\n');
        }
    }
    free(buf);
    return 0;
}

static int op_ls(tok_t *a, int n) {
    uint32_t fd;
    entry_t *v;
    size_t cnt;
    NEED(n == 1 && !parse_fd(&a[0], &fd));
    if (list_dir(fd, &v, &cnt)) return 0;
    qsort(v, cnt, sizeof *v, cmp_entry);
    say("ok");
    for (size_t i = 0; i < cnt; i++) {
        if (is_dot_or_dotdot(&v[i])) continue;
        putchar(' ');
        put_name(v[i].name, v[i].n);
        say(":%s", type_name(v[i].type));
    }
    putchar('\n');
    free_entries(v, cnt);
    return 0;
}

static int op_renumber(tok_t *a, int n) {
    uint32_t from, to;
    NEED(n == 2 && !parse_fd(&a[0], &from) && !parse_fd(&a[1], &to));
    if (!fail(w_fd_renumber((int32_t)from, (int32_t)to))) say("ok\n");
    return 0;
}

static int op_prestat(tok_t *a, int n) {
    uint32_t fd;
    uint64_t buflen = UINT64_MAX;
    _Alignas(8) unsigned char b[8];
    NEED((n == 1 || n == 2) && !parse_fd(&a[0], &fd));
    if (n == 2) NEED(!parse_u64(&a[1], &buflen) && buflen <= MAX_BUF);
    if (fail(w_fd_prestat_get((int32_t)fd, P(b)))) return 0;
    if (b[0] != 0) {
        say("ok tag=%u\n", b[0]);
        return 0;
    }
    uint32_t len = u32_at(b + 4);
    if (len > MAX_BUF) {
        say("bad pr_name_len=%u\n", (unsigned)len);
        return 0;
    }
    if (buflen == UINT64_MAX) buflen = len;
    unsigned char *name = guarded(buflen);
    if (!fail(w_fd_prestat_dir_name((int32_t)fd, P(name), (int32_t)buflen)) && !overrun(name, buflen)) {
        say("ok dir ");
        put_quoted((char *)name, len < buflen ? len : buflen);
        putchar('\n');
    }
    free(name);
    return 0;
}

typedef struct {
    const char *name;
    int (*run)(tok_t *, int);
} op_t;

static const op_t OPS[] = {
    {"open", op_open},         {"close", op_close},       {"read", op_read},
    {"write", op_write},       {"pread", op_pread},       {"pwrite", op_pwrite},
    {"seek", op_seek},         {"tell", op_tell},         {"sync", op_sync},
    {"datasync", op_datasync}, {"advise", op_advise},     {"allocate", op_allocate},
    {"truncate", op_truncate}, {"fstat", op_fstat},       {"stat", op_stat},
    {"ino", op_ino},           {"inocheck", op_inocheck}, {"ftimes", op_ftimes},
    {"times", op_times},       {"fsettimes", op_fsettimes}, {"settimes", op_settimes},
    {"fdstat", op_fdstat},     {"setflags", op_setflags}, {"setrights", op_setrights},
    {"mkdir", op_mkdir},       {"rmdir", op_rmdir},       {"unlink", op_unlink},
    {"rename", op_rename},     {"link", op_link},         {"symlink", op_symlink},
    {"readlink", op_readlink}, {"readdir", op_readdir},   {"ls", op_ls},
    {"renumber", op_renumber}, {"prestat", op_prestat},
};

static void run_line(const char *line, size_t len) {
    size_t i = 0;
    while (i < len && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) i++;
    if (i == len || line[i] == '#') return; /* blank line or comment */
    tok_t toks[MAX_TOKENS];
    char *arena = malloc(len + MAX_TOKENS + 1);
    int nt = tokenize(line, len, arena, toks);
    int rc = -1;
    if (nt > 0)
        for (size_t i = 0; i < sizeof OPS / sizeof *OPS; i++)
            if (tok_is(&toks[0], OPS[i].name)) {
                rc = OPS[i].run(toks + 1, nt - 1);
                break;
            }
    if (rc < 0) say("ERR parse\n");
    free(arena);
}

int main(void) {
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) >= 0) {
        if (len > 0 && line[len - 1] == '\n') len--;
        run_line(line, (size_t)len);
        fflush(stdout);
    }
    free(line);
    return 0;
}
