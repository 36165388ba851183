/* A guest that will not stop by itself, for the limits tests.

     spin MODE [PATH TEXT]

   With PATH, first writes TEXT to PATH (the "pre-spin write" a stop must not lose). Then
   prints "ready" on stdout and, by MODE:
     wasm    spins in pure wasm (no WASI call ever again)
     wasi    spins calling clock_time_get
     sleep   sleeps an hour (poll_oneoff)
     stdin   reads stdin (blocks on an empty pipe)
     alloc   allocates and touches 1 MiB blocks until malloc fails, then aborts
     exit    returns 0 at once (for the usage report)
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* where alloc keeps its blocks: an escaping pointer, so the compiler cannot elide malloc */
char *volatile kept;

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: spin MODE [PATH TEXT]\n");
        return 2;
    }
    const char *mode = argv[1];
    if (argc >= 4) {
        FILE *f = fopen(argv[2], "w");
        if (!f || fputs(argv[3], f) < 0 || fclose(f) != 0) {
            perror(argv[2]);
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    if (!strcmp(mode, "wasm")) {
        volatile unsigned long n = 0;
        for (;;) n++;
    } else if (!strcmp(mode, "wasi")) {
        struct timespec ts;
        for (;;) clock_gettime(CLOCK_MONOTONIC, &ts);
    } else if (!strcmp(mode, "sleep")) {
        sleep(3600);
        printf("woke up\n");
    } else if (!strcmp(mode, "stdin")) {
        char buf[64];
        ssize_t n = read(0, buf, sizeof buf);
        printf("read %zd\n", n);
    } else if (!strcmp(mode, "alloc")) {
        size_t total = 0;
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) {
                fprintf(stderr, "out of memory after %zu MiB\n", total);
                abort();
            }
            memset(p, 1, 1 << 20);
            kept = p;
            total++;
        }
    } else if (!strcmp(mode, "exit")) {
        return 0;
    } else {
        fprintf(stderr, "spin: unknown mode %s\n", mode);
        return 2;
    }
    return 0;
}
