/* audit_expiry.c: which audits have run out (status, metrics), and the
 * log line once per day per group, also across a reload that brings a
 * newly expired one. The daemon path is tests/e2e/rollout_recommend.t. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit_expiry.h"
#include "log.h"

static struct policy *load(const char *text)
{
	struct diags d = { 0 };
	struct policy *p = policy_load_buf("t.yaml", text, strlen(text), &d);

	diags_free(&d);
	assert_non_null(p);
	return p;
}

/* old: past its date; soon: before it; plain: no date; enf: enforces */
static const char *const pol1 =
	"version: 1\n"
	"groups:\n"
	"  old: { match: { a: old }, mode: audit, until: 2020-01-01 }\n"
	"  soon: { match: { a: soon }, mode: audit, until: 2999-12-31 }\n"
	"  plain: { match: { a: plain }, mode: audit }\n"
	"  enf: { match: { a: enf } }\n"
	"flows:\n"
	"  - { from: [old, soon, plain], to: enf, ports: [tcp/1] }\n";

static const char *const pol2 =
	"version: 1\n"
	"groups:\n"
	"  old: { match: { a: old }, mode: audit, until: 2020-01-01 }\n"
	"  soon: { match: { a: soon }, mode: audit, until: 2021-06-30 }\n"
	"flows:\n"
	"  - { from: old, to: soon, ports: [tcp/1] }\n";

static void test_json(void **state)
{
	struct policy *p = load(pol1);
	int32_t today;
	json_t *a;
	char *s;

	assert_true(policy_parse_day("2020-01-11", &today));
	a = audit_expiry_json(p, today);
	s = json_dumps(a, JSON_COMPACT);
	assert_string_equal(s, "[{\"group\":\"old\",\"until\":\"2020-01-01\","
			       "\"days_past\":10}]");
	free(s);
	json_decref(a);
	/* on the until day itself it has not run out */
	assert_true(policy_parse_day("2020-01-01", &today));
	a = audit_expiry_json(p, today);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	a = audit_expiry_json(NULL, today);
	assert_int_equal(json_array_size(a), 0);
	json_decref(a);
	policy_free(p);
}

static void test_snapshot(void **state)
{
	struct policy *p = load(pol1), *none = NULL;
	struct ev_loop *loop = ev_new();
	struct audit_expiry *ax = audit_expiry_new(loop, &none);
	struct metrics_snapshot s = { 0 };
	int32_t today;

	assert_true(policy_parse_day("2026-12-07", &today));
	audit_expiry_snapshot(ax, p, today, &s);
	/* audit groups with an until only: old (1) and soon (0) */
	assert_int_equal(s.n_audit, 2);
	assert_string_equal(s.audit_groups[0], "old");
	assert_int_equal(s.audit_expired[0], 1);
	assert_string_equal(s.audit_groups[1], "soon");
	assert_int_equal(s.audit_expired[1], 0);
	audit_expiry_snapshot(ax, NULL, today, &s);
	assert_int_equal(s.n_audit, 0);
	audit_expiry_free(ax);
	ev_free(loop);
	policy_free(p);
}

/* How many log lines name the group, in what stderr received. */
static int count(const char *log, const char *group)
{
	char want[64];
	const char *s = log;
	int n = 0;

	snprintf(want, sizeof(want), "audit expired: group %s ", group);
	while ((s = strstr(s, want))) {
		n++;
		s++;
	}
	return n;
}

static void test_log_once(void **state)
{
	struct policy *p = load(pol1), *cur = p;
	struct ev_loop *loop = ev_new();
	struct audit_expiry *ax;
	char path[] = "/tmp/bh-audit-expiry.XXXXXX", buf[8192];
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;

	assert_true(fd >= 0);
	log_init("test", LOG_TO_STDERR, 0);
	fflush(stderr);
	dup2(fd, 2);
	ax = audit_expiry_new(loop, &cur);	/* looks at once */
	audit_expiry_check(ax);
	audit_expiry_check(ax);
	/* a reload: soon has run out too now */
	cur = load(pol2);
	audit_expiry_check(ax);
	audit_expiry_check(ax);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_int_equal(count(buf, "old"), 1);
	assert_int_equal(count(buf, "soon"), 1);
	assert_int_equal(count(buf, "plain"), 0);
	assert_non_null(strstr(buf, "enforcement is unchanged"));
	audit_expiry_free(ax);
	ev_free(loop);
	policy_free(cur);
	policy_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_log_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
