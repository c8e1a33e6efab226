/* Timing helpers shared by the benchmark programs in tests/bench. */
#ifndef BULKHEAD_BENCH_UTIL_H
#define BULKHEAD_BENCH_UTIL_H

#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline int bench_dcmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th quantile (0..1) of v[0..n), n > 0; sorts v. */
static inline double bench_pct(double *v, size_t n, double p)
{
	size_t i;

	qsort(v, n, sizeof(*v), bench_dcmp);
	i = (size_t)(p * (double)(n - 1) + 0.5);
	return v[i < n ? i : n - 1];
}

#endif
