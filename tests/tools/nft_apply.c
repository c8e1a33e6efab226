/* nft_apply: drive the real writer (nft.c) against the kernel of the
 * current network namespace, for tests/e2e/nft_commit.t.
 *
 *   nft_apply POLICY INVENTORY [options]
 *     --no-full          do not commit the whole table first
 *     --add FILE         then attach the containers of FILE (one delta)
 *     --del ID           then detach container ID (one delta; repeatable)
 *     --relabel ID K=V   then move ID to the group of its new label
 *     --print            print the model after everything (nft syntax)
 *     --counters         print "table name packets bytes" per counter
 *     --shrink-set NAME  test hook: size 1 for that set (kernel refuses)
 *     --bad-flow-rule    test hook: a flow rule looks up a set of the
 *                        wrong family (kernel refuses; error has YAML loc)
 *     --exists           print whether table inet bulkhead exists
 *     --delete           delete the tables (bulkheadd --flush-on-exit)
 * Exit 0 on success, 1 when the kernel refused (message on stderr), 2 on
 * usage or input errors. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "inventory.h"
#include "nft.h"
#include "policy.h"
#include "ruleset.h"

static void print_counter(const char *name, enum rs_table t, uint64_t pk,
			  uint64_t by, void *arg)
{
	(void)arg;
	printf("%s %s %llu %llu\n", t == RS_BRIDGE ? "bridge" : "inet", name,
	       (unsigned long long)pk, (unsigned long long)by);
}

static int commit_delta(struct nft_writer *w, struct ruleset *rs,
			struct rs_delta *d)
{
	struct nft_error e;
	int r = nft_commit_delta(w, rs, d, &e);

	if (r < 0) {
		fprintf(stderr, "nft_apply: delta: %s\n", e.msg);
		return 1;
	}
	ruleset_apply_delta(rs, d);
	d->n = 0;
	return 0;
}

static void corrupt_flow_rule(struct ruleset *rs)
{
	size_t i, k;

	for (i = 0; i < rs->n_rules; i++) {
		struct rs_rule *r = &rs->rules[i];

		if (!r->has_loc)
			continue;
		for (k = 0; k < r->n_m; k++)
			if (r->m[k].kind == RM_ADDR_SET) {
				/* a 4-byte key against an IPv6 set */
				r->m[k].set = (uint32_t)rs->bits[1][0];
				r->m[k].family = 4;
				return;
			}
	}
}

int main(int argc, char **argv)
{
	struct inventory *inv = NULL, *add = NULL;
	struct nft_writer *w = NULL;
	struct ruleset *rs = NULL;
	struct policy *p = NULL;
	struct rs_delta *d = rs_delta_new();
	struct diags dg = { 0 };
	struct ruleset_opts o;
	struct nft_error e;
	char *err = NULL;
	bool full = true;
	int i, r, ret = 2;
	size_t j;

	if (argc < 3) {
		fprintf(stderr, "usage: nft_apply POLICY INVENTORY [options]\n");
		goto out;
	}
	p = policy_load(argv[1], &dg);
	diags_print(&dg, stderr);
	if (!p)
		goto out;
	inv = inventory_load(argv[2], &err);
	if (!inv) {
		fprintf(stderr, "nft_apply: %s: %s\n", argv[2], err);
		goto out;
	}
	inventory_classify(inv, p);
	ruleset_opts_from_policy(&o, p);
	rs = ruleset_build(p, inv, &o);
	r = nft_open(&w);
	if (r < 0) {
		fprintf(stderr, "nft_apply: netlink: %s\n", strerror(-r));
		goto out;
	}
	for (i = 3; i < argc; i++) {
		if (!strcmp(argv[i], "--no-full"))
			full = false;
		else if (!strcmp(argv[i], "--bad-flow-rule"))
			corrupt_flow_rule(rs);
		else if (!strcmp(argv[i], "--shrink-set") && i + 1 < argc) {
			for (j = 0; j < rs->n_sets; j++)
				if (!strcmp(rs->sets[j].name, argv[i + 1]))
					rs->sets[j].size = 1;
			i++;
		}
	}
	if (full) {
		r = nft_commit_full(w, rs, NULL, inv, &e);
		if (r < 0) {
			fprintf(stderr, "nft_apply: full: %s\n", e.msg);
			ret = 1;
			goto out;
		}
	}
	ret = 0;
	for (i = 3; i < argc && !ret; i++) {
		struct container *c;

		if (!strcmp(argv[i], "--add") && i + 1 < argc) {
			add = inventory_load(argv[++i], &err);
			if (!add) {
				fprintf(stderr, "nft_apply: %s: %s\n", argv[i],
					err);
				ret = 2;
				break;
			}
			inventory_classify(add, p);
			while (inventory_count(add)) {
				c = inventory_remove(add,
						     inventory_at(add, 0)->id);
				ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
				if (inventory_add(inv, c) < 0) {
					fprintf(stderr, "nft_apply: duplicate "
						"container\n");
					ret = 2;
					break;
				}
			}
			if (!ret)
				ret = commit_delta(w, rs, d);
		} else if (!strcmp(argv[i], "--del") && i + 1 < argc) {
			c = inventory_remove(inv, argv[++i]);
			if (!c) {
				fprintf(stderr, "nft_apply: no container %s\n",
					argv[i]);
				ret = 2;
				break;
			}
			ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
			container_free(c);
			ret = commit_delta(w, rs, d);
		} else if (!strcmp(argv[i], "--relabel") && i + 2 < argc) {
			char *kv = argv[i + 2], *eq = strchr(kv, '=');

			c = inventory_find(inv, argv[i + 1]);
			i += 2;
			if (!c || !eq) {
				fprintf(stderr, "nft_apply: bad --relabel\n");
				ret = 2;
				break;
			}
			ruleset_container_delta(rs, c, RS_ELEM_DEL, d);
			*eq = 0;
			container_add_label(c, kv, eq + 1);
			container_classify(c, p);
			ruleset_container_delta(rs, c, RS_ELEM_ADD, d);
			ret = commit_delta(w, rs, d);
		} else if (!strcmp(argv[i], "--print")) {
			ruleset_print(rs, stdout);
		} else if (!strcmp(argv[i], "--counters")) {
			r = nft_read_counters(w, print_counter, NULL);
			if (r < 0) {
				fprintf(stderr, "nft_apply: counters: %s\n",
					strerror(-r));
				ret = 1;
			}
		} else if (!strcmp(argv[i], "--delete")) {
			r = nft_delete_table(w, &e);
			if (r < 0) {
				fprintf(stderr, "nft_apply: delete: %s\n",
					e.msg);
				ret = 1;
			}
		} else if (!strcmp(argv[i], "--exists")) {
			printf("exists %d\n", nft_table_exists(w));
		} else if (!strcmp(argv[i], "--shrink-set")) {
			i++;
		}
	}
out:
	free(err);
	rs_delta_free(d);
	nft_close(w);
	ruleset_free(rs);
	inventory_free(inv);
	inventory_free(add);
	policy_free(p);
	diags_free(&dg);
	return ret;
}
