/* Snapshot + journal of the daemon's inventory (see state.h). The journal
 * reuses the inventory's own JSON format for a container: each attach line
 * carries a one-element inventory, so there is one encoder and one
 * validating decoder for both files. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "ev.h"
#include "log.h"
#include "state.h"
#include "util.h"

#define STATE_MODE 0640
/* compact when the journal has more lines than this and than containers */
#define COMPACT_MIN 1024
#define JOURNAL_MAX (256u << 20)
/* while a write fails (full or read-only disk), the snapshot is tried
 * again this often: the state is saved as soon as there is room, not at
 * the next change, which may be long off */
#define RETRY_MS 2000

struct state {
	char *snapshot;
	char *journal;
	int fd;			/* journal, O_APPEND */
	size_t lines;		/* in the journal */
	/* a change is not on disk: until a snapshot succeeds, every write
	 * is a snapshot (an append after a lost one would leave the file
	 * right but for the lost change) */
	bool unsaved;
	int error;		/* -errno of the last failed write */
	uint64_t unsaved_ms;	/* wall clock of the first failure */
	unsigned long n_failed;
	struct ev_timer *retry;
	const struct inventory *inv;	/* what the retry saves */
};

static void unsaved(struct state *s, int err)
{
	if (!s->unsaved)
		s->unsaved_ms = bh_wall_ms();
	s->unsaved = true;
	s->error = err;
	s->n_failed++;
	if (s->retry)
		ev_timer_arm(s->retry, RETRY_MS, RETRY_MS);
}

const char *state_path(const struct state *s)
{
	return s->snapshot;
}

/* Applies one journal line; false (with *err) when it is not one. */
static bool replay_line(struct inventory *inv, const char *line, size_t len,
			char **err)
{
	json_t *o, *c;
	const char *op, *id;
	struct container *ct;
	char *e = NULL;
	bool ok = false;

	o = json_loadb(line, len, 0, NULL);
	op = json_string_value(json_object_get(o, "op"));
	if (!op) {
		*err = xstrdup("not a journal entry");
		goto out;
	}
	if (!strcmp(op, "detach")) {
		id = json_string_value(json_object_get(o, "id"));
		if (!id) {
			*err = xstrdup("detach without \"id\"");
			goto out;
		}
		container_free(inventory_remove(inv, id));
		ok = true;
		goto out;
	}
	c = json_object_get(o, "c");
	if (strcmp(op, "attach") || !json_is_array(c) ||
	    json_array_size(c) != 1) {
		*err = xstrdup("expected an attach with one container");
		goto out;
	}
	ct = container_from_json(json_array_get(c, 0), CJ_ENTRY, &e);
	if (!ct) {
		*err = xasprintf("container: %s", e);
		goto out;
	}
	container_free(inventory_remove(inv, ct->id));
	if (inventory_add(inv, ct) < 0) {
		*err = xstrdup("an address of this container belongs to "
			       "another one");
		goto out;
	}
	ok = true;
out:
	free(e);
	json_decref(o);
	return ok;
}

static int replay(struct state *s, struct inventory *inv, char **err)
{
	char *buf = NULL, *p, *nl, *e = NULL;
	size_t len = 0, lineno = 0;
	int ret;

	ret = bh_read_file(s->journal, JOURNAL_MAX, &buf, &len);
	if (ret == -ENOENT)
		return 0;
	if (ret < 0) {
		*err = xasprintf("%s: %s", s->journal, strerror(-ret));
		return ret;
	}
	for (p = buf; p < buf + len; p = nl + 1) {
		lineno++;
		nl = memchr(p, '\n', (size_t)(buf + len - p));
		if (!nl) {
			/* the append a crash interrupted was never
			 * acknowledged: it did not happen */
			log_warn("%s:%zu: dropping an incomplete last entry",
				 s->journal, lineno);
			break;
		}
		if (nl == p)
			continue;
		if (!replay_line(inv, p, (size_t)(nl - p), &e)) {
			*err = xasprintf("%s:%zu: %s", s->journal, lineno, e);
			free(e);
			ret = -EINVAL;
			goto out;
		}
		s->lines++;
	}
	if (s->lines)
		log_info("replayed %zu change%s from %s", s->lines,
			 s->lines == 1 ? "" : "s", s->journal);
	ret = 0;
out:
	free(buf);
	return ret;
}

int state_compact(struct state *s, const struct inventory *inv)
{
	char *text = inventory_to_json(inv);
	int ret;

	ret = bh_write_file_atomic(s->snapshot, text, strlen(text),
				   STATE_MODE);
	free(text);
	if (ret < 0)
		goto fail;
	/* the snapshot holds everything the journal said */
	if (ftruncate(s->fd, 0) < 0 || fdatasync(s->fd) < 0) {
		ret = -errno;
		goto fail;
	}
	s->lines = 0;
	if (s->unsaved)
		log_info("state saved again in %s after %lu failed write%s",
			 s->snapshot, s->n_failed, s->n_failed == 1 ? "" : "s");
	s->unsaved = false;
	s->n_failed = 0;
	if (s->retry)
		ev_timer_disarm(s->retry);
	return 0;
fail:
	unsaved(s, ret);
	return ret;
}

int state_open(const char *dir, struct inventory **inv, struct state **out,
	       char **err)
{
	struct state *s = xcalloc(1, sizeof(*s));
	struct inventory *v = NULL;
	char *e = NULL;
	int ret;

	*out = NULL;
	*inv = NULL;
	*err = NULL;
	s->fd = -1;
	s->snapshot = xasprintf("%s/%s", dir, STATE_SNAPSHOT);
	s->journal = xasprintf("%s/%s", dir, STATE_JOURNAL);
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		ret = -errno;
		*err = xasprintf("cannot create %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (access(s->snapshot, F_OK) == 0) {
		v = inventory_load(s->snapshot, &e);
		if (!v) {
			*err = xasprintf("%s: %s", s->snapshot, e);
			free(e);
			ret = -EINVAL;
			goto fail;
		}
	} else {
		v = inventory_new();
	}
	ret = replay(s, v, err);
	if (ret < 0)
		goto fail;
	s->fd = open(s->journal, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
		     STATE_MODE);
	if (s->fd < 0) {
		ret = -errno;
		*err = xasprintf("%s: %s", s->journal, strerror(errno));
		goto fail;
	}
	/* the files as they are hold the state: a disk too full to rewrite
	 * them is no reason not to enforce; the retry saves it later */
	ret = state_compact(s, v);
	if (ret < 0)
		log_err("writing %s: %s (the state read from it stands; "
			"retrying)", s->snapshot, strerror(-ret));
	*inv = v;
	*out = s;
	return 0;
fail:
	inventory_free(v);
	state_close(s);
	return ret;
}

int state_read(const char *dir, struct inventory **inv, char **err)
{
	struct state s = { .fd = -1 };
	struct inventory *v = NULL;
	char *e = NULL;
	int ret;

	*inv = NULL;
	*err = NULL;
	s.snapshot = xasprintf("%s/%s", dir, STATE_SNAPSHOT);
	s.journal = xasprintf("%s/%s", dir, STATE_JOURNAL);
	if (access(s.snapshot, F_OK) == 0) {
		v = inventory_load(s.snapshot, &e);
		if (!v) {
			*err = xasprintf("%s: %s", s.snapshot, e);
			free(e);
			ret = -EINVAL;
			goto out;
		}
	} else if (errno != ENOENT) {
		ret = -errno;
		*err = xasprintf("%s: %s", s.snapshot, strerror(errno));
		goto out;
	} else {
		v = inventory_new();
	}
	ret = replay(&s, v, err);
	if (ret < 0)
		goto out;
	*inv = v;
	v = NULL;
out:
	inventory_free(v);
	free(s.snapshot);
	free(s.journal);
	return ret;
}

static int append(struct state *s, const struct inventory *inv,
		  const char *line, size_t len)
{
	size_t off = 0;
	ssize_t n;
	off_t end;
	int ret;

	if (s->unsaved)
		return state_compact(s, inv);
	end = lseek(s->fd, 0, SEEK_END);
	while (off < len) {
		n = write(s->fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		off += (size_t)n;
	}
	if (fdatasync(s->fd) < 0)
		goto fail;
	if (++s->lines > COMPACT_MIN && s->lines > inventory_count(inv))
		return state_compact(s, inv);
	return 0;
fail:
	/* a full disk cuts a write short: take the torn line back, or the
	 * next append would glue a whole one to it in mid-journal, which
	 * does not parse at the next start */
	ret = -errno;
	if (end >= 0 && ftruncate(s->fd, end) < 0)
		log_warn("%s: cannot cut a short write back: %s", s->journal,
			 strerror(errno));
	unsaved(s, ret);
	return ret;
}

static void on_retry(struct ev_timer *t, void *arg)
{
	struct state *s = arg;

	if (s->unsaved && s->inv)
		state_compact(s, s->inv);
}

int state_watch(struct state *s, struct ev_loop *loop,
		const struct inventory *inv)
{
	s->retry = ev_timer_new(loop, on_retry, s);
	if (!s->retry)
		return -ENOMEM;
	s->inv = inv;
	if (s->unsaved)
		ev_timer_arm(s->retry, RETRY_MS, RETRY_MS);
	return 0;
}

json_t *state_status_json(const struct state *s)
{
	char ts[32];

	return json_pack("{s:b, s:o, s:o, s:I}", "saved", !s->unsaved,
			 "error", s->unsaved ? json_string(strerror(-s->error))
					     : json_null(),
			 "since", s->unsaved ?
			 json_string(bh_rfc3339(s->unsaved_ms, ts)) :
			 json_null(),
			 "failed_writes", (json_int_t)s->n_failed);
}

int state_attach(struct state *s, const struct inventory *inv,
		 const struct container *c)
{
	struct inventory *one = inventory_new();
	struct strbuf sb = { 0 };
	char *text;
	int ret;

	inventory_add(one, container_dup(c));
	text = inventory_to_json(one);
	inventory_free(one);
	sb_puts(&sb, "{\"op\":\"attach\",\"c\":");
	/* one line: the inventory encoder may indent */
	for (char *p = text; *p; p++)
		if (*p != '\n')
			sb_putc(&sb, *p);
	sb_puts(&sb, "}\n");
	free(text);
	ret = append(s, inv, sb.buf, sb.len);
	sb_free(&sb);
	return ret;
}

int state_detach(struct state *s, const struct inventory *inv,
		 const char *id)
{
	json_t *o = json_pack("{s:s, s:s}", "op", "detach", "id", id);
	char *text = json_dumps(o, JSON_COMPACT);
	struct strbuf sb = { 0 };
	int ret;

	json_decref(o);
	sb_puts(&sb, text);
	sb_putc(&sb, '\n');
	free(text);
	ret = append(s, inv, sb.buf, sb.len);
	sb_free(&sb);
	return ret;
}

void state_close(struct state *s)
{
	if (!s)
		return;
	if (s->fd >= 0)
		close(s->fd);
	ev_timer_free(s->retry);
	free(s->snapshot);
	free(s->journal);
	free(s);
}
