/* A compute-bound guest for measuring what epoch interruption costs real code: sorts,
   hashes and searches, with ordinary function calls and loops, and prints a checksum.

     crunch N     (work scales with N; N=1 takes ~50 ms natively)
*/
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t state = 2463534242u;

static uint32_t xorshift(void) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

static int compare(const void *a, const void *b) {
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t fnv1a(const uint8_t *data, size_t n) {
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ data[i]) * 16777619u;
    return h;
}

static size_t search(const uint32_t *v, size_t n, uint32_t key) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < key) lo = mid + 1; else hi = mid;
    }
    return lo;
}

int main(int argc, char **argv) {
    int rounds = argc > 1 ? atoi(argv[1]) : 1;
    enum { N = 200000 };
    uint32_t *v = malloc(N * sizeof *v);
    uint32_t check = 0;
    for (int r = 0; r < rounds; r++) {
        for (size_t i = 0; i < N; i++) v[i] = xorshift();
        qsort(v, N, sizeof *v, compare);
        check ^= fnv1a((const uint8_t *)v, N * sizeof *v);
        for (int k = 0; k < 100000; k++) check += (uint32_t)search(v, N, xorshift());
    }
    printf("%08x\n", check);
    free(v);
    return 0;
}
