/* The verbs that talk to a running bulkheadd: attach, detach, status,
 * reload, explain. Each builds one request for ctl_call() and prints the
 * reply for people (or, with --json, as the daemon sent it). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"
#include "util.h"

static int usage_err(const char *verb, const char *usage, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));

static int usage_err(const char *verb, const char *usage, const char *fmt,
		     ...)
{
	va_list ap;

	fprintf(stderr, "bulkheadctl %s: ", verb);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: bulkheadctl %s\n", usage);
	return 2;
}

/* 0 with *reply, or prints why and returns the exit code. */
static int call(const char *verb, json_t *req, json_t **reply)
{
	char *err = NULL;
	int ret;

	ret = ctl_call(req, reply, &err);
	json_decref(req);
	if (ret == 0)
		return 0;
	fprintf(stderr, "bulkheadctl %s: %s\n", verb, err);
	free(err);
	/* the daemon said no (EPERM, EINVAL, ENOENT...) vs. no daemon */
	return *reply ? 1 : 2;
}

#define ATTACH_USAGE "attach --id ID --name NAME --label KEY=VALUE... " \
		     "{--ip ADDR... [--ifname IF] | " \
		     "--port IFNAME=ADDR[,ADDR...]...}"

/* --port IFNAME=ADDR[,ADDR...]: one port and its own addresses. */
static json_t *port_arg(const char *arg)
{
	const char *eq = strchr(arg, '='), *p, *comma;
	json_t *ips;

	if (!eq || eq == arg || !eq[1])
		return NULL;
	ips = json_array();
	for (p = eq + 1; *p; p = *comma ? comma + 1 : comma) {
		comma = strchrnul(p, ',');
		json_array_append_new(ips, json_stringn(p, (size_t)(comma - p)));
	}
	return json_pack("{s:s%, s:o}", "ifname", arg, (size_t)(eq - arg),
			 "ips", ips);
}

int ctl_attach(int argc, char **argv)
{
	json_t *labels = json_object(), *ips = json_array(), *req, *reply;
	json_t *ports = json_array(), *port;
	const char *id = NULL, *name = NULL, *ifname = NULL, *eq;
	char *key;
	int i, ret;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (!strcmp(o, "--label")) {
			if (i + 1 >= argc)
				goto missing;
			/* --label K=V [K=V ...] and repeated --label */
			while (i + 1 < argc && strncmp(argv[i + 1], "--", 2)) {
				const char *kv = argv[++i];

				eq = strchr(kv, '=');
				if (!eq || eq == kv) {
					ret = usage_err("attach", ATTACH_USAGE,
							"label '%s': expected "
							"KEY=VALUE", kv);
					goto out;
				}
				key = xstrndup(kv, (size_t)(eq - kv));
				json_object_set_new(labels, key,
						    json_string(eq + 1));
				free(key);
			}
		} else if (!strcmp(o, "--ip")) {
			if (i + 1 >= argc)
				goto missing;
			while (i + 1 < argc && strncmp(argv[i + 1], "--", 2))
				json_array_append_new(ips,
						      json_string(argv[++i]));
		} else if (!strcmp(o, "--id") && i + 1 < argc) {
			id = argv[++i];
		} else if (!strcmp(o, "--name") && i + 1 < argc) {
			name = argv[++i];
		} else if (!strcmp(o, "--ifname") && i + 1 < argc) {
			ifname = argv[++i];
		} else if (!strcmp(o, "--port") && i + 1 < argc) {
			port = port_arg(argv[++i]);
			if (!port) {
				ret = usage_err("attach", ATTACH_USAGE,
						"port '%s': expected "
						"IFNAME=ADDR[,ADDR...]",
						argv[i]);
				goto out;
			}
			json_array_append_new(ports, port);
		} else if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
			printf("usage: bulkheadctl %s\n", ATTACH_USAGE);
			ret = 0;
			goto out;
		} else {
			ret = usage_err("attach", ATTACH_USAGE,
					"unknown or incomplete option '%s'", o);
			goto out;
		}
	}
	if (!id) {
		ret = usage_err("attach", ATTACH_USAGE, "%s", "--id is required");
		goto out;
	}
	if (!json_array_size(ips) && !json_array_size(ports)) {
		ret = usage_err("attach", ATTACH_USAGE, "%s",
				"at least one --ip or --port is required");
		goto out;
	}
	if (ifname && json_array_size(ports)) {
		ret = usage_err("attach", ATTACH_USAGE, "%s",
				"--ifname and --port do not go together "
				"(--port names each port)");
		goto out;
	}
	req = json_pack("{s:s, s:s, s:s, s:O, s:O}", "op", "attach",
			"id", id, "name", name ? name : id, "labels", labels,
			"ips", ips);
	if (json_array_size(ports))
		json_object_set(req, "ports", ports);
	else
		json_object_set_new(req, "ifname",
				    json_string(ifname ? ifname : ""));
	ret = call("attach", req, &reply);
	if (!ret)
		printf("%s: group %s (%s)\n", name ? name : id,
		       json_string_value(json_object_get(reply, "group")) ?:
		       "?",
		       json_string_value(json_object_get(reply, "why")) ?: "");
	json_decref(reply);
	goto out;
missing:
	ret = usage_err("attach", ATTACH_USAGE, "%s needs a value", argv[i]);
out:
	json_decref(labels);
	json_decref(ips);
	json_decref(ports);
	return ret;
}

int ctl_detach(int argc, char **argv)
{
	json_t *reply = NULL;
	int ret;

	if (argc != 3 || strcmp(argv[1], "--id"))
		return usage_err("detach", "detach --id ID", "%s",
				 "expected --id ID");
	ret = call("detach", json_pack("{s:s, s:s}", "op", "detach", "id",
				       argv[2]), &reply);
	if (!ret)
		printf("detached %s\n", argv[2]);
	json_decref(reply);
	return ret;
}

int ctl_reload(int argc, char **argv)
{
	json_t *req, *reply = NULL, *errs, *e;
	char *err = NULL;
	size_t i;
	int ret;

	if (argc != 1)
		return usage_err("reload", "reload", "unexpected argument '%s'",
				 argv[1]);
	req = json_pack("{s:s}", "op", "reload");
	ret = ctl_call(req, &reply, &err);
	json_decref(req);
	if (ret < 0) {
		/* each finding on its own line, as `bulkheadctl check` */
		errs = json_object_get(reply, "errors");
		json_array_foreach(errs, i, e)
			fprintf(stderr, "%s\n", json_string_value(e));
		fprintf(stderr, "bulkheadctl reload: %s\n", err);
		ret = reply ? 1 : 2;
		goto out;
	}
	errs = json_object_get(reply, "warnings");
	json_array_foreach(errs, i, e)
		fprintf(stderr, "%s\n", json_string_value(e));
	printf("reloaded in %lld ms; %lld connection(s) cut\n",
	       (long long)json_integer_value(json_object_get(reply, "ms")),
	       (long long)json_integer_value(json_object_get(reply, "cut")));
out:
	free(err);
	json_decref(reply);
	return ret;
}

static const char *str(json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long num(json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void print_status(json_t *r)
{
	json_t *d = json_object_get(r, "daemon"), *p, *lr, *g, *m, *x, *dn;
	json_t *tamper, *y;
	size_t i, j;

	printf("bulkheadd %s, pid %lld, started %s, socket %s\n",
	       str(d, "version"), num(d, "pid"), str(d, "started"),
	       str(d, "socket"));
	p = json_object_get(r, "policy");
	if (json_is_object(p))
		printf("policy: %s, loaded %s: %lld groups, %lld flows, "
		       "hash %s\n", str(p, "path"), str(p, "loaded"),
		       num(p, "groups"), num(p, "flows"), str(p, "hash"));
	else
		printf("policy: NONE in force: %s\n", str(r, "degraded"));
	json_array_foreach(json_object_get(r, "audit_expired"), i, x)
		printf("audit expired: group %s in mode: audit past %s (%lld "
		       "days): enforcement unchanged\n", str(x, "group"),
		       str(x, "until"), num(x, "days_past"));
	lr = json_object_get(r, "last_reload");
	if (json_is_object(lr)) {
		printf("last reload: %s %s (%s, %lld ms)", str(lr, "time"),
		       json_is_true(json_object_get(lr, "ok")) ? "ok" :
		       "FAILED", str(lr, "trigger"), num(lr, "ms"));
		if (json_is_true(json_object_get(lr, "ok")))
			printf(", %lld connection(s) cut\n",
			       num(json_object_get(lr, "conntrack"), "cut"));
		else
			printf(": %s\n", str(lr, "error"));
		json_array_foreach(json_object_get(lr, "errors"), i, x)
			printf("  %s\n", json_string_value(x));
	} else {
		printf("last reload: none since start\n");
	}
	printf("\n%-16s %-8s %-8s %9s %9s %7s  %s\n", "GROUP", "KIND", "MODE",
	       "DENIED-IN", "DENIED-OUT", "MEMBERS", "");
	json_array_foreach(json_object_get(r, "groups"), i, g) {
		x = json_object_get(g, "counters");
		printf("%-16s %-8s %-8s %9lld %10lld %7lld  ", str(g, "name"),
		       str(g, "kind"), str(g, "mode"),
		       num(json_object_get(x, "denied_in"), "packets"),
		       num(json_object_get(x, "denied_out"), "packets"),
		       num(g, "count"));
		json_array_foreach(json_object_get(g, "members"), j, m) {
			if (j == 8) {
				printf("...");
				break;
			}
			printf("%s%s", j ? " " : "", str(m, "name"));
		}
		printf("\n");
	}
	x = json_object_get(r, "counters");
	printf("\nchanges: %lld attach, %lld detach, %lld reloads "
	       "(%lld failed); commits: %lld full, %lld delta\n",
	       num(x, "attaches"), num(x, "detaches"), num(x, "reloads"),
	       num(x, "reloads_failed"), num(x, "commits_full"),
	       num(x, "commits_delta"));
	tamper = json_object_get(r, "last_tamper");
	if (json_is_object(tamper))
		printf("TABLE CHANGED by %s at %s: %s (%lld changes seen, %lld "
		       "put back)\n", str(tamper, "by"), str(tamper, "time"),
		       json_is_true(json_object_get(tamper, "restored")) ?
		       "put back" : "NOT put back, see the log",
		       num(x, "tamper_seen"), num(x, "tamper_restored"));
	/* the kernel read back and compared (bulkheadctl verify) */
	x = json_object_get(r, "last_verify");
	if (json_is_object(x) && json_is_string(json_object_get(x, "error")))
		printf("last verify: %s (%s): CANNOT READ the kernel: %s\n",
		       str(x, "time"), str(x, "trigger"), str(x, "error"));
	else if (json_is_object(x) && json_is_true(json_object_get(x, "match")))
		printf("last verify: %s (%s): kernel matches: %lld containers, "
		       "%lld elements\n", str(x, "time"), str(x, "trigger"),
		       num(x, "containers"), num(x, "elements"));
	else if (json_is_object(x))
		printf("last verify: %s (%s): KERNEL DIFFERED in %lld places, "
		       "put back (bulkheadctl status --json lists them)\n",
		       str(x, "time"), str(x, "trigger"),
		       (long long)json_array_size(json_object_get(x,
				"differences")) + num(x, "unlisted"));
	else
		printf("last verify: none since start\n");
	dn = json_object_get(r, "denied");
	if (json_is_object(dn))
		printf("denied flows: %lld records, %lld packets logged, "
		       "%lld denied by the kernel, %lld not logged (rate "
		       "limit), %lld lost -> %s\n",
		       num(dn, "records"), num(dn, "packets"),
		       num(dn, "kernel_denied"), num(dn, "kernel_unlogged"),
		       num(dn, "lost"), str(dn, "file"));
	else
		printf("denied flows: not reported (pipeline not running)\n");
	if (json_is_object(dn) && num(dn, "unwritten"))
		printf("denied flows: %lld records (%lld packets) NOT WRITTEN "
		       "to the file (%lld write errors); the next record "
		       "written counts them\n", num(dn, "unwritten"),
		       num(dn, "unwritten_packets"), num(dn, "write_errors"));
	json_array_foreach(json_object_get(r, "boundaries"), i, x)
		printf("boundary %s (%s): %lld packets dropped\n",
		       str(x, "name"), str(x, "at"), num(x, "packets"));
	dn = json_object_get(r, "colocation");
	if (json_is_object(dn)) {
		printf("co-location (%s): %zu held in quarantine, %zu mixing, "
		       "%lld conflicts reported",
		       str(dn, "mode"),
		       json_array_size(json_object_get(dn, "held")),
		       json_array_size(json_object_get(dn, "mixing")),
		       num(json_object_get(r, "counters"), "colocation"));
		json_array_foreach(json_object_get(dn, "held"), j, y)
			printf("%s %s", j ? "," : ";", str(y, "name"));
		printf("\n");
	}
	dn = json_object_get(r, "flows");
	if (json_is_object(dn))
		printf("allowed flows: %lld records, %lld connections, %lld "
		       "ended, %lld events lost (%lld ENOBUFS)%s -> %s\n",
		       num(dn, "records"), num(dn, "connections"),
		       num(dn, "ended"), num(dn, "lost"), num(dn, "enobufs"),
		       json_is_true(json_object_get(dn, "accounting")) ? "" :
		       ", no packet/byte accounting", str(dn, "file"));
	else
		printf("allowed flows: not observed (--flow-log none, or see "
		       "the daemon's log)\n");
	json_array_foreach(json_object_get(r, "engines"), i, x) {
		printf("engine %s: %s%s since %s, %lld containers",
		       str(x, "url"), str(x, "state"),
		       json_is_true(json_object_get(x, "stale")) ?
		       " (STALE: its containers keep their last policy)" : "",
		       str(x, "since"), num(x, "containers"));
		if (json_is_string(json_object_get(x, "last_error")))
			printf("; last error: %s", str(x, "last_error"));
		printf("\n");
	}
	x = json_object_get(r, "state");
	if (json_is_false(json_object_get(x, "saved")))
		printf("state: NOT SAVED since %s (%s): a restart would not "
		       "know the changes since; retrying\n", str(x, "since"),
		       str(x, "error"));
	ctl_cluster_print(json_object_get(r, "cluster"));
	printf("(DENIED: packets the group's deny chains counted; in audit "
	       "mode they passed)\n");
}

int ctl_status(int argc, char **argv)
{
	json_t *reply = NULL;
	bool as_json = false;
	int ret;

	if (argc == 2 && !strcmp(argv[1], "--json"))
		as_json = true;
	else if (argc != 1)
		return usage_err("status", "status [--json]",
				 "unexpected argument '%s'", argv[1]);
	ret = call("status", as_json ? json_pack("{s:s}", "op", "status") :
		   json_pack("{s:s, s:b}", "op", "status", "containers", 0),
		   &reply);
	if (ret)
		goto out;
	if (as_json) {
		json_dumpf(reply, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		print_status(reply);
	}
out:
	json_decref(reply);
	return ret;
}

#define EXPLAIN_USAGE "explain --from C|ADDR --to C|ADDR --port PROTO/N " \
		      "[--json]"

static void print_side(const char *label, json_t *s)
{
	json_t *c = json_object_get(s, "container");

	printf("  %-4s %-24s group %-12s %s\n", label, str(s, "addr"),
	       json_is_string(json_object_get(s, "group")) ?
	       str(s, "group") : "-", str(s, "why"));
	(void)c;
}

int ctl_explain(int argc, char **argv)
{
	const char *from = NULL, *to = NULL, *port = NULL, *v;
	json_t *reply = NULL, *x, *fl;
	bool as_json = false;
	int i, ret;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--from") && i + 1 < argc)
			from = argv[++i];
		else if (!strcmp(argv[i], "--to") && i + 1 < argc)
			to = argv[++i];
		else if (!strcmp(argv[i], "--port") && i + 1 < argc)
			port = argv[++i];
		else if (!strcmp(argv[i], "--json"))
			as_json = true;
		else
			return usage_err("explain", EXPLAIN_USAGE,
					 "unknown or incomplete option '%s'",
					 argv[i]);
	}
	if (!from || !to || !port)
		return usage_err("explain", EXPLAIN_USAGE, "%s",
				 "--from, --to and --port are required");
	ret = call("explain", json_pack("{s:s, s:s, s:s, s:s}", "op",
					"explain", "from", from, "to", to,
					"port", port), &reply);
	if (ret)
		goto out;
	x = json_object_get(reply, "explain");
	v = str(x, "verdict");
	if (as_json) {
		json_dumpf(x, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		printf("%s: %s", v, str(x, "by"));
		fl = json_object_get(x, "flow");
		if (json_is_object(fl)) {
			char *f = json_dumps(json_object_get(fl, "from"),
					     JSON_COMPACT);
			char *t = json_dumps(json_object_get(fl, "to"),
					     JSON_COMPACT);

			printf(" (from %s to %s, %s)", f, t, str(fl, "port"));
			free(f);
			free(t);
		}
		printf("\n");
		if (*str(x, "rule"))
			printf("  rule %s\n", str(x, "rule"));
		print_side("from", json_object_get(x, "src"));
		print_side("to", json_object_get(x, "dst"));
	}
	/* denied is a finding: exit 1, as check's errors */
	ret = !strcmp(v, "deny") ? 1 : 0;
out:
	json_decref(reply);
	return ret;
}
