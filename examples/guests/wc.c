/* wc: count lines, words and bytes, as POSIX wc does, for examples/test_wc_property.py.
 *
 *   wc [-l] [-w] [-c] [--] [FILE...]
 *
 * Prints "LINES WORDS BYTES NAME" per file (only the columns asked for, in that order, single
 * spaces), then "... total" when more than one file was given; with no FILE it counts stdin and
 * prints no name. A word is a maximal run of bytes that are not C-locale white space
 * (space \t \n \v \f \r). A file that cannot be read gets "wc: NAME: REASON" on stderr, the
 * others are still counted, and the exit status is 1.
 *
 * Built with: clang --target=wasm32-wasi -O2 -Wl,--strip-all -o wc.wasm wc.c
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    unsigned long long lines, words, bytes;
} counts_t;

static int want_lines, want_words, want_bytes;

static int is_space(unsigned char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Counts what fd holds; 0 on success, else an errno. */
static int count(int fd, counts_t *out) {
    static unsigned char buf[65536];
    int in_word = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0) return errno;
        if (n == 0) return 0;
        out->bytes += (unsigned long long)n;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') out->lines++;
            if (is_space(buf[i])) {
                in_word = 0;
            } else if (!in_word) {
                in_word = 1;
                out->words++;
            }
        }
    }
}

static void print(const counts_t *c, const char *name) {
    const char *sep = "";
    if (want_lines) printf("%s%llu", sep, c->lines), sep = " ";
    if (want_words) printf("%s%llu", sep, c->words), sep = " ";
    if (want_bytes) printf("%s%llu", sep, c->bytes), sep = " ";
    if (name) printf("%s%s", sep, name);
    putchar('\n');
}

/* Counts file `name` into *c; on failure reports it and returns 1. */
static int count_file(const char *name, counts_t *c) {
    int fd = open(name, O_RDONLY);
    int err = fd < 0 ? errno : 0;
    struct stat st;
    if (!err && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) err = EISDIR;
    if (!err) err = count(fd, c);
    if (fd >= 0) close(fd);
    if (err) fprintf(stderr, "wc: %s: %s\n", name, strerror(err));
    return err != 0;
}

int main(int argc, char **argv) {
    int first = 1;
    for (; first < argc && argv[first][0] == '-' && argv[first][1]; first++) {
        if (strcmp(argv[first], "--") == 0) { /* the end of the options: "-x" is a name now */
            first++;
            break;
        }
        for (const char *f = argv[first] + 1; *f; f++) {
            if (*f == 'l') want_lines = 1;
            else if (*f == 'w') want_words = 1;
            else if (*f == 'c') want_bytes = 1;
            else {
                fprintf(stderr, "wc: unknown option -%c\n", *f);
                return 2;
            }
        }
    }
    if (!want_lines && !want_words && !want_bytes) want_lines = want_words = want_bytes = 1;

    if (first == argc) {
        counts_t c = {0, 0, 0};
        int err = count(0, &c);
        if (err) {
            fprintf(stderr, "wc: stdin: %s\n", strerror(err));
            return 1;
        }
        print(&c, NULL);
        return 0;
    }
    counts_t total = {0, 0, 0};
    int status = 0;
    for (int i = first; i < argc; i++) {
        counts_t c = {0, 0, 0};
        if (count_file(argv[i], &c)) {
            status = 1;
            continue;
        }
        print(&c, argv[i]);
        total.lines += c.lines;
        total.words += c.words;
        total.bytes += c.bytes;
    }
    if (argc - first > 1) print(&total, "total");
    return status;
}
