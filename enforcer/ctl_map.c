/* bulkheadctl map: the group map. Groups are nodes coloured by their
 * sensitivity, built-in and address (cidrs) groups in clusters of their
 * own; declared flows are edges labelled with their ports, as thick as
 * the allowed traffic observed on them; denied (red) and would-deny
 * (orange, dashed) traffic are edges with their counts. Layout and SVG
 * come from Graphviz's libraries (libgvc, libcgraph), linked into
 * bulkheadctl only. Every count comes from ctl_records_summary(), the
 * code behind `denials --summary` and `flows --summary`, over the same
 * period, so the map and the summaries cannot disagree. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <graphviz/cgraph.h>
#include <graphviz/gvc.h>
#include <jansson.h>

#include "ctl.h"
#include "policy.h"
#include "util.h"

#define MAP_POLICY_DEFAULT "/etc/bulkhead/groups"
#define MAP_SINCE_DEFAULT "24h"

enum map_format { MAP_SVG, MAP_DOT, MAP_JSON };

struct map {
	const struct policy *p;
	uint64_t since_ms, until_ms;
	struct ctl_edge *denied, *flows;
	size_t n_denied, n_flows;
	char **extra;			/* groups only the records name */
	size_t n_extra, cap_extra;
};

static const char *const sens_names[] = {
	[SENS_UNSET] = "unset", [SENS_LOW] = "low",
	[SENS_MODERATE] = "moderate", [SENS_HIGH] = "high",
	[SENS_RESTRICTED] = "restricted",
};
/* light to dark as sensitivity grows; white when unset */
static const char *const sens_colors[] = {
	[SENS_UNSET] = "#ffffff", [SENS_LOW] = "#d9f0d3",
	[SENS_MODERATE] = "#fff2ae", [SENS_HIGH] = "#fdb863",
	[SENS_RESTRICTED] = "#e66101",
};

static const char *kind_str(const struct group *g)
{
	return g->kind == GK_BUILTIN ? "builtin" :
	       g->kind == GK_CIDRS ? "cidrs" : "labels";
}

static void port_text(const struct port_spec *ps, char *buf, size_t len)
{
	const char *t = ps->proto == IPPROTO_TCP ? "tcp" :
			ps->proto == IPPROTO_UDP ? "udp" :
			ps->proto == IPPROTO_SCTP ? "sctp" :
			ps->proto == IPPROTO_ICMP ? "icmp" :
			ps->proto == IPPROTO_ICMPV6 ? "icmpv6" : "any";

	if (ps->proto == IPPROTO_ICMP || ps->proto == IPPROTO_ICMPV6 ||
	    !ps->proto || (ps->lo == 0 && ps->hi == 65535))
		snprintf(buf, len, "%s", t);
	else if (ps->lo == ps->hi)
		snprintf(buf, len, "%s/%u", t, ps->lo);
	else
		snprintf(buf, len, "%s/%u-%u", t, ps->lo, ps->hi);
}

static bool is_denied_action(const char *a)
{
	return strcmp(a, "would-deny") && strcmp(a, "allow");
}

/* ---- JSON */

static json_t *edges_json(const struct ctl_edge *e, size_t n, bool flows)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; i < n; i++)
		json_array_append_new(a, flows ?
			json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I}",
				  "from", e[i].from, "to", e[i].to,
				  "service", e[i].port, "action", e[i].action,
				  "connections", (json_int_t)e[i].connections,
				  "packets", (json_int_t)e[i].packets,
				  "bytes", (json_int_t)e[i].bytes,
				  "records", (json_int_t)e[i].records) :
			json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
				  "from", e[i].from, "to", e[i].to,
				  "service", e[i].port, "action", e[i].action,
				  "packets", (json_int_t)e[i].packets,
				  "unlogged", (json_int_t)e[i].unlogged,
				  "records", (json_int_t)e[i].records));
	return a;
}

static json_t *map_json(const struct map *m)
{
	const struct policy *p = m->p;
	json_t *o = json_object(), *groups = json_array(), *decl = json_array();
	char t[32], pb[32];
	size_t g, f, i, k, j;

	json_object_set_new(o, "since", json_string(bh_rfc3339(m->since_ms,
								 t)));
	json_object_set_new(o, "until", json_string(bh_rfc3339(m->until_ms,
								 t)));
	for (g = 0; g < p->n_groups; g++)
		json_array_append_new(groups, json_pack(
			"{s:s, s:s, s:s, s:s}", "name", p->groups[g].name,
			"kind", kind_str(&p->groups[g]), "sensitivity",
			sens_names[p->groups[g].sensitivity], "mode",
			p->groups[g].mode == MODE_AUDIT ? "audit" : "enforce"));
	for (i = 0; i < m->n_extra; i++)
		json_array_append_new(groups, json_pack("{s:s, s:s}", "name",
			m->extra[i], "kind", "records-only"));
	json_object_set_new(o, "groups", groups);
	for (f = 0; f < p->n_flows; f++)
		for (i = 0; i < p->flows[f].n_from; i++)
			for (k = 0; k < p->flows[f].n_to; k++) {
				json_t *ports = json_array();

				for (j = 0; j < p->flows[f].n_ports; j++) {
					port_text(&p->flows[f].ports[j], pb,
						  sizeof(pb));
					json_array_append_new(ports,
							      json_string(pb));
				}
				json_array_append_new(decl, json_pack(
					"{s:s, s:s, s:o}", "from",
					p->groups[p->flows[f].from[i]].name,
					"to", p->groups[p->flows[f].to[k]].name,
					"ports", ports));
			}
	json_object_set_new(o, "declared", decl);
	json_object_set_new(o, "observed", edges_json(m->flows, m->n_flows,
						      true));
	json_object_set_new(o, "denied", edges_json(m->denied, m->n_denied,
						    false));
	return o;
}

/* ---- the graph */

static void set(void *obj, const char *k, const char *v)
{
	agsafeset(obj, (char *)k, (char *)v, "");
}

static Agnode_t *node(Agraph_t *g, Agraph_t *sub, const char *name)
{
	Agnode_t *n = agnode(g, (char *)name, 0);

	return n ? n : agnode(sub, (char *)name, 1);
}

static void extra_group(struct map *m, const char *name)
{
	size_t i;

	if (policy_group_find(m->p, name) >= 0)
		return;
	for (i = 0; i < m->n_extra; i++)
		if (!strcmp(m->extra[i], name))
			return;
	xgrow(&m->extra, &m->cap_extra, m->n_extra + 1, sizeof(*m->extra));
	m->extra[m->n_extra++] = xstrdup(name);
}

/* A (from, to) pair of groups some flow declares, with all its ports. */
struct pair {
	const char *from, *to;
	struct strbuf ports;
	const struct port_spec **specs;
	size_t n_specs, cap_specs;
};

/* Does a summary row's service ("tcp/5432", "icmp/type8", "udp") fall
 * under one of the pair's declared ports? */
static bool pair_covers(const struct pair *q, const char *svc)
{
	static const struct { const char *name; uint8_t proto; } protos[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "sctp", IPPROTO_SCTP }, { "udplite", IPPROTO_UDPLITE },
		{ "icmp", IPPROTO_ICMP }, { "ipv6-icmp", IPPROTO_ICMPV6 },
	};
	const char *slash = strchr(svc, '/');
	size_t len = slash ? (size_t)(slash - svc) : strlen(svc), i;
	long port = -1;
	uint8_t proto = 0;

	for (i = 0; i < ARRAY_SIZE(protos); i++)
		if (strlen(protos[i].name) == len &&
		    !strncmp(svc, protos[i].name, len))
			proto = protos[i].proto;
	if (!proto)
		return false;
	if (slash && slash[1] >= '0' && slash[1] <= '9')
		port = strtol(slash + 1, NULL, 10);
	for (i = 0; i < q->n_specs; i++) {
		const struct port_spec *ps = q->specs[i];

		if (ps->proto && ps->proto != proto)
			continue;
		if (!ps->proto || proto == IPPROTO_ICMP ||
		    proto == IPPROTO_ICMPV6 ||
		    (port >= ps->lo && port <= ps->hi))
			return true;
	}
	return false;
}

static struct pair *pair_find(struct pair *pairs, size_t n, const char *from,
			      const char *to)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(pairs[i].from, from) && !strcmp(pairs[i].to, to))
			return &pairs[i];
	return NULL;
}

static size_t declared_pairs(const struct policy *p, struct pair **out)
{
	struct pair *pairs = NULL, *q;
	size_t n = 0, cap = 0, f, i, k, j;
	char pb[32];

	for (f = 0; f < p->n_flows; f++)
		for (i = 0; i < p->flows[f].n_from; i++)
			for (k = 0; k < p->flows[f].n_to; k++) {
				const struct flow *fl = &p->flows[f];
				const char *from = p->groups[fl->from[i]].name;
				const char *to = p->groups[fl->to[k]].name;

				q = pair_find(pairs, n, from, to);
				if (!q) {
					xgrow(&pairs, &cap, n + 1,
					      sizeof(*pairs));
					q = &pairs[n++];
					*q = (struct pair){ .from = from,
							    .to = to };
				}
				for (j = 0; j < fl->n_ports; j++) {
					xgrow(&q->specs, &q->cap_specs,
					      q->n_specs + 1,
					      sizeof(*q->specs));
					q->specs[q->n_specs++] = &fl->ports[j];
					port_text(&fl->ports[j], pb,
						  sizeof(pb));
					sb_printf(&q->ports, "%s%s",
						  q->ports.len ? ", " : "",
						  pb);
				}
			}
	*out = pairs;
	return n;
}

/* A new edge between two nodes that exist; names keep parallel edges. */
static Agedge_t *edge(Agraph_t *g, const char *from, const char *to,
		      unsigned long *n)
{
	char name[32];

	snprintf(name, sizeof(name), "e%lu", ++*n);
	return agedge(g, agnode(g, (char *)from, 0), agnode(g, (char *)to, 0),
		      name, 1);
}

static Agraph_t *build_graph(struct map *m)
{
	const struct policy *p = m->p;
	Agraph_t *g = agopen("bulkhead", Agdirected, NULL);
	Agraph_t *builtin, *cidrs, *users;
	struct pair *pairs;
	char label[160];
	unsigned long n_edge = 0;
	size_t i, x, n_pairs;
	Agnode_t *a;
	Agedge_t *e;

	set(g, "rankdir", "LR");
	set(g, "fontname", "Helvetica");
	set(g, "label", "bulkhead group map");
	builtin = agsubg(g, "cluster_builtin", 1);
	set(builtin, "label", "built-in");
	set(builtin, "style", "dashed");
	cidrs = agsubg(g, "cluster_addresses", 1);
	set(cidrs, "label", "address groups");
	set(cidrs, "style", "dotted");
	users = agsubg(g, "cluster_groups", 1);
	set(users, "label", "container groups");
	set(users, "style", "invis");
	for (i = 0; i < p->n_groups; i++) {
		const struct group *gr = &p->groups[i];
		Agraph_t *sub = gr->kind == GK_BUILTIN ? builtin :
				gr->kind == GK_CIDRS ? cidrs : users;

		a = node(g, sub, gr->name);
		if (gr->sensitivity != SENS_UNSET || gr->mode == MODE_AUDIT)
			snprintf(label, sizeof(label), "%s\n%s%s%s", gr->name,
				 gr->sensitivity != SENS_UNSET ?
				 sens_names[gr->sensitivity] : "",
				 gr->sensitivity != SENS_UNSET &&
				 gr->mode == MODE_AUDIT ? ", " : "",
				 gr->mode == MODE_AUDIT ? "audit" : "");
		else
			snprintf(label, sizeof(label), "%s", gr->name);
		set(a, "label", label);
		set(a, "shape", gr->kind == GK_BUILTIN ? "ellipse" :
			gr->kind == GK_CIDRS ? "folder" : "box");
		set(a, "style", gr->kind == GK_BUILTIN ? "dashed,filled" :
			"rounded,filled");
		set(a, "fillcolor", sens_colors[gr->sensitivity]);
		snprintf(label, sizeof(label), "%s group, sensitivity %s",
			 kind_str(gr), sens_names[gr->sensitivity]);
		set(a, "tooltip", label);
	}
	for (i = 0; i < m->n_extra; i++) {
		a = node(g, builtin, m->extra[i]);
		set(a, "shape", "ellipse");
		set(a, "style", "dotted");
		if (!strcmp(m->extra[i], "*"))
			set(a, "label", "* (not named)");
	}
	/* declared flows, one edge per (from, to): its ports, and the
	 * connections observed on those ports as the pen width */
	n_pairs = declared_pairs(p, &pairs);
	for (i = 0; i < n_pairs; i++) {
		uint64_t conns = 0;

		for (x = 0; x < m->n_flows; x++)
			if (!strcmp(m->flows[x].from, pairs[i].from) &&
			    !strcmp(m->flows[x].to, pairs[i].to) &&
			    pair_covers(&pairs[i], m->flows[x].port))
				conns += m->flows[x].connections;
		if (conns)
			sb_printf(&pairs[i].ports, "\n%llu conn",
				  (unsigned long long)conns);
		e = edge(g, pairs[i].from, pairs[i].to, &n_edge);
		set(e, "label", pairs[i].ports.buf);
		set(e, "color", conns ? "#1a7f37" : "#555555");
		snprintf(label, sizeof(label), "%.1f", conns ?
			 1.5 + log2(1.0 + (double)conns) / 2 : 1.0);
		set(e, "penwidth", label);
		snprintf(label, sizeof(label), "%llu",
			 (unsigned long long)(conns + 1));
		set(e, "weight", label);
	}
	/* observed traffic no flow declares (intra-group, unassigned:
	 * allow, audit mode): grey, with its counts */
	for (x = 0; x < m->n_flows; x++) {
		struct pair *q = pair_find(pairs, n_pairs, m->flows[x].from,
					   m->flows[x].to);

		if (q && pair_covers(q, m->flows[x].port))
			continue;
		e = edge(g, m->flows[x].from, m->flows[x].to, &n_edge);
		snprintf(label, sizeof(label), "%s\n%llu conn",
			 m->flows[x].port,
			 (unsigned long long)m->flows[x].connections);
		set(e, "label", label);
		set(e, "color", "#888888");
		set(e, "fontcolor", "#888888");
	}
	/* denied and would-deny: one edge per summary row. They keep
	 * constraint=true: Graphviz 2.42 (Debian 12) frees twice in the
	 * dot layout for labelled constraint=false edges between clusters. */
	for (x = 0; x < m->n_denied; x++) {
		const struct ctl_edge *d = &m->denied[x];
		bool audit = !strcmp(d->action, "would-deny");

		e = edge(g, d->from, d->to, &n_edge);
		snprintf(label, sizeof(label), "%s %s\n%llu pkts%s",
			 d->action, d->port,
			 (unsigned long long)(d->packets + d->unlogged),
			 d->unlogged ? " (some unlogged)" : "");
		set(e, "label", label);
		set(e, "color", audit ? "#f28e2b" : "#d62728");
		set(e, "fontcolor", audit ? "#f28e2b" : "#d62728");
		set(e, "style", audit ? "dashed" : "solid");
		if (!audit && !is_denied_action(d->action))
			set(e, "style", "dotted");
	}
	for (i = 0; i < n_pairs; i++) {
		sb_free(&pairs[i].ports);
		free(pairs[i].specs);
	}
	free(pairs);
	return g;
}

static int render(struct map *m, enum map_format fmt, char **out,
		  size_t *len, char **err)
{
	GVC_t *gvc;
	Agraph_t *g;
	char *buf = NULL;
	unsigned int n = 0;
	int ret = 0;

	gvc = gvContext();
	if (!gvc) {
		*err = xstrdup("Graphviz: no context");
		return -ENOMEM;
	}
	g = build_graph(m);
	if (gvLayout(gvc, g, "dot") != 0) {
		*err = xstrdup("Graphviz: the dot layout failed (is the "
			       "graphviz package's plugin config there?)");
		ret = -EINVAL;
		goto out;
	}
	if (gvRenderData(gvc, g, fmt == MAP_SVG ? "svg" : "dot", &buf,
			 &n) != 0) {
		*err = xasprintf("Graphviz: rendering %s failed",
				 fmt == MAP_SVG ? "svg" : "dot");
		ret = -EINVAL;
		gvFreeLayout(gvc, g);
		goto out;
	}
	*out = xmalloc(n + 1);
	memcpy(*out, buf, n);
	(*out)[n] = '\0';
	*len = n;
	gvFreeRenderData(buf);
	gvFreeLayout(gvc, g);
out:
	agclose(g);
	gvFreeContext(gvc);
	return ret;
}

/* ---- the verb */

#define MAP_USAGE \
"usage: bulkheadctl map [--since 24h|TIME] [--until TIME] [--format svg|dot|json]\n" \
"           [-o FILE] [--policy PATH] [--denied-file PATH] [--flows-file PATH]\n" \
"  The group map: groups coloured by sensitivity, declared flows with\n" \
"  their ports (thicker: more connections observed), denied (red) and\n" \
"  would-deny (orange, dashed) traffic with counts, over the period\n" \
"  (default: the last 24h). The counts are those of `denials --summary`\n" \
"  and `flows --summary` over the same period.\n" \
"  --format          svg (default), dot (Graphviz, laid out) or json\n" \
"  -o FILE           write FILE (replaced whole) instead of stdout\n" \
"  --policy PATH     the groups and flows (default: the running daemon's,\n" \
"                    else " MAP_POLICY_DEFAULT ")\n" \
"  --denied-file, --flows-file  the record files (default\n" \
"                    /var/log/bulkhead/denied.jsonl, flows.jsonl)\n"

int ctl_map(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "policy", required_argument, NULL, 'P' },
		{ "denied-file", required_argument, NULL, 'D' },
		{ "flows-file", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *since = MAP_SINCE_DEFAULT, *until = NULL, *output = NULL;
	const char *denied_file = NULL, *flows_file = NULL;
	char *policy_path = NULL, *text = NULL, *err = NULL;
	enum map_format fmt = MAP_SVG;
	struct diags dg = { 0 };
	struct map m = { 0 };
	struct policy *p = NULL;
	uint64_t now = bh_wall_ms(), bad = 0;
	size_t len = 0, i;
	int c, ret = 2, r;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+ho:", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			since = optarg;
			break;
		case 'u':
			until = optarg;
			break;
		case 'f':
			if (!strcmp(optarg, "svg")) {
				fmt = MAP_SVG;
			} else if (!strcmp(optarg, "dot")) {
				fmt = MAP_DOT;
			} else if (!strcmp(optarg, "json")) {
				fmt = MAP_JSON;
			} else {
				fprintf(stderr, "bulkheadctl map: --format: "
					"'%s' is not svg, dot or json\n",
					optarg);
				goto out;
			}
			break;
		case 'o':
			output = optarg;
			break;
		case 'P':
			free(policy_path);
			policy_path = xstrdup(optarg);
			break;
		case 'D':
			denied_file = optarg;
			break;
		case 'L':
			flows_file = optarg;
			break;
		case 'h':
			fputs(MAP_USAGE, stdout);
			ret = 0;
			goto out;
		default:
			fprintf(stderr, "bulkheadctl map: unknown or incomplete "
				"option '%s'\n%s", argv[optind - 1], MAP_USAGE);
			goto out;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadctl map: unexpected argument '%s'\n%s",
			argv[optind], MAP_USAGE);
		goto out;
	}
	if (!ctl_when_arg("map", "since", since, now, &m.since_ms))
		goto out;
	m.until_ms = now;
	if (until && !ctl_when_arg("map", "until", until, now, &m.until_ms))
		goto out;
	if (output && !*output) {
		fprintf(stderr, "bulkheadctl map: -o: an empty path\n");
		goto out;
	}
	if (!policy_path)
		policy_path = ctl_daemon_policy_path(NULL, 0, NULL);
	if (!policy_path)
		policy_path = xstrdup(MAP_POLICY_DEFAULT);
	p = policy_load(policy_path, &dg);
	if (!p || dg.n_errors) {
		fprintf(stderr, "bulkheadctl map: the policy %s has errors:\n",
			policy_path);
		diags_print(&dg, stderr);
		goto out;
	}
	m.p = p;
	r = ctl_records_summary(CTL_REC_DENIED, denied_file, m.since_ms,
				m.until_ms, &m.denied, &m.n_denied, &bad);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "bulkheadctl map: %s: %s\n", denied_file ?
			denied_file : "the denied-flow records", strerror(-r));
		goto out;
	}
	r = ctl_records_summary(CTL_REC_FLOWS, flows_file, m.since_ms,
				m.until_ms, &m.flows, &m.n_flows, &bad);
	if (r < 0 && r != -ENOENT) {
		fprintf(stderr, "bulkheadctl map: %s: %s\n", flows_file ?
			flows_file : "the allowed-flow records", strerror(-r));
		goto out;
	}
	for (i = 0; i < m.n_denied; i++) {
		extra_group(&m, m.denied[i].from);
		extra_group(&m, m.denied[i].to);
	}
	for (i = 0; i < m.n_flows; i++) {
		extra_group(&m, m.flows[i].from);
		extra_group(&m, m.flows[i].to);
	}
	if (fmt == MAP_JSON) {
		json_t *o = map_json(&m);

		text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
		len = strlen(text);
		text = xrealloc(text, len + 2);
		text[len++] = '\n';
		text[len] = '\0';
	} else if (render(&m, fmt, &text, &len, &err) < 0) {
		fprintf(stderr, "bulkheadctl map: %s\n", err);
		goto out;
	}
	if (!output || !strcmp(output, "-")) {
		fwrite(text, 1, len, stdout);
	} else {
		/* a temp file beside it, then rename: a reader never sees
		 * half a map, and a failure leaves the old one */
		r = bh_write_file_atomic(output, text, len, 0644);
		if (r < 0) {
			fprintf(stderr, "bulkheadctl map: cannot write %s: "
				"%s\n", output, strerror(-r));
			goto out;
		}
	}
	ret = 0;
out:
	ctl_edges_free(m.denied, m.n_denied);
	ctl_edges_free(m.flows, m.n_flows);
	for (i = 0; i < m.n_extra; i++)
		free(m.extra[i]);
	free(m.extra);
	policy_free(p);
	diags_free(&dg);
	free(policy_path);
	free(text);
	free(err);
	return ret;
}
