/* bulkheadctl diff CANDIDATE [--since 7d] [--records DIR] [--json]
 * [--policy PATH]: replay the traffic this host observed (allow, deny and
 * would-deny records) under the policy in force and under CANDIDATE
 * (replay.h), and list every observation whose verdict or rule would
 * change. Exit 0 when nothing would be newly denied, 1 when something
 * would, 2 for a usage error, unreadable records, or a candidate with
 * errors (reported as `bulkheadctl check` reports them). The output
 * depends on the records and the two policies only: the same input gives
 * the same bytes. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "policy.h"
#include "replay.h"
#include "util.h"

#define DIFF_SINCE_DEFAULT "7d"

static void usage(FILE *out)
{
	fprintf(out,
"usage: bulkheadctl diff CANDIDATE [--since 7d|TIME] [--records DIR]\n"
"           [--policy PATH] [--json]\n"
"  Replays the observed traffic (allow, deny and would-deny records) under\n"
"  the policy in force and under CANDIDATE (a policy file or directory),\n"
"  and lists every observation whose verdict would change: newly denied,\n"
"  newly allowed, changed rule. Each container is judged by the labels it\n"
"  had when seen. Exit 0: nothing newly denied; 1: something would be;\n"
"  2: usage error, unreadable records, or a candidate with errors.\n"
"  --since T      records that ended at or after T (default 7d ago)\n"
"  --records DIR  the record files (*.jsonl) in DIR instead of this\n"
"                 host's (/var/log/bulkhead/denied.jsonl, flows.jsonl)\n"
"  --policy PATH  the policy in force (default: the running daemon's)\n"
"  --json         one JSON object\n");
}

static void add_cb(json_t *rec, void *arg)
{
	replay_add(arg, rec);
}

/* The records that end at or after since_ms of dir's record files
 * (ctl_record_files: *.jsonl and rotated *.jsonl.N), or, when dir is NULL, of
 * the daemon's default files (a missing one is no error). *files: how
 * many were read; *bad: lines skipped. 0 or -errno with the failing path
 * in *err (caller frees). */
static int read_records(struct replay *rp, const char *dir,
			uint64_t since_ms, size_t *files, uint64_t *bad,
			char **err)
{
	static const enum ctl_rec_kind kinds[] = { CTL_REC_DENIED,
						   CTL_REC_FLOWS };
	char **paths = NULL;
	size_t n = 0, i, k;
	int ret = 0;

	*files = 0;
	for (k = 0; k < ARRAY_SIZE(kinds) && !ret; k++) {
		if (!dir) {
			ret = ctl_records_each(kinds[k], NULL, since_ms, add_cb,
					       rp, bad);
			if (ret == -ENOENT) {
				ret = 0;
				continue;
			}
			if (ret < 0)
				*err = xasprintf("the default %s record file",
						 kinds[k] == CTL_REC_DENIED ?
						 "denied-flow" : "flow");
			else
				++*files;
			continue;
		}
		ret = ctl_record_files(dir, kinds[k], &paths, &n);
		if (ret < 0) {
			*err = xstrdup(dir);
			break;
		}
		for (i = 0; i < n && !ret; i++, ++*files) {
			ret = ctl_records_each(kinds[k], paths[i], since_ms,
					       add_cb, rp, bad);
			if (ret < 0)
				*err = xstrdup(paths[i]);
		}
		ctl_record_files_free(paths, n);
	}
	return ret;
}

/* "allow by policy.yaml:9 (flow web -> api tcp/8080)" */
static void print_judgement(const char *which,
			    const struct replay_judgement *j)
{
	printf("  %-10s %s by %s", which, explain_verdict_str(j->verdict),
	       j->rule[0] ? j->rule : "-");
	if (strcmp(j->rule, j->what))
		printf(" (%s)", j->what);
	printf("\n");
}

/* a container's name, else an address, else the recorded group */
static const char *side_text(const struct replay_side *s)
{
	return s->name ? s->name : s->ip ? s->ip : s->group;
}

static void print_side_note(const char *which, const struct replay_side *s)
{
	if (s->container && !s->labels)
		printf("  note       the %s is judged by its recorded group "
		       "%s: its records carry no labels\n", which, s->group);
}

static void print_text(const struct replay *rp, const struct replay_obs **v,
		       const size_t *n)
{
	static const enum replay_change order[] = {
		REPLAY_NEWLY_DENIED, REPLAY_NEWLY_ALLOWED, REPLAY_CHANGED_RULE,
	};
	const struct replay_judgement *a, *b;
	const struct replay_obs *o;
	char svc[32], t1[32], t2[32];
	size_t k, i, off = 0;

	for (k = 0; k < ARRAY_SIZE(order); k++) {
		for (i = 0; i < n[k]; i++) {
			o = v[off + i];
			a = &o->j[REPLAY_NOW];
			b = &o->j[REPLAY_CANDIDATE];
			printf("%s: %s -> %s %s\n", replay_change_str(order[k]),
			       a->from, a->to, replay_service(o, svc));
			print_judgement("now", a);
			print_judgement("candidate", b);
			if (strcmp(a->from, b->from) || strcmp(a->to, b->to))
				printf("  groups     %s -> %s under the "
				       "candidate\n", b->from, b->to);
			printf("  seen       %s .. %s: %llu connection%s, "
			       "%llu packet%s, %llu record%s\n",
			       bh_rfc3339(o->first_ms, t1),
			       bh_rfc3339(o->last_ms, t2),
			       (unsigned long long)o->connections,
			       o->connections == 1 ? "" : "s",
			       (unsigned long long)o->packets,
			       o->packets == 1 ? "" : "s",
			       (unsigned long long)o->records,
			       o->records == 1 ? "" : "s");
			printf("  sides      %s -> %s\n", side_text(&o->src),
			       side_text(&o->dst));
			print_side_note("source", &o->src);
			print_side_note("destination", &o->dst);
		}
		off += n[k];
	}
	printf("%zu observation%s from %llu record%s: %zu newly denied, "
	       "%zu newly allowed, %zu changed rule\n", rp->n,
	       rp->n == 1 ? "" : "s", (unsigned long long)rp->records,
	       rp->records == 1 ? "" : "s", n[0], n[1], n[2]);
}

static json_t *side_json(const struct replay_side *s,
			 const char *now, const char *cand)
{
	/* the group the records gave it, beside what the replay made of it */
	json_t *o = json_pack("{s:s, s:s, s:s, s:b}", "group", now,
			      "candidate_group", cand, "recorded_group",
			      s->group, "container", s->container);

	if (s->name)
		json_object_set_new(o, "name", json_string(s->name));
	if (s->ip)
		json_object_set_new(o, "ip", json_string(s->ip));
	if (s->container)
		json_object_set_new(o, "labels_known",
				    json_boolean(s->labels != NULL));
	return o;
}

static json_t *judgement_json(const struct replay_judgement *j)
{
	return json_pack("{s:s, s:s, s:s}", "verdict",
			 explain_verdict_str(j->verdict), "rule", j->rule,
			 "what", j->what);
}

static void print_json(const struct replay *rp, const struct replay_obs **v,
		       const size_t *n)
{
	static const char *const keys[] = { "newly_denied", "newly_allowed",
					    "changed_rule" };
	json_t *out = json_object(), *a;
	const struct replay_obs *o;
	char svc[32], t[32];
	size_t k, i, off = 0;
	char *s;

	json_object_set_new(out, "observations", json_integer((json_int_t)rp->n));
	json_object_set_new(out, "records",
			    json_integer((json_int_t)rp->records));
	for (k = 0; k < ARRAY_SIZE(keys); k++) {
		a = json_array();
		for (i = 0; i < n[k]; i++) {
			json_t *e = json_object();

			o = v[off + i];
			json_object_set_new(e, "from", side_json(&o->src,
				o->j[REPLAY_NOW].from,
				o->j[REPLAY_CANDIDATE].from));
			json_object_set_new(e, "to", side_json(&o->dst,
				o->j[REPLAY_NOW].to,
				o->j[REPLAY_CANDIDATE].to));
			json_object_set_new(e, "service",
					    json_string(replay_service(o, svc)));
			json_object_set_new(e, "now",
					    judgement_json(&o->j[REPLAY_NOW]));
			json_object_set_new(e, "candidate", judgement_json(
				&o->j[REPLAY_CANDIDATE]));
			json_object_set_new(e, "connections",
				json_integer((json_int_t)o->connections));
			json_object_set_new(e, "packets",
				json_integer((json_int_t)o->packets));
			json_object_set_new(e, "records",
				json_integer((json_int_t)o->records));
			json_object_set_new(e, "first_seen",
				json_string(bh_rfc3339(o->first_ms, t)));
			json_object_set_new(e, "last_seen",
				json_string(bh_rfc3339(o->last_ms, t)));
			json_array_append_new(a, e);
		}
		json_object_set_new(out, keys[k], a);
		off += n[k];
	}
	s = json_dumps(out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	puts(s);
	free(s);
	json_decref(out);
}

/* Within a kind of change: by the groups in force, the service, then
 * the observations' total order (ties never depend on the input order). */
static int shown_cmp(const void *x, const void *y)
{
	const struct replay_obs *a = *(const struct replay_obs *const *)x;
	const struct replay_obs *b = *(const struct replay_obs *const *)y;
	int c = strcmp(a->j[REPLAY_NOW].from, b->j[REPLAY_NOW].from);

	if (!c)
		c = strcmp(a->j[REPLAY_NOW].to, b->j[REPLAY_NOW].to);
	if (!c)
		c = (int)a->proto - (int)b->proto;
	if (!c)
		c = a->port - b->port;
	return c ? c : replay_obs_cmp(a, b);
}

/* Loads the candidate; with errors, `check` says what they are. */
static struct policy *load_candidate(const char *path)
{
	char *argv[] = { "check", (char *)path, NULL };
	struct diags d = { 0 };
	struct policy *p = policy_load(path, &d);

	if (p)
		diags_print(&d, stderr);	/* its warnings */
	diags_free(&d);
	if (!p) {
		fflush(stdout);
		ctl_check(2, argv);
	}
	return p;
}

int ctl_diff(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "records", required_argument, NULL, 'r' },
		{ "policy", required_argument, NULL, 'P' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *since = DIFF_SINCE_DEFAULT, *dir = NULL, *cand_path;
	char *now_path = NULL, *why = NULL, *err = NULL;
	char hash[POLICY_HASH_STRLEN], hex[POLICY_HASH_STRLEN];
	struct policy *now = NULL, *cand = NULL;
	const struct replay_obs **v = NULL;
	struct replay *rp = NULL;
	struct diags d = { 0 };
	uint64_t since_ms, bad = 0;
	size_t n[3] = { 0 }, files, i, k;
	bool json = false;
	int c, ret = 2;

	optind = 1;
	opterr = 0;
	hash[0] = '\0';
	/* CANDIDATE may come before the options: GNU's permutation */
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			since = optarg;
			break;
		case 'r':
			dir = optarg;
			break;
		case 'P':
			free(now_path);
			now_path = xstrdup(optarg);
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			ret = 0;
			goto out;
		default:
			fprintf(stderr, "bulkheadctl diff: unknown or "
				"incomplete option '%s'\n", argv[optind - 1]);
			usage(stderr);
			goto out;
		}
	}
	if (argc - optind != 1) {
		fprintf(stderr, "bulkheadctl diff: %s\n", argc - optind ?
			"one CANDIDATE only" : "which CANDIDATE policy?");
		usage(stderr);
		goto out;
	}
	cand_path = argv[optind];
	if (!ctl_when_arg("diff", "since", since, bh_wall_ms(), &since_ms))
		goto out;
	cand = load_candidate(cand_path);
	if (!cand)
		goto out;
	if (!now_path) {
		now_path = ctl_daemon_policy_path(hash, sizeof(hash), &why);
		if (!now_path) {
			fprintf(stderr, "bulkheadctl diff: the policy in force: "
				"%s; give it with --policy PATH\n", why);
			goto out;
		}
	}
	now = policy_load(now_path, &d);
	if (!now) {
		fprintf(stderr, "bulkheadctl diff: the policy in force, %s, "
			"has errors now:\n", now_path);
		diags_print(&d, stderr);
		goto out;
	}
	if (hash[0] && strcmp(hash, policy_hash_hex(now, hex)))
		fprintf(stderr, "bulkheadctl diff: %s changed since the daemon "
			"loaded it (hash %.12s, now %.12s): replaying under the "
			"file as it is now\n", now_path, hash, hex);
	rp = replay_new();
	c = read_records(rp, dir, since_ms, &files, &bad, &err);
	if (c < 0) {
		fprintf(stderr, "bulkheadctl diff: %s: %s\n", err,
			strerror(-c));
		goto out;
	}
	if (dir && !files) {
		fprintf(stderr, "bulkheadctl diff: %s: no record files "
			"(*.jsonl) in it\n", dir);
		goto out;
	}
	/* not an error: a host whose daemon has written nothing yet */
	if (!files)
		fprintf(stderr, "bulkheadctl diff: no record files at "
			"/var/log/bulkhead (denied.jsonl, flows.jsonl): "
			"nothing to replay; --records DIR reads others\n");
	if (bad)
		fprintf(stderr, "bulkheadctl diff: %llu line(s) skipped\n",
			(unsigned long long)bad);
	replay_sort(rp);
	replay_judge(rp, now, REPLAY_NOW);
	replay_judge(rp, cand, REPLAY_CANDIDATE);
	/* by kind of change, each in the observations' order */
	v = xcalloc(rp->n + 1, sizeof(*v));
	for (k = 0, c = 0; k < 3; k++) {
		for (i = 0; i < rp->n; i++)
			if (replay_change_of(&rp->obs[i]) ==
			    (enum replay_change)(REPLAY_NEWLY_DENIED + k)) {
				v[c++] = &rp->obs[i];
				n[k]++;
			}
		qsort(v + c - n[k], n[k], sizeof(*v), shown_cmp);
	}
	if (json)
		print_json(rp, v, n);
	else
		print_text(rp, v, n);
	ret = n[0] ? 1 : 0;
out:
	fflush(stdout);
	free(v);
	replay_free(rp);
	policy_free(now);
	policy_free(cand);
	diags_free(&d);
	free(now_path);
	free(why);
	free(err);
	return ret;
}
