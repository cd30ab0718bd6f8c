/* A C program for the kernel's WASI layer (examples/wasi/build.sh builds
 * it with zig's clang and wasi-libc): printf, malloc, qsort, the command
 * line and an exit status.
 *
 * Why these: they are what ordinary C touches first: stdio's buffered
 * fd_write, the allocator's memory.grow, libc's own code (qsort) calling
 * back into the program through a function table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int by_value(const void *a, const void *b) {
    unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    printf("argc = %d\n", argc);
    for (int i = 1; i < argc; i++)
        printf("argv[%d] = \"%s\" (%zu bytes)\n", i, argv[i], strlen(argv[i]));

    /* 50,000 pseudo-random numbers (a linear congruential generator, so
     * the output is the same everywhere), sorted. */
    size_t n = 50000;
    unsigned *v = malloc(n * sizeof *v);
    if (!v) {
        fprintf(stderr, "sort: out of memory\n");
        return 2;
    }
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        v[i] = x >> 8;
    }
    qsort(v, n, sizeof *v, by_value);
    int sorted = 1;
    for (size_t i = 1; i < n; i++)
        if (v[i - 1] > v[i]) sorted = 0;
    printf("sorted %zu numbers: %s\n", n, sorted ? "in order" : "NOT in order");
    printf("smallest %u, median %u, largest %u\n", v[0], v[n / 2], v[n - 1]);
    printf("formatting: %5.2f|%-6s|%08x|%lld\n", 3.14159, "left", 0xbeefu, -1234567890123LL);
    free(v);

    /* Exit status 3 when asked for ("fail" as the first argument). */
    return argc > 1 && strcmp(argv[1], "fail") == 0 ? 3 : 0;
}
