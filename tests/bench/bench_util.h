/* Timing helpers shared by the benchmark programs in tests/bench. */
#ifndef BULKHEAD_BENCH_UTIL_H
#define BULKHEAD_BENCH_UTIL_H

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

/* nft ARG1 ARG2 (its output to /dev/null when quiet): the wait status,
 * or -errno when it could not be run. */
static inline int bench_nft(const char *nft, const char *arg1,
			    const char *arg2, bool quiet)
{
	int st, fd;
	pid_t pid = fork();

	if (pid < 0)
		return -errno;
	if (!pid) {
		fd = quiet ? open("/dev/null", O_WRONLY) : -1;
		if (fd >= 0)
			dup2(fd, 1);
		execl(nft, "nft", arg1, arg2, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return st;
}

#endif
