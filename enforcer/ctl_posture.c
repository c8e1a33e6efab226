/* bulkheadctl posture [--json] [--cluster] [--policy PATH [--inventory FILE]]
 * [--engine URL]... [--date YYYY-MM-DD]: this host against NIST SP 800-190
 * (posture.h, docs/posture.md). Without --policy it asks the running
 * daemon for its policy path, its containers and its engines, and asks
 * each engine for the containers that share the host's network namespace.
 * With --cluster it asks the daemon which levels each host of the cluster
 * runs.
 * Exit 0 clean, 1 findings, 2 usage or I/O. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ctl.h"
#include "posture.h"

#define ENGINE_REPLY_MAX (64u << 20)
#define ENGINE_TIMEOUT_S 10

static int posture_usage(void)
{
	fprintf(stderr, "usage: bulkheadctl posture [--json] [--cluster] "
		"[--policy PATH [--inventory FILE]] [--engine URL]... "
		"[--date YYYY-MM-DD]\n");
	return 2;
}

struct hostnets {
	struct posture_hostnet *v;
	size_t n, cap;
};

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct strbuf *sb = arg;

	if (sb->len + size * n > ENGINE_REPLY_MAX)
		return 0;
	sb_putn(sb, data, size * n);
	return size * n;
}

/* GET path from the engine at url (unix:///PATH): its JSON answer. */
static json_t *engine_get(const char *url, const char *path, char **err)
{
	struct strbuf body = { 0 };
	json_error_t jerr;
	json_t *root = NULL;
	char *full;
	long code = 0;
	CURLcode cr;
	CURL *h;

	h = curl_easy_init();
	if (!h) {
		*err = xstrdup("cannot start libcurl");
		return NULL;
	}
	full = xasprintf("http://d%s", path);
	curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, url + 7);
	curl_easy_setopt(h, CURLOPT_URL, full);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, (long)ENGINE_TIMEOUT_S);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	cr = curl_easy_perform(h);
	if (cr != CURLE_OK) {
		*err = xasprintf("engine %s: %s", url, curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		*err = xasprintf("engine %s: GET %s: HTTP %ld", url, path, code);
		goto out;
	}
	root = json_loadb(body.buf ? body.buf : "", body.len, 0, &jerr);
	if (!root)
		*err = xasprintf("engine %s: GET %s: %s", url, path, jerr.text);
out:
	free(full);
	sb_free(&body);
	curl_easy_cleanup(h);
	return root;
}

/* Docker's list says each container's HostConfig.NetworkMode; Podman's
 * (4.3) has HostConfig null, and only its inspect says "host": ask it
 * for the containers the list leaves open that have no network. */
static const char *network_mode(const char *url, json_t *c, json_t **insp)
{
	const char *mode = json_string_value(json_object_get(
		json_object_get(c, "HostConfig"), "NetworkMode"));
	const char *id = json_string_value(json_object_get(c, "Id"));
	json_t *nets = json_object_get(json_object_get(c, "NetworkSettings"),
				       "Networks");
	char *path, *err = NULL;

	if (mode || !id || json_object_size(nets))
		return mode;
	if (strlen(id) > CONTAINER_ID_MAX || strchr(id, '/') ||
	    strchr(id, '?'))
		return NULL;
	path = xasprintf("/v1.41/containers/%s/json", id);
	*insp = engine_get(url, path, &err);
	free(path);
	free(err);	/* gone since the list: not ours to report */
	return json_string_value(json_object_get(json_object_get(*insp,
					"HostConfig"), "NetworkMode"));
}

/* Every container of the engine at url in network mode host goes to
 * out. */
static int engine_hostnet(const char *url, struct hostnets *out, char **err)
{
	json_t *root, *c;
	size_t i;

	if (strncmp(url, "unix://", 7) || !url[7]) {
		*err = xasprintf("engine %s: not a unix:// URL", url);
		return -EINVAL;
	}
	root = engine_get(url, "/v1.41/containers/json", err);
	if (!root)
		return -EIO;
	if (!json_is_array(root)) {
		*err = xasprintf("engine %s: the container list is not a "
				 "JSON array", url);
		json_decref(root);
		return -EIO;
	}
	json_array_foreach(root, i, c) {
		const char *id = json_string_value(json_object_get(c, "Id"));
		const char *name = json_string_value(json_array_get(
			json_object_get(c, "Names"), 0));
		struct posture_hostnet *x;
		json_t *insp = NULL;
		const char *mode = network_mode(url, c, &insp);

		if (!mode || strcmp(mode, "host") || !id) {
			json_decref(insp);
			continue;
		}
		if (name && *name == '/')
			name++;
		xgrow(&out->v, &out->cap, out->n + 1, sizeof(*out->v));
		x = &out->v[out->n++];
		x->id = xstrndup(id, CONTAINER_ID_MAX);
		x->name = xstrndup(name && *name ? name : id,
				   CONTAINER_NAME_MAX);
		x->engine = xstrdup(url);
		json_decref(insp);
	}
	json_decref(root);
	return 0;
}

/* The daemon's policy path, containers and engine URLs. */
static int from_daemon(char **policy_path, struct inventory **inv,
		       json_t **engines)
{
	json_t *req = json_pack("{s:s}", "op", "status"), *reply = NULL, *c;
	char *err = NULL, *e;
	const char *path;
	struct container *ct;
	size_t i;
	int ret = 2;

	if (ctl_call(req, &reply, &err) < 0) {
		fprintf(stderr, "bulkheadctl: posture: %s\n",
			err ? err : "no reply");
		goto out;
	}
	path = json_string_value(json_object_get(json_object_get(reply,
							"policy"), "path"));
	if (!path) {
		fprintf(stderr, "bulkheadctl: posture: the daemon has no "
			"policy in force (%s)\n",
			json_string_value(json_object_get(reply, "degraded")) ?:
			"no path in its status");
		goto out;
	}
	*policy_path = xstrdup(path);
	*inv = inventory_new();
	json_array_foreach(json_object_get(reply, "containers"), i, c) {
		ct = container_from_json(c, CJ_ENTRY, &e);
		if (!ct) {
			fprintf(stderr, "bulkheadctl: posture: container %zu "
				"of the status: %s\n", i, e);
			free(e);
			goto out;
		}
		/* held by co-location: status says so, the entry does not */
		if (!strcmp(json_string_value(json_object_get(c,
						"colocation")) ?: "", "held"))
			ct->colo = COLO_HELD;
		if (inventory_add(*inv, ct) < 0) {
			fprintf(stderr, "bulkheadctl: posture: container %zu "
				"of the status is there twice\n", i);
			goto out;
		}
	}
	*engines = json_array();
	json_array_foreach(json_object_get(reply, "engines"), i, c)
		if (json_is_string(json_object_get(c, "url")))
			json_array_append(*engines, json_object_get(c, "url"));
	ret = 0;
out:
	free(err);
	json_decref(req);
	json_decref(reply);
	return ret;
}

/* posture --cluster: the daemon's `hosts` (each host's own count of its
 * containers per level, from its key in etcd). */
static int cluster_posture(bool json, int32_t today)
{
	json_t *req = json_pack("{s:s}", "op", "hosts"), *reply = NULL, *h,
	       *out;
	const char *from = NULL;
	struct posture ps = { 0 };
	char *err = NULL;
	size_t i;
	int ret = 2;

	if (ctl_call(req, &reply, &err) < 0) {
		fprintf(stderr, "bulkheadctl: posture --cluster: %s\n",
			err ? err : "no reply");
		goto out;
	}
	if (!json_is_array(json_object_get(reply, "hosts"))) {
		fprintf(stderr, "bulkheadctl: posture --cluster: the daemon's "
			"answer has no hosts\n");
		goto out;
	}
	json_array_foreach(json_object_get(reply, "hosts"), i, h)
		if (json_is_true(json_object_get(h, "self")))
			from = json_string_value(json_object_get(h, "name"));
	posture_build_cluster(json_object_get(reply, "hosts"), from, today,
			      &ps);
	if (json) {
		out = posture_json(&ps);
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(out);
	} else {
		posture_print(&ps, stdout);
	}
	if (ps.n_unknown)
		fprintf(stderr, "bulkheadctl: posture --cluster: %zu host%s "
			"publish%s no sensitivity levels (an older bulkheadd): "
			"not judged\n", ps.n_unknown,
			ps.n_unknown == 1 ? "" : "s",
			ps.n_unknown == 1 ? "es" : "");
	ret = ps.n ? 1 : ps.n_unknown ? 2 : 0;
out:
	posture_free(&ps);
	json_decref(req);
	json_decref(reply);
	free(err);
	return ret;
}

int ctl_posture(int argc, char **argv)
{
	const char *policy_path = NULL, *inv_path = NULL;
	struct posture_input in = { 0 };
	struct hostnets hn = { 0 };
	struct inventory *inv = NULL;
	json_t *engines = json_array(), *out;
	char *path = NULL, *text = NULL, *err = NULL;
	struct posture ps = { 0 };
	struct diags d = { 0 };
	struct policy *p = NULL;
	bool json = false, cluster = false, engine_failed = false;
	int32_t today = policy_today();
	size_t i, len;
	int ret = 2, r;

	for (r = 1; r < argc; r++) {
		if (!strcmp(argv[r], "--json")) {
			json = true;
		} else if (!strcmp(argv[r], "--cluster")) {
			cluster = true;
		} else if (!strcmp(argv[r], "--policy") && r + 1 < argc) {
			policy_path = argv[++r];
		} else if (!strcmp(argv[r], "--inventory") && r + 1 < argc) {
			inv_path = argv[++r];
		} else if (!strcmp(argv[r], "--engine") && r + 1 < argc) {
			json_array_append_new(engines, json_string(argv[++r]));
		} else if (!strcmp(argv[r], "--date") && r + 1 < argc) {
			if (!policy_parse_day(argv[++r], &today)) {
				fprintf(stderr, "bulkheadctl: posture: --date "
					"'%s' is not a date (YYYY-MM-DD)\n",
					argv[r]);
				goto out;
			}
		} else {
			ret = posture_usage();
			goto out;
		}
	}
	if (cluster) {
		if (policy_path || inv_path || json_array_size(engines)) {
			fprintf(stderr, "bulkheadctl: posture --cluster asks "
				"the daemon for the hosts it sees: no "
				"--policy, --inventory or --engine\n");
			ret = posture_usage();
			goto out;
		}
		ret = cluster_posture(json, today);
		goto out;
	}
	if (inv_path && !policy_path) {
		ret = posture_usage();
		goto out;
	}
	if (policy_path) {
		path = xstrdup(policy_path);
		if (inv_path) {
			if (bh_read_file(inv_path, 256u << 20, &text, &len) < 0) {
				fprintf(stderr, "bulkheadctl: posture: cannot "
					"read %s\n", inv_path);
				goto out;
			}
			inv = inventory_from_json(text, len, &err);
			if (!inv) {
				fprintf(stderr, "bulkheadctl: posture: %s: "
					"%s\n", inv_path, err);
				goto out;
			}
		} else {
			inv = inventory_new();
		}
	} else {
		json_t *live = NULL;

		if (from_daemon(&path, &inv, &live))
			goto out;
		json_array_extend(engines, live);
		json_decref(live);
	}
	p = policy_load(path, &d);
	if (!p) {
		diags_print(&d, stderr);
		fprintf(stderr, "bulkheadctl: posture: %s has errors\n", path);
		goto out;
	}
	for (i = 0; i < inventory_count(inv); i++) {
		struct container *c = inventory_at(inv, i);

		container_classify(c, p);
		if (c->quarantined)
			c->group = GROUP_QUARANTINE;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	for (i = 0; i < json_array_size(engines); i++) {
		const char *url = json_string_value(json_array_get(engines,
								   i));

		if (engine_hostnet(url, &hn, &err) < 0) {
			fprintf(stderr, "bulkheadctl: posture: %s (its "
				"host-network containers are not known)\n",
				err);
			free(err);
			err = NULL;
			engine_failed = true;
		}
	}
	curl_global_cleanup();
	in.p = p;
	in.policy_path = path;
	in.inv = inv;
	in.hostnet = hn.v;
	in.n_hostnet = hn.n;
	in.today = today;
	posture_build(&in, &ps);
	if (json) {
		out = posture_json(&ps);
		json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(out);
	} else {
		posture_print(&ps, stdout);
	}
	ret = ps.n ? 1 : engine_failed ? 2 : 0;
out:
	posture_free(&ps);
	for (i = 0; i < hn.n; i++) {
		free(hn.v[i].id);
		free(hn.v[i].name);
		free(hn.v[i].engine);
	}
	free(hn.v);
	policy_free(p);
	diags_free(&d);
	inventory_free(inv);
	json_decref(engines);
	free(path);
	free(text);
	free(err);
	return ret;
}
