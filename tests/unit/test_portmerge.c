/* portmerge.c: observed ports -> the list an admin writes. Lists, ranges,
 * adjacent and overlapping entries, tcp kept apart from udp, and the
 * same output for every order of the same input (determinism). */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "portmerge.h"

#define T(p) { .proto = IPPROTO_TCP, .lo = (p), .hi = (p) }
#define TR(a, b) { .proto = IPPROTO_TCP, .lo = (a), .hi = (b) }
#define U(p) { .proto = IPPROTO_UDP, .lo = (p), .hi = (p) }
#define S(p) { .proto = IPPROTO_SCTP, .lo = (p), .hi = (p) }
#define ICMP { .proto = IPPROTO_ICMP }
#define ICMP6 { .proto = IPPROTO_ICMPV6 }

static char *merged(const struct port_spec *in, size_t n)
{
	struct port_spec *v = malloc((n ? n : 1) * sizeof(*v));
	struct strbuf sb = { 0 };

	memcpy(v, in, n * sizeof(*v));
	n = portmerge(v, n);
	portmerge_str(v, n, &sb);
	free(v);
	sb_putc(&sb, '\0');
	return sb_steal(&sb);
}

#define assert_merged(want, ...) do {					\
	const struct port_spec in_[] = { __VA_ARGS__ };			\
	char *got_ = merged(in_, sizeof(in_) / sizeof(in_[0]));		\
	assert_string_equal(got_, want);				\
	free(got_);							\
} while (0)

static void test_lists(void **state)
{
	assert_merged("tcp/443", T(443));
	assert_merged("tcp/22, tcp/443, tcp/5432", T(5432), T(22), T(443));
	/* duplicates are one */
	assert_merged("tcp/80", T(80), T(80), T(80));
	/* two neighbours are two ports, as an admin writes them */
	assert_merged("tcp/80, tcp/81", T(81), T(80));
}

static void test_ranges(void **state)
{
	/* three and more in a row: a range */
	assert_merged("tcp/8000-8002", T(8001), T(8000), T(8002));
	assert_merged("tcp/22, tcp/8000-8003, tcp/9000",
		      T(8003), T(22), T(8001), T(9000), T(8000), T(8002));
	/* a gap keeps them apart: never admit a port not observed */
	assert_merged("tcp/8000, tcp/8002", T(8000), T(8002));
	/* the ends of the port space */
	assert_merged("tcp/1-3, tcp/65533-65535", T(65535), T(1), T(2),
		      T(3), T(65534), T(65533));
}

static void test_adjacent_overlapping(void **state)
{
	/* a range and the port after it */
	assert_merged("tcp/8000-8011", TR(8000, 8010), T(8011));
	/* two ranges that touch */
	assert_merged("tcp/8000-8020", TR(8011, 8020), TR(8000, 8010));
	/* that overlap */
	assert_merged("tcp/8000-8020", TR(8005, 8020), TR(8000, 8010));
	/* one inside the other */
	assert_merged("tcp/8000-8100", TR(8000, 8100), TR(8010, 8020),
		      T(8050));
	/* a range given backwards is still that range */
	assert_merged("tcp/10-20", TR(20, 10));
	/* a range of two from two ranges is still written as two ports */
	assert_merged("tcp/1000, tcp/1001", TR(1000, 1000), TR(1001, 1001));
}

static void test_protocols_apart(void **state)
{
	/* the same numbers in tcp and udp never merge */
	assert_merged("tcp/53, udp/53", U(53), T(53));
	assert_merged("tcp/5000-5002, udp/5001, sctp/5000",
		      T(5000), U(5001), S(5000), T(5002), T(5001));
	/* adjacent across protocols: no range */
	assert_merged("tcp/100, udp/101", T(100), U(101));
	/* icmp and icmpv6: one entry each, whatever the types */
	assert_merged("tcp/22, icmp, icmpv6", ICMP6, ICMP, T(22), ICMP,
		      ICMP6);
	/* any admits all */
	assert_merged("any", T(22), { .proto = 0 }, U(53));
}

/* Every rotation and the reverse of an input give the same text. */
static void test_determinism(void **state)
{
	const struct port_spec in[] = {
		T(8002), U(53), T(443), ICMP, T(8000), TR(9000, 9005),
		T(8001), U(54), S(3868), T(9006), ICMP6, T(80), U(55),
		T(81),
	};
	const size_t n = sizeof(in) / sizeof(in[0]);
	struct port_spec v[sizeof(in) / sizeof(in[0])];
	const char *want = "tcp/80, tcp/81, tcp/443, tcp/8000-8002, "
			   "tcp/9000-9006, udp/53-55, sctp/3868, icmp, icmpv6";
	size_t r, i;
	char *got;

	for (r = 0; r < 2 * n; r++) {
		for (i = 0; i < n; i++)
			v[i] = r < n ? in[(i + r) % n] : in[n - 1 - (i + r) % n];
		got = merged(v, n);
		assert_string_equal(got, want);
		free(got);
	}
}

static void test_parse_service(void **state)
{
	struct port_spec s;

	assert_true(portmerge_parse_service("tcp/5432", &s));
	assert_int_equal(s.proto, IPPROTO_TCP);
	assert_int_equal(s.lo, 5432);
	assert_int_equal(s.hi, 5432);
	assert_true(portmerge_parse_service("udp/53", &s));
	assert_int_equal(s.proto, IPPROTO_UDP);
	assert_true(portmerge_parse_service("icmp/type8", &s));
	assert_int_equal(s.proto, IPPROTO_ICMP);
	assert_true(portmerge_parse_service("ipv6-icmp/type128", &s));
	assert_int_equal(s.proto, IPPROTO_ICMPV6);
	assert_true(portmerge_parse_service("icmp", &s));
	/* what no flow can name exactly */
	assert_false(portmerge_parse_service("-", &s));
	assert_false(portmerge_parse_service("tcp", &s));
	assert_false(portmerge_parse_service("tcp/", &s));
	assert_false(portmerge_parse_service("tcp/0", &s));
	assert_false(portmerge_parse_service("tcp/65536", &s));
	assert_false(portmerge_parse_service("tcp/99999999999999999999", &s));
	assert_false(portmerge_parse_service("tcp/8x", &s));
	assert_false(portmerge_parse_service("udplite/53", &s));
	assert_false(portmerge_parse_service("47", &s));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lists),
		cmocka_unit_test(test_ranges),
		cmocka_unit_test(test_adjacent_overlapping),
		cmocka_unit_test(test_protocols_apart),
		cmocka_unit_test(test_determinism),
		cmocka_unit_test(test_parse_service),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
