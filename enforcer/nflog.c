/* nfnetlink_log reader with libmnl.
 *
 * Tuning, and why:
 * - copy mode "packet", range 128 bytes: an IPv6 header with a couple of
 *   extension headers and the transport ports fit; the payload is never
 *   needed, and a short copy keeps each message near 250 bytes.
 * - qthreshold 64, timeout 10 (1/100 s), nlbufsiz 64 KiB: under load the
 *   kernel packs up to 64 messages in one datagram (one wakeup and one
 *   recv per 64 packets); when quiet a packet waits at most 100 ms, well
 *   inside the "visible within a second" promise.
 * - per-instance sequence numbers (NFULNL_CFG_F_SEQ): the kernel numbers a
 *   message before it tries to queue it, so a datagram dropped on a full
 *   socket leaves a gap of exactly its message count. That is how lost
 *   messages are counted, not guessed.
 * - 8 MiB receive buffer (SO_RCVBUFFORCE when root), doubled on every
 *   ENOBUFS up to 64 MiB. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>

#include "log.h"
#include "nflog.h"

#define NFLOG_NLBUFSIZ 65536
#define NFLOG_RECV_BUF (2 * NFLOG_NLBUFSIZ)

struct nflog {
	struct mnl_socket *nl;
	struct nflog_opts o;
	uint32_t portid;
	uint32_t next_seq;
	bool warned;
	struct nflog_stats st;
	char *buf;
	nflog_cb cb;
	void *arg;
};

static void set_rcvbuf(struct nflog *n, uint32_t size)
{
	int fd = mnl_socket_get_fd(n->nl), v = (int)size;
	socklen_t len = sizeof(v);

	/* FORCE lifts net.core.rmem_max for root; a non-root test run gets
	 * what rmem_max allows. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0)
		n->st.rcvbuf = (uint32_t)v;
}

static int config(struct nflog *n, char **err)
{
	char buf[MNL_SOCKET_BUFFER_SIZE];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfulnl_msg_config_cmd cmd = { .command = NFULNL_CFG_CMD_BIND };
	struct nfulnl_msg_config_mode mode = {
		.copy_range = htonl(n->o.copy_range),
		.copy_mode = NFULNL_COPY_PACKET,
	};
	struct nfgenmsg *nfg;
	uint32_t seq = 1;
	int ret = 0;
	ssize_t r;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(n->o.group);
	/* Bind and configure in one message: the kernel applies the settings
	 * right after creating the instance, so no packet is ever logged
	 * with the defaults (and without a sequence number). */
	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
	mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
	mnl_attr_put_u32(nlh, NFULA_CFG_NLBUFSIZ, htonl(NFLOG_NLBUFSIZ));
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(n->o.qthreshold));
	mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(n->o.timeout_cs));
	mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
	if (mnl_socket_sendto(n->nl, nlh, nlh->nlmsg_len) < 0) {
		ret = -errno;
		*err = xasprintf("NFLOG group %u: send config: %s",
				 n->o.group, strerror(errno));
		goto out;
	}
	/* Packets may already queue before the ACK; they are skipped here
	 * and their sequence numbers make them count as lost. */
	for (;;) {
		r = mnl_socket_recvfrom(n->nl, n->buf, NFLOG_RECV_BUF);
		if (r < 0) {
			ret = -errno;
			*err = xasprintf("NFLOG group %u: reading the ACK: %s",
					 n->o.group, strerror(errno));
			goto out;
		}
		ret = mnl_cb_run(n->buf, (size_t)r, seq, n->portid, NULL, NULL);
		if (ret == MNL_CB_STOP) {
			ret = 0;
			goto out;
		}
		if (ret < 0) {
			ret = -errno;
			break;
		}
	}
	if (ret == -EBUSY || ret == -EPERM) {
		/* EBUSY: bound by another socket; EPERM: the instance
		 * belongs to another socket's port id. */
		ret = -EBUSY;
		*err = xasprintf("NFLOG group %u already has a reader (another "
				 "bulkheadd, ulogd, or a test tool?); only one "
				 "process can read a group", n->o.group);
	} else {
		*err = xasprintf("NFLOG group %u: bind: %s", n->o.group,
				 strerror(-ret));
	}
out:
	return ret;
}

int nflog_open(const struct nflog_opts *o, struct nflog **out, char **err)
{
	struct nflog *n = xcalloc(1, sizeof(*n));
	int ret, fl;

	*out = NULL;
	*err = NULL;
	n->o = *o;
	if (!n->o.copy_range)
		n->o.copy_range = NFLOG_COPY_RANGE_DEFAULT;
	if (!n->o.qthreshold)
		n->o.qthreshold = NFLOG_QTHRESHOLD_DEFAULT;
	if (!n->o.timeout_cs)
		n->o.timeout_cs = NFLOG_TIMEOUT_CS_DEFAULT;
	if (!n->o.rcvbuf)
		n->o.rcvbuf = NFLOG_RCVBUF_DEFAULT;
	if (!n->o.rcvbuf_max)
		n->o.rcvbuf_max = NFLOG_RCVBUF_MAX_DEFAULT;
	n->buf = xmalloc(NFLOG_RECV_BUF);
	n->nl = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
	if (!n->nl) {
		ret = -errno;
		*err = xasprintf("NFLOG: netlink socket: %s", strerror(errno));
		goto out;
	}
	if (mnl_socket_bind(n->nl, 0, MNL_SOCKET_AUTOPID) < 0) {
		ret = -errno;
		*err = xasprintf("NFLOG: netlink bind: %s", strerror(errno));
		goto out;
	}
	n->portid = mnl_socket_get_portid(n->nl);
	set_rcvbuf(n, n->o.rcvbuf);
	ret = config(n, err);
	if (ret < 0)
		goto out;
	/* Only now: the ACK above is read blocking. */
	fl = fcntl(mnl_socket_get_fd(n->nl), F_GETFL);
	if (fl < 0 ||
	    fcntl(mnl_socket_get_fd(n->nl), F_SETFL, fl | O_NONBLOCK) < 0) {
		ret = -errno;
		*err = xasprintf("NFLOG: O_NONBLOCK: %s", strerror(errno));
		goto out;
	}
	*out = n;
out:
	if (ret < 0)
		nflog_close(n);
	return ret;
}

void nflog_close(struct nflog *n)
{
	if (!n)
		return;
	/* Closing the socket unbinds the group (the kernel drops instances
	 * of a released port id). */
	if (n->nl)
		mnl_socket_close(n->nl);
	free(n->buf);
	free(n);
}

int nflog_fd(const struct nflog *n)
{
	return mnl_socket_get_fd(n->nl);
}

void nflog_get_stats(const struct nflog *n, struct nflog_stats *s)
{
	*s = n->st;
}

/* ---- decoding */

static uint16_t be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void parse_l4(const uint8_t *l4, size_t len, struct nflog_pkt *p)
{
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		if (len < 4)
			return;
		p->has_ports = true;
		p->sport = be16(l4);
		p->dport = be16(l4 + 2);
		return;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (len < 2)
			return;
		p->has_icmp = true;
		p->icmp_type = l4[0];
		p->icmp_code = l4[1];
		return;
	}
}

static bool parse_ipv6(const uint8_t *buf, size_t len, struct nflog_pkt *p)
{
	size_t off = 40, hl;
	uint8_t nh;
	int i;

	if (len < 40)
		return false;
	p->src.family = p->dst.family = AF_INET6;
	p->src.plen = p->dst.plen = 128;
	memcpy(p->src.a, buf + 8, 16);
	memcpy(p->dst.a, buf + 24, 16);
	p->len = 40u + be16(buf + 4);
	nh = buf[6];
	/* Walk extension headers, a bounded number, within the copy. */
	for (i = 0; i < 8; i++) {
		switch (nh) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			if (off + 2 > len)
				goto truncated;
			hl = ((size_t)buf[off + 1] + 1) * 8;
			nh = buf[off];
			off += hl;
			continue;
		case IPPROTO_AH:
			if (off + 2 > len)
				goto truncated;
			hl = ((size_t)buf[off + 1] + 2) * 4;
			nh = buf[off];
			off += hl;
			continue;
		case IPPROTO_FRAGMENT:
			if (off + 8 > len)
				goto truncated;
			nh = buf[off];
			/* Only the first fragment carries the ports. */
			if (be16(buf + off + 2) & 0xfff8) {
				p->proto = nh;
				return true;
			}
			off += 8;
			continue;
		}
		break;
	}
	p->proto = nh;
	if (off < len)
		parse_l4(buf + off, len - off, p);
	return true;
truncated:
	/* The addresses are known; the transport is not. */
	p->proto = nh;
	return true;
}

bool nflog_parse_payload(const uint8_t *buf, size_t len, struct nflog_pkt *p)
{
	size_t ihl;

	p->has_ports = p->has_icmp = false;
	p->sport = p->dport = 0;
	if (len < 1)
		return false;
	if (buf[0] >> 4 == 6)
		return parse_ipv6(buf, len, p);
	if (buf[0] >> 4 != 4 || len < 20)
		return false;
	ihl = (size_t)(buf[0] & 0x0f) * 4;
	if (ihl < 20)
		return false;
	p->src.family = p->dst.family = AF_INET;
	p->src.plen = p->dst.plen = 32;
	memset(p->src.a, 0, 16);
	memset(p->dst.a, 0, 16);
	memcpy(p->src.a, buf + 12, 4);
	memcpy(p->dst.a, buf + 16, 4);
	p->len = be16(buf + 2);
	p->proto = buf[9];
	/* A later fragment has no transport header. */
	if (be16(buf + 6) & 0x1fff)
		return true;
	if (ihl < len)
		parse_l4(buf + ihl, len - ihl, p);
	return true;
}

static int attr_cb(const struct nlattr *a, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(a);

	if (mnl_attr_type_valid(a, NFULA_MAX) < 0)
		return MNL_CB_OK;	/* newer kernel: ignore */
	switch (type) {
	case NFULA_PACKET_HDR:
		if (mnl_attr_validate2(a, MNL_TYPE_UNSPEC,
				       sizeof(struct nfulnl_msg_packet_hdr)) < 0)
			return MNL_CB_ERROR;
		break;
	case NFULA_TIMESTAMP:
		if (mnl_attr_validate2(a, MNL_TYPE_UNSPEC,
				       sizeof(struct nfulnl_msg_packet_timestamp)) < 0)
			return MNL_CB_ERROR;
		break;
	case NFULA_MARK:
	case NFULA_IFINDEX_INDEV:
	case NFULA_IFINDEX_OUTDEV:
	case NFULA_IFINDEX_PHYSINDEV:
	case NFULA_IFINDEX_PHYSOUTDEV:
	case NFULA_UID:
	case NFULA_GID:
	case NFULA_SEQ:
	case NFULA_SEQ_GLOBAL:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	case NFULA_PREFIX:
		if (mnl_attr_validate(a, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		break;
	}
	tb[type] = a;
	return MNL_CB_OK;
}

bool nflog_parse_msg(const struct nlmsghdr *nlh, struct nflog_pkt *p,
		     uint32_t *seq, bool *has_seq)
{
	const struct nlattr *tb[NFULA_MAX + 1] = { 0 }, *in;
	const char *prefix;

	*has_seq = false;
	if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
		return false;
	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return false;
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb) < 0)
		return false;
	if (tb[NFULA_SEQ]) {
		*seq = ntohl(mnl_attr_get_u32(tb[NFULA_SEQ]));
		*has_seq = true;
	}
	if (!tb[NFULA_PAYLOAD])
		return false;
	memset(p, 0, sizeof(*p));
	if (tb[NFULA_PREFIX]) {
		prefix = mnl_attr_get_str(tb[NFULA_PREFIX]);
		snprintf(p->prefix, sizeof(p->prefix), "%s", prefix);
	}
	/* a name only this namespace can give, and only while the link
	 * lives: read it now, the packet is milliseconds old. A bridge
	 * table's message gives the port as the physical input device and
	 * the bridge as the input device. */
	in = tb[NFULA_IFINDEX_PHYSINDEV] ? tb[NFULA_IFINDEX_PHYSINDEV] :
					   tb[NFULA_IFINDEX_INDEV];
	if (in && !if_indextoname(ntohl(mnl_attr_get_u32(in)), p->indev))
		p->indev[0] = '\0';
	/* inet and ip/ip6 tables give family 2/10, a bridge table 7: in all
	 * of them the payload starts at the IP header, whose version nibble
	 * is the one thing to trust. */
	return nflog_parse_payload(mnl_attr_get_payload(tb[NFULA_PAYLOAD]),
				   mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]),
				   p);
}

static int data_cb(const struct nlmsghdr *nlh, void *data)
{
	struct nflog *n = data;
	struct nflog_pkt p;
	uint32_t seq = 0;
	bool has_seq, ok;

	ok = nflog_parse_msg(nlh, &p, &seq, &has_seq);
	if (has_seq) {
		if (seq != n->next_seq)
			n->st.lost += (uint32_t)(seq - n->next_seq);
		n->next_seq = seq + 1;
	}
	if (!ok) {
		n->st.malformed++;
		return MNL_CB_OK;
	}
	p.wall_ms = bh_wall_ms();
	n->st.packets++;
	if (n->cb)
		n->cb(&p, n->arg);
	return MNL_CB_OK;
}

static void overflowed(struct nflog *n)
{
	uint32_t want = n->st.rcvbuf * 2;

	n->st.enobufs++;
	if (want > n->o.rcvbuf_max)
		want = n->o.rcvbuf_max;
	if (want > n->st.rcvbuf)
		set_rcvbuf(n, want);
	if (!n->warned) {
		n->warned = true;
		log_warn("NFLOG group %u: receive buffer overflowed; lost "
			 "messages are counted from sequence gaps and "
			 "reported in the records (buffer now %u bytes)",
			 n->o.group, n->st.rcvbuf);
	}
}

int nflog_read(struct nflog *n, unsigned max_batches, nflog_cb cb, void *arg)
{
	unsigned i;
	ssize_t r;
	int ret = 0;

	n->cb = cb;
	n->arg = arg;
	for (i = 0; i < max_batches; i++) {
		r = mnl_socket_recvfrom(n->nl, n->buf, NFLOG_RECV_BUF);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				overflowed(n);
				continue;
			}
			ret = -errno;
			goto out;
		}
		ret++;
		if (mnl_cb_run(n->buf, (size_t)r, 0, 0, data_cb, n) < 0 &&
		    errno != ENOENT)
			n->st.malformed++;
	}
out:
	n->cb = NULL;
	return ret;
}
