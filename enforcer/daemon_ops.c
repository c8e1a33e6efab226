/* bulkheadd's control verbs: what the control socket's requests (status,
 * explain, ruleset, denials, flows, hosts; as root reload, attach, detach,
 * verify) read of the daemon and ask of it. Changes to the kernel go
 * through daemon.c; this file only reads the daemon's state and answers. */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "audit_expiry.h"
#include "bh_version.h"
#include "cluster.h"
#include "colocation.h"
#include "control.h"
#include "daemon_priv.h"
#include "denied.h"
#include "docker.h"
#include "explain.h"
#include "inventory.h"
#include "log.h"
#include "nft.h"
#include "observe.h"
#include "policy.h"
#include "ruleset.h"
#include "source.h"
#include "state.h"
#include "util.h"

/* ---- the control socket's ops ---- */

/* {"mode", "held": [{"id","name"}], "mixing": [...]}, or null when the
 * policy has no colocation setting */
static json_t *colocation_status(const struct daemon *d)
{
	json_t *held = json_array(), *mixing = json_array();
	size_t i;

	if (!d->policy || d->policy->colo_mode == COLO_OFF) {
		json_decref(held);
		json_decref(mixing);
		return json_null();
	}
	for (i = 0; i < inventory_count(d->inv); i++) {
		const struct container *c = inventory_at(d->inv, i);

		if (c->colo)
			json_array_append_new(c->colo == COLO_HELD ? held :
					      mixing, json_pack(
				"{s:s, s:s}", "id", c->id, "name", c->name));
	}
	return json_pack("{s:s, s:o, s:o}", "mode",
			 d->policy->colo_mode == COLO_ENFORCE ? "enforce" :
			 "warn", "held", held, "mixing", mixing);
}

/* Its report, as the last verify in status; differences are put back
 * (root: it may change the kernel). */
static json_t *op_verify(struct daemon *d, json_t *req)
{
	json_t *r;

	daemon_verify(d, "control");
	if (d->verify.error)
		return control_error(EIO, "verify: %s", d->verify.error);
	r = control_ok();
	json_object_update(r, d->verify.report);
	return r;
}

static json_t *verify_status_json(const struct daemon *d)
{
	const struct verify_last *v = &d->verify;
	char t[32];
	json_t *o;

	if (!v->done)
		return json_null();
	o = json_pack("{s:s, s:s, s:I, s:b}", "time",
		      bh_rfc3339(v->wall_ms, t), "trigger", v->trigger, "ms",
		      (json_int_t)v->took_ms, "match",
		      !v->error && !v->n_diffs);
	if (v->error)
		json_object_set_new(o, "error", json_string(v->error));
	if (v->report) {
		json_object_set(o, "containers",
				json_object_get(v->report, "containers"));
		json_object_set(o, "elements",
				json_object_get(v->report, "elements"));
		json_object_set(o, "differences",
				json_object_get(v->report, "differences"));
		json_object_set(o, "unlisted",
				json_object_get(v->report, "unlisted"));
	}
	return o;
}

static json_t *metrics_status_json(const struct daemon *d)
{
	char t[32];

	if (!d->metrics)
		return json_null();
	return json_pack("{s:s, s:i, s:s?, s:I}", "file", d->o.metrics_file,
			 "interval_s", (int)d->o.metrics_interval_s,
			 "written", d->metrics_wall_ms ?
			 bh_rfc3339(d->metrics_wall_ms, t) : NULL,
			 "errors", (json_int_t)d->metrics_errors);
}

/* The inventory's entry plus the group, and "quarantined" and "engine"
 * always present so that status readers need not guess. */
static json_t *container_json(const struct daemon *d,
			      const struct container *c)
{
	json_t *o = container_to_json(c);

	json_object_set_new(o, "group", json_string(
		daemon_group_name(d, c->group)));
	json_object_set_new(o, "quarantined", json_boolean(c->quarantined));
	if (c->colo)
		json_object_set_new(o, "colocation", json_string(
			c->colo == COLO_HELD ? "held" : "mixing"));
	if (!c->engine)
		json_object_set_new(o, "engine", json_null());
	return o;
}

static const char *kind_str(const struct group *g)
{
	switch (g->kind) {
	case GK_LABELS:
		return "labels";
	case GK_CIDRS:
		return "cidrs";
	default:
		return "builtin";
	}
}

struct status_counters {
	json_t *all;
	struct nft_counts *counts;
};

static void counter_cb(const char *name, enum rs_table table,
		       uint64_t packets, uint64_t bytes, void *arg)
{
	struct status_counters *sc = arg;

	nft_counts_note(name, table, packets, bytes, sc->counts);
	json_object_set_new(sc->all, name, json_pack("{s:I, s:I}", "packets",
		(json_int_t)packets, "bytes", (json_int_t)bytes));
}

/* The kernel's counters of group g: denied_in/out (in audit mode: would
 * deny), unlogged_in/out (over the log rate), spoofed. */
static json_t *group_counters(json_t *all, const char *g)
{
	static const char *const kinds[] = {
		"denied_in", "denied_out", "unlogged_in", "unlogged_out",
		"spoofed",
	};
	json_t *o = json_object(), *v;
	char name[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kinds); i++) {
		snprintf(name, sizeof(name), "%s_%s", kinds[i], g);
		v = json_object_get(all, name);
		if (v)
			json_object_set(o, kinds[i], v);
	}
	return o;
}

/* Member lists are for people: the first STATUS_MEMBERS of each group;
 * "count" is exact. */
#define STATUS_MEMBERS 64

/* Adds the containers to list (all, only id when not NULL, or none when
 * list is NULL) and returns the groups. */
static json_t *groups_json(struct daemon *d, json_t *list, const char *id)
{
	const struct policy *p = d->policy;
	json_t *groups = json_array(), **members = NULL, *g, *ctrs = NULL;
	size_t i, *count = NULL;

	if (p) {
		struct status_counters sc = { json_object(), d->counts };

		ctrs = sc.all;
		if (nft_read_counters(d->nft, counter_cb, &sc) < 0)
			log_warn("status: cannot read the kernel's counters");
		members = xcalloc(p->n_groups, sizeof(*members));
		count = xcalloc(p->n_groups, sizeof(*count));
		for (i = 0; i < p->n_groups; i++)
			members[i] = json_array();
	}
	for (i = 0; i < inventory_count(d->inv); i++) {
		const struct container *c = inventory_at(d->inv, i);
		unsigned gi;

		if (list && (!id || !strcmp(id, c->id)))
			json_array_append_new(list, container_json(d, c));
		if (!p)
			continue;
		gi = c->group < p->n_groups ? c->group : GROUP_UNASSIGNED;
		if (count[gi]++ < STATUS_MEMBERS)
			json_array_append_new(members[gi], json_pack(
				"{s:s, s:s}", "id", c->id, "name", c->name));
	}
	for (i = 0; p && i < p->n_groups; i++) {
		const struct group *gr = &p->groups[i];

		/* host and world hold no containers and have no mode;
		 * the built-in container groups only when they have some */
		if (i == GROUP_HOST || i == GROUP_WORLD ||
		    ((i == GROUP_UNASSIGNED || i == GROUP_QUARANTINE) &&
		     !count[i])) {
			json_decref(members[i]);
			continue;
		}
		g = json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "name",
			      gr->name, "kind", kind_str(gr), "mode",
			      gr->mode == MODE_AUDIT ? "audit" : "enforce",
			      "count", (json_int_t)count[i],
			      "members", members[i], "counters",
			      group_counters(ctrs, gr->name));
		json_array_append_new(groups, g);
	}
	free(members);
	free(count);
	json_decref(ctrs);
	return groups;
}

/* Each boundary with its place and what its drops counted
 * (boundary_<name>, docs/ruleset.md "Boundaries"); [] without any. */
static json_t *boundaries_json(struct daemon *d)
{
	const struct policy *p = d->policy;
	struct status_counters sc = { NULL, d->counts };
	json_t *a = json_array(), *v;
	char name[64], *at;
	size_t i;

	if (!p || !p->n_boundaries)
		return a;
	sc.all = json_object();
	if (nft_read_counters(d->nft, counter_cb, &sc) < 0)
		log_warn("status: cannot read the kernel's counters");
	for (i = 0; i < p->n_boundaries; i++) {
		const struct boundary *b = &p->boundaries[i];

		snprintf(name, sizeof(name), "boundary_%s", b->name);
		v = json_object_get(sc.all, name);
		at = xasprintf("%s:%u:%u", policy_file(p, b->loc.file),
			       b->loc.line, b->loc.col);
		json_array_append_new(a, json_pack(
			"{s:s, s:s, s:I, s:I}", "name", b->name, "at", at,
			"packets",
			json_integer_value(json_object_get(v, "packets")),
			"bytes",
			json_integer_value(json_object_get(v, "bytes"))));
		free(at);
	}
	json_decref(sc.all);
	return a;
}

static json_t *op_status(struct daemon *d, json_t *req)
{
	char t1[32], t2[32], hash[POLICY_HASH_STRLEN];
	json_t *r, *containers = NULL, *pol, *lr, *v, *engines;
	const char *id = NULL;
	size_t i;

	/* "containers": false leaves the list out (it is most of the reply
	 * on a big host); "id": X lists only that container */
	v = json_object_get(req, "containers");
	if (v && !json_is_boolean(v))
		return control_error(EINVAL, "status: \"containers\" must be "
				     "true or false");
	v = json_object_get(req, "id");
	if (v && !json_is_string(v))
		return control_error(EINVAL, "status: \"id\" must be a "
				     "string");
	id = json_string_value(v);
	if (!json_is_false(json_object_get(req, "containers")))
		containers = json_array();
	r = control_ok();

	json_object_set_new(r, "daemon", json_pack(
		"{s:s, s:i, s:s, s:I, s:s, s:s}", "version", BH_VERSION,
		"pid", (int)getpid(), "started",
		bh_rfc3339(d->started_wall_ms, t1), "uptime_s",
		(json_int_t)((bh_wall_ms() - d->started_wall_ms) / 1000),
		"socket", d->o.socket_path, "state_file",
		state_path(d->state)));
	if (d->policy) {
		json_t *files = json_array();

		for (i = 0; i < d->policy->n_files; i++)
			json_array_append_new(files,
				json_string(d->policy->files[i]));
		pol = json_pack("{s:s, s:o, s:s, s:I, s:I}", "path",
				d->o.policy_path, "files", files, "loaded",
				bh_rfc3339(d->policy_wall_ms, t2), "groups",
				(json_int_t)(d->policy->n_groups -
					     GROUP_FIRST_USER),
				"flows", (json_int_t)d->policy->n_flows);
		json_object_set_new(pol, "hash", json_string(
			policy_hash_hex(d->policy, hash)));
	} else {
		pol = json_null();
		json_object_set_new(r, "degraded", json_string(
			"the start-up policy has errors: the kernel keeps the "
			"table it had; fix the policy and reload"));
	}
	json_object_set_new(r, "policy", pol);
	json_object_set_new(r, "audit_expired",
			    audit_expiry_json(d->policy, policy_today()));
	lr = json_null();
	if (d->last.done)
		lr = json_pack("{s:s, s:b, s:s, s:I, s:o, s:s?, s:{s:I, s:I}}",
			       "time", bh_rfc3339(d->last.wall_ms, t1),
			       "ok", d->last.ok, "trigger", d->last.trigger,
			       "ms", (json_int_t)d->last.took_ms,
			       "errors", d->last.errors ?
			       json_incref(d->last.errors) : json_array(),
			       "error", d->last.error,
			       "conntrack", "seen",
			       (json_int_t)d->last.cut.seen, "cut",
			       (json_int_t)d->last.cut.cut);
	json_object_set_new(r, "last_reload", lr);
	json_object_set_new(r, "groups", groups_json(d, containers, id));
	json_object_set_new(r, "boundaries", boundaries_json(d));
	if (containers)
		json_object_set_new(r, "containers", containers);
	json_object_set_new(r, "last_tamper", d->tamper.wall_ms ? json_pack(
		"{s:s, s:s, s:b}", "time", bh_rfc3339(d->tamper.wall_ms, t2),
		"by", d->tamper.by, "restored", d->tamper.restored) :
		json_null());
	json_object_set_new(r, "colocation", colocation_status(d));
	json_object_set_new(r, "counters", json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
		"colocation", (json_int_t)d->n_colocation,
		"conntrack_cut", (json_int_t)d->n_cut,
		"reloads", (json_int_t)d->n_reloads,
		"reloads_failed", (json_int_t)d->n_reload_failed,
		"attaches", (json_int_t)d->n_attach,
		"detaches", (json_int_t)d->n_detach,
		"commits_full", (json_int_t)d->n_full,
		"commits_delta", (json_int_t)d->n_delta,
		"state_errors", (json_int_t)d->state_errors,
		"tamper_seen", (json_int_t)d->n_tamper,
		"tamper_restored", (json_int_t)d->n_restored));
	json_object_set_new(r, "last_verify", verify_status_json(d));
	json_object_set_new(r, "verify", json_pack("{s:I, s:I, s:I}",
		"interval_s", (json_int_t)d->o.verify_interval_s,
		"runs", (json_int_t)d->n_verify,
		"found_differences", (json_int_t)d->n_verify_diff));
	json_object_set_new(r, "denied", d->denied ?
			    denied_status_json(d->denied) : json_null());
	json_object_set_new(r, "metrics", metrics_status_json(d));
	json_object_set_new(r, "flows", d->observe ?
			    observe_status_json(d->observe) : json_null());
	engines = json_array();
	for (i = 0; i < d->n_engines; i++)
		json_array_append_new(engines,
				      docker_status_json(d->engines[i].src));
	/* "engine" predates several engines: the first one, for its clients */
	json_object_set_new(r, "engine", json_incref(json_array_get(engines,
								     0)) ?:
			    json_null());
	json_object_set_new(r, "engines", engines);
	json_object_set_new(r, "state", state_status_json(d->state));
	json_object_set_new(r, "cluster", d->cluster ?
			    cluster_status_json(d->cluster) : json_null());
	return r;
}

static json_t *op_hosts(struct daemon *d, json_t *req)
{
	json_t *r;

	if (!d->cluster)
		return control_error(ENOENT, "hosts: this daemon runs without "
				     "--etcd (one host)");
	r = control_ok();
	json_object_set_new(r, "hosts", cluster_hosts_json(d->cluster));
	return r;
}

static json_t *op_reload(struct daemon *d, json_t *req)
{
	json_t *errors = NULL, *r;
	char *err = NULL;
	int ret;

	ret = daemon_reload(d, "control", &errors, &err);
	if (ret < 0) {
		r = control_error(-ret, "%s", err);
		json_object_set_new(r, "errors", errors ? errors :
				    json_array());
	} else {
		r = control_ok();
		json_object_set_new(r, "warnings", errors);
		json_object_set_new(r, "cut",
				    json_integer(d->last.cut.cut));
		json_object_set_new(r, "ms", json_integer(
			(json_int_t)d->last.took_ms));
	}
	free(err);
	return r;
}

/* A strict reading: a typo must not silently attach a container
 * unlabelled. */
static struct container *parse_attach(json_t *req, char **err)
{
	struct container *c;
	char *e;

	c = container_from_json(req, CJ_ATTACH, &e);
	if (!c) {
		*err = xasprintf("attach: %s", e);
		free(e);
	}
	return c;
}

static json_t *op_attach(struct daemon *d, json_t *req)
{
	struct container *c;
	char *err = NULL, *why = NULL, *id;
	json_t *r;
	int ret;

	c = parse_attach(req, &err);
	if (!c) {
		r = control_error(EINVAL, "%s", err);
		goto out;
	}
	id = xstrdup(c->id);
	ret = d->sink.attach(d->sink.arg, c, &err);
	if (ret < 0) {
		r = control_error(-ret, "%s", err);
		free(id);
		goto out;
	}
	c = inventory_find(d->inv, id);
	free(id);
	r = control_ok();
	if (c) {
		if (!c->quarantined)
			policy_classify(d->policy, c->labels, c->n_labels,
					&why);
		json_object_set_new(r, "group", json_string(
			daemon_group_name(d, c->group)));
		json_object_set_new(r, "why", json_string(c->quarantined ?
				    "quarantined until its labels are known" :
				    why ? why : ""));
	}
out:
	free(err);
	return r;
}

static json_t *op_detach(struct daemon *d, json_t *req)
{
	const char *id = json_string_value(json_object_get(req, "id"));
	char *err = NULL;
	json_t *r;
	int ret;

	if (!id || !*id)
		return control_error(EINVAL, "detach: \"id\" must be a "
				     "non-empty string");
	ret = source_detach(&d->sink, id, &err);
	r = ret < 0 ? control_error(-ret, "%s", err) : control_ok();
	free(err);
	return r;
}

/* A container id, a container name, or an address. */
static bool resolve(const struct daemon *d, const char *s, struct bh_addr *a,
		    char **err)
{
	const struct container *c = inventory_find(d->inv, s);
	size_t i;

	for (i = 0; !c && i < inventory_count(d->inv); i++)
		if (!strcmp(inventory_at(d->inv, i)->name, s))
			c = inventory_at(d->inv, i);
	if (c) {
		if (!c->n_addrs) {
			*err = xasprintf("container %s has no address", s);
			return false;
		}
		*a = c->addrs[0];
		return true;
	}
	if (bh_addr_parse(s, false, a))
		return true;
	*err = xasprintf("\"%s\" is neither a known container (id or name) "
			 "nor an address", s);
	return false;
}

static json_t *op_explain(struct daemon *d, json_t *req)
{
	const char *from = json_string_value(json_object_get(req, "from"));
	const char *to = json_string_value(json_object_get(req, "to"));
	const char *port = json_string_value(json_object_get(req, "port"));
	const struct container *fc, *tc;
	struct explain_host host = { 0 };
	struct explain_result res;
	struct bh_addr src, dst;
	char *err = NULL;
	uint8_t proto;
	uint16_t dport;
	json_t *r;
	size_t i;

	if (!d->policy)
		return control_error(EAGAIN, "no valid policy is in force");
	if (!from || !to || !port)
		return control_error(EINVAL, "explain: \"from\", \"to\" and "
				     "\"port\" are required strings");
	if (!explain_parse_port(port, &proto, &dport))
		return control_error(EINVAL, "explain: port \"%s\": expected "
				     "tcp/N, udp/N, sctp/N, icmp or icmpv6",
				     port);
	if (!resolve(d, from, &src, &err) || !resolve(d, to, &dst, &err)) {
		r = control_error(ENOENT, "explain: %s", err);
		free(err);
		return r;
	}
	/* a container with addresses of both families: compare like with
	 * like (ICMPv6 asks for IPv6) */
	fc = inventory_find_addr(d->inv, &src);
	tc = inventory_find_addr(d->inv, &dst);
	if (src.family != dst.family || proto == IPPROTO_ICMPV6) {
		int want = proto == IPPROTO_ICMPV6 ? AF_INET6 :
			   proto == IPPROTO_ICMP ? AF_INET :
			   (fc ? dst.family : src.family);

		for (i = 0; fc && src.family != want && i < fc->n_addrs; i++)
			if (fc->addrs[i].family == want)
				src = fc->addrs[i];
		for (i = 0; tc && dst.family != want && i < tc->n_addrs; i++)
			if (tc->addrs[i].family == want)
				dst = tc->addrs[i];
	}
	if (src.family != dst.family)
		return control_error(EINVAL, "explain: %s and %s have no "
				     "address of the same family", from, to);
	explain_host_load(&host);
	explain_decide(d->policy, d->inv, &host, &src, &dst, proto, dport,
		       &res);
	explain_host_free(&host);
	r = control_ok();
	json_object_set_new(r, "explain", explain_result_json(d->policy,
							      &res));
	return r;
}

static json_t *op_ruleset(struct daemon *d, json_t *req)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f;
	json_t *r;

	if (!d->rs)
		return control_error(EAGAIN, "no ruleset: the start-up policy "
				     "had errors (the kernel keeps its "
				     "previous table)");
	f = open_memstream(&text, &len);
	if (!f)
		return control_error(ENOMEM, "out of memory");
	ruleset_print(d->rs, f);
	fclose(f);
	r = control_ok();
	json_object_set_new(r, "text", json_stringn(text, len));
	free(text);
	return r;
}

static json_t *op_denials(struct daemon *d, json_t *req)
{
	json_t *v = json_object_get(req, "after_seq"), *r;
	json_int_t after = 0;

	if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
		return control_error(EINVAL, "denials: \"after_seq\" must be "
				     "a non-negative integer");
	if (v)
		after = json_integer_value(v);
	if (!d->denied)
		return control_error(ENOTCONN, "the denied-flow pipeline is "
				     "not running (see the daemon's log)");
	r = control_ok();
	json_object_update_new(r, denied_recent_json(d->denied, (uint64_t)after));
	return r;
}

static json_t *op_flows(struct daemon *d, json_t *req)
{
	json_t *v = json_object_get(req, "after_seq"), *r;

	if (v && (!json_is_integer(v) || json_integer_value(v) < 0))
		return control_error(EINVAL, "flows: \"after_seq\" must be "
				     "a non-negative integer");
	if (!d->observe)
		return control_error(ENOTCONN, "allowed-flow observations are "
				     "%s", d->o.flow_log ? "not running (see "
				     "the daemon's log)" : "off (--flow-log "
				     "none)");
	r = control_ok();
	json_object_update_new(r, observe_recent_json(d->observe,
			       v ? (uint64_t)json_integer_value(v) : 0));
	return r;
}

static const struct {
	const char *name;
	bool root;
	json_t *(*fn)(struct daemon *d, json_t *req);
} ops[] = {
	{ "status", false, op_status },
	{ "explain", false, op_explain },
	{ "ruleset", false, op_ruleset },
	{ "denials", false, op_denials },
	{ "flows", false, op_flows },
	{ "hosts", false, op_hosts },
	{ "reload", true, op_reload },
	{ "attach", true, op_attach },
	{ "detach", true, op_detach },
	{ "verify", true, op_verify },
};

json_t *daemon_ops_request(void *arg, const char *op, json_t *req,
			   const struct control_peer *peer)
{
	struct daemon *d = arg;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ops); i++) {
		if (strcmp(op, ops[i].name))
			continue;
		if (ops[i].root && peer->uid != 0) {
			log_warn("control: refused %s from uid %u (pid %d)",
				 op, (unsigned)peer->uid, (int)peer->pid);
			return control_error(EPERM, "%s needs uid 0 (you are "
					     "uid %u)", op,
					     (unsigned)peer->uid);
		}
		return ops[i].fn(d, req);
	}
	return control_error(EINVAL, "unknown op \"%s\"", op);
}

