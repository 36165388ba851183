/* jobtool: a small batch tool for the jobs tests (vfswasi.jobs) and their benchmark.

     jobtool [--attempt FILE] [--wait FILE] [--exit N] IN OUT

   Reads IN, writes "SIZE FNV1A-64\n" to OUT and to stdout, then exits with N (default 0).
   --attempt FILE appends a line "attempt" to FILE first (so a test can count how often a job
   ran); --wait FILE then waits (sleeping 20 ms at a time) until FILE exists.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int main(int argc, char **argv) {
    const char *attempt = NULL, *wait = NULL;
    int code = 0, i = 1;
    for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
        if (!strcmp(argv[i], "--attempt")) attempt = argv[i + 1];
        else if (!strcmp(argv[i], "--wait")) wait = argv[i + 1];
        else if (!strcmp(argv[i], "--exit")) code = atoi(argv[i + 1]);
        else break;
    }
    if (argc - i != 2) {
        fprintf(stderr, "usage: jobtool [--attempt FILE] [--wait FILE] [--exit N] IN OUT\n");
        return 2;
    }
    if (attempt) {
        FILE *a = fopen(attempt, "a");
        if (!a || fputs("attempt\n", a) < 0 || fclose(a) != 0) {
            perror(attempt);
            return 1;
        }
    }
    if (wait) {
        struct stat st;
        struct timespec pause = {0, 20 * 1000 * 1000};
        while (stat(wait, &st) != 0) nanosleep(&pause, NULL);
    }
    FILE *in = fopen(argv[i], "rb");
    if (!in) {
        perror(argv[i]);
        return 1;
    }
    static unsigned char buf[65536];
    unsigned long long hash = 0xcbf29ce484222325ULL, size = 0;
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) {
        for (size_t k = 0; k < n; k++) hash = (hash ^ buf[k]) * 0x100000001b3ULL;
        size += n;
    }
    fclose(in);
    FILE *out = fopen(argv[i + 1], "w");
    if (!out) {
        perror(argv[i + 1]);
        return 1;
    }
    fprintf(out, "%llu %016llx\n", size, hash);
    if (fclose(out) != 0) {
        perror(argv[i + 1]);
        return 1;
    }
    printf("%s: %llu %016llx\n", argv[i], size, hash);
    return code;
}
