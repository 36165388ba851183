/*
 * deep: builds and reads back a directory chain far deeper than PATH_MAX allows to name,
 * the way a legal but hostile guest can. WASI has no chdir, so every step is relative to the
 * fd of the directory above: a path handed to the host is never longer than one name.
 *
 *   deep mkdirs ROOT N TEXT   make ROOT/d/d/.../d (N levels) and, at the bottom, the file
 *                             "bottom.txt" holding TEXT; prints "made N"
 *   deep write ROOT N TEXT    walk down N existing levels and (re)write bottom.txt there;
 *                             prints "wrote N"
 *   deep check ROOT N         walk down the N levels and print bottom.txt's content
 *
 * Exit status: 0 on success; 1 (after printing "STEP LEVEL: strerror") on the first failure.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *step, long level) {
    printf("%s %ld: %s\n", step, level, strerror(errno));
    return 1;
}

/* Replace the directory fd `*fd` with one on its subdirectory "d". */
static int down(int *fd) {
    int sub = openat(*fd, "d", O_RDONLY | O_DIRECTORY);
    if (sub < 0) return -1;
    close(*fd);
    *fd = sub;
    return 0;
}

/* Walk down (making each level first when `make`) N levels; then write TEXT to bottom.txt. */
static int build(const char *root, long n, const char *text, int make) {
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return fail("open", 0);
    for (long level = 1; level <= n; level++) {
        if (make && mkdirat(fd, "d", 0755) < 0) return fail("mkdirat", level);
        if (down(&fd) < 0) return fail("openat", level);
    }
    int f = openat(fd, "bottom.txt", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (f < 0) return fail("create", n);
    size_t len = strlen(text);
    if (write(f, text, len) != (ssize_t)len) return fail("write", n);
    if (close(f) < 0 || close(fd) < 0) return fail("close", n);
    printf("%s %ld\n", make ? "made" : "wrote", n);
    return 0;
}

static int check(const char *root, long n) {
    int fd = open(root, O_RDONLY | O_DIRECTORY);
    if (fd < 0) return fail("open", 0);
    for (long level = 1; level <= n; level++) {
        if (down(&fd) < 0) return fail("openat", level);
    }
    int f = openat(fd, "bottom.txt", O_RDONLY);
    if (f < 0) return fail("open bottom.txt", n);
    char buf[4096];
    ssize_t got;
    while ((got = read(f, buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)got, stdout);
    if (got < 0) return fail("read", n);
    close(f);
    close(fd);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "mkdirs") == 0) return build(argv[2], atol(argv[3]), argv[4], 1);
    if (argc == 5 && strcmp(argv[1], "write") == 0) return build(argv[2], atol(argv[3]), argv[4], 0);
    if (argc == 4 && strcmp(argv[1], "check") == 0) return check(argv[2], atol(argv[3]));
    fprintf(stderr, "usage: deep mkdirs|write ROOT N TEXT | deep check ROOT N\n");
    return 2;
}
