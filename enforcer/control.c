/* The control socket: a non-blocking unix stream server on the daemon's
 * loop, one JSON object per line each way. Every client has a bounded
 * input buffer (CONTROL_MAX_REQUEST), holds at most one pending reply
 * (requests behind it wait in the socket, so a client that never reads
 * cannot make us buffer without end), and is closed when it makes no
 * progress for CONTROL_IDLE_MS. Peer credentials are taken at accept. */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "ev.h"
#include "log.h"
#include "util.h"

#define READ_CHUNK 65536

struct client {
	struct control *srv;
	struct client *next, **pprev;
	int fd;
	struct control_peer peer;
	struct strbuf in;
	struct strbuf out;
	size_t out_off;
	bool eof;		/* the peer will send nothing more */
	bool closing;		/* close once out is flushed */
	uint64_t last_ms;
};

struct control {
	struct ev_loop *loop;
	int fd;
	char *path;
	dev_t dev;
	ino_t ino;
	control_handler handler;
	void *arg;
	struct client *clients;
	size_t n_clients;
	struct ev_timer *sweep;
};

json_t *control_ok(void)
{
	return json_pack("{s:b}", "ok", 1);
}

json_t *control_error(int errnum, const char *fmt, ...)
{
	va_list ap;
	char *msg;
	json_t *r;

	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	r = json_pack("{s:b, s:s, s:i}", "ok", 0, "error",
		      msg ? msg : "out of memory", "errno", errnum);
	free(msg);
	return r;
}

size_t control_clients(const struct control *c)
{
	return c ? c->n_clients : 0;
}

static void client_free(struct client *cl)
{
	struct control *srv = cl->srv;

	ev_del_fd(srv->loop, cl->fd);
	close(cl->fd);
	*cl->pprev = cl->next;
	if (cl->next)
		cl->next->pprev = cl->pprev;
	srv->n_clients--;
	sb_free(&cl->in);
	sb_free(&cl->out);
	free(cl);
	if (!srv->n_clients)
		ev_timer_disarm(srv->sweep);
}

static void queue_reply(struct client *cl, json_t *reply)
{
	char *text;

	if (!reply)
		reply = control_error(EIO, "internal error: no reply");
	json_object_set_new(reply, "version", json_integer(CONTROL_VERSION));
	text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (text && strlen(text) > CONTROL_MAX_REPLY) {
		free(text);
		reply = control_error(EFBIG, "reply of more than %u bytes: "
				      "over the limit of %u bytes per reply",
				      CONTROL_MAX_REPLY, CONTROL_MAX_REPLY);
		json_object_set_new(reply, "version",
				    json_integer(CONTROL_VERSION));
		text = json_dumps(reply, JSON_COMPACT);
		json_decref(reply);
	}
	if (!text) {
		cl->closing = true;
		return;
	}
	sb_puts(&cl->out, text);
	sb_putc(&cl->out, '\n');
	free(text);
}

static json_t *handle_line(struct client *cl, const char *line, size_t len)
{
	struct control *srv = cl->srv;
	json_error_t jerr;
	json_t *req, *v, *reply;
	const char *op;

	if (len > CONTROL_MAX_REQUEST)
		return control_error(EMSGSIZE, "request of %zu bytes: over "
				     "the limit of %d bytes per request", len,
				     CONTROL_MAX_REQUEST);
	req = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req)
		return control_error(EINVAL, "malformed request: %s "
				     "(column %d)", jerr.text, jerr.column);
	if (!json_is_object(req)) {
		reply = control_error(EINVAL, "malformed request: not a JSON "
				      "object");
		goto out;
	}
	v = json_object_get(req, "version");
	if (!json_is_integer(v)) {
		reply = control_error(EINVAL, "malformed request: \"version\" "
				      "missing or not an integer");
		goto out;
	}
	if (json_integer_value(v) != CONTROL_VERSION) {
		reply = control_error(EPROTONOSUPPORT, "unsupported protocol "
				      "version %lld (this daemon speaks %d)",
				      (long long)json_integer_value(v),
				      CONTROL_VERSION);
		goto out;
	}
	op = json_string_value(json_object_get(req, "op"));
	if (!op) {
		reply = control_error(EINVAL, "malformed request: \"op\" "
				      "missing or not a string");
		goto out;
	}
	reply = srv->handler(srv->arg, op, req, &cl->peer);
out:
	json_decref(req);
	return reply;
}

/* Answers complete lines until a reply is pending. */
static void client_process(struct client *cl)
{
	char *nl;
	size_t len;

	while (!cl->out.len && !cl->closing) {
		nl = cl->in.len ? memchr(cl->in.buf, '\n', cl->in.len) : NULL;
		if (!nl) {
			if (cl->in.len > CONTROL_MAX_REQUEST) {
				/* no way to find the next request: answer
				 * and hang up */
				queue_reply(cl, control_error(EMSGSIZE,
					"request of more than %d bytes: over "
					"the limit of %d bytes per request",
					CONTROL_MAX_REQUEST,
					CONTROL_MAX_REQUEST));
				cl->closing = true;
			} else if (cl->eof && cl->in.len) {
				queue_reply(cl, handle_line(cl, cl->in.buf,
							    cl->in.len));
				sb_reset(&cl->in);
			} else if (cl->eof) {
				cl->closing = true;
			}
			return;
		}
		len = (size_t)(nl - cl->in.buf);
		if (len && nl[-1] == '\r')
			len--;
		if (len)
			queue_reply(cl, handle_line(cl, cl->in.buf, len));
		len = (size_t)(nl - cl->in.buf) + 1;
		memmove(cl->in.buf, cl->in.buf + len, cl->in.len - len);
		cl->in.len -= len;
		cl->in.buf[cl->in.len] = '\0';
	}
}

/* 0, or -errno when the client is to be dropped. */
static int client_flush(struct client *cl)
{
	ssize_t n;

	while (cl->out_off < cl->out.len) {
		n = send(cl->fd, cl->out.buf + cl->out_off,
			 cl->out.len - cl->out_off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		cl->out_off += (size_t)n;
		cl->last_ms = bh_now_ms();
	}
	sb_reset(&cl->out);
	cl->out_off = 0;
	return 0;
}

static int client_read(struct client *cl)
{
	char buf[READ_CHUNK];
	ssize_t n;

	/* read only while nothing is pending and the buffer has room for
	 * one more request; the kernel holds the rest */
	while (!cl->eof && !cl->out.len && !cl->closing &&
	       cl->in.len <= CONTROL_MAX_REQUEST) {
		n = recv(cl->fd, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n < 0)
			return -errno;
		cl->last_ms = bh_now_ms();
		if (n == 0)
			cl->eof = true;
		else
			sb_putn(&cl->in, buf, (size_t)n);
		client_process(cl);
	}
	return 0;
}

static void client_ready(int fd, uint32_t events, void *arg)
{
	struct client *cl = arg;
	uint32_t want;

	if (events & (EPOLLERR)) {
		client_free(cl);
		return;
	}
	for (;;) {
		if (client_flush(cl) < 0) {
			client_free(cl);
			return;
		}
		if (cl->out.len)
			break;
		if (cl->closing) {
			client_free(cl);
			return;
		}
		/* the reply went out: answer what is already buffered */
		client_process(cl);
		if (cl->out.len || cl->closing)
			continue;
		if (client_read(cl) < 0) {
			client_free(cl);
			return;
		}
		if (!cl->out.len && !cl->closing)
			break;
	}
	if (cl->eof && !cl->out.len && !cl->in.len) {
		client_free(cl);
		return;
	}
	want = cl->out.len ? EPOLLOUT : (cl->eof ? 0 : EPOLLIN);
	ev_mod_fd(cl->srv->loop, cl->fd, want | EPOLLRDHUP);
}

static void sweep(struct ev_timer *t, void *arg)
{
	struct control *srv = arg;
	struct client *cl, *next;
	uint64_t now = bh_now_ms();

	for (cl = srv->clients; cl; cl = next) {
		next = cl->next;
		if (now - cl->last_ms >= CONTROL_IDLE_MS) {
			log_debug("control: closing idle client pid %d",
				  (int)cl->peer.pid);
			client_free(cl);
		}
	}
}

static void refuse(int fd, const char *msg)
{
	json_t *r = control_error(EAGAIN, "%s", msg);
	char *text;

	json_object_set_new(r, "version", json_integer(CONTROL_VERSION));
	text = json_dumps(r, JSON_COMPACT);
	json_decref(r);
	if (text) {
		/* best effort: the socket is fresh, the line fits */
		if (send(fd, text, strlen(text), MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
			(void)!send(fd, "\n", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
		free(text);
	}
	close(fd);
}

static void accept_ready(int lfd, uint32_t events, void *arg)
{
	struct control *srv = arg;
	struct ucred cred;
	socklen_t len;
	struct client *cl;
	char *msg;
	int fd;

	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN)
				log_warn("control: accept: %s", strerror(errno));
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			log_warn("control: SO_PEERCRED: %s", strerror(errno));
			close(fd);
			continue;
		}
		if (srv->n_clients >= CONTROL_MAX_CLIENTS) {
			log_warn("control: %d clients connected, refusing pid "
				 "%d", CONTROL_MAX_CLIENTS, (int)cred.pid);
			msg = xasprintf("too many clients: at the limit of "
					"%d control clients, try again",
					CONTROL_MAX_CLIENTS);
			refuse(fd, msg);
			free(msg);
			continue;
		}
		cl = xcalloc(1, sizeof(*cl));
		cl->srv = srv;
		cl->fd = fd;
		cl->peer.pid = cred.pid;
		cl->peer.uid = cred.uid;
		cl->peer.gid = cred.gid;
		cl->last_ms = bh_now_ms();
		if (ev_add_fd(srv->loop, fd, EPOLLIN | EPOLLRDHUP, client_ready,
			      cl) < 0) {
			close(fd);
			free(cl);
			continue;
		}
		cl->next = srv->clients;
		if (cl->next)
			cl->next->pprev = &cl->next;
		cl->pprev = &srv->clients;
		srv->clients = cl;
		if (!srv->n_clients++)
			ev_timer_arm(srv->sweep, 1000, 1000);
	}
}

/* mkdir -p of path's parent, 0755 for what it creates. */
static int make_parent(const char *path)
{
	char *dir = xstrdup(path), *p;
	int ret = 0;

	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
			ret = -errno;
			goto out;
		}
		*p = '/';
	}
out:
	free(dir);
	return ret;
}

/* A socket file nobody answers on is left over from a crash. */
static int clear_stale(const struct sockaddr_un *sa, char **err)
{
	struct stat st;
	int fd, ret = 0;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		*err = xasprintf("%s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (const struct sockaddr *)sa, sizeof(*sa)) == 0) {
		*err = xasprintf("another daemon is listening on %s",
				 sa->sun_path);
		ret = -EADDRINUSE;
		goto out;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		ret = -errno;
out:
	close(fd);
	return ret;
}

int control_open(struct ev_loop *l, const char *path, control_handler h,
		 void *arg, struct control **out, char **err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct control *c = NULL;
	struct stat st;
	mode_t old;
	bool bound = false;
	int fd = -1, ret;

	*out = NULL;
	*err = NULL;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		*err = xasprintf("socket path %s is longer than %zu bytes",
				 path, sizeof(sa.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	strcpy(sa.sun_path, path);
	ret = make_parent(path);
	if (ret < 0) {
		*err = xasprintf("cannot create the directory of %s: %s", path,
				 strerror(-ret));
		goto fail;
	}
	ret = clear_stale(&sa, err);
	if (ret < 0) {
		if (!*err)
			*err = xasprintf("%s: %s", path, strerror(-ret));
		goto fail;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		*err = xasprintf("socket: %s", strerror(errno));
		goto fail;
	}
	/* never a moment with a wider mode than 0660 */
	old = umask(0117);
	ret = bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	umask(old);
	bound = !ret;
	if (ret < 0 || chmod(path, 0660) < 0 || listen(fd, 64) < 0 ||
	    stat(path, &st) < 0) {
		if (!ret)
			ret = -errno;
		*err = xasprintf("cannot listen on %s: %s", path,
				 strerror(-ret));
		goto fail;
	}
	c = xcalloc(1, sizeof(*c));
	c->loop = l;
	c->fd = fd;
	c->path = xstrdup(path);
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	c->handler = h;
	c->arg = arg;
	c->sweep = ev_timer_new(l, sweep, c);
	if (!c->sweep) {
		ret = -ENOMEM;
		*err = xasprintf("cannot create the idle timer");
		goto fail;
	}
	ret = ev_add_fd(l, fd, EPOLLIN, accept_ready, c);
	if (ret < 0) {
		*err = xasprintf("cannot watch %s: %s", path, strerror(-ret));
		goto fail;
	}
	*out = c;
	return 0;
fail:
	if (fd >= 0) {
		close(fd);
		if (bound)
			unlink(path);
	}
	if (c) {
		ev_timer_free(c->sweep);
		free(c->path);
		free(c);
	}
	return ret;
}

void control_close(struct control *c)
{
	struct stat st;

	if (!c)
		return;
	while (c->clients)
		client_free(c->clients);
	ev_del_fd(c->loop, c->fd);
	close(c->fd);
	ev_timer_free(c->sweep);
	/* only our own socket: a successor may already have replaced it */
	if (stat(c->path, &st) == 0 && st.st_dev == c->dev &&
	    st.st_ino == c->ino)
		unlink(c->path);
	free(c->path);
	free(c);
}
