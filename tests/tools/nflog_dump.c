/* Test harness: the real NFLOG reader and the aggregator, without the
 * daemon. Reads one NFLOG group in the current network namespace for a
 * while and prints every record as a JSON line, then the reader's and the
 * aggregator's counters as one last JSON line {"stats":...}.
 *
 *   nflog_dump GROUP SECONDS [WINDOW_MS [MAX_FLOWS [RCVBUF [STALL_MS]]]]
 *
 * RCVBUF fixes the receive buffer (no growth on ENOBUFS) and STALL_MS
 * waits that long before the first read: together they make the kernel
 * drop messages, so the loss accounting can be checked against its
 * counters.
 * Prints "ready" on stderr once the group is bound. Exit 2 on bad usage,
 * 1 when the group cannot be bound (the message says why). */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flowlog.h"
#include "nflog.h"

static void print_rec(const struct flowlog_rec *r, void *arg)
{
	json_t *o = flowlog_rec_json(r);
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);

	printf("%s\n", s);
	fflush(stdout);
	free(s);
	json_decref(o);
}

static void on_pkt(const struct nflog_pkt *p, void *arg)
{
	flowlog_packet(arg, p);
}

int main(int argc, char **argv)
{
	struct nflog_opts no = { 0 };
	struct flowlog_opts fo = { .emit = print_rec };
	struct nflog_stats ns;
	struct flowlog_stats fs;
	struct flowlog *fl;
	struct nflog *n;
	uint64_t end, lost_seen = 0, now, stall_ms = 0;
	char *err;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: nflog_dump GROUP SECONDS [WINDOW_MS "
			"[MAX_FLOWS]]\n");
		return 2;
	}
	no.group = (uint16_t)atoi(argv[1]);
	if (argc > 3)
		fo.window_ms = (uint32_t)atoi(argv[3]);
	if (argc > 4)
		fo.max_flows = (size_t)atoi(argv[4]);
	if (argc > 5)
		no.rcvbuf = no.rcvbuf_max = (uint32_t)atoi(argv[5]);
	if (argc > 6)
		stall_ms = (uint64_t)atoi(argv[6]);
	ret = nflog_open(&no, &n, &err);
	if (ret < 0) {
		fprintf(stderr, "nflog_dump: %s\n", err);
		free(err);
		return 1;
	}
	fl = flowlog_new(&fo, bh_wall_ms());
	fprintf(stderr, "ready\n");
	end = bh_now_ms() + (uint64_t)atoi(argv[2]) * 1000;
	if (stall_ms) {
		struct timespec ts = { (time_t)(stall_ms / 1000),
				       (long)(stall_ms % 1000) * 1000000L };

		nanosleep(&ts, NULL);
	}
	while ((now = bh_now_ms()) < end) {
		struct pollfd pfd = { .fd = nflog_fd(n), .events = POLLIN };

		poll(&pfd, 1, 50);
		if (nflog_read(n, 64, on_pkt, fl) < 0)
			break;
		nflog_get_stats(n, &ns);
		if (ns.lost > lost_seen) {
			flowlog_lost(fl, ns.lost - lost_seen);
			lost_seen = ns.lost;
		}
		flowlog_tick(fl, bh_wall_ms());
	}
	flowlog_flush(fl, bh_wall_ms());
	nflog_get_stats(n, &ns);
	flowlog_get_stats(fl, &fs);
	printf("{\"stats\":{\"packets\":%llu,\"lost\":%llu,\"enobufs\":%llu,"
	       "\"malformed\":%llu,\"records\":%llu,\"overflow\":%llu,"
	       "\"unparsed\":%llu,\"rcvbuf\":%u}}\n",
	       (unsigned long long)ns.packets, (unsigned long long)ns.lost,
	       (unsigned long long)ns.enobufs,
	       (unsigned long long)ns.malformed,
	       (unsigned long long)fs.records,
	       (unsigned long long)fs.overflow,
	       (unsigned long long)fs.unparsed, ns.rcvbuf);
	flowlog_free(fl);
	nflog_close(n);
	return 0;
}
