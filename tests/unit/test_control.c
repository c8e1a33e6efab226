/* control.c against real unix sockets: framing, version and op checks,
 * pipelined requests, the request size limit, peer credentials, socket
 * mode and stale/live socket handling, and a client that never reads
 * not stalling the others. The server runs on the main thread's loop; a
 * client thread does the talking and records what it saw. How long the
 * others wait behind a client that never reads is measured by
 * tests/bench/control_stuck (docs/benchmarks.md, "control socket"). */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "control.h"
#include "../bench/control_client.h"
#include "ev.h"
#include "util.h"

#define MAX_REPLIES 16

struct fixture {
	char dir[64];
	char path[128];
	struct ev_loop *l;
	struct control *c;
	int done[2];			/* client thread -> loop: finished */
	char *replies[MAX_REPLIES];
	size_t n_replies;
	bool eof_after_oversize;
	unsigned n_big;			/* "big" requests handled */
	unsigned big_at_reply;		/* n_big at the second client's
					 * answer; UINT_MAX: no answer */
	bool stuck_whole_reply;		/* the stuck client got a whole
					 * reply after that: not dropped */
	unsigned handler_uid;
};

static json_t *handler(void *arg, const char *op, json_t *req,
		       const struct control_peer *peer)
{
	struct fixture *f = arg;

	f->handler_uid = (unsigned)peer->uid;
	if (!strcmp(op, "big")) {
		__atomic_add_fetch(&f->n_big, 1, __ATOMIC_SEQ_CST);
		return cc_big_reply();
	}
	if (strcmp(op, "echo"))
		return control_error(EINVAL, "unknown op \"%s\"", op);
	return cc_echo_reply(req);
}

/* One reply line (without the newline), NULL at EOF or timeout. */
static char *line(int fd)
{
	struct strbuf sb = { 0 };
	char c;

	while (recv(fd, &c, 1, 0) == 1) {
		if (c == '\n')
			return sb_steal(&sb);
		sb_putc(&sb, c);
	}
	sb_free(&sb);
	return NULL;
}

/* The length of the first reply line, read in large chunks (a 1 MiB line
 * byte by byte is slow under ASan); -1 at EOF or timeout first. */
static long long first_line_len(int fd)
{
	static char buf[64 * 1024];
	long long len = 0;
	ssize_t n;
	char *nl;

	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		nl = memchr(buf, '\n', (size_t)n);
		if (nl)
			return len + (nl - buf);
		len += n;
	}
	return -1;
}

static void keep(struct fixture *f, char *r)
{
	if (f->n_replies < MAX_REPLIES)
		f->replies[f->n_replies++] = r ? r : xstrdup("(none)");
	else
		free(r);
}

static void *client(void *arg)
{
	struct fixture *f = arg;
	char *big, *r;
	int fd, stuck, i;
	long long len;

	fd = cc_dial(f->path);
	cc_put(fd, "{\"version\":1,\"op\":\"echo\",\"n\":1}\n");
	keep(f, line(fd));					/* 0 */
	cc_put(fd, "{\"version\":1,\"op\":\n");
	keep(f, line(fd));					/* 1 */
	cc_put(fd, "{\"version\":7,\"op\":\"echo\"}\n");
	keep(f, line(fd));					/* 2 */
	cc_put(fd, "{\"version\":1}\n[1,2]\n");
	keep(f, line(fd));					/* 3 */
	keep(f, line(fd));					/* 4 */
	cc_put(fd, "{\"version\":1,\"op\":\"echo\",\"n\":2}\n"
		"{\"version\":1,\"op\":\"echo\",\"n\":3}\n");
	keep(f, line(fd));					/* 5 */
	keep(f, line(fd));					/* 6 */
	cc_put(fd, "{\"version\":1,\"op\":\"nope\"}\n");
	keep(f, line(fd));					/* 7 */
	close(fd);

	/* more than CONTROL_MAX_REQUEST bytes and no newline */
	fd = cc_dial(f->path);
	big = xmalloc(CONTROL_MAX_REQUEST + 4096);
	memset(big, ' ', CONTROL_MAX_REQUEST + 4095);
	big[CONTROL_MAX_REQUEST + 4095] = '\0';
	cc_put(fd, big);
	free(big);
	keep(f, line(fd));					/* 8 */
	r = line(fd);
	f->eof_after_oversize = !r;
	free(r);
	close(fd);

	/* a client that asks for large replies and does not read them: the
	 * server has answered the first (1 MiB, more than the socket
	 * holds) before the second client asks, and while that one is
	 * answered the first reply is still pending (n_big stays 1: the
	 * server reads no further request until a reply is out), and the
	 * stuck client is still served afterwards */
	stuck = cc_dial(f->path);
	for (i = 0; i < 64; i++)
		cc_put(stuck, "{\"version\":1,\"op\":\"big\"}\n");
	for (i = 0; i < 20000 &&
	     !__atomic_load_n(&f->n_big, __ATOMIC_SEQ_CST); i++)
		usleep(1000);
	fd = cc_dial(f->path);
	cc_put(fd, "{\"version\":1,\"op\":\"echo\",\"n\":4}\n");
	r = line(fd);
	f->big_at_reply = r ? __atomic_load_n(&f->n_big, __ATOMIC_SEQ_CST)
			    : UINT_MAX;
	keep(f, r);						/* 9 */
	close(fd);
	len = first_line_len(stuck);
	/* {"version":1,"ok":true,"blob":"x...x"}: 1 MiB - 1 of x */
	f->stuck_whole_reply = len > (1 << 20);
	close(stuck);

	if (write(f->done[1], "x", 1) != 1)
		abort();
	return NULL;
}

static void on_done(int fd, uint32_t events, void *arg)
{
	struct fixture *f = arg;

	ev_stop(f->l);
}

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	char *err = NULL;

	strcpy(f->dir, "/tmp/bh-ctl-test.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/sub/dir/ctl.sock", f->dir);
	f->l = ev_new();
	if (control_open(f->l, f->path, handler, f, &f->c, &err) < 0) {
		fprintf(stderr, "control_open: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	size_t i;

	control_close(f->c);
	ev_free(f->l);
	for (i = 0; i < f->n_replies; i++)
		free(f->replies[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static json_t *parse(const char *s)
{
	json_t *j = json_loads(s, 0, NULL);

	if (!j)
		fail_msg("not JSON: %s", s);
	assert_int_equal(json_integer_value(json_object_get(j, "version")),
			 CONTROL_VERSION);
	return j;
}

static void want_error(const char *reply, int errnum)
{
	json_t *j = parse(reply);

	assert_true(json_is_false(json_object_get(j, "ok")));
	assert_non_null(json_string_value(json_object_get(j, "error")));
	assert_int_equal(json_integer_value(json_object_get(j, "errno")),
			 errnum);
	json_decref(j);
}

static void want_n(const char *reply, int n)
{
	json_t *j = parse(reply);

	assert_true(json_is_true(json_object_get(j, "ok")));
	assert_int_equal(json_integer_value(json_object_get(j, "n")), n);
	json_decref(j);
}

static void test_protocol(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	pthread_t t;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(pipe(f->done), 0);
	assert_int_equal(ev_add_fd(f->l, f->done[0], EPOLLIN, on_done, f), 0);
	assert_int_equal(pthread_create(&t, NULL, client, f), 0);
	assert_int_equal(ev_run(f->l), 0);
	pthread_join(t, NULL);
	ev_del_fd(f->l, f->done[0]);
	close(f->done[0]);
	close(f->done[1]);

	assert_int_equal(f->n_replies, 10);
	want_n(f->replies[0], 1);
	want_error(f->replies[1], EINVAL);		/* malformed */
	want_error(f->replies[2], EPROTONOSUPPORT);	/* version 7 */
	want_error(f->replies[3], EINVAL);		/* no op */
	want_error(f->replies[4], EINVAL);		/* not an object */
	want_n(f->replies[5], 2);			/* pipelined, in order */
	want_n(f->replies[6], 3);
	want_error(f->replies[7], EINVAL);		/* unknown op */
	want_error(f->replies[8], EMSGSIZE);		/* too long */
	assert_non_null(strstr(f->replies[8], "over the limit of 65536 bytes "
					      "per request"));
	assert_true(f->eof_after_oversize);
	want_n(f->replies[9], 4);
	assert_int_equal(f->big_at_reply, 1);
	assert_true(f->stuck_whole_reply);
	assert_int_equal(f->handler_uid, (unsigned)getuid());
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct control *c2 = NULL;
	char other[160], *err = NULL;
	FILE *fp;

	/* a live socket is never taken over */
	assert_int_equal(control_open(f->l, f->path, handler, f, &c2, &err),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "another daemon"));
	free(err);
	/* a plain file is not ours to remove */
	snprintf(other, sizeof(other), "%s/plain", f->dir);
	fp = fopen(other, "w");
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(control_open(f->l, other, handler, f, &c2, &err),
			 -EEXIST);
	free(err);
	/* a stale socket (nobody listens) is replaced */
	control_close(f->c);
	f->c = NULL;
	assert_int_equal(access(f->path, F_OK), -1);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		strcpy(sa.sun_path, f->path);
		assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)),
				 0);
		close(fd);
	}
	assert_int_equal(control_open(f->l, f->path, handler, f, &f->c, &err),
			 0);
	assert_int_equal(control_clients(f->c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_socket_file, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("control", tests, NULL, NULL);
}
