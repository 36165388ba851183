/* inventory: walk each directory given on the command line, print every entry with its
 * size (and line count for files), then write a summary file into the first directory.
 * The demo guest of `vfswasi demo`; plain POSIX, nothing vfswasi-specific. */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static long files, dirs, bytes, lines;

static long count_lines(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long n = 0;
    int c;
    while ((c = fgetc(f)) != EOF) n += (c == '\n');
    fclose(f);
    return n;
}

static void walk(const char *dir, int depth) {
    DIR *d = opendir(dir);
    if (!d) { perror(dir); return; }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0) { perror(path); continue; }
        if (S_ISDIR(st.st_mode)) {
            printf("%*s%s/\n", depth * 2, "", e->d_name);
            dirs++;
            walk(path, depth + 1);
        } else {
            long n = count_lines(path);
            printf("%*s%-24s %8lld bytes %6ld lines\n", depth * 2, "", e->d_name,
                   (long long)st.st_size, n);
            files++; bytes += st.st_size; lines += n > 0 ? n : 0;
        }
    }
    closedir(d);
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: inventory DIR...\n"); return 2; }
    for (int i = 1; i < argc; i++) { printf("%s\n", argv[i]); walk(argv[i], 1); }
    char out[1024];
    snprintf(out, sizeof out, "%s/SUMMARY.txt", argv[1]);
    FILE *f = fopen(out, "w");
    if (!f) { perror(out); return 1; }
    fprintf(f, "%ld files, %ld directories, %ld bytes, %ld lines\n", files, dirs, bytes, lines);
    fclose(f);
    printf("wrote %s\n", out);
    return 0;
}
