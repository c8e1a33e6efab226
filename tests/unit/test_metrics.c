/* metrics.c: the textfile's series, their order, label escapes, the cap
 * on series, the commit histogram, and the atomic write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "metrics.h"
#include "util.h"

static const char *const groups[] = { "web", "db", "unassigned" };
static const uint64_t counts[] = { 3, 1, 0 };

static char *render(struct metrics *m)
{
	struct metrics_snapshot s = {
		.groups = groups, .containers = counts, .n_groups = 3,
		.commits_full = 2, .commits_delta = 40, .reloads_ok = 5,
		.reloads_failed = 1, .restores = 7, .lost_nflog = 11,
		.lost_denied_log = 0,
	};
	size_t len;
	char *t = metrics_render(m, &s, &len);

	assert_int_equal(strlen(t), len);
	return t;
}

static void has(const char *text, const char *line)
{
	char *want = xasprintf("\n%s\n", line);

	if (!strstr(text, want))
		fail_msg("missing line: %s\n--- in:\n%s", line, text);
	free(want);
}

static void test_series(void **state)
{
	struct metrics *m = metrics_new();
	char *t;

	metrics_pair_add(m, MP_DENIED, "web", "db", "deny", 2);
	metrics_pair_add(m, MP_DENIED, "web", "db", "deny", 3);
	metrics_pair_add(m, MP_DENIED, "api", "db", "would-deny", 1);
	metrics_pair_add(m, MP_DENIED, NULL, "db", "deny", 4);
	metrics_pair_add(m, MP_DENIED, "web", "db", "spoof", 0);
	metrics_pair_add(m, MP_FLOWS, "web", "api", "allow", 9);
	t = render(m);
	has(t, "bulkhead_denied_packets_total{src_group=\"web\","
	       "dst_group=\"db\",action=\"deny\"} 5");
	has(t, "bulkhead_denied_packets_total{src_group=\"*\","
	       "dst_group=\"db\",action=\"deny\"} 4");
	has(t, "bulkhead_flows_total{src_group=\"web\",dst_group=\"api\","
	       "action=\"allow\"} 9");
	assert_null(strstr(t, "action=\"spoof\""));	/* none for 0 */
	/* sorted by source group: "*" < "api" < "web" */
	assert_true(strstr(t, "src_group=\"*\"") <
		    strstr(t, "src_group=\"api\""));
	assert_true(strstr(t, "src_group=\"api\"") <
		    strstr(t, "src_group=\"web\""));
	has(t, "bulkhead_containers{group=\"web\"} 3");
	has(t, "bulkhead_containers{group=\"unassigned\"} 0");
	has(t, "bulkhead_commits_total{kind=\"full\"} 2");
	has(t, "bulkhead_commits_total{kind=\"delta\"} 40");
	has(t, "bulkhead_policy_reloads_total{result=\"ok\"} 5");
	has(t, "bulkhead_policy_reloads_total{result=\"error\"} 1");
	has(t, "bulkhead_table_restores_total 7");
	has(t, "bulkhead_records_lost_total{source=\"nflog\"} 11");
	has(t, "bulkhead_records_lost_total{source=\"conntrack\"} 0");
	has(t, "# TYPE bulkhead_denied_packets_total counter");
	has(t, "# TYPE bulkhead_containers gauge");
	free(t);
	metrics_free(m);
}

static void test_escapes(void **state)
{
	struct metrics *m = metrics_new();
	char *t;

	metrics_pair_add(m, MP_DENIED, "a\"b", "c\\d", "e\nf", 1);
	t = render(m);
	has(t, "bulkhead_denied_packets_total{src_group=\"a\\\"b\","
	       "dst_group=\"c\\\\d\",action=\"e\\nf\"} 1");
	free(t);
	metrics_free(m);
}

static void test_histogram(void **state)
{
	struct metrics *m = metrics_new();
	char *t;

	metrics_commit(m, 0.0002);
	metrics_commit(m, 0.003);
	metrics_commit(m, 0.7);
	metrics_commit(m, 60);		/* past the last bucket: +Inf only */
	t = render(m);
	has(t, "# TYPE bulkhead_commit_duration_seconds histogram");
	has(t, "bulkhead_commit_duration_seconds_bucket{le=\"0.0005\"} 1");
	has(t, "bulkhead_commit_duration_seconds_bucket{le=\"0.0025\"} 1");
	has(t, "bulkhead_commit_duration_seconds_bucket{le=\"0.005\"} 2");
	has(t, "bulkhead_commit_duration_seconds_bucket{le=\"1\"} 3");
	has(t, "bulkhead_commit_duration_seconds_bucket{le=\"10\"} 3");
	has(t, "bulkhead_commit_duration_seconds_bucket{le=\"+Inf\"} 4");
	has(t, "bulkhead_commit_duration_seconds_count 4");
	has(t, "bulkhead_commit_duration_seconds_sum 60.703200");
	free(t);
	metrics_free(m);
}

/* Past the cap, new pairs fold into _other; none is lost, the file stays
 * bounded, and pairs seen before the cap go on counting on their own. */
static void test_cap(void **state)
{
	struct metrics *m = metrics_new();
	uint64_t total = 0;
	size_t i, lines = 0;
	char name[32], *t, *p;

	for (i = 0; i < METRICS_PAIRS_MAX + 100; i++) {
		snprintf(name, sizeof(name), "g%zu", i);
		metrics_pair_add(m, MP_DENIED, name, "db", "deny", 2);
		total += 2;
	}
	metrics_pair_add(m, MP_DENIED, "g0", "db", "deny", 1);
	t = render(m);
	for (p = t; (p = strstr(p, "\nbulkhead_denied_packets_total{"));
	     p++)
		lines++;
	assert_int_equal(lines, METRICS_PAIRS_MAX - 8 + 1);
	has(t, "bulkhead_denied_packets_total{src_group=\"g0\","
	       "dst_group=\"db\",action=\"deny\"} 3");
	has(t, "bulkhead_denied_packets_total{src_group=\"_other\","
	       "dst_group=\"_other\",action=\"deny\"} 216");
	has(t, "bulkhead_metrics_folded_total 216");
	(void)total;
	free(t);
	metrics_free(m);
}

static void test_write(void **state)
{
	char dir[] = "/tmp/bh-metrics-XXXXXX", *path, *bad, *err = NULL;
	char *data = NULL;
	size_t len;

	assert_non_null(mkdtemp(dir));
	path = xasprintf("%s/bulkhead.prom", dir);
	assert_int_equal(metrics_check_path(path, &err), 0);
	assert_null(err);
	assert_int_equal(metrics_write(path, "x 1\n", 4), 0);
	assert_int_equal(bh_read_file(path, 100, &data, &len), 0);
	assert_int_equal(len, 4);
	free(data);
	/* nothing but the file is left in the directory */
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
	bad = xasprintf("%s/gone/bulkhead.prom", dir);
	assert_true(metrics_check_path(bad, &err) < 0);
	assert_non_null(strstr(err, "--metrics-file"));
	assert_non_null(strstr(err, "No such file"));
	free(err);
	free(bad);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_series),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_histogram),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_write),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
