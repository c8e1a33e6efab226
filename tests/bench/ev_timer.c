/* How late the event loop's one-shot timers fire: the figure behind the
 * time check that tests/unit/test_ev.c (test_timers_in_order) had; the
 * test now checks the order and that no timer fires before its deadline.
 * Per round, the test's pair (60 ms armed first, then 20 ms), through
 *   ev     ev_timer_arm + ev_run (enforcer/ev.c), callback time
 *   bare   two timerfds and epoll_wait, wake-up time (the reference:
 *          what the kernel alone gives)
 * alternating. Lateness = fire time - (time of arming + delay), in
 * microseconds; medians, p90 and max over every timer of every round,
 * and how many fired early (must be 0).
 *
 *   ev_timer [--rounds R]
 *
 * Needs no privileges. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "bench_util.h"
#include "ev.h"
#include "util.h"

static const unsigned delay_ms[2] = { 60, 20 };	/* arming order */

struct fired {
	struct ev_loop *l;
	double at[2];
	int n;
};

static void on_timer(struct fired *f, int which)
{
	f->at[which] = bench_now();
	if (++f->n == 2)
		ev_stop(f->l);
}

static void fire0(struct ev_timer *t, void *arg)
{
	on_timer(arg, 0);
}

static void fire1(struct ev_timer *t, void *arg)
{
	on_timer(arg, 1);
}

/* Lateness of both timers of one round, in seconds, into late[0..1]. */
static void round_ev(struct ev_loop *l, double late[2])
{
	struct fired f = { .l = l };
	struct ev_timer *t[2];
	double armed[2];
	int i;

	t[0] = ev_timer_new(l, fire0, &f);
	t[1] = ev_timer_new(l, fire1, &f);
	for (i = 0; i < 2; i++) {
		armed[i] = bench_now();
		ev_timer_arm(t[i], delay_ms[i], 0);
	}
	if (ev_run(l) < 0 || f.n != 2) {
		fprintf(stderr, "ev_timer: ev_run failed\n");
		exit(2);
	}
	for (i = 0; i < 2; i++) {
		late[i] = f.at[i] - armed[i] - delay_ms[i] / 1e3;
		ev_timer_free(t[i]);
	}
}

static void round_bare(double late[2])
{
	struct epoll_event ev = { .events = EPOLLIN }, got[2];
	struct itimerspec its = { 0 };
	double armed[2], at[2] = { 0, 0 };
	int fd[2], ep, i, n, seen = 0;
	uint64_t x;

	ep = epoll_create1(EPOLL_CLOEXEC);
	for (i = 0; i < 2; i++) {
		fd[i] = timerfd_create(CLOCK_MONOTONIC,
				       TFD_NONBLOCK | TFD_CLOEXEC);
		ev.data.u32 = (uint32_t)i;
		if (ep < 0 || fd[i] < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev) < 0) {
			perror("ev_timer: timerfd/epoll");
			exit(2);
		}
	}
	for (i = 0; i < 2; i++) {
		its.it_value.tv_sec = 0;
		its.it_value.tv_nsec = (long)delay_ms[i] * 1000000L;
		armed[i] = bench_now();
		timerfd_settime(fd[i], 0, &its, NULL);
	}
	while (seen < 2) {
		n = epoll_wait(ep, got, 2, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			perror("ev_timer: epoll_wait");
			exit(2);
		}
		for (i = 0; i < n; i++) {
			at[got[i].data.u32] = bench_now();
			if (read(fd[got[i].data.u32], &x, sizeof(x)) ==
			    sizeof(x))
				seen++;
		}
	}
	for (i = 0; i < 2; i++) {
		late[i] = at[i] - armed[i] - delay_ms[i] / 1e3;
		close(fd[i]);
	}
	close(ep);
}

static void report(const char *what, double *v, size_t n)
{
	size_t early = 0, i;
	double med = bench_pct(v, n, 0.5), p90 = bench_pct(v, n, 0.9);

	for (i = 0; i < n; i++)
		early += v[i] < 0;
	printf("%-34s %9.1f %9.1f %9.1f %7zu\n", what, med * 1e6, p90 * 1e6,
	       v[n - 1] * 1e6, early);
}

int main(int argc, char **argv)
{
	int rounds = 50, r, i;
	double *ev_late, *bare_late, late[2], m_ev, m_bare;
	struct ev_loop *l;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: ev_timer [--rounds R]\n");
			return 2;
		}
	}
	if (rounds < 1)
		rounds = 1;
	ev_late = xcalloc((size_t)rounds * 2, sizeof(double));
	bare_late = xcalloc((size_t)rounds * 2, sizeof(double));
	l = ev_new();
	for (r = 0; r < rounds; r++) {
		round_ev(l, late);
		ev_late[2 * r] = late[0];
		ev_late[2 * r + 1] = late[1];
		round_bare(late);
		bare_late[2 * r] = late[0];
		bare_late[2 * r + 1] = late[1];
	}
	ev_free(l);
	printf("event loop: %d rounds of a 60 ms and a 20 ms one-shot; "
	       "lateness, us\n", rounds);
	printf("%-34s %9s %9s %9s %7s\n", "", "median", "p90", "max", "early");
	report("ev_timer (enforcer/ev.c)", ev_late, (size_t)rounds * 2);
	report("bare timerfd + epoll_wait", bare_late, (size_t)rounds * 2);
	m_ev = bench_pct(ev_late, (size_t)rounds * 2, 0.5);
	m_bare = bench_pct(bare_late, (size_t)rounds * 2, 0.5);
	printf("event loop: a timer fires %.0f us after its deadline "
	       "(median), %.2fx the bare timerfd's %.0f us; %s early\n",
	       m_ev * 1e6, m_ev / m_bare, m_bare * 1e6,
	       ev_late[0] < 0 || bare_late[0] < 0 ? "SOME" : "none");
	free(ev_late);
	free(bare_late);
	return 0;
}
