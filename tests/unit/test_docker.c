/* docker.c: what an inspect answer becomes, and every way it can be bad.
 * The e2e tests (podman_*.t) cover the transport against a real engine. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "docker.h"
#include "inventory.h"
#include "util.h"

#define ID "c0ffee"

static bool parse(const char *text, struct container **c, char **err)
{
	*c = NULL;
	*err = NULL;
	return docker_parse_inspect(ID, text, strlen(text), c, err);
}

static void test_good(void **state)
{
	struct container *c;
	char *err, buf[BH_ADDR_STRLEN];

	(void)state;
	assert_true(parse("{\"Id\":\"" ID "\",\"Name\":\"/web\","
			  "\"State\":{\"Running\":true,\"Pid\":0},"
			  "\"Config\":{\"Labels\":{\"bulkhead.purpose\":\"web\","
			  "\"other\":\"x\"},\"Env\":[\"A=1\"]},"
			  "\"NetworkSettings\":{\"IPAddress\":\"\","
			  "\"Networks\":{\"a\":{\"IPAddress\":\"10.0.0.2\","
			  "\"GlobalIPv6Address\":\"fd00::2\"},"
			  "\"b\":{\"IPAddress\":\"10.1.0.2\","
			  "\"GlobalIPv6Address\":\"\"}}},\"Future\":{}}",
			  &c, &err));
	assert_null(err);
	assert_non_null(c);
	assert_string_equal(c->id, ID);
	assert_string_equal(c->name, "web");
	assert_int_equal(c->source, SRC_ENGINE);
	assert_false(c->quarantined);
	assert_int_equal(c->n_labels, 2);
	assert_int_equal(c->n_addrs, 3);
	assert_string_equal(bh_addr_str(&c->addrs[0], buf), "10.0.0.2");
	assert_string_equal(bh_addr_str(&c->addrs[1], buf), "fd00::2");
	assert_string_equal(bh_addr_str(&c->addrs[2], buf), "10.1.0.2");
	assert_int_equal(c->n_ports, 0);
	container_free(c);
}

static void test_not_attachable(void **state)
{
	struct container *c;
	char *err;

	(void)state;
	/* stopped: nothing to attach, and no error */
	assert_true(parse("{\"Id\":\"" ID "\",\"State\":{\"Running\":false}}",
			  &c, &err));
	assert_null(c);
	/* exited, even with an address left in the answer */
	assert_true(parse("{\"Id\":\"" ID "\",\"State\":{\"Running\":false,"
			  "\"Status\":\"exited\"},\"NetworkSettings\":"
			  "{\"Networks\":{\"n\":{\"IPAddress\":\"10.0.0.9\"}}}}",
			  &c, &err));
	assert_null(c);
	/* running without any address (host or none network) */
	assert_true(parse("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
			  "\"Config\":{\"Labels\":null},"
			  "\"NetworkSettings\":{\"Networks\":{}}}", &c, &err));
	assert_null(c);
	assert_null(err);
}

/* Podman's "init": created, network up, workload not started yet */
static void test_created(void **state)
{
	struct container *c;
	char *err;

	(void)state;
	assert_true(parse("{\"Id\":\"" ID "\",\"State\":{\"Running\":false,"
			  "\"Status\":\"created\"},\"NetworkSettings\":"
			  "{\"Networks\":{\"n\":{\"IPAddress\":\"10.0.0.9\"}}}}",
			  &c, &err));
	assert_non_null(c);
	assert_int_equal(c->n_addrs, 1);
	container_free(c);
	/* Docker's created containers have no address yet */
	assert_true(parse("{\"Id\":\"" ID "\",\"State\":{\"Running\":false,"
			  "\"Status\":\"created\"},\"NetworkSettings\":"
			  "{\"Networks\":{\"n\":{\"IPAddress\":\"\"}}}}",
			  &c, &err));
	assert_null(c);
}

static void bad(const char *text, const char *want)
{
	struct container *c;
	char *err;

	assert_false(parse(text, &c, &err));
	assert_null(c);
	assert_non_null(err);
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not say \"%s\"", err, want);
	free(err);
}

static void test_bad(void **state)
{
	(void)state;
	bad("{\"Id\":", "malformed JSON");
	bad("[]", "expected an object");
	bad("{\"Id\":\"" ID "\"}", "expected an object");
	bad("{\"Id\":\"other\",\"State\":{\"Running\":true}}", "is about other");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":1}}",
	    "State.Running is not a boolean");
	bad("{\"Id\":\"" ID "\",\"Name\":7,\"State\":{\"Running\":true}}",
	    "\"Name\" is not a name");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"Config\":{\"Labels\":[\"a\"]}}", "Config.Labels is not an object");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"Config\":{\"Labels\":{\"a\":1}}}", "label \"a\" is not a string");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"NetworkSettings\":{\"Networks\":[]}}",
	    "NetworkSettings.Networks is not an object");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"NetworkSettings\":{\"Networks\":{\"n\":5}}}",
	    "network \"n\" is not an object");
	/* after a good network too: not a parse that finds nothing (which
	 * would detach the container) */
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"NetworkSettings\":{\"Networks\":{\"a\":"
	    "{\"IPAddress\":\"10.0.0.2\"},\"n\":5}}}",
	    "network \"n\" is not an object");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"NetworkSettings\":{\"Networks\":{\"n\":{\"IPAddress\":5}}}}",
	    "Networks.n.IPAddress is not a string");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"NetworkSettings\":{\"Networks\":{\"n\":"
	    "{\"GlobalIPv6Address\":\"fd00::zz\"}}}}",
	    "Networks.n.GlobalIPv6Address \"fd00::zz\" is not an address");
	bad("{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
	    "\"NetworkSettings\":{\"IPAddress\":\"10.0.0.0/8\"}}",
	    "NetworkSettings.IPAddress \"10.0.0.0/8\" is not an address");
}

static void test_label_limits(void **state)
{
	struct strbuf sb = { 0 };
	size_t i;

	(void)state;
	sb_puts(&sb, "{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
		"\"Config\":{\"Labels\":{");
	for (i = 0; i < 1025; i++)
		sb_printf(&sb, "%s\"k%zu\":\"v\"", i ? "," : "", i);
	sb_puts(&sb, "}}}");
	bad(sb.buf, "1025 labels: over the limit of 1024 labels per "
	    "container");
	sb_reset(&sb);
	sb_puts(&sb, "{\"Id\":\"" ID "\",\"State\":{\"Running\":true},"
		"\"Config\":{\"Labels\":{\"k\":\"");
	for (i = 0; i < 4097; i++)
		sb_putc(&sb, 'v');
	sb_puts(&sb, "\"}}}");
	bad(sb.buf, "label \"k\": a value of 4097 bytes is over the limit "
	    "of 4096 bytes per label value");
	sb_free(&sb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_not_attachable),
		cmocka_unit_test(test_created),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_label_limits),
	};

	return cmocka_run_group_tests_name("docker", tests, NULL, NULL);
}
