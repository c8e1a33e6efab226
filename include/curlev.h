/* libcurl's multi interface on the daemon's event loop: its sockets are
 * watched through ev_add_fd, its timer is an ev_timer, and after every
 * action it took the owner's done() runs to read what finished
 * (curl_multi_info_read). The Engine API source (docker.c) and the etcd
 * client (etcd.c) each drive their transfers through one. */
#ifndef BULKHEAD_CURLEV_H
#define BULKHEAD_CURLEV_H

#include <curl/curl.h>

#include "ev.h"

struct curlev;

/* who names the owner in log messages ("etcd", an engine's URL); it is
 * copied. NULL when libcurl or the loop cannot set it up. */
struct curlev *curlev_new(struct ev_loop *loop, const char *who,
			  void (*done)(void *arg), void *arg);
CURLM *curlev_multi(const struct curlev *c);
/* curl_multi_cleanup (the owner removes its easy handles first), then
 * the timer. NULL is fine. */
void curlev_free(struct curlev *c);

#endif
