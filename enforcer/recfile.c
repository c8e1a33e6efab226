/* The JSON-lines record file shared by the denied-flow and the observed
 * allowed-flow streams (recfile.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ecs.h"
#include "log.h"
#include "recfile.h"
#include "util.h"

/* A record of the ring: its line, compact JSON, as --follow sends it.
 * Not the json_t: jansson spends 7-9 KB on a record whose line is
 * 650-850 bytes, so two rings of 1,024 trees held ~16 MB once full, and
 * at a few records a second they fill for a quarter of an hour: the
 * churn soak's RSS growth (docs/benchmarks.md, "churn soak"). */
struct ring_rec {
	uint64_t seq;
	char *line;
};

struct recfile {
	char *path;
	char *what;
	bool journald;
	bool ecs;
	int fd;
	struct ring_rec *ring;
	size_t ring_size, ring_next;
	uint64_t last_seq;
	uint64_t write_errors;
	bool write_warned;
	/* records the file does not have (a write failed: full disk) since
	 * the last one written, and all of them */
	uint64_t gap, gap_packets, gap_first, gap_last;
	uint64_t unwritten, unwritten_packets;
};

static int open_log(const struct recfile *rf)
{
	char *dir = xstrdup(rf->path), *slash = strrchr(dir, '/');
	int fd;

	/* A missing directory (first start, tmpfiles not run) is made 0750:
	 * flow records are for the security team, not for every user. */
	if (slash && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0750) < 0 && errno != EEXIST)
			log_warn("%s: mkdir %s: %s", rf->what, dir,
				 strerror(errno));
	}
	free(dir);
	fd = open(rf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	return fd < 0 ? -errno : fd;
}

int recfile_open(const struct recfile_opts *o, struct recfile **out)
{
	struct recfile *rf = xcalloc(1, sizeof(*rf));
	int fd;

	*out = NULL;
	rf->path = xstrdup(o->path);
	rf->what = xstrdup(o->what);
	rf->journald = o->journald;
	rf->ecs = o->ecs;
	rf->ring_size = o->ring_size ? o->ring_size : RECFILE_RING_DEFAULT;
	rf->ring = xcalloc(rf->ring_size, sizeof(*rf->ring));
	fd = open_log(rf);
	if (fd < 0) {
		log_err("%s: cannot open %s: %s", rf->what, rf->path,
			strerror(-fd));
		rf->fd = -1;
		recfile_close(rf);
		return fd;
	}
	rf->fd = fd;
	*out = rf;
	return 0;
}

void recfile_close(struct recfile *rf)
{
	size_t i;

	if (!rf)
		return;
	if (rf->gap)
		log_err("%s: %s misses the last %llu records (seq %llu-%llu, "
			"%llu packets): they could not be written", rf->what,
			rf->path, (unsigned long long)rf->gap,
			(unsigned long long)rf->gap_first,
			(unsigned long long)rf->gap_last,
			(unsigned long long)rf->gap_packets);
	for (i = 0; i < rf->ring_size; i++)
		free(rf->ring[i].line);
	free(rf->ring);
	if (rf->fd >= 0)
		close(rf->fd);
	free(rf->path);
	free(rf->what);
	free(rf);
}

int recfile_reopen(struct recfile *rf)
{
	int fd;

	fd = open_log(rf);
	if (fd < 0) {
		log_err("%s: reopening %s: %s (still writing to the old "
			"file)", rf->what, rf->path, strerror(-fd));
		return fd;
	}
	close(rf->fd);
	rf->fd = fd;
	rf->write_warned = false;
	log_info("%s: reopened %s", rf->what, rf->path);
	return 0;
}

/* 0 or -errno; a line cut short (a full disk ends a write at its last
 * free block) is taken back, so the file holds whole lines only and the
 * next one does not glue onto a fragment. */
static int write_line(struct recfile *rf, const char *s, size_t len)
{
	off_t end = lseek(rf->fd, 0, SEEK_END);
	ssize_t w;
	size_t off = 0;
	int err;

	while (off < len) {
		w = write(rf->fd, s + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			err = w < 0 ? errno : ENOSPC;
			if (off && end >= 0 && ftruncate(rf->fd, end) < 0)
				log_warn("%s: cannot cut a short write in %s "
					 "back: %s", rf->what, rf->path,
					 strerror(errno));
			rf->write_errors++;
			if (!rf->write_warned) {
				rf->write_warned = true;
				log_err("%s: writing %s: %s (records still go "
					"to the ring%s; those the file misses "
					"are counted in the next one written)",
					rf->what, rf->path, strerror(err),
					rf->journald ? " and journald" : "");
			}
			return -err;
		}
		off += (size_t)w;
	}
	return 0;
}

/* One line: the record, or its ECS document. A record the file misses
 * leaves a gap in its seq there, and the first record written after it
 * says how many and how many packets ("bulkhead.unwritten",
 * "bulkhead.unwritten_packets"), so that a reader of the file alone still
 * accounts for every packet. */
static void file_record(struct recfile *rf, json_t *rec, uint64_t seq,
			uint64_t packets)
{
	json_t *b = json_object_get(rec, "bulkhead"), *doc;
	char *s;
	size_t len;
	int ret;

	if (rf->gap) {
		json_object_set_new(b, "unwritten", json_integer(
			(json_int_t)rf->gap));
		json_object_set_new(b, "unwritten_packets", json_integer(
			(json_int_t)rf->gap_packets));
	}
	doc = rf->ecs ? ecs_from_record(rec) : NULL;
	s = json_dumps(doc ? doc : rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(doc);
	len = strlen(s);
	/* one write per record: a reader never sees half a line of ours */
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	s[len] = '\0';
	ret = write_line(rf, s, len);
	free(s);
	/* the ring and journald have every record: the note is the file's */
	json_object_del(b, "unwritten");
	json_object_del(b, "unwritten_packets");
	if (ret < 0) {
		if (!rf->gap++)
			rf->gap_first = seq;
		rf->gap_last = seq;
		rf->gap_packets += packets;
		rf->unwritten++;
		rf->unwritten_packets += packets;
		return;
	}
	if (rf->gap) {
		log_info("%s: writing %s again; %llu records (seq %llu-%llu, "
			 "%llu packets) could not be written, noted in record "
			 "%llu", rf->what, rf->path,
			 (unsigned long long)rf->gap,
			 (unsigned long long)rf->gap_first,
			 (unsigned long long)rf->gap_last,
			 (unsigned long long)rf->gap_packets,
			 (unsigned long long)seq);
		rf->gap = rf->gap_packets = 0;
		rf->write_warned = false;
	}
}

void recfile_put(struct recfile *rf, json_t *rec, uint64_t seq,
		 uint64_t packets)
{
	struct ring_rec *r = &rf->ring[rf->ring_next];
	char *line;

	file_record(rf, rec, seq, packets);
	line = json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(rec);
	if (!line)
		abort();
	free(r->line);
	r->seq = seq;
	r->line = line;
	rf->ring_next = (rf->ring_next + 1) % rf->ring_size;
	rf->last_seq = seq;
}

void recfile_unwritten(const struct recfile *rf, uint64_t *records,
		       uint64_t *packets)
{
	*records = rf->unwritten;
	*packets = rf->unwritten_packets;
}

json_t *recfile_recent_json(const struct recfile *rf, uint64_t after_seq)
{
	json_t *recs = json_array(), *rec;
	uint64_t oldest = 0;
	size_t i, k;

	/* Oldest first: the slot after the newest is the oldest. */
	for (k = 0; k < rf->ring_size; k++) {
		i = (rf->ring_next + k) % rf->ring_size;
		if (!rf->ring[i].line)
			continue;
		if (!oldest)
			oldest = rf->ring[i].seq;
		if (rf->ring[i].seq <= after_seq)
			continue;
		/* our own json_dumps: it parses */
		rec = json_loads(rf->ring[i].line, 0, NULL);
		if (rec)
			json_array_append_new(recs, rec);
	}
	/* numbered one by one: those between after_seq and the oldest the
	 * ring still holds went past a follower too slow for the ring */
	return json_pack("{s:I, s:o, s:I, s:I}", "seq",
			 (json_int_t)rf->last_seq, "records", recs, "missed",
			 (json_int_t)(oldest > after_seq + 1 ?
				      oldest - after_seq - 1 : 0),
			 "ring", (json_int_t)rf->ring_size);
}

const char *recfile_path(const struct recfile *rf)
{
	return rf->path;
}

uint64_t recfile_last_seq(const struct recfile *rf)
{
	return rf->last_seq;
}

uint64_t recfile_write_errors(const struct recfile *rf)
{
	return rf->write_errors;
}
