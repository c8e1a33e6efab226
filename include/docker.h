/* The Engine API source: a Docker or Podman engine reached over its unix
 * socket (libcurl multi on the daemon's event loop). It lists the running
 * containers, inspects each (labels from Config.Labels, every network's
 * IPv4 and IPv6 address, the host-side veth), attaches them, then follows
 * /events: start -> inspect -> attach, die/destroy -> detach, network
 * connect/disconnect -> readdress. When the engine goes away it reconnects
 * with backoff, lists again and reconciles; meanwhile its containers keep
 * their last known policy (fail closed) and the status says "stale". */
#ifndef BULKHEAD_DOCKER_H
#define BULKHEAD_DOCKER_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct container;
struct docker;
struct ev_loop;
struct source_sink;

/* url: "unix:///run/docker.sock" (also Podman's podman.sock). Starts the
 * first connection from the event loop l; an engine that is not up yet is
 * not an error (it is retried). What it learns goes to sink (source.h,
 * copied). -EINVAL for a URL that is not unix://. */
int docker_start(struct ev_loop *l, const char *url,
		 const struct source_sink *sink, struct docker **out);
/* Stops following the engine; its containers stay attached. NULL is fine. */
void docker_stop(struct docker *e);

/* List and reconcile now (it also runs every 5 minutes while the engine
 * is up); nothing when the engine is not up or a list is under way. */
void docker_resync(struct docker *e);

/* {"url","state":"connecting"|"up"|"down","stale":bool,"containers":N,
 *  "events":N,"errors":N,"last_error":s|null,"since":rfc3339} */
json_t *docker_status_json(const struct docker *e);

/* One inspect answer (GET /containers/ID/json) for id. false with *err
 * (caller frees) on bad input; else *out is the container to attach
 * (source engine, labels, every network's addresses, host-side veth when
 * its sandbox can be read), or NULL when it is not running or has no
 * address. */
bool docker_parse_inspect(const char *id, const char *text, size_t len,
			  struct container **out, char **err);

#endif
