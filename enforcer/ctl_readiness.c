/* bulkheadctl readiness: may an audit group be switched to enforce? Per
 * group in mode: audit, over the period: its would-deny packets and
 * distinct flows (denied-flow records its chain wrote), when the last
 * would-deny flow never seen before appeared (over every record the file
 * holds, so a flow that only recurs is not new), and the share of the
 * connections into it (allowed-flow records) that a declared flow of the
 * policy admits. `ready` means no would-deny in the whole period: after
 * that quiet time, enforcing would have dropped nothing that was
 * observed. Counts come from ctl_records_summary, as those of `denials
 * --summary`. Quiet must be shown, not assumed: when the records (of
 * either file) begin after the period's start, or there are none, no
 * group is ready. Exit 0 when every audit group is ready, 1 when one is
 * not (for a pipeline's gate), 2 for usage and I/O errors. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "ctl_observed.h"
#include "portmerge.h"
#include "util.h"

#define READINESS_SINCE_DEFAULT "7d"

struct gready {
	unsigned g;
	uint64_t wd_packets, wd_flows, wd_last_ms;
	uint64_t wd_admitted;		/* flows the policy now declares */
	uint64_t new_flow_ms;		/* latest first-seen of its would-deny
					 * flows, over all records; 0: none */
	uint64_t conns, covered;	/* allowed-flow connections into it */
	/* the earliest record of either file (0: none), and the period's
	 * start: records that begin later cannot show a quiet period */
	uint64_t observed_ms, since_ms;
	bool ready;
};

#define READINESS_USAGE \
"usage: bulkheadctl readiness [--since 7d|TIME] [--json] [--policy PATH]\n" \
"           [--records DIR] [--denied-file PATH] [--flows-file PATH]\n" \
"  Per audit group, over the period (default: the last 7d): would-deny\n" \
"  packets and distinct flows, the time since the last new would-deny\n" \
"  flow, the share of its observed connections that declared flows\n" \
"  admit, and a verdict: ready (no would-deny in the period) or not\n" \
"  ready, with the reason. Exit 0 when every audit group is ready, 1\n" \
"  when one is not.\n" \
"  --json            one JSON object\n" \
CTL_OBSERVED_USAGE

static struct gready *find(struct gready *v, size_t n, int g)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((int)v[i].g == g)
			return &v[i];
	return NULL;
}

static void duration_text(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (s >= 86400)
		snprintf(buf, len, "%llud %lluh", (unsigned long long)(s / 86400),
			 (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh %llum", (unsigned long long)(s / 3600),
			 (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum %llus", (unsigned long long)(s / 60),
			 (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
}

static char *reason(const struct gready *r, const char *since)
{
	char t[32], adm[64] = "";

	if (!r->wd_packets && !r->observed_ms)
		return xasprintf("no records at all: nothing shows that the "
				 "period since %s was quiet", since);
	if (!r->wd_packets && r->observed_ms > r->since_ms)
		return xasprintf("no would-deny, but the records begin at %s, "
				 "after the period's start (%s): they cannot "
				 "show it was quiet", bh_rfc3339(r->observed_ms,
								 t), since);
	if (!r->wd_packets)
		return xasprintf("no would-deny since %s", since);
	if (r->wd_admitted)
		snprintf(adm, sizeof(adm), " (%llu of them declared now)",
			 (unsigned long long)r->wd_admitted);
	return xasprintf("%llu would-deny packet%s in %llu flow%s%s since "
			 "%s, the last at %s: declare them (bulkheadctl "
			 "recommend) or stop them, then wait a quiet period",
			 (unsigned long long)r->wd_packets,
			 r->wd_packets == 1 ? "" : "s",
			 (unsigned long long)r->wd_flows,
			 r->wd_flows == 1 ? "" : "s", adm, since,
			 bh_rfc3339(r->wd_last_ms, t));
}

static json_t *group_json(const struct policy *p, const struct gready *r,
			  const char *since, uint64_t now)
{
	const struct group *g = &p->groups[r->g];
	char t[32], day[16], *why = reason(r, since);
	json_t *o;

	o = json_pack("{s:s, s:s, s:s, s:{s:I, s:I, s:I}, s:I, s:I}",
		      "group", g->name, "verdict",
		      r->ready ? "ready" : "not ready", "reason", why,
		      "would_deny", "packets", (json_int_t)r->wd_packets,
		      "flows", (json_int_t)r->wd_flows,
		      "flows_declared_now", (json_int_t)r->wd_admitted,
		      "connections", (json_int_t)r->conns,
		      "covered_connections", (json_int_t)r->covered);
	free(why);
	json_object_set_new(o, "covered_share", r->conns ?
			    json_real((double)r->covered / (double)r->conns) :
			    json_null());
	json_object_set_new(o, "last_would_deny", r->wd_last_ms ?
			    json_string(bh_rfc3339(r->wd_last_ms, t)) :
			    json_null());
	json_object_set_new(o, "last_new_flow", r->new_flow_ms ?
			    json_string(bh_rfc3339(r->new_flow_ms, t)) :
			    json_null());
	json_object_set_new(o, "since_last_new_flow_s", r->new_flow_ms ?
			    json_integer((json_int_t)((now - r->new_flow_ms) /
						      1000)) : json_null());
	json_object_set_new(o, "records_since", r->observed_ms ?
			    json_string(bh_rfc3339(r->observed_ms, t)) :
			    json_null());
	json_object_set_new(o, "until", g->until_day ?
			    json_string(policy_day_str(g->until_day, day)) :
			    json_null());
	json_object_set_new(o, "until_expired", json_boolean(
			    g->until_day && policy_today() > g->until_day));
	return o;
}

static void group_text(const struct policy *p, const struct gready *r,
		       const char *since, uint64_t now)
{
	const struct group *g = &p->groups[r->g];
	char t[32], d[32], day[16], *why = reason(r, since);

	printf("%s: %s: %s\n", g->name, r->ready ? "ready" : "not ready",
	       why);
	free(why);
	printf("  would-deny     %llu packets, %llu flows (%llu declared "
	       "now)\n", (unsigned long long)r->wd_packets,
	       (unsigned long long)r->wd_flows,
	       (unsigned long long)r->wd_admitted);
	if (r->new_flow_ms) {
		duration_text(now > r->new_flow_ms ? now - r->new_flow_ms : 0,
			      d, sizeof(d));
		printf("  last new flow  %s (%s ago)\n",
		       bh_rfc3339(r->new_flow_ms, t), d);
	} else {
		printf("  last new flow  never\n");
	}
	if (r->conns)
		printf("  covered        %.1f%% of %llu connections observed "
		       "(%llu admitted by declared flows)\n",
		       100.0 * (double)r->covered / (double)r->conns,
		       (unsigned long long)r->conns,
		       (unsigned long long)r->covered);
	else
		printf("  covered        - (no allowed-flow records of it)\n");
	if (g->until_day)
		printf("  until          %s%s\n", policy_day_str(g->until_day,
								day),
		       policy_today() > g->until_day ? " (expired)" : "");
}

static int run(struct ctl_observed *o, const char *since, uint64_t since_ms,
	       uint64_t now, bool json)
{
	const struct policy *p = o->p;
	struct ctl_edge *wd = NULL, *all = NULL, *fl = NULL, *fall = NULL;
	size_t n_wd = 0, n_all = 0, n_fl = 0, n_fall = 0, n = 0, i;
	uint64_t observed = 0;
	struct gready *v;
	struct gready *r;
	struct port_spec svc;
	struct src_loc where;
	json_t *out = NULL, *groups;
	char t[32];
	bool all_ready = true;
	int ret;

	v = xcalloc(p->n_groups, sizeof(*v));
	for (i = GROUP_FIRST_USER; i < p->n_groups; i++)
		if (p->groups[i].mode == MODE_AUDIT)
			v[n++].g = (unsigned)i;
	ret = ctl_observed_edges(o, "readiness", CTL_REC_DENIED, since_ms, now,
				 &wd, &n_wd);
	if (!ret)
		ret = ctl_observed_edges(o, "readiness", CTL_REC_DENIED, 0, 0,
					 &all, &n_all);
	if (!ret)
		ret = ctl_observed_edges(o, "readiness", CTL_REC_FLOWS,
					 since_ms, now, &fl, &n_fl);
	if (!ret)
		ret = ctl_observed_edges(o, "readiness", CTL_REC_FLOWS, 0, 0,
					 &fall, &n_fall);
	if (ret)
		goto out;
	for (i = 0; i < n_all + n_fall; i++) {
		uint64_t first = i < n_all ? all[i].first_ms :
				 fall[i - n_all].first_ms;

		if (first && (!observed || first < observed))
			observed = first;
	}
	for (i = 0; i < n_wd; i++) {
		if (strcmp(wd[i].action, "would-deny"))
			continue;
		r = find(v, n, ctl_observed_judge(p, wd[i].from, wd[i].to));
		if (!r)
			continue;
		r->wd_packets += wd[i].packets + wd[i].unlogged;
		/* unlogged records name no service: packets, not a flow */
		if (strcmp(wd[i].port, "-"))
			r->wd_flows++;
		if (portmerge_parse_service(wd[i].port, &svc) &&
		    ctl_observed_admitted(p, wd[i].from, wd[i].to, &svc,
					  &where))
			r->wd_admitted++;
		if (wd[i].last_ms > r->wd_last_ms)
			r->wd_last_ms = wd[i].last_ms;
	}
	for (i = 0; i < n_all; i++) {
		if (strcmp(all[i].action, "would-deny") ||
		    !strcmp(all[i].port, "-"))
			continue;
		r = find(v, n, ctl_observed_judge(p, all[i].from, all[i].to));
		if (r && all[i].first_ms > r->new_flow_ms)
			r->new_flow_ms = all[i].first_ms;
	}
	for (i = 0; i < n_fl; i++) {
		r = find(v, n, ctl_observed_judge(p, fl[i].from, fl[i].to));
		if (!r)
			continue;
		r->conns += fl[i].connections;
		if (portmerge_parse_service(fl[i].port, &svc) &&
		    ctl_observed_admitted(p, fl[i].from, fl[i].to, &svc,
					  &where))
			r->covered += fl[i].connections;
	}
	for (i = 0; i < n; i++) {
		v[i].observed_ms = observed;
		v[i].since_ms = since_ms;
		v[i].ready = !v[i].wd_packets && observed &&
			     observed <= since_ms;
	}
	if (json) {
		groups = json_array();
		for (i = 0; i < n; i++)
			json_array_append_new(groups, group_json(p, &v[i],
								 since, now));
		out = json_pack("{s:s, s:s, s:o}", "since",
				bh_rfc3339(since_ms, t), "policy",
				o->policy_path, "groups", groups);
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else if (!n) {
		printf("no group of %s is in mode: audit\n", o->policy_path);
	} else {
		for (i = 0; i < n; i++)
			group_text(p, &v[i], since, now);
	}
	for (i = 0; i < n; i++)
		all_ready &= v[i].ready;
	ret = all_ready ? 0 : 1;
out:
	json_decref(out);
	ctl_edges_free(wd, n_wd);
	ctl_edges_free(all, n_all);
	ctl_edges_free(fl, n_fl);
	ctl_edges_free(fall, n_fall);
	free(v);
	return ret;
}

int ctl_readiness(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		CTL_OBSERVED_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_observed o = { 0 };
	const char *since = READINESS_SINCE_DEFAULT;
	uint64_t now = bh_wall_ms(), since_ms;
	bool json = false;
	int c, ret = 2;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		if (ctl_observed_option(&o, c, optarg))
			continue;
		switch (c) {
		case 's':
			since = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			fputs(READINESS_USAGE, stdout);
			ret = 0;
			goto out;
		default:
			fprintf(stderr, "bulkheadctl readiness: unknown or "
				"incomplete option '%s'\n%s", argv[optind - 1],
				READINESS_USAGE);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadctl readiness: unexpected argument "
			"'%s'\n%s", argv[optind], READINESS_USAGE);
		goto out;
	}
	if (!ctl_when_arg("readiness", "since", since, now, &since_ms))
		goto out;
	if (ctl_observed_policy(&o, "readiness"))
		goto out;
	ret = run(&o, since, since_ms, now, json);
out:
	ctl_observed_free(&o);
	return ret;
}
