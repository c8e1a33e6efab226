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

struct recfile {
	char *path;
	char *what;
	bool journald;
	bool ecs;
	int fd;
	json_t **ring;
	size_t ring_size, ring_next;
	uint64_t last_seq;
	uint64_t write_errors;
	bool write_warned;
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
	for (i = 0; i < rf->ring_size; i++)
		json_decref(rf->ring[i]);
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

static void write_line(struct recfile *rf, const char *s, size_t len)
{
	ssize_t w;
	size_t off = 0;

	while (off < len) {
		w = write(rf->fd, s + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			rf->write_errors++;
			if (!rf->write_warned) {
				rf->write_warned = true;
				log_err("%s: writing %s: %s (records still go "
					"to the ring%s)", rf->what, rf->path,
					strerror(errno),
					rf->journald ? " and journald" : "");
			}
			return;
		}
		off += (size_t)w;
	}
}

void recfile_put(struct recfile *rf, json_t *rec, uint64_t seq)
{
	json_t *doc = rf->ecs ? ecs_from_record(rec) : NULL;
	char *s = json_dumps(doc ? doc : rec,
			     JSON_COMPACT | JSON_PRESERVE_ORDER);
	size_t len = strlen(s);

	json_decref(doc);
	/* one write per record: a reader never sees half a line of ours */
	s = xrealloc(s, len + 2);
	s[len++] = '\n';
	s[len] = '\0';
	write_line(rf, s, len);
	free(s);
	json_decref(rf->ring[rf->ring_next]);
	rf->ring[rf->ring_next] = rec;
	rf->ring_next = (rf->ring_next + 1) % rf->ring_size;
	rf->last_seq = seq;
}

json_t *recfile_recent_json(const struct recfile *rf, uint64_t after_seq)
{
	json_t *recs = json_array(), *seq;
	uint64_t oldest = 0, n;
	size_t i, k;

	/* Oldest first: the slot after the newest is the oldest. */
	for (k = 0; k < rf->ring_size; k++) {
		i = (rf->ring_next + k) % rf->ring_size;
		if (!rf->ring[i])
			continue;
		seq = json_object_get(json_object_get(rf->ring[i], "bulkhead"),
				      "seq");
		n = (uint64_t)json_integer_value(seq);
		if (!oldest)
			oldest = n;
		if (n > after_seq)
			json_array_append(recs, rf->ring[i]);
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
