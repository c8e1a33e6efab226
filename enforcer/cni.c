/* bulkhead-cni: a chained CNI plugin (spec 1.0; results 0.3.0 to 1.0.0).
 * It changes nothing in the container's network: it hands the container's
 * id, name, labels, addresses and host-side interface to bulkheadd over the
 * control socket, and only then passes the previous result on, so a
 * workload never runs unpoliced. Without labels the daemon puts the
 * container in quarantine until another source (the Engine API) knows them.
 *
 * Network config keys of our own: "socket" (the control socket path).
 * Labels come from runtimeConfig.labels (the "labels" capability: an object
 * or an array of {key, value}) or args.cni.labels (CNI conventions). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <netlink/netlink.h>
#include <netlink/route/link.h>

#include "bh_version.h"
#include "control.h"
#include "ctl.h"
#include "inventory.h"
#include "util.h"

#define CNI_MAX_STDIN (1u << 20)

/* CNI spec error codes; 100 and up are ours. */
enum {
	CNI_ERR_VERSION = 1,
	CNI_ERR_UNSUPPORTED_FIELD = 2,
	CNI_ERR_ENV = 4,
	CNI_ERR_IO = 5,
	CNI_ERR_DECODE = 6,
	CNI_ERR_CONFIG = 7,
	CNI_ERR_TRY_LATER = 11,
	CNI_ERR_REFUSED = 100,
	CNI_ERR_CHECK = 101,
};

static const char *const supported_versions[] = {
	"0.3.0", "0.3.1", "0.4.0", "1.0.0",
};

static const char *cfg_socket;

/* ctl_call() (ctl_client.c) asks this for the socket: the plugin's own
 * config wins, then the environment, then the default. */
const char *ctl_socket_path(void)
{
	const char *e = getenv(CONTROL_SOCKET_ENV);

	if (cfg_socket)
		return cfg_socket;
	return e && *e ? e : CONTROL_DEFAULT_SOCKET;
}

struct cni_req {
	const char *command;
	const char *id;
	const char *ifname;		/* CNI_IFNAME, the container side */
	const char *args;		/* CNI_ARGS, may be NULL */
	const char *cni_version;
	json_t *conf;			/* the whole stdin object */
	json_t *prev;			/* prevResult, may be NULL */
	struct container *c;
	bool have_labels;
};

/* Why parse_request refused: what cni_error prints. */
struct cni_fail {
	int code;
	const char *msg;
	char *details;			/* may be NULL */
};

static bool refuse(struct cni_fail *f, int code, const char *msg,
		   char *details)
{
	f->code = code;
	f->msg = msg;
	f->details = details;
	return false;
}

static int cni_error(const char *version, int code, const char *msg,
		     const char *details)
{
	json_t *o = json_pack("{s:s, s:i, s:s}", "cniVersion",
			      version ? version : "1.0.0", "code", code,
			      "msg", msg);

	if (details)
		json_object_set_new(o, "details", json_string(details));
	json_dumpf(o, stdout, JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
	fprintf(stderr, "bulkhead-cni: %s%s%s\n", msg, details ? ": " : "",
		details ? details : "");
	json_decref(o);
	return 1;
}

static bool version_supported(const char *v)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(supported_versions); i++)
		if (!strcmp(v, supported_versions[i]))
			return true;
	return false;
}

static int cmd_version(void)
{
	json_t *arr = json_array(), *o;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(supported_versions); i++)
		json_array_append_new(arr, json_string(supported_versions[i]));
	/* the spec's two keys, then ours: runtimes ignore unknown keys */
	o = json_pack("{s:s, s:o, s:s}", "cniVersion", "1.0.0",
		      "supportedVersions", arr, "bulkheadVersion", BH_VERSION);
	json_dumpf(o, stdout, JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
	return 0;
}

static int read_stdin(char **out, size_t *len)
{
	struct strbuf sb = { 0 };
	char buf[8192];
	ssize_t n;

	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			sb_free(&sb);
			return -errno;
		}
		if (n == 0)
			break;
		if (sb.len + n > CNI_MAX_STDIN) {
			sb_free(&sb);
			return -EFBIG;
		}
		sb_putn(&sb, buf, n);
	}
	*len = sb.len;
	*out = sb_steal(&sb);
	return 0;
}

/* A label set from a {k: v} object or a [{key, value}] array. */
static bool take_labels(struct cni_req *r, json_t *l, const char *where,
			char **err)
{
	json_t *v, *e;
	const char *k;
	size_t i;

	if (json_is_object(l)) {
		json_object_foreach(l, k, v) {
			if (!json_is_string(v) || !*k) {
				*err = xasprintf("%s: label \"%s\" must have a "
						 "string value", where, k);
				return false;
			}
			container_add_label(r->c, k, json_string_value(v));
			r->have_labels = true;
		}
		return true;
	}
	if (!json_is_array(l)) {
		*err = xasprintf("%s must be an object or an array of "
				 "{\"key\", \"value\"}", where);
		return false;
	}
	json_array_foreach(l, i, e) {
		k = json_string_value(json_object_get(e, "key"));
		v = json_object_get(e, "value");
		if (!k || !*k || !json_is_string(v)) {
			*err = xasprintf("%s[%zu] must be {\"key\": string, "
					 "\"value\": string}", where, i);
			return false;
		}
		container_add_label(r->c, k, json_string_value(v));
		r->have_labels = true;
	}
	return true;
}

/* The id and name from the environment reach bulkheadd as JSON strings:
 * bytes jansson cannot encode would fail the request at the socket. */
static bool encodable(const char *s, size_t len)
{
	json_t *t = json_stringn(s, len);
	bool ok = t != NULL;

	json_decref(t);
	return ok;
}

/* K8S_POD_NAME from CNI_ARGS ("K=V;K=V") names the container; Podman's CNI
 * backend puts the container name there. One that cannot be a name is
 * ignored (the id names the container), as CNI_ARGS is advisory. */
static char *name_from_args(const char *args)
{
	const char *p = args, *end, *eq;
	char *name = NULL;

	while (p && *p) {
		end = strchr(p, ';');
		if (!end)
			end = p + strlen(p);
		eq = memchr(p, '=', end - p);
		if (eq && eq - p == 12 && !strncmp(p, "K8S_POD_NAME", 12) &&
		    end - eq - 1 > 0 && end - eq - 1 <= CONTAINER_NAME_MAX &&
		    encodable(eq + 1, end - eq - 1)) {
			free(name);
			name = xstrndup(eq + 1, end - eq - 1);
		}
		p = *end ? end + 1 : end;
	}
	return name;
}

/* Of the interfaces outside the sandbox (a bridge, the host end of a veth),
 * the host side is the veth: ask the kernel which one is. */
static const char *host_ifname(json_t *ifaces)
{
	struct nl_sock *sk = NULL;
	struct rtnl_link *link;
	const char *found = NULL, *only = NULL, *name, *type;
	size_t i, n_host = 0;
	json_t *e;

	json_array_foreach(ifaces, i, e) {
		name = json_string_value(json_object_get(e, "name"));
		/* a name that cannot be an interface is not the port */
		if (!name || json_object_get(e, "sandbox") ||
		    strlen(name) >= IF_NAMESIZE || strchr(name, '/'))
			continue;
		n_host++;
		only = name;
		if (!sk) {
			sk = nl_socket_alloc();
			if (!sk || nl_connect(sk, NETLINK_ROUTE) < 0)
				continue;
		}
		if (rtnl_link_get_kernel(sk, 0, name, &link) < 0)
			continue;
		type = rtnl_link_get_type(link);
		if (type && !strcmp(type, "veth") && !found)
			found = name;
		rtnl_link_put(link);
	}
	nl_socket_free(sk);
	if (!found && n_host == 1)
		found = only;
	return found;
}

/* Addresses of the container's own interfaces (those with a sandbox, or
 * ips[] entries that name no interface). */
static bool take_prev(struct cni_req *r, char **err)
{
	json_t *ifaces, *ips, *e, *idx, *ife;
	const char *addr, *hif;
	struct bh_addr a;
	char *slash, *tmp;
	size_t i;
	bool ok;

	ifaces = json_object_get(r->prev, "interfaces");
	ips = json_object_get(r->prev, "ips");
	if ((ifaces && !json_is_array(ifaces)) || (ips && !json_is_array(ips))) {
		*err = xstrdup("prevResult: \"interfaces\" and \"ips\" must be "
			       "arrays");
		return false;
	}
	json_array_foreach(ips, i, e) {
		addr = json_string_value(json_object_get(e, "address"));
		if (!addr) {
			*err = xasprintf("prevResult: ips[%zu].address missing",
					 i);
			return false;
		}
		idx = json_object_get(e, "interface");
		if (idx) {
			if (!json_is_integer(idx) ||
			    json_integer_value(idx) < 0 ||
			    !(ife = json_array_get(ifaces,
						   json_integer_value(idx)))) {
				*err = xasprintf("prevResult: ips[%zu].interface "
						 "is not an index into "
						 "interfaces", i);
				return false;
			}
			if (!json_object_get(ife, "sandbox"))
				continue;
		}
		tmp = xstrdup(addr);
		slash = strchr(tmp, '/');
		if (slash)
			*slash = '\0';
		ok = bh_addr_parse(tmp, false, &a);
		free(tmp);
		if (!ok) {
			*err = xasprintf("prevResult: ips[%zu].address \"%s\" "
					 "is not an address", i, addr);
			return false;
		}
		container_add_addr(r->c, &a);
	}
	/* this interface's addresses belong to its host-side port */
	hif = host_ifname(ifaces);
	if (hif)
		container_set_port(r->c, hif);
	return true;
}

/* Everything the daemon needs from stdin and the environment; no I/O but
 * the kernel's answer to which interface is the veth (host_ifname). On
 * refusal r->cni_version is set only if it is a supported one. */
static bool parse_request(struct cni_req *r, const char *text, size_t len,
			  struct cni_fail *f)
{
	json_t *v, *rc, *args;
	json_error_t jerr;
	const char *ver;
	char *err = NULL, *name;

	r->conf = json_loadb(text, len, 0, &jerr);
	if (!r->conf || !json_is_object(r->conf))
		return refuse(f, CNI_ERR_DECODE,
			      "cannot decode the network config",
			      r->conf ? xstrdup("network config must be a "
						"JSON object")
				      : xasprintf("stdin %d:%d: %s", jerr.line,
						  jerr.column, jerr.text));
	ver = json_string_value(json_object_get(r->conf, "cniVersion"));
	if (!ver)
		return refuse(f, CNI_ERR_CONFIG,
			      "network config has no \"cniVersion\"", NULL);
	if (!version_supported(ver))
		return refuse(f, CNI_ERR_VERSION, "incompatible CNI version",
			      xasprintf("\"%s\" (supported: 0.3.0, 0.3.1, "
					"0.4.0, 1.0.0)", ver));
	r->cni_version = ver;
	v = json_object_get(r->conf, "socket");
	if (v && (!json_is_string(v) || !*json_string_value(v)))
		return refuse(f, CNI_ERR_CONFIG,
			      "\"socket\" must be a socket path", NULL);
	cfg_socket = json_string_value(v);
	r->prev = json_object_get(r->conf, "prevResult");
	if (r->prev && !json_is_object(r->prev))
		return refuse(f, CNI_ERR_CONFIG,
			      "\"prevResult\" must be an object", NULL);

	if (!r->id || !*r->id || strlen(r->id) > CONTAINER_ID_MAX ||
	    !encodable(r->id, strlen(r->id)))
		return refuse(f, CNI_ERR_ENV, "CNI_CONTAINERID must be set (at "
			      "most 128 bytes of UTF-8)", NULL);
	name = name_from_args(r->args);
	r->c = container_new(r->id, name);
	r->c->source = SRC_CNI;
	free(name);

	rc = json_object_get(r->conf, "runtimeConfig");
	if (rc && !json_is_object(rc))
		return refuse(f, CNI_ERR_CONFIG,
			      "\"runtimeConfig\" must be an object", NULL);
	v = json_object_get(rc, "labels");
	if (v && !take_labels(r, v, "runtimeConfig.labels", &err))
		goto bad;
	args = json_object_get(json_object_get(r->conf, "args"), "cni");
	v = json_object_get(args, "labels");
	if (v && !take_labels(r, v, "args.cni.labels", &err))
		goto bad;
	if (r->prev && !take_prev(r, &err))
		goto bad;
	return true;
bad:
	return refuse(f, CNI_ERR_CONFIG, "invalid network config", err);
}

static json_t *attach_request(const struct container *c, const char *source,
			      bool quarantine)
{
	json_t *o = container_to_json(c);

	json_object_set_new(o, "op", json_string("attach"));
	json_object_set_new(o, "source", json_string(source));
	/* the daemon's own record: when it first came (co-location) */
	json_object_del(o, "since");
	json_object_del(o, "quarantined");
	json_object_set_new(o, "quarantine", json_boolean(quarantine));
	return o;
}

/* The daemon's record of id, *out NULL when it has none. */
static int known(const char *id, json_t **out, char **err)
{
	json_t *req, *reply = NULL, *e;
	const char *eid;
	size_t i;
	int r;

	*out = NULL;
	req = json_pack("{s:s, s:s}", "op", "status", "id", id);
	r = ctl_call(req, &reply, err);
	json_decref(req);
	if (r < 0)
		goto out;
	json_array_foreach(json_object_get(reply, "containers"), i, e) {
		eid = json_string_value(json_object_get(e, "id"));
		if (eid && !strcmp(eid, id)) {
			*out = json_incref(e);
			break;
		}
	}
out:
	json_decref(reply);
	return r;
}

/* An ADD for an id the daemon knows: another network of a running
 * container (a second interface, Podman's CNI backend on `network
 * connect`), or its engine was first. Its other ports whose interface is
 * still there stay, each with its own addresses, so anti-spoofing keeps
 * guarding every network. Without labels, an id's labels do not change:
 * they are kept rather than sending it back to quarantine. */
static void inherit(struct cni_req *r, json_t *old, const char **source)
{
	struct container *oc, *mine;
	const char *k, *src;
	char *err = NULL;
	size_t i, j;
	json_t *v;

	if (!r->have_labels && json_is_false(json_object_get(old, "quarantined"))) {
		json_object_foreach(json_object_get(old, "labels"), k, v) {
			if (!json_is_string(v))
				continue;
			container_add_label(r->c, k, json_string_value(v));
			r->have_labels = true;
		}
		src = json_string_value(json_object_get(old, "source"));
		if (src && (!strcmp(src, "engine") || !strcmp(src, "static")))
			*source = src;
	}
	oc = container_from_json(old, CJ_ENTRY, &err);
	free(err);
	if (!oc)
		return;
	/* the earlier ports first, this ADD's last: what prevResult says
	 * now replaces a port of the same name */
	mine = container_dup(r->c);
	if (r->c->n_ports)
		container_remove_port(r->c, r->c->ports[0].ifname);
	for (i = 0; i < oc->n_ports; i++) {
		const struct container_port *p = &oc->ports[i];

		if (container_find_port(mine, p->ifname) ||
		    !if_nametoindex(p->ifname))
			continue;
		container_add_port(r->c, p->ifname);
		for (j = p->first; j < (size_t)p->first + p->n; j++)
			container_add_port_addr(r->c, p->ifname, &oc->addrs[j]);
	}
	for (i = 0; i < mine->n_ports; i++) {
		const struct container_port *p = &mine->ports[i];

		container_add_port(r->c, p->ifname);
		for (j = p->first; j < (size_t)p->first + p->n; j++)
			container_add_port_addr(r->c, p->ifname,
						&mine->addrs[j]);
	}
	container_free(mine);
	container_free(oc);
}

/* -ECONNREFUSED / -ENOENT from the connect mean nobody listens. */
static bool unreachable(int e)
{
	return e == -ENOENT || e == -ECONNREFUSED || e == -ENOTCONN ||
	       e == -EPIPE || e == -ECONNRESET || e == -ETIMEDOUT;
}

static int daemon_error(struct cni_req *r, int e, const char *what,
			const char *err)
{
	char *msg;
	int ret;

	if (unreachable(e)) {
		msg = xasprintf("bulkheadd is not reachable on %s; %s refused "
				"so the container does not run unpoliced",
				ctl_socket_path(), what);
		ret = cni_error(r->cni_version, CNI_ERR_TRY_LATER, msg, err);
	} else {
		msg = xasprintf("bulkheadd refused the %s", what);
		ret = cni_error(r->cni_version, CNI_ERR_REFUSED, msg, err);
	}
	free(msg);
	return ret;
}

static int cmd_add(struct cni_req *r)
{
	json_t *req, *reply = NULL, *old = NULL;
	const char *source = "cni";
	char *err = NULL;
	int e, ret;

	if (!r->prev)
		return cni_error(r->cni_version, CNI_ERR_CONFIG,
				 "bulkhead-cni is a chained plugin: "
				 "\"prevResult\" missing (put it after the "
				 "plugin that creates the interface)", NULL);
	if (!r->c->n_addrs)
		return cni_error(r->cni_version, CNI_ERR_CONFIG,
				 "prevResult gives the container no address",
				 NULL);
	e = known(r->id, &old, &err);
	if (e < 0) {
		ret = daemon_error(r, e, "attach", err);
		goto out;
	}
	if (old)
		inherit(r, old, &source);
	req = attach_request(r->c, source, !r->have_labels);
	e = ctl_call(req, &reply, &err);
	json_decref(req);
	json_decref(reply);
	if (e < 0) {
		ret = daemon_error(r, e, "attach", err);
		goto out;
	}
	json_dumpf(r->prev, stdout, JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	ret = fflush(stdout) ? 1 : 0;
out:
	json_decref(old);
	free(err);
	return ret;
}

/* DEL is idempotent: an id the daemon does not know is gone already. With
 * the daemon down DEL still succeeds: runtimes stop a DEL chain at the
 * first error, which would leak the interface and its address; the daemon
 * drops the entry itself when it starts, as the veth is gone (links.c). */
/* DEL of one network of several (prevResult names its addresses and
 * its port): the record keeps the others, each on its own port; NULL
 * when none is left (then detach). */
static json_t *keep_others(struct cni_req *r, json_t *old)
{
	struct container *oc;
	const char *src;
	char *err = NULL;
	json_t *req = NULL;
	size_t i;

	oc = container_from_json(old, CJ_ENTRY, &err);
	free(err);
	if (!oc)
		return NULL;
	/* the port going away cannot key anti-spoofing any more */
	for (i = 0; i < r->c->n_ports; i++)
		container_remove_port(oc, r->c->ports[i].ifname);
	for (i = 0; i < r->c->n_addrs; i++)
		container_remove_addr(oc, &r->c->addrs[i]);
	if (!oc->n_addrs)
		goto out;
	/* an attach names no engine (the daemon keeps its own record) */
	free(oc->engine);
	oc->engine = NULL;
	src = json_string_value(json_object_get(old, "source"));
	req = attach_request(oc, src ? src : "cni",
			     json_is_true(json_object_get(old, "quarantined")));
out:
	container_free(oc);
	return req;
}

/* DEL is idempotent: an id the daemon does not know is gone already. With
 * the daemon down DEL still succeeds: runtimes stop a DEL chain at the
 * first error, which would leak the interface and its address; the daemon
 * drops the entry itself when it starts, as the veth is gone (links.c). */
static int cmd_del(struct cni_req *r)
{
	json_t *req = NULL, *reply = NULL, *old = NULL;
	char *err = NULL;
	int e, ret = 0;

	e = r->prev ? known(r->id, &old, &err) : 0;
	if (e == 0 && old)
		req = keep_others(r, old);
	if (e == 0 && !req)
		req = json_pack("{s:s, s:s}", "op", "detach", "id", r->id);
	if (e == 0) {
		free(err);
		err = NULL;
		e = ctl_call(req, &reply, &err);
	}
	/* a missing socket reads -ENOENT too: tell it from an unknown id */
	if (e == -ECONNREFUSED ||
	    (e == -ENOENT && access(ctl_socket_path(), F_OK) < 0))
		fprintf(stderr, "bulkhead-cni: DEL %s: bulkheadd not running "
			"(%s); it forgets the container when it starts\n",
			r->id, err ? err : strerror(-e));
	else if (e < 0 && e != -ENOENT)
		ret = daemon_error(r, e, "detach", err);
	json_decref(req);
	json_decref(reply);
	json_decref(old);
	free(err);
	return ret;
}

/* The container must be known to the daemon with the addresses of
 * prevResult. */
static int cmd_check(struct cni_req *r)
{
	json_t *req, *reply = NULL, *list, *e, *ips, *ip;
	char *err = NULL, *msg = NULL, buf[BH_ADDR_STRLEN];
	const char *id;
	size_t i, j, k;
	bool found = false, have;
	int ret = 0, rc;

	if (!strcmp(r->cni_version, "0.3.0") ||
	    !strcmp(r->cni_version, "0.3.1"))
		return cni_error(r->cni_version, CNI_ERR_VERSION,
				 "CHECK needs cniVersion 0.4.0 or later", NULL);
	if (!r->prev)
		return cni_error(r->cni_version, CNI_ERR_CONFIG,
				 "bulkhead-cni is a chained plugin: "
				 "\"prevResult\" missing", NULL);
	req = json_pack("{s:s, s:s}", "op", "status", "id", r->id);
	rc = ctl_call(req, &reply, &err);
	json_decref(req);
	if (rc < 0) {
		ret = daemon_error(r, rc, "status request", err);
		goto out;
	}
	list = json_object_get(reply, "containers");
	json_array_foreach(list, i, e) {
		id = json_string_value(json_object_get(e, "id"));
		if (!id || strcmp(id, r->id))
			continue;
		found = true;
		ips = json_object_get(e, "ips");
		for (k = 0; k < r->c->n_addrs; k++) {
			bh_addr_str(&r->c->addrs[k], buf);
			have = false;
			json_array_foreach(ips, j, ip)
				if (json_is_string(ip) &&
				    !strcmp(json_string_value(ip), buf))
					have = true;
			if (!have) {
				msg = xasprintf("bulkheadd knows container %s "
						"without address %s", r->id,
						buf);
				ret = cni_error(r->cni_version, CNI_ERR_CHECK,
						msg, NULL);
				goto out;
			}
		}
	}
	if (!found) {
		msg = xasprintf("bulkheadd does not know container %s", r->id);
		ret = cni_error(r->cni_version, CNI_ERR_CHECK, msg, NULL);
	}
out:
	json_decref(reply);
	free(msg);
	free(err);
	return ret;
}

int main(int argc, char **argv)
{
	struct cni_req r = { 0 };
	struct cni_fail f = { 0 };
	char *text = NULL;
	size_t len = 0;
	int ret, e;

	if (argc > 1 && !strcmp(argv[1], "--version")) {
		printf("bulkhead-cni %s\n", BH_VERSION);
		return 0;
	}
	if (argc > 1 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: bulkhead-cni (run by a CNI runtime)\n"
		       "A chained CNI plugin: put it after the plugin that "
		       "creates the interface.\nIt registers the container "
		       "with bulkheadd before the container runs.\n");
		return 0;
	}
	r.command = getenv("CNI_COMMAND");
	r.id = getenv("CNI_CONTAINERID");
	r.ifname = getenv("CNI_IFNAME");
	r.args = getenv("CNI_ARGS");
	if (!r.command)
		return cni_error(NULL, CNI_ERR_ENV, "CNI_COMMAND is not set",
				 NULL);
	if (!strcmp(r.command, "VERSION"))
		return cmd_version();
	if (strcmp(r.command, "ADD") && strcmp(r.command, "DEL") &&
	    strcmp(r.command, "CHECK"))
		return cni_error(NULL, CNI_ERR_ENV, "unknown CNI_COMMAND",
				 r.command);
	e = read_stdin(&text, &len);
	if (e < 0) {
		ret = cni_error(NULL, e == -EFBIG ? CNI_ERR_DECODE : CNI_ERR_IO,
				"cannot read the network config on stdin",
				e == -EFBIG ? "larger than 1 MiB" : strerror(-e));
		goto out;
	}
	if (!parse_request(&r, text, len, &f)) {
		ret = cni_error(r.cni_version, f.code, f.msg, f.details);
		goto out;
	}
	if (!strcmp(r.command, "ADD"))
		ret = cmd_add(&r);
	else if (!strcmp(r.command, "DEL"))
		ret = cmd_del(&r);
	else
		ret = cmd_check(&r);
out:
	free(f.details);
	container_free(r.c);
	json_decref(r.conf);
	free(text);
	return ret;
}
