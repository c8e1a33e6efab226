/* replay.c without a kernel or files: records in, observations out.
 * Aggregation (one observation per side/side/service, counts and first/
 * last seen summed and bounded, replicas with the same labels merged),
 * reclassification by the labels a container had when seen (a candidate
 * that moves it to another group), the fallback to the recorded group for
 * records without labels, the kinds of change, and a total order that does
 * not depend on the order records came in. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "replay.h"

static const char now_text[] =
	"version: 1\n"
	"groups:\n"
	"  web: { match: { purpose: web } }\n"
	"  api: { match: { purpose: api } }\n"
	"  db: { match: { purpose: database }, mode: audit }\n"
	"flows:\n"
	"  - { from: web, to: api, ports: [tcp/8080] }\n"
	"  - { from: api, to: db, ports: [tcp/5432] }\n";

/* legacy is new and comes first: web containers labelled tier=old move
 * there; db is enforced; world may reach web on 443 */
static const char cand_text[] =
	"version: 1\n"
	"groups:\n"
	"  legacy: { match: { tier: old } }\n"
	"  web: { match: { purpose: web } }\n"
	"  api: { match: { purpose: api } }\n"
	"  db: { match: { purpose: database } }\n"
	"flows:\n"
	"  - { from: [web, legacy], to: api, ports: [tcp/8080] }\n"
	"  - { from: api, to: db, ports: [tcp/5432] }\n"
	"  - { from: world, to: web, ports: [tcp/443] }\n";

static struct policy *load(const char *name, const char *text)
{
	struct diags d = { 0 };
	struct policy *p = policy_load_buf(name, text, strlen(text), &d);

	assert_non_null(p);
	diags_free(&d);
	return p;
}

/* An allow (or deny) record of one container per side, with labels
 * ("" for none: an older record) */
static json_t *rec(const char *action, const char *start, const char *end,
		   const char *sg, const char *sname, const char *slabels,
		   const char *dg, const char *dname, const char *dlabels,
		   int port, int packets, int conns)
{
	char buf[2048];
	json_error_t e;
	json_t *r;

	snprintf(buf, sizeof(buf),
		 "{\"@timestamp\":\"%s\",\"schema\":1,"
		 "\"event\":{\"action\":\"%s\",\"start\":\"%s\",\"end\":\"%s\"},"
		 "\"network\":{\"type\":\"ipv4\",\"transport\":\"tcp\","
		 "\"iana_number\":\"6\"},"
		 "\"source\":{\"group\":\"%s\",\"container\":{\"id\":\"%s-id\","
		 "\"name\":\"%s\"}%s%s},"
		 "\"destination\":{\"group\":\"%s\",\"port\":%d,"
		 "\"container\":{\"id\":\"%s-id\",\"name\":\"%s\"}%s%s},"
		 "\"bulkhead\":{\"record\":\"flow\",\"seq\":1,\"packets\":%d,"
		 "\"connections\":%d}}",
		 end, action, start, end, sg, sname, sname,
		 *slabels ? ",\"labels\":" : "", slabels, dg, port, dname,
		 dname, *dlabels ? ",\"labels\":" : "", dlabels, packets,
		 conns);
	r = json_loads(buf, 0, &e);
	if (!r)
		fail_msg("%s: %s", e.text, buf);
	return r;
}

static void add(struct replay *rp, json_t *r)
{
	replay_add(rp, r);
	json_decref(r);
}

static const char WEB[] = "{\"bulkhead.purpose\":\"web\"}";
static const char OLD[] = "{\"bulkhead.purpose\":\"web\",\"bulkhead.tier\":\"old\"}";
static const char API[] = "{\"bulkhead.purpose\":\"api\"}";
static const char DB[] = "{\"bulkhead.purpose\":\"database\"}";

static struct replay_obs *find(struct replay *rp, const char *sname,
			       const char *dname, int port)
{
	size_t i;

	for (i = 0; i < rp->n; i++)
		if (rp->obs[i].src.name && rp->obs[i].dst.name &&
		    !strcmp(rp->obs[i].src.name, sname) &&
		    !strcmp(rp->obs[i].dst.name, dname) &&
		    rp->obs[i].port == port)
			return &rp->obs[i];
	fail_msg("no observation %s -> %s %d", sname, dname, port);
	return NULL;
}

static void test_aggregation(void **state)
{
	struct replay *rp = replay_new();
	struct replay_obs *o;

	/* two replicas with the same labels: one observation, the least
	 * name; counts summed, first/last seen the bounds */
	add(rp, rec("allow", "2026-11-20T10:00:05.000Z",
		    "2026-11-20T10:00:09.000Z", "web", "web-2", WEB, "api",
		    "api-1", API, 8080, 10, 2));
	add(rp, rec("allow", "2026-11-20T10:00:01.000Z",
		    "2026-11-20T10:00:03.000Z", "web", "web-1", WEB, "api",
		    "api-1", API, 8080, 5, 1));
	/* another port, another observation */
	add(rp, rec("allow", "2026-11-20T11:00:00.000Z",
		    "2026-11-20T11:00:00.000Z", "web", "web-1", WEB, "api",
		    "api-1", API, 9090, 1, 1));
	/* would-deny packets of the same service join the allow ones */
	add(rp, rec("would-deny", "2026-11-21T10:00:00.000Z",
		    "2026-11-21T10:00:00.000Z", "web", "web-1", WEB, "api",
		    "api-1", API, 8080, 3, 0));
	/* what is not a flow record is not an observation */
	add(rp, json_pack("{s:{s:s}, s:{s:s}}", "bulkhead", "record",
			  "unlogged", "event", "action", "deny"));
	add(rp, rec("spoof", "2026-11-20T10:00:01.000Z",
		    "2026-11-20T10:00:01.000Z", "web", "web-1", WEB, "api",
		    "api-1", API, 8080, 1, 0));
	assert_int_equal(rp->n, 2);
	assert_int_equal(rp->records, 4);
	assert_int_equal(rp->ignored, 2);
	o = find(rp, "web-1", "api-1", 8080);
	assert_int_equal(o->records, 3);
	assert_int_equal(o->packets, 18);
	assert_int_equal(o->connections, 3);
	assert_int_equal(o->first_ms, 1795168801000ULL);
	assert_int_equal(o->last_ms, 1795255200000ULL);
	assert_non_null(o->src.labels);
	replay_free(rp);
}

static void test_reclassify_by_old_labels(void **state)
{
	struct policy *now = load("now.yaml", now_text);
	struct policy *cand = load("cand.yaml", cand_text);
	struct replay *rp = replay_new();
	struct replay_obs *o;

	/* web-old is gone; its records say it was purpose=web, tier=old */
	add(rp, rec("allow", "2026-11-20T10:00:01.000Z",
		    "2026-11-20T10:00:02.000Z", "web", "web-old", OLD, "api",
		    "api-1", API, 8080, 4, 1));
	add(rp, rec("allow", "2026-11-20T10:00:01.000Z",
		    "2026-11-20T10:00:02.000Z", "web", "web-1", WEB, "db",
		    "db-1", DB, 5432, 0, 1));
	add(rp, rec("allow", "2026-11-20T10:00:01.000Z",
		    "2026-11-20T10:00:02.000Z", "web", "web-old", OLD, "db",
		    "db-1", DB, 5432, 0, 1));
	replay_sort(rp);
	replay_judge(rp, now, REPLAY_NOW);
	replay_judge(rp, cand, REPLAY_CANDIDATE);

	o = find(rp, "web-old", "api-1", 8080);
	assert_string_equal(o->j[REPLAY_NOW].from, "web");
	assert_string_equal(o->j[REPLAY_CANDIDATE].from, "legacy");
	assert_int_equal(o->j[REPLAY_NOW].verdict, EXPLAIN_ALLOW);
	assert_int_equal(o->j[REPLAY_CANDIDATE].verdict, EXPLAIN_ALLOW);
	/* the same flow by content, though on another line and with
	 * legacy beside web: a layout change is no rule change... */
	assert_string_equal(o->j[REPLAY_NOW].rule, "now.yaml:7");
	assert_string_equal(o->j[REPLAY_CANDIDATE].rule, "cand.yaml:8");
	assert_string_equal(o->j[REPLAY_NOW].what, "flow web -> api tcp/8080");
	assert_string_equal(o->j[REPLAY_CANDIDATE].what,
			    "flow web,legacy -> api tcp/8080");
	/* ...but a flow that names other groups is */
	assert_int_equal(replay_change_of(o), REPLAY_CHANGED_RULE);

	/* web -> db: audit now (would-deny), enforced by the candidate */
	o = find(rp, "web-1", "db-1", 5432);
	assert_int_equal(o->j[REPLAY_NOW].verdict, EXPLAIN_AUDIT);
	assert_int_equal(o->j[REPLAY_CANDIDATE].verdict, EXPLAIN_DENY);
	assert_string_equal(o->j[REPLAY_CANDIDATE].rule, "default-deny");
	assert_int_equal(replay_change_of(o), REPLAY_NEWLY_DENIED);
	o = find(rp, "web-old", "db-1", 5432);
	assert_string_equal(o->j[REPLAY_CANDIDATE].from, "legacy");
	assert_int_equal(replay_change_of(o), REPLAY_NEWLY_DENIED);

	/* the policy in force against itself: nothing changes */
	replay_judge(rp, now, REPLAY_CANDIDATE);
	assert_int_equal(replay_change_of(find(rp, "web-old", "api-1", 8080)),
			 REPLAY_SAME);
	assert_int_equal(replay_change_of(find(rp, "web-1", "db-1", 5432)),
			 REPLAY_SAME);
	replay_free(rp);
	policy_free(now);
	policy_free(cand);
}

static void test_fallback_and_world(void **state)
{
	struct policy *now = load("now.yaml", now_text);
	struct policy *cand = load("cand.yaml", cand_text);
	struct replay *rp = replay_new();
	struct replay_obs *o;
	json_error_t e;
	json_t *r;

	/* an older record: no labels, so the recorded groups decide, and
	 * the candidate cannot move web-old to legacy */
	add(rp, rec("allow", "2026-11-20T10:00:01.000Z",
		    "2026-11-20T10:00:02.000Z", "web", "web-old", "", "api",
		    "api-1", "", 8080, 4, 1));
	/* the world, denied into web on 443: the candidate allows it */
	r = json_loads("{\"schema\":1,\"event\":{\"action\":\"deny\","
		       "\"start\":\"2026-11-21T09:00:00.000Z\","
		       "\"end\":\"2026-11-21T09:00:01.000Z\"},"
		       "\"network\":{\"type\":\"ipv4\",\"transport\":\"tcp\"},"
		       "\"source\":{\"ip\":\"198.51.100.9\",\"group\":\"world\"},"
		       "\"destination\":{\"ip\":\"10.77.0.11\",\"port\":443,"
		       "\"group\":\"web\",\"container\":{\"id\":\"w\","
		       "\"name\":\"web-1\"},\"labels\":{\"bulkhead.purpose\":"
		       "\"web\"}},\"bulkhead\":{\"record\":\"flow\","
		       "\"packets\":3}}", 0, &e);
	assert_non_null(r);
	add(rp, r);
	replay_sort(rp);
	replay_judge(rp, now, REPLAY_NOW);
	replay_judge(rp, cand, REPLAY_CANDIDATE);
	o = find(rp, "web-old", "api-1", 8080);
	assert_null(o->src.labels);
	assert_true(o->src.container);
	assert_string_equal(o->j[REPLAY_CANDIDATE].from, "web");
	assert_int_equal(o->j[REPLAY_CANDIDATE].verdict, EXPLAIN_ALLOW);
	for (o = rp->obs; o < rp->obs + rp->n; o++)
		if (o->port == 443)
			break;
	assert_true(o < rp->obs + rp->n);
	assert_false(o->src.container);
	assert_string_equal(o->src.ip, "198.51.100.9");
	assert_string_equal(o->j[REPLAY_NOW].from, "world");
	assert_int_equal(o->j[REPLAY_NOW].verdict, EXPLAIN_DENY);
	assert_int_equal(o->j[REPLAY_CANDIDATE].verdict, EXPLAIN_ALLOW);
	assert_string_equal(o->j[REPLAY_CANDIDATE].rule, "cand.yaml:10");
	assert_int_equal(replay_change_of(o), REPLAY_NEWLY_ALLOWED);
	replay_free(rp);
	policy_free(now);
	policy_free(cand);
}

/* The same records in two orders: the same observations, in the same
 * order, with the same names (the least), counts and times. */
static void test_ties_deterministic(void **state)
{
	json_t *r[6];
	struct replay *a = replay_new(), *b = replay_new();
	size_t i;

	r[0] = rec("allow", "2026-11-20T10:00:01.000Z",
		   "2026-11-20T10:00:02.000Z", "web", "web-b", WEB, "api",
		   "api-1", API, 8080, 1, 1);
	r[1] = rec("allow", "2026-11-20T10:00:01.000Z",
		   "2026-11-20T10:00:02.000Z", "web", "web-a", WEB, "api",
		   "api-1", API, 8080, 1, 1);
	r[2] = rec("allow", "2026-11-20T10:00:01.000Z",
		   "2026-11-20T10:00:02.000Z", "web", "web-c", OLD, "api",
		   "api-1", API, 8080, 1, 1);
	r[3] = rec("allow", "2026-11-20T10:00:01.000Z",
		   "2026-11-20T10:00:02.000Z", "web", "web-a", WEB, "api",
		   "api-2", API, 80, 1, 1);
	r[4] = rec("deny", "2026-11-20T10:00:01.000Z",
		   "2026-11-20T10:00:02.000Z", "api", "api-1", API, "web",
		   "web-a", WEB, 22, 1, 0);
	r[5] = rec("allow", "2026-11-20T10:00:01.000Z",
		   "2026-11-20T10:00:02.000Z", "web", "web-z", "", "api",
		   "api-1", API, 8080, 1, 1);
	for (i = 0; i < 6; i++)
		replay_add(a, r[i]);
	for (i = 6; i-- > 0;)
		replay_add(b, r[i]);
	replay_sort(a);
	replay_sort(b);
	assert_int_equal(a->n, 5);
	assert_int_equal(a->n, b->n);
	for (i = 0; i < a->n; i++) {
		assert_string_equal(a->obs[i].src.key, b->obs[i].src.key);
		assert_string_equal(a->obs[i].dst.key, b->obs[i].dst.key);
		assert_int_equal(a->obs[i].port, b->obs[i].port);
		assert_string_equal(a->obs[i].src.name, b->obs[i].src.name);
		assert_int_equal(a->obs[i].records, b->obs[i].records);
		if (i)
			assert_true(replay_obs_cmp(&a->obs[i - 1],
						   &a->obs[i]) < 0);
	}
	/* the replicas web-a and web-b are one side, named web-a */
	assert_int_equal(find(a, "web-a", "api-1", 8080)->records, 2);
	/* records that come after a sort still join their observation */
	replay_add(a, r[0]);
	assert_int_equal(a->n, 5);
	assert_int_equal(find(a, "web-a", "api-1", 8080)->records, 3);
	for (i = 0; i < 6; i++)
		json_decref(r[i]);
	replay_free(a);
	replay_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aggregation),
		cmocka_unit_test(test_reclassify_by_old_labels),
		cmocka_unit_test(test_fallback_and_world),
		cmocka_unit_test(test_ties_deterministic),
	};

	return cmocka_run_group_tests_name("replay", tests, NULL, NULL);
}
