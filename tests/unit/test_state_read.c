/* state_read: the inventory a state dir describes, read without writing
 * (bulkheadctl verify --policy beside a live daemon): snapshot + journal
 * replayed, a torn last line dropped, a corrupt one an error, an absent
 * dir an empty inventory, and nothing created, compacted or touched. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "state.h"

static char dir[64];

static int setup(void **st)
{
	strcpy(dir, "/tmp/bh-state-read.XXXXXX");
	log_init("test_state_read", LOG_TO_STDERR, 0);
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **st)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) ? -1 : 0;
}

static void put_file(const char *name, const char *text)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static off_t size_of(const char *name)
{
	char path[128];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return stat(path, &st) ? -1 : st.st_size;
}

static void test_snapshot_and_journal(void **st)
{
	struct inventory *inv = NULL;
	char *err = NULL;
	off_t snap, jour;

	put_file(STATE_SNAPSHOT,
		 "[{\"id\":\"a\",\"name\":\"a\",\"ips\":[\"10.0.0.1\"]},"
		 "{\"id\":\"b\",\"name\":\"b\",\"ips\":[\"10.0.0.2\"]}]");
	put_file(STATE_JOURNAL,
		 "{\"op\":\"detach\",\"id\":\"a\"}\n"
		 "{\"op\":\"attach\",\"c\":[{\"id\":\"c\",\"name\":\"c\","
		 "\"ips\":[\"10.0.0.3\"]}]}\n"
		 "{\"op\":\"attach\",\"c\":[{\"id\":\"d\"");	/* torn */
	snap = size_of(STATE_SNAPSHOT);
	jour = size_of(STATE_JOURNAL);
	assert_int_equal(state_read(dir, &inv, &err), 0);
	assert_null(err);
	assert_int_equal(inventory_count(inv), 2);
	assert_null(inventory_find(inv, "a"));
	assert_non_null(inventory_find(inv, "b"));
	assert_non_null(inventory_find(inv, "c"));
	assert_null(inventory_find(inv, "d"));
	/* read-only: neither file compacted nor extended */
	assert_int_equal(size_of(STATE_SNAPSHOT), snap);
	assert_int_equal(size_of(STATE_JOURNAL), jour);
	inventory_free(inv);
}

static void test_corrupt(void **st)
{
	struct inventory *inv = NULL;
	char *err = NULL;

	put_file(STATE_SNAPSHOT, "[]");
	put_file(STATE_JOURNAL, "{\"op\":\"attach\"}\n{}\n");
	assert_int_equal(state_read(dir, &inv, &err), -EINVAL);
	assert_null(inv);
	assert_non_null(strstr(err, STATE_JOURNAL ":1:"));
	free(err);
}

static void test_absent(void **st)
{
	struct inventory *inv = NULL;
	char *err = NULL, path[128];

	snprintf(path, sizeof(path), "%s/nothing-here", dir);
	assert_int_equal(state_read(path, &inv, &err), 0);
	assert_int_equal(inventory_count(inv), 0);
	/* not created either */
	assert_int_equal(access(path, F_OK), -1);
	inventory_free(inv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_snapshot_and_journal,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_corrupt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
