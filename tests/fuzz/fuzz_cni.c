/* libFuzzer harness for what a container runtime hands bulkhead-cni: the
 * network config on stdin (with prevResult from the plugin before it) and
 * the CNI_* environment, as enforcer/cni.c reads them.
 *
 * The input is stdin. When it holds NUL bytes (which no JSON text does),
 * it is ARGS\0STDIN or ARGS\0ID\0STDIN: ARGS is CNI_ARGS (where the
 * container name comes from) and ID is CNI_CONTAINERID; without them they
 * are what Podman's CNI backend passes (FUZZ_ARGS, FUZZ_ID). Each input
 * goes through parse_request(), and what parses through attach_request(),
 * the object ADD would send to bulkheadd. Checked:
 *   - a refusal has a CNI error code and a message, and a cniVersion only
 *     if it is a supported one (the error object carries it);
 *   - what parses has the id asked for, host addresses only (IPv4 /32,
 *     IPv6 /128) that print and parse back the same, labels exactly when
 *     have_labels says so, a host-side interface name that fits;
 *   - the attach request exists (it is JSON text for the socket) and the
 *     daemon's reader (container_from_json, CJ_ATTACH) takes it back as
 *     the same container, quarantined exactly when it has no labels;
 *   - DEL of that network (keep_others, with the daemon's record being
 *     what ADD sent): a record of only its addresses is detached whole;
 *     with one address more, only that one stays, without the port, in
 *     a request the daemon's reader takes.
 *
 * cni.c is compiled inside this file (its main renamed cni_main, never
 * called) so that its static functions are reachable. Nothing leaves the
 * harness: stdin is never read, stdout never written (errors are data
 * until main prints them), the control socket is never dialled (ctl_call
 * aborts), and the netlink calls host_ifname makes to ask the kernel which
 * interface is the veth are replaced: the socket is a token that is never
 * connected and every link the input names is unknown to the kernel
 * (-NLE_OBJ_NOTFOUND), as in a namespace without it; the names asked
 * about must fit an interface name. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/errno.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int cni_main(int argc, char **argv);

#define main cni_main
#define ctl_call fuzz_ctl_call
#define nl_socket_alloc fuzz_nl_socket_alloc
#define nl_socket_free fuzz_nl_socket_free
#define nl_connect fuzz_nl_connect
#define rtnl_link_get_kernel fuzz_rtnl_link_get_kernel
#define rtnl_link_get_type fuzz_rtnl_link_get_type
#define rtnl_link_put fuzz_rtnl_link_put

#include "../../enforcer/cni.c"

#undef main

#define FUZZ_ID "f00dcafe0123"
#define FUZZ_ARGS "IgnoreUnknown=1;K8S_POD_NAME=fuzz-web"

static char sock_token;
static int sockets_open;

static void die(const char *what, const uint8_t *data, size_t size)
{
	fprintf(stderr, "fuzz_cni: %s (input of %zu bytes)\n", what, size);
	(void)data;
	abort();
}

int fuzz_ctl_call(json_t *req, json_t **reply, char **err)
{
	fprintf(stderr, "fuzz_cni: the parse path dialled bulkheadd\n");
	abort();
}

struct nl_sock *fuzz_nl_socket_alloc(void)
{
	sockets_open++;
	return (struct nl_sock *)&sock_token;
}

void fuzz_nl_socket_free(struct nl_sock *sk)
{
	if (!sk)
		return;
	if (sk != (struct nl_sock *)&sock_token || sockets_open != 1)
		abort();
	sockets_open--;
}

int fuzz_nl_connect(struct nl_sock *sk, int protocol)
{
	if (sk != (struct nl_sock *)&sock_token || protocol != NETLINK_ROUTE)
		abort();
	return 0;
}

int fuzz_rtnl_link_get_kernel(struct nl_sock *sk, int ifindex,
			      const char *name, struct rtnl_link **link)
{
	if (sk != (struct nl_sock *)&sock_token || ifindex != 0 || !name ||
	    strlen(name) >= IF_NAMESIZE)
		abort();
	*link = NULL;
	return -NLE_OBJ_NOTFOUND;
}

/* no link is ever found, so these have nothing to be called on */
char *fuzz_rtnl_link_get_type(struct rtnl_link *link)
{
	abort();
}

void fuzz_rtnl_link_put(struct rtnl_link *link)
{
	abort();
}

static bool addr_ok(const struct bh_addr *a)
{
	char buf[BH_ADDR_STRLEN];
	struct bh_addr back;

	if (!((a->family == AF_INET && a->plen == 32) ||
	      (a->family == AF_INET6 && a->plen == 128)))
		return false;
	return bh_addr_parse(bh_addr_str(a, buf), false, &back) &&
	       bh_addr_eq(a, &back);
}

static const char *label(const struct container *c, const char *k)
{
	size_t i;

	for (i = 0; i < c->n_labels; i++)
		if (!strcmp(c->labels[i].key, k))
			return c->labels[i].value;
	return NULL;
}

/* The daemon reads what ADD sends as the container that was parsed. */
static void check_attach(const struct cni_req *r, const uint8_t *data,
			 size_t size)
{
	struct container *back;
	const char *v;
	char *err = NULL, *text;
	json_t *req;
	size_t i;

	req = attach_request(r->c, "cni", !r->have_labels);
	if (!req)
		die("no attach request for what parsed", data, size);
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		die("the attach request does not print", data, size);
	free(text);
	back = container_from_json(req, CJ_ATTACH, &err);
	if (!back) {
		fprintf(stderr, "fuzz_cni: bulkheadd refuses the attach: %s\n",
			err);
		die("attach refused", data, size);
	}
	if (strcmp(back->id, r->c->id) || strcmp(back->name, r->c->name) ||
	    !container_same_ports(back, r->c) || back->source != SRC_CNI ||
	    back->quarantined != !r->have_labels ||
	    back->n_labels != r->c->n_labels ||
	    back->n_addrs != r->c->n_addrs)
		die("the daemon reads another container", data, size);
	for (i = 0; i < r->c->n_labels; i++) {
		v = label(back, r->c->labels[i].key);
		if (!v || strcmp(v, r->c->labels[i].value))
			die("a label reads back otherwise", data, size);
	}
	for (i = 0; i < r->c->n_addrs; i++)
		if (!bh_addr_eq(&back->addrs[i], &r->c->addrs[i]))
			die("an address reads back otherwise", data, size);
	container_free(back);
	json_decref(req);
}

/* DEL against a record of what ADD sent, then of that and one address. */
static void check_del(struct cni_req *r, const uint8_t *data, size_t size)
{
	static const char other[] = "192.0.2.254";
	struct container *back, *oc;
	struct bh_addr a;
	json_t *old, *req;
	char *err = NULL;
	size_t i;

	old = container_to_json(r->c);
	if (keep_others(r, old))
		die("DEL keeps a record of only its own addresses", data, size);
	json_decref(old);
	bh_addr_parse(other, false, &a);
	for (i = 0; i < r->c->n_addrs; i++)
		if (bh_addr_eq(&a, &r->c->addrs[i]))
			return;
	/* the record of a container on another network too, on its port */
	oc = container_dup(r->c);
	if (container_find_port(oc, "vother") ||
	    container_add_port_addr(oc, "vother", &a) < 0) {
		container_free(oc);
		return;
	}
	old = container_to_json(oc);
	container_free(oc);
	req = keep_others(r, old);
	if (!req)
		die("DEL drops an address of another network", data, size);
	back = container_from_json(req, CJ_ATTACH, &err);
	if (!back || back->n_addrs != 1 || !bh_addr_eq(&back->addrs[0], &a) ||
	    back->n_ports != 1 || strcmp(container_ifname(back), "vother") ||
	    strcmp(back->id, r->c->id) ||
	    back->n_labels != r->c->n_labels) {
		fprintf(stderr, "fuzz_cni: %s\n", err ? err : "");
		die("DEL keeps something else", data, size);
	}
	container_free(back);
	json_decref(req);
	json_decref(old);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cni_req r = { .command = "ADD", .ifname = "eth0" };
	struct cni_fail f = { 0 };
	const uint8_t *nul, *nul2;
	char *args = NULL, *id = NULL;
	const char *text = (const char *)data;
	size_t len = size, i;

	r.id = FUZZ_ID;
	r.args = FUZZ_ARGS;
	nul = memchr(data, '\0', size);
	if (nul) {
		args = strndup(text, nul - data);
		text = (const char *)nul + 1;
		len = size - (nul + 1 - data);
		r.args = args;
		nul2 = memchr(text, '\0', len);
		if (nul2) {
			id = strndup(text, nul2 - (const uint8_t *)text);
			len -= nul2 + 1 - (const uint8_t *)text;
			text = (const char *)nul2 + 1;
			r.id = id;
		}
	}

	if (!parse_request(&r, text, len, &f)) {
		if (f.code <= 0 || !f.msg || !*f.msg)
			die("a refusal without a code or message", data, size);
		if (r.cni_version && !version_supported(r.cni_version))
			die("a refusal names an unsupported version", data,
			    size);
		goto out;
	}
	if (!r.c || !r.cni_version || !version_supported(r.cni_version) ||
	    strcmp(r.c->id, r.id) || !r.c->name || !*r.c->name ||
	    r.c->n_ports > 1 || r.c->source != SRC_CNI)
		die("a parsed request breaks its promises", data, size);
	if (r.have_labels != (r.c->n_labels > 0))
		die("have_labels disagrees with the labels", data, size);
	if (cfg_socket && !*cfg_socket)
		die("an empty socket path was taken", data, size);
	for (i = 0; i < r.c->n_addrs; i++)
		if (!addr_ok(&r.c->addrs[i]))
			die("an address is not a host address", data, size);
	check_attach(&r, data, size);
	check_del(&r, data, size);
out:
	if (sockets_open)
		die("a netlink socket was left open", data, size);
	/* it points into the config freed below */
	cfg_socket = NULL;
	free(f.details);
	container_free(r.c);
	json_decref(r.conf);
	free(args);
	free(id);
	return 0;
}
