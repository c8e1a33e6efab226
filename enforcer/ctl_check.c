/* bulkheadctl check PATH... [--strict] [--hash]: load each policy as the daemon
 * would and report every finding. Findings go to stderr, one
 * FILE:LINE:COL line each (what editors and CI annotate); a one-line
 * summary per PATH goes to stdout. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "policy.h"

static size_t user_groups(const struct policy *p)
{
	return p->n_groups - GROUP_FIRST_USER;
}

int ctl_check(int argc, char **argv)
{
	bool strict = false, failed = false, hash = false;
	char hex[POLICY_HASH_STRLEN];
	struct diags d;
	struct policy *p;
	int i, n_paths = 0, ret = 2;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--strict"))
			strict = true;
		else if (!strcmp(argv[i], "--hash"))
			hash = true;
		else if (argv[i][0] == '-' && argv[i][1])
			goto usage;
		else
			n_paths++;
	}
	if (!n_paths)
		goto usage;
	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--strict") || !strcmp(argv[i], "--hash"))
			continue;
		memset(&d, 0, sizeof(d));
		p = policy_load(argv[i], &d);
		diags_print(&d, stderr);
		if (p && !d.n_warnings)
			printf("%s: ok (%zu group%s, %zu flow%s)\n", argv[i],
			       user_groups(p), user_groups(p) == 1 ? "" : "s",
			       p->n_flows, p->n_flows == 1 ? "" : "s");
		else
			printf("%s: %zu error%s, %zu warning%s\n", argv[i],
			       d.n_errors, d.n_errors == 1 ? "" : "s",
			       d.n_warnings, d.n_warnings == 1 ? "" : "s");
		if (p && hash)
			printf("%s: policy hash %s\n", argv[i],
			       policy_hash_hex(p, hex));
		if (d.n_errors || (strict && d.n_warnings))
			failed = true;
		policy_free(p);
		diags_free(&d);
	}
	ret = failed ? 1 : 0;
	goto out;
usage:
	fprintf(stderr, "usage: bulkheadctl check PATH... [--strict] [--hash]\n"
		"  PATH is a policy file or a directory of *.yaml files;\n"
		"  --strict fails on warnings too;\n"
		"  --hash prints the policy's hash, as records and status "
		"name it\n");
out:
	fflush(stdout);
	return ret;
}
