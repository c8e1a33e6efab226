/* recfile.c's ring of recent records (what --follow reads): the newest
 * RECFILE_RING_DEFAULT records come back as they were put, oldest first,
 * with the count a follower missed; the file has every one. And what a
 * full ring costs: its records are kept as their lines, not as jansson
 * trees (7-9 KB each for a line of 650-850 bytes: two full rings held
 * ~16 MB, the churn soak's RSS growth, docs/benchmarks.md). Without
 * glibc's allocator (ASan) the heap is not checked. */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "recfile.h"

/* a denied record as denied.c writes it (tests/soak's shape) */
static const char rec_text[] =
	"{\"@timestamp\":\"2026-12-07T15:39:02.332Z\",\"schema\":1,"
	"\"event\":{\"kind\":\"event\",\"category\":[\"network\"],"
	"\"type\":[\"denied\"],\"dataset\":\"bulkhead.denied\","
	"\"action\":\"deny\",\"start\":\"2026-12-07T15:39:01.451Z\","
	"\"end\":\"2026-12-07T15:39:02.332Z\"},\"network\":{\"type\":"
	"\"ipv4\",\"transport\":\"udp\",\"iana_number\":\"17\","
	"\"direction\":\"ingress\"},\"source\":{\"ip\":\"10.77.0.31\","
	"\"group\":\"db\",\"container\":{\"id\":\"id-db\",\"name\":\"db\"}},"
	"\"destination\":{\"ip\":\"10.77.0.21\",\"port\":7001,\"group\":"
	"\"api\",\"container\":{\"id\":\"id-api\",\"name\":\"api\"}},"
	"\"rule\":{\"name\":\"default-deny\",\"ruleset\":"
	"\"f5554fca0c839da0dc486d35b539e5611f7ce4b104edcc3e24efcc7082a486cf\"},"
	"\"host\":{\"name\":\"vm\"},\"bulkhead\":{\"record\":\"flow\","
	"\"seq\":0,\"direction\":\"in\",\"first\":false,\"packets\":24,"
	"\"bytes\":816,\"unlogged\":0,\"lost\":0}}";

static json_t *record(uint64_t seq)
{
	json_t *r = json_loads(rec_text, 0, NULL);

	assert_non_null(r);
	json_object_set_new(json_object_get(r, "bulkhead"), "seq",
			    json_integer((json_int_t)seq));
	return r;
}

static size_t heap_used(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

struct fx {
	char dir[64], path[96];
	struct recfile *rf;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct recfile_opts o = { .what = "test records" };

	snprintf(f->dir, sizeof(f->dir), "/tmp/bh-test-recfile.XXXXXX");
	if (!f->dir[0] || !mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/records.jsonl", f->dir);
	o.path = f->path;
	if (recfile_open(&o, &f->rf) < 0)
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	recfile_close(f->rf);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static json_t *recent(struct fx *f, uint64_t after, uint64_t *missed)
{
	json_t *r = recfile_recent_json(f->rf, after), *recs;

	assert_int_equal(json_integer_value(json_object_get(r, "ring")),
			 RECFILE_RING_DEFAULT);
	*missed = (uint64_t)json_integer_value(json_object_get(r, "missed"));
	recs = json_incref(json_object_get(r, "records"));
	json_decref(r);
	return recs;
}

static uint64_t seq_of(json_t *recs, size_t i)
{
	return (uint64_t)json_integer_value(json_object_get(
		json_object_get(json_array_get(recs, i), "bulkhead"), "seq"));
}

/* 1,500 records: the ring has the newest 1,024, oldest first, each as it
 * was put; the file has all 1,500 lines. */
static void test_ring_recent(void **state)
{
	struct fx *f = *state;
	json_t *recs, *want;
	uint64_t missed, i;
	size_t lines = 0;
	FILE *fp;
	int c;

	recs = recent(f, 0, &missed);
	assert_int_equal(json_array_size(recs), 0);
	assert_int_equal(missed, 0);
	json_decref(recs);
	for (i = 1; i <= 1500; i++)
		recfile_put(f->rf, record(i), i, 24);
	assert_int_equal(recfile_last_seq(f->rf), 1500);

	recs = recent(f, 0, &missed);
	assert_int_equal(json_array_size(recs), RECFILE_RING_DEFAULT);
	assert_int_equal(seq_of(recs, 0), 1500 - RECFILE_RING_DEFAULT + 1);
	assert_int_equal(seq_of(recs, RECFILE_RING_DEFAULT - 1), 1500);
	assert_int_equal(missed, 1500 - RECFILE_RING_DEFAULT);
	want = record(1500);
	assert_true(json_equal(json_array_get(recs, RECFILE_RING_DEFAULT - 1),
			       want));
	json_decref(want);
	json_decref(recs);

	/* a follower within the ring misses nothing */
	recs = recent(f, 1490, &missed);
	assert_int_equal(json_array_size(recs), 10);
	assert_int_equal(seq_of(recs, 0), 1491);
	assert_int_equal(missed, 0);
	json_decref(recs);
	recs = recent(f, 1500, &missed);
	assert_int_equal(json_array_size(recs), 0);
	json_decref(recs);

	fp = fopen(f->path, "r");
	assert_non_null(fp);
	while ((c = fgetc(fp)) != EOF)
		lines += c == '\n';
	fclose(fp);
	assert_int_equal(lines, 1500);
}

/* A full ring costs about its records' lines (~850 bytes here), not
 * their jansson trees (~7 KB): at most 2 KB a record. */
static void test_ring_memory(void **state)
{
	struct fx *f = *state;
	size_t before, used, i;

	before = heap_used();
	for (i = 1; i <= 2 * RECFILE_RING_DEFAULT; i++)
		recfile_put(f->rf, record(i), i, 24);
	used = heap_used() - before;
	print_message("a full ring of %d records: %zu bytes of heap, %zu a "
		      "record (the line: %zu)\n", RECFILE_RING_DEFAULT, used,
		      used / RECFILE_RING_DEFAULT, strlen(rec_text));
#ifndef __SANITIZE_ADDRESS__
	assert_in_range(used, 0, (size_t)RECFILE_RING_DEFAULT * 2048);
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ring_recent, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ring_memory, setup,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
