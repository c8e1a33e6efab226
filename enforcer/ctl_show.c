/* bulkheadctl show PATH: the policy as bulkhead understands it, with
 * defaults filled in and flows expanded; stable text for golden tests.
 * Findings go to stderr; a policy with errors is not shown. */
#include <stdio.h>

#include "ctl.h"
#include "policy.h"

int ctl_show(int argc, char **argv)
{
	struct diags d = { 0 };
	struct policy *p;
	int ret;

	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: bulkheadctl show PATH\n");
		return 2;
	}
	p = policy_load(argv[1], &d);
	diags_print(&d, stderr);
	if (!p) {
		fprintf(stderr, "%s: %zu error%s, not shown\n", argv[1],
			d.n_errors, d.n_errors == 1 ? "" : "s");
		ret = 1;
		goto out;
	}
	policy_print(p, stdout);
	ret = fflush(stdout) ? 2 : 0;
out:
	policy_free(p);
	diags_free(&d);
	return ret;
}
