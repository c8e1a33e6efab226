/* The daemon's one event loop: epoll over fds, timerfd timers, signalfd.
 * Callbacks run on the loop's thread; nothing else blocks it. */
#ifndef BULKHEAD_EV_H
#define BULKHEAD_EV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct ev_loop;
struct ev_timer;

typedef void (*ev_fd_cb)(int fd, uint32_t events, void *arg);
typedef void (*ev_timer_cb)(struct ev_timer *t, void *arg);
typedef void (*ev_signal_cb)(int signo, void *arg);

struct ev_loop *ev_new(void);
void ev_free(struct ev_loop *l);

int ev_add_fd(struct ev_loop *l, int fd, uint32_t events, ev_fd_cb cb,
	      void *arg);
int ev_mod_fd(struct ev_loop *l, int fd, uint32_t events);
int ev_del_fd(struct ev_loop *l, int fd);

/* One-shot or periodic timer; arming again replaces the deadline. */
struct ev_timer *ev_timer_new(struct ev_loop *l, ev_timer_cb cb, void *arg);
void ev_timer_arm(struct ev_timer *t, uint64_t after_ms, uint64_t every_ms);
void ev_timer_disarm(struct ev_timer *t);
void ev_timer_free(struct ev_timer *t);

/* Blocks the signal and delivers it through signalfd. */
int ev_add_signal(struct ev_loop *l, int signo, ev_signal_cb cb, void *arg);

/* Runs until ev_stop(). Returns 0, or -errno when epoll fails. */
int ev_run(struct ev_loop *l);
void ev_stop(struct ev_loop *l);

#endif
