/* fibers.c: three C functions run as fibers, interleaved by main, on the
 * kernel's continuations. fiber_new, fiber_resume and fiber_yield are not
 * defined here: they are imports of "env" (as is the function table, with
 * the linker's --import-table), and the kernel links them, when the program loads, to examples/wasi/fiber.wat,
 * whose continuations (cont.new, resume, suspend) are the kernel's.
 *
 * Fiber bodies keep their state in local variables the compiler keeps in
 * Wasm locals, which live on each fiber's own stack; C data in linear
 * memory's stack (arrays, locals whose address is taken) would be shared
 * by all fibers, so these bodies have none. */
#include <stdio.h>

#define FROM_FIBER_WAT(name) \
    __attribute__((import_module("env"), import_name(#name)))

FROM_FIBER_WAT(fiber_new) int fiber_new(void (*body)(int), int arg);
FROM_FIBER_WAT(fiber_resume) int fiber_resume(int fiber, int value);
FROM_FIBER_WAT(fiber_yield) int fiber_yield(int value);

#define FIBER_DONE (-1)

/* The Fibonacci numbers up to limit. */
static void fibonacci(int limit) {
    int a = 0, b = 1;
    while (a <= limit) {
        fiber_yield(a);
        int next = a + b;
        a = b;
        b = next;
    }
}

/* The Collatz sequence from n down to 1. */
static void collatz(int n) {
    for (;;) {
        fiber_yield(n);
        if (n == 1)
            return;
        n = n % 2 ? 3 * n + 1 : n / 2;
    }
}

/* A running total of what it is resumed with; it never returns (the
 * kernel cancels it when the program ends). */
static void running_total(int start) {
    int total = start;
    int v = fiber_yield(total);
    for (;;) {
        total += v;
        v = fiber_yield(total);
    }
}

int main(void) {
    const char *names[2] = {"fibonacci", "collatz"};
    int fibers[2] = {fiber_new(fibonacci, 100), fiber_new(collatz, 7)};
    int done[2] = {0, 0};
    int live = 2;
    while (live > 0) {
        for (int i = 0; i < 2; i++) {
            if (done[i])
                continue;
            int v = fiber_resume(fibers[i], 0);
            if (v == FIBER_DONE) {
                printf("%s: done\n", names[i]);
                done[i] = 1;
                live--;
            } else {
                printf("%s: %d\n", names[i], v);
            }
        }
    }
    int sum = fiber_new(running_total, 1000);
    printf("running total: starts at %d\n", fiber_resume(sum, 0));
    for (int i = 1; i <= 5; i++)
        printf("running total: + %d = %d\n", i * i, fiber_resume(sum, i * i));
    printf("fibonacci, resumed after it returned: %d\n", fiber_resume(fibers[0], 0));
    return 0;
}
