/* libcurl's multi interface on our event loop (curlev.h). */
#include <stdlib.h>
#include <sys/epoll.h>

#include "curlev.h"
#include "log.h"
#include "util.h"

struct curlev {
	struct ev_loop *loop;
	CURLM *multi;
	struct ev_timer *timer;
	char *who;
	void (*done)(void *arg);
	void *arg;
};

static void sock_ready(int fd, uint32_t events, void *arg)
{
	struct curlev *c = arg;
	int flags = 0, running;

	if (events & (EPOLLIN | EPOLLHUP))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(c->multi, fd, flags, &running);
	c->done(c->arg);
}

static int sock_cb(CURL *h, curl_socket_t s, int what, void *userp,
		   void *socketp)
{
	struct curlev *c = userp;
	uint32_t ev = 0;

	if (what == CURL_POLL_REMOVE) {
		if (socketp)
			ev_del_fd(c->loop, s);
		curl_multi_assign(c->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EPOLLIN;
	if (what & CURL_POLL_OUT)
		ev |= EPOLLOUT;
	if (socketp)
		ev_mod_fd(c->loop, s, ev);
	else if (ev_add_fd(c->loop, s, ev, sock_ready, c) == 0)
		curl_multi_assign(c->multi, s, c);
	else	/* the transfer times out; its owner retries as after any
		 * failed transfer */
		log_err("%s: cannot watch socket %d", c->who, (int)s);
	return 0;
}

static void on_timer(struct ev_timer *t, void *arg)
{
	struct curlev *c = arg;
	int running;

	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	c->done(c->arg);
}

static int timer_cb(CURLM *m, long ms, void *userp)
{
	struct curlev *c = userp;

	if (ms < 0)
		ev_timer_disarm(c->timer);
	else	/* a zero deadline would disarm the timerfd */
		ev_timer_arm(c->timer, ms > 0 ? (uint64_t)ms : 1, 0);
	return 0;
}

struct curlev *curlev_new(struct ev_loop *loop, const char *who,
			  void (*done)(void *arg), void *arg)
{
	struct curlev *c = xcalloc(1, sizeof(*c));

	c->loop = loop;
	c->who = xstrdup(who);
	c->done = done;
	c->arg = arg;
	c->multi = curl_multi_init();
	c->timer = ev_timer_new(loop, on_timer, c);
	if (!c->multi || !c->timer) {
		curlev_free(c);
		return NULL;
	}
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 8L);
	return c;
}

CURLM *curlev_multi(const struct curlev *c)
{
	return c->multi;
}

void curlev_free(struct curlev *c)
{
	if (!c)
		return;
	if (c->multi)
		curl_multi_cleanup(c->multi);
	ev_timer_free(c->timer);
	free(c->who);
	free(c);
}
