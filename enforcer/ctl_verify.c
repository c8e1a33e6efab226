/* bulkheadctl verify [--json]
 * bulkheadctl verify --policy PATH [--state-dir DIR] [--nflog-group N]
 *                    [--guard-ports PREFIX]... [--json]
 * Does the kernel hold what policy × inventory compiles to? Without
 * --policy the running daemon compares the kernel with its own model;
 * with it this process does, from the policy and the daemon's state file,
 * read-only, for when no daemon answers (stopped, hung, crashed).
 * Exit: 0 they match, 1 they differ (every difference listed), 2 usage or
 * cannot read. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "inventory.h"
#include "policy.h"
#include "ruleset.h"
#include "state.h"
#include "util.h"
#include "verify.h"

#define VERIFY_USAGE "verify [--json] | verify --policy PATH " \
		     "[--state-dir DIR] [--nflog-group N] " \
		     "[--guard-ports PREFIX]... [--json]"
#define DEFAULT_STATE_DIR "/var/lib/bulkhead"
#define GUARD_MAX 16

static int usage(const char *why, const char *arg)
{
	fprintf(stderr, "bulkheadctl verify: %s%s%s\nusage: bulkheadctl %s\n",
		why, arg ? " " : "", arg ? arg : "", VERIFY_USAGE);
	return 2;
}

/* Prints a report ({"match","containers","elements","differences",
 * "unlisted"}) and returns the exit code. */
static int print_report(json_t *o, bool as_json)
{
	json_t *d = json_object_get(o, "differences"), *e;
	json_int_t unlisted;
	size_t i;

	if (!json_is_array(d) || !json_is_boolean(json_object_get(o, "match"))) {
		fprintf(stderr, "bulkheadctl verify: malformed reply\n");
		return 2;
	}
	if (as_json) {
		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
	} else if (json_is_true(json_object_get(o, "match"))) {
		printf("kernel matches: %lld containers, %lld elements\n",
		       (long long)json_integer_value(json_object_get(o,
							"containers")),
		       (long long)json_integer_value(json_object_get(o,
							"elements")));
	} else {
		json_array_foreach(d, i, e)
			printf("%s\n", json_string_value(e));
		unlisted = json_integer_value(json_object_get(o, "unlisted"));
		if (unlisted)
			printf("... and %lld more differences\n",
			       (long long)unlisted);
		printf("kernel differs: %zu difference%s (%lld containers, "
		       "%lld elements expected)\n",
		       json_array_size(d) + (size_t)unlisted,
		       json_array_size(d) + (size_t)unlisted == 1 ? "" : "s",
		       (long long)json_integer_value(json_object_get(o,
							"containers")),
		       (long long)json_integer_value(json_object_get(o,
							"elements")));
	}
	fflush(stdout);
	return json_is_true(json_object_get(o, "match")) ? 0 : 1;
}

static int verify_daemon(bool as_json)
{
	json_t *req = json_pack("{s:s}", "op", "verify"), *reply = NULL;
	char *err = NULL;
	int ret;

	ret = ctl_call(req, &reply, &err);
	json_decref(req);
	if (ret < 0) {
		fprintf(stderr, "bulkheadctl verify: %s%s\n", err,
			reply ? "" : " (without a daemon: bulkheadctl verify "
			"--policy PATH [--state-dir DIR])");
		ret = 2;
		goto out;
	}
	ret = print_report(reply, as_json);
out:
	free(err);
	json_decref(reply);
	return ret;
}

static int verify_offline(const char *path, const char *state_dir,
			  long nflog_group, const char *const *guard,
			  size_t n_guard, bool as_json)
{
	struct diags dg = { 0 };
	struct policy *p = NULL;
	struct inventory *inv = NULL;
	struct verify_image *kernel = NULL;
	struct ruleset *rs = NULL;
	struct verify_report r = { 0 };
	struct ruleset_opts o;
	char *err = NULL;
	json_t *j;
	int ret = 2;

	p = policy_load(path, &dg);
	if (!p) {
		diags_print(&dg, stderr);
		fprintf(stderr, "bulkheadctl verify: %s has %zu error%s\n",
			path, dg.n_errors, dg.n_errors == 1 ? "" : "s");
		goto out;
	}
	if (state_read(state_dir, &inv, &err) < 0) {
		fprintf(stderr, "bulkheadctl verify: state in %s: %s\n",
			state_dir, err);
		goto out;
	}
	if (verify_read_kernel(&kernel, &err) < 0) {
		fprintf(stderr, "bulkheadctl verify: %s\n", err);
		goto out;
	}
	ruleset_opts_from_policy(&o, p);
	if (nflog_group >= 0)
		o.nflog_group = (uint16_t)nflog_group;
	o.guard_ports = guard;
	o.n_guard_ports = n_guard;
	rs = verify_model(p, inv, &o, kernel);
	if (verify_compare(rs, NULL, kernel, inventory_count(inv), &r,
			   &err) < 0) {
		fprintf(stderr, "bulkheadctl verify: %s\n", err);
		goto out;
	}
	j = verify_report_json(&r);
	ret = print_report(j, as_json);
	json_decref(j);
out:
	free(err);
	verify_report_free(&r);
	ruleset_free(rs);
	verify_image_free(kernel);
	inventory_free(inv);
	policy_free(p);
	diags_free(&dg);
	return ret;
}

int ctl_verify(int argc, char **argv)
{
	const char *path = NULL, *state_dir = NULL, *guard[GUARD_MAX];
	bool as_json = false;
	long nflog_group = -1;
	size_t n_guard = 0;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		bool has_val = i + 1 < argc;

		if (!strcmp(a, "--json")) {
			as_json = true;
		} else if (!strcmp(a, "--policy") && has_val) {
			path = argv[++i];
		} else if (!strcmp(a, "--state-dir") && has_val) {
			state_dir = argv[++i];
		} else if (!strcmp(a, "--nflog-group") && has_val) {
			errno = 0;
			nflog_group = strtol(argv[++i], &end, 10);
			if (errno || *end || end == argv[i] ||
			    nflog_group < 0 || nflog_group > 65535)
				return usage("--nflog-group: expected 0-65535, "
					     "got", argv[i]);
		} else if (!strcmp(a, "--guard-ports") && has_val) {
			if (n_guard == GUARD_MAX)
				return usage("--guard-ports: at most 16", NULL);
			if (!*argv[i + 1] || strlen(argv[i + 1]) >= 16)
				return usage("--guard-ports: expected a "
					     "prefix of 1-15 bytes, got",
					     argv[i + 1]);
			guard[n_guard++] = argv[++i];
		} else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			printf("usage: bulkheadctl %s\n", VERIFY_USAGE);
			return 0;
		} else {
			return usage("unexpected argument", a);
		}
	}
	if (!path && (state_dir || nflog_group >= 0 || n_guard))
		return usage("--state-dir, --nflog-group and --guard-ports "
			     "go with --policy", NULL);
	if (!path)
		return verify_daemon(as_json);
	return verify_offline(path, state_dir ? state_dir : DEFAULT_STATE_DIR,
			      nflog_group, guard, n_guard, as_json);
}

