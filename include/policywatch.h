/* The watch on the policy path: inotify on the file's directory (or on
 * the policy directory, for its *.yaml), on the daemon's event loop. It
 * calls back once the changes have settled and no policy file is being
 * written, so a reload never reads a half-written file. */
#ifndef BULKHEAD_POLICYWATCH_H
#define BULKHEAD_POLICYWATCH_H

#include <stdbool.h>

struct ev_loop;
struct policy_watch;

typedef void (*policy_watch_cb)(void *arg);

/* Starts watching path (a file or a directory). cb runs on loop 200 ms
 * after the last change, or at the latest 10 s after the first one of a
 * burst; never while a policy file created or modified since is still
 * open for writing (no IN_CLOSE_WRITE yet, and written to in the last
 * 10 s). 0 or -errno. */
int policy_watch_start(struct ev_loop *loop, const char *path,
		       policy_watch_cb cb, void *arg, struct policy_watch **out);
void policy_watch_stop(struct policy_watch *w);	/* NULL is fine */
/* Whether a policy file changed, or is being written, since the last
 * callback (the queue is read first): what a reload has just read may
 * be a writer's truncated file. The callback comes again once the
 * writer is done. */
bool policy_watch_pending(struct policy_watch *w);

#endif
