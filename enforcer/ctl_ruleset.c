/* bulkheadctl ruleset [PATH [--inventory FILE] [--nflog-group N]]:
 * the tables the daemon programs for a policy (and inventory), in
 * `nft -f` syntax, printed from the same model nft.c sends. Without PATH,
 * the running daemon's model. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "inventory.h"
#include "policy.h"
#include "ruleset.h"

static int ruleset_usage(void)
{
	fprintf(stderr, "usage: bulkheadctl ruleset [PATH [--inventory FILE] "
		"[--nflog-group N]]\n");
	return 2;
}

static int ruleset_live(void)
{
	json_t *req = json_pack("{s:s}", "op", "ruleset"), *reply = NULL;
	const char *text;
	char *err = NULL;
	int ret = 2;

	if (ctl_call(req, &reply, &err) < 0) {
		fprintf(stderr, "bulkheadctl: ruleset: %s\n",
			err ? err : "no reply");
		goto out;
	}
	text = json_string_value(json_object_get(reply, "text"));
	if (!text) {
		fprintf(stderr, "bulkheadctl: ruleset: the reply has no "
			"\"text\"\n");
		goto out;
	}
	fputs(text, stdout);
	ret = 0;
out:
	free(err);
	json_decref(req);
	json_decref(reply);
	return ret;
}

int ctl_ruleset(int argc, char **argv)
{
	const char *path = NULL, *inv_path = NULL;
	struct inventory *inv = NULL;
	struct policy *p = NULL;
	struct ruleset *rs = NULL;
	struct diags d = { 0 };
	struct ruleset_opts o;
	long group = -1;
	char *err = NULL, *end;
	int i, ret = 2;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--inventory") && i + 1 < argc) {
			inv_path = argv[++i];
		} else if (!strcmp(argv[i], "--nflog-group") && i + 1 < argc) {
			errno = 0;
			group = strtol(argv[++i], &end, 10);
			if (errno || *end || group < 0 || group > 65535) {
				fprintf(stderr, "bulkheadctl: ruleset: bad "
					"NFLOG group '%s'\n", argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help")) {
			ruleset_usage();
			return 0;
		} else if (argv[i][0] == '-' || path) {
			return ruleset_usage();
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		if (inv_path || group >= 0)
			return ruleset_usage();
		return ruleset_live();
	}
	p = policy_load(path, &d);
	diags_print(&d, stderr);
	if (!p) {
		ret = 1;
		goto out;
	}
	if (inv_path) {
		inv = inventory_load(inv_path, &err);
		if (!inv) {
			fprintf(stderr, "bulkheadctl: %s: %s\n", inv_path, err);
			goto out;
		}
	} else {
		inv = inventory_new();
	}
	inventory_classify(inv, p);
	ruleset_opts_from_policy(&o, p);
	if (group >= 0)
		o.nflog_group = (uint16_t)group;
	rs = ruleset_build(p, inv, &o);
	ruleset_print(rs, stdout);
	ret = fflush(stdout) ? 2 : 0;
out:
	ruleset_free(rs);
	inventory_free(inv);
	policy_free(p);
	diags_free(&d);
	free(err);
	return ret;
}
