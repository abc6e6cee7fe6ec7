/* Shared helpers of the runtime microbenchmarks: a monotonic clock and a
 * uniform result line, "name  N ns/op  (M ops)", that run-*.sh scripts
 * parse to put eddy beside Python asyncio. */
#ifndef EDDY_BENCH_H
#define EDDY_BENCH_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t bench_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Prints one result: `name<TAB>ns_per_op<TAB>ops`. */
static inline void bench_report(const char *name, uint64_t elapsed_ns, uint64_t ops)
{
    printf("%s\t%.1f\t%llu\n", name, (double)elapsed_ns / (double)ops, (unsigned long long)ops);
    fflush(stdout);
}

#endif
