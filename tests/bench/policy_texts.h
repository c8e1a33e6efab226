/* The policies tests/unit/test_policy.c loads at scale and
 * tests/bench/policy_scale.c times (header-only): one piece of text for
 * both, so the benchmark measures what the test checks. Each resets sb
 * first. */
#ifndef BULKHEAD_TESTS_POLICY_TEXTS_H
#define BULKHEAD_TESTS_POLICY_TEXTS_H

#include "util.h"

/* n label groups, a flow from each to the next */
static inline void pt_scale(struct strbuf *sb, unsigned n)
{
	unsigned i;

	sb_reset(sb);
	sb_puts(sb, "version: 1\ngroups:\n");
	for (i = 0; i < n; i++)
		sb_printf(sb, "  g%u: { match: { team: t%u, app: a%u } }\n",
			  i, i % 10, i);
	sb_puts(sb, "flows:\n");
	for (i = 0; i < n; i++)
		sb_printf(sb, "  - { from: g%u, to: g%u, ports: [tcp/%u] }\n",
			  i, (i + 1) % n, i + 1);
}

/* 8,000 groups (nearly as many as fit) all named in one flow: 4,000 x
 * 4,000 exposed -> restricted pairs */
static inline void pt_hostile_flow(struct strbuf *sb)
{
	unsigned i;

	sb_reset(sb);
	sb_puts(sb, "version: 1\ngroups:\n");
	for (i = 0; i < 8000; i++)
		sb_printf(sb, "  g%u: {match: {risk: exposed, i: '%u'}, "
			  "sensitivity: restricted}\n", i, i);
	sb_puts(sb, "flows:\n - {from: [g0");
	for (i = 2; i < 8000; i += 2)
		sb_printf(sb, ",g%u", i);
	sb_puts(sb, "], to: [g1");
	for (i = 3; i < 8000; i += 2)
		sb_printf(sb, ",g%u", i);
	sb_puts(sb, "], ports: [any]}\n");
}

/* 70,000 addresses in one group, cycling through 65,536 networks */
static inline void pt_hostile_addrs(struct strbuf *sb)
{
	unsigned i;

	sb_reset(sb);
	sb_puts(sb, "version: 1\ngroups:\n  a:\n    cidrs: [10.0.0.0");
	for (i = 1; i < 70000; i++)
		sb_printf(sb, ",10.%u.%u.0", i / 256 % 256, i % 256);
	sb_puts(sb, "]\n");
}

/* 30,000 groups with one match: all but the first shadowed */
static inline void pt_hostile_shadow(struct strbuf *sb)
{
	unsigned i;

	sb_reset(sb);
	sb_puts(sb, "version: 1\ngroups:\n");
	for (i = 0; i < 30000; i++)
		sb_printf(sb, "  g%u: {match: {k: v}}\n", i);
}

#endif
