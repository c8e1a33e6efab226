/* dp_sink: the server side of the data-plane benchmark.
 *
 *   dp_sink [--port P] [--quit-after SEC]
 *
 * TCP on 0.0.0.0:P: accept, read the client's byte, answer one byte, and
 * close with SO_LINGER 0 once the client has reset (no TIME_WAIT pile-up).
 * UDP on 0.0.0.0:P: echo every datagram, answering from the address it
 * was sent to (IP_PKTINFO): the sink holds several container addresses
 * and the client's connected socket only accepts the one it talked to.
 * One thread, one epoll loop; it prints "ready" once both sockets listen. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util.h"

#define SINK_BACKLOG 4096
#define SINK_EVENTS 256

static volatile sig_atomic_t sink_stop;

static void sink_on_signal(int sig)
{
	(void)sig;
	sink_stop = 1;
}

static void sink_close_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static int sink_listen(int type, uint16_t port)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(port),
		.sin_addr.s_addr = htonl(INADDR_ANY),
	};
	int one = 1, fd, ret;

	fd = socket(AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (type == SOCK_DGRAM) {
		int buf = 4 << 20;

		setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof(one));
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	}
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		goto fail;
	if (type == SOCK_STREAM && listen(fd, SINK_BACKLOG) < 0)
		goto fail;
	return fd;
fail:
	ret = -errno;
	close(fd);
	return ret;
}

static void sink_accept(int lfd, int ep)
{
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;		/* EAGAIN, or a reset before accept */
		ev.data.fd = fd;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			close(fd);
	}
}

/* One byte in, one byte out; anything else (EOF, reset) ends it. */
static void sink_serve(int fd, uint32_t events)
{
	char b[64];
	ssize_t n;

	n = recv(fd, b, sizeof(b), 0);
	if (n > 0) {
		if (send(fd, "r", 1, MSG_NOSIGNAL) == 1 &&
		    !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
			return;
	} else if (n < 0 && errno == EAGAIN) {
		return;
	}
	sink_close_rst(fd);	/* close() also removes it from the epoll set */
}

static void sink_echo(int ufd)
{
	for (int i = 0; i < 64; i++) {
		char buf[2048], cbuf[CMSG_SPACE(sizeof(struct in_pktinfo))];
		struct sockaddr_in peer;
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
		struct msghdr m = {
			.msg_name = &peer, .msg_namelen = sizeof(peer),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
		};
		struct in_pktinfo *pi = NULL;
		struct cmsghdr *c;
		ssize_t n;

		n = recvmsg(ufd, &m, 0);
		if (n < 0)
			return;
		for (c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
			if (c->cmsg_level == IPPROTO_IP &&
			    c->cmsg_type == IP_PKTINFO)
				pi = (struct in_pktinfo *)CMSG_DATA(c);
		if (pi) {
			/* answer from the address the client asked */
			pi->ipi_ifindex = 0;
			pi->ipi_spec_dst = pi->ipi_addr;
		} else {
			m.msg_control = NULL;
			m.msg_controllen = 0;
		}
		iov.iov_len = (size_t)n;
		sendmsg(ufd, &m, MSG_DONTWAIT);
	}
}

static void sink_usage(FILE *f)
{
	fprintf(f, "usage: dp_sink [--port P] [--quit-after SEC]\n"
		"TCP and UDP server of the data-plane benchmark: answers one "
		"byte per TCP\nconnection and echoes UDP datagrams.\n");
}

int main(int argc, char **argv)
{
	struct epoll_event evs[SINK_EVENTS];
	long port = 5000, quit_after = 0;
	int ep = -1, tfd = -1, ufd = -1, ret = 1;
	uint64_t deadline = 0;

	for (int i = 1; i < argc; i++) {
		char *end = NULL;

		if (!strcmp(argv[i], "--help")) {
			sink_usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
			port = strtol(argv[++i], &end, 10);
		} else if (!strcmp(argv[i], "--quit-after") && i + 1 < argc) {
			quit_after = strtol(argv[++i], &end, 10);
		} else {
			sink_usage(stderr);
			return 2;
		}
		if (!end || *end || port < 1 || port > 65535 || quit_after < 0) {
			fprintf(stderr, "dp_sink: bad value '%s'\n", argv[i]);
			return 2;
		}
	}
	signal(SIGTERM, sink_on_signal);
	signal(SIGINT, sink_on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (quit_after)
		deadline = bh_now_ms() + (uint64_t)quit_after * 1000;

	tfd = sink_listen(SOCK_STREAM, (uint16_t)port);
	ufd = sink_listen(SOCK_DGRAM, (uint16_t)port);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (tfd < 0 || ufd < 0 || ep < 0) {
		fprintf(stderr, "dp_sink: cannot listen on port %ld: %s\n",
			port, strerror(tfd < 0 ? -tfd : ufd < 0 ? -ufd : errno));
		goto out;
	}
	{
		struct epoll_event t = { .events = EPOLLIN, .data.fd = tfd };
		struct epoll_event u = { .events = EPOLLIN, .data.fd = ufd };

		if (epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &t) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, ufd, &u) < 0) {
			perror("dp_sink: epoll_ctl");
			goto out;
		}
	}
	printf("ready\n");
	fflush(stdout);

	while (!sink_stop && (!deadline || bh_now_ms() < deadline)) {
		int n = epoll_wait(ep, evs, SINK_EVENTS, 200);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == tfd)
				sink_accept(tfd, ep);
			else if (fd == ufd)
				sink_echo(ufd);
			else
				sink_serve(fd, evs[i].events);
		}
	}
	ret = 0;
out:
	if (tfd >= 0)
		close(tfd);
	if (ufd >= 0)
		close(ufd);
	if (ep >= 0)
		close(ep);
	return ret;
}
