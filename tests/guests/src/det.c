/* Prints everything a run could vary in, for the deterministic-run tests.

     det DIR

   Reads every clock (twice), 32 random bytes (twice), sleeps 2 s, makes files, a
   directory and a symlink in DIR, and prints their inode numbers, device numbers and times,
   then DIR's listing in readdir order (with d_ino).
*/
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void clocks(void) {
    const clockid_t ids[] = {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID,
                             CLOCK_THREAD_CPUTIME_ID};
    for (int i = 0; i < 4; i++) {
        struct timespec t, r;
        clock_gettime(ids[i], &t);
        clock_getres(ids[i], &r);
        printf("clock %d %lld.%09ld res %ld\n", i, (long long)t.tv_sec, t.tv_nsec, r.tv_nsec);
    }
}

static void random_bytes(void) {
    unsigned char buf[32];
    if (getentropy(buf, sizeof buf) != 0) {
        perror("getentropy");
        exit(1);
    }
    printf("random ");
    for (size_t i = 0; i < sizeof buf; i++) printf("%02x", buf[i]);
    printf("\n");
}

static void show(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    printf("%s ino %llu dev %llu size %lld atime %lld.%09ld mtime %lld.%09ld ctime %lld.%09ld\n",
           path, (unsigned long long)st.st_ino, (unsigned long long)st.st_dev,
           (long long)st.st_size, (long long)st.st_atim.tv_sec, st.st_atim.tv_nsec,
           (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
           st.st_ctim.tv_nsec);
}

int main(int argc, char **argv) {
    if (argc != 2 || chdir(argv[1]) != 0) {
        fprintf(stderr, "usage: det DIR\n");
        return 2;
    }
    clocks();
    random_bytes();
    struct timespec before, after;
    clock_gettime(CLOCK_MONOTONIC, &before);
    sleep(2);
    clock_gettime(CLOCK_MONOTONIC, &after);
    printf("slept %lld ns\n", (long long)(after.tv_sec - before.tv_sec) * 1000000000LL +
                                  (after.tv_nsec - before.tv_nsec));
    clocks();
    random_bytes();
    FILE *f = fopen("a.txt", "w");
    fputs("alpha\n", f);
    fclose(f);
    mkdir("sub", 0755);
    f = fopen("sub/b.txt", "w");
    fputs("beta\n", f);
    fclose(f);
    symlink("a.txt", "link");
    show("a.txt");
    show("sub");
    show("sub/b.txt");
    show("link");
    show(".");
    DIR *d = opendir(".");
    struct dirent *e;
    while ((e = readdir(d)) != NULL) printf("entry %s %llu\n", e->d_name, (unsigned long long)e->d_ino);
    closedir(d);
    return 0;
}
