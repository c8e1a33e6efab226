/* dp_load: the client side of the data-plane benchmark.
 *
 *   dp_load --src FILE --dst FILE [--proto tcp|udp] [--port P]
 *           [--conc N] [--warmup SEC] [--duration SEC]
 *           [--timeout-ms MS] [--exchanges K]
 *
 * Keeps N operations in flight from one epoll loop. Every operation binds a
 * new socket to a source address drawn at random from --src (the container
 * addresses configured on this namespace's interface) and talks to an
 * address drawn from --dst:
 *   tcp: connect, send 1 byte, read the 1-byte answer, close with
 *        SO_LINGER 0 (a reset, no TIME_WAIT) — one "connection";
 *   udp: K request/answer exchanges of 1-byte datagrams on one connected
 *        socket, then close — K "exchanges", one new flow per K.
 * After the warm-up it reads /proc/stat, runs for the duration, reads it
 * again and prints one line of key=value pairs, among them the completed
 * operations, errors, timeouts, the rate and the machine's busy CPU
 * microseconds (user+nice+system+irq+softirq+steal of every CPU) per
 * operation. /proc/stat covers the whole machine, not this namespace; so
 * "own" CPU is also reported: utime+stime of this process and of the
 * --pid processes (the sink, ksoftirqd), see load_cpu_own(). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define LOAD_CONC_MAX 4096
#define LOAD_ADDRS_MAX 65536

enum load_state { LS_IDLE, LS_CONNECTING, LS_WAITING };

struct load_slot {
	int fd;
	enum load_state state;
	unsigned left;			/* udp exchanges still to do */
	uint64_t started_ms;		/* of the current step */
};

struct load_addrs {
	struct in_addr *v;
	size_t n;
};

struct load_stats {
	uint64_t done;			/* connections or exchanges */
	uint64_t flows;			/* sockets that finished cleanly */
	uint64_t errors;
	uint64_t timeouts;
};

struct load {
	bool udp;
	uint16_t port;
	unsigned conc;
	unsigned exchanges;
	unsigned timeout_ms;
	struct load_addrs src, dst;
	struct load_slot *slots;
	int ep;
	uint64_t rng;
	struct load_stats st;
};

static uint64_t load_rand(struct load *l)
{
	/* xorshift64*: cheap and good enough to spread addresses evenly */
	l->rng ^= l->rng >> 12;
	l->rng ^= l->rng << 25;
	l->rng ^= l->rng >> 27;
	return l->rng * 2685821657736338717ULL;
}

/* One IPv4 address per line; blank lines and '#' comments are skipped. */
static int load_read_addrs(const char *path, struct load_addrs *out)
{
	size_t len = 0, cap = 0, lineno = 0;
	char *text = NULL, *line, *save = NULL;
	int ret;

	ret = bh_read_file(path, 16 << 20, &text, &len);
	if (ret < 0) {
		fprintf(stderr, "dp_load: %s: %s\n", path, strerror(-ret));
		goto out;
	}
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		struct bh_addr a;

		lineno++;
		line[strcspn(line, " \t\r#")] = '\0';
		if (!*line)
			continue;
		if (!bh_addr_parse(line, false, &a) || a.family != AF_INET) {
			fprintf(stderr, "dp_load: %s:%zu: not an IPv4 address: "
				"'%s'\n", path, lineno, line);
			ret = -EINVAL;
			goto out;
		}
		if (out->n == LOAD_ADDRS_MAX) {
			fprintf(stderr, "dp_load: %s: more than %d addresses\n",
				path, LOAD_ADDRS_MAX);
			ret = -E2BIG;
			goto out;
		}
		xgrow(&out->v, &cap, out->n + 1, sizeof(*out->v));
		memcpy(&out->v[out->n++], a.a, 4);
	}
	if (!out->n) {
		fprintf(stderr, "dp_load: %s: no addresses\n", path);
		ret = -EINVAL;
	}
out:
	free(text);
	return ret;
}

/* Busy jiffies of the whole machine: everything but idle and iowait. */
static int load_cpu_busy(uint64_t *busy)
{
	unsigned long long v[8] = { 0 };
	char *text = NULL;
	size_t len;
	int ret;

	ret = bh_read_file("/proc/stat", 1 << 20, &text, &len);
	if (ret < 0)
		goto out;
	if (sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
		   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
		   &v[7]) != 8) {
		ret = -EINVAL;
		goto out;
	}
	/* user nice system [idle] [iowait] irq softirq steal */
	*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
out:
	free(text);
	return ret;
}

/* CPU time (utime + stime, clock ticks) of this process and of the --pid
 * processes (the sink, the ksoftirqd threads). With tick-based accounting
 * the softirq work done in a task's context is in its stime; so this is
 * the machine's work for the benchmark, less sensitive to other processes
 * than the machine-wide busy time (it misses softirq served in the idle
 * task or in other processes' context). */
static int load_cpu_own(const pid_t *pids, size_t n, uint64_t *ticks)
{
	uint64_t hz = (uint64_t)sysconf(_SC_CLK_TCK);
	struct rusage ru;
	char *text = NULL;
	int ret = 0;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return -errno;
	*ticks = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * hz +
		 (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * hz /
		 1000000;
	for (size_t i = 0; i < n; i++) {
		unsigned long long ut = 0, st = 0;
		char path[64], *p;
		size_t len;

		snprintf(path, sizeof(path), "/proc/%d/stat", (int)pids[i]);
		ret = bh_read_file(path, 1 << 16, &text, &len);
		if (ret < 0)
			goto out;
		/* after "(comm) ": state, then utime and stime are the
		 * 12th and 13th numbers */
		p = strrchr(text, ')');
		if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u "
				 "%*u %*u %llu %llu", &ut, &st) != 2) {
			ret = -EINVAL;
			goto out;
		}
		*ticks += ut + st;
		free(text);
		text = NULL;
	}
out:
	free(text);
	return ret;
}

static void load_finish(struct load *l, struct load_slot *s, bool rst)
{
	if (s->fd >= 0) {
		if (rst) {
			struct linger lg = { .l_onoff = 1, .l_linger = 0 };

			setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg,
				   sizeof(lg));
		}
		close(s->fd);
	}
	s->fd = -1;
	s->state = LS_IDLE;
}

static int load_send_byte(struct load_slot *s)
{
	if (send(s->fd, "q", 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
		return -errno;
	s->state = LS_WAITING;
	return 0;
}

static void load_start(struct load *l, struct load_slot *s, uint64_t now)
{
	struct sockaddr_in src = { .sin_family = AF_INET };
	struct sockaddr_in dst = {
		.sin_family = AF_INET,
		.sin_port = htons(l->port),
	};
	struct epoll_event ev = { .data.ptr = s };
	int one = 1, r;

	src.sin_addr = l->src.v[load_rand(l) % l->src.n];
	dst.sin_addr = l->dst.v[load_rand(l) % l->dst.n];
	s->started_ms = now;
	s->fd = socket(AF_INET, (l->udp ? SOCK_DGRAM : SOCK_STREAM) |
		       SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		goto fail;
	/* pick the port at connect(): the 4-tuple, not the address, must be
	 * unique, so thousands of addresses do not exhaust a port range */
	setsockopt(s->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
		   sizeof(one));
	if (bind(s->fd, (struct sockaddr *)&src, sizeof(src)) < 0)
		goto fail;
	r = connect(s->fd, (struct sockaddr *)&dst, sizeof(dst));
	if (r < 0 && errno != EINPROGRESS)
		goto fail;
	ev.events = l->udp ? EPOLLIN : EPOLLIN | EPOLLOUT;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, s->fd, &ev) < 0)
		goto fail;
	if (l->udp) {
		s->left = l->exchanges;
		if (load_send_byte(s) < 0)
			goto fail;
	} else {
		s->state = LS_CONNECTING;
	}
	return;
fail:
	l->st.errors++;
	load_finish(l, s, false);
}

static void load_event(struct load *l, struct load_slot *s, uint32_t events,
		       uint64_t now)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = s };
	int err = 0;
	socklen_t elen = sizeof(err);
	char b[64];
	ssize_t n;

	if (s->state == LS_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
		    err)
			goto fail;
		if (!(events & EPOLLOUT))
			return;
		if (epoll_ctl(l->ep, EPOLL_CTL_MOD, s->fd, &ev) < 0 ||
		    load_send_byte(s) < 0)
			goto fail;
		s->started_ms = now;
		return;
	}
	if (s->state != LS_WAITING)
		return;
	n = recv(s->fd, b, sizeof(b), MSG_DONTWAIT);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0)
		goto fail;
	l->st.done++;
	if (l->udp && --s->left) {
		s->started_ms = now;
		if (load_send_byte(s) < 0)
			goto fail;
		return;
	}
	l->st.flows++;
	load_finish(l, s, !l->udp);
	return;
fail:
	l->st.errors++;
	load_finish(l, s, true);
}

/* Runs until `until` (monotonic ms), refilling every idle slot. */
static void load_run(struct load *l, uint64_t until)
{
	struct epoll_event evs[256];
	uint64_t now = bh_now_ms(), next_sweep = now + 50;

	while (now < until) {
		int n;

		for (unsigned i = 0; i < l->conc; i++)
			if (l->slots[i].state == LS_IDLE)
				load_start(l, &l->slots[i], now);
		n = epoll_wait(l->ep, evs, ARRAY_SIZE(evs), 20);
		now = bh_now_ms();
		for (int i = 0; i < n; i++)
			load_event(l, evs[i].data.ptr, evs[i].events, now);
		if (now < next_sweep)
			continue;
		next_sweep = now + 50;
		for (unsigned i = 0; i < l->conc; i++) {
			struct load_slot *s = &l->slots[i];

			if (s->state != LS_IDLE &&
			    now - s->started_ms >= l->timeout_ms) {
				l->st.timeouts++;
				load_finish(l, s, true);
			}
		}
	}
}

static void load_usage(FILE *f)
{
	fprintf(f,
		"usage: dp_load --src FILE --dst FILE [--proto tcp|udp] "
		"[--port P]\n"
		"               [--conc N] [--warmup SEC] [--duration SEC]\n"
		"               [--timeout-ms MS] [--exchanges K] "
		"[--pid PID]...\n"
		"Load generator of the data-plane benchmark. FILEs list one "
		"IPv4 address per line.\n");
}

static bool load_num(const char *s, long lo, long hi, long *out)
{
	char *end = NULL;
	long v = strtol(s, &end, 10);

	if (!end || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "dp_load: '%s' is not a number in %ld..%ld\n",
			s, lo, hi);
		return false;
	}
	*out = v;
	return true;
}

int main(int argc, char **argv)
{
	struct load l = { .port = 5000, .conc = 64, .exchanges = 16,
			  .timeout_ms = 1000, .ep = -1 };
	const char *srcf = NULL, *dstf = NULL;
	long warmup = 1, duration = 5, v;
	uint64_t busy0, busy1, own0, own1, t0, t1;
	pid_t pids[16];
	size_t n_pids = 0;
	struct load_stats base;
	double secs, cpu_us, own_us, tick_us;
	int ret = 2;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "--help")) {
			load_usage(stdout);
			return 0;
		}
		if (!val) {
			load_usage(stderr);
			return 2;
		}
		i++;
		if (!strcmp(a, "--src")) {
			srcf = val;
		} else if (!strcmp(a, "--dst")) {
			dstf = val;
		} else if (!strcmp(a, "--proto")) {
			if (strcmp(val, "tcp") && strcmp(val, "udp")) {
				fprintf(stderr, "dp_load: --proto tcp|udp\n");
				return 2;
			}
			l.udp = !strcmp(val, "udp");
		} else if (!strcmp(a, "--port")) {
			if (!load_num(val, 1, 65535, &v))
				return 2;
			l.port = (uint16_t)v;
		} else if (!strcmp(a, "--conc")) {
			if (!load_num(val, 1, LOAD_CONC_MAX, &v))
				return 2;
			l.conc = (unsigned)v;
		} else if (!strcmp(a, "--warmup")) {
			if (!load_num(val, 0, 600, &warmup))
				return 2;
		} else if (!strcmp(a, "--duration")) {
			if (!load_num(val, 1, 3600, &duration))
				return 2;
		} else if (!strcmp(a, "--timeout-ms")) {
			if (!load_num(val, 10, 60000, &v))
				return 2;
			l.timeout_ms = (unsigned)v;
		} else if (!strcmp(a, "--pid")) {
			if (!load_num(val, 1, 1 << 22, &v))
				return 2;
			if (n_pids == ARRAY_SIZE(pids)) {
				fprintf(stderr, "dp_load: at most %zu --pid\n",
					ARRAY_SIZE(pids));
				return 2;
			}
			pids[n_pids++] = (pid_t)v;
		} else if (!strcmp(a, "--exchanges")) {
			if (!load_num(val, 1, 1000000, &v))
				return 2;
			l.exchanges = (unsigned)v;
		} else {
			load_usage(stderr);
			return 2;
		}
	}
	if (!srcf || !dstf) {
		load_usage(stderr);
		return 2;
	}
	ret = 1;
	if (load_read_addrs(srcf, &l.src) < 0 ||
	    load_read_addrs(dstf, &l.dst) < 0)
		goto out;
	l.ep = epoll_create1(EPOLL_CLOEXEC);
	if (l.ep < 0) {
		perror("dp_load: epoll_create1");
		goto out;
	}
	l.slots = xcalloc(l.conc, sizeof(*l.slots));
	for (unsigned i = 0; i < l.conc; i++)
		l.slots[i].fd = -1;
	l.rng = ((uint64_t)getpid() << 32) ^ bh_wall_ms() ^ 0x9e3779b97f4a7c15ULL;

	load_run(&l, bh_now_ms() + (uint64_t)warmup * 1000);
	base = l.st;
	if (load_cpu_busy(&busy0) < 0 || load_cpu_own(pids, n_pids, &own0) < 0) {
		fprintf(stderr, "dp_load: cannot read /proc/stat or the "
			"/proc/PID/stat of a --pid\n");
		goto out;
	}
	t0 = bh_now_ms();
	load_run(&l, t0 + (uint64_t)duration * 1000);
	t1 = bh_now_ms();
	if (load_cpu_busy(&busy1) < 0 || load_cpu_own(pids, n_pids, &own1) < 0) {
		fprintf(stderr, "dp_load: cannot read /proc/stat or the "
			"/proc/PID/stat of a --pid\n");
		goto out;
	}
	for (unsigned i = 0; i < l.conc; i++)
		load_finish(&l, &l.slots[i], true);

	secs = (double)(t1 - t0) / 1000.0;
	tick_us = 1e6 / (double)sysconf(_SC_CLK_TCK);
	cpu_us = (double)(busy1 - busy0) * tick_us;
	own_us = (double)(own1 - own0) * tick_us;
	l.st.done -= base.done;
	l.st.flows -= base.flows;
	l.st.errors -= base.errors;
	l.st.timeouts -= base.timeouts;
	printf("proto=%s done=%llu flows=%llu errors=%llu timeouts=%llu "
	       "secs=%.3f rate=%.1f cpu_us=%.0f cpu_us_per_op=%.3f "
	       "own_cpu_us=%.0f own_cpu_us_per_op=%.3f "
	       "srcs=%zu dsts=%zu conc=%u\n",
	       l.udp ? "udp" : "tcp", (unsigned long long)l.st.done,
	       (unsigned long long)l.st.flows,
	       (unsigned long long)l.st.errors,
	       (unsigned long long)l.st.timeouts, secs,
	       (double)l.st.done / secs, cpu_us,
	       l.st.done ? cpu_us / (double)l.st.done : 0.0, own_us,
	       l.st.done ? own_us / (double)l.st.done : 0.0,
	       l.src.n, l.dst.n, l.conc);
	ret = 0;
out:
	if (l.ep >= 0)
		close(l.ep);
	free(l.slots);
	free(l.src.v);
	free(l.dst.v);
	return ret;
}
