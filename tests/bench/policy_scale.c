/* Policy loading and classification at scale: the figures that were time
 * limits in tests/unit/test_policy.c (test_scale, test_adversarial) and
 * tests/policy/corpus.t, which now only check the results. The same
 * inputs, each run R times; medians, with min and max:
 *   load      1,000 label groups with a flow each (test_scale's policy)
 *   classify  100,000 classifications at 1,000 groups, per call, against
 *             the same at 10 groups (the index makes it flat)
 *   hostile   8,000 groups in one 4,000 x 4,000 flow; 70,000 addresses
 *             with 4,464 repeats; 30,000 shadowed groups (and one past
 *             the group limit)
 *   check     `bulkheadctl check` of corpus.t's 1,000-group file, process
 *             start to exit, against the same of a one-group file
 *
 *   policy_scale [--rounds R] [--ctl PATH] [--tmp DIR]
 *
 * Needs no privileges; writes two files under DIR (default /tmp). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"
#include "policy_texts.h"
#include "policy.h"

#define N_CLASSIFY 100000

static void die(const char *what, const char *why)
{
	fprintf(stderr, "policy_scale: %s: %s\n", what, why);
	exit(2);
}

struct stat3 {
	double med, min, max;
};

static struct stat3 stat3(double *v, int n)
{
	struct stat3 s;

	s.med = bench_pct(v, (size_t)n, 0.5);	/* sorts v */
	s.min = v[0];
	s.max = v[n - 1];
	return s;
}

static void row(const char *what, struct stat3 s, double scale,
		const char *unit)
{
	printf("%-52s %10.1f %10.1f %10.1f  %s\n", what, s.med * scale,
	       s.min * scale, s.max * scale, unit);
	fflush(stdout);
}

/* One load of sb, in seconds; the result must be as the tests expect:
 * a policy (want_ok) or the given number of errors. */
static double time_load(const struct strbuf *sb, bool want_ok,
			size_t want_errors, struct policy **keep)
{
	struct diags d = { 0 };
	struct policy *p;
	double t0, t;

	t0 = bench_now();
	p = policy_load_buf("bench.yaml", sb->buf, sb->len, &d);
	t = bench_now() - t0;
	if (want_ok ? !p || d.n_errors : p || d.n_errors != want_errors)
		die("load", "not the result the unit test expects");
	diags_free(&d);
	if (keep)
		*keep = p;
	else
		policy_free(p);
	return t;
}

/* N_CLASSIFY classifications of containers spread over n groups, in
 * seconds per call; each must land in its group. */
static double time_classify(const struct policy *p, unsigned n)
{
	char (*team)[16] = xcalloc(n, sizeof(*team));
	char (*app)[16] = xcalloc(n, sizeof(*app));
	struct kv l[2];
	double t0, t;
	unsigned i, bad = 0;

	for (i = 0; i < n; i++) {
		snprintf(team[i], sizeof(team[i]), "t%u", i % 10);
		snprintf(app[i], sizeof(app[i]), "a%u", i);
	}
	l[0].key = (char *)"bulkhead.team";
	l[1].key = (char *)"bulkhead.app";
	t0 = bench_now();
	for (i = 0; i < N_CLASSIFY; i++) {
		l[0].value = team[i % n];
		l[1].value = app[i % n];
		bad += policy_classify(p, l, 2, NULL) !=
		       GROUP_FIRST_USER + i % n;
	}
	t = (bench_now() - t0) / N_CLASSIFY;
	if (bad)
		die("classify", "a container landed in the wrong group");
	free(team);
	free(app);
	return t;
}

/* `ctl check path`, start to exit, in seconds; it must say the policy is
 * good (exit 0). */
static double time_check(const char *ctl, const char *path)
{
	double t0 = bench_now(), t;
	int st, fd;
	pid_t pid = fork();

	if (pid < 0)
		die("fork", strerror(errno));
	if (!pid) {
		fd = open("/dev/null", O_WRONLY);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(ctl, "bulkheadctl", "check", path, (char *)NULL);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) < 0)
		die("waitpid", strerror(errno));
	t = bench_now() - t0;
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		die(ctl, "check did not exit 0 (is the path right?)");
	return t;
}

static void write_text(const char *path, const struct strbuf *sb)
{
	if (bh_write_file_atomic(path, sb->buf, sb->len, 0600) < 0)
		die(path, "cannot write");
}

int main(int argc, char **argv)
{
	const char *ctl = NULL, *tmp = "/tmp";
	char big[4096], small[4096];
	struct strbuf sb = { 0 };
	struct policy *p1000, *p10;
	double *a, *b;
	struct stat3 s1000, s10, sbig, ssmall;
	int rounds = 11, i, r;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--ctl") && i + 1 < argc)
			ctl = argv[++i];
		else if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
			tmp = argv[++i];
		else {
			fprintf(stderr, "usage: policy_scale [--rounds R] "
				"[--ctl PATH] [--tmp DIR]\n");
			return 2;
		}
	}
	if (rounds < 1)
		rounds = 1;
	a = xcalloc((size_t)rounds, sizeof(*a));
	b = xcalloc((size_t)rounds, sizeof(*b));
	printf("policy: %d rounds; median, min, max\n", rounds);
	printf("%-52s %10s %10s %10s\n", "", "median", "min", "max");

	pt_scale(&sb, 1000);
	for (r = 0; r < rounds; r++)
		a[r] = time_load(&sb, true, 0, NULL);
	row("load 1,000 groups + 1,000 flows", stat3(a, rounds), 1e3, "ms");

	time_load(&sb, true, 0, &p1000);
	pt_scale(&sb, 10);
	time_load(&sb, true, 0, &p10);
	for (r = 0; r < rounds; r++) {
		a[r] = time_classify(p1000, 1000);
		b[r] = time_classify(p10, 10);
	}
	s1000 = stat3(a, rounds);
	s10 = stat3(b, rounds);
	row("classify at 1,000 groups (per call)", s1000, 1e9, "ns");
	row("classify at 10 groups (per call)", s10, 1e9, "ns");
	row("100,000 classifications at 1,000 groups", s1000,
	    1e3 * N_CLASSIFY, "ms");
	policy_free(p1000);
	policy_free(p10);

	pt_hostile_flow(&sb);
	for (r = 0; r < rounds; r++)
		a[r] = time_load(&sb, true, 0, NULL);
	row("hostile: 8,000 groups, one 4,000 x 4,000 flow",
	    stat3(a, rounds), 1e3, "ms");
	pt_hostile_addrs(&sb);
	for (r = 0; r < rounds; r++)
		a[r] = time_load(&sb, false, 70000 - 65536, NULL);
	row("hostile: 70,000 addresses in one group (4,464 twice)",
	    stat3(a, rounds), 1e3, "ms");
	pt_hostile_shadow(&sb);
	for (r = 0; r < rounds; r++)
		/* every group after the first is shadowed, and the 8,190th
		 * label group is one past the limit (as test_adversarial) */
		a[r] = time_load(&sb, false, 29999 + 1, NULL);
	row("hostile: 30,000 shadowed groups", stat3(a, rounds), 1e3, "ms");

	if (ctl) {
		/* corpus.t's file, byte for byte */
		snprintf(big, sizeof(big), "%s/bh-policy-scale-%d-1000.yaml",
			 tmp, (int)getpid());
		snprintf(small, sizeof(small), "%s/bh-policy-scale-%d-1.yaml",
			 tmp, (int)getpid());
		sb_reset(&sb);
		sb_puts(&sb, "version: 1\ngroups:\n");
		for (i = 1; i <= 1000; i++)
			sb_printf(&sb, "  g%d: { match: { purpose: p%d, "
				  "tier: t%d } }\n", i, i, i % 7);
		sb_puts(&sb, "flows:\n");
		for (i = 1; i <= 1000; i++)
			sb_printf(&sb, "  - { from: g%d, to: g%d, ports: "
				  "[tcp/%d] }\n", i, i % 1000 + 1, i);
		write_text(big, &sb);
		sb_reset(&sb);
		sb_puts(&sb, "version: 1\ngroups:\n"
			"  g1: { match: { purpose: p1, tier: t1 } }\n"
			"flows:\n  - { from: g1, to: g1, ports: [tcp/1] }\n");
		write_text(small, &sb);
		for (r = 0; r < rounds; r++) {
			a[r] = time_check(ctl, big);
			b[r] = time_check(ctl, small);
		}
		unlink(big);
		unlink(small);
		sbig = stat3(a, rounds);
		ssmall = stat3(b, rounds);
		row("bulkheadctl check, 1,000 groups (corpus.t)", sbig, 1e3,
		    "ms");
		row("bulkheadctl check, 1 group", ssmall, 1e3, "ms");
	}

	printf("policy: classify at 1,000 groups %.2fx the cost at 10",
		s1000.med / s10.med);
	if (ctl)
		printf("; bulkheadctl check of 1,000 groups %.2fx one "
			"group's", sbig.med / ssmall.med);
	printf("\n");
	free(a);
	free(b);
	sb_free(&sb);
	return 0;
}
