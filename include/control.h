/* The control socket protocol shared by bulkheadd, bulkheadctl and
 * bulkhead-cni: a unix stream socket, one JSON object per line each way.
 *
 * Request:  {"version":1,"op":"<op>", ...op fields...}\n
 * Reply:    {"version":1,"ok":true, ...}\n
 *       or  {"version":1,"ok":false,"error":"message"}\n
 * A request longer than CONTROL_MAX_REQUEST bytes, or not JSON, or of an
 * unknown version/op gets an error reply and changes nothing. Ops that
 * change state (attach, detach, reload) need peer uid 0 (SO_PEERCRED). */
#ifndef BULKHEAD_CONTROL_H
#define BULKHEAD_CONTROL_H

#define CONTROL_VERSION 1
#define CONTROL_MAX_REQUEST (64 * 1024)
#define CONTROL_DEFAULT_SOCKET "/run/bulkhead/bulkhead.sock"
#define CONTROL_SOCKET_ENV "BULKHEAD_SOCKET"

/* The server side (enforcer/control.c), used by bulkheadd only. It owns
 * framing, limits and peer credentials; what an op means is up to the
 * handler. */
#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#define CONTROL_MAX_REPLY (64u << 20)	/* larger replies become an error */
#define CONTROL_MAX_CLIENTS 64		/* more are refused at accept */
#define CONTROL_IDLE_MS 10000		/* no progress for this long: closed */

struct ev_loop;
struct control;

struct control_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
};

/* One well-formed request: a JSON object with "version" CONTROL_VERSION
 * and a string "op". Returns the reply object (new reference; "version"
 * is added by the server), e.g. control_ok() or control_error(). */
typedef json_t *(*control_handler)(void *arg, const char *op, json_t *req,
				   const struct control_peer *peer);

/* Creates the socket at path (mode 0660; missing parent directories 0755),
 * replacing a stale socket file but never a live one (-EADDRINUSE) nor
 * anything that is not a socket (-EEXIST). *err (caller frees) says what
 * failed. */
int control_open(struct ev_loop *l, const char *path, control_handler h,
		 void *arg, struct control **out, char **err);
/* Closes every client and removes the socket file. NULL is fine. */
void control_close(struct control *c);
size_t control_clients(const struct control *c);

/* {"ok":true} */
json_t *control_ok(void);
/* {"ok":false,"error":"...","errno":errnum}; errnum > 0 (EINVAL, EPERM,
 * ENOENT, ...) lets a client map the refusal back to -errno. */
json_t *control_error(int errnum, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
