/* ev.c: timers (one-shot, periodic, re-armed), signals through signalfd,
 * fd callbacks, and removal of an fd whose event is already fetched.
 * How late a timer fires is a figure of tests/bench/ev_timer
 * (docs/benchmarks.md, "event loop"), not a check here. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ev.h"
#include "util.h"

struct order {
	char seen[16];
	size_t n;
	struct ev_loop *l;
	uint64_t b_ns;			/* CLOCK_MONOTONIC when b fired */
};

/* The clock timerfd counts on (ev.c: CLOCK_MONOTONIC), to the ns. */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void mark_a(struct ev_timer *t, void *arg)
{
	struct order *o = arg;

	o->seen[o->n++] = 'a';
}

static void mark_b(struct ev_timer *t, void *arg)
{
	struct order *o = arg;

	o->b_ns = mono_ns();
	o->seen[o->n++] = 'b';
	ev_stop(o->l);
}

/* Two one-shots fire in deadline order, and never before their deadline:
 * an order against the clock that a slow machine cannot break (late is
 * fine, early is a bug, e.g. milliseconds taken for microseconds). */
static void test_timers_in_order(void **state)
{
	struct ev_loop *l = ev_new();
	struct order o = { .l = l };
	struct ev_timer *a = ev_timer_new(l, mark_a, &o);
	struct ev_timer *b = ev_timer_new(l, mark_b, &o);
	uint64_t t0 = mono_ns();

	(void)state;
	ev_timer_arm(b, 60, 0);
	ev_timer_arm(a, 20, 0);
	assert_int_equal(ev_run(l), 0);
	assert_string_equal(o.seen, "ab");
	assert_true(o.b_ns >= t0 + 60 * 1000000u);
	ev_timer_free(a);
	ev_timer_free(b);
	ev_free(l);
}

struct periodic {
	int n;
	struct ev_loop *l;
};

static void tick(struct ev_timer *t, void *arg)
{
	struct periodic *p = arg;

	if (++p->n == 5)
		ev_stop(p->l);
}

static void test_periodic_and_disarm(void **state)
{
	struct ev_loop *l = ev_new();
	struct periodic p = { .l = l };
	struct ev_timer *t = ev_timer_new(l, tick, &p);
	struct order o = { .l = l };
	struct ev_timer *never = ev_timer_new(l, mark_a, &o);

	(void)state;
	ev_timer_arm(never, 5, 0);
	ev_timer_disarm(never);
	ev_timer_arm(t, 0, 5);
	assert_int_equal(ev_run(l), 0);
	assert_int_equal(p.n, 5);
	assert_int_equal(o.n, 0);
	ev_timer_free(t);
	ev_timer_free(never);
	ev_free(l);
}

struct sig {
	int got;
	struct ev_loop *l;
};

static void on_sig(int signo, void *arg)
{
	struct sig *s = arg;

	s->got = signo;
	ev_stop(s->l);
}

static void test_signal(void **state)
{
	struct ev_loop *l = ev_new();
	struct sig s = { .l = l };

	(void)state;
	assert_int_equal(ev_add_signal(l, SIGUSR2, on_sig, &s), 0);
	assert_int_equal(ev_add_signal(l, 0, on_sig, &s), -EINVAL);
	kill(getpid(), SIGUSR2);
	assert_int_equal(ev_run(l), 0);
	assert_int_equal(s.got, SIGUSR2);
	ev_free(l);
}

/* Two pipes readable in the same batch; the first callback removes and
 * closes the second: its already-fetched event must not be delivered. */
struct pair {
	struct ev_loop *l;
	int fds[2][2];
	int calls[2];
};

static void on_read(int fd, uint32_t events, void *arg)
{
	struct pair *p = arg;
	int me = fd == p->fds[0][0] ? 0 : 1, other = !me;
	char c;

	p->calls[me]++;
	assert_int_equal(read(fd, &c, 1), 1);
	ev_del_fd(p->l, p->fds[other][0]);
	ev_stop(p->l);
}

static void test_remove_in_batch(void **state)
{
	struct ev_loop *l = ev_new();
	struct pair p = { .l = l };
	int i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(pipe(p.fds[i]), 0);
		assert_int_equal(ev_add_fd(l, p.fds[i][0], EPOLLIN, on_read,
					   &p), 0);
		assert_int_equal(write(p.fds[i][1], "x", 1), 1);
	}
	assert_int_equal(ev_add_fd(l, p.fds[0][0], EPOLLIN, on_read, &p),
			 -EEXIST);
	assert_int_equal(ev_run(l), 0);
	assert_int_equal(p.calls[0] + p.calls[1], 1);
	assert_int_equal(ev_mod_fd(l, 999, EPOLLIN), -ENOENT);
	for (i = 0; i < 2; i++) {
		ev_del_fd(l, p.fds[i][0]);
		close(p.fds[i][0]);
		close(p.fds[i][1]);
	}
	ev_free(l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_timers_in_order),
		cmocka_unit_test(test_periodic_and_disarm),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_remove_in_batch),
	};

	return cmocka_run_group_tests_name("ev", tests, NULL, NULL);
}
