/*
 * tree: a small "real program" guest that only uses ordinary libc (stdio, dirent, stat,
 * unistd), so every call goes through wasi-libc's preopen lookup and path handling, the way
 * ordinary software reaches the filesystem. Absolute paths such as /sandbox/x resolve through
 * the preopens; relative ones through the current directory (see `cd`).
 *
 *   tree CMD ARGS... [";" CMD ARGS...]...
 *
 *   ls [-R] DIR        a sorted listing (recursive with -R), one entry per line:
 *                        d PATH/            directory
 *                        f PATH SIZE        regular file
 *                        l PATH -> TARGET   symbolic link (never followed)
 *                        ? PATH             anything else
 *                      PATH is relative to DIR
 *   cat FILE...        copy the files to stdout
 *   cp SRC DST         copy a file (fopen/fread/fwrite)
 *   write FILE TEXT    create or truncate FILE, write TEXT
 *   append FILE TEXT   append TEXT to FILE (fopen "a")
 *   touch FILE         create FILE if missing (never truncates)
 *   rm [-r] PATH...    unlink files and links; with -r, remove directories and their content
 *   rmdir DIR
 *   mv SRC DST         rename
 *   mkdir [-p] DIR     with -p, create missing parents and accept an existing directory
 *   ln [-s] SRC DST    a hard link, or a symbolic link holding SRC
 *   stat PATH          "TYPE size=N" (follows links; TYPE as in ls)
 *   cd DIR / pwd       change / print the current directory
 *
 * A failing command prints "CMD: ARG: strerror" on stdout (so it interleaves with the other
 * output) and the run continues; the exit status is 1 if anything failed, else 0.
 */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int failed;

static int report(const char *cmd, const char *arg) {
    printf("%s: %s: %s\n", cmd, arg, strerror(errno));
    failed = 1;
    return -1;
}

static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *r = malloc(la + lb + 2);
    memcpy(r, a, la);
    size_t n = la;
    if (la && a[la - 1] != '/' && lb) r[n++] = '/';
    memcpy(r + n, b, lb + 1);
    return r;
}

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The entry names of `dir` (without . and ..), sorted; NULL on error. */
static char **read_names(const char *dir, size_t *count) {
    DIR *d = opendir(dir);
    if (!d) return NULL;
    size_t n = 0, cap = 16;
    char **names = malloc(cap * sizeof *names);
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (n == cap) names = realloc(names, (cap *= 2) * sizeof *names);
        names[n++] = strdup(e->d_name);
    }
    int err = errno;
    closedir(d);
    if (err) {
        for (size_t i = 0; i < n; i++) free(names[i]);
        free(names);
        errno = err;
        return NULL;
    }
    qsort(names, n, sizeof *names, cmp_names);
    *count = n;
    return names;
}

static void list(const char *root, const char *rel, int recursive) {
    char *dir = *rel ? join(root, rel) : strdup(root);
    size_t n;
    char **names = read_names(dir, &n);
    if (!names) {
        report("ls", dir);
        free(dir);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char *path = join(dir, names[i]);
        char *shown = *rel ? join(rel, names[i]) : strdup(names[i]);
        struct stat st;
        if (lstat(path, &st) != 0) {
            report("ls", path);
        } else if (S_ISDIR(st.st_mode)) {
            printf("d %s/\n", shown);
            if (recursive) list(root, shown, 1);
        } else if (S_ISREG(st.st_mode)) {
            printf("f %s %lld\n", shown, (long long)st.st_size);
        } else if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t len = readlink(path, target, sizeof target - 1);
            if (len < 0) report("ls", path);
            else printf("l %s -> %.*s\n", shown, (int)len, target);
        } else {
            printf("? %s\n", shown);
        }
        free(path);
        free(shown);
        free(names[i]);
    }
    free(names);
    free(dir);
}

static int cmd_ls(int argc, char **argv) {
    int recursive = argc > 1 && !strcmp(argv[1], "-R");
    int first = recursive ? 2 : 1;
    if (argc != first + 1) return printf("ls: usage\n"), failed = 1;
    list(argv[first], "", recursive);
    return 0;
}

static int copy_stream(FILE *in, FILE *out, const char *cmd, const char *name) {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        if (fwrite(buf, 1, n, out) != n) return report(cmd, name);
    if (ferror(in)) return report(cmd, name);
    return 0;
}

static int cmd_cat(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            report("cat", argv[i]);
            continue;
        }
        copy_stream(f, stdout, "cat", argv[i]);
        fclose(f);
    }
    return 0;
}

static int cmd_cp(int argc, char **argv) {
    if (argc != 3) return printf("cp: usage\n"), failed = 1;
    FILE *in = fopen(argv[1], "rb");
    if (!in) return report("cp", argv[1]);
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        fclose(in);
        return report("cp", argv[2]);
    }
    copy_stream(in, out, "cp", argv[2]);
    fclose(in);
    if (fclose(out) != 0) return report("cp", argv[2]);
    return 0;
}

static int put_text(const char *cmd, const char *mode, int argc, char **argv) {
    if (argc != 3) return printf("%s: usage\n", cmd), failed = 1;
    FILE *f = fopen(argv[1], mode);
    if (!f) return report(cmd, argv[1]);
    size_t n = strlen(argv[2]);
    if (fwrite(argv[2], 1, n, f) != n) report(cmd, argv[1]);
    if (fclose(f) != 0) return report(cmd, argv[1]);
    return 0;
}
static int cmd_write(int argc, char **argv) { return put_text("write", "wb", argc, argv); }
static int cmd_append(int argc, char **argv) { return put_text("append", "ab", argc, argv); }

static int cmd_touch(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_WRONLY | O_CREAT, 0644);
        if (fd < 0) report("touch", argv[i]);
        else close(fd);
    }
    return 0;
}

static int remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return report("rm", path);
    if (!S_ISDIR(st.st_mode)) return unlink(path) == 0 ? 0 : report("rm", path);
    size_t n;
    char **names = read_names(path, &n);
    if (!names) return report("rm", path);
    for (size_t i = 0; i < n; i++) {
        char *child = join(path, names[i]);
        remove_tree(child);
        free(child);
        free(names[i]);
    }
    free(names);
    return rmdir(path) == 0 ? 0 : report("rm", path);
}

static int cmd_rm(int argc, char **argv) {
    int recursive = argc > 1 && !strcmp(argv[1], "-r");
    for (int i = recursive ? 2 : 1; i < argc; i++) {
        if (recursive) remove_tree(argv[i]);
        else if (unlink(argv[i]) != 0) report("rm", argv[i]);
    }
    return 0;
}

static int cmd_rmdir(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (rmdir(argv[i]) != 0) report("rmdir", argv[i]);
    return 0;
}

static int cmd_mv(int argc, char **argv) {
    if (argc != 3) return printf("mv: usage\n"), failed = 1;
    return rename(argv[1], argv[2]) == 0 ? 0 : report("mv", argv[1]);
}

static int mkdir_p(char *path) {
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        int rc = mkdir(path, 0755);
        int err = errno;
        *p = '/';
        if (rc != 0 && err != EEXIST) {
            errno = err;
            return -1;
        }
    }
    if (mkdir(path, 0755) == 0) return 0;
    int err = errno;
    struct stat st;
    if (err == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0;
    errno = err;
    return -1;
}

static int cmd_mkdir(int argc, char **argv) {
    int parents = argc > 1 && !strcmp(argv[1], "-p");
    for (int i = parents ? 2 : 1; i < argc; i++) {
        int rc = parents ? mkdir_p(argv[i]) : mkdir(argv[i], 0755);
        if (rc != 0) report("mkdir", argv[i]);
    }
    return 0;
}

static int cmd_ln(int argc, char **argv) {
    int sym = argc > 1 && !strcmp(argv[1], "-s");
    int first = sym ? 2 : 1;
    if (argc != first + 2) return printf("ln: usage\n"), failed = 1;
    int rc = sym ? symlink(argv[first], argv[first + 1]) : link(argv[first], argv[first + 1]);
    return rc == 0 ? 0 : report("ln", argv[first + 1]);
}

static int cmd_stat(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            report("stat", argv[i]);
            continue;
        }
        const char *t = S_ISDIR(st.st_mode) ? "d" : S_ISREG(st.st_mode) ? "f" : "?";
        if (S_ISDIR(st.st_mode)) printf("%s %s\n", argv[i], t);
        else printf("%s %s size=%lld\n", argv[i], t, (long long)st.st_size);
    }
    return 0;
}

static int cmd_cd(int argc, char **argv) {
    if (argc != 2) return printf("cd: usage\n"), failed = 1;
    return chdir(argv[1]) == 0 ? 0 : report("cd", argv[1]);
}

static int cmd_pwd(int argc, char **argv) {
    char buf[4096];
    if (!getcwd(buf, sizeof buf)) return report("pwd", ".");
    printf("%s\n", buf);
    return 0;
}

typedef struct {
    const char *name;
    int (*run)(int, char **);
} cmd_t;

static const cmd_t CMDS[] = {
    {"ls", cmd_ls},       {"cat", cmd_cat},     {"cp", cmd_cp},       {"write", cmd_write},
    {"append", cmd_append}, {"touch", cmd_touch}, {"rm", cmd_rm},     {"rmdir", cmd_rmdir},
    {"mv", cmd_mv},       {"mkdir", cmd_mkdir}, {"ln", cmd_ln},       {"stat", cmd_stat},
    {"cd", cmd_cd},       {"pwd", cmd_pwd},
};

static void run(int argc, char **argv) {
    for (size_t i = 0; i < sizeof CMDS / sizeof *CMDS; i++)
        if (!strcmp(argv[0], CMDS[i].name)) {
            CMDS[i].run(argc, argv);
            fflush(stdout);
            return;
        }
    printf("%s: unknown command\n", argv[0]);
    failed = 1;
}

int main(int argc, char **argv) {
    int start = 1;
    for (int i = 1; i <= argc; i++) {
        if (i < argc && strcmp(argv[i], ";") != 0) continue;
        if (i > start) run(i - start, argv + start);
        start = i + 1;
    }
    return failed;
}
