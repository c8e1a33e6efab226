/* The daemon's event loop: one epoll set; timers are timerfds and signals
 * arrive through one signalfd, so every callback runs from ev_run() and a
 * signal handler never runs our code. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "ev.h"
#include "util.h"

#define EV_BATCH 64

/* Registrations are indexed by fd. The epoll cookie carries the slot's
 * generation too, so an event already fetched for an fd that a callback
 * removed (or closed and registered anew) in the same batch is dropped
 * instead of being delivered to the wrong owner. */
struct ev_slot {
	ev_fd_cb cb;
	void *arg;
	uint32_t gen;
	bool used;
};

struct ev_sig {
	ev_signal_cb cb;
	void *arg;
};

struct ev_loop {
	int epfd;
	struct ev_slot *slots;
	size_t n_slots;
	int sigfd;
	sigset_t sigmask;
	struct ev_sig sigs[_NSIG];
	bool stop;
};

struct ev_timer {
	struct ev_loop *loop;
	int fd;
	ev_timer_cb cb;
	void *arg;
};

struct ev_loop *ev_new(void)
{
	struct ev_loop *l = xcalloc(1, sizeof(*l));

	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	l->sigfd = -1;
	sigemptyset(&l->sigmask);
	return l;
}

void ev_free(struct ev_loop *l)
{
	if (!l)
		return;
	if (l->sigfd >= 0) {
		close(l->sigfd);
		sigprocmask(SIG_UNBLOCK, &l->sigmask, NULL);
	}
	close(l->epfd);
	free(l->slots);
	free(l);
}

static uint64_t cookie(int fd, uint32_t gen)
{
	return (uint64_t)gen << 32 | (uint32_t)fd;
}

int ev_add_fd(struct ev_loop *l, int fd, uint32_t events, ev_fd_cb cb,
	      void *arg)
{
	struct epoll_event ev = { .events = events };
	struct ev_slot *s;
	size_t cap = l->n_slots;

	if (fd < 0 || !cb)
		return -EINVAL;
	if ((size_t)fd >= l->n_slots) {
		xgrow(&l->slots, &cap, (size_t)fd + 1, sizeof(*l->slots));
		memset(l->slots + l->n_slots, 0,
		       (cap - l->n_slots) * sizeof(*l->slots));
		l->n_slots = cap;
	}
	s = &l->slots[fd];
	if (s->used)
		return -EEXIST;
	ev.data.u64 = cookie(fd, s->gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	s->cb = cb;
	s->arg = arg;
	s->used = true;
	return 0;
}

int ev_mod_fd(struct ev_loop *l, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events };

	if (fd < 0 || (size_t)fd >= l->n_slots || !l->slots[fd].used)
		return -ENOENT;
	ev.data.u64 = cookie(fd, l->slots[fd].gen);
	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
		return -errno;
	return 0;
}

int ev_del_fd(struct ev_loop *l, int fd)
{
	struct ev_slot *s;
	int ret = 0;

	if (fd < 0 || (size_t)fd >= l->n_slots || !l->slots[fd].used)
		return -ENOENT;
	s = &l->slots[fd];
	/* the fd may already be closed: the slot goes away regardless */
	if (epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL) < 0 && errno != EBADF)
		ret = -errno;
	s->used = false;
	s->cb = NULL;
	s->arg = NULL;
	s->gen++;
	return ret;
}

static void timer_ready(int fd, uint32_t events, void *arg)
{
	struct ev_timer *t = arg;
	uint64_t n;

	/* a re-arm between expiry and this read leaves nothing to read */
	if (read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		return;
	t->cb(t, t->arg);
}

struct ev_timer *ev_timer_new(struct ev_loop *l, ev_timer_cb cb, void *arg)
{
	struct ev_timer *t = xcalloc(1, sizeof(*t));

	t->loop = l;
	t->cb = cb;
	t->arg = arg;
	t->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->fd < 0)
		goto fail;
	if (ev_add_fd(l, t->fd, EPOLLIN, timer_ready, t) < 0) {
		close(t->fd);
		goto fail;
	}
	return t;
fail:
	free(t);
	return NULL;
}

static struct timespec ms_ts(uint64_t ms)
{
	return (struct timespec){ .tv_sec = (time_t)(ms / 1000),
				  .tv_nsec = (long)(ms % 1000) * 1000000L };
}

void ev_timer_arm(struct ev_timer *t, uint64_t after_ms, uint64_t every_ms)
{
	struct itimerspec its = { .it_value = ms_ts(after_ms),
				  .it_interval = ms_ts(every_ms) };

	/* a zero it_value would disarm: "now" is the next nanosecond */
	if (!after_ms)
		its.it_value.tv_nsec = 1;
	timerfd_settime(t->fd, 0, &its, NULL);
}

void ev_timer_disarm(struct ev_timer *t)
{
	struct itimerspec its = { 0 };

	timerfd_settime(t->fd, 0, &its, NULL);
}

void ev_timer_free(struct ev_timer *t)
{
	if (!t)
		return;
	ev_del_fd(t->loop, t->fd);
	close(t->fd);
	free(t);
}

static void signal_ready(int fd, uint32_t events, void *arg)
{
	struct ev_loop *l = arg;
	struct signalfd_siginfo si;
	unsigned signo;

	for (;;) {
		if (read(fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			return;
		signo = si.ssi_signo;
		if (signo < _NSIG && l->sigs[signo].cb)
			l->sigs[signo].cb((int)signo, l->sigs[signo].arg);
	}
}

int ev_add_signal(struct ev_loop *l, int signo, ev_signal_cb cb, void *arg)
{
	sigset_t one;
	int fd, ret;

	if (signo <= 0 || signo >= _NSIG || !cb)
		return -EINVAL;
	sigemptyset(&one);
	sigaddset(&one, signo);
	if (sigprocmask(SIG_BLOCK, &one, NULL) < 0)
		return -errno;
	sigaddset(&l->sigmask, signo);
	fd = signalfd(l->sigfd, &l->sigmask, SFD_NONBLOCK | SFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (l->sigfd < 0) {
		ret = ev_add_fd(l, fd, EPOLLIN, signal_ready, l);
		if (ret < 0) {
			close(fd);
			return ret;
		}
		l->sigfd = fd;
	}
	l->sigs[signo].cb = cb;
	l->sigs[signo].arg = arg;
	return 0;
}

int ev_run(struct ev_loop *l)
{
	struct epoll_event evs[EV_BATCH];
	struct ev_slot *s;
	int n, i, fd;
	uint32_t gen;

	l->stop = false;
	while (!l->stop) {
		n = epoll_wait(l->epfd, evs, EV_BATCH, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		for (i = 0; i < n && !l->stop; i++) {
			fd = (int)(uint32_t)evs[i].data.u64;
			gen = (uint32_t)(evs[i].data.u64 >> 32);
			if ((size_t)fd >= l->n_slots)
				continue;
			s = &l->slots[fd];
			if (!s->used || s->gen != gen)
				continue;
			s->cb(fd, evs[i].events, s->arg);
		}
	}
	return 0;
}

void ev_stop(struct ev_loop *l)
{
	l->stop = true;
}
