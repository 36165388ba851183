/* fill: a guest that runs a storage quota into the ground, then checks what survived.
 *
 * Runs the commands given as arguments in order (each takes a fixed number of arguments) and
 * prints one line per command; errno names, sizes in decimal:
 *
 *   write PATH CHUNK      append CHUNK-byte blocks to PATH (created if missing) until a write
 *                         fails: "write PATH +ADDED size=SIZE ERRNO"
 *   check PATH            read PATH back and verify the pattern every write puts at every
 *                         offset: "check PATH size=SIZE ok" or "... bad@OFFSET"
 *   many DIR N            create empty files DIR/f0, DIR/f1, ... until N or a failure:
 *                         "many DIR made=K ERRNO" (ok when all N were made)
 *   rmmany DIR K          unlink DIR/f0 .. DIR/f(K-1): "rmmany DIR removed=K"
 *   mkdir PATH            "mkdir PATH ERRNO"
 *   rm PATH               unlink: "rm PATH ERRNO"
 *   truncate PATH SIZE    ftruncate (PATH created if missing): "truncate PATH SIZE ERRNO size=S"
 *   falloc PATH OFF LEN   posix_fallocate: "falloc PATH ERRNO size=S"
 *   symlink TARGET PATH   "symlink PATH ERRNO"
 *   link OLD NEW          "link NEW ERRNO"
 *   hold PATH             open PATH read-write and keep the fd (one at a time): "hold PATH ERRNO"
 *   release               close the held fd: "release ERRNO"
 *
 * ERRNO is "ok" or a name (ENOSPC, EFBIG, ...). Exit code 0 unless an argument is malformed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *name_of(int e) {
    static char buf[16];
    switch (e) {
        case 0: return "ok";
        case ENOSPC: return "ENOSPC";
        case EFBIG: return "EFBIG";
        case EDQUOT: return "EDQUOT";
        case ENOMEM: return "ENOMEM";
        case EEXIST: return "EEXIST";
        case ENOENT: return "ENOENT";
        case EINVAL: return "EINVAL";
        case EROFS: return "EROFS";
        case EBADF: return "EBADF";
        case EISDIR: return "EISDIR";
        case ENOTDIR: return "ENOTDIR";
        case ENOTSUP: return "ENOTSUP";
        case EIO: return "EIO";
    }
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

/* the byte every write puts at file offset `off` */
static unsigned char pattern(long long off) { return (unsigned char)(off % 251); }

static long long size_of(int fd) {
    struct stat st;
    return fstat(fd, &st) == 0 ? (long long)st.st_size : -1;
}

static void cmd_write(const char *path, long chunk) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) {
        printf("write %s +0 size=-1 %s\n", path, name_of(errno));
        return;
    }
    unsigned char *buf = malloc((size_t)chunk);
    long long off = lseek(fd, 0, SEEK_END), added = 0;
    int err = 0;
    for (;;) {
        for (long i = 0; i < chunk; i++) buf[i] = pattern(off + i);
        ssize_t n = pwrite(fd, buf, (size_t)chunk, off);
        if (n <= 0) {  /* a short write goes on: the next one says why it was short */
            err = n < 0 ? errno : EIO;
            break;
        }
        off += n;
        added += n;
    }
    printf("write %s +%lld size=%lld %s\n", path, added, size_of(fd), name_of(err));
    free(buf);
    close(fd);
}

static void cmd_check(const char *path) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("check %s %s\n", path, name_of(errno));
        return;
    }
    static unsigned char buf[65536];
    long long off = 0, bad = -1;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n && bad < 0; i++)
            if (buf[i] != pattern(off + i)) bad = off + i;
        off += n;
    }
    if (n < 0)
        printf("check %s %s\n", path, name_of(errno));
    else if (bad >= 0)
        printf("check %s size=%lld bad@%lld\n", path, off, bad);
    else
        printf("check %s size=%lld ok\n", path, off);
    close(fd);
}

static void cmd_many(const char *dir, long n) {
    char path[512];
    long made = 0;
    int err = 0;
    for (; made < n; made++) {
        snprintf(path, sizeof path, "%s/f%ld", dir, made);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0) {
            err = errno;
            break;
        }
        close(fd);
    }
    printf("many %s made=%ld %s\n", dir, made, name_of(err));
}

static void cmd_rmmany(const char *dir, long k) {
    char path[512];
    long removed = 0;
    for (long i = 0; i < k; i++) {
        snprintf(path, sizeof path, "%s/f%ld", dir, i);
        if (unlink(path) == 0) removed++;
    }
    printf("rmmany %s removed=%ld\n", dir, removed);
}

static void cmd_truncate(const char *path, long long size) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        printf("truncate %s %lld %s size=-1\n", path, size, name_of(errno));
        return;
    }
    int err = ftruncate(fd, size) == 0 ? 0 : errno;
    printf("truncate %s %lld %s size=%lld\n", path, size, name_of(err), size_of(fd));
    close(fd);
}

static void cmd_falloc(const char *path, long long off, long long len) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        printf("falloc %s %s size=-1\n", path, name_of(errno));
        return;
    }
    int err = posix_fallocate(fd, off, len);  /* returns the errno */
    printf("falloc %s %s size=%lld\n", path, name_of(err), size_of(fd));
    close(fd);
}

static int held = -1;

static long number(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) {
        fprintf(stderr, "not a number: %s\n", s);
        exit(2);
    }
    return (long)v;
}

static long long number64(const char *s) {
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end) {
        fprintf(stderr, "not a number: %s\n", s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv) {
    int i = 1;
#define NEED(k)                                                      \
    if (i + (k) >= argc) {                                           \
        fprintf(stderr, "%s needs %d argument(s)\n", argv[i], (k)); \
        return 2;                                                    \
    }
    while (i < argc) {
        const char *c = argv[i];
        if (!strcmp(c, "write")) {
            NEED(2) cmd_write(argv[i + 1], number(argv[i + 2]));
            i += 3;
        } else if (!strcmp(c, "check")) {
            NEED(1) cmd_check(argv[i + 1]);
            i += 2;
        } else if (!strcmp(c, "many")) {
            NEED(2) cmd_many(argv[i + 1], number(argv[i + 2]));
            i += 3;
        } else if (!strcmp(c, "rmmany")) {
            NEED(2) cmd_rmmany(argv[i + 1], number(argv[i + 2]));
            i += 3;
        } else if (!strcmp(c, "mkdir")) {
            NEED(1) printf("mkdir %s %s\n", argv[i + 1],
                           name_of(mkdir(argv[i + 1], 0755) == 0 ? 0 : errno));
            i += 2;
        } else if (!strcmp(c, "rm")) {
            NEED(1) printf("rm %s %s\n", argv[i + 1], name_of(unlink(argv[i + 1]) == 0 ? 0 : errno));
            i += 2;
        } else if (!strcmp(c, "truncate")) {
            NEED(2) cmd_truncate(argv[i + 1], number64(argv[i + 2]));
            i += 3;
        } else if (!strcmp(c, "falloc")) {
            NEED(3) cmd_falloc(argv[i + 1], number64(argv[i + 2]), number64(argv[i + 3]));
            i += 4;
        } else if (!strcmp(c, "symlink")) {
            NEED(2) printf("symlink %s %s\n", argv[i + 2],
                           name_of(symlink(argv[i + 1], argv[i + 2]) == 0 ? 0 : errno));
            i += 3;
        } else if (!strcmp(c, "link")) {
            NEED(2) printf("link %s %s\n", argv[i + 2],
                           name_of(link(argv[i + 1], argv[i + 2]) == 0 ? 0 : errno));
            i += 3;
        } else if (!strcmp(c, "hold")) {
            NEED(1) held = open(argv[i + 1], O_RDWR);
            printf("hold %s %s\n", argv[i + 1], name_of(held >= 0 ? 0 : errno));
            i += 2;
        } else if (!strcmp(c, "release")) {
            printf("release %s\n", name_of(close(held) == 0 ? 0 : errno));
            held = -1;
            i += 1;
        } else {
            fprintf(stderr, "unknown command: %s\n", c);
            return 2;
        }
    }
    return 0;
}
