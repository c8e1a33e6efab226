/* The daemon's denied-flow pipeline: NFLOG reader -> flowlog -> JSON lines,
 * journald and a ring of recent records; plus the kernel's named counters
 * (denied_* and unlogged_*), read at every window's end, so packets the
 * kernel's per-source rate limit kept from NFLOG still appear in records.
 * Everything runs on the daemon's loop; nothing here blocks it for long:
 * a read callback handles at most a bounded number of datagrams. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "denied.h"
#include "ecs.h"
#include "ev.h"
#include "flowlog.h"
#include "log.h"
#include "metrics.h"
#include "nflog.h"
#include "nft.h"
#include "recfile.h"
#include "ruleset.h"

#define DENIED_PATH_DEFAULT "/var/log/bulkhead/denied.jsonl"
#define DENIED_TICK_MS 250
/* Datagrams per loop wakeup: up to ~4096 packets, a few ms of work. */
#define DENIED_READ_BATCHES 64

struct ctr {
	char *name;
	uint64_t packets;		/* the kernel's value at the last read */
	uint64_t pending;		/* unlogged, not yet in a record */
	uint64_t pending_since;		/* wall ms */
	uint8_t table;			/* enum rs_table */
	bool seen;
};

struct denied {
	/* the daemon's policy and inventory of the moment (denied.h) */
	const struct policy *(*policy)(void *arg);
	const struct inventory *(*inventory)(void *arg);
	void *arg;
	struct ev_loop *loop;
	struct recfile *rf;
	uint16_t group;
	bool journald;
	struct nflog *nf;
	struct flowlog *fl;
	struct ev_timer *timer;
	uint64_t window_end;		/* wall ms */
	const struct policy *pol;
	uint64_t lost_seen;
	/* kernel counters */
	struct nft_writer *nft;
	struct ctr *ctrs;
	size_t n_ctrs, cap_ctrs;
	bool ctr_baseline;		/* the first read only sets the base */
	size_t ctr_n_read[2];		/* the last read's, per rs_table */
	struct nft_counts *counts;	/* the daemon's last known counts */
	struct metrics *metrics;	/* not owned, may be NULL */
	uint64_t ctr_read_ms;
	uint64_t kernel_denied, kernel_unlogged;
	bool ctr_warned;
};

/* ---- output */

static void jfield(struct iovec *iov, size_t *n, char **bufs, const char *fmt,
		   ...) __attribute__((format(printf, 4, 5)));

static void jfield(struct iovec *iov, size_t *n, char **bufs, const char *fmt,
		   ...)
{
	va_list ap;
	char *s;
	int len;

	va_start(ap, fmt);
	len = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	bufs[*n] = s;
	iov[*n].iov_base = s;
	iov[*n].iov_len = (size_t)len;
	(*n)++;
}

static void journal_side(struct iovec *iov, size_t *n, char **bufs,
			 const char *pfx, const struct flowlog_side *s)
{
	char a[BH_ADDR_STRLEN];

	if (s->has_addr)
		jfield(iov, n, bufs, "BULKHEAD_%s_IP=%s", pfx,
		       bh_addr_str(&s->addr, a));
	if (s->has_port)
		jfield(iov, n, bufs, "BULKHEAD_%s_PORT=%u", pfx, s->port);
	if (s->group)
		jfield(iov, n, bufs, "BULKHEAD_%s_GROUP=%s", pfx, s->group);
	if (s->container_id)
		jfield(iov, n, bufs, "BULKHEAD_%s_CONTAINER_ID=%s", pfx,
		       s->container_id);
	if (s->container_name)
		jfield(iov, n, bufs, "BULKHEAD_%s_CONTAINER_NAME=%s", pfx,
		       s->container_name);
	if (s->sensitivity)
		jfield(iov, n, bufs, "BULKHEAD_%s_SENSITIVITY=%s", pfx,
		       s->sensitivity);
	if (s->container_host)
		jfield(iov, n, bufs, "BULKHEAD_%s_CONTAINER_HOST=%s", pfx,
		       s->container_host);
}

static void journal_send(const struct flowlog_rec *r)
{
	struct iovec iov[40];
	char *bufs[40], a[BH_ADDR_STRLEN], b[BH_ADDR_STRLEN], pb[8], t[32];
	size_t n = 0, i;

	if (r->kind == FL_REC_FLOW)
		jfield(iov, &n, bufs, "MESSAGE=%s %s %s -> %s %s/%u: %llu "
		       "packets", flowlog_action_str(r->action),
		       r->src.group ? r->src.group : "?",
		       bh_addr_str(&r->src.addr, a),
		       bh_addr_str(&r->dst.addr, b),
		       flowlog_proto_str(r->proto, pb),
		       r->dst.has_port ? r->dst.port : r->icmp_type,
		       (unsigned long long)r->packets);
	else
		jfield(iov, &n, bufs, "MESSAGE=%s: %llu packets, %llu unlogged, "
		       "%llu lost", flowlog_kind_str(r->kind),
		       (unsigned long long)r->packets,
		       (unsigned long long)r->unlogged,
		       (unsigned long long)r->lost);
	jfield(iov, &n, bufs, "PRIORITY=%d", r->lost ? 4 : 5);
	jfield(iov, &n, bufs, "SYSLOG_IDENTIFIER=bulkheadd");
	jfield(iov, &n, bufs, "BULKHEAD_SCHEMA=%d", FLOWLOG_SCHEMA);
	jfield(iov, &n, bufs, "BULKHEAD_RECORD=%s", flowlog_kind_str(r->kind));
	jfield(iov, &n, bufs, "BULKHEAD_SEQ=%llu", (unsigned long long)r->seq);
	if (r->kind == FL_REC_FLOW || r->kind == FL_REC_UNLOGGED)
		jfield(iov, &n, bufs, "BULKHEAD_ACTION=%s",
		       flowlog_action_str(r->action));
	if (r->kind == FL_REC_FLOW)
		jfield(iov, &n, bufs, "BULKHEAD_PROTO=%s",
		       flowlog_proto_str(r->proto, pb));
	if (r->has_icmp)
		jfield(iov, &n, bufs, "BULKHEAD_ICMP_TYPE=%u", r->icmp_type);
	if (r->rule)
		jfield(iov, &n, bufs, "BULKHEAD_RULE=%s", r->rule);
	if (r->policy_hash)
		jfield(iov, &n, bufs, "BULKHEAD_POLICY_HASH=%s",
		       r->policy_hash);
	if (r->kind == FL_REC_FLOW || r->kind == FL_REC_UNLOGGED)
		jfield(iov, &n, bufs, "BULKHEAD_DIRECTION=%s",
		       flowlog_direction_str(r->dir));
	journal_side(iov, &n, bufs, "SRC", &r->src);
	journal_side(iov, &n, bufs, "DST", &r->dst);
	jfield(iov, &n, bufs, "BULKHEAD_START=%s", bh_rfc3339(r->start_ms, t));
	jfield(iov, &n, bufs, "BULKHEAD_END=%s", bh_rfc3339(r->end_ms, t));
	jfield(iov, &n, bufs, "BULKHEAD_PACKETS=%llu",
	       (unsigned long long)r->packets);
	jfield(iov, &n, bufs, "BULKHEAD_BYTES=%llu",
	       (unsigned long long)r->bytes);
	jfield(iov, &n, bufs, "BULKHEAD_UNLOGGED=%llu",
	       (unsigned long long)r->unlogged);
	jfield(iov, &n, bufs, "BULKHEAD_LOST=%llu",
	       (unsigned long long)r->lost);
	sd_journal_sendv(iov, (int)n);
	for (i = 0; i < n; i++)
		free(bufs[i]);
}

/* Every packet a record carries, logged or over the log rate, once: the
 * sums follow the kernel's denied_* counters as the records do. An
 * overflow record's packets have no one action. */
static void count_record(struct denied *dn, const struct flowlog_rec *r)
{
	if (!dn->metrics || r->kind == FL_REC_LOSS)
		return;
	metrics_pair_add(dn->metrics, MP_DENIED, r->src.group, r->dst.group,
			 r->kind == FL_REC_OVERFLOW ? "*" :
			 flowlog_action_str(r->action),
			 r->packets + r->unlogged);
}

static void on_record(const struct flowlog_rec *r, void *arg)
{
	struct denied *dn = arg;

	recfile_put(dn->rf, flowlog_rec_json(r), r->seq,
		    r->packets + r->unlogged + r->lost);
	if (dn->journald)
		journal_send(r);
	count_record(dn, r);
}

void denied_note(struct denied *dn, json_t *o)
{
	uint64_t seq;

	if (!dn) {
		json_decref(o);
		return;
	}
	seq = flowlog_seq_next(dn->fl);
	json_object_set_new(json_object_get(o, "bulkhead"), "seq",
			    json_integer((json_int_t)seq));
	if (dn->journald)
		sd_journal_send("MESSAGE=%s",
				json_string_value(json_object_get(o, "message")),
				"PRIORITY=4", "BULKHEAD_RECORD=%s",
				json_string_value(json_object_get(
					json_object_get(o, "bulkhead"), "record")),
				"BULKHEAD_SEQ=%llu", (unsigned long long)seq,
				NULL);
	recfile_put(dn->rf, o, seq, 0);
}

/* ---- the kernel's counters (nft_read_counters: both bulkhead tables) */

static struct ctr *ctr_find(struct denied *dn, const char *name)
{
	size_t i;

	for (i = 0; i < dn->n_ctrs; i++)
		if (!strcmp(dn->ctrs[i].name, name))
			return &dn->ctrs[i];
	return NULL;
}

static bool rule_is_audit(const struct denied *dn,
			  const struct flowlog_rule *r)
{
	const struct policy *p = dn->pol;
	size_t g;

	if (!p)
		return false;
	for (g = 0; g < p->n_groups; g++)
		if (!strcmp(p->groups[g].name, r->group))
			return p->groups[g].mode == MODE_AUDIT;
	return false;
}

static void ctr_cb(const char *name, enum rs_table table, uint64_t pk,
		   uint64_t bytes, void *arg)
{
	struct denied *dn = arg;
	struct flowlog_rule rule;
	uint64_t delta;
	bool unlogged;
	struct ctr *c;

	dn->ctr_n_read[table == RS_BRIDGE]++;
	if (dn->counts)
		nft_counts_note(name, table, pk, bytes, dn->counts);
	if (!flowlog_parse_counter(name, &rule, &unlogged))
		return;
	c = ctr_find(dn, name);
	if (!c) {
		xgrow(&dn->ctrs, &dn->cap_ctrs, dn->n_ctrs + 1,
		      sizeof(*dn->ctrs));
		c = &dn->ctrs[dn->n_ctrs++];
		memset(c, 0, sizeof(*c));
		c->name = xstrdup(name);
		c->table = (uint8_t)table;
		/* Counted before we started: not ours to report. A counter
		 * born later (new group) starts at zero; the others carry
		 * their counts from table to table, and we know them. */
		c->packets = dn->ctr_baseline ? pk : 0;
	}
	/* A smaller value: someone reset the counters behind our back. */
	delta = pk >= c->packets ? pk - c->packets : pk;
	c->packets = pk;
	c->seen = true;
	if (!delta)
		return;
	if (unlogged) {
		dn->kernel_unlogged += delta;
		if (!c->pending)
			c->pending_since = dn->ctr_read_ms;
		c->pending += delta;
	} else {
		dn->kernel_denied += delta;
	}
}

/* One record per unlogged_* counter that grew since its last record. */
static void emit_unlogged(struct denied *dn, struct ctr *c, uint64_t now)
{
	struct flowlog_rule rule;
	bool unlogged;

	if (!c->pending || !flowlog_parse_counter(c->name, &rule, &unlogged))
		return;
	rule.audit = rule_is_audit(dn, &rule);
	flowlog_unlogged(dn->fl, &rule, c->pending, c->pending_since, now);
	c->pending = 0;
}

/* Every tick, not only at the window's end: a reload replaces the table
 * and its counters, and what the old ones counted since the last read is
 * gone with them, so reads are kept a tick apart. */
static int read_counters(struct denied *dn)
{
	uint64_t now;
	size_t i;
	int ret;

	for (i = 0; i < dn->n_ctrs; i++)
		dn->ctrs[i].seen = false;
	dn->ctr_n_read[0] = dn->ctr_n_read[1] = 0;
	ret = nft_read_counters(dn->nft, ctr_cb, dn);
	now = bh_wall_ms();
	/* Forget counters that went away with their group. None at all from
	 * a table: it is gone (someone deleted it), and the daemon puts it
	 * back with the counts it last knew; keep ours to count on from. */
	if (!ret)
		for (i = 0; i < dn->n_ctrs;) {
			if (dn->ctrs[i].seen ||
			    !dn->ctr_n_read[dn->ctrs[i].table == RS_BRIDGE]) {
				i++;
				continue;
			}
			emit_unlogged(dn, &dn->ctrs[i], now);
			free(dn->ctrs[i].name);
			dn->ctrs[i] = dn->ctrs[--dn->n_ctrs];
		}
	if (ret < 0 && !dn->ctr_warned) {
		dn->ctr_warned = true;
		log_warn("denied flows: reading nftables counters: %s "
			 "(unlogged packets cannot be reported)",
			 strerror(-ret));
	}
	dn->ctr_read_ms = bh_wall_ms();
	return ret;
}

/* ---- the loop's callbacks */

static void sync_context(struct denied *dn)
{
	const struct policy *p = dn->policy(dn->arg);

	if (p == dn->pol)
		return;
	/* A new policy comes with a new table (one transaction replaces
	 * it) whose counters carry on from the old ones' counts; the daemon
	 * keeps the old policy alive for seconds, so the pointer cannot be
	 * reused meanwhile. */
	dn->pol = p;
	flowlog_set_context(dn->fl, p, dn->inventory(dn->arg));
}

static void take_lost(struct denied *dn)
{
	struct nflog_stats s;

	nflog_get_stats(dn->nf, &s);
	if (s.lost > dn->lost_seen) {
		flowlog_lost(dn->fl, s.lost - dn->lost_seen);
		dn->lost_seen = s.lost;
	}
}

static void on_pkt(const struct nflog_pkt *p, void *arg)
{
	struct denied *dn = arg;

	flowlog_packet(dn->fl, p);
}

static void on_readable(int fd, uint32_t events, void *arg)
{
	struct denied *dn = arg;
	int ret;

	sync_context(dn);
	ret = nflog_read(dn->nf, DENIED_READ_BATCHES, on_pkt, dn);
	if (ret < 0)
		log_warn("denied flows: NFLOG read: %s", strerror(-ret));
	take_lost(dn);
}

static void end_window(struct denied *dn, uint64_t now)
{
	/* Drain what the kernel has queued, so the counters and the
	 * records describe the same packets as closely as possible. */
	size_t i;

	nflog_read(dn->nf, DENIED_READ_BATCHES, on_pkt, dn);
	take_lost(dn);
	read_counters(dn);
	for (i = 0; i < dn->n_ctrs; i++)
		emit_unlogged(dn, &dn->ctrs[i], now);
	dn->window_end = now + flowlog_tick(dn->fl, now);
}

static void on_timer(struct ev_timer *t, void *arg)
{
	struct denied *dn = arg;
	uint64_t now = bh_wall_ms();

	sync_context(dn);
	/* Rebuild attribution state once per window even when the policy
	 * pointer looks unchanged. */
	if (now >= dn->window_end ||
	    dn->window_end - now > flowlog_window_ms(dn->fl)) {
		flowlog_set_context(dn->fl, dn->pol, dn->inventory(dn->arg));
		end_window(dn, now);
	} else {
		read_counters(dn);
	}
}

/* ---- the API of denied.h */

int denied_start(struct ev_loop *loop, const struct denied_opts *o,
		 struct denied **out)
{
	struct denied *dn = xcalloc(1, sizeof(*dn));
	struct nflog_opts no = { 0 };
	struct flowlog_opts fo = { 0 };
	struct recfile_opts ro = {
		.path = o->path && *o->path ? o->path : DENIED_PATH_DEFAULT,
		.what = "denied flows",
		.ring_size = o->ring_size,
		.journald = o->journald,
		.ecs = o->ecs,
	};
	char *err = NULL, host[256];
	int ret;

	*out = NULL;
	dn->policy = o->policy;
	dn->inventory = o->inventory;
	dn->arg = o->arg;
	dn->loop = loop;
	dn->group = o->nflog_group ? o->nflog_group :
		    RULESET_NFLOG_GROUP_DEFAULT;
	dn->journald = o->journald;
	dn->counts = o->counts;
	dn->metrics = o->metrics;
	ret = recfile_open(&ro, &dn->rf);
	if (ret < 0)
		goto out;
	no.group = dn->group;
	ret = nflog_open(&no, &dn->nf, &err);
	if (ret < 0) {
		log_err("denied flows: %s", err);
		goto out;
	}
	/* Our own socket for reading counters: the daemon's writer stays
	 * the one that changes the table. */
	ret = nft_open(&dn->nft);
	if (ret < 0) {
		log_err("denied flows: nftables socket: %s", strerror(-ret));
		goto out;
	}
	fo.emit = on_record;
	fo.arg = dn;
	/* records say which host judged them; a SIEM gathers many */
	if (gethostname(host, sizeof(host)) == 0) {
		host[sizeof(host) - 1] = '\0';
		fo.host_name = host;
	}
	dn->pol = dn->policy(dn->arg);
	if (dn->pol)
		fo.window_ms = dn->pol->log_window_ms;
	dn->fl = flowlog_new(&fo, bh_wall_ms());
	flowlog_set_context(dn->fl, dn->pol, dn->inventory(dn->arg));
	dn->ctr_baseline = true;
	read_counters(dn);
	dn->ctr_baseline = false;
	dn->window_end = bh_wall_ms() + flowlog_window_ms(dn->fl);
	ret = ev_add_fd(dn->loop, nflog_fd(dn->nf), EPOLLIN, on_readable, dn);
	if (ret < 0) {
		log_err("denied flows: epoll: %s", strerror(-ret));
		goto out;
	}
	dn->timer = ev_timer_new(dn->loop, on_timer, dn);
	ev_timer_arm(dn->timer, DENIED_TICK_MS, DENIED_TICK_MS);
	log_info("denied flows: NFLOG group %u -> %s (%s)%s, window %u ms",
		 dn->group, recfile_path(dn->rf), o->ecs ? "ECS" : "JSON lines",
		 dn->journald ? " and journald" : "",
		 flowlog_window_ms(dn->fl));
	*out = dn;
out:
	free(err);
	if (ret < 0) {
		if (dn->nf)
			ev_del_fd(dn->loop, nflog_fd(dn->nf));
		denied_stop(dn);
	}
	return ret < 0 ? ret : 0;
}

void denied_stop(struct denied *dn)
{
	size_t i;

	if (!dn)
		return;
	if (dn->timer)
		ev_timer_free(dn->timer);
	if (dn->fl) {
		sync_context(dn);
		nflog_read(dn->nf, DENIED_READ_BATCHES, on_pkt, dn);
		take_lost(dn);
		read_counters(dn);
		for (i = 0; i < dn->n_ctrs; i++)
			emit_unlogged(dn, &dn->ctrs[i], bh_wall_ms());
		flowlog_flush(dn->fl, bh_wall_ms());
		ev_del_fd(dn->loop, nflog_fd(dn->nf));
	}
	flowlog_free(dn->fl);
	nflog_close(dn->nf);
	nft_close(dn->nft);
	for (i = 0; i < dn->n_ctrs; i++)
		free(dn->ctrs[i].name);
	free(dn->ctrs);
	recfile_close(dn->rf);
	free(dn);
}

int denied_reopen(struct denied *dn)
{
	return recfile_reopen(dn->rf);
}

json_t *denied_status_json(const struct denied *dn)
{
	struct flowlog_stats fs;
	struct nflog_stats ns;
	uint64_t unwritten, unwritten_packets;

	flowlog_get_stats(dn->fl, &fs);
	nflog_get_stats(dn->nf, &ns);
	recfile_unwritten(dn->rf, &unwritten, &unwritten_packets);
	return json_pack("{s:s, s:i, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "file", recfile_path(dn->rf),
			 "nflog_group", (int)dn->group,
			 "window_ms", (json_int_t)flowlog_window_ms(dn->fl),
			 "records", (json_int_t)fs.records,
			 "last_seq", (json_int_t)recfile_last_seq(dn->rf),
			 "packets", (json_int_t)fs.packets,
			 "bytes", (json_int_t)fs.bytes,
			 "unlogged", (json_int_t)fs.unlogged,
			 "lost", (json_int_t)ns.lost,
			 "enobufs", (json_int_t)ns.enobufs,
			 "malformed", (json_int_t)ns.malformed,
			 "overflow", (json_int_t)fs.overflow,
			 "flows", (json_int_t)fs.flows,
			 "max_flows", (json_int_t)fs.max_flows,
			 "rcvbuf", (json_int_t)ns.rcvbuf,
			 "write_errors",
			 (json_int_t)recfile_write_errors(dn->rf),
			 "kernel_denied", (json_int_t)dn->kernel_denied,
			 "kernel_unlogged", (json_int_t)dn->kernel_unlogged,
			 "unwritten", (json_int_t)unwritten,
			 "unwritten_packets", (json_int_t)unwritten_packets);
}

void denied_losses(const struct denied *dn, uint64_t *nflog, uint64_t *file)
{
	struct nflog_stats ns;

	nflog_get_stats(dn->nf, &ns);
	*nflog = ns.lost;
	*file = recfile_write_errors(dn->rf);
}

json_t *denied_recent_json(const struct denied *dn, uint64_t after_seq)
{
	return recfile_recent_json(dn->rf, after_seq);
}
