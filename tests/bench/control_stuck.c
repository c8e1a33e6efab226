/* How long a control client waits for its answer while another client
 * has a reply pending that it never reads: the figure that was a time
 * limit in tests/unit/test_control.c (test_protocol), which now checks
 * that the answer comes while the other reply is still pending. The
 * control server (enforcer/control.c) runs on this thread's loop, as in
 * bulkheadd; a client thread measures, alternating per round:
 *   idle   connect, one echo request, its answer (the reference)
 *   stuck  the same, after another client has asked for 64 replies of
 *          1 MiB and the first is on its way (bytes readable on that
 *          client's socket, so the server is waiting to write the rest)
 * Medians, p90 and max over the rounds, and the ratio of the medians.
 *
 *   control_stuck [--rounds R] [--tmp DIR]
 *
 * Needs no privileges; its socket lives in a new directory under DIR. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench_util.h"
#include "control_client.h"
#include "control.h"
#include "ev.h"
#include "util.h"

struct bench {
	char dir[4096];
	char path[4200];
	struct ev_loop *l;
	int done[2];
	int rounds;
	double *idle, *stuck;
	const char *err;		/* set by the client thread */
};

static json_t *handler(void *arg, const char *op, json_t *req,
		       const struct control_peer *peer)
{
	return strcmp(op, "big") ? cc_echo_reply(req) : cc_big_reply();
}

/* One echo round trip on a new connection, in seconds; < 0 on failure. */
static double echo(const char *path)
{
	static const char req[] = "{\"version\":1,\"op\":\"echo\",\"n\":4}\n";
	char buf[256];
	size_t got = 0;
	ssize_t n;
	double t0 = bench_now();
	int fd = cc_dial(path);

	if (fd < 0 || !cc_put(fd, req))
		goto fail;
	while (got < sizeof(buf) - 1) {
		n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0);
		if (n <= 0)
			goto fail;
		got += (size_t)n;
		if (memchr(buf, '\n', got))
			break;
	}
	buf[got] = '\0';
	close(fd);
	if (!strstr(buf, "\"ok\": true") && !strstr(buf, "\"ok\":true"))
		return -1;
	return bench_now() - t0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A client with a 1 MiB reply on its way that it does not read: returns
 * its fd once bytes of that reply are readable (the server has written
 * what the socket holds and waits for room), or -1 after 20 s. */
static int stuck_client(const char *path)
{
	int fd = cc_dial(path), i, avail = 0;

	if (fd < 0)
		return -1;
	for (i = 0; i < 64; i++)
		if (!cc_put(fd, "{\"version\":1,\"op\":\"big\"}\n"))
			goto fail;
	for (i = 0; i < 20000 && avail <= 0; i++) {
		if (ioctl(fd, FIONREAD, &avail) < 0)
			goto fail;
		if (avail <= 0)
			usleep(1000);
	}
	if (avail > 0 && avail < (1 << 20))
		return fd;
fail:
	close(fd);
	return -1;
}

static void *client(void *arg)
{
	struct bench *b = arg;
	int r, s, avail;

	for (r = 0; r < b->rounds && !b->err; r++) {
		b->idle[r] = echo(b->path);
		if (b->idle[r] < 0) {
			b->err = "echo without a stuck client failed";
			break;
		}
		s = stuck_client(b->path);
		if (s < 0) {
			b->err = "the stuck client got no reply bytes";
			break;
		}
		b->stuck[r] = echo(b->path);
		/* still stuck: no whole reply has come out */
		if (ioctl(s, FIONREAD, &avail) < 0 || avail >= (1 << 20))
			b->err = "the stuck client was not stuck";
		close(s);
		if (b->stuck[r] < 0)
			b->err = "echo behind a stuck client failed";
	}
	if (write(b->done[1], "x", 1) != 1)
		abort();
	return NULL;
}

static void on_done(int fd, uint32_t events, void *arg)
{
	ev_stop(arg);
}

int main(int argc, char **argv)
{
	struct bench b = { .rounds = 200 };
	const char *tmp = "/tmp";
	struct control *c = NULL;
	char *err = NULL, cmd[4300];
	double mi, ms, p90i, p90s, maxi, maxs;
	pthread_t t;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			b.rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--tmp") && i + 1 < argc)
			tmp = argv[++i];
		else {
			fprintf(stderr, "usage: control_stuck [--rounds R] "
				"[--tmp DIR]\n");
			return 2;
		}
	}
	if (b.rounds < 1)
		b.rounds = 1;
	snprintf(b.dir, sizeof(b.dir), "%s/bh-ctl-bench.XXXXXX", tmp);
	if (!mkdtemp(b.dir)) {
		perror("control_stuck: mkdtemp");
		return 2;
	}
	snprintf(b.path, sizeof(b.path), "%s/ctl.sock", b.dir);
	b.l = ev_new();
	b.idle = xcalloc((size_t)b.rounds, sizeof(double));
	b.stuck = xcalloc((size_t)b.rounds, sizeof(double));
	if (control_open(b.l, b.path, handler, &b, &c, &err) < 0) {
		fprintf(stderr, "control_stuck: %s\n", err);
		return 2;
	}
	if (pipe(b.done) < 0 ||
	    ev_add_fd(b.l, b.done[0], EPOLLIN, on_done, b.l) < 0 ||
	    pthread_create(&t, NULL, client, &b)) {
		perror("control_stuck");
		return 2;
	}
	ev_run(b.l);
	pthread_join(t, NULL);
	ev_del_fd(b.l, b.done[0]);
	control_close(c);
	ev_free(b.l);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", b.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "control_stuck: could not remove %s\n", b.dir);
	if (b.err) {
		fprintf(stderr, "control_stuck: %s\n", b.err);
		return 1;
	}
	mi = bench_pct(b.idle, (size_t)b.rounds, 0.5);
	p90i = bench_pct(b.idle, (size_t)b.rounds, 0.9);
	maxi = b.idle[b.rounds - 1];
	ms = bench_pct(b.stuck, (size_t)b.rounds, 0.5);
	p90s = bench_pct(b.stuck, (size_t)b.rounds, 0.9);
	maxs = b.stuck[b.rounds - 1];
	printf("control socket: %d rounds; connect + echo + answer, ms\n",
	       b.rounds);
	printf("%-40s %9s %9s %9s\n", "", "median", "p90", "max");
	printf("%-40s %9.3f %9.3f %9.3f\n", "no other client", mi * 1e3,
	       p90i * 1e3, maxi * 1e3);
	printf("%-40s %9.3f %9.3f %9.3f\n", "behind a client that never reads",
	       ms * 1e3, p90s * 1e3, maxs * 1e3);
	printf("control socket: behind a client that never reads, an answer "
	       "takes %.3f ms, %.2fx the idle round trip\n", ms * 1e3,
	       ms / mi);
	free(b.idle);
	free(b.stuck);
	return 0;
}
