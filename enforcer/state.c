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

#include "log.h"
#include "state.h"
#include "util.h"

#define STATE_MODE 0640
/* compact when the journal has more lines than this and than containers */
#define COMPACT_MIN 1024
#define JOURNAL_MAX (256u << 20)

struct state {
	char *snapshot;
	char *journal;
	int fd;			/* journal, O_APPEND */
	size_t lines;		/* in the journal */
};

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
		return ret;
	/* the snapshot holds everything the journal said */
	if (ftruncate(s->fd, 0) < 0 || fdatasync(s->fd) < 0)
		return -errno;
	s->lines = 0;
	return 0;
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
	ret = state_compact(s, v);
	if (ret < 0) {
		*err = xasprintf("writing %s: %s", s->snapshot,
				 strerror(-ret));
		goto fail;
	}
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

	while (off < len) {
		n = write(s->fd, line + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		off += (size_t)n;
	}
	if (fdatasync(s->fd) < 0)
		return -errno;
	if (++s->lines > COMPACT_MIN && s->lines > inventory_count(inv))
		return state_compact(s, inv);
	return 0;
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
	free(s->snapshot);
	free(s->journal);
	free(s);
}
