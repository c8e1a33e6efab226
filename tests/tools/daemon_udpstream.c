/* A counted UDP stream for the daemon's e2e tests. Every datagram leaves
 * from a fresh socket (a new source port), so each one is a new conntrack
 * entry and meets the ruleset as it is at that instant; established-state
 * shortcuts cannot hide a gap.
 *
 *   daemon_udpstream send ADDR PORT COUNT INTERVAL_US
 *       prints "sent N" after COUNT datagrams or at SIGTERM/SIGINT
 *   daemon_udpstream echo PORT TEXT
 *       answers every datagram with TEXT, one process, until SIGTERM (a
 *       forking socat may hand the next datagram to a lingering child)
 *   daemon_udpstream recv PORT OUTFILE
 *       counts datagrams until SIGTERM/SIGINT, then writes
 *       "received N distinct D max M [missing S,S,...]" to OUTFILE */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signo)
{
	stop = 1;
}

static int do_send(const char *addr, const char *port, long count,
		   long interval_us)
{
	struct sockaddr_storage ss = { 0 };
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
	socklen_t len;
	struct timespec ts = { .tv_sec = interval_us / 1000000,
			       .tv_nsec = interval_us % 1000000 * 1000 };
	struct sigaction act = { .sa_handler = on_signal };
	char buf[32];
	long i, sent = 0;
	int fd, n;

	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);

	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(port));
		len = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(port));
		len = sizeof(*s6);
	} else {
		fprintf(stderr, "udpstream: bad address %s\n", addr);
		return 2;
	}
	for (i = 1; i <= count && !stop; i++) {
		fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			perror("socket");
			return 2;
		}
		n = snprintf(buf, sizeof(buf), "%ld\n", i);
		if (sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&ss,
			   len) == n)
			sent++;
		close(fd);
		if (interval_us)
			nanosleep(&ts, NULL);
	}
	printf("sent %ld\n", sent);
	fflush(stdout);
	return 0;
}

static int do_recv(const char *port, const char *out)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct timeval tv = { .tv_usec = 100000 };
	struct sigaction act = { .sa_handler = on_signal };
	unsigned char *seen;
	long received = 0, distinct = 0, max = 0, v;
	char buf[64];
	ssize_t n;
	int fd, off = 0;
	FILE *f;

	seen = calloc(1 << 20, 1);
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);
	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	sa.sin6_port = htons((uint16_t)atoi(port));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		return 2;
	}
	while (!stop) {
		n = recv(fd, buf, sizeof(buf) - 1, 0);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		received++;
		v = strtol(buf, NULL, 10);
		if (v > 0 && v < (1 << 20) && !seen[v]) {
			seen[v] = 1;
			distinct++;
		}
		if (v > max)
			max = v;
	}
	f = fopen(out, "w");
	if (!f)
		return 2;
	fprintf(f, "received %ld distinct %ld max %ld", received, distinct,
		max);
	/* the first gaps, to line them up with what happened then */
	for (v = 1, n = 0; v <= max && n < 10; v++)
		if (!seen[v]) {
			fprintf(f, "%s%ld", n++ ? "," : " missing ", v);
		}
	fputc('\n', f);
	fclose(f);
	free(seen);
	return 0;
}

static int do_echo(const char *port, const char *text)
{
	struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
				   .sin6_addr = IN6ADDR_ANY_INIT };
	struct sockaddr_storage peer;
	socklen_t plen;
	char buf[2048];
	int fd, off = 0;
	ssize_t n;

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	sa.sin6_port = htons((uint16_t)atoi(port));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("bind");
		return 2;
	}
	snprintf(buf, sizeof(buf), "%s\n", text);
	for (;;) {
		char in[2048];

		plen = sizeof(peer);
		n = recvfrom(fd, in, sizeof(in), 0, (struct sockaddr *)&peer,
			     &plen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return 2;
		sendto(fd, buf, strlen(buf), 0, (struct sockaddr *)&peer, plen);
	}
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "echo"))
		return do_echo(argv[2], argv[3]);
	if (argc == 6 && !strcmp(argv[1], "send"))
		return do_send(argv[2], argv[3], atol(argv[4]), atol(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return do_recv(argv[2], argv[3]);
	fprintf(stderr, "usage: daemon_udpstream send ADDR PORT COUNT "
		"INTERVAL_US | recv PORT OUTFILE | echo PORT TEXT\n");
	return 2;
}
