/* The allowed-flow observer (observe.h). ctnetlink's event groups carry
 * no sequence numbers, so a loss cannot be counted message by message as
 * NFLOG's can: an ENOBUFS is counted and followed by a resync from a
 * dump, which finds the connections whose NEW or DESTROY went missing
 * (flowobs.c counts those as the lost events). Connections that opened
 * and closed entirely inside the blind spot stay unseen; the number of
 * ENOBUFS says how often that could have happened. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

#include "ctevent.h"
#include "flowobs.h"
#include "log.h"
#include "metrics.h"
#include "observe.h"
#include "recfile.h"

#define OBS_TICK_MS 250
#define OBS_READ_BATCHES 64
/* ctnetlink sends one event per datagram: recvmmsg takes up to
 * OBS_MMSG of them per system call (measured: the syscalls were a good
 * part of the observer's cost per connection). An event is a few hundred
 * bytes; OBS_SLOT leaves ample room. */
/* Under load the events of many connections are read per wakeup: after a
 * read that found at least OBS_BUSY datagrams, the socket is left alone
 * for OBS_COALESCE_MS (the kernel queues meanwhile, well inside the
 * buffer), as NFLOG batches in the kernel. Measured: without it a good
 * share of the observer's CPU went to waking up for one or two events. */
#define OBS_BUSY 4
#define OBS_COALESCE_MS 20
#define OBS_MMSG 32
#define OBS_SLOT 8192
#define OBS_RCVBUF_DEFAULT (8u << 20)
#define OBS_RCVBUF_MAX_DEFAULT (64u << 20)
/* A flood that keeps overflowing the buffer must not make the loop dump
 * the table on every wakeup. */
#define OBS_RESYNC_MIN_MS 1000
#define OBS_ACCT_SYSCTL "/proc/sys/net/netfilter/nf_conntrack_acct"

struct observe {
	struct observe_opts o;
	struct ev_loop *loop;
	struct recfile *rf;
	struct nfct_handle *h;
	int fd;
	char *buf;			/* OBS_MMSG slots of OBS_SLOT bytes */
	struct mmsghdr *msgs;
	struct iovec *iov;
	struct flowobs *fo;
	struct ev_timer *timer;
	struct ev_timer *coalesce;	/* re-enables EPOLLIN after a pause */
	bool paused;
	uint64_t window_end;
	const struct policy *pol;
	uint32_t rcvbuf, rcvbuf_max;
	bool acct;			/* nf_conntrack_acct is 1 */
	bool overflowed;		/* a resync is due */
	uint64_t last_resync_ms;
	bool loss_warned;
	uint64_t enobufs, resyncs, resync_errors, malformed;
};

/* ---- accounting */

static bool acct_on(void)
{
	char *val = NULL;
	size_t len;
	bool on = false;
	int fd;

	if (bh_read_file(OBS_ACCT_SYSCTL, 16, &val, &len) == 0 && len &&
	    val[0] == '1') {
		free(val);
		log_info("flow observations: net.netfilter.nf_conntrack_acct "
			 "is 1");
		return true;
	}
	free(val);
	fd = open(OBS_ACCT_SYSCTL, O_WRONLY | O_CLOEXEC);
	if (fd >= 0 && write(fd, "1\n", 2) == 2) {
		on = true;
		log_info("flow observations: set net.netfilter."
			 "nf_conntrack_acct=1 in this network namespace "
			 "(packets and bytes of connections opened from now "
			 "on)");
	} else {
		log_warn("flow observations: cannot set net.netfilter."
			 "nf_conntrack_acct=1 (%s): records will count "
			 "connections, not packets and bytes",
			 strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	return on;
}

/* ---- records */

static void on_record(const struct flowobs_rec *r, void *arg)
{
	struct observe *ob = arg;

	recfile_put(ob->rf, flowobs_rec_json(r), r->seq, r->packets);
	if (ob->o.metrics)
		metrics_pair_add(ob->o.metrics, MP_FLOWS, r->src.group,
				 r->dst.group, "allow", r->connections);
}

static void sync_context(struct observe *ob, bool force)
{
	const struct policy *p = ob->o.policy(ob->o.arg);

	if (p == ob->pol && !force)
		return;
	ob->pol = p;
	flowobs_set_context(ob->fo, p, ob->o.inventory(ob->o.arg));
}

/* ---- conntrack messages -> events (ctevent.c) */

/* wall_ms: the time of the read that brought the message (one clock
 * read per batch of up to OBS_MMSG events) */
static void ct_msg(struct observe *ob, const struct nlmsghdr *nlh,
		   uint64_t wall_ms)
{
	struct flowobs_event e;
	int ret = ctevent_parse(nlh, nlh->nlmsg_len, &e);

	if (ret == -ENOENT)
		return;
	if (ret < 0) {
		ob->malformed++;
		return;
	}
	e.wall_ms = wall_ms;
	flowobs_event(ob->fo, &e);
}

struct ct_batch {
	struct observe *ob;
	uint64_t wall_ms;
};

static int data_cb(const struct nlmsghdr *nlh, void *arg)
{
	struct ct_batch *b = arg;

	ct_msg(b->ob, nlh, b->wall_ms);
	return MNL_CB_OK;
}

static void set_rcvbuf(struct observe *ob, uint32_t size)
{
	int v = (int)size;
	socklen_t len = sizeof(v);

	if (setsockopt(ob->fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) < 0)
		setsockopt(ob->fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
	if (getsockopt(ob->fd, SOL_SOCKET, SO_RCVBUF, &v, &len) == 0)
		ob->rcvbuf = (uint32_t)v;
}

static void overflowed(struct observe *ob)
{
	ob->enobufs++;
	ob->overflowed = true;
	if (!ob->loss_warned) {
		ob->loss_warned = true;
		log_warn("flow observations: conntrack events lost (receive "
			 "buffer full at %u bytes); resyncing from a dump, "
			 "counted in status (flows.enobufs, flows.lost)",
			 ob->rcvbuf);
	}
	if (ob->rcvbuf < ob->rcvbuf_max)
		set_rcvbuf(ob, ob->rcvbuf * 2 > ob->rcvbuf_max ?
			   ob->rcvbuf_max : ob->rcvbuf * 2);
}

/* At most max system calls of up to OBS_MMSG datagrams each; the number
 * of datagrams read, or -errno of a socket error other than EAGAIN and
 * ENOBUFS. */
static int read_events(struct observe *ob, unsigned max)
{
	struct ct_batch batch = { .ob = ob };
	unsigned i;
	int n, k, total = 0;

	for (i = 0; i < max; i++) {
		for (k = 0; k < OBS_MMSG; k++) {
			ob->iov[k].iov_base = ob->buf + (size_t)k * OBS_SLOT;
			ob->iov[k].iov_len = OBS_SLOT;
			memset(&ob->msgs[k].msg_hdr, 0,
			       sizeof(ob->msgs[k].msg_hdr));
			ob->msgs[k].msg_hdr.msg_iov = &ob->iov[k];
			ob->msgs[k].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(ob->fd, ob->msgs, OBS_MMSG, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return total;
			if (errno == EINTR)
				continue;
			if (errno == ENOBUFS) {
				overflowed(ob);
				continue;
			}
			return -errno;
		}
		total += n;
		batch.wall_ms = bh_wall_ms();
		for (k = 0; k < n; k++) {
			if (ob->msgs[k].msg_hdr.msg_flags & MSG_TRUNC) {
				ob->malformed++;
				continue;
			}
			if (mnl_cb_run(ob->iov[k].iov_base, ob->msgs[k].msg_len,
				       0, 0, data_cb, &batch) < 0 &&
			    errno != ENOENT)
				ob->malformed++;
		}
		if (n < OBS_MMSG)
			return total;
	}
	return total;
}

/* ---- resync: a dump on a handle of its own */

static int dump_cb(const struct nlmsghdr *nlh,
		   enum nf_conntrack_msg_type type, struct nf_conntrack *ct,
		   void *arg)
{
	struct observe *ob = arg;

	ct_msg(ob, nlh, bh_wall_ms());
	return NFCT_CB_CONTINUE;
}

static int resync(struct observe *ob, bool count)
{
	struct nfct_handle *h = nfct_open(CONNTRACK, 0);
	uint32_t family = AF_UNSPEC;
	int ret = 0;

	if (!h)
		return -errno;
	nfct_callback_register2(h, NFCT_T_ALL, dump_cb, ob);
	flowobs_resync_begin(ob->fo, count);
	if (nfct_query(h, NFCT_Q_DUMP, &family) < 0)
		ret = -errno;
	/* a failed dump saw only part of the table: dropping what it did
	 * not show would count open connections as lost */
	if (ret < 0)
		flowobs_resync_begin(ob->fo, false);
	flowobs_resync_end(ob->fo);
	nfct_close(h);
	return ret;
}

static void do_resync(struct observe *ob)
{
	int ret;

	ob->overflowed = false;
	ob->last_resync_ms = bh_now_ms();
	/* what is queued first: the dump then describes a later moment */
	read_events(ob, 1024);
	ret = resync(ob, true);
	ob->resyncs++;
	if (ret < 0) {
		ob->resync_errors++;
		log_warn("flow observations: resync dump: %s", strerror(-ret));
	}
}

/* ---- the loop's callbacks */

static void on_readable(int fd, uint32_t events, void *arg)
{
	struct observe *ob = arg;
	int ret;

	sync_context(ob, false);
	ret = read_events(ob, OBS_READ_BATCHES);
	if (ret < 0)
		log_warn("flow observations: reading events: %s",
			 strerror(-ret));
	if (ret >= OBS_BUSY && !ob->paused &&
	    ev_mod_fd(ob->loop, ob->fd, 0) == 0) {
		ob->paused = true;
		ev_timer_arm(ob->coalesce, OBS_COALESCE_MS, 0);
	}
	if (ob->overflowed &&
	    bh_now_ms() - ob->last_resync_ms >= OBS_RESYNC_MIN_MS)
		do_resync(ob);
}

static void on_coalesced(struct ev_timer *t, void *arg)
{
	struct observe *ob = arg;

	ob->paused = false;
	ev_mod_fd(ob->loop, ob->fd, EPOLLIN);
	/* what queued during the pause; a busy socket pauses again */
	on_readable(ob->fd, EPOLLIN, ob);
}

static void on_timer(struct ev_timer *t, void *arg)
{
	struct observe *ob = arg;
	uint64_t now = bh_wall_ms();

	if (ob->overflowed &&
	    bh_now_ms() - ob->last_resync_ms >= OBS_RESYNC_MIN_MS) {
		sync_context(ob, false);
		do_resync(ob);
	}
	if (now >= ob->window_end ||
	    ob->window_end - now > flowobs_window_ms(ob->fo)) {
		/* what the kernel has queued belongs to this window */
		sync_context(ob, false);
		read_events(ob, OBS_READ_BATCHES);
		sync_context(ob, true);
		ob->window_end = now + flowobs_tick(ob->fo, now);
	}
}

/* ---- the API of observe.h */

int observe_start(struct ev_loop *loop, const struct observe_opts *o,
		  struct observe **out)
{
	struct observe *ob = xcalloc(1, sizeof(*ob));
	struct recfile_opts ro = {
		.path = o->path && *o->path ? o->path : OBSERVE_PATH_DEFAULT,
		.what = "flow observations",
		.ring_size = o->ring_size,
		.ecs = o->ecs,
	};
	struct flowobs_opts fo = { .emit = on_record, .arg = ob };
	int ret, fl;

	*out = NULL;
	ob->o = *o;
	ob->loop = loop;
	ob->fd = -1;
	ob->rcvbuf_max = o->rcvbuf_max ? o->rcvbuf_max :
			 OBS_RCVBUF_MAX_DEFAULT;
	ret = recfile_open(&ro, &ob->rf);
	if (ret < 0)
		goto out;
	ob->acct = acct_on();
	ob->h = nfct_open(CONNTRACK, NF_NETLINK_CONNTRACK_NEW |
			  NF_NETLINK_CONNTRACK_DESTROY);
	if (!ob->h) {
		ret = -errno;
		log_err("flow observations: ctnetlink events: %s",
			strerror(-ret));
		goto out;
	}
	ob->fd = nfct_fd(ob->h);
	fl = fcntl(ob->fd, F_GETFL);
	if (fl < 0 || fcntl(ob->fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		ret = -errno;
		log_err("flow observations: O_NONBLOCK: %s", strerror(-ret));
		goto out;
	}
	set_rcvbuf(ob, o->rcvbuf ? o->rcvbuf : OBS_RCVBUF_DEFAULT);
	ob->buf = xmalloc((size_t)OBS_MMSG * OBS_SLOT);
	ob->msgs = xcalloc(OBS_MMSG, sizeof(*ob->msgs));
	ob->iov = xcalloc(OBS_MMSG, sizeof(*ob->iov));
	ob->pol = o->policy(o->arg);
	ob->fo = flowobs_new(&fo, bh_wall_ms());
	flowobs_set_context(ob->fo, ob->pol, o->inventory(o->arg));
	/* the connections open now: their DESTROY finds their groups */
	ret = resync(ob, false);
	if (ret < 0)
		log_warn("flow observations: dump of the open connections: "
			 "%s (they are attributed when they end)",
			 strerror(-ret));
	ret = ev_add_fd(loop, ob->fd, EPOLLIN, on_readable, ob);
	if (ret < 0) {
		log_err("flow observations: epoll: %s", strerror(-ret));
		goto out;
	}
	ob->window_end = bh_wall_ms() + flowobs_window_ms(ob->fo);
	ob->coalesce = ev_timer_new(loop, on_coalesced, ob);
	ob->timer = ev_timer_new(loop, on_timer, ob);
	ev_timer_arm(ob->timer, OBS_TICK_MS, OBS_TICK_MS);
	log_info("flow observations: conntrack NEW/DESTROY -> %s, window "
		 "%u ms", recfile_path(ob->rf), flowobs_window_ms(ob->fo));
	*out = ob;
	ret = 0;
out:
	if (ret < 0)
		observe_stop(ob);
	return ret;
}

void observe_stop(struct observe *ob)
{
	if (!ob)
		return;
	ev_timer_free(ob->coalesce);
	if (ob->timer) {
		ev_timer_free(ob->timer);
		sync_context(ob, false);
		read_events(ob, OBS_READ_BATCHES);
		flowobs_flush(ob->fo, bh_wall_ms());
		ev_del_fd(ob->loop, ob->fd);
	}
	flowobs_free(ob->fo);
	if (ob->h)
		nfct_close(ob->h);
	free(ob->buf);
	free(ob->msgs);
	free(ob->iov);
	recfile_close(ob->rf);
	free(ob);
}

int observe_reopen(struct observe *ob)
{
	return recfile_reopen(ob->rf);
}

uint64_t observe_lost(const struct observe *ob)
{
	struct flowobs_stats s;

	flowobs_get_stats(ob->fo, &s);
	return s.lost_new + s.lost_destroy;
}

json_t *observe_status_json(const struct observe *ob)
{
	struct flowobs_stats s;

	flowobs_get_stats(ob->fo, &s);
	return json_pack("{s:s, s:I, s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I}",
			 "file", recfile_path(ob->rf),
			 "window_ms", (json_int_t)flowobs_window_ms(ob->fo),
			 "accounting", ob->acct,
			 "records", (json_int_t)s.records,
			 "last_seq", (json_int_t)recfile_last_seq(ob->rf),
			 "events", (json_int_t)s.events,
			 "connections", (json_int_t)s.connections,
			 "ended", (json_int_t)s.ended,
			 "packets", (json_int_t)s.packets,
			 "bytes", (json_int_t)s.bytes,
			 "ignored", (json_int_t)s.ignored,
			 "tracked", (json_int_t)s.tracked,
			 "max_tracked", (json_int_t)s.max_conns,
			 "untracked", (json_int_t)s.untracked,
			 "enobufs", (json_int_t)ob->enobufs,
			 "resyncs", (json_int_t)ob->resyncs,
			 "lost", (json_int_t)(s.lost_new + s.lost_destroy),
			 "lost_new", (json_int_t)s.lost_new,
			 "lost_destroy", (json_int_t)s.lost_destroy,
			 "malformed", (json_int_t)ob->malformed,
			 "rcvbuf", (json_int_t)ob->rcvbuf,
			 "write_errors",
			 (json_int_t)recfile_write_errors(ob->rf));
}

json_t *observe_recent_json(const struct observe *ob, uint64_t after_seq)
{
	return recfile_recent_json(ob->rf, after_seq);
}
