/* libFuzzer harness for the policy loader: any bytes must give either a
 * policy or findings, within bounded time and memory, and leave nothing
 * behind. A loaded policy is also printed and asked to classify, so that
 * the model's code sees what the loader accepted. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *null_out;
	static const struct kv labels[] = {
		{ (char *)"bulkhead.purpose", (char *)"web" },
		{ (char *)"bulkhead.risk", (char *)"exposed" },
		{ (char *)"bulkhead.tier", (char *)"1" },
	};
	struct diags d = { 0 };
	struct policy *p;
	size_t i, pairs = 0;
	char *why;

	if (!null_out)
		null_out = fopen("/dev/null", "w");
	p = policy_load_buf("fuzz.yaml", (const char *)data, size, &d);
	/* show expands every (from, to) pair, which a small input can make
	 * quadratic on purpose; that is the admin's request to see, not a
	 * bug, so leave such inputs to the loader alone. */
	for (i = 0; p && i < p->n_flows; i++)
		pairs += p->flows[i].n_from * p->flows[i].n_to;
	if (p) {
		if (null_out && pairs <= 10000)
			policy_print(p, null_out);
		(void)policy_classify(p, labels, 3, &why);
	}
	if (null_out)
		diags_print(&d, null_out);
	policy_free(p);
	diags_free(&d);
	return 0;
}
