/* The control-socket peer both tests/unit/test_control.c and
 * tests/bench/control_stuck.c use (header-only): the two answers their
 * handler gives, "big" (one 1 MiB reply, for a client that never reads
 * it) and "echo" (its "n" back), and the client's connect and send. */
#ifndef BULKHEAD_TESTS_CONTROL_CLIENT_H
#define BULKHEAD_TESTS_CONTROL_CLIENT_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "util.h"

static inline json_t *cc_big_reply(void)
{
	char *big = xmalloc(1 << 20);
	json_t *r;

	memset(big, 'x', (1 << 20) - 1);
	big[(1 << 20) - 1] = '\0';
	r = control_ok();
	json_object_set_new(r, "blob", json_string(big));
	free(big);
	return r;
}

static inline json_t *cc_echo_reply(json_t *req)
{
	json_t *r = control_ok();

	json_object_set_new(r, "n", json_incref(json_object_get(req, "n")));
	return r;
}

/* A connected socket, or -1 (also for a path too long for a unix
 * socket); reads time out after a generous 20 s (only
 * a failing run waits that long). */
static inline int cc_dial(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 20 };
	size_t len = strlen(path);
	int fd;

	if (len >= sizeof(sa.sun_path))
		return -1;
	memcpy(sa.sun_path, path, len + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* All of s, or false when the socket refused some of it. */
static inline bool cc_put(int fd, const char *s)
{
	size_t len = strlen(s);
	ssize_t n;

	while (len) {
		n = send(fd, s, len, MSG_NOSIGNAL);
		if (n <= 0)
			return false;
		s += n;
		len -= (size_t)n;
	}
	return true;
}

#endif
