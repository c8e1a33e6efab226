/* bulkheadctl recommend: the flows that would admit what audit groups let
 * through as would-deny (and, with --include-denied, what was denied),
 * as a policy file an admin reviews and adds to the policy. One flow per
 * (source group, destination group) with its ports merged (portmerge.c)
 * and a comment with counts and first/last seen. Every flow is then
 * checked the way `bulkheadctl check` checks it, by loading the policy
 * with the recommendation merged in (policy_load_extra): a flow that the
 * loader refuses (a crossed boundary above all) is left out and its
 * finding becomes a `# skipped` comment, and what is printed is exactly
 * what loaded without an error. The output depends on the records and
 * the policy only (not on the clock), sorted: the same input gives the
 * same bytes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_observed.h"
#include "portmerge.h"
#include "util.h"

#define RECOMMEND_SINCE_DEFAULT "24h"
#define RECOMMEND_NAME "<recommendation>"
#define RECOMMEND_PORTS_MANY 32	/* entries of one flow: say so */

struct rflow {
	char *from, *to;
	struct port_spec *ports;
	size_t n_ports, cap_ports;
	uint64_t packets, records, wd_packets, deny_packets;
	uint64_t first_ms, last_ms;
	unsigned line;			/* in the text last loaded */
	char *skipped;			/* why it is left out; NULL: kept */
};

struct recommend {
	struct ctl_observed o;
	const char *since;
	const char *output;		/* -o FILE; NULL: stdout */
	char **groups;
	size_t n_groups, cap_groups;
	bool include_denied;
	struct rflow *flows;
	size_t n_flows, cap_flows;
	char **skips;			/* edges that no flow can admit */
	size_t n_skips, cap_skips;
};

#define RECOMMEND_USAGE \
"usage: bulkheadctl recommend [--group G]... [--since 24h|TIME]\n" \
"           [--include-denied] [--policy PATH] [--records DIR]\n" \
"           [--denied-file PATH] [-o FILE]\n" \
"  Flows, as a policy file, that would admit the would-deny traffic of\n" \
"  audit groups observed over the period (default: the last 24h): one\n" \
"  flow per pair of groups, ports merged into lists and ranges, each with\n" \
"  a comment of its counts and first/last seen. A flow `check` would\n" \
"  refuse (one that crosses a boundary) is left out as a `# skipped`\n" \
"  comment that says why. Save it beside the policy's files (a directory\n" \
"  policy) or copy its flows into the policy, then check and reload.\n" \
"  --group G         only traffic that group G's chain judged (repeat)\n" \
"  --include-denied  denied traffic (enforcing groups) as well\n" \
"  -o FILE           write FILE (replaced whole, once all is read) rather\n" \
"                    than stdout: use it for a file in the policy's\n" \
"                    directory, which a shell's > would empty first\n" \
CTL_OBSERVED_USAGE

/* Text from records and findings goes into YAML comments: a line break
 * in a tampered record must not end the comment and add YAML. */
static char *comment_safe(char *s)
{
	char *c;

	for (c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return s;
}

static void add_skip(struct recommend *r, const char *from, const char *to,
		     const char *svc, const char *why)
{
	xgrow(&r->skips, &r->cap_skips, r->n_skips + 1, sizeof(*r->skips));
	r->skips[r->n_skips++] = comment_safe(xasprintf("%s -> %s %s: %s",
							from, to, svc, why));
}

static bool wanted_group(const struct recommend *r, const char *g)
{
	size_t i;

	if (!r->n_groups)
		return true;
	for (i = 0; i < r->n_groups; i++)
		if (!strcmp(r->groups[i], g))
			return true;
	return false;
}

static struct rflow *rflow_get(struct recommend *r, const char *from,
			       const char *to)
{
	struct rflow *f;
	size_t i;

	for (i = 0; i < r->n_flows; i++)
		if (!strcmp(r->flows[i].from, from) &&
		    !strcmp(r->flows[i].to, to))
			return &r->flows[i];
	xgrow(&r->flows, &r->cap_flows, r->n_flows + 1, sizeof(*r->flows));
	f = &r->flows[r->n_flows++];
	*f = (struct rflow){ .from = xstrdup(from), .to = xstrdup(to) };
	return f;
}

/* One summary row: a flow's port, or a reason it gets none. */
static void take_edge(struct recommend *r, const struct ctl_edge *e)
{
	const struct policy *p = r->o.p;
	bool wd = !strcmp(e->action, "would-deny");
	struct port_spec svc;
	struct src_loc where;
	struct rflow *f;
	char *why;
	int g;

	if (!wd && !(r->include_denied && !strcmp(e->action, "deny")))
		return;
	g = ctl_observed_judge(p, e->from, e->to);
	if (g < 0) {
		if (!r->n_groups)
			add_skip(r, e->from, e->to, e->port, "neither side is a "
				 "container group of the policy");
		return;
	}
	if (!wanted_group(r, p->groups[g].name))
		return;
	if (!strcmp(e->from, "*") || !strcmp(e->to, "*")) {
		/* unlogged records name only the side of their chain */
		add_skip(r, e->from, e->to, e->port, "a side the records do "
			 "not name (packets over the log rate)");
		return;
	}
	if (policy_group_find(p, e->from) < 0 ||
	    policy_group_find(p, e->to) < 0) {
		add_skip(r, e->from, e->to, e->port, "a group that is not in "
			 "the policy");
		return;
	}
	if (!strcmp(e->from, "unassigned")) {
		add_skip(r, e->from, e->to, e->port, "the source matches no "
			 "group: give its containers labels rather than open "
			 "the destination to every unlabelled container");
		return;
	}
	if (!strcmp(e->to, "unassigned")) {
		add_skip(r, e->from, e->to, e->port, "the destination matches "
			 "no group: give its containers labels rather than "
			 "open every unlabelled container to the source");
		return;
	}
	if (!strcmp(e->from, "quarantine") || !strcmp(e->to, "quarantine")) {
		add_skip(r, e->from, e->to, e->port, "quarantine is not "
			 "named in flows");
		return;
	}
	if (!portmerge_parse_service(e->port, &svc)) {
		add_skip(r, e->from, e->to, e->port, "no flow port names "
			 "this service");
		return;
	}
	if (ctl_observed_admitted(p, e->from, e->to, &svc, &where)) {
		why = xasprintf("already admitted by %s:%u (the records are "
				"older than the policy)",
				policy_file(p, where.file), where.line);
		add_skip(r, e->from, e->to, e->port, why);
		free(why);
		return;
	}
	f = rflow_get(r, e->from, e->to);
	xgrow(&f->ports, &f->cap_ports, f->n_ports + 1, sizeof(*f->ports));
	f->ports[f->n_ports++] = svc;
	f->packets += e->packets + e->unlogged;
	if (wd)
		f->wd_packets += e->packets + e->unlogged;
	else
		f->deny_packets += e->packets + e->unlogged;
	f->records += e->records;
	if (e->first_ms && (!f->first_ms || e->first_ms < f->first_ms))
		f->first_ms = e->first_ms;
	if (e->last_ms > f->last_ms)
		f->last_ms = e->last_ms;
}

static int rflow_cmp(const void *x, const void *y)
{
	const struct rflow *a = x, *b = y;
	int c = strcmp(a->from, b->from);

	return c ? c : strcmp(a->to, b->to);
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void counts_text(struct strbuf *sb, const struct rflow *f)
{
	char t1[32], t2[32];

	if (f->wd_packets)
		sb_printf(sb, "would-deny %llu packet%s",
			  (unsigned long long)f->wd_packets,
			  f->wd_packets == 1 ? "" : "s");
	if (f->deny_packets)
		sb_printf(sb, "%sdenied %llu packet%s", f->wd_packets ? ", " :
			  "", (unsigned long long)f->deny_packets,
			  f->deny_packets == 1 ? "" : "s");
	sb_printf(sb, " in %llu record%s", (unsigned long long)f->records,
		  f->records == 1 ? "" : "s");
	if (f->first_ms)
		sb_printf(sb, ", first seen %s, last seen %s",
			  bh_rfc3339(f->first_ms, t1),
			  bh_rfc3339(f->last_ms, t2));
}

/* The recommendation as a policy file; each kept flow's line noted. */
static char *render(struct recommend *r, bool skipped_too)
{
	struct strbuf sb = { 0 };
	unsigned line = 1;
	size_t i, n = 0, k;

	for (i = 0; i < r->n_flows; i++)
		n += !r->flows[i].skipped;
	sb_printf(&sb, "# bulkheadctl recommend: %zu flow%s for the %s "
		  "traffic observed since %s\n", n, n == 1 ? "" : "s",
		  r->include_denied ? "would-deny and denied" : "would-deny",
		  r->since);
	line++;
	if (r->n_groups) {
		sb_puts(&sb, "# groups:");
		for (i = 0; i < r->n_groups; i++)
			sb_printf(&sb, " %s", r->groups[i]);
		sb_putc(&sb, '\n');
		line++;
	}
	sb_printf(&sb, "version: 1\nflows:%s\n", n ? "" : " []");
	line += 2;
	for (i = 0; i < r->n_flows; i++) {
		struct rflow *f = &r->flows[i];

		if (f->skipped)
			continue;
		sb_printf(&sb, "  # %s -> %s: ", f->from, f->to);
		counts_text(&sb, f);
		if (f->n_ports > RECOMMEND_PORTS_MANY) {
			/* exact, never wider than observed: but a list this
			 * long is often one service on ports picked at
			 * random, which a range says better */
			sb_printf(&sb, "\n  # %zu port entries: ports chosen "
				  "at random (a client's ephemeral ports, "
				  "passive FTP)? a range admits more than was "
				  "observed: review", f->n_ports);
			line++;
		}
		sb_printf(&sb, "\n  - { from: %s, to: %s, ports: [", f->from,
			  f->to);
		portmerge_str(f->ports, f->n_ports, &sb);
		sb_puts(&sb, "] }\n");
		f->line = line + 1;
		line += 2;
	}
	if (!skipped_too)
		return sb_steal(&sb);
	for (i = 0, k = 0; i < r->n_flows; i++)
		k += !!r->flows[i].skipped;
	if (k || r->n_skips)
		sb_printf(&sb, "# skipped: %zu\n", k + r->n_skips);
	for (i = 0; i < r->n_flows; i++) {
		struct rflow *f = &r->flows[i];

		if (!f->skipped)
			continue;
		sb_printf(&sb, "#   %s -> %s [", f->from, f->to);
		portmerge_str(f->ports, f->n_ports, &sb);
		sb_printf(&sb, "]: %s\n#     ", f->skipped);
		counts_text(&sb, f);
		sb_putc(&sb, '\n');
	}
	for (i = 0; i < r->n_skips; i++)
		sb_printf(&sb, "#   %s\n", r->skips[i]);
	return sb_steal(&sb);
}

/* Loads the policy with text merged in; a finding on a flow's line
 * leaves that flow out with the finding as the reason. Returns how many
 * flows it left out, or -1 for a finding no flow explains. */
static int check_merged(struct recommend *r, const char *text)
{
	struct diags dg = { 0 };
	struct policy *p;
	size_t i, j;
	int n = 0;

	p = policy_load_extra(r->o.policy_path, RECOMMEND_NAME, text,
			      strlen(text), &dg);
	for (i = 0; i < dg.n; i++) {
		const struct diag *d = &dg.v[i];

		if (d->severity != DIAG_ERROR)
			continue;
		for (j = 0; j < r->n_flows; j++)
			if (!r->flows[j].skipped && d->file &&
			    !strcmp(d->file, RECOMMEND_NAME) &&
			    d->line == r->flows[j].line)
				break;
		if (j == r->n_flows) {
			fprintf(stderr, "bulkheadctl recommend: the policy "
				"with the recommendation merged in has an "
				"error no flow explains:\n");
			diags_print(&dg, stderr);
			n = -1;
			break;
		}
		if (!r->flows[j].skipped) {
			r->flows[j].skipped = comment_safe(xstrdup(d->msg));
			n++;
		}
	}
	policy_free(p);
	diags_free(&dg);
	return n;
}

static int run(struct recommend *r, uint64_t since_ms, uint64_t now)
{
	struct ctl_edge *e = NULL;
	size_t n = 0, i;
	char *text = NULL;
	int ret, k, round;

	ret = ctl_observed_edges(&r->o, "recommend", CTL_REC_DENIED, since_ms,
				 now, &e, &n);
	if (ret)
		goto out;
	for (i = 0; i < n; i++)
		take_edge(r, &e[i]);
	for (i = 0; i < r->n_flows; i++)
		r->flows[i].n_ports = portmerge(r->flows[i].ports,
						r->flows[i].n_ports);
	if (r->n_flows)
		qsort(r->flows, r->n_flows, sizeof(*r->flows), rflow_cmp);
	if (r->n_skips)
		qsort(r->skips, r->n_skips, sizeof(*r->skips), str_cmp);
	/* a flow left out cannot make another one fail: two rounds at
	 * most, the second of which must find nothing */
	for (round = 0; round < 2; round++) {
		free(text);
		text = render(r, false);
		k = check_merged(r, text);
		if (k > 0 && round == 1)
			fprintf(stderr, "bulkheadctl recommend: %d more "
				"flow%s refused once others were left out; "
				"nothing printed\n", k, k == 1 ? "" : "s");
		if (k < 0 || (k > 0 && round == 1)) {
			ret = 1;
			goto out;
		}
		if (!k)
			break;
	}
	free(text);
	text = render(r, true);
	if (r->output) {
		ret = bh_write_file_atomic(r->output, text, strlen(text), 0644);
		if (ret < 0) {
			fprintf(stderr, "bulkheadctl recommend: cannot write "
				"%s: %s\n", r->output, strerror(-ret));
			ret = 2;
			goto out;
		}
	} else {
		fputs(text, stdout);
	}
	for (i = 0, k = 0; i < r->n_flows; i++)
		k += !!r->flows[i].skipped;
	if (k || r->n_skips)
		fprintf(stderr, "bulkheadctl recommend: %d flow%s and %zu "
			"service%s left out: see the '# skipped' comments\n",
			k, k == 1 ? "" : "s", r->n_skips,
			r->n_skips == 1 ? "" : "s");
out:
	free(text);
	ctl_edges_free(e, n);
	return ret;
}

int ctl_recommend(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", required_argument, NULL, 'g' },
		{ "since", required_argument, NULL, 's' },
		{ "include-denied", no_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		CTL_OBSERVED_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct recommend r = { .since = RECOMMEND_SINCE_DEFAULT };
	uint64_t now = bh_wall_ms(), since_ms;
	size_t i;
	int c, ret = 2;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		if (ctl_observed_option(&r.o, c, optarg))
			continue;
		switch (c) {
		case 'o':
			if (!*optarg) {
				fprintf(stderr, "bulkheadctl recommend: -o: "
					"an empty path\n");
				goto out;
			}
			r.output = optarg;
			break;
		case 'g':
			xgrow(&r.groups, &r.cap_groups, r.n_groups + 1,
			      sizeof(*r.groups));
			r.groups[r.n_groups++] = xstrdup(optarg);
			break;
		case 's':
			r.since = optarg;
			break;
		case 'd':
			r.include_denied = true;
			break;
		case 'h':
			fputs(RECOMMEND_USAGE, stdout);
			ret = 0;
			goto out;
		default:
			fprintf(stderr, "bulkheadctl recommend: unknown or "
				"incomplete option '%s'\n%s", argv[optind - 1],
				RECOMMEND_USAGE);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadctl recommend: unexpected argument "
			"'%s'\n%s", argv[optind], RECOMMEND_USAGE);
		goto out;
	}
	if (!ctl_when_arg("recommend", "since", r.since, now, &since_ms))
		goto out;
	if (ctl_observed_policy(&r.o, "recommend"))
		goto out;
	for (i = 0; i < r.n_groups; i++) {
		int g = policy_group_find(r.o.p, r.groups[i]);

		if (g < 0 || !policy_is_container_group(r.o.p, (unsigned)g)) {
			fprintf(stderr, "bulkheadctl recommend: --group: '%s' "
				"is not a container group of %s\n",
				r.groups[i], r.o.policy_path);
			goto out;
		}
	}
	if (r.n_groups)
		qsort(r.groups, r.n_groups, sizeof(*r.groups), str_cmp);
	ret = run(&r, since_ms, now);
out:
	for (i = 0; i < r.n_flows; i++) {
		free(r.flows[i].from);
		free(r.flows[i].to);
		free(r.flows[i].ports);
		free(r.flows[i].skipped);
	}
	free(r.flows);
	for (i = 0; i < r.n_skips; i++)
		free(r.skips[i]);
	free(r.skips);
	for (i = 0; i < r.n_groups; i++)
		free(r.groups[i]);
	free(r.groups);
	ctl_observed_free(&r.o);
	return ret;
}
