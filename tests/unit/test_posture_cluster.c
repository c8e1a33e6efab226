/* posture.c, --cluster: which hosts mix levels, from the hosts reply;
 * levels that are not a bulkheadd's counts are unknown, never guessed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <jansson.h>

#include "posture.h"

static json_t *hosts(const char *text)
{
	json_t *h = json_loads(text, 0, NULL);

	assert_non_null(h);
	return h;
}

static void test_mixing_host_named(void **state)
{
	json_t *h = hosts("[{\"name\":\"hC\",\"levels\":{\"low\":2}},"
			  "{\"name\":\"hA\",\"levels\":{\"low\":1,"
			  "\"restricted\":3}},"
			  "{\"name\":\"hB\",\"self\":true,\"levels\":{}}]");
	struct posture ps;
	json_t *o;

	(void)state;
	posture_build_cluster(h, "hB", 20000, &ps);
	assert_int_equal(ps.n, 1);
	assert_int_equal(ps.v[0].kind, PK_HOST_MIXING);
	assert_string_equal(ps.v[0].finding, "host hA runs containers of 2 sensitivity levels on one kernel: restricted (3 containers), low (1 container)");
	assert_string_equal(posture_section(PK_HOST_MIXING), "4.3.4");
	o = json_pack("[s, s, s]", "hA", "restricted", "low");
	assert_true(json_equal(ps.v[0].subjects, o));
	json_decref(o);
	assert_int_equal(ps.n_unknown, 0);
	/* by name, each with mixes */
	assert_string_equal(json_string_value(json_object_get(
		json_array_get(ps.hosts, 0), "name")), "hA");
	assert_true(json_is_true(json_object_get(json_array_get(ps.hosts, 0),
						 "mixes")));
	assert_true(json_is_false(json_object_get(json_array_get(ps.hosts, 2),
						  "mixes")));
	o = posture_json(&ps);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
		o, "cluster"), "from")), "hB");
	assert_null(json_object_get(o, "policy"));
	json_decref(o);
	posture_free(&ps);
	json_decref(h);
}

static void test_unknown_levels(void **state)
{
	/* an older bulkheadd (none), and values no bulkheadd writes */
	json_t *h = hosts("[{\"name\":\"old\"},"
			  "{\"name\":\"neg\",\"levels\":{\"low\":-1,\"high\":1}},"
			  "{\"name\":\"str\",\"levels\":{\"low\":\"1\",\"high\":1}},"
			  "{\"name\":\"lvl\",\"levels\":{\"secret\":1,\"low\":1}},"
			  "{\"name\":\"arr\",\"levels\":[1,2]},"
			  "{\"levels\":{\"low\":1,\"high\":1}},"
			  "{\"name\":\"ok\",\"levels\":{\"unset\":1}}]");
	struct posture ps;

	(void)state;
	posture_build_cluster(h, NULL, 20000, &ps);
	assert_int_equal(ps.n, 0);
	assert_int_equal(ps.n_unknown, 5);
	assert_int_equal(json_array_size(ps.hosts), 6);	/* no name: out */
	assert_true(json_is_null(json_object_get(json_array_get(ps.hosts, 0),
						 "levels")));
	posture_free(&ps);
	posture_free(NULL);
	json_decref(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mixing_host_named),
		cmocka_unit_test(test_unknown_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
