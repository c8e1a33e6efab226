/* A client of etcd's v3 JSON gateway (etcd 3.4: /v3/kv/..., /v3/lease/...,
 * /v3/watch) with libcurl multi on the daemon's event loop, jansson for
 * the JSON. Nothing blocks: every call starts a transfer and its callback
 * runs later from the loop.
 *
 * The gateway's traps, handled here so that callers never see them:
 * - keys and values are base64; int64 values are JSON strings; fields
 *   at their default are omitted (an empty range has no "kvs", a PUT
 *   event has no "type", a revision 0 has no "revision");
 * - errors come inline as {"error","code","message"} (unary calls, with
 *   an HTTP status) or {"error":{...}} lines in a watch stream;
 * - the watch stream is one JSON object per line, whatever the HTTP
 *   chunks are;
 * - a member that lost its leader lets a watch hang silently: every
 *   request carries "Grpc-Metadata-hasleader: true" and TCP keepalive is
 *   on; callers treat a failed lease keepalive as a dead connection and
 *   call etcd_fail_over(), which moves to the next URL with jittered
 *   exponential backoff. */
#ifndef BULKHEAD_ETCD_H
#define BULKHEAD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util.h"

struct ev_loop;
struct etcd;
struct etcd_req;

struct etcd_opts {
	const char *const *urls;	/* http:// or https://, one per member */
	size_t n_urls;
	const char *ca, *cert, *key;	/* TLS files; NULL: none */
	long timeout_ms;		/* unary calls; 0: 10 s */
};

/* A bad URL or TLS file: -EINVAL with *err (caller frees). */
int etcd_new(struct ev_loop *l, const struct etcd_opts *o, struct etcd **out,
	     char **err);
/* Cancels every request without calling back. NULL is fine. */
void etcd_free(struct etcd *e);

const char *etcd_endpoint(const struct etcd *e);	/* the current URL */
/* The current endpoint failed: move to the next one. Returns how long to
 * wait before trying it: 200 ms doubling per failure in a row up to 5 s,
 * each spread by ±25 % so that many hosts do not come back in step. */
uint64_t etcd_fail_over(struct etcd *e);
/* A call succeeded: the backoff starts again from its minimum. */
void etcd_ok(struct etcd *e);
unsigned long etcd_failures(const struct etcd *e);	/* in a row */

/* ret: 0, or -errno: -ENOENT for gRPC NotFound (a lease that is gone, a
 * put on it: HTTP 404), -ERANGE for a compacted revision (code 11),
 * -EAGAIN when the member cannot serve (no leader, code 14) or cannot be
 * reached, -EIO otherwise; err then says why. resp: the answer object,
 * borrowed for the callback (NULL on error). */
typedef void (*etcd_cb)(void *arg, int ret, json_t *resp, const char *err);

/* POST body (taken) to path; cb once, unless cancelled. NULL when the
 * transfer cannot be started (cb is not called). */
struct etcd_req *etcd_call(struct etcd *e, const char *path, json_t *body,
			   etcd_cb cb, void *arg);
/* No callback after this. NULL is fine. */
void etcd_cancel(struct etcd_req *q);

/* The watch: one callback per result line (created, events, canceled
 * with compact_revision, progress), borrowed; end once when the stream
 * ends or fails (ret as above; 0 when the server closed it). A watch has
 * no timeout: liveness comes from the lease keepalive. */
typedef void (*etcd_line_cb)(void *arg, json_t *result);
struct etcd_req *etcd_watch(struct etcd *e, const char *key,
			    const char *range_end, int64_t start_rev,
			    etcd_line_cb line, etcd_cb end, void *arg);

/* The whole range [key, range_end) in pages of `page` keys, every page
 * pinned to one revision (so the result is one snapshot): rev, or when 0
 * the revision the first page was read at.
 * cb gets resp = {"revision": int, "kvs": [ {"key","value" (decoded
 * strings), "mod_revision","lease" (ints)} ]}. */
struct etcd_range_all;
struct etcd_range_all *etcd_range_all(struct etcd *e, const char *key,
				      const char *range_end, int64_t rev,
				      size_t page, etcd_cb cb, void *arg);
void etcd_range_all_cancel(struct etcd_range_all *r);	/* NULL is fine */

/* The same read without JSON per key, for a prefix of 100,000 keys: each
 * page as it comes, its keys and values decoded (NUL-terminated after
 * key_len / value_len bytes; a value may hold NULs), valid only during
 * the call. The next page is already asked for while page_cb runs.
 * page_cb may cancel the read (etcd_range_all_cancel): no more calls.
 * Then cb once: resp = {"revision": int}, or the error; after a failure
 * the pages already delivered are not a snapshot of anything. */
struct etcd_kv {
	const char *key, *value;
	size_t key_len, value_len;
	int64_t mod_revision, lease;
};
typedef void (*etcd_page_cb)(void *arg, int64_t rev,
			     const struct etcd_kv *kvs, size_t n);
struct etcd_range_all *etcd_range_pages(struct etcd *e, const char *key,
					const char *range_end, int64_t rev,
					size_t page, etcd_page_cb page_cb,
					etcd_cb cb, void *arg);

/* ---- JSON of the gateway ---- */

char *etcd_b64(const char *p, size_t n);
/* false on anything that is not padded base64 */
bool etcd_unb64(const char *s, struct strbuf *out);
/* An int64 field: a string of digits, a number, or absent (0). false on
 * anything else. */
bool etcd_int64(const json_t *o, const char *field, int64_t *out);
/* The key just past every key that starts with prefix. */
char *etcd_prefix_end(const char *prefix);

/* Ops of a txn (new references). lease 0: none. */
json_t *etcd_op_put(const char *key, const char *value, int64_t lease);
json_t *etcd_op_delete(const char *key);
/* compare: the key's lease equals lease */
json_t *etcd_cmp_lease(const char *key, int64_t lease);
/* {"compare":cmp,"success":ok,"failure":ko}, each taken (NULL: absent) */
json_t *etcd_txn(json_t *cmp, json_t *ok, json_t *ko);

#endif
