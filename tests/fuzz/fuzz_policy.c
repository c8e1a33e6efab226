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
	char *why;

	if (!null_out)
		null_out = fopen("/dev/null", "w");
	p = policy_load_buf("fuzz.yaml", (const char *)data, size, &d);
	if (p) {
		if (null_out)
			policy_print(p, null_out);
		(void)policy_classify(p, labels, 3, &why);
	}
	if (null_out)
		diags_print(&d, null_out);
	policy_free(p);
	diags_free(&d);
	return 0;
}
