/* bulkheadctl hosts, and the cluster part of bulkheadctl status: what a
 * daemon started with --etcd knows of the other hosts (docs/cluster.md). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"

#define HOSTS_USAGE "hosts [--json]"

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void print_counts(const char *what, json_t *o)
{
	const char *k;
	json_t *v;
	bool first = true;

	if (!json_object_size(o))
		return;
	printf("  remote endpoints per %s:", what);
	json_object_foreach(o, k, v) {
		printf("%s %s %lld", first ? "" : ",", k,
		       (long long)json_integer_value(v));
		first = false;
	}
	printf("\n");
}

void ctl_cluster_print(json_t *c)
{
	json_t *x;
	size_t i;

	if (!json_is_object(c))
		return;
	printf("cluster: host %s, prefix %s, etcd", str(c, "host"),
	       str(c, "prefix"));
	json_array_foreach(json_object_get(c, "endpoints"), i, x)
		printf(" %s", json_string_value(x));
	printf("\n");
	if (json_is_true(json_object_get(c, "stale")))
		printf("  STALE since %s (%s): the remote containers keep "
		       "their last membership; last error: %s\n",
		       str(c, "stale_since"), str(c, "state"),
		       str(c, "last_error"));
	else
		printf("  connected to %s since %s, revision %lld, lease %s "
		       "(TTL %lld s)\n", str(c, "endpoint"), str(c, "up_since"),
		       num(c, "revision"), str(c, "lease"), num(c, "ttl"));
	printf("  %lld hosts, %lld remote endpoints\n", num(c, "hosts"),
	       num(c, "remote_endpoints"));
	print_counts("host", json_object_get(c, "remote_per_host"));
	print_counts("group", json_object_get(c, "remote_per_group"));
	json_array_foreach(json_object_get(c, "warnings"), i, x)
		printf("  WARNING: %s\n", json_string_value(x));
}

int ctl_hosts(int argc, char **argv)
{
	json_t *req, *reply = NULL, *h, *v;
	bool as_json = false;
	char *err = NULL, ttl[24];
	size_t i;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--json")) {
		as_json = true;
	} else if (argc != 1) {
		fprintf(stderr, "bulkheadctl hosts: unexpected argument '%s'\n"
			"usage: bulkheadctl %s\n", argv[1], HOSTS_USAGE);
		return 2;
	}
	req = json_pack("{s:s}", "op", "hosts");
	ret = ctl_call(req, &reply, &err);
	json_decref(req);
	if (ret < 0) {
		fprintf(stderr, "bulkheadctl hosts: %s\n", err);
		free(err);
		ret = reply ? 1 : 2;
		goto out;
	}
	if (as_json) {
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
		goto out;
	}
	printf("%-24s %10s %-16s %9s  %-24s %-24s %s\n", "HOST",
	       "CONTAINERS", "POLICY", "LEASE-TTL", "LAST-CHANGE", "VERSION",
	       "");
	json_array_foreach(json_object_get(reply, "hosts"), i, h) {
		v = json_object_get(h, "lease_ttl_s");
		if (json_is_integer(v))
			snprintf(ttl, sizeof(ttl), "%llds",
				 (long long)json_integer_value(v));
		else
			strcpy(ttl, "?");
		printf("%-24s %10lld %-16s %9s  %-24s %-24s %s%s\n",
		       str(h, "name"), num(h, "containers"),
		       str(h, "policy_hash"), ttl, str(h, "updated"),
		       str(h, "bulkhead_version"),
		       json_is_true(json_object_get(h, "self")) ?
		       "(this host) " : "",
		       json_is_true(json_object_get(h, "policy_differs")) ?
		       "ANOTHER POLICY" : "");
	}
out:
	json_decref(reply);
	return ret;
}
