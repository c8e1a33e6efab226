/* NIST SP 800-190 posture findings (posture.h). */
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>

#include "colocation.h"
#include "posture.h"

/* The words of SP 800-190 (September 2017) each finding answers to. */
static const char Q433[] = "Orchestrators should be configured to separate network traffic into discrete virtual networks by sensitivity level.";
static const char Q434[] = "Orchestrators should be configured to isolate deployments to specific sets of hosts by sensitivity levels.";
static const char Q442[] = "Organizations should control the egress network traffic sent by containers.";
static const char QES[] = "Only group containers with the same purpose, sensitivity, and threat posture on a single host OS kernel.";

static const struct {
	const char *name, *section, *quote, *todo;
} kinds[] = {
	[PK_CROSS_SENSITIVITY] = { "cross-sensitivity-flow", "4.3.3", Q433,
		"Keep traffic within one sensitivity level: put a tier of the destination's level in between, or declare a boundary (docs/policy.md, \"Boundaries\") so that check refuses such a flow and the kernel drops it." },
	[PK_MIXING] = { "mixing", "4.3.4", Q434,
		"Place each sensitivity level on hosts of its own; until then settings.colocation (warn or enforce) makes this host report, or hold in quarantine, the container whose arrival mixes levels." },
	[PK_WORLD_EGRESS] = { "world-egress", "4.4.2", Q442,
		"Name the ports the group needs (tcp/443), or send its egress through a proxy given as a cidrs group." },
	[PK_HOST_NETWORK] = { "host-network", "4.3.3", Q433,
		"Run the container on a container network (podman run --network NET): in the host's network namespace it is the host to the kernel, and no group, flow or boundary can hold it." },
	[PK_UNASSIGNED] = { "unassigned", "Executive Summary", QES,
		"Label the containers (bulkhead.purpose=...) so that a group holds them, or add a group whose match they carry." },
	[PK_AUDIT_EXPIRED] = { "audit-expired", "4.3.3", Q433,
		"Read its would-deny records (bulkheadctl denials --group G), declare the flows it needs and switch it to mode: enforce, or move its until date." },
	[PK_HOST_MIXING] = { "host-mixing", "4.3.4", Q434,
		"Move the containers of one of the levels to hosts that run only that level (bulkheadctl posture on that host names them); until then settings.colocation on that host reports, or holds in quarantine, the container whose arrival mixes levels." },
};

const char *posture_kind_str(enum posture_kind k)
{
	return kinds[k].name;
}

const char *posture_section(enum posture_kind k)
{
	return kinds[k].section;
}

const char *posture_quote(enum posture_kind k)
{
	return kinds[k].quote;
}

const char *posture_todo(enum posture_kind k)
{
	return kinds[k].todo;
}

static struct posture_finding *add(struct posture *ps, enum posture_kind k,
				   char *finding, const struct policy *p,
				   const struct src_loc *at)
{
	struct posture_finding *f;

	xgrow(&ps->v, &ps->cap, ps->n + 1, sizeof(*ps->v));
	f = &ps->v[ps->n++];
	f->kind = k;
	f->finding = finding;
	f->at = at ? xasprintf("%s:%u:%u", policy_file(p, at->file),
			       at->line, at->col) : NULL;
	f->subjects = json_array();
	return f;
}

/* Groups whose containers or addresses have a level of their own: not
 * host and world (their levels are unknown) nor quarantine. */
static bool has_level_side(const struct policy *p, unsigned g)
{
	return g == GROUP_UNASSIGNED ||
	       (g >= GROUP_FIRST_USER && g < p->n_groups);
}

static void cross_sensitivity(const struct policy *p, struct posture *ps)
{
	size_t i, a, b, n;
	unsigned f0 = 0, t0 = 0;

	for (i = 0; i < p->n_flows; i++) {
		const struct flow *fl = &p->flows[i];
		struct posture_finding *x;
		struct strbuf sb = { 0 };
		char buf[32];

		n = 0;
		for (a = 0; a < fl->n_from; a++)
			for (b = 0; b < fl->n_to; b++) {
				unsigned s = fl->from[a], t = fl->to[b];

				if (!has_level_side(p, s) ||
				    !has_level_side(p, t) ||
				    p->groups[s].sensitivity ==
				    p->groups[t].sensitivity)
					continue;
				if (!n++) {
					f0 = s;
					t0 = t;
				}
			}
		if (!n)
			continue;
		sb_printf(&sb, "flow %s -> %s lets %s reach %s (",
			  p->groups[f0].name, p->groups[t0].name,
			  policy_sens_str(p->groups[f0].sensitivity),
			  policy_sens_str(p->groups[t0].sensitivity));
		for (a = 0; a < fl->n_ports; a++) {
			policy_port_str(&fl->ports[a], buf, sizeof(buf));
			sb_printf(&sb, "%s%s", a ? " " : "", buf);
		}
		sb_puts(&sb, ")");
		if (n > 1)
			sb_printf(&sb, " (and %zu more such pairs)", n - 1);
		x = add(ps, PK_CROSS_SENSITIVITY, sb_steal(&sb), p, &fl->loc);
		json_array_append_new(x->subjects,
				      json_string(p->groups[f0].name));
		json_array_append_new(x->subjects,
				      json_string(p->groups[t0].name));
	}
}

static int name_cmp(const void *x, const void *y)
{
	const struct container *a = *(const struct container *const *)x;
	const struct container *b = *(const struct container *const *)y;
	int r = strcmp(a->name, b->name);

	return r ? r : strcmp(a->id, b->id);
}

/* The inventory by name (then id): output must not depend on the order
 * containers came in. */
static const struct container **sorted(const struct inventory *inv)
{
	size_t n = inventory_count(inv), i;
	const struct container **v = xcalloc(n + 1, sizeof(*v));

	for (i = 0; i < n; i++)
		v[i] = inventory_at(inv, i);
	qsort(v, n, sizeof(*v), name_cmp);
	return v;
}

#define NAMES_SHOWN 3

static void mixing(const struct policy *p, const struct inventory *inv,
		   const struct container **v, struct posture *ps)
{
	size_t n = inventory_count(inv), cnt[SENS_RESTRICTED + 1] = { 0 };
	size_t i, shown[SENS_RESTRICTED + 1] = { 0 }, held = 0;
	struct strbuf names[SENS_RESTRICTED + 1];
	struct strbuf sb = { 0 };
	struct posture_finding *x;
	unsigned levels = 0, k = 0;
	const char *sep = "";
	int l;

	memset(names, 0, sizeof(names));
	for (i = 0; i < n; i++) {
		unsigned lv = v[i]->quarantined ? 0 :
			      colocation_levels(p, v[i]);

		held += v[i]->colo == COLO_HELD;
		for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++) {
			if (!(lv & 1u << l))
				continue;
			cnt[l]++;
			if (shown[l]++ < NAMES_SHOWN)
				sb_printf(&names[l], "%s%s",
					  shown[l] > 1 ? ", " : "",
					  v[i]->name);
		}
		levels |= lv;
	}
	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
		k += !!(levels & 1u << l);
	if (k < 2)
		goto out;
	sb_printf(&sb, "containers of %u sensitivity levels share this host's kernel:",
		  k);
	for (l = SENS_RESTRICTED; l >= SENS_UNSET; l--) {
		if (!cnt[l])
			continue;
		sb_printf(&sb, "%s %s (%s%s)", sep,
			  policy_sens_str((enum sensitivity)l), names[l].buf,
			  cnt[l] > NAMES_SHOWN ? ", ..." : "");
		sep = ";";
	}
	if (p->colo_mode == COLO_OFF)
		sb_puts(&sb, "; settings.colocation is off");
	else
		sb_printf(&sb, "; settings.colocation %s holds %zu in quarantine",
			  p->colo_mode == COLO_ENFORCE ? "enforce" : "warn",
			  held);
	x = add(ps, PK_MIXING, sb_steal(&sb), p, NULL);
	for (l = SENS_RESTRICTED; l >= SENS_UNSET; l--)
		if (cnt[l])
			json_array_append_new(x->subjects, json_string(
				policy_sens_str((enum sensitivity)l)));
out:
	for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
		sb_free(&names[l]);
}

static bool wide(const struct port_spec *s)
{
	if (s->proto == 0)
		return true;
	if (s->proto == IPPROTO_ICMP || s->proto == IPPROTO_ICMPV6)
		return false;
	return s->hi - s->lo + 1 > POSTURE_WIDE_PORTS;
}

static void world_egress(const struct policy *p, struct posture *ps)
{
	size_t i, a, k, n;
	char buf[32];

	for (i = 0; i < p->n_flows; i++) {
		const struct flow *fl = &p->flows[i];
		struct strbuf sb = { 0 }, ports = { 0 };
		struct posture_finding *x;
		bool to_world = false;
		int src = -1;

		for (k = 0; k < fl->n_to; k++)
			to_world |= fl->to[k] == GROUP_WORLD;
		for (a = 0; a < fl->n_from && src < 0; a++)
			if (policy_is_container_group(p, fl->from[a]))
				src = (int)fl->from[a];
		if (!to_world || src < 0)
			continue;
		for (k = 0, n = 0; k < fl->n_ports; k++) {
			if (!wide(&fl->ports[k]))
				continue;
			policy_port_str(&fl->ports[k], buf, sizeof(buf));
			sb_printf(&ports, "%s%s", n++ ? " " : "", buf);
		}
		if (!n) {
			sb_free(&ports);
			continue;
		}
		sb_printf(&sb, "flow %s -> world opens %s%s",
			  p->groups[src].name, ports.buf,
			  fl->n_from > 1 ? " (for every group it names)" : "");
		x = add(ps, PK_WORLD_EGRESS, sb_steal(&sb), p, &fl->loc);
		for (a = 0; a < fl->n_from; a++)
			if (policy_is_container_group(p, fl->from[a]))
				json_array_append_new(x->subjects, json_string(
					p->groups[fl->from[a]].name));
		sb_free(&ports);
	}
}

static int hostnet_cmp(const void *x, const void *y)
{
	const struct posture_hostnet *a = x, *b = y;
	int r = strcmp(a->name, b->name);

	return r ? r : strcmp(a->id, b->id);
}

static void host_network(const struct posture_input *in, struct posture *ps)
{
	struct posture_hostnet *v;
	size_t i;

	if (!in->n_hostnet)
		return;
	v = xmalloc(in->n_hostnet * sizeof(*v));
	memcpy(v, in->hostnet, in->n_hostnet * sizeof(*v));
	qsort(v, in->n_hostnet, sizeof(*v), hostnet_cmp);
	for (i = 0; i < in->n_hostnet; i++) {
		struct posture_finding *x;

		x = add(ps, PK_HOST_NETWORK, xasprintf(
			"container %s (%.12s) shares the host's network namespace (network mode host, engine %s): no policy can hold it",
			v[i].name, v[i].id, v[i].engine), in->p, NULL);
		json_array_append_new(x->subjects, json_string(v[i].name));
	}
	free(v);
}

static void unassigned(const struct policy *p, const struct inventory *inv,
		       const struct container **v, struct posture *ps)
{
	size_t n = inventory_count(inv), i, k = 0;
	struct strbuf names = { 0 };
	struct posture_finding *x;
	json_t *subj = json_array();

	for (i = 0; i < n; i++) {
		/* another host's: its own posture reports it */
		if (v[i]->quarantined || v[i]->group != GROUP_UNASSIGNED ||
		    v[i]->source == SRC_REMOTE)
			continue;
		if (k++ < NAMES_SHOWN)
			sb_printf(&names, "%s%s", k > 1 ? ", " : "",
				  v[i]->name);
		json_array_append_new(subj, json_string(v[i]->name));
	}
	if (!k) {
		json_decref(subj);
		return;
	}
	x = add(ps, PK_UNASSIGNED, xasprintf(
		"%zu container%s match%s no group and run%s unassigned: %s%s",
		k, k == 1 ? "" : "s", k == 1 ? "es" : "", k == 1 ? "s" : "",
		names.buf, k > NAMES_SHOWN ? ", ..." : ""), p, NULL);
	json_decref(x->subjects);
	x->subjects = subj;
	sb_free(&names);
}

static void audit_expired(const struct posture_input *in, struct posture *ps)
{
	const struct policy *p = in->p;
	char day[16];
	size_t g;

	for (g = GROUP_FIRST_USER; g < p->n_groups; g++) {
		const struct group *gr = &p->groups[g];
		struct posture_finding *x;

		if (gr->mode != MODE_AUDIT || !gr->until_day ||
		    gr->until_day >= in->today)
			continue;
		x = add(ps, PK_AUDIT_EXPIRED, xasprintf(
			"group %s is still in audit mode, past its until %s: what it would deny passes",
			gr->name, policy_day_str(gr->until_day, day)), p,
			&gr->until_loc);
		json_array_append_new(x->subjects, json_string(gr->name));
	}
}

void posture_build(const struct posture_input *in, struct posture *out)
{
	const struct container **v = sorted(in->inv);
	size_t i;

	memset(out, 0, sizeof(*out));
	out->policy_path = xstrdup(in->policy_path ? in->policy_path : "-");
	for (i = 0; i < inventory_count(in->inv); i++)
		out->n_containers += v[i]->source != SRC_REMOTE;
	out->today = in->today;
	cross_sensitivity(in->p, out);
	mixing(in->p, in->inv, v, out);
	world_egress(in->p, out);
	host_network(in, out);
	unassigned(in->p, in->inv, v, out);
	audit_expired(in, out);
	free(v);
}

/* levels as a host key carries them: {"restricted": 1, "low": 2}, each
 * key a level, each count an integer >= 0. Another host's words: a
 * value that is not this is unknown, never guessed. */
static bool host_levels(json_t *o, size_t cnt[SENS_RESTRICTED + 1])
{
	const char *k;
	json_t *v;
	int l;

	memset(cnt, 0, (SENS_RESTRICTED + 1) * sizeof(*cnt));
	if (!json_is_object(o))
		return false;
	json_object_foreach(o, k, v) {
		for (l = SENS_UNSET; l <= SENS_RESTRICTED; l++)
			if (!strcmp(k, policy_sens_str((enum sensitivity)l)))
				break;
		if (l > SENS_RESTRICTED || !json_is_integer(v) ||
		    json_integer_value(v) < 0)
			return false;
		cnt[l] = (size_t)json_integer_value(v);
	}
	return true;
}

static int host_cmp(const void *x, const void *y)
{
	return strcmp(json_string_value(json_object_get(
			      *(json_t *const *)x, "name")),
		      json_string_value(json_object_get(
			      *(json_t *const *)y, "name")));
}

void posture_build_cluster(json_t *hosts, const char *from, int32_t today,
			   struct posture *out)
{
	size_t n = 0, i, cnt[SENS_RESTRICTED + 1], k;
	json_t **v = xcalloc(json_array_size(hosts) + 1, sizeof(*v)), *h;
	int l;

	memset(out, 0, sizeof(*out));
	out->cluster = true;
	out->from = xstrdup(from ? from : "-");
	out->today = today;
	out->hosts = json_array();
	json_array_foreach(hosts, i, h)
		if (json_is_string(json_object_get(h, "name")))
			v[n++] = h;
	qsort(v, n, sizeof(*v), host_cmp);
	for (i = 0; i < n; i++) {
		const char *name = json_string_value(json_object_get(v[i],
								     "name"));
		struct strbuf sb = { 0 };
		struct posture_finding *x;
		json_t *lv = json_object_get(v[i], "levels");
		bool known = host_levels(lv, cnt);
		const char *sep = "";

		for (l = SENS_UNSET, k = 0; l <= SENS_RESTRICTED; l++)
			k += !!cnt[l];
		out->n_unknown += !known;
		json_array_append_new(out->hosts, json_pack("{s:s, s:O, s:b}",
			"name", name, "levels", known ? lv : json_null(),
			"mixes", known && k >= 2));
		if (!known || k < 2)
			continue;
		sb_printf(&sb, "host %s runs containers of %zu sensitivity levels on one kernel:",
			  name, k);
		for (l = SENS_RESTRICTED; l >= SENS_UNSET; l--) {
			if (!cnt[l])
				continue;
			sb_printf(&sb, "%s %s (%zu container%s)", sep,
				  policy_sens_str((enum sensitivity)l), cnt[l],
				  cnt[l] == 1 ? "" : "s");
			sep = ",";
		}
		x = add(out, PK_HOST_MIXING, sb_steal(&sb), NULL, NULL);
		json_array_append_new(x->subjects, json_string(name));
		for (l = SENS_RESTRICTED; l >= SENS_UNSET; l--)
			if (cnt[l])
				json_array_append_new(x->subjects, json_string(
					policy_sens_str((enum sensitivity)l)));
	}
	free(v);
}

void posture_free(struct posture *ps)
{
	size_t i;

	if (!ps)
		return;
	for (i = 0; i < ps->n; i++) {
		free(ps->v[i].finding);
		free(ps->v[i].at);
		json_decref(ps->v[i].subjects);
	}
	free(ps->v);
	free(ps->policy_path);
	free(ps->from);
	json_decref(ps->hosts);
	memset(ps, 0, sizeof(*ps));
}

/* Every host and its levels, so that a clean one shows as clean. */
static void print_hosts(const struct posture *ps, FILE *out)
{
	size_t cnt[SENS_RESTRICTED + 1], i;
	const char *sep;
	json_t *h;
	int l;

	fprintf(out, "\nhosts:\n");
	json_array_foreach(ps->hosts, i, h) {
		fprintf(out, "  %-24s ", json_string_value(json_object_get(h,
								   "name")));
		if (!host_levels(json_object_get(h, "levels"), cnt)) {
			fprintf(out, "levels unknown (its bulkheadd does not publish them)\n");
			continue;
		}
		sep = "";
		for (l = SENS_RESTRICTED; l >= SENS_UNSET; l--) {
			if (!cnt[l])
				continue;
			fprintf(out, "%s%s %zu", sep,
				policy_sens_str((enum sensitivity)l), cnt[l]);
			sep = ", ";
		}
		fprintf(out, "%s\n", !*sep ? "no containers" :
			json_is_true(json_object_get(h, "mixes")) ?
			"  MIXES" : "");
	}
}

void posture_print(const struct posture *ps, FILE *out)
{
	char day[16];
	size_t i;

	if (ps->cluster)
		fprintf(out, "posture (NIST SP 800-190) of the cluster, as host %s sees it, on %s: %zu finding%s; %zu host%s\n",
			ps->from, policy_day_str(ps->today, day), ps->n,
			ps->n == 1 ? "" : "s", json_array_size(ps->hosts),
			json_array_size(ps->hosts) == 1 ? "" : "s");
	else
		fprintf(out, "posture (NIST SP 800-190) of this host on %s: %zu finding%s; policy %s, %zu container%s\n",
			policy_day_str(ps->today, day), ps->n,
			ps->n == 1 ? "" : "s", ps->policy_path,
			ps->n_containers, ps->n_containers == 1 ? "" : "s");
	for (i = 0; i < ps->n; i++) {
		const struct posture_finding *f = &ps->v[i];

		fprintf(out, "\n%zu. %s [%s%s]%s%s\n", i + 1,
			posture_kind_str(f->kind),
			strcmp(posture_section(f->kind), "Executive Summary") ?
			"§" : "", posture_section(f->kind),
			f->at ? " " : "", f->at ? f->at : "");
		fprintf(out, "   %s\n", f->finding);
		fprintf(out, "   SP 800-190: \"%s\"\n", posture_quote(f->kind));
		fprintf(out, "   what to do: %s\n", posture_todo(f->kind));
	}
	if (ps->cluster)
		print_hosts(ps, out);
}

json_t *posture_json(const struct posture *ps)
{
	json_t *o = json_object(), *a = json_array(), *by = json_object();
	char day[16];
	size_t i;

	json_object_set_new(o, "nist", json_string("SP 800-190"));
	json_object_set_new(o, "date", json_string(policy_day_str(ps->today,
								   day)));
	if (ps->cluster) {
		json_object_set_new(o, "cluster", json_pack("{s:s, s:I, s:I}",
			"from", ps->from, "hosts",
			(json_int_t)json_array_size(ps->hosts),
			"levels_unknown", (json_int_t)ps->n_unknown));
		json_object_set_new(o, "hosts", json_incref(ps->hosts));
	} else {
		json_object_set_new(o, "policy",
				    json_string(ps->policy_path));
		json_object_set_new(o, "containers",
				    json_integer((json_int_t)ps->n_containers));
	}
	for (i = 0; i < ps->n; i++) {
		const struct posture_finding *f = &ps->v[i];
		const char *k = posture_kind_str(f->kind);
		json_t *x = json_object();

		json_object_set_new(x, "kind", json_string(k));
		json_object_set_new(x, "section",
				    json_string(posture_section(f->kind)));
		json_object_set_new(x, "quote",
				    json_string(posture_quote(f->kind)));
		json_object_set_new(x, "finding", json_string(f->finding));
		json_object_set_new(x, "at", f->at ? json_string(f->at) :
						     json_null());
		json_object_set_new(x, "subjects", json_incref(f->subjects));
		json_object_set_new(x, "what_to_do",
				    json_string(posture_todo(f->kind)));
		json_array_append_new(a, x);
		json_object_set_new(by, k, json_integer(json_integer_value(
			json_object_get(by, k)) + 1));
	}
	json_object_set_new(o, "findings", a);
	json_object_set_new(o, "summary", json_pack("{s:I, s:o}", "findings",
						    (json_int_t)ps->n,
						    "by_kind", by));
	return o;
}
