/* bulkheadctl: one file per subcommand (enforcer/ctl_<verb>.c), each an
 * entry of the table in bulkheadctl.c. A verb returns the process exit
 * code: 0 success, 1 a finding or refusal (check errors, denied), 2 usage
 * or I/O error. argv[0] is the verb itself. */
#ifndef BULKHEAD_CTL_H
#define BULKHEAD_CTL_H

struct ctl_verb {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *usage;	/* one line, shown by `bulkheadctl --help` */
};

/* The socket chosen by --socket, $BULKHEAD_SOCKET or the default. */
const char *ctl_socket_path(void);

/* One request/reply round trip on the control socket (enforcer/ctl_client.c):
 * req gets "version" added; *reply is the parsed reply object (caller
 * decrefs), set whenever one arrived, also with a refusal (reload puts
 * its "errors" there). Returns 0, or -errno with *err (caller frees)
 * saying why: daemon not running, malformed reply, or the daemon's
 * "error" field (its "errno" becomes the return value). */
struct json_t;
int ctl_call(struct json_t *req, struct json_t **reply, char **err);

int ctl_check(int argc, char **argv);
int ctl_show(int argc, char **argv);
int ctl_ruleset(int argc, char **argv);
/* ctl_online.c: the verbs that need a running bulkheadd */
int ctl_attach(int argc, char **argv);
int ctl_detach(int argc, char **argv);
int ctl_status(int argc, char **argv);
int ctl_reload(int argc, char **argv);
int ctl_explain(int argc, char **argv);
int ctl_denials(int argc, char **argv);
/* ctl_hosts.c: several hosts (--etcd) */
int ctl_hosts(int argc, char **argv);
void ctl_cluster_print(struct json_t *cluster);	/* status' cluster part */

#endif
