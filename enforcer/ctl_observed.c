/* The policy and records behind bulkheadctl recommend and readiness
 * (include/ctl_observed.h). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl_observed.h"
#include "util.h"

#define OBSERVED_POLICY_DEFAULT "/etc/bulkhead/groups"

bool ctl_observed_option(struct ctl_observed *o, int c, const char *arg)
{
	switch (c) {
	case 'P':
		free(o->policy_path);
		o->policy_path = xstrdup(arg);
		return true;
	case 'D':
		free(o->denied_file);
		o->denied_file = xstrdup(arg);
		return true;
	case 'L':
		free(o->flows_file);
		o->flows_file = xstrdup(arg);
		return true;
	case 'R':
		free(o->records_dir);
		o->records_dir = xstrdup(arg);
		return true;
	}
	return false;
}

int ctl_observed_policy(struct ctl_observed *o, const char *verb)
{
	struct diags dg = { 0 };
	int ret = 0;

	if (!o->policy_path)
		o->policy_path = ctl_daemon_policy_path(NULL, 0, NULL);
	if (!o->policy_path)
		o->policy_path = xstrdup(OBSERVED_POLICY_DEFAULT);
	o->p = policy_load(o->policy_path, &dg);
	if (!o->p) {
		fprintf(stderr, "bulkheadctl %s: the policy %s has errors:\n",
			verb, o->policy_path);
		diags_print(&dg, stderr);
		ret = 2;
	}
	diags_free(&dg);
	return ret;
}

int ctl_observed_edges(const struct ctl_observed *o, const char *verb,
		       enum ctl_rec_kind kind, uint64_t since_ms,
		       uint64_t until_ms, struct ctl_edge **e, size_t *n)
{
	const char *file = kind == CTL_REC_DENIED ? o->denied_file :
			   o->flows_file;
	char **paths = NULL;
	size_t n_paths = 0;
	uint64_t bad = 0;
	int r;

	*e = NULL;
	*n = 0;
	if (o->records_dir && !file) {
		r = ctl_record_files(o->records_dir, kind, &paths, &n_paths);
		if (r < 0) {
			fprintf(stderr, "bulkheadctl %s: %s: %s\n", verb,
				o->records_dir, strerror(-r));
			return 2;
		}
		r = n_paths ? ctl_records_summary_files(kind, paths, n_paths,
							since_ms, until_ms, e,
							n, &bad) : 0;
		ctl_record_files_free(paths, n_paths);
	} else {
		r = ctl_records_summary(kind, file, since_ms, until_ms, e, n,
					&bad);
	}
	if (r == -ENOENT)
		return 0;
	if (r < 0) {
		fprintf(stderr, "bulkheadctl %s: %s: %s\n", verb, file ? file :
			kind == CTL_REC_DENIED ? "the denied-flow records" :
			"the allowed-flow records", strerror(-r));
		return 2;
	}
	return 0;
}

void ctl_observed_free(struct ctl_observed *o)
{
	free(o->policy_path);
	free(o->denied_file);
	free(o->flows_file);
	free(o->records_dir);
	policy_free(o->p);
}

int ctl_observed_judge(const struct policy *p, const char *from,
		       const char *to)
{
	int f = policy_group_find(p, from), t = policy_group_find(p, to);

	if (t >= 0 && policy_is_container_group(p, (unsigned)t))
		return t;
	if (f >= 0 && policy_is_container_group(p, (unsigned)f))
		return f;
	return -1;
}

static bool spec_admits(const struct port_spec *ps,
			const struct port_spec *svc)
{
	if (!ps->proto)
		return true;
	if (ps->proto != svc->proto)
		return false;
	if (svc->proto == IPPROTO_ICMP || svc->proto == IPPROTO_ICMPV6)
		return true;
	return svc->lo >= ps->lo && svc->hi <= ps->hi;
}

static bool has(const unsigned *v, size_t n, int g)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((int)v[i] == g)
			return true;
	return false;
}

bool ctl_observed_admitted(const struct policy *p, const char *from,
			   const char *to, const struct port_spec *svc,
			   struct src_loc *where)
{
	int f = policy_group_find(p, from), t = policy_group_find(p, to);
	const struct flow *fl;
	size_t i, j;

	if (f < 0 || t < 0)
		return false;
	/* members of one group talk freely unless it says intra: deny */
	if (f == t && p->groups[f].kind == GK_LABELS &&
	    p->groups[f].intra_allow) {
		*where = p->groups[f].loc;
		return true;
	}
	for (i = 0; i < p->n_flows; i++) {
		fl = &p->flows[i];
		if (!has(fl->from, fl->n_from, f) || !has(fl->to, fl->n_to, t))
			continue;
		for (j = 0; j < fl->n_ports; j++)
			if (spec_admits(&fl->ports[j], svc)) {
				*where = fl->loc;
				return true;
			}
	}
	return false;
}
