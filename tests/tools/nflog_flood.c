/* Flood sender for the denied-flow tests and benchmark: UDP datagrams to
 * DST:PORT at a target rate (0 = as fast as the machine goes), from one
 * socket per source address given, round robin, in sendmmsg batches.
 *
 *   nflog_flood DST PORT COUNT RATE [SRC...]
 *
 * Bounded: stops after COUNT datagrams or 120 s. Prints one JSON line
 * {"sent":N,"errors":E,"seconds":S,"rate":R}. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define BATCH 64
#define MAX_SRC 256
#define MAX_SECONDS 120

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mksock(const struct bh_addr *dst, uint16_t port, const char *src,
		  struct sockaddr_storage *ss, socklen_t *sl)
{
	struct bh_addr s;
	int fd, fam = dst->family;

	fd = socket(fam, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (src) {
		if (!bh_addr_parse(src, false, &s) || s.family != fam) {
			fprintf(stderr, "nflog_flood: bad source %s\n", src);
			close(fd);
			return -1;
		}
		if (fam == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)ss;

			a->sin_family = AF_INET;
			memcpy(&a->sin_addr, s.a, 4);
			*sl = sizeof(*a);
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

			a->sin6_family = AF_INET6;
			memcpy(&a->sin6_addr, s.a, 16);
			*sl = sizeof(*a);
		}
		if (bind(fd, (struct sockaddr *)ss, *sl) < 0) {
			fprintf(stderr, "nflog_flood: bind %s: %s\n", src,
				strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (fam == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;

		memset(a, 0, sizeof(*a));
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		memcpy(&a->sin_addr, dst->a, 4);
		*sl = sizeof(*a);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;

		memset(a, 0, sizeof(*a));
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		memcpy(&a->sin6_addr, dst->a, 16);
		*sl = sizeof(*a);
	}
	return fd;
}

int main(int argc, char **argv)
{
	struct mmsghdr msgs[BATCH];
	struct iovec iov = { .iov_base = "bulkhead-flood", .iov_len = 14 };
	struct sockaddr_storage ss[MAX_SRC];
	socklen_t sl[MAX_SRC];
	int fds[MAX_SRC], nfd = 0, i, k;
	unsigned long long count, sent = 0, errors = 0;
	double rate, t0, t, due;
	struct bh_addr dst;
	uint16_t port;

	if (argc < 5 || !bh_addr_parse(argv[1], false, &dst)) {
		fprintf(stderr, "usage: nflog_flood DST PORT COUNT RATE "
			"[SRC...]\n");
		return 2;
	}
	port = (uint16_t)atoi(argv[2]);
	count = strtoull(argv[3], NULL, 10);
	rate = atof(argv[4]);
	for (i = 5; i < argc || (i == 5 && argc == 5); i++) {
		if (nfd == MAX_SRC)
			break;
		fds[nfd] = mksock(&dst, port, i < argc ? argv[i] : NULL,
				  &ss[nfd], &sl[nfd]);
		if (fds[nfd] < 0)
			return 1;
		nfd++;
	}
	t0 = now_s();
	for (k = 0; sent < count; k = (k + 1) % nfd) {
		unsigned n = count - sent < BATCH ? (unsigned)(count - sent) :
			     BATCH;
		int r;

		t = now_s();
		if (t - t0 > MAX_SECONDS)
			break;
		if (rate > 0) {
			due = t0 + (double)sent / rate;
			if (due > t) {
				struct timespec ts = {
					.tv_sec = (time_t)(due - t),
					.tv_nsec = (long)((due - t -
						(double)(time_t)(due - t)) * 1e9),
				};

				nanosleep(&ts, NULL);
			}
		}
		for (i = 0; i < (int)n; i++) {
			memset(&msgs[i], 0, sizeof(msgs[i]));
			msgs[i].msg_hdr.msg_name = &ss[k];
			msgs[i].msg_hdr.msg_namelen = sl[k];
			msgs[i].msg_hdr.msg_iov = &iov;
			msgs[i].msg_hdr.msg_iovlen = 1;
		}
		r = sendmmsg(fds[k], msgs, n, 0);
		if (r < 0) {
			/* ICMP errors from earlier datagrams, full queue:
			 * count and go on, the datagram was not sent. */
			errors++;
			continue;
		}
		sent += (unsigned long long)r;
	}
	t = now_s() - t0;
	printf("{\"sent\":%llu,\"errors\":%llu,\"seconds\":%.3f,\"rate\":%.0f}\n",
	       sent, errors, t, t > 0 ? (double)sent / t : 0.0);
	for (i = 0; i < nfd; i++)
		close(fds[i]);
	return 0;
}
