/* ctevent: the observer's parse of one conntrack event, before and after
 * ctevent.c, side by side: libnetfilter_conntrack's full parse into an
 * nf_conntrack plus the attribute getters (what observe.c did, kept in
 * ctevent_nfct.h) against ctevent_parse (only the attributes the
 * records need), over the kernel's own messages
 * (tests/fuzz/corpus-ctevent: NEW, DESTROY and dump entries). Rounds
 * alternate the two; medians of CPU ns per message. Under
 * `valgrind --tool=callgrind` the inclusive instruction counts of
 * parse_nfct() and parse_ctevent() (noinline) are the repeatable figure on a
 * shared machine (docs/benchmarks.md, "Allowed-flow observations").
 *
 *   ctevent [--rounds N] [--iters N] [DIR]
 * Exit 0, 1 when the two parses disagree on a message, 2 on bad usage. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "ctevent.h"
#include "ctevent_nfct.h"
#include "util.h"

#define MAXMSG 64

static void *msgs[MAXMSG];
static size_t lens[MAXMSG], n_msgs;
static volatile uint64_t sink;

static __attribute__((noinline)) void parse_nfct(struct nf_conntrack *ct,
						  unsigned iters)
{
	struct flowobs_event e;
	unsigned i;
	size_t k;

	for (i = 0; i < iters; i++)
		for (k = 0; k < n_msgs; k++)
			if (nfct_ref_parse(ct, msgs[k], &e) == 0)
				sink += e.id + e.packets;
}

static __attribute__((noinline)) void parse_ctevent(unsigned iters)
{
	struct flowobs_event e;
	unsigned i;
	size_t k;

	for (i = 0; i < iters; i++)
		for (k = 0; k < n_msgs; k++)
			if (ctevent_parse(msgs[k], lens[k], &e) == 0)
				sink += e.id + e.packets;
}

/* this thread's CPU time, not the wall clock: on a machine shared with
 * other work the wall clock mostly measures them */
static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int load(const char *dir)
{
	struct dirent *d;
	char path[512];
	DIR *dp = opendir(dir);

	if (!dp) {
		fprintf(stderr, "ctevent: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((d = readdir(dp)) && n_msgs < MAXMSG) {
		char *buf;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (bh_read_file(path, 65536, &buf, &lens[n_msgs]) < 0)
			continue;
		msgs[n_msgs++] = buf;
	}
	closedir(dp);
	return n_msgs ? 0 : -1;
}

int main(int argc, char **argv)
{
	const char *dir = "tests/fuzz/corpus-ctevent";
	unsigned rounds = 9, iters = 20000, r;
	struct nf_conntrack *ct = nfct_new();
	double *tn, *tm, *ratio, t0;
	struct flowobs_event a, b;
	size_t k;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = (unsigned)atoi(argv[++i]);
		else if (!strcmp(argv[i], "--iters") && i + 1 < argc)
			iters = (unsigned)atoi(argv[++i]);
		else if (argv[i][0] != '-')
			dir = argv[i];
		else
			rounds = 0;
	}
	if (!rounds || !iters) {
		fprintf(stderr, "usage: ctevent [--rounds N] [--iters N] "
			"[DIR]\n");
		return 2;
	}
	if (load(dir) < 0)
		return 2;
	/* same answers, or the comparison means nothing */
	for (k = 0; k < n_msgs; k++) {
		int x = nfct_ref_parse(ct, msgs[k], &a);
		int y = ctevent_parse(msgs[k], lens[k], &b);

		if (x != y || (x == 0 && memcmp(&a, &b, sizeof(a)))) {
			fprintf(stderr, "ctevent: the parses differ on "
				"message %zu\n", k);
			return 1;
		}
	}
	tn = calloc(rounds, sizeof(*tn));
	tm = calloc(rounds, sizeof(*tm));
	ratio = calloc(rounds, sizeof(*ratio));
	for (r = 0; r < rounds; r++) {
		/* alternate which goes first */
		for (i = 0; i < 2; i++) {
			t0 = cpu_now();
			if ((i + r) % 2)
				parse_ctevent(iters);
			else
				parse_nfct(ct, iters);
			*((i + r) % 2 ? &tm[r] : &tn[r]) =
				(cpu_now() - t0) * 1e9 / (iters * n_msgs);
		}
		ratio[r] = tm[r] / tn[r];
	}
	printf("ctevent: %zu messages x %u, %u rounds (alternating): CPU ns per "
	       "message, median [min..max]\n", n_msgs, iters, rounds);
	printf("  nfct (libnetfilter_conntrack): %.1f [%.1f..%.1f]\n",
	       bench_pct(tn, rounds, 0.5), bench_pct(tn, rounds, 0),
	       bench_pct(tn, rounds, 1));
	printf("  ctevent_parse:                 %.1f [%.1f..%.1f]\n",
	       bench_pct(tm, rounds, 0.5), bench_pct(tm, rounds, 0),
	       bench_pct(tm, rounds, 1));
	printf("  ctevent / nfct: %.3f [%.3f..%.3f]\n", bench_pct(ratio, rounds, 0.5),
	       bench_pct(ratio, rounds, 0), bench_pct(ratio, rounds, 1));
	nfct_destroy(ct);
	for (k = 0; k < n_msgs; k++)
		free(msgs[k]);
	free(tn);
	free(tm);
	free(ratio);
	return 0;
}
