/* Reader of one nfnetlink_log group (libmnl): the deny chains' `log group
 * N` messages, decoded to the headers flowlog.c needs. Copy mode "packet"
 * with a small range (headers only), per-instance sequence numbers to
 * count every lost message, kernel-side batching, a large receive buffer
 * that grows on ENOBUFS. Non-blocking; the caller polls nflog_fd(). */
#ifndef BULKHEAD_NFLOG_H
#define BULKHEAD_NFLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <net/if.h>
#include <stdint.h>

#include "util.h"

#define NFLOG_PREFIX_MAX 64

/* One logged packet. Addresses have plen 32/128. */
struct nflog_pkt {
	uint64_t wall_ms;		/* when it was read (ms since epoch) */
	struct bh_addr src, dst;
	uint8_t proto;			/* IPPROTO_* of the transport header */
	bool has_ports;			/* tcp, udp, sctp, udplite */
	uint16_t sport, dport;
	bool has_icmp;			/* icmp, icmpv6 */
	uint8_t icmp_type, icmp_code;
	uint32_t len;			/* IP datagram length (from its header) */
	char prefix[NFLOG_PREFIX_MAX];	/* "" when the rule gave none */
	/* the port a bridge table's frame came in on (its physical input
	 * device), else the input interface; named when the message was
	 * read, "" when not given or already gone */
	char indev[IF_NAMESIZE];
};

struct nflog_opts {
	uint16_t group;
	uint32_t copy_range;		/* bytes of each packet; 0 = default */
	uint32_t qthreshold;		/* messages per batch; 0 = default */
	uint32_t timeout_cs;		/* batch flush, 1/100 s; 0 = default */
	uint32_t rcvbuf;		/* initial SO_RCVBUF; 0 = default */
	uint32_t rcvbuf_max;		/* ENOBUFS grows up to this */
};

#define NFLOG_COPY_RANGE_DEFAULT 128
#define NFLOG_QTHRESHOLD_DEFAULT 64
#define NFLOG_TIMEOUT_CS_DEFAULT 10
#define NFLOG_RCVBUF_DEFAULT (8u << 20)
#define NFLOG_RCVBUF_MAX_DEFAULT (64u << 20)

struct nflog_stats {
	uint64_t packets;		/* decoded and handed to the callback */
	uint64_t lost;			/* messages the kernel could not deliver
					 * (sequence gaps) */
	uint64_t enobufs;		/* times the socket overflowed */
	uint64_t malformed;		/* messages or payloads rejected */
	uint32_t rcvbuf;		/* current receive buffer (bytes) */
};

struct nflog;

/* Binds the group in the caller's network namespace. -EBUSY: the group
 * already has a reader; *err (caller frees) always says what failed. */
int nflog_open(const struct nflog_opts *o, struct nflog **out, char **err);
void nflog_close(struct nflog *n);	/* NULL is fine */
int nflog_fd(const struct nflog *n);

typedef void (*nflog_cb)(const struct nflog_pkt *p, void *arg);

/* Reads what is queued, at most max_batches datagrams (so the caller's
 * loop stays responsive), calling cb for each packet. Returns the number
 * of datagrams read, or -errno on a socket error other than EAGAIN and
 * ENOBUFS (which is counted, grows the buffer and is not an error). */
int nflog_read(struct nflog *n, unsigned max_batches, nflog_cb cb, void *arg);

void nflog_get_stats(const struct nflog *n, struct nflog_stats *s);

/* Decodes one NFULNL_MSG_PACKET netlink message; false when it is not a
 * well-formed packet message (every attribute is validated). Exposed for
 * the unit tests and the fuzzer. */
struct nlmsghdr;
bool nflog_parse_msg(const struct nlmsghdr *nlh, struct nflog_pkt *p,
		     uint32_t *seq, bool *has_seq);
/* Decodes an IPv4/IPv6 header and the transport header after it. */
bool nflog_parse_payload(const uint8_t *buf, size_t len,
			 struct nflog_pkt *p);

#endif
