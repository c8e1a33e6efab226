/* The policy watcher (see policywatch.h). Editors and tools write in
 * three ways, and each must end in exactly one reload of the whole file:
 * - in place (open O_TRUNC, write, close): IN_MODIFY ... IN_CLOSE_WRITE;
 * - a temp file renamed over it (sed -i, most config tools): IN_MOVED_TO;
 * - vim with backupcopy=no: the file renamed away to NAME~, a new NAME
 *   created and written, NAME~ deleted: IN_MOVED_FROM, IN_CREATE,
 *   IN_MODIFY, IN_CLOSE_WRITE.
 * Between IN_CREATE (or IN_MODIFY) and IN_CLOSE_WRITE the file is half
 * written; a half-written YAML is often a valid, smaller policy, so the
 * reload waits for the close. A name that stays "being written" with no
 * write for 10 s (a hard link, a writer that never closes) stops holding
 * reloads back. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "policywatch.h"
#include "util.h"

#define PW_DEBOUNCE_MS 200
/* A reload in the middle of a burst may read a file between a writer's
 * truncate and its write (inotify cannot close that race): it fails and
 * changes nothing, but a burst is better read once, at its end. Only a
 * writer that never pauses for 200 ms meets this bound. */
#define PW_MAX_DELAY_MS 10000
#define PW_STALE_MS 10000
/* names in a policy directory being written at once */
#define PW_MAX_WRITING 256

struct writing {
	char *name;
	uint64_t last_ms;	/* monotonic: the last write seen */
};

struct policy_watch {
	struct ev_loop *loop;
	int fd;
	int dfd;		/* the watched directory */
	char *name;		/* the policy file in it; NULL: any *.yaml */
	policy_watch_cb cb;
	void *arg;
	struct ev_timer *timer;
	struct writing *w;
	size_t n_w, cap_w;
	uint64_t first_ms;	/* first change not yet reported; 0: none */
	bool warned;
};

static bool relevant(const struct policy_watch *pw, const char *name)
{
	size_t len = strlen(name);

	if (pw->name)
		return !strcmp(name, pw->name);
	return len > 5 && name[0] != '.' && !strcmp(name + len - 5, ".yaml");
}

static struct writing *writing_find(struct policy_watch *pw, const char *name)
{
	size_t i;

	for (i = 0; i < pw->n_w; i++)
		if (!strcmp(pw->w[i].name, name))
			return &pw->w[i];
	return NULL;
}

static void writing_del(struct policy_watch *pw, const char *name)
{
	struct writing *x = writing_find(pw, name);

	if (!x)
		return;
	free(x->name);
	*x = pw->w[--pw->n_w];
}

static void writing_add(struct policy_watch *pw, const char *name)
{
	struct writing *x = writing_find(pw, name);

	if (!x) {
		if (pw->n_w >= PW_MAX_WRITING)
			return;
		xgrow(&pw->w, &pw->cap_w, pw->n_w + 1, sizeof(*pw->w));
		x = &pw->w[pw->n_w++];
		x->name = xstrdup(name);
	}
	x->last_ms = bh_now_ms();
}

static void writing_clear(struct policy_watch *pw)
{
	while (pw->n_w)
		writing_del(pw, pw->w[0].name);
}

static void changed(struct policy_watch *pw)
{
	uint64_t now = bh_now_ms(), at = now + PW_DEBOUNCE_MS;

	if (!pw->first_ms)
		pw->first_ms = now;
	/* a storm of changes does not hold the reload back for ever */
	if (at > pw->first_ms + PW_MAX_DELAY_MS)
		at = pw->first_ms + PW_MAX_DELAY_MS;
	ev_timer_arm(pw->timer, at > now ? at - now : 1, 0);
}

static void on_readable(int fd, uint32_t events, void *arg);

static void on_timer(struct ev_timer *t, void *arg)
{
	struct policy_watch *pw = arg;
	uint64_t now = bh_now_ms();
	struct stat st;
	size_t i;

	/* what happened since the loop last read the queue: a writer may
	 * have opened a file a moment ago */
	on_readable(pw->fd, EPOLLIN, pw);
	for (i = 0; i < pw->n_w;) {
		if (now - pw->w[i].last_ms >= PW_STALE_MS ||
		    fstatat(pw->dfd, pw->w[i].name, &st,
			    AT_SYMLINK_NOFOLLOW) < 0) {
			writing_del(pw, pw->w[i].name);
			continue;
		}
		i++;
	}
	if (pw->n_w) {
		if (!pw->warned)
			log_info("policy: %s is being written; reloading once "
				 "it is closed", pw->w[0].name);
		pw->warned = true;
		ev_timer_arm(pw->timer, PW_DEBOUNCE_MS, 0);
		return;
	}
	pw->first_ms = 0;
	pw->warned = false;
	/* the drain above may have re-armed the timer for later changes:
	 * this reload reads them already, a second one would be idle */
	ev_timer_disarm(pw->timer);
	pw->cb(pw->arg);
}

static void on_event(struct policy_watch *pw, const struct inotify_event *ev)
{
	struct stat st;

	if (ev->mask & IN_Q_OVERFLOW) {
		/* events are lost: whatever was being written, read all */
		log_warn("policy: inotify queue overflow; reloading");
		writing_clear(pw);
		changed(pw);
		return;
	}
	if (ev->mask & IN_IGNORED) {
		log_warn("inotify: the watch on the policy path is gone; "
			 "SIGHUP or bulkheadctl reload still work");
		return;
	}
	if (!ev->len || !relevant(pw, ev->name))
		return;
	if (ev->mask & (IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM |
			IN_DELETE))
		writing_del(pw, ev->name);
	else if ((ev->mask & IN_MODIFY) ||
		 ((ev->mask & IN_CREATE) &&
		  fstatat(pw->dfd, ev->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		  S_ISREG(st.st_mode)))
		writing_add(pw, ev->name);
	changed(pw);
}

static void on_readable(int fd, uint32_t events, void *arg)
{
	struct policy_watch *pw = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	char *p;

	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)p;
			on_event(pw, ev);
		}
	}
}

bool policy_watch_pending(struct policy_watch *pw)
{
	/* the queue as it is now, not as the loop last read it */
	on_readable(pw->fd, EPOLLIN, pw);
	return pw->first_ms || pw->n_w;
}

int policy_watch_start(struct ev_loop *loop, const char *path,
		       policy_watch_cb cb, void *arg, struct policy_watch **out)
{
	struct policy_watch *pw = xcalloc(1, sizeof(*pw));
	char *copy = NULL;
	const char *dir;
	struct stat st;
	int ret;

	*out = NULL;
	pw->loop = loop;
	pw->cb = cb;
	pw->arg = arg;
	pw->dfd = -1;
	pw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (pw->fd < 0) {
		ret = -errno;
		goto fail;
	}
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		dir = path;
	} else {
		copy = xstrdup(path);
		pw->name = xstrdup(basename(copy));
		free(copy);
		copy = xstrdup(path);
		dir = dirname(copy);
	}
	pw->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pw->dfd < 0 ||
	    inotify_add_watch(pw->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
			      IN_MOVED_FROM | IN_CREATE | IN_DELETE |
			      IN_MODIFY) < 0) {
		ret = -errno;
		goto fail;
	}
	pw->timer = ev_timer_new(loop, on_timer, pw);
	if (!pw->timer) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = ev_add_fd(loop, pw->fd, EPOLLIN, on_readable, pw);
	if (ret < 0)
		goto fail;
	free(copy);
	*out = pw;
	return 0;
fail:
	free(copy);
	if (pw->fd >= 0) {
		close(pw->fd);
		pw->fd = -1;
	}
	policy_watch_stop(pw);
	return ret;
}

void policy_watch_stop(struct policy_watch *pw)
{
	if (!pw)
		return;
	if (pw->fd >= 0) {
		ev_del_fd(pw->loop, pw->fd);
		close(pw->fd);
	}
	if (pw->dfd >= 0)
		close(pw->dfd);
	ev_timer_free(pw->timer);
	writing_clear(pw);
	free(pw->w);
	free(pw->name);
	free(pw);
}
