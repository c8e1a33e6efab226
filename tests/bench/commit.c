/* Full-table commit benchmark (issue 3): for each scale, side by side and
 * each in a fresh network namespace, repeated:
 *   ours   ruleset_build + nft_commit_full (batch, send, every ACK)
 *   nft    `nft -f` of the identical text (ruleset_print of the model)
 *   floor  the same batch bytes, captured once, replayed by a bare
 *          send-and-read-ACKs loop
 * plus the latency of single attaches, relabels and detaches (one delta
 * each: build, commit, ACKs), the same attaches again right after a batch
 * the kernel refused (a failed commit used to leave the table marked for
 * validation), the peak RSS of the process doing our commits and its
 * resident set right after the last full commit (held: what a daemon
 * keeps between commits, before a delta builds the element index).
 * Medians over the rounds.
 *
 *   commit [--containers N,N..] [--groups G,G..] [--rounds R]
 *          [--attaches K] [--nft PATH] [--tmp DIR]
 *
 * Needs root (unshare(CLONE_NEWNET)); never touches the namespace it was
 * started in: each measurement unshares a new one first. */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>

#include "bench_util.h"
#include "inventory.h"
#include "nft.h"
#include "policy.h"
#include "ruleset.h"
#include "shapes.h"

static void die(const char *what, int err)
{
	fprintf(stderr, "commit: %s: %s\n", what, strerror(err));
	exit(2);
}

static void fresh_netns(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		die("unshare(CLONE_NEWNET)", errno);
}

static struct policy *gen_policy(unsigned groups)
{
	struct strbuf sb = { 0 };
	struct diags d = { 0 };
	struct policy *p;
	unsigned g;

	sb_puts(&sb, "version: 1\nsettings: { log: { rate: 20/second } }\n"
		"groups:\n");
	for (g = 0; g < groups; g++)
		sb_printf(&sb, "  g%u: { match: { purpose: g%u } }\n", g, g);
	sb_puts(&sb, "  dns: { cidrs: [10.255.0.53/32, fd00:ff::53/128] }\n"
		"flows:\n");
	for (g = 0; g < groups; g++)
		sb_printf(&sb, "  - { from: g%u, to: g%u, ports: [tcp/8080] }\n",
			  g, (g + 1) % groups);
	for (g = 0; g < groups; g++)
		sb_printf(&sb, "  - { from: [g%u, host], to: dns, ports: "
			  "[udp/53] }\n", g);
	sb_puts(&sb, "  - { from: host, to: [");
	for (g = 0; g < groups; g++)
		sb_printf(&sb, "%sg%u", g ? ", " : "", g);
	sb_puts(&sb, "], ports: [tcp/22] }\n");
	p = policy_load_buf("bench.yaml", sb.buf, sb.len, &d);
	if (!p) {
		diags_print(&d, stderr);
		exit(2);
	}
	diags_free(&d);
	sb_free(&sb);
	return p;
}

/* The kernel floor: the captured bytes, one sendto, read every ACK. */
static double replay(const void *batch, size_t len, size_t acks)
{
	static char buf[256 * 1024];
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_NETFILTER,
						 SOCK_CLOEXEC);
	int fd, v;
	size_t got = 0;
	double t0, t;

	if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		die("netlink", errno);
	fd = mnl_socket_get_fd(nl);
	v = (int)len + 4096;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v));
	v = (int)(acks * 1024 + 256 * 1024);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v));
	t0 = bench_now();
	if (mnl_socket_sendto(nl, batch, len) < 0)
		die("replay send", errno);
	while (got < acks) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		const struct nlmsghdr *nlh;
		int left = (int)n;

		if (n < 0)
			die("replay recv", errno);
		for (nlh = (void *)buf; mnl_nlmsg_ok(nlh, left);
		     nlh = mnl_nlmsg_next(nlh, &left))
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e =
					mnl_nlmsg_get_payload(nlh);

				if (e->error)
					die("replayed batch refused",
					    -e->error);
				got++;
			}
	}
	t = bench_now() - t0;
	mnl_socket_close(nl);
	return t;
}

static size_t count_acks(const void *batch, size_t len)
{
	const struct nlmsghdr *nlh = batch;
	int left = (int)len;
	size_t n = 0;

	for (; mnl_nlmsg_ok(nlh, left); nlh = mnl_nlmsg_next(nlh, &left))
		if (nlh->nlmsg_flags & NLM_F_ACK)
			n++;
	return n;
}

/* The replay runs in a child that reads the captured bytes: the parent's
 * RSS stays that of our commit path alone. */
static double replay_file(const char *path, size_t *blen)
{
	double t = 0;
	int pfd[2], st;
	pid_t pid;

	if (pipe(pfd) < 0)
		die("pipe", errno);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (!pid) {
		char *b;
		size_t len;

		if (bh_read_file(path, 1u << 30, &b, &len) < 0)
			die(path, EIO);
		t = replay(b, len, count_acks(b, len));
		if (write(pfd[1], &t, sizeof(t)) != sizeof(t) ||
		    write(pfd[1], &len, sizeof(len)) != sizeof(len))
			_exit(2);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &t, sizeof(t)) != sizeof(t) ||
	    read(pfd[0], blen, sizeof(*blen)) != sizeof(*blen) ||
	    waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("replay", EIO);
	close(pfd[0]);
	return t;
}

static void drop_tables(void)
{
	struct nft_writer *w;
	struct nft_error e;

	if (nft_open(&w) < 0 || nft_delete_table(w, &e) < 0)
		die("delete table", EIO);
	nft_close(w);
}

static double run_nft(const char *nft, const char *file)
{
	double t0 = bench_now();
	int st = bench_nft(nft, "-f", file, false);

	if (st < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("nft -f", st < 0 ? -st : EIO);
	return bench_now() - t0;
}

struct cell {
	double ours, nft, floor, p50, p99, build;
	double relabel99, detach99, abort99;
	long rss_kib;
	long held_kib;			/* resident just after the full commit */
	size_t batch;
};

/* VmRSS now, in KiB (getrusage only has the peak). */
static long rss_now_kib(void)
{
	char l[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(l, sizeof(l), f))
		if (sscanf(l, "VmRSS: %ld kB", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

/* One delta for c (op), committed and applied; its latency. */
static double delta_once(struct nft_writer *w, struct ruleset *rs,
			 const struct container *c, enum rs_op op,
			 const struct container *old)
{
	struct rs_delta *d = rs_delta_new();
	struct nft_error e;
	double t0 = bench_now();

	if (old)
		ruleset_container_delta(rs, old, RS_ELEM_DEL, d);
	ruleset_container_delta(rs, c, op, d);
	if (nft_commit_delta(w, rs, d, &e) < 0) {
		fprintf(stderr, "commit: delta: %s\n", e.msg);
		exit(2);
	}
	ruleset_apply_delta(rs, d);
	t0 = bench_now() - t0;
	rs_delta_free(d);
	return t0;
}

/* attaches x (attach, relabel into the next group, detach) on the table;
 * the sets keep the sizes they were built with. */
static void churn(struct nft_writer *w, struct ruleset *rs,
		  const struct policy *p, unsigned long n, unsigned groups,
		  int attaches, double *att, double *rel, double *det)
{
	int i;

	for (i = 0; i < attaches; i++) {
		struct container *c = shape_bench(n + (unsigned long)i,
						    groups);
		struct container *c2 = shape_bench(n + (unsigned long)i +
						     1, groups);

		/* c2: c's address and port in the next group */
		memcpy(c2->addrs, c->addrs, sizeof(*c->addrs));
		snprintf(c2->ports[0].ifname, IF_NAMESIZE, "%s",
			 c->ports[0].ifname);
		container_classify(c, p);
		container_classify(c2, p);
		att[i] = delta_once(w, rs, c, RS_ELEM_ADD, NULL);
		if (rel)
			rel[i] = delta_once(w, rs, c2, RS_ELEM_ADD, c);
		det[i] = delta_once(w, rs, rel ? c2 : c, RS_ELEM_DEL, NULL);
		container_free(c);
		container_free(c2);
	}
}

/* A delete of an element the kernel does not have: refused (ENOENT). */
static void refused_batch(struct nft_writer *w, struct ruleset *rs,
			  const struct policy *p, unsigned long n,
			  unsigned groups)
{
	struct container *c = shape_bench(n + 1000000, groups);
	struct rs_delta *d = rs_delta_new();
	struct nft_error e;

	container_classify(c, p);
	ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
	if (nft_commit_delta(w, rs, d, &e) >= 0) {
		fprintf(stderr, "commit: a delete of nothing was accepted\n");
		exit(2);
	}
	rs_delta_free(d);
	container_free(c);
}

static void measure(unsigned long n, unsigned groups, int rounds,
		    int attaches, const char *nft, const char *tmp,
		    struct cell *out)
{
	struct policy *p = gen_policy(groups);
	struct inventory *inv = inventory_new();
	struct ruleset_opts o;
	struct ruleset *rs = NULL;
	struct nft_writer *w;
	struct nft_error e;
	double *t_ours = xcalloc(rounds, sizeof(double));
	double *t_nft = xcalloc(rounds, sizeof(double));
	double *t_floor = xcalloc(rounds, sizeof(double));
	double *t_build = xcalloc(rounds, sizeof(double));
	double *lat = xcalloc(attaches, sizeof(double));
	double *rel = xcalloc(attaches, sizeof(double));
	double *det = xcalloc(attaches, sizeof(double));
	double *aft = xcalloc(attaches, sizeof(double));
	double *scratch = xcalloc(attaches, sizeof(double));
	char file[4096], bfile[4200];
	size_t blen = 0;
	pid_t pid;
	int st;
	unsigned long i;
	struct rusage ru;
	FILE *f;
	int r;

	for (i = 0; i < n; i++)
		if (inventory_add(inv, shape_bench(i, groups)) < 0)
			die("inventory", EEXIST);
	inventory_classify(inv, p);
	ruleset_opts_from_policy(&o, p);

	/* the text nft -f gets and the batch the floor replays, made by a
	 * child so that their memory is not counted in our peak RSS */
	snprintf(file, sizeof(file), "%s/commit-%d-%lu-%u.nft", tmp,
		 (int)getpid(), n, groups);
	snprintf(bfile, sizeof(bfile), "%s.batch", file);
	pid = fork();
	if (pid < 0)
		die("fork", errno);
	if (!pid) {
		struct nft_writer *cw;
		const void *b;

		rs = ruleset_build(p, inv, &o);
		f = fopen(file, "w");
		if (!f)
			die(file, errno);
		ruleset_print(rs, f);
		if (fclose(f))
			die(file, errno);
		if (nft_open(&cw) < 0)
			die("netlink", errno);
		nft_build_full(cw, rs, NULL);
		b = nft_last_batch(cw, &blen);
		if (bh_write_file_atomic(bfile, b, blen, 0600) < 0)
			die(bfile, EIO);
		_exit(0);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		die("capture", EIO);

	for (r = 0; r < rounds; r++) {
		double t0, t1;
		bool last_round = r == rounds - 1;

		/* ours */
		fresh_netns();
		if (nft_open(&w) < 0)
			die("netlink", errno);
		t0 = bench_now();
		rs = ruleset_build(p, inv, &o);
		t1 = bench_now();
		if (nft_commit_full(w, rs, NULL, inv, &e) < 0) {
			fprintf(stderr, "commit: %s\n", e.msg);
			exit(2);
		}
		t_ours[r] = bench_now() - t0;
		t_build[r] = t1 - t0;
		/* what a daemon holds between commits, before the first
		 * delta builds the element index */
		if (last_round)
			out->held_kib = rss_now_kib();
		/* the last round's table takes single changes, then the
		 * same attaches after one refused batch */
		if (last_round && attaches) {
			churn(w, rs, p, n, groups, attaches, lat, rel, det);
			refused_batch(w, rs, p, n, groups);
			churn(w, rs, p, n, groups, attaches, aft, NULL,
			      scratch);
		}
		if (last_round)
			getrusage(RUSAGE_SELF, &ru);
		ruleset_free(rs);
		rs = NULL;
		nft_close(w);
		drop_tables();
		/* nft -f */
		fresh_netns();
		t_nft[r] = run_nft(nft, file);
		drop_tables();
		/* floor */
		fresh_netns();
		t_floor[r] = replay_file(bfile, &blen);
		drop_tables();
	}

	out->ours = bench_pct(t_ours, rounds, 0.5);
	out->build = bench_pct(t_build, rounds, 0.5);
	out->nft = bench_pct(t_nft, rounds, 0.5);
	out->floor = bench_pct(t_floor, rounds, 0.5);
	out->p50 = attaches ? bench_pct(lat, attaches, 0.5) : 0;
	out->p99 = attaches ? bench_pct(lat, attaches, 0.99) : 0;
	out->relabel99 = attaches ? bench_pct(rel, attaches, 0.99) : 0;
	out->detach99 = attaches ? bench_pct(det, attaches, 0.99) : 0;
	out->abort99 = attaches ? bench_pct(aft, attaches, 0.99) : 0;
	out->rss_kib = ru.ru_maxrss;
	out->batch = blen;
	unlink(file);
	unlink(bfile);
	free(t_ours);
	free(t_nft);
	free(t_floor);
	free(t_build);
	free(lat);
	free(rel);
	free(det);
	free(aft);
	free(scratch);
	inventory_free(inv);
	policy_free(p);
}

static size_t parse_list(const char *s, unsigned long *v, size_t max)
{
	size_t n = 0;
	char *end;

	while (*s && n < max) {
		v[n++] = strtoul(s, &end, 10);
		if (*end != ',' && *end)
			break;
		s = *end ? end + 1 : end;
	}
	return n;
}

int main(int argc, char **argv)
{
	unsigned long ns[8] = { 100, 1000, 10000, 100000 };
	unsigned long gs[8] = { 10, 100, 1000 };
	size_t nn = 4, ng = 3, a, b;
	int rounds = 5, attaches = 500, i;

	bh_malloc_tune();	/* as bulkheadd does */
	const char *nft = "/usr/sbin/nft", *tmp = "/tmp";
	struct cell last = { 0 };
	unsigned long last_n = 0, last_g = 0;
	double worst99 = 0, best99 = 1e9;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--containers") && i + 1 < argc)
			nn = parse_list(argv[++i], ns, 8);
		else if (!strcmp(argv[i], "--groups") && i + 1 < argc)
			ng = parse_list(argv[++i], gs, 8);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--attaches") && i + 1 < argc)
			attaches = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--nft") && i + 1 < argc)
			nft = argv[++i];
		else if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
			tmp = argv[++i];
		else {
			fprintf(stderr, "usage: commit [--containers N,..] "
				"[--groups G,..] [--rounds R] [--attaches K] "
				"[--nft PATH] [--tmp DIR]\n");
			return 2;
		}
	}
	if (rounds < 1)
		rounds = 1;
	printf("%10s %6s %10s %9s %9s %9s %9s %7s %7s %9s %9s %9s %9s %9s "
	       "%8s %8s\n", "containers", "groups", "batch_KiB", "build_ms",
	       "ours_ms", "nft_ms", "floor_ms", "vs_nft", "vs_floor",
	       "attach50", "attach99", "relabel99", "detach99", "refused99",
	       "rss_MiB", "held_MiB");
	fflush(stdout);
	for (a = 0; a < nn; a++)
		for (b = 0; b < ng; b++) {
			struct cell c = { 0 };
			int pfd[2], st;
			pid_t pid;

			/* a child per cell: its peak RSS is this cell's */
			if (pipe(pfd) < 0)
				die("pipe", errno);
			pid = fork();
			if (pid < 0)
				die("fork", errno);
			if (!pid) {
				close(pfd[0]);
				measure(ns[a], (unsigned)gs[b], rounds,
					attaches, nft, tmp, &c);
				if (write(pfd[1], &c, sizeof(c)) !=
				    (ssize_t)sizeof(c))
					_exit(2);
				_exit(0);
			}
			close(pfd[1]);
			if (read(pfd[0], &c, sizeof(c)) != (ssize_t)sizeof(c) ||
			    waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) ||
			    WEXITSTATUS(st)) {
				fprintf(stderr, "commit: cell %lu x %lu "
					"failed\n", ns[a], gs[b]);
				return 1;
			}
			close(pfd[0]);
			printf("%10lu %6lu %10zu %9.1f %9.1f %9.1f %9.1f "
			       "%6.2fx %7.2fx %7.3fms %7.3fms %7.3fms %7.3fms "
			       "%7.3fms %8.1f %8.1f\n",
			       ns[a], gs[b], c.batch / 1024, c.build * 1e3,
			       c.ours * 1e3, c.nft * 1e3, c.floor * 1e3,
			       c.nft / c.ours, c.ours / c.floor, c.p50 * 1e3,
			       c.p99 * 1e3, c.relabel99 * 1e3,
			       c.detach99 * 1e3, c.abort99 * 1e3,
			       c.rss_kib / 1024.0, c.held_kib / 1024.0);
			fflush(stdout);
			if (attaches && c.p99 > worst99)
				worst99 = c.p99;
			if (attaches && c.p99 < best99)
				best99 = c.p99;
			if (ns[a] >= last_n) {
				last = c;
				last_n = ns[a];
				last_g = gs[b];
			}
		}
	if (attaches)
		printf("attach p99 over the matrix: %.3f to %.3f ms (%.2fx)\n",
		       best99 * 1e3, worst99 * 1e3, worst99 / best99);
	/* the two last lines, in this form (issue 11) */
	printf("attach at %lu containers, %lu groups: p50 %.2f ms, p99 %.2f "
	       "ms\n", last_n, last_g, last.p50 * 1e3, last.p99 * 1e3);
	printf("commit at %lu containers: %.1fx faster than nft -f, %.2fx the "
	       "kernel floor\n", last_n, last.nft / last.ours,
	       last.ours / last.floor);
	return 0;
}
