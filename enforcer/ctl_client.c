/* The client half of the control protocol (include/control.h): one
 * request line out, one reply line back, on a blocking socket with a
 * deadline so a wedged daemon cannot hang bulkheadctl or the CNI plugin. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <jansson.h>

#include "control.h"
#include "ctl.h"
#include "util.h"

/* A full reload of a large table takes seconds; a minute means stuck. */
#define CTL_TIMEOUT_S 60

static int ctl_connect(const char *path, char **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = CTL_TIMEOUT_S };
	int fd, ret;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*err = xasprintf("socket path %s is too long", path);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		*err = xasprintf("socket: %s", strerror(errno));
		return ret;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		*err = xasprintf("cannot reach bulkheadd on %s: %s%s", path,
				 strerror(errno),
				 errno == ENOENT || errno == ECONNREFUSED ?
				 " (is it running?)" : "");
		close(fd);
		return ret;
	}
	return fd;
}

static int send_all(int fd, const char *p, size_t len)
{
	ssize_t n;

	while (len) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads up to and without the first newline. */
static int read_line(int fd, struct strbuf *sb)
{
	char buf[65536], *nl;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		if (n == 0)
			return sb->len ? 0 : -ECONNRESET;
		nl = memchr(buf, '\n', (size_t)n);
		sb_putn(sb, buf, nl ? (size_t)(nl - buf) : (size_t)n);
		if (nl)
			return 0;
		if (sb->len > CONTROL_MAX_REPLY)
			return -EMSGSIZE;
	}
}

int ctl_call(json_t *req, json_t **reply, char **err)
{
	struct strbuf sb = { 0 };
	json_error_t jerr;
	json_t *r = NULL, *e;
	char *text = NULL;
	int fd, ret;

	*reply = NULL;
	*err = NULL;
	json_object_set_new(req, "version", json_integer(CONTROL_VERSION));
	text = json_dumps(req, JSON_COMPACT);
	if (!text) {
		*err = xstrdup("cannot encode the request");
		return -EINVAL;
	}
	fd = ctl_connect(ctl_socket_path(), err);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	sb_puts(&sb, text);
	sb_putc(&sb, '\n');
	ret = send_all(fd, sb.buf, sb.len);
	sb_reset(&sb);
	/* a daemon that refuses a connection (too many clients) answers and
	 * hangs up at once: its answer may be waiting behind the EPIPE */
	if (!ret || ret == -EPIPE || ret == -ECONNRESET) {
		int got = read_line(fd, &sb);

		ret = got == 0 ? 0 : (ret ? ret : got);
	}
	close(fd);
	if (ret < 0) {
		*err = xasprintf("talking to bulkheadd on %s: %s",
				 ctl_socket_path(), strerror(-ret));
		goto out;
	}
	r = json_loadb(sb.buf, sb.len, 0, &jerr);
	if (!json_is_object(r)) {
		*err = xasprintf("malformed reply from bulkheadd: %s",
				 r ? "not an object" : jerr.text);
		json_decref(r);
		r = NULL;
		ret = -EPROTO;
		goto out;
	}
	if (!json_is_true(json_object_get(r, "ok"))) {
		e = json_object_get(r, "errno");
		ret = json_is_integer(e) && json_integer_value(e) > 0 &&
			json_integer_value(e) < 4096 ?
			-(int)json_integer_value(e) : -EREMOTEIO;
		*err = xstrdup(json_string_value(json_object_get(r, "error")) ?:
			       "bulkheadd refused the request");
	}
	*reply = r;
out:
	free(text);
	sb_free(&sb);
	return ret;
}

char *ctl_daemon_policy_path(char *hash, size_t len, char **why)
{
	json_t *req = json_pack("{s:s, s:b}", "op", "status", "containers", 0);
	json_t *reply = NULL, *pol;
	const char *s;
	char *path = NULL, *err = NULL;

	if (hash && len)
		hash[0] = '\0';
	if (ctl_call(req, &reply, &err) == 0) {
		pol = json_object_get(reply, "policy");
		s = json_string_value(json_object_get(pol, "path"));
		if (s)
			path = xstrdup(s);
		else if (!err)
			err = xstrdup("the daemon has no policy in force "
				      "(see bulkheadctl status)");
		s = json_string_value(json_object_get(pol, "hash"));
		if (hash && len)
			snprintf(hash, len, "%s", s ? s : "");
	}
	if (why && !path)
		*why = err;
	else
		free(err);
	json_decref(req);
	json_decref(reply);
	return path;
}
