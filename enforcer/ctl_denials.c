/* bulkheadctl denials and bulkheadctl flows: read the denied-flow or the
 * allowed-flow records (JSON lines written by bulkheadd, schema in
 * docs/denied-flows.md and docs/observability.md), filter them, and print
 * a table, the lines themselves, or a per-edge summary; --follow then
 * polls the daemon's ring of recent records. One reader, filter and
 * summary serve both kinds (struct rkind says which), and `bulkheadctl
 * map` takes its edge counts from the same summary (ctl_records_summary).
 * A line that is not a record is reported with its number and skipped: a
 * truncated last line (the daemon killed mid-write, a copy taken during
 * rotation) must not hide the rest. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ctl.h"
#include "util.h"

#include "ecs.h"

#define DENIALS_FILE_DEFAULT "/var/log/bulkhead/denied.jsonl"
#define FLOWS_FILE_DEFAULT "/var/log/bulkhead/flows.jsonl"
#define FOLLOW_POLL_MS 500

/* What differs between the two kinds of records. */
struct rkind {
	const char *verb;		/* bulkheadctl VERB, and the control op */
	const char *file;		/* default file */
	const char *notrec;		/* why a line is skipped */
	bool flows;			/* allow records: connections and bytes */
};

static const struct rkind kinds[] = {
	[CTL_REC_DENIED] = { "denials", DENIALS_FILE_DEFAULT,
			     "not a denied-flow record", false },
	[CTL_REC_FLOWS] = { "flows", FLOWS_FILE_DEFAULT,
			    "not an allowed-flow record", true },
};

struct denials {
	const struct rkind *k;
	const char *file;
	bool have_since, have_until;
	uint64_t since_ms, until_ms;
	const char *group;
	const char *from, *to;
	const char *port_proto;		/* NULL: any */
	int port;			/* -1: any */
	bool json, follow, summary;
	bool ecs;			/* --format ecs */
	/* --summary */
	struct ctl_edge *edges;
	size_t n_edges, cap_edges;
	size_t *slots;			/* edge index + 1 by hash; 0: empty */
	size_t n_slots;			/* a power of two > 2 * n_edges */
	uint64_t shown;
	uint64_t bad_lines;
	uint64_t last_seq;
	bool header_done;
	/* ctl_records_each: each matching record goes here instead */
	ctl_record_cb each;
	void *each_arg;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = 1;
}

static bool parse_uint(const char *s, const char *end, uint64_t *v)
{
	uint64_t x = 0;

	if (s == end)
		return false;
	for (; s < end; s++) {
		if (*s < '0' || *s > '9' || x > UINT64_MAX / 10 - 10)
			return false;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return true;
}

/* "10m", "90s", "2h", "1d", "500ms" ago, or an RFC 3339 time. */
bool ctl_parse_when(const char *s, uint64_t now_ms, uint64_t *ms)
{
	size_t n = strlen(s);
	uint64_t v, unit = 0;
	const char *end = s + n;

	if (n > 2 && !strcmp(s + n - 2, "ms")) {
		unit = 1;
		end -= 2;
	} else if (n > 1) {
		switch (s[n - 1]) {
		case 's': unit = 1000; break;
		case 'm': unit = 60000; break;
		case 'h': unit = 3600000; break;
		case 'd': unit = 86400000; break;
		}
		if (unit)
			end--;
	}
	if (unit && parse_uint(s, end, &v)) {
		if (v > now_ms / unit)
			v = now_ms / unit;
		*ms = now_ms - v * unit;
		return true;
	}
	return bh_parse_rfc3339(s, ms);
}

bool ctl_when_arg(const char *verb, const char *opt, const char *s,
		  uint64_t now_ms, uint64_t *ms)
{
	if (ctl_parse_when(s, now_ms, ms))
		return true;
	fprintf(stderr, "bulkheadctl %s: --%s: '%s' is neither a duration "
		"(10m, 24h, 7d) nor an RFC 3339 time\n", verb, opt, s);
	return false;
}

static bool parse_port(const char *s, struct denials *dn)
{
	static const char *const protos[] = { "tcp", "udp", "sctp", "icmp",
					      "icmpv6", "ipv6-icmp" };
	const char *slash = strchr(s, '/');
	size_t plen = slash ? (size_t)(slash - s) : strlen(s), i;
	uint64_t v;

	dn->port = -1;
	for (i = 0; i < ARRAY_SIZE(protos); i++)
		if (strlen(protos[i]) == plen && !strncmp(s, protos[i], plen))
			break;
	if (i == ARRAY_SIZE(protos))
		return false;
	/* the records use ECS's name for ICMPv6 */
	dn->port_proto = i >= 4 ? "ipv6-icmp" : protos[i];
	if (!slash)
		return true;
	if (i >= 3 || !parse_uint(slash + 1, slash + strlen(slash), &v) ||
	    v > 65535)
		return false;
	dn->port = (int)v;
	return true;
}

static const char *sget(json_t *o, const char *a, const char *b,
			const char *c)
{
	o = json_object_get(o, a);
	if (b)
		o = json_object_get(o, b);
	if (c)
		o = json_object_get(o, c);
	return json_string_value(o);
}

static json_int_t iget(json_t *o, const char *a, const char *b)
{
	return json_integer_value(json_object_get(json_object_get(o, a), b));
}

static bool has_int(json_t *o, const char *a, const char *b)
{
	return json_is_integer(json_object_get(json_object_get(o, a), b));
}

static bool endpoint_is(json_t *rec, const char *side, const char *want)
{
	const char *g = sget(rec, side, "group", NULL);
	const char *name = sget(rec, side, "container", "name");
	const char *id = sget(rec, side, "container", "id");
	char key[32];
	json_t *names, *v;
	size_t i;

	if ((g && !strcmp(g, want)) || (name && !strcmp(name, want)))
		return true;
	/* allow records name every container of their side in a list */
	snprintf(key, sizeof(key), "%s_containers", side);
	names = json_object_get(json_object_get(rec, "bulkhead"), key);
	json_array_foreach(names, i, v)
		if (json_is_string(v) && !strcmp(json_string_value(v), want))
			return true;
	/* a container id, or its short form (12+ leading characters) */
	return id && (!strcmp(id, want) ||
		      (strlen(want) >= 12 && !strncmp(id, want, strlen(want))));
}

static bool matches(const struct denials *dn, json_t *rec)
{
	const char *t;
	uint64_t start, end;

	if (dn->have_since || dn->have_until) {
		t = sget(rec, "event", "end", NULL);
		if (!t || !bh_parse_rfc3339(t, &end))
			return false;
		t = sget(rec, "event", "start", NULL);
		if (!t || !bh_parse_rfc3339(t, &start))
			start = end;
		if (dn->have_since && end < dn->since_ms)
			return false;
		if (dn->have_until && start > dn->until_ms)
			return false;
	}
	if (dn->group && !endpoint_is(rec, "source", dn->group) &&
	    !endpoint_is(rec, "destination", dn->group))
		return false;
	if (dn->from && !endpoint_is(rec, "source", dn->from))
		return false;
	if (dn->to && !endpoint_is(rec, "destination", dn->to))
		return false;
	if (dn->port_proto) {
		t = sget(rec, "network", "transport", NULL);
		if (!t || strcmp(t, dn->port_proto))
			return false;
		if (dn->port >= 0 &&
		    (!has_int(rec, "destination", "port") ||
		     iget(rec, "destination", "port") != dn->port))
			return false;
	}
	return true;
}

/* A record is an object with the fields every kind has. */
static bool is_record(json_t *rec)
{
	return json_is_object(rec) &&
	       json_is_integer(json_object_get(rec, "schema")) &&
	       json_is_string(json_object_get(rec, "@timestamp")) &&
	       has_int(rec, "bulkhead", "packets") &&
	       json_is_string(json_object_get(json_object_get(rec, "bulkhead"),
					      "record"));
}

static void endpoint_text(json_t *rec, const char *side, char *buf,
			  size_t len)
{
	const char *g = sget(rec, side, "group", NULL);
	const char *name = sget(rec, side, "container", "name");
	const char *ip = sget(rec, side, "ip", NULL);
	bool v6 = ip && strchr(ip, ':');
	char port[16] = "";

	if (has_int(rec, side, "port"))
		snprintf(port, sizeof(port), v6 ? "]:%lld" : ":%lld",
			 (long long)iget(rec, side, "port"));
	else if (v6)
		strcpy(port, "]");
	/* another host's container: web/api@hostB */
	const char *host = sget(rec, side, "container", "host");

	snprintf(buf, len, "%s%s%s%s%s%s%s%s%s", g ? g : "*", name ? "/" : "",
		 name ? name : "", host ? "@" : "", host ? host : "",
		 ip ? " " : "", ip && v6 && port[0] ? "[" : "",
		 ip ? ip : "", ip ? port : "");
}

static void service_text(json_t *rec, char *buf, size_t len)
{
	const char *t = sget(rec, "network", "transport", NULL);

	if (!t)
		snprintf(buf, len, "-");
	else if (has_int(rec, "destination", "port"))
		snprintf(buf, len, "%s/%lld", t,
			 (long long)iget(rec, "destination", "port"));
	else if (has_int(rec, "bulkhead", "icmp_type"))
		snprintf(buf, len, "%s/type%lld", t,
			 (long long)iget(rec, "bulkhead", "icmp_type"));
	else
		snprintf(buf, len, "%s", t);
}

static void print_row(struct denials *dn, json_t *rec)
{
	char src[128], dst[128], svc[32], note[96] = "";
	const char *kind = sget(rec, "bulkhead", "record", NULL);
	const char *act = sget(rec, "event", "action", NULL);
	const char *end = sget(rec, "event", "end", NULL);
	json_int_t unl = iget(rec, "bulkhead", "unlogged");
	json_int_t lost = iget(rec, "bulkhead", "lost");
	size_t n = 0;

	if (!dn->header_done) {
		printf("%-24s  %-10s  %-14s  %-34s  %-34s  %8s  %s\n", "END",
		       "ACTION", "SERVICE", "FROM", "TO", "PACKETS", "NOTE");
		dn->header_done = true;
	}
	endpoint_text(rec, "source", src, sizeof(src));
	endpoint_text(rec, "destination", dst, sizeof(dst));
	service_text(rec, svc, sizeof(svc));
	if (strcmp(kind, "flow"))
		n += (size_t)snprintf(note, sizeof(note), "%s", kind);
	if (dn->k->flows)
		n += (size_t)snprintf(note + n, sizeof(note) - n,
				      "%lld conn, %lld bytes",
				      (long long)iget(rec, "bulkhead",
						      "connections"),
				      (long long)iget(rec, "bulkhead", "bytes"));
	if (unl)
		n += (size_t)snprintf(note + n, sizeof(note) - n, "%s%lld unlogged",
				      n ? ", " : "", (long long)unl);
	if (lost)
		snprintf(note + n, sizeof(note) - n, "%s%lld lost",
			 n ? ", " : "", (long long)lost);
	printf("%-24s  %-10s  %-14s  %-34s  %-34s  %8lld  %s\n",
	       end ? end : "-", act ? act : "-", svc, src, dst,
	       (long long)iget(rec, "bulkhead", "packets"), note);
}

/* first/last seen of an edge (bulkheadctl recommend, readiness) */
static void edge_seen(struct ctl_edge *e, json_t *rec)
{
	const char *t = sget(rec, "event", "end", NULL);
	uint64_t start, end;

	if (!t || !bh_parse_rfc3339(t, &end))
		return;
	t = sget(rec, "event", "start", NULL);
	if (!t || !bh_parse_rfc3339(t, &start) || start > end)
		start = end;
	if (!e->first_ms || start < e->first_ms)
		e->first_ms = start;
	if (end > e->last_ms)
		e->last_ms = end;
}

/* FNV-1a over the edge's key, its parts apart by a NUL */
static size_t edge_hash(const char *f, const char *t, const char *svc,
			const char *act)
{
	const char *parts[] = { f, t, svc, act }, *c;
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(parts); i++)
		for (c = parts[i];; c++) {
			h = (h ^ (unsigned char)*c) * 0x100000001b3ULL;
			if (!*c)
				break;
		}
	return (size_t)h;
}

/* The slot of the edge (f, t, svc, act), or of the empty one where it
 * goes: a record costs the same however many edges there are (a search
 * of the edges made 100,000 records of 2,000 edges take seconds). */
static size_t *edge_slot(struct denials *dn, const char *f, const char *t,
			 const char *svc, const char *act)
{
	size_t i = edge_hash(f, t, svc, act) & (dn->n_slots - 1);
	const struct ctl_edge *e;

	for (;; i = (i + 1) & (dn->n_slots - 1)) {
		if (!dn->slots[i])
			return &dn->slots[i];
		e = &dn->edges[dn->slots[i] - 1];
		if (!strcmp(e->from, f) && !strcmp(e->to, t) &&
		    !strcmp(e->port, svc) && !strcmp(e->action, act))
			return &dn->slots[i];
	}
}

static void edge_rehash(struct denials *dn)
{
	const struct ctl_edge *e;
	size_t i;

	free(dn->slots);
	dn->n_slots = dn->n_slots ? dn->n_slots * 2 : 64;
	dn->slots = xcalloc(dn->n_slots, sizeof(*dn->slots));
	for (i = 0; i < dn->n_edges; i++) {
		e = &dn->edges[i];
		*edge_slot(dn, e->from, e->to, e->port, e->action) = i + 1;
	}
}

/* One edge per (source group, destination group, service, action). */
static void summarize(struct denials *dn, json_t *rec)
{
	const char *f = sget(rec, "source", "group", NULL);
	const char *t = sget(rec, "destination", "group", NULL);
	const char *act = sget(rec, "event", "action", NULL);
	char svc[32];
	struct ctl_edge *e = NULL;
	size_t *slot;

	service_text(rec, svc, sizeof(svc));
	f = f ? f : "*";
	t = t ? t : "*";
	act = act ? act : "-";
	if (2 * (dn->n_edges + 1) > dn->n_slots)
		edge_rehash(dn);
	slot = edge_slot(dn, f, t, svc, act);
	if (*slot) {
		e = &dn->edges[*slot - 1];
	} else {
		xgrow(&dn->edges, &dn->cap_edges, dn->n_edges + 1,
		      sizeof(*dn->edges));
		e = &dn->edges[dn->n_edges++];
		*e = (struct ctl_edge){ .from = xstrdup(f), .to = xstrdup(t),
					.port = xstrdup(svc),
					.action = xstrdup(act) };
		*slot = dn->n_edges;
	}
	edge_seen(e, rec);
	e->packets += (uint64_t)iget(rec, "bulkhead", "packets");
	e->unlogged += (uint64_t)iget(rec, "bulkhead", "unlogged");
	e->connections += (uint64_t)iget(rec, "bulkhead", "connections");
	e->bytes += (uint64_t)iget(rec, "bulkhead", "bytes");
	e->records++;
}

static int edge_cmp(const void *x, const void *y)
{
	const struct ctl_edge *a = x, *b = y;
	uint64_t ta = a->packets + a->unlogged + a->connections;
	uint64_t tb = b->packets + b->unlogged + b->connections;
	int c;

	if (ta != tb)
		return ta > tb ? -1 : 1;
	c = strcmp(a->from, b->from);
	if (!c)
		c = strcmp(a->to, b->to);
	if (!c)
		c = strcmp(a->port, b->port);
	return c ? c : strcmp(a->action, b->action);
}

void ctl_edges_free(struct ctl_edge *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(e[i].from);
		free(e[i].to);
		free(e[i].port);
		free(e[i].action);
	}
	free(e);
}

static void print_summary(struct denials *dn)
{
	struct ctl_edge *e;
	size_t i;

	qsort(dn->edges, dn->n_edges, sizeof(*dn->edges), edge_cmp);
	if (dn->k->flows)
		printf("%-20s  %-20s  %-14s  %11s  %10s  %12s  %8s\n", "FROM",
		       "TO", "SERVICE", "CONNECTIONS", "PACKETS", "BYTES",
		       "RECORDS");
	else
		printf("%-20s  %-20s  %-14s  %10s  %10s  %8s  %s\n", "FROM",
		       "TO", "SERVICE", "PACKETS", "UNLOGGED", "RECORDS",
		       "ACTION");
	for (i = 0; i < dn->n_edges; i++) {
		e = &dn->edges[i];
		if (dn->k->flows)
			printf("%-20s  %-20s  %-14s  %11llu  %10llu  %12llu  "
			       "%8llu\n", e->from, e->to, e->port,
			       (unsigned long long)e->connections,
			       (unsigned long long)e->packets,
			       (unsigned long long)e->bytes,
			       (unsigned long long)e->records);
		else
			printf("%-20s  %-20s  %-14s  %10llu  %10llu  %8llu  "
			       "%s\n", e->from, e->to, e->port,
			       (unsigned long long)e->packets,
			       (unsigned long long)e->unlogged,
			       (unsigned long long)e->records, e->action);
	}
	ctl_edges_free(dn->edges, dn->n_edges);
	dn->edges = NULL;
	dn->n_edges = 0;
	free(dn->slots);
	dn->slots = NULL;
	dn->n_slots = 0;
}

static void show(struct denials *dn, json_t *rec, const char *line)
{
	char *s;

	dn->last_seq = (uint64_t)iget(rec, "bulkhead", "seq");
	if (!matches(dn, rec))
		return;
	dn->shown++;
	if (dn->each) {
		dn->each(rec, dn->each_arg);
	} else if (dn->summary) {
		summarize(dn, rec);
	} else if (dn->ecs) {
		json_t *doc = ecs_from_record(rec);

		s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(doc);
	} else if (dn->json) {
		if (line) {
			fputs(line, stdout);
			fputc('\n', stdout);
		} else {
			s = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
			puts(s);
			free(s);
		}
	} else {
		print_row(dn, rec);
	}
}

static int read_file(struct denials *dn)
{
	FILE *f = fopen(dn->file, "re");
	char *line = NULL;
	size_t cap = 0, lineno = 0;
	json_error_t jerr;
	ssize_t n;
	json_t *rec;
	int ret = 0;
	bool ecs;

	if (!f) {
		ret = -errno;
		goto out;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		if (n && line[n - 1] == '\n')
			line[--n] = '\0';
		if (!n)
			continue;
		rec = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES,
				 &jerr);
		/* a file bulkheadd wrote with --record-format ecs: its
		 * records, as checked as any other line */
		ecs = ecs_is_doc(rec);
		if (ecs) {
			json_t *r = ecs_to_record(rec);

			json_decref(rec);
			rec = r;
		}
		if (!rec || !is_record(rec)) {
			dn->bad_lines++;
			fprintf(stderr, "bulkheadctl %s: %s:%zu: skipped: "
				"%s\n", dn->k->verb, dn->file, lineno,
				rec ? dn->k->notrec : jerr.text);
			json_decref(rec);
			continue;
		}
		show(dn, rec, ecs ? NULL : line);
		json_decref(rec);
	}
	fclose(f);
out:
	free(line);
	return ret;
}

static int follow(struct denials *dn)
{
	struct timespec ts = { 0, FOLLOW_POLL_MS * 1000000L };
	json_t *req, *reply = NULL, *recs, *rec;
	json_int_t missed;
	uint64_t seq;
	char *err = NULL;
	size_t i;
	int ret = 0;
	bool first = true;

	while (!stop) {
		req = json_pack("{s:s, s:I}", "op", dn->k->verb, "after_seq",
				(json_int_t)dn->last_seq);
		ret = ctl_call(req, &reply, &err);
		json_decref(req);
		if (ret < 0) {
			fprintf(stderr, "bulkheadctl %s: %s\n", dn->k->verb,
				err);
			free(err);
			/* a refusal (the daemon said why) comes with a reply */
			json_decref(reply);
			goto out;
		}
		seq = (uint64_t)json_integer_value(json_object_get(reply, "seq"));
		/* A restarted daemon numbers from 1 again. */
		if (seq < dn->last_seq) {
			dn->last_seq = 0;
			json_decref(reply);
			continue;
		}
		missed = json_integer_value(json_object_get(reply, "missed"));
		if (missed > 0 && dn->last_seq)
			fprintf(stderr, "bulkheadctl %s: %lld records "
				"missed: more than the ring of %lld recent "
				"records came between two reads (the file has "
				"them)\n", dn->k->verb, (long long)missed,
				(long long)json_integer_value(
					json_object_get(reply, "ring")));
		recs = json_object_get(reply, "records");
		for (i = 0; i < json_array_size(recs); i++) {
			rec = json_array_get(recs, i);
			if (is_record(rec))
				show(dn, rec, NULL);
		}
		if (first && !dn->json && !dn->header_done)
			fprintf(stderr, "bulkheadctl %s: following "
				"(Ctrl-C to stop)\n", dn->k->verb);
		first = false;
		dn->last_seq = seq > dn->last_seq ? seq : dn->last_seq;
		json_decref(reply);
		fflush(stdout);
		nanosleep(&ts, NULL);
	}
out:
	return ret;
}

static void usage(FILE *out, const struct rkind *k)
{
	fprintf(out,
"usage: bulkheadctl %s [--since 10m|TIME] [--until 10m|TIME]\n"
"           [--group G] [--from G|C] [--to G|C] [--port PROTO[/N]]\n"
"           [--format table|json|ecs] [--json] [--summary] [--follow]\n"
"           [--file PATH]\n"
"  %s records (default file %s), oldest first.\n"
"  --since/--until  a duration ago (30s, 10m, 2h, 1d) or RFC 3339 time\n"
"  --group G        either side in group G (or container G)\n"
"  --from/--to      the source/destination group, container name or id\n"
"  --port tcp/5432  transport and destination port (tcp, udp, sctp;\n"
"                   icmp and icmpv6 without a port)\n"
"  --format F       table (the default); json: the matching records as\n"
"                   they are in the file; ecs: as Elastic Common Schema\n"
"                   documents\n"
"  --json           the same as --format json\n"
"  --summary        %s per (source group -> destination group, port)\n"
"  --follow         then keep printing new records from the daemon\n",
		k->verb, k->flows ? "Allowed-flow" : "Denied-flow", k->file,
		k->flows ? "connections, packets and bytes" : "packets");
}

static int records_main(const struct rkind *k, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' },
		{ "group", required_argument, NULL, 'g' },
		{ "from", required_argument, NULL, 'f' },
		{ "to", required_argument, NULL, 't' },
		{ "port", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "format", required_argument, NULL, 'o' },
		{ "follow", no_argument, NULL, 'F' },
		{ "summary", no_argument, NULL, 'S' },
		{ "file", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct denials dn = { .k = k, .file = k->file, .port = -1 };
	uint64_t now = bh_wall_ms();
	int c, ret = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
		case 'u':
			if (!ctl_when_arg(k->verb, c == 's' ? "since" : "until",
					  optarg, now, c == 's' ? &dn.since_ms :
					  &dn.until_ms))
				return 2;
			if (c == 's')
				dn.have_since = true;
			else
				dn.have_until = true;
			break;
		case 'g':
			dn.group = optarg;
			break;
		case 'f':
			dn.from = optarg;
			break;
		case 't':
			dn.to = optarg;
			break;
		case 'p':
			if (!parse_port(optarg, &dn)) {
				fprintf(stderr, "bulkheadctl %s: --port: "
					"'%s' is not PROTO/N (tcp/5432, "
					"udp/53) or icmp/icmpv6\n", k->verb,
					optarg);
				return 2;
			}
			break;
		case 'j':
			dn.json = true;
			break;
		case 'o':
			dn.json = dn.ecs = false;
			if (!strcmp(optarg, "json"))
				dn.json = true;
			else if (!strcmp(optarg, "ecs"))
				dn.ecs = true;
			else if (strcmp(optarg, "table")) {
				fprintf(stderr, "bulkheadctl %s: "
					"--format: expected table, json or "
					"ecs, got '%s'\n", k->verb, optarg);
				return 2;
			}
			break;
		case 'F':
			dn.follow = true;
			break;
		case 'S':
			dn.summary = true;
			break;
		case 'r':
			dn.file = optarg;
			break;
		case 'h':
			usage(stdout, k);
			return 0;
		default:
			fprintf(stderr, "bulkheadctl %s: unknown or "
				"incomplete option '%s'\n", k->verb,
				argv[optind - 1]);
			usage(stderr, k);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadctl %s: unexpected argument "
			"'%s'\n", k->verb, argv[optind]);
		usage(stderr, k);
		return 2;
	}
	if (dn.summary && (dn.follow || dn.json || dn.ecs)) {
		fprintf(stderr, "bulkheadctl %s: --summary goes with "
			"neither --follow nor --json/--format\n", k->verb);
		return 2;
	}
	ret = read_file(&dn);
	if (ret < 0 && !(dn.follow && ret == -ENOENT)) {
		fprintf(stderr, "bulkheadctl %s: %s: %s\n", k->verb, dn.file,
			strerror(-ret));
		ret = 2;
		goto out;
	}
	if (dn.summary)
		print_summary(&dn);
	if (dn.follow) {
		signal(SIGINT, on_signal);
		signal(SIGTERM, on_signal);
		fflush(stdout);
		ret = follow(&dn) < 0 ? 2 : 0;
		goto out;
	}
	ret = 0;
	if (dn.bad_lines)
		fprintf(stderr, "bulkheadctl %s: %llu line(s) skipped\n",
			k->verb, (unsigned long long)dn.bad_lines);
out:
	return ret;
}

int ctl_denials(int argc, char **argv)
{
	return records_main(&kinds[CTL_REC_DENIED], argc, argv);
}

int ctl_flows(int argc, char **argv)
{
	return records_main(&kinds[CTL_REC_FLOWS], argc, argv);
}

int ctl_records_summary_files(enum ctl_rec_kind kind, char *const *files,
			      size_t n_files, uint64_t since_ms,
			      uint64_t until_ms, struct ctl_edge **edges,
			      size_t *n, uint64_t *bad)
{
	struct denials dn = {
		.k = &kinds[kind], .port = -1, .summary = true,
		.have_since = since_ms != 0, .since_ms = since_ms,
		.have_until = until_ms != 0, .until_ms = until_ms,
	};
	size_t i;
	int ret = 0;

	/* one summary over all of them: an edge seen in two files is one */
	for (i = 0; i < n_files && !ret; i++) {
		dn.file = files[i];
		ret = read_file(&dn);
	}
	free(dn.slots);
	if (ret < 0) {
		ctl_edges_free(dn.edges, dn.n_edges);
		*edges = NULL;
		*n = 0;
		return ret;
	}
	if (dn.n_edges)		/* qsort(NULL, 0): undefined behaviour */
		qsort(dn.edges, dn.n_edges, sizeof(*dn.edges), edge_cmp);
	*edges = dn.edges;
	*n = dn.n_edges;
	*bad = dn.bad_lines;
	return 0;
}

int ctl_records_summary(enum ctl_rec_kind kind, const char *file,
			uint64_t since_ms, uint64_t until_ms,
			struct ctl_edge **edges, size_t *n, uint64_t *bad)
{
	char *f = (char *)(file ? file : kinds[kind].file);

	return ctl_records_summary_files(kind, &f, 1, since_ms, until_ms,
					 edges, n, bad);
}

/* denied.jsonl, flows.jsonl, and what logrotate leaves (flows.jsonl.1);
 * a file named flows* holds allowed-flow records, any other denied-flow
 * records */
static bool is_record_file(const char *name, enum ctl_rec_kind kind)
{
	const char *j = strstr(name, ".jsonl");

	if (name[0] == '.' || !j || (j[6] && j[6] != '.'))
		return false;
	return (strncmp(name, "flows", 5) == 0) == (kind == CTL_REC_FLOWS);
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

int ctl_record_files(const char *dir, enum ctl_rec_kind kind,
		     char ***paths, size_t *n)
{
	size_t cap = 0, i;
	struct dirent *de;
	DIR *dp = opendir(dir);

	*paths = NULL;
	*n = 0;
	if (!dp)
		return -errno;
	while ((de = readdir(dp))) {
		if (!is_record_file(de->d_name, kind))
			continue;
		xgrow(paths, &cap, *n + 1, sizeof(**paths));
		(*paths)[(*n)++] = xstrdup(de->d_name);
	}
	closedir(dp);
	if (*n)
		qsort(*paths, *n, sizeof(**paths), name_cmp);
	for (i = 0; i < *n; i++) {
		char *p = xasprintf("%s/%s", dir, (*paths)[i]);

		free((*paths)[i]);
		(*paths)[i] = p;
	}
	return 0;
}

void ctl_record_files_free(char **paths, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
}

int ctl_records_each(enum ctl_rec_kind kind, const char *file,
		     uint64_t since_ms, ctl_record_cb cb, void *arg,
		     uint64_t *bad)
{
	struct denials dn = {
		.k = &kinds[kind], .file = file ? file : kinds[kind].file,
		.port = -1, .have_since = since_ms != 0, .since_ms = since_ms,
		.each = cb, .each_arg = arg,
	};
	int ret = read_file(&dn);

	*bad += dn.bad_lines;
	return ret;
}
