/* bulkheadctl: one file per subcommand (enforcer/ctl_<verb>.c), each an
 * entry of the table in bulkheadctl.c. A verb returns the process exit
 * code: 0 success, 1 a finding or refusal (check errors, denied), 2 usage
 * or I/O error. argv[0] is the verb itself. */
#ifndef BULKHEAD_CTL_H
#define BULKHEAD_CTL_H

#include <stddef.h>

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
/* The running daemon's policy path (from status; caller frees), its hash
 * into hash[len] when hash is given, or NULL with *why (when why is given;
 * caller frees) saying why not: no daemon, or no policy in force. */
char *ctl_daemon_policy_path(char *hash, size_t len, char **why);

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
int ctl_flows(int argc, char **argv);
int ctl_map(int argc, char **argv);

/* ctl_denials.c: the reader, filter and summary of both record files,
 * which `bulkheadctl map` draws from. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ctl_rec_kind { CTL_REC_DENIED, CTL_REC_FLOWS };

/* One row of `denials --summary` / `flows --summary`. */
struct ctl_edge {
	char *from, *to;		/* groups; "*" when a record has none */
	char *port;			/* "tcp/5432", "icmp/type8", "-" */
	char *action;			/* deny, would-deny, allow, ... */
	uint64_t packets, unlogged, connections, bytes, records;
	/* earliest event.start, latest event.end of its records (wall ms;
	 * 0: none had them) */
	uint64_t first_ms, last_ms;
};

/* "10m", "2h", "1d", "500ms" ago, or an RFC 3339 time -> wall ms. */
bool ctl_parse_when(const char *s, uint64_t now_ms, uint64_t *ms);
/* The same for the value s of option --opt of `bulkheadctl verb`, with
 * the message on stderr when it is neither. */
bool ctl_when_arg(const char *verb, const char *opt, const char *s,
		  uint64_t now_ms, uint64_t *ms);
/* The --summary of file (NULL: the kind's default) over the records that
 * overlap [since_ms, until_ms] (0: open), largest first. *bad: lines
 * skipped (reported on stderr). 0 or -errno (the file cannot be read). */
int ctl_records_summary(enum ctl_rec_kind kind, const char *file,
			uint64_t since_ms, uint64_t until_ms,
			struct ctl_edge **edges, size_t *n, uint64_t *bad);
void ctl_edges_free(struct ctl_edge *e, size_t n);
/* The same over several files, as one summary. */
int ctl_records_summary_files(enum ctl_rec_kind kind, char *const *files,
			      size_t n_files, uint64_t since_ms,
			      uint64_t until_ms, struct ctl_edge **edges,
			      size_t *n, uint64_t *bad);
/* What --records DIR means to every verb that reads records: DIR's files
 * of kind, *.jsonl and the rotated *.jsonl.N beside them (flows* hold
 * allowed-flow records, the others denied-flow records), as paths in
 * name order (free with ctl_record_files_free). 0 or -errno (DIR). */
int ctl_record_files(const char *dir, enum ctl_rec_kind kind,
		     char ***paths, size_t *n);
void ctl_record_files_free(char **paths, size_t n);
/* Each record of file (NULL: the kind's default) that ends at or after
 * since_ms (0: all), in file order, to cb (rec is borrowed; an ECS
 * document arrives as the record it was made from). *bad grows by the
 * lines skipped (reported on stderr). 0 or -errno. */
typedef void (*ctl_record_cb)(struct json_t *rec, void *arg);
int ctl_records_each(enum ctl_rec_kind kind, const char *file,
		     uint64_t since_ms, ctl_record_cb cb, void *arg,
		     uint64_t *bad);
/* ctl_diff.c: replay the records under the policy in force and under a
 * candidate (issue 14) */
int ctl_diff(int argc, char **argv);
/* ctl_posture.c: NIST SP 800-190 findings */
int ctl_posture(int argc, char **argv);
/* ctl_recommend.c, ctl_readiness.c: rolling out audit groups */
int ctl_recommend(int argc, char **argv);
int ctl_readiness(int argc, char **argv);
/* ctl_hosts.c: several hosts (--etcd) */
int ctl_hosts(int argc, char **argv);
void ctl_cluster_print(struct json_t *cluster);	/* status' cluster part */

#endif
