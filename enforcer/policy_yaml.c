/* YAML -> policy, with every finding as file:line:col.
 *
 * libyaml's event stream is turned into a small tree first (scalars,
 * mappings, lists, each with its 1-based position), so that errors can be
 * reported against the node they concern and cross-file checks (flows to
 * groups of another file) can run after every file has been read. The
 * tree is bounded: files are at most POLICY_FILE_MAX bytes, nesting at
 * most DEPTH_MAX levels, and anchors/aliases are refused outright, so an
 * alias bomb cannot expand. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <netinet/in.h>

#include <nettle/sha2.h>
#include <yaml.h>

#include "policy.h"

#define POLICY_FILE_MAX (1024 * 1024)
#define DEPTH_MAX 16
#define LABEL_KEY_MAX 128
#define LABEL_VALUE_MAX 1024
#define DESCRIPTION_MAX 1024
#define PREFIX_MAX 64
#define MATCH_MAX 64
#define BOUNDARIES_MAX 256

enum ytype { Y_SCALAR, Y_MAP, Y_SEQ };

struct ynode {
	enum ytype type;
	bool plain;		/* unquoted scalar */
	unsigned line, col;
	char *s;		/* scalar text */
	size_t len;
	struct ynode **kid;	/* mapping: key, value, key, value ... */
	size_t n, cap;
};

struct loader {
	struct policy *p;
	struct diags *d;
	size_t diags_start;
	size_t errors_start;
	unsigned file;			/* current file, index in p->files */
	struct ynode **roots;		/* per file; NULL when unusable */
	size_t groups_cap;
	size_t flows_cap;
	size_t boundaries_cap;
	bool bnd_bad[BOUNDARIES_MAX];	/* per boundary: had an error */
	bool *bad;			/* per group: had an error */
	size_t bad_cap;
	bool *mentioned;		/* per group: named by a flow */
	unsigned *names;		/* group index + 1 by name hash; 0 empty */
	size_t names_cap;		/* power of two */
	size_t *seen;			/* per group: last flow end that named it */
	size_t seen_gen;
	bool have_settings;
	struct src_loc settings_loc;
	struct sha256_ctx hash;		/* over each file's own SHA-256 */
};

static void ynode_free(struct ynode *n)
{
	size_t i;

	if (!n)
		return;
	for (i = 0; i < n->n; i++)
		ynode_free(n->kid[i]);
	free(n->kid);
	free(n->s);
	free(n);
}

static const char *cur_file(const struct loader *L)
{
	return policy_file(L->p, L->file);
}

static void __attribute__((format(printf, 4, 5)))
err_at(struct loader *L, unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(L->d, DIAG_ERROR, cur_file(L), line, col, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 3, 4)))
err(struct loader *L, const struct ynode *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(L->d, DIAG_ERROR, cur_file(L), n->line, n->col, fmt, ap);
	va_end(ap);
}

static void __attribute__((format(printf, 4, 5)))
diag_loc(struct loader *L, enum diag_severity sev, const struct src_loc *l,
	 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(L->d, sev, policy_file(L->p, l->file), l->line, l->col,
		   fmt, ap);
	va_end(ap);
}

static struct src_loc loc_of(const struct loader *L, const struct ynode *n)
{
	struct src_loc l = { L->file, n->line, n->col };

	return l;
}

/* Line and column (in characters) of a byte offset. */
static void offset_pos(const char *buf, size_t off, unsigned *line,
		       unsigned *col)
{
	size_t i;

	*line = 1;
	*col = 1;
	for (i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if (((unsigned char)buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* libyaml would take UTF-16 and report bad bytes without a position;
 * a policy is UTF-8 text, and the admin wants to know where it is not. */
static bool check_bytes(struct loader *L, const char *buf, size_t len)
{
	const unsigned char *b = (const unsigned char *)buf;
	unsigned line, col, need;
	uint32_t cp, min;
	size_t i = 0, j;

	while (i < len) {
		if (b[i] == 0) {
			offset_pos(buf, i, &line, &col);
			err_at(L, line, col,
			       "binary file: NUL byte (a policy is UTF-8 text)");
			return false;
		}
		if (b[i] < 0x80) {
			i++;
			continue;
		}
		if ((b[i] & 0xe0) == 0xc0) {
			need = 1, cp = b[i] & 0x1f, min = 0x80;
		} else if ((b[i] & 0xf0) == 0xe0) {
			need = 2, cp = b[i] & 0x0f, min = 0x800;
		} else if ((b[i] & 0xf8) == 0xf0) {
			need = 3, cp = b[i] & 0x07, min = 0x10000;
		} else {
			goto bad;
		}
		for (j = 1; j <= need; j++) {
			if (i + j >= len || (b[i + j] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (b[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000))
			goto bad;
		i += need + 1;
	}
	return true;
bad:
	offset_pos(buf, i, &line, &col);
	err_at(L, line, col, "not UTF-8: byte 0x%02x (a policy is UTF-8 text)",
	       b[i]);
	return false;
}

static void syntax_error(struct loader *L, const yaml_parser_t *yp,
			 const char *buf)
{
	unsigned line = (unsigned)yp->problem_mark.line + 1;
	unsigned col = (unsigned)yp->problem_mark.column + 1;
	const char *problem = yp->problem ? yp->problem : "unknown error";

	if (yp->error == YAML_READER_ERROR)
		offset_pos(buf, yp->problem_offset, &line, &col);
	if (yp->context)
		err_at(L, line, col, "YAML syntax: %s (%s at line %u)",
		       problem, yp->context,
		       (unsigned)yp->context_mark.line + 1);
	else
		err_at(L, line, col, "YAML syntax: %s", problem);
}

static struct ynode *ynode_new(enum ytype t, const yaml_event_t *ev)
{
	struct ynode *n = xcalloc(1, sizeof(*n));

	n->type = t;
	n->line = (unsigned)ev->start_mark.line + 1;
	n->col = (unsigned)ev->start_mark.column + 1;
	return n;
}

/* The event stream of one document as a tree; NULL with an error reported,
 * or NULL with *empty set when the file holds no document at all. */
static struct ynode *parse_tree(struct loader *L, const char *buf, size_t len,
				bool *empty)
{
	struct ynode *root = NULL, *stack[DEPTH_MAX], *n, *top;
	unsigned line, col, docs = 0;
	bool anchor, tag;
	yaml_parser_t yp;
	yaml_event_t ev;
	size_t depth = 0;
	bool done = false, ok = false;

	*empty = false;
	yaml_parser_initialize(&yp);
	yaml_parser_set_input_string(&yp, (const unsigned char *)buf, len);
	while (!done) {
		if (!yaml_parser_parse(&yp, &ev)) {
			syntax_error(L, &yp, buf);
			goto out;
		}
		line = (unsigned)ev.start_mark.line + 1;
		col = (unsigned)ev.start_mark.column + 1;
		anchor = tag = false;
		n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				err_at(L, line, col,
				       "a policy file holds one YAML document; this is a second one");
				goto fail;
			}
			break;
		case YAML_ALIAS_EVENT:
			err_at(L, line, col,
			       "anchors and aliases are not supported");
			goto fail;
		case YAML_SCALAR_EVENT:
			anchor = ev.data.scalar.anchor;
			tag = ev.data.scalar.tag;
			if (memchr(ev.data.scalar.value, 0,
				   ev.data.scalar.length)) {
				err_at(L, line, col,
				       "NUL character in a string");
				goto fail;
			}
			n = ynode_new(Y_SCALAR, &ev);
			n->s = xstrndup((const char *)ev.data.scalar.value,
					ev.data.scalar.length);
			n->len = ev.data.scalar.length;
			n->plain = ev.data.scalar.style ==
				   YAML_PLAIN_SCALAR_STYLE;
			break;
		case YAML_SEQUENCE_START_EVENT:
			anchor = ev.data.sequence_start.anchor;
			tag = ev.data.sequence_start.tag;
			n = ynode_new(Y_SEQ, &ev);
			break;
		case YAML_MAPPING_START_EVENT:
			anchor = ev.data.mapping_start.anchor;
			tag = ev.data.mapping_start.tag;
			n = ynode_new(Y_MAP, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (!n)
			continue;
		if (anchor) {
			ynode_free(n);
			err_at(L, line, col,
			       "anchors and aliases are not supported");
			goto out;
		}
		if (tag) {
			ynode_free(n);
			err_at(L, line, col, "YAML tags are not supported");
			goto out;
		}
		if (depth) {
			top = stack[depth - 1];
			xgrow(&top->kid, &top->cap, top->n + 1,
			      sizeof(*top->kid));
			top->kid[top->n++] = n;
		} else {
			root = n;
		}
		if (n->type != Y_SCALAR) {
			if (depth == DEPTH_MAX) {
				err_at(L, line, col,
				       "nesting deeper than %d levels",
				       DEPTH_MAX);
				goto out;
			}
			stack[depth++] = n;
		}
	}
	ok = true;
	*empty = !root;
	goto out;
fail:
	yaml_event_delete(&ev);
out:
	yaml_parser_delete(&yp);
	if (!ok) {
		ynode_free(root);
		root = NULL;
	}
	return root;
}

static bool is_null(const struct ynode *n)
{
	return n->type == Y_SCALAR && n->plain &&
	       (n->len == 0 || !strcmp(n->s, "~") || !strcmp(n->s, "null") ||
		!strcmp(n->s, "Null") || !strcmp(n->s, "NULL"));
}

static const char *kind_of(const struct ynode *n)
{
	if (n->type == Y_MAP)
		return "a mapping";
	if (n->type == Y_SEQ)
		return "a list";
	return is_null(n) ? "empty" : "a string";
}

static bool want(struct loader *L, const struct ynode *n, enum ytype t,
		 const char *what)
{
	static const char *const names[] = {
		[Y_SCALAR] = "a string", [Y_MAP] = "a mapping",
		[Y_SEQ] = "a list",
	};

	if (n->type == t && !is_null(n))
		return true;
	if (is_null(n))
		err(L, n, "%s needs a value (%s)", what, names[t]);
	else
		err(L, n, "%s must be %s, not %s", what, names[t], kind_of(n));
	return false;
}

/* Sort m's values into out[] by the allowed keys; unknown, repeated and
 * non-string keys are errors. */
static bool map_fields(struct loader *L, const struct ynode *m,
		       const char *what, const char *const *allowed,
		       size_t n_allowed, const struct ynode **out)
{
	struct strbuf sb = { 0 };
	const struct ynode *k;
	bool ok = true;
	size_t i, j;

	for (j = 0; j < n_allowed; j++)
		out[j] = NULL;
	for (i = 0; i + 1 < m->n; i += 2) {
		k = m->kid[i];
		if (k->type != Y_SCALAR) {
			err(L, k, "keys in %s must be words, not %s", what,
			    kind_of(k));
			ok = false;
			continue;
		}
		for (j = 0; j < n_allowed; j++)
			if (!strcmp(k->s, allowed[j]))
				break;
		if (j == n_allowed) {
			sb_reset(&sb);
			for (j = 0; j < n_allowed; j++)
				sb_printf(&sb, "%s%s", j == 0 ? "" :
					  j + 1 == n_allowed ? " or " : ", ",
					  allowed[j]);
			err(L, k, "unknown key '%s' in %s (expected %s)", k->s,
			    what, sb.buf);
			ok = false;
			continue;
		}
		if (out[j]) {
			err(L, k, "duplicate key '%s' in %s", k->s, what);
			ok = false;
			continue;
		}
		out[j] = m->kid[i + 1];
	}
	sb_free(&sb);
	return ok;
}

static bool name_ok(const char *s)
{
	size_t i;

	if (s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 1; s[i]; i++) {
		if (i >= POLICY_NAME_MAX)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	}
	return true;
}

/* Label keys as Docker, Podman and Kubernetes write them. */
static bool label_key_ok(const char *s, size_t len, bool allow_empty)
{
	size_t i;

	if ((!len && !allow_empty) || len > LABEL_KEY_MAX)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-' || s[i] == '.' || s[i] == '/'))
			return false;
	return true;
}

/* "10s", "500ms", "1m", "1h" -> milliseconds. */
static bool parse_duration(const char *s, uint32_t *ms)
{
	unsigned long long v = 0, mul;
	size_t i = 0;

	while (s[i] >= '0' && s[i] <= '9' && i < 9)
		v = v * 10 + (unsigned)(s[i++] - '0');
	if (i == 0)
		return false;
	if (!strcmp(s + i, "ms"))
		mul = 1;
	else if (!strcmp(s + i, "s"))
		mul = 1000;
	else if (!strcmp(s + i, "m"))
		mul = 60000;
	else if (!strcmp(s + i, "h"))
		mul = 3600000;
	else
		return false;
	v *= mul;
	if (v < 100 || v > 3600000)
		return false;
	*ms = (uint32_t)v;
	return true;
}

/* "20/second", "100/minute", "5/hour", "1/day". */
static bool parse_rate(const char *s, uint32_t *rate, uint32_t *unit)
{
	static const struct { const char *name; uint32_t s; } units[] = {
		{ "second", 1 }, { "minute", 60 }, { "hour", 3600 },
		{ "day", 86400 },
	};
	unsigned long v = 0;
	size_t i = 0, u;

	while (s[i] >= '0' && s[i] <= '9' && i < 7)
		v = v * 10 + (unsigned)(s[i++] - '0');
	if (i == 0 || s[i] != '/' || v < 1 || v > 100000)
		return false;
	for (u = 0; u < ARRAY_SIZE(units); u++) {
		if (!strcmp(s + i + 1, units[u].name)) {
			*rate = (uint32_t)v;
			*unit = units[u].s;
			return true;
		}
	}
	return false;
}

static bool sens_parse(const char *s, enum sensitivity *out);

/* colocation: { mode: warn|enforce, forbid: [[restricted, low], ...] } */
static void load_colocation(struct loader *L, const struct ynode *v)
{
	static const char *const keys[] = { "mode", "forbid" };
	const struct ynode *f[ARRAY_SIZE(keys)], *pair;
	struct policy *p = L->p;
	enum sensitivity a[2];
	size_t i, j;
	bool ok;

	if (!want(L, v, Y_MAP, "colocation"))
		return;
	map_fields(L, v, "colocation", keys, ARRAY_SIZE(keys), f);
	if (!f[0] || !f[1]) {
		err(L, v, "colocation needs mode (warn or enforce) and forbid (pairs of levels, such as [restricted, low])");
		return;
	}
	if (want(L, f[0], Y_SCALAR, "colocation.mode")) {
		if (!strcmp(f[0]->s, "warn"))
			p->colo_mode = COLO_WARN;
		else if (!strcmp(f[0]->s, "enforce"))
			p->colo_mode = COLO_ENFORCE;
		else
			err(L, f[0], "colocation.mode must be warn or enforce, not '%s'",
			    f[0]->s);
	}
	if (f[1]->type == Y_SEQ && !f[1]->n) {
		err(L, f[1], "colocation.forbid is empty; list at least one pair, such as [restricted, low]");
		return;
	}
	if (!want(L, f[1], Y_SEQ, "colocation.forbid"))
		return;
	for (i = 0; i < f[1]->n; i++) {
		pair = f[1]->kid[i];
		if (pair->type != Y_SEQ || pair->n != 2) {
			err(L, pair, "a colocation.forbid entry is a pair of levels, such as [restricted, low]");
			continue;
		}
		ok = true;
		for (j = 0; j < 2; j++) {
			if (!want(L, pair->kid[j], Y_SCALAR, "a level")) {
				ok = false;
			} else if (!sens_parse(pair->kid[j]->s, &a[j])) {
				err(L, pair->kid[j], "a level is low, moderate, high, restricted or unset, not '%s'",
				    pair->kid[j]->s);
				ok = false;
			}
		}
		if (!ok)
			continue;
		if (a[0] == a[1]) {
			err(L, pair, "[%s, %s] pairs a level with itself: containers of one level may always share a kernel",
			    policy_sens_str(a[0]), policy_sens_str(a[1]));
			continue;
		}
		p->colo_forbid[a[0]] |= 1u << a[1];
		p->colo_forbid[a[1]] |= 1u << a[0];
	}
}

static void load_settings(struct loader *L, const struct ynode *key,
			  const struct ynode *v)
{
	static const char *const keys[] = { "label_prefix", "unassigned",
					    "log", "colocation" };
	static const char *const log_keys[] = { "window", "rate" };
	const struct ynode *f[ARRAY_SIZE(keys)], *lf[ARRAY_SIZE(log_keys)];
	struct policy *p = L->p;

	if (L->have_settings) {
		err(L, key, "settings given twice (first at %s:%u:%u); a policy has one settings block",
		    policy_file(p, L->settings_loc.file),
		    L->settings_loc.line, L->settings_loc.col);
		return;
	}
	L->have_settings = true;
	L->settings_loc = loc_of(L, key);
	if (!want(L, v, Y_MAP, "settings"))
		return;
	map_fields(L, v, "settings", keys, ARRAY_SIZE(keys), f);
	if (f[0] && want(L, f[0], Y_SCALAR, "label_prefix")) {
		if (f[0]->len > PREFIX_MAX ||
		    !label_key_ok(f[0]->s, f[0]->len, true)) {
			err(L, f[0], "label_prefix '%s' may hold up to %d letters, digits, '.', '_', '-' and '/'",
			    f[0]->s, PREFIX_MAX);
		} else {
			free(p->label_prefix);
			p->label_prefix = xstrdup(f[0]->s);
		}
	}
	if (f[1] && want(L, f[1], Y_SCALAR, "unassigned") &&
	    strcmp(f[1]->s, "deny"))
		err(L, f[1], "unassigned must be deny (containers that match no group get no lateral flows), not '%s'",
		    f[1]->s);
	if (f[3])
		load_colocation(L, f[3]);
	if (!f[2] || !want(L, f[2], Y_MAP, "log"))
		return;
	map_fields(L, f[2], "log", log_keys, ARRAY_SIZE(log_keys), lf);
	if (lf[0] && want(L, lf[0], Y_SCALAR, "log.window") &&
	    !parse_duration(lf[0]->s, &p->log_window_ms))
		err(L, lf[0], "log.window '%s' must be a duration from 100ms to 1h, such as 500ms, 10s or 1m",
		    lf[0]->s);
	if (lf[1] && want(L, lf[1], Y_SCALAR, "log.rate") &&
	    !parse_rate(lf[1]->s, &p->log_rate, &p->log_rate_unit_s))
		err(L, lf[1], "log.rate '%s' must be N/second, N/minute, N/hour or N/day with N from 1 to 100000",
		    lf[1]->s);
}

static void mark_bad(struct loader *L, size_t g)
{
	size_t old = L->bad_cap;

	xgrow(&L->bad, &L->bad_cap, g + 1, sizeof(*L->bad));
	if (L->bad_cap > old)
		memset(L->bad + old, 0, (L->bad_cap - old) * sizeof(*L->bad));
	L->bad[g] = true;
}

static bool group_bad(const struct loader *L, size_t g)
{
	return g < L->bad_cap && L->bad[g];
}

static bool load_match(struct loader *L, struct group *g,
		       const struct ynode *v)
{
	const struct ynode *k, *val;
	bool ok = true;
	size_t i, j;

	if (is_null(v) || (v->type == Y_MAP && v->n == 0)) {
		err(L, v, "empty match would hold for every container; list at least one label, such as { purpose: web }");
		return false;
	}
	if (!want(L, v, Y_MAP, "match"))
		return false;
	if (v->n / 2 > MATCH_MAX) {
		err(L, v, "match lists more than %d labels", MATCH_MAX);
		return false;
	}
	g->match = xcalloc(v->n / 2, sizeof(*g->match));
	for (i = 0; i + 1 < v->n; i += 2) {
		k = v->kid[i];
		val = v->kid[i + 1];
		if (k->type != Y_SCALAR || !label_key_ok(k->s, k->len, false)) {
			err(L, k, "bad label key%s%s%s: keys hold letters, digits, '.', '_', '-' and '/' (at most %d)",
			    k->type == Y_SCALAR ? " '" : "",
			    k->type == Y_SCALAR ? k->s : "",
			    k->type == Y_SCALAR ? "'" : "", LABEL_KEY_MAX);
			ok = false;
			continue;
		}
		for (j = 0; j < g->n_match; j++)
			if (!strcmp(g->match[j].key, k->s))
				break;
		if (j < g->n_match) {
			err(L, k, "duplicate key '%s' in match", k->s);
			ok = false;
			continue;
		}
		if (val->type != Y_SCALAR || is_null(val)) {
			err(L, val, "the value of label '%s' must be a string, not %s",
			    k->s, kind_of(val));
			ok = false;
			continue;
		}
		if (val->len > LABEL_VALUE_MAX) {
			err(L, val, "the value of label '%s' is longer than %d bytes",
			    k->s, LABEL_VALUE_MAX);
			ok = false;
			continue;
		}
		g->match[g->n_match].key = xstrdup(k->s);
		g->match[g->n_match].value = xstrdup(val->s);
		g->n_match++;
	}
	/* Half a match would classify containers into the group and
	 * report shadowing that is not there. */
	if (!ok) {
		for (i = 0; i < g->n_match; i++) {
			free(g->match[i].key);
			free(g->match[i].value);
		}
		g->n_match = 0;
	}
	return ok;
}

/* A prefix that leaves host bits set is a typo more often than not: say
 * which network was probably meant. */
static void cidr_error(struct loader *L, const struct ynode *n)
{
	char addr[BH_ADDR_STRLEN], buf[BH_ADDR_STRLEN];
	const char *slash = strchr(n->s, '/');
	struct bh_addr a;
	unsigned long plen;
	size_t i, bits;
	char *end;

	if (slash && (size_t)(slash - n->s) < sizeof(addr)) {
		memcpy(addr, n->s, (size_t)(slash - n->s));
		addr[slash - n->s] = '\0';
		plen = strtoul(slash + 1, &end, 10);
		if (bh_addr_parse(addr, false, &a) && slash[1] >= '0' &&
		    slash[1] <= '9' && !*end && plen <= a.plen) {
			bits = bh_addr_len(&a) * 8;
			for (i = plen; i < bits; i++)
				a.a[i / 8] &= (uint8_t)~(0x80 >> (i % 8));
			a.plen = (uint8_t)plen;
			err(L, n, "'%s' has host bits set; the network is %s",
			    n->s, bh_addr_str(&a, buf));
			return;
		}
	}
	err(L, n, "bad address '%s': expected an IPv4 or IPv6 address, optionally with /prefix",
	    n->s);
}

struct cidr_at {
	struct bh_addr a;
	size_t i;		/* position in the list */
};

static int cidr_at_cmp(const void *x, const void *y)
{
	const struct cidr_at *a = x, *b = y;
	int r = bh_addr_cmp(&a->a, &b->a);

	if (r)
		return r;
	return a->i < b->i ? -1 : a->i > b->i;
}

/* Repeats, found by sorting: a list may hold many thousand addresses. */
static bool cidrs_unique(struct loader *L, struct group *g,
			 const struct ynode *v, const size_t *pos)
{
	struct cidr_at *s = xcalloc(g->n_cidrs, sizeof(*s));
	bool *dup = xcalloc(g->n_cidrs, sizeof(*dup));
	bool ok = true;
	size_t i;

	for (i = 0; i < g->n_cidrs; i++) {
		s[i].a = g->cidrs[i];
		s[i].i = i;
	}
	qsort(s, g->n_cidrs, sizeof(*s), cidr_at_cmp);
	for (i = 1; i < g->n_cidrs; i++)
		if (bh_addr_eq(&s[i].a, &s[i - 1].a))
			dup[s[i].i] = true;
	for (i = 0; i < g->n_cidrs; i++) {
		if (!dup[i])
			continue;
		err(L, v->kid[pos[i]], "'%s' is listed twice",
		    v->kid[pos[i]]->s);
		ok = false;
	}
	free(s);
	free(dup);
	return ok;
}

static bool load_cidrs(struct loader *L, struct group *g,
		       const struct ynode *v)
{
	const struct ynode *c;
	struct bh_addr a;
	bool ok = true;
	size_t i, *pos;

	if (v->type == Y_SEQ && v->n == 0) {
		err(L, v, "cidrs is empty; list at least one address");
		return false;
	}
	if (!want(L, v, Y_SEQ, "cidrs"))
		return false;
	g->cidrs = xcalloc(v->n, sizeof(*g->cidrs));
	pos = xcalloc(v->n, sizeof(*pos));
	for (i = 0; i < v->n; i++) {
		c = v->kid[i];
		if (!want(L, c, Y_SCALAR, "an address")) {
			ok = false;
			continue;
		}
		if (!bh_addr_parse(c->s, true, &a)) {
			cidr_error(L, c);
			ok = false;
			continue;
		}
		pos[g->n_cidrs] = i;
		g->cidrs[g->n_cidrs++] = a;
	}
	ok &= cidrs_unique(L, g, v, pos);
	free(pos);
	return ok;
}

static bool load_enum(struct loader *L, const struct ynode *v,
		      const char *what, const char *const *names, size_t n,
		      int *out)
{
	size_t i;

	if (!want(L, v, Y_SCALAR, what))
		return false;
	for (i = 0; i < n; i++) {
		if (names[i] && !strcmp(v->s, names[i])) {
			*out = (int)i;
			return true;
		}
	}
	switch (n) {
	case 2:
		err(L, v, "%s must be %s or %s, not '%s'", what, names[0],
		    names[1], v->s);
		break;
	default:
		err(L, v, "%s must be %s, %s, %s or %s, not '%s'", what,
		    names[1], names[2], names[3], names[4], v->s);
		break;
	}
	return false;
}

/* Group names while files are read: a directory of big files must not
 * cost a scan of every earlier group per group. */
static unsigned *name_slot(struct loader *L, const char *name)
{
	size_t i = bh_str_hash(name) & (L->names_cap - 1);

	while (L->names[i] && strcmp(L->p->groups[L->names[i] - 1].name, name))
		i = (i + 1) & (L->names_cap - 1);
	return &L->names[i];
}

static int name_find(struct loader *L, const char *name)
{
	unsigned *slot = name_slot(L, name);

	return *slot ? (int)*slot - 1 : -1;
}

static void name_add(struct loader *L, size_t g)
{
	unsigned *old = L->names;
	size_t old_cap = L->names_cap, i;

	if (2 * (L->p->n_groups + 1) > L->names_cap) {
		L->names_cap = old_cap ? old_cap * 2 : 64;
		L->names = xcalloc(L->names_cap, sizeof(*L->names));
		for (i = 0; i < old_cap; i++)
			if (old[i])
				*name_slot(L, L->p->groups[old[i] - 1].name) =
					old[i];
		free(old);
	}
	*name_slot(L, L->p->groups[g].name) = (unsigned)g + 1;
}

static void load_group(struct loader *L, const struct ynode *k,
		       const struct ynode *v)
{
	static const char *const keys[] = { "description", "match", "cidrs",
					    "sensitivity", "mode", "intra",
					    "risk", "until" };
	static const char *const sens[] = {
		[SENS_UNSET] = NULL, [SENS_LOW] = "low",
		[SENS_MODERATE] = "moderate", [SENS_HIGH] = "high",
		[SENS_RESTRICTED] = "restricted",
	};
	static const char *const modes[] = { [MODE_ENFORCE] = "enforce",
					     [MODE_AUDIT] = "audit" };
	static const char *const intra[] = { "allow", "deny" };
	const struct ynode *f[ARRAY_SIZE(keys)];
	struct policy *p = L->p;
	struct group *g;
	size_t gi;
	bool ok = true;
	int idx, e;

	if (k->type != Y_SCALAR) {
		err(L, k, "a group name must be a word, not %s", kind_of(k));
		return;
	}
	if (!name_ok(k->s)) {
		err(L, k, "bad group name '%s': a name is a lowercase letter followed by up to 30 lowercase letters, digits, '_' or '-'",
		    k->s);
		return;
	}
	idx = name_find(L, k->s);
	if (idx >= 0 && idx < GROUP_FIRST_USER) {
		err(L, k, "'%s' is a built-in group; choose another name",
		    k->s);
		return;
	}
	if (idx >= 0) {
		g = &p->groups[idx];
		err(L, k, "duplicate group '%s' (first defined at %s:%u:%u)",
		    k->s, policy_file(p, g->loc.file), g->loc.line,
		    g->loc.col);
		return;
	}
	xgrow(&p->groups, &L->groups_cap, p->n_groups + 1, sizeof(*p->groups));
	gi = p->n_groups++;
	g = &p->groups[gi];
	memset(g, 0, sizeof(*g));
	g->name = xstrdup(k->s);
	name_add(L, gi);
	g->loc = loc_of(L, k);
	g->intra_allow = true;
	g->kind = GK_LABELS;
	if (!want(L, v, Y_MAP, "a group")) {
		mark_bad(L, gi);
		return;
	}
	ok = map_fields(L, v, "a group", keys, ARRAY_SIZE(keys), f);
	if (f[0] && want(L, f[0], Y_SCALAR, "description")) {
		if (f[0]->len > DESCRIPTION_MAX) {
			err(L, f[0], "description is longer than %d bytes",
			    DESCRIPTION_MAX);
			ok = false;
		} else {
			g->description = xstrdup(f[0]->s);
		}
	} else if (f[0]) {
		ok = false;
	}
	if (f[1] && f[2]) {
		err(L, k, "group '%s' has both match and cidrs: a group holds either containers (match) or addresses (cidrs)",
		    k->s);
		ok = false;
	} else if (!f[1] && !f[2]) {
		err(L, k, "group '%s' needs match (container labels) or cidrs (addresses)",
		    k->s);
		ok = false;
	} else if (f[1]) {
		ok &= load_match(L, g, f[1]);
	} else {
		g->kind = GK_CIDRS;
		ok &= load_cidrs(L, g, f[2]);
	}
	if (f[3]) {
		if (load_enum(L, f[3], "sensitivity", sens, ARRAY_SIZE(sens),
			      &e))
			g->sensitivity = (enum sensitivity)e;
		else
			ok = false;
	}
	if (f[4]) {
		if (load_enum(L, f[4], "mode", modes, ARRAY_SIZE(modes), &e))
			g->mode = (enum group_mode)e;
		else
			ok = false;
	}
	if (f[5] && g->kind == GK_CIDRS) {
		err(L, f[5], "intra applies to groups of containers, not to addresses (cidrs)");
		ok = false;
	} else if (f[5]) {
		if (load_enum(L, f[5], "intra", intra, ARRAY_SIZE(intra), &e))
			g->intra_allow = e == 0;
		else
			ok = false;
	}
	if (f[7] && want(L, f[7], Y_SCALAR, "until")) {
		int32_t day;

		if (!policy_parse_day(f[7]->s, &day)) {
			err(L, f[7], "until '%s' must be a date, YYYY-MM-DD",
			    f[7]->s);
			ok = false;
		} else if (g->mode != MODE_AUDIT) {
			err(L, f[7], "until is the end of an audit: it needs mode: audit");
			ok = false;
		} else {
			g->until_day = day;
			g->until_loc = loc_of(L, f[7]);
		}
	} else if (f[7]) {
		ok = false;
	}
	if (f[6] && want(L, f[6], Y_SCALAR, "risk")) {
		if (name_ok(f[6]->s)) {
			g->risk = xstrdup(f[6]->s);
		} else {
			err(L, f[6], "bad risk '%s': a risk profile is a lowercase word such as exposed or internal ([a-z][a-z0-9_-]{0,30})",
			    f[6]->s);
			ok = false;
		}
	} else if (f[6]) {
		ok = false;
	}
	if (!ok)
		mark_bad(L, gi);
}

static bool sens_parse(const char *s, enum sensitivity *out)
{
	int i;

	for (i = SENS_UNSET; i <= SENS_RESTRICTED; i++)
		if (!strcmp(s, policy_sens_str((enum sensitivity)i))) {
			*out = (enum sensitivity)i;
			return true;
		}
	return false;
}

/* A word or a list of words: calls one() on each; false when any fails. */
static bool load_words(struct loader *L, const struct ynode *v,
		       const char *what,
		       bool (*one)(struct loader *, const struct ynode *,
				   struct boundary_end *),
		       struct boundary_end *e)
{
	bool ok = true;
	size_t i;

	if (v->type == Y_SEQ && v->n == 0) {
		err(L, v, "%s is an empty list; name at least one", what);
		return false;
	}
	if (v->type != Y_SEQ)
		return want(L, v, Y_SCALAR, what) && one(L, v, e);
	for (i = 0; i < v->n; i++)
		ok &= want(L, v->kid[i], Y_SCALAR, what) &&
		      one(L, v->kid[i], e);
	return ok;
}

static bool end_sens(struct loader *L, const struct ynode *n,
		     struct boundary_end *e)
{
	enum sensitivity s;

	if (!sens_parse(n->s, &s)) {
		err(L, n, "sensitivity must be low, moderate, high, restricted or unset, not '%s'",
		    n->s);
		return false;
	}
	e->sens_mask |= 1u << s;
	return true;
}

static bool end_risk(struct loader *L, const struct ynode *n,
		     struct boundary_end *e)
{
	if (!name_ok(n->s)) {
		err(L, n, "bad risk '%s': a risk profile is a lowercase word such as exposed or internal ([a-z][a-z0-9_-]{0,30})",
		    n->s);
		return false;
	}
	e->risks = xrealloc(e->risks, (e->n_risks + 1) * sizeof(*e->risks));
	e->risks[e->n_risks++] = xstrdup(n->s);
	return true;
}

/* from/to of a boundary: `world`, or { sensitivity: ..., risk: ... }. */
static bool load_boundary_end(struct loader *L, const struct ynode *v,
			      const char *what, struct boundary_end *e)
{
	static const char *const keys[] = { "sensitivity", "risk" };
	const struct ynode *f[ARRAY_SIZE(keys)];
	bool ok;

	if (v->type == Y_SCALAR && !is_null(v)) {
		if (!strcmp(v->s, "world")) {
			e->kind = BE_WORLD;
			return true;
		}
		err(L, v, "boundary %s must be world or a mapping of sensitivity and risk, such as { sensitivity: restricted }, not '%s'",
		    what, v->s);
		return false;
	}
	if (!want(L, v, Y_MAP, what))
		return false;
	ok = map_fields(L, v, what, keys, ARRAY_SIZE(keys), f);
	if (!f[0] && !f[1]) {
		err(L, v, "boundary %s names neither sensitivity nor risk",
		    what);
		return false;
	}
	if (f[0])
		ok &= load_words(L, f[0], "sensitivity", end_sens, e);
	if (f[1])
		ok &= load_words(L, f[1], "risk", end_risk, e);
	return ok;
}

static void load_boundary(struct loader *L, const struct ynode *k,
			  const struct ynode *v)
{
	static const char *const keys[] = { "description", "from", "to" };
	const struct ynode *f[ARRAY_SIZE(keys)];
	struct policy *p = L->p;
	struct boundary b = { 0 };
	bool ok = true;
	size_t i;

	if (k->type != Y_SCALAR) {
		err(L, k, "a boundary name must be a word, not %s", kind_of(k));
		return;
	}
	if (!name_ok(k->s)) {
		err(L, k, "bad boundary name '%s': a name is a lowercase letter followed by up to 30 lowercase letters, digits, '_' or '-'",
		    k->s);
		return;
	}
	for (i = 0; i < p->n_boundaries; i++)
		if (!strcmp(p->boundaries[i].name, k->s)) {
			err(L, k, "duplicate boundary '%s' (first defined at %s:%u:%u)",
			    k->s, policy_file(p, p->boundaries[i].loc.file),
			    p->boundaries[i].loc.line,
			    p->boundaries[i].loc.col);
			return;
		}
	if (p->n_boundaries == BOUNDARIES_MAX) {
		err(L, k, "boundary '%s' is one too many: a policy holds at most %d",
		    k->s, BOUNDARIES_MAX);
		return;
	}
	b.loc = loc_of(L, k);
	if (!want(L, v, Y_MAP, "a boundary"))
		return;
	ok = map_fields(L, v, "a boundary", keys, ARRAY_SIZE(keys), f);
	if (f[0] && want(L, f[0], Y_SCALAR, "description")) {
		if (f[0]->len > DESCRIPTION_MAX) {
			err(L, f[0], "description is longer than %d bytes",
			    DESCRIPTION_MAX);
			ok = false;
		} else {
			b.description = xstrdup(f[0]->s);
		}
	} else if (f[0]) {
		ok = false;
	}
	for (i = 1; i < 3; i++)
		if (!f[i]) {
			err(L, k, "boundary '%s' needs '%s'", k->s, keys[i]);
			ok = false;
		}
	if (f[1])
		ok &= load_boundary_end(L, f[1], "from", &b.from);
	if (f[2])
		ok &= load_boundary_end(L, f[2], "to", &b.to);
	if (ok && b.from.kind == BE_WORLD && b.to.kind == BE_WORLD) {
		err(L, k, "boundary '%s' runs from world to world: nothing bulkhead judges", k->s);
		ok = false;
	}
	b.name = xstrdup(k->s);
	/* even a bad one, so that a second definition is reported as
	 * such; flows are not held against it */
	L->bnd_bad[p->n_boundaries] = !ok;
	xgrow(&p->boundaries, &L->boundaries_cap, p->n_boundaries + 1,
	      sizeof(*p->boundaries));
	p->boundaries[p->n_boundaries++] = b;
}

/* Version, settings and groups of one file; flows wait until every file's
 * groups are known. */
static void load_top(struct loader *L, const struct ynode *root)
{
	static const char *const keys[] = { "version", "settings", "groups",
					    "flows", "boundaries" };
	const struct ynode *f[ARRAY_SIZE(keys)], *k = NULL;
	size_t i;

	if (root->type != Y_MAP) {
		err(L, root, "the top level must be a mapping (version, settings, groups, flows, boundaries), not %s",
		    kind_of(root));
		return;
	}
	map_fields(L, root, "the top level", keys, ARRAY_SIZE(keys), f);
	if (!f[0])
		err(L, root, "missing 'version: 1'");
	else if (want(L, f[0], Y_SCALAR, "version") && strcmp(f[0]->s, "1"))
		err(L, f[0], "unsupported version '%s' (this bulkhead reads version 1)",
		    f[0]->s);
	if (f[1]) {
		for (i = 0; i + 1 < root->n; i++)
			if (root->kid[i + 1] == f[1])
				k = root->kid[i];
		load_settings(L, k, f[1]);
	}
	if (f[2] && !(f[2]->type == Y_MAP && f[2]->n == 0) &&
	    want(L, f[2], Y_MAP, "groups"))
		for (i = 0; i + 1 < f[2]->n; i += 2)
			load_group(L, f[2]->kid[i], f[2]->kid[i + 1]);
	if (f[4] && !(f[4]->type == Y_MAP && f[4]->n == 0) &&
	    want(L, f[4], Y_MAP, "boundaries"))
		for (i = 0; i + 1 < f[4]->n; i += 2)
			load_boundary(L, f[4]->kid[i], f[4]->kid[i + 1]);
}

/* tcp/N, tcp/N-M, tcp (every port), udp/..., sctp/..., icmp, icmpv6, any. */
static bool load_port(struct loader *L, const struct ynode *n,
		      struct port_spec *ps)
{
	static const struct { const char *name; uint8_t proto; bool ports; }
	protos[] = {
		{ "tcp", IPPROTO_TCP, true }, { "udp", IPPROTO_UDP, true },
		{ "sctp", IPPROTO_SCTP, true }, { "icmp", IPPROTO_ICMP, false },
		{ "icmpv6", IPPROTO_ICMPV6, false }, { "any", 0, false },
	};
	const char *s, *slash, *q;
	unsigned long v[2] = { 0, 0 };
	unsigned nv = 0, digits;
	size_t plen, i;

	if (!want(L, n, Y_SCALAR, "a port"))
		return false;
	s = n->s;
	slash = strchr(s, '/');
	plen = slash ? (size_t)(slash - s) : strlen(s);
	for (i = 0; i < ARRAY_SIZE(protos); i++)
		if (strlen(protos[i].name) == plen &&
		    !strncmp(s, protos[i].name, plen))
			break;
	if (i == ARRAY_SIZE(protos)) {
		if (s[0] >= '0' && s[0] <= '9')
			err(L, n, "port '%s' needs a protocol, such as tcp/%s",
			    s, s);
		else
			err(L, n, "unknown protocol in '%s': expected tcp, udp, sctp, icmp, icmpv6 or any",
			    s);
		return false;
	}
	memset(ps, 0, sizeof(*ps));
	ps->proto = protos[i].proto;
	ps->loc = loc_of(L, n);
	if (!slash) {
		ps->lo = 0;
		ps->hi = protos[i].proto == IPPROTO_ICMP ||
			 protos[i].proto == IPPROTO_ICMPV6 ? 0 : 65535;
		return true;
	}
	if (!protos[i].ports) {
		err(L, n, "%s takes no port: write '%s'", protos[i].name,
		    protos[i].name);
		return false;
	}
	for (q = slash + 1; nv < 2; nv++) {
		for (digits = 0; *q >= '0' && *q <= '9'; q++, digits++)
			if ((v[nv] = v[nv] * 10 + (unsigned)(*q - '0')) >
			    65536)
				v[nv] = 65536;	/* saturate: 0080 is 80 */
		if (!digits)
			goto syntax;
		if (*q == '\0') {
			nv++;
			break;
		}
		if (*q != '-' || nv == 1)
			goto syntax;
		q++;
	}
	for (i = 0; i < nv; i++) {
		if (v[i] == 0) {
			err(L, n, "port 0 in '%s' is not a port: ports are 1 to 65535",
			    s);
			return false;
		}
		if (v[i] > 65535) {
			err(L, n, "port above 65535 in '%s'", s);
			return false;
		}
	}
	if (nv == 2 && v[0] > v[1]) {
		err(L, n, "range '%s' runs backwards: %lu is above %lu", s,
		    v[0], v[1]);
		return false;
	}
	ps->lo = (uint16_t)v[0];
	ps->hi = (uint16_t)(nv == 2 ? v[1] : v[0]);
	return true;
syntax:
	err(L, n, "bad port '%s': expected %.*s/N or %.*s/N-M with N and M from 1 to 65535",
	    s, (int)plen, s, (int)plen, s);
	return false;
}

/* A flow's from or to: one group name or a list of them. */
static bool load_ends(struct loader *L, const struct ynode *v,
		      const char *what, unsigned **out, size_t *n_out)
{
	const struct ynode *one[1] = { v }, *const *names = one;
	size_t n = 1, i;
	bool ok = true;
	int g;

	if (v->type == Y_SEQ) {
		if (!v->n) {
			err(L, v, "%s is an empty list; name at least one group",
			    what);
			return false;
		}
		names = (const struct ynode *const *)v->kid;
		n = v->n;
	}
	*out = xcalloc(n, sizeof(**out));
	L->seen_gen++;
	for (i = 0; i < n; i++) {
		if (!want(L, names[i], Y_SCALAR, what)) {
			ok = false;
			continue;
		}
		g = policy_group_find(L->p, names[i]->s);
		if (g == GROUP_QUARANTINE) {
			err(L, names[i], "the built-in group 'quarantine' cannot be named in flows: nothing passes to or from it");
			ok = false;
			continue;
		}
		if (g < 0) {
			err(L, names[i], "unknown group '%s' in %s", names[i]->s,
			    what);
			ok = false;
			continue;
		}
		L->mentioned[g] = true;
		if (L->seen[g] == L->seen_gen) {
			err(L, names[i], "group '%s' is listed twice in %s",
			    names[i]->s, what);
			ok = false;
			continue;
		}
		L->seen[g] = L->seen_gen;
		(*out)[(*n_out)++] = (unsigned)g;
	}
	return ok;
}

static void load_flow(struct loader *L, const struct ynode *v)
{
	static const char *const keys[] = { "from", "to", "ports",
					    "description" };
	const struct ynode *f[ARRAY_SIZE(keys)];
	struct policy *p = L->p;
	struct flow fl = { 0 };
	bool ok;
	size_t i;

	if (!want(L, v, Y_MAP, "a flow"))
		return;
	ok = map_fields(L, v, "a flow", keys, ARRAY_SIZE(keys), f);
	fl.loc = loc_of(L, v);
	for (i = 0; i < 3; i++) {
		if (!f[i]) {
			err(L, v, "a flow needs '%s'", keys[i]);
			ok = false;
		}
	}
	if (f[0])
		ok &= load_ends(L, f[0], "from", &fl.from, &fl.n_from);
	if (f[1])
		ok &= load_ends(L, f[1], "to", &fl.to, &fl.n_to);
	if (f[2] && f[2]->type == Y_SEQ && f[2]->n == 0) {
		err(L, f[2], "ports is empty; list at least one, such as tcp/443 or any");
		ok = false;
	} else if (f[2] && want(L, f[2], Y_SEQ, "ports")) {
		fl.ports = xcalloc(f[2]->n, sizeof(*fl.ports));
		for (i = 0; i < f[2]->n; i++)
			if (load_port(L, f[2]->kid[i], &fl.ports[fl.n_ports]))
				fl.n_ports++;
			else
				ok = false;
	} else if (f[2]) {
		ok = false;
	}
	if (f[3])
		ok &= want(L, f[3], Y_SCALAR, "description");
	if (!ok) {
		free(fl.from);
		free(fl.to);
		free(fl.ports);
		return;
	}
	xgrow(&p->flows, &L->flows_cap, p->n_flows + 1, sizeof(*p->flows));
	p->flows[p->n_flows++] = fl;
}

static void load_flows(struct loader *L, const struct ynode *root)
{
	const struct ynode *v = NULL;
	size_t i;

	for (i = 0; i + 1 < root->n; i += 2)
		if (root->kid[i]->type == Y_SCALAR &&
		    !strcmp(root->kid[i]->s, "flows"))
			v = root->kid[i + 1];
	if (!v || (v->type == Y_SEQ && v->n == 0))
		return;
	if (!want(L, v, Y_SEQ, "flows"))
		return;
	for (i = 0; i < v->n; i++)
		load_flow(L, v->kid[i]);
}

/* Classification takes the first group whose match holds, so a later
 * group whose match includes every pair of an earlier one never gets a
 * container. A container labelled with exactly b's match is classified
 * into the first such group; with the index that costs the same for
 * every group, so the check stays linear in the number of groups. */
static void check_shadowing(struct loader *L)
{
	const struct policy *p = L->p;
	const struct group *a, *b;
	struct kv labels[MATCH_MAX];
	size_t i, j;
	unsigned r;

	for (j = GROUP_FIRST_USER; j < p->n_groups; j++) {
		b = &p->groups[j];
		if (b->kind != GK_LABELS || !b->n_match)
			continue;
		for (i = 0; i < b->n_match; i++) {
			labels[i].key = xasprintf("%s%s", p->label_prefix,
						  b->match[i].key);
			labels[i].value = b->match[i].value;
		}
		r = policy_classify(p, labels, b->n_match, NULL);
		for (i = 0; i < b->n_match; i++)
			free(labels[i].key);
		if (r == GROUP_UNASSIGNED || r >= j)
			continue;
		a = &p->groups[r];
		diag_loc(L, DIAG_ERROR, &b->loc,
			 "group '%s' can never match: '%s' (%s:%u:%u) comes first and matches every container it would",
			 b->name, a->name, policy_file(p, a->loc.file),
			 a->loc.line, a->loc.col);
		mark_bad(L, j);
	}
}

static const char *more(char *buf, size_t len, size_t n, const char *what)
{
	if (n)
		snprintf(buf, len, " (and %zu more %s)", n, what);
	else
		buf[0] = '\0';
	return buf;
}

/* A flow that crosses a boundary is an error at the flow, naming the
 * boundary's place: one per flow and boundary however long the from and
 * to lists are. */
static void check_boundaries(struct loader *L)
{
	const struct policy *p = L->p;
	const struct boundary *b;
	struct strbuf sb = { 0 };
	const struct flow *f;
	size_t i, j, a, c, n, nf, nt, f0 = 0, t0 = 0;
	char buf[64];

	for (i = 0; i < p->n_flows; i++) {
		f = &p->flows[i];
		for (j = 0; j < p->n_boundaries; j++) {
			b = &p->boundaries[j];
			if (L->bnd_bad[j])
				continue;
			/* counted per side: a flow of 4,000 x 4,000 groups
			 * costs 8,000 tests, not 16 million */
			nf = nt = 0;
			for (a = 0; a < f->n_from; a++)
				if (policy_boundary_end_group(p, &b->from,
							      f->from[a]) &&
				    !nf++)
					f0 = f->from[a];
			for (c = 0; c < f->n_to && nf; c++)
				if (policy_boundary_end_group(p, &b->to,
							      f->to[c]) &&
				    !nt++)
					t0 = f->to[c];
			n = nf * nt;
			if (!n)
				continue;
			sb_reset(&sb);
			policy_boundary_end_str(&b->from, &sb);
			sb_puts(&sb, " into ");
			policy_boundary_end_str(&b->to, &sb);
			diag_loc(L, DIAG_ERROR, &f->loc,
				 "flow %s -> %s crosses boundary '%s' (%s:%u:%u: nothing from %s)%s",
				 p->groups[f0].name, p->groups[t0].name,
				 b->name, policy_file(p, b->loc.file),
				 b->loc.line, b->loc.col, sb.buf,
				 more(buf, sizeof(buf), n - 1, "such pairs"));
		}
	}
	sb_free(&sb);
}

/* The first label group past the limit is where the admin must cut. */
static void check_group_count(struct loader *L)
{
	const struct policy *p = L->p;
	size_t g, n = 2;	/* unassigned and quarantine */

	for (g = GROUP_FIRST_USER; g < p->n_groups; g++) {
		if (p->groups[g].kind != GK_LABELS)
			continue;
		if (++n <= POLICY_CONTAINER_GROUPS_MAX)
			continue;
		diag_loc(L, DIAG_ERROR, &p->groups[g].loc,
			 "group '%s' is one too many: at most %d label groups fit (with unassigned and quarantine, %d container groups: the kernel's dispatch reads a 13-bit group number)",
			 p->groups[g].name, POLICY_CONTAINER_GROUPS_MAX - 2,
			 POLICY_CONTAINER_GROUPS_MAX);
		return;
	}
	/* label and cidrs groups together */
	if (p->n_groups - GROUP_FIRST_USER > POLICY_GROUPS_MAX) {
		g = GROUP_FIRST_USER + POLICY_GROUPS_MAX;
		diag_loc(L, DIAG_ERROR, &p->groups[g].loc,
			 "group '%s' is one too many: over the limit of %d groups",
			 p->groups[g].name, POLICY_GROUPS_MAX);
	}
}

static void check_flow_count(struct loader *L)
{
	const struct policy *p = L->p;

	if (p->n_flows > POLICY_FLOWS_MAX)
		diag_loc(L, DIAG_ERROR, &p->flows[POLICY_FLOWS_MAX].loc,
			 "flow is one too many: over the limit of %d flows",
			 POLICY_FLOWS_MAX);
}

/* One warning per flow and per port at most, however long the from and
 * to lists are: the output stays proportional to the input. */
static void check_warnings(struct loader *L)
{
	const struct policy *p = L->p;
	const struct group *to;
	const struct port_spec *ps;
	const struct flow *f;
	size_t i, k, n_res, r0;
	char buf[64];

	for (i = 0; i < p->n_flows; i++) {
		f = &p->flows[i];
		n_res = r0 = 0;
		for (k = 0; k < f->n_to; k++)
			if (p->groups[f->to[k]].sensitivity ==
			    SENS_RESTRICTED && !n_res++)
				r0 = f->to[k];
		if (!n_res)
			continue;
		to = &p->groups[r0];
		more(buf, sizeof(buf), n_res - 1, "restricted groups");
		for (k = 0; k < f->n_ports; k++) {
			ps = &f->ports[k];
			if (ps->proto == 0)
				diag_loc(L, DIAG_WARNING, &ps->loc,
					 "'any' opens every protocol and port of restricted group '%s'%s",
					 to->name, buf);
			else if (ps->lo == 0 && ps->hi == 65535)
				diag_loc(L, DIAG_WARNING, &ps->loc,
					 "a bare protocol opens every port of restricted group '%s'%s; name the ports",
					 to->name, buf);
		}
	}
	for (i = GROUP_FIRST_USER; i < p->n_groups; i++) {
		char day[16];

		if (p->groups[i].until_day &&
		    p->groups[i].until_day < policy_today())
			diag_loc(L, DIAG_WARNING, &p->groups[i].until_loc,
				 "the audit of group '%s' ran out on %s: enforce it (mode: enforce) or move the date",
				 p->groups[i].name,
				 policy_day_str(p->groups[i].until_day, day));
	}
	for (i = GROUP_FIRST_USER; i < p->n_groups; i++)
		if (!L->mentioned[i] && !group_bad(L, i))
			diag_loc(L, DIAG_WARNING, &p->groups[i].loc,
				 "no flow mentions group '%s'",
				 p->groups[i].name);
}

static unsigned add_file(struct loader *L, const char *name)
{
	struct policy *p = L->p;

	p->files = xrealloc(p->files, (p->n_files + 1) * sizeof(*p->files));
	p->files[p->n_files] = xstrdup(name);
	L->roots = xrealloc(L->roots, (p->n_files + 1) * sizeof(*L->roots));
	L->roots[p->n_files] = NULL;
	return (unsigned)p->n_files++;
}

static void load_one(struct loader *L, const char *name, const char *buf,
		     size_t len)
{
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct sha256_ctx file_hash;
	struct ynode *root;
	bool empty;

	/* The policy's hash chains the files' own digests, so that moving
	 * text from one file to the next (which moves the file:line of
	 * rules) changes it too. */
	sha256_init(&file_hash);
	sha256_update(&file_hash, len, (const uint8_t *)buf);
	sha256_digest(&file_hash, sizeof(digest), digest);
	sha256_update(&L->hash, sizeof(digest), digest);
	if (len > POLICY_FILE_MAX) {
		diags_add(L->d, DIAG_ERROR, name, 0, 0,
			  "file is larger than 1 MiB");
		return;
	}
	if (!check_bytes(L, buf, len))
		return;
	root = parse_tree(L, buf, len, &empty);
	if (!root && empty) {
		err_at(L, 1, 1, "empty file: a policy holds at least 'version: 1'");
		return;
	}
	if (!root)
		return;
	if (is_null(root)) {
		err_at(L, root->line, root->col,
		       "empty file: a policy holds at least 'version: 1'");
		ynode_free(root);
		return;
	}
	L->roots[L->file] = root;
	load_top(L, root);
}

static struct loader *loader_new(struct diags *d)
{
	struct loader *L = xcalloc(1, sizeof(*L));
	size_t i;

	L->p = policy_new();
	L->d = d;
	L->diags_start = d->n;
	L->errors_start = d->n_errors;
	L->groups_cap = L->p->n_groups;
	sha256_init(&L->hash);
	for (i = 0; i < GROUP_FIRST_USER; i++)
		name_add(L, i);
	return L;
}

struct diag_at {
	struct diag d;
	size_t seq;
};

/* Whole-file findings first, then by position; files compare by name,
 * which is their load order (a directory is read in name order). */
static int diag_cmp(const void *x, const void *y)
{
	const struct diag_at *a = x, *b = y;
	int r = strcmp(a->d.file, b->d.file);

	if (r)
		return r;
	if (a->d.line != b->d.line)
		return a->d.line < b->d.line ? -1 : 1;
	if (a->d.col != b->d.col)
		return a->d.col < b->d.col ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Findings come out file by file in the order of the text, whichever
 * pass found them; equal positions keep the order they were found in. */
static void sort_diags(struct loader *L)
{
	size_t n = L->d->n - L->diags_start, i;
	struct diag *v;
	struct diag_at *s;

	if (n < 2)
		return;
	v = L->d->v + L->diags_start;
	s = xcalloc(n, sizeof(*s));
	for (i = 0; i < n; i++) {
		s[i].d = v[i];
		s[i].seq = i;
	}
	qsort(s, n, sizeof(*s), diag_cmp);
	for (i = 0; i < n; i++)
		v[i] = s[i].d;
	free(s);
}

static struct policy *loader_finish(struct loader *L)
{
	struct policy *p = L->p;
	bool bad;
	size_t i;

	/* Names are known now: flows may refer to groups of any file. */
	policy_seal(p);
	L->mentioned = xcalloc(p->n_groups, sizeof(*L->mentioned));
	L->seen = xcalloc(p->n_groups, sizeof(*L->seen));
	for (i = 0; i < p->n_files; i++) {
		L->file = (unsigned)i;
		if (L->roots[i] && L->roots[i]->type == Y_MAP)
			load_flows(L, L->roots[i]);
	}
	check_shadowing(L);
	check_group_count(L);
	check_flow_count(L);
	check_boundaries(L);
	check_warnings(L);
	sort_diags(L);
	sha256_digest(&L->hash, sizeof(p->sha256), p->sha256);
	for (i = 0; i < p->n_files; i++)
		ynode_free(L->roots[i]);
	free(L->roots);
	free(L->bad);
	free(L->mentioned);
	free(L->seen);
	free(L->names);
	bad = L->d->n_errors != L->errors_start;
	free(L);
	if (bad) {
		policy_free(p);
		return NULL;
	}
	return p;
}

struct policy *policy_load_buf(const char *name, const char *buf, size_t len,
			       struct diags *d)
{
	struct loader *L = loader_new(d);

	L->file = add_file(L, name);
	load_one(L, name, buf, len);
	return loader_finish(L);
}

static void load_path(struct loader *L, const char *path)
{
	char *buf = NULL;
	size_t len = 0;
	int r;

	L->file = add_file(L, path);
	r = bh_read_file(path, POLICY_FILE_MAX, &buf, &len);
	if (r == -EFBIG) {
		diags_add(L->d, DIAG_ERROR, path, 0, 0,
			  "file is larger than 1 MiB");
	} else if (r < 0) {
		diags_add(L->d, DIAG_ERROR, path, 0, 0, "cannot read: %s",
			  strerror(-r));
	} else {
		load_one(L, path, buf, len);
	}
	free(buf);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.yaml directly in dir (not hidden, not in subdirectories), in
 * byte order of their names so that the merge order does not depend on
 * the locale. */
static void load_dir(struct loader *L, const char *dir)
{
	size_t n = 0, cap = 0, i, len;
	char **names = NULL, *path;
	struct dirent *de;
	struct stat st;
	DIR *dh;

	dh = opendir(dir);
	if (!dh) {
		diags_add(L->d, DIAG_ERROR, dir, 0, 0, "cannot read: %s",
			  strerror(errno));
		return;
	}
	while ((de = readdir(dh))) {
		len = strlen(de->d_name);
		if (de->d_name[0] == '.' || len < 6 ||
		    strcmp(de->d_name + len - 5, ".yaml"))
			continue;
		xgrow(&names, &cap, n + 1, sizeof(*names));
		names[n++] = xstrdup(de->d_name);
	}
	closedir(dh);
	if (n)
		qsort(names, n, sizeof(*names), name_cmp);
	len = strlen(dir);
	for (i = 0; i < n; i++) {
		path = xasprintf("%s%s%s", dir,
				 len && dir[len - 1] == '/' ? "" : "/",
				 names[i]);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			diags_add(L->d, DIAG_ERROR, path, 0, 0,
				  "is a directory; policies do not nest");
		else
			load_path(L, path);
		free(path);
		free(names[i]);
	}
	if (!n)
		diags_add(L->d, DIAG_ERROR, dir, 0, 0,
			  "no *.yaml files in this directory");
	free(names);
}

/* a policy directory's *.yaml, or one file */
static void load_file_or_dir(struct loader *L, const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		load_dir(L, path);
	else
		load_path(L, path);
}

struct policy *policy_load(const char *path, struct diags *d)
{
	struct loader *L = loader_new(d);

	load_file_or_dir(L, path);
	return loader_finish(L);
}

struct policy *policy_load_extra(const char *path, const char *name,
				 const char *buf, size_t len, struct diags *d)
{
	struct loader *L = loader_new(d);

	load_file_or_dir(L, path);
	L->file = add_file(L, name);
	load_one(L, name, buf, len);
	return loader_finish(L);
}
