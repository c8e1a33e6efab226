/* community_id.c against the reference values the Community ID project
 * publishes: corelight/community-id-spec baseline/README.md (the tables
 * for seed 0 and seed 1) and baseline_deflt.json / baseline_seed1.json,
 * and corelight/pycommunityid tests/communityid_test.py (ICMP codes,
 * ICMPv6, SCTP, TCP, UDP; seed 0 and 1). Both directions of a two-way
 * flow must give the same ID. */
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "community_id.h"

struct vec {
	uint8_t proto;
	const char *src, *dst;
	int sport, dport;		/* -1: no ports */
	const char *seed0, *seed1;
};

static const struct vec vecs[] = {
	/* spec baseline/README.md tables */
	{ 6, "1.2.3.4", "5.6.7.8", 1122, 3344,
	  "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=" },
	{ 6, "5.6.7.8", "1.2.3.4", 3344, 1122,
	  "1:wCb3OG7yAFWelaUydu0D+125CLM=", "1:HhA1B+6CoLbiKPEs5nhNYN4XWfk=" },
	{ 17, "1.2.3.4", "5.6.7.8", 1122, 3344,
	  "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=" },
	{ 17, "5.6.7.8", "1.2.3.4", 3344, 1122,
	  "1:0Mu9InQx6z4ZiCZM/7HXi2WMhOg=", "1:OShq+iKDAMVouh/4bMxB9Sz4amw=" },
	{ 132, "1.2.3.4", "5.6.7.8", 1122, 3344,
	  "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=" },
	{ 132, "5.6.7.8", "1.2.3.4", 3344, 1122,
	  "1:EKt4MsxuyaE6mL+hmrEkQ9csDD8=", "1:uitchpn5MMGAQKBJh7bIr/bAr7s=" },
	{ 1, "1.2.3.4", "5.6.7.8", 8, 0,
	  "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=" },
	{ 1, "5.6.7.8", "1.2.3.4", 0, 0,
	  "1:crodRHL2FEsHjbv3UkRrfbs4bZ0=", "1:9pr4ZGTICiuZoIh90RRYE2RyXpU=" },
	{ 1, "1.2.3.4", "5.6.7.8", 11, 0,
	  "1:f/YiSyWqczrTgfUCZlBUnvHRcPk=", "1:1DD7cWGC/Yg91YGsQeni8du3pIA=" },
	{ 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
	  "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 128, 0,
	  "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=" },
	{ 58, "fe80:1011:1213:1415:1617:1819:1A1B:1C1D",
	  "fe80:0001:0203:0405:0607:0809:0A0B:0C0D", 129, 0,
	  "1:0bf7hyMJUwt3fMED7z8LIfRpBeo=", "1:IO27GQzPuCtNnwFvjWALMHu5tJE=" },
	{ 58, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
	  "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", 146, 0,
	  "1:fYC8+pz24E+EhANP1EZhpX0Dw10=", "1:Cv4IKJe56BNkF0MBW2YxQ3Nwc3s=" },
	{ 46, "1.2.3.4", "5.6.7.8", -1, -1,
	  "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=" },
	{ 46, "5.6.7.8", "1.2.3.4", -1, -1,
	  "1:ikv3kmf89luf73WPz1jOs49S768=", "1:/buhqeOmaRCopOZFy9HnoJd5XW8=" },
	{ 46, "fe80:0001:0203:0405:0607:0809:0A0B:0C0D",
	  "fe80:1011:1213:1415:1617:1819:1A1B:1C1D", -1, -1,
	  "1:wQ/2mwrnXP4lmJcHdGL5ePjR+e0=", "1:j6EyyfBzL4vWKHFXgUqb5Az3OxM=" },
	/* spec baseline_deflt.json / baseline_seed1.json: TCP over IPv6 */
	{ 6, "2001:470:e5bf:dead:4957:2174:e82c:4887",
	  "2607:f8b0:400c:c03::1a", 63943, 25,
	  "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=" },
	{ 6, "2607:f8b0:400c:c03::1a",
	  "2001:470:e5bf:dead:4957:2174:e82c:4887", 25, 63943,
	  "1:/qFaeAR+gFe1KYjMzVDsMv+wgU4=", "1:eJYTW6AOzFLlSUoESovMjnu7rMw=" },
	{ 132, "192.168.170.8", "192.168.170.56", 7, 7,
	  "1:MP2EtRCAUIZvTw6MxJHLV7N7JDs=", "1:5w3ZRjeKBzqT3zsaEECDGjUbYeg=" },
	{ 1, "10.0.0.1", "10.0.0.2", 11, 0,
	  "1:YHxtAirCG//0OzkcVAukqKQN9xM=", "1:XjUibYHaafLQ3pxQeiMI8g25q20=" },
	{ 58, "3ffe:501:1800:2345::2", "3ffe:507:0:1:200:86ff:fe05:80da",
	  3, 0,
	  "1:2ObVBgIn28oZvibYZhZMBgh7WdQ=", "1:lVEtCZpYu84Xqaa++3lXFyuu2n4=" },
	{ 58, "fe80::200:86ff:fe05:80da", "ff02::2", 133, 134,
	  "1:hO+sN4H+MG5MY/8hIrXPqc4ZQz0=", "1:L7Ka0ZMYu+J3bL4ulW2PrqyXNo8=" },
	/* pycommunityid tests/communityid_test.py */
	{ 1, "192.168.0.89", "192.168.0.1", 8, 0,
	  "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
	{ 1, "192.168.0.1", "192.168.0.89", 0, 8,
	  "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
	{ 1, "192.168.0.89", "192.168.0.1", 20, 0,
	  "1:3o2RFccXzUgjl7zDpqmY7yJi8rI=", "1:lCXHHxavE1Vq3oX9NH5ladQg02o=" },
	{ 1, "192.168.0.89", "192.168.0.1", 20, 1,
	  "1:tz/fHIDUHs19NkixVVoOZywde+I=", "1:Ie3wmFyxiEyikbsbcO03d2nh+PM=" },
	{ 1, "192.168.0.1", "192.168.0.89", 0, 20,
	  "1:X0snYXpgwiv9TZtqg64sgzUn6Dk=", "1:03g6IloqVBdcZlPyX8r0hgoE7kA=" },
	{ 58, "fe80::200:86ff:fe05:80da", "fe80::260:97ff:fe07:69ea", 135, 0,
	  "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
	{ 58, "fe80::260:97ff:fe07:69ea", "fe80::200:86ff:fe05:80da", 136, 0,
	  "1:dGHyGvjMfljg6Bppwm3bg0LO8TY=", "1:kHa1FhMYIT6Ym2Vm2AOtoOARDzY=" },
	{ 58, "3ffe:507:0:1:260:97ff:fe07:69ea",
	  "3ffe:507:0:1:200:86ff:fe05:80da", 3, 0,
	  "1:NdobDX8PQNJbAyfkWxhtL2Pqp5w=", "1:OlOWx9psIbBFi7lOCw/4MhlKR9M=" },
	{ 58, "3ffe:507:0:1:200:86ff:fe05:80da",
	  "3ffe:507:0:1:260:97ff:fe07:69ea", 3, 0,
	  "1:/OGBt9BN1ofenrmSPWYicpij2Vc=", "1:Ij4ZxnC87/MXzhOjvH2vHu7LRmE=" },
	{ 132, "192.168.170.8", "192.168.170.56", 7, 80,
	  "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=", "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=" },
	{ 132, "192.168.170.56", "192.168.170.8", 80, 7,
	  "1:jQgCxbku+pNGw8WPbEc/TS/uTpQ=", "1:Y1/0jQg6e+I3ZwZZ9LP65DNbTXU=" },
	{ 6, "128.232.110.120", "66.35.250.204", 34855, 80,
	  "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
	{ 6, "66.35.250.204", "128.232.110.120", 80, 34855,
	  "1:LQU9qZlK+B5F3KDmev6m5PMibrg=", "1:3V71V58M3Ksw/yuFALMcW0LAHvc=" },
	{ 6, "10.0.0.1", "10.0.0.2", 10, 11569,
	  "1:SXBGMX1lBOwhhoDrZynfROxnhnM=", "1:HmBRGR+fUyXF4t8WEtal7Y0gEAo=" },
	{ 17, "192.168.1.52", "8.8.8.8", 54585, 53,
	  "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
	{ 17, "8.8.8.8", "192.168.1.52", 53, 54585,
	  "1:d/FP5EW3wiY1vCndhwleRRKHowQ=", "1:Q9We8WO3piVF8yEQBNJF4uiSVrI=" },
	{ 46, "10.1.24.4", "10.1.12.1", -1, -1,
	  "1:/nQI4Rh/TtY3mf0R2gJFBkVlgS4=", "1:BK3BVW3U2eemuwVQVN3zd/GULno=" },
};

static void check(const struct vec *v, uint16_t seed, const char *want)
{
	struct bh_addr s, d;
	char got[COMMUNITY_ID_STRLEN];
	bool ports = v->sport >= 0;

	assert_true(bh_addr_parse(v->src, false, &s));
	assert_true(bh_addr_parse(v->dst, false, &d));
	assert_true(community_id_v1(&s, &d, v->proto, ports,
				    ports ? (uint16_t)v->sport : 0,
				    ports ? (uint16_t)v->dport : 0, seed, got));
	if (strcmp(got, want))
		fail_msg("proto %u %s:%d -> %s:%d seed %u: got %s, want %s",
			 v->proto, v->src, v->sport, v->dst, v->dport, seed,
			 got, want);
}

static void test_reference_seed0(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vecs); i++)
		check(&vecs[i], 0, vecs[i].seed0);
}

static void test_reference_seed1(void **state)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(vecs); i++)
		check(&vecs[i], 1, vecs[i].seed1);
}

static void test_refused(void **state)
{
	struct bh_addr v4, v6;
	char got[COMMUNITY_ID_STRLEN] = "x";

	assert_true(bh_addr_parse("10.0.0.1", false, &v4));
	assert_true(bh_addr_parse("fd00::1", false, &v6));
	/* mixed families */
	assert_false(community_id_v1(&v4, &v6, IPPROTO_TCP, true, 1, 2, 0,
				     got));
	assert_string_equal(got, "");
	/* TCP without ports (a record whose retries used several source
	 * ports) has no Community ID */
	assert_false(community_id_v1(&v4, &v4, IPPROTO_TCP, false, 0, 0, 0,
				     got));
	assert_string_equal(got, "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_seed0),
		cmocka_unit_test(test_reference_seed1),
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
