/* policywatch.c against real inotify in a temporary directory: the
 * callback waits for an in-place writer's close, comes once for a burst,
 * and policy_watch_pending() tells a reload that a writer truncated the
 * file after the watcher's last look (the race behind a torn read). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "ev.h"
#include "policywatch.h"
#include "util.h"

struct fx {
	char dir[64];
	char file[96];
	struct ev_loop *l;
	struct policy_watch *pw;
	struct ev_timer *bound;
	unsigned calls;
};

static void on_change(void *arg)
{
	struct fx *f = arg;

	f->calls++;
	ev_stop(f->l);
}

static void on_bound(struct ev_timer *t, void *arg)
{
	ev_stop(((struct fx *)arg)->l);
}

/* runs the loop until the callback or ms have passed */
static void run_for(struct fx *f, uint64_t ms)
{
	ev_timer_arm(f->bound, ms, 0);
	assert_int_equal(ev_run(f->l), 0);
	ev_timer_disarm(f->bound);
}

static void put(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static int setup(void **state)
{
	struct fx *f = xcalloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/bh-pw.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->file, sizeof(f->file), "%s/a.yaml", f->dir);
	put(f->file, "version: 1\n");
	f->l = ev_new();
	f->bound = ev_timer_new(f->l, on_bound, f);
	assert_int_equal(policy_watch_start(f->l, f->dir, on_change, f,
					    &f->pw), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	policy_watch_stop(f->pw);
	ev_timer_free(f->bound);
	ev_free(f->l);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_quiet_is_not_pending(void **state)
{
	struct fx *f = *state;

	assert_false(policy_watch_pending(f->pw));
	run_for(f, 400);
	assert_int_equal(f->calls, 0);
}

static void test_in_place_writer(void **state)
{
	struct fx *f = *state;
	int fd = open(f->file, O_WRONLY | O_TRUNC | O_CLOEXEC);

	/* truncated, not closed: pending, and no callback while open */
	assert_true(fd >= 0);
	assert_true(policy_watch_pending(f->pw));
	run_for(f, 600);
	assert_int_equal(f->calls, 0);
	assert_int_equal(write(fd, "version: 1\n", 11), 11);
	close(fd);
	run_for(f, 3000);
	assert_int_equal(f->calls, 1);
	/* the callback has read everything up to now */
	assert_false(policy_watch_pending(f->pw));
}

static void test_truncate_after_callback(void **state)
{
	struct fx *f = *state;
	int fd;

	put(f->file, "version: 1\n");
	run_for(f, 3000);
	assert_int_equal(f->calls, 1);
	assert_false(policy_watch_pending(f->pw));
	/* what a reload that follows the callback may meet: a writer that
	 * truncated the file since; the next callback is on its way */
	fd = open(f->file, O_WRONLY | O_TRUNC | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_true(policy_watch_pending(f->pw));
	assert_int_equal(write(fd, "version: 1\n", 11), 11);
	close(fd);
	run_for(f, 3000);
	assert_int_equal(f->calls, 2);
	assert_false(policy_watch_pending(f->pw));
}

static void test_burst_is_one_callback(void **state)
{
	struct fx *f = *state;
	int i;

	for (i = 0; i < 50; i++)
		put(f->file, i % 2 ? "version: 1\n" : "version: 1\n# x\n");
	run_for(f, 3000);
	assert_int_equal(f->calls, 1);
	run_for(f, 500);
	assert_int_equal(f->calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_quiet_is_not_pending,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_in_place_writer, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_truncate_after_callback,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_is_one_callback,
						setup, teardown),
	};

	return cmocka_run_group_tests_name("policywatch", tests, NULL, NULL);
}
