/* The group policy model: built-in groups, classification of a container
 * by its labels, the normalised dump, and the diagnostics a load collects.
 * No I/O apart from printing to a caller's FILE. */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <time.h>

#include "policy.h"

/* Messages quote what the file said. One finding must stay one line, and
 * a hostile file must not reach the admin's terminal with escape
 * sequences or flood it with a megabyte-long name. */
#define DIAG_MSG_MAX 512

static void tame(char *msg)
{
	size_t n = 0;
	char *c;

	for (c = msg; *c; c++, n++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
		/* "..." and its NUL take the place of at least four bytes:
		 * a message that ends within three bytes stays whole */
		if (n >= DIAG_MSG_MAX && ((unsigned char)*c & 0xc0) != 0x80 &&
		    strnlen(c, 4) == 4) {
			memcpy(c, "...", 4);
			break;
		}
	}
}

void diags_vadd(struct diags *d, enum diag_severity sev, const char *file,
		unsigned line, unsigned col, const char *fmt, va_list ap)
{
	struct diag *g;

	xgrow(&d->v, &d->cap, d->n + 1, sizeof(*d->v));
	g = &d->v[d->n++];
	g->severity = sev;
	g->file = xstrdup(file ? file : "-");
	g->line = line;
	g->col = col;
	if (vasprintf(&g->msg, fmt, ap) < 0)
		g->msg = xstrdup("(out of memory)");
	tame(g->msg);
	if (sev == DIAG_ERROR)
		d->n_errors++;
	else
		d->n_warnings++;
}

void diags_add(struct diags *d, enum diag_severity sev, const char *file,
	       unsigned line, unsigned col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diags_vadd(d, sev, file, line, col, fmt, ap);
	va_end(ap);
}

void diags_print(const struct diags *d, FILE *out)
{
	const char *sev;
	size_t i;

	for (i = 0; i < d->n; i++) {
		sev = d->v[i].severity == DIAG_ERROR ? "error" : "warning";
		/* Whole-file findings (unreadable, too large) have no
		 * position; say so rather than invent one. */
		if (d->v[i].line)
			fprintf(out, "%s:%u:%u: %s: %s\n", d->v[i].file,
				d->v[i].line, d->v[i].col, sev, d->v[i].msg);
		else
			fprintf(out, "%s: %s: %s\n", d->v[i].file, sev,
				d->v[i].msg);
	}
}

void diags_free(struct diags *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->n; i++) {
		free(d->v[i].file);
		free(d->v[i].msg);
	}
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static const char *const builtin_names[GROUP_FIRST_USER] = {
	[GROUP_UNASSIGNED] = "unassigned",
	[GROUP_HOST] = "host",
	[GROUP_WORLD] = "world",
	[GROUP_QUARANTINE] = "quarantine",
};

static const char *const builtin_about[GROUP_FIRST_USER] = {
	[GROUP_UNASSIGNED] = "containers that match no group",
	[GROUP_HOST] = "this host's own addresses",
	[GROUP_WORLD] = "every address in no group",
	[GROUP_QUARANTINE] = "containers not yet classified; nothing passes",
};

struct policy *policy_new(void)
{
	struct policy *p = xcalloc(1, sizeof(*p));
	unsigned i;

	p->version = 1;
	p->label_prefix = xstrdup("bulkhead.");
	p->unassigned_deny = true;
	p->log_window_ms = 10000;
	p->log_rate = 20;
	p->log_rate_unit_s = 1;
	p->groups = xcalloc(GROUP_FIRST_USER, sizeof(*p->groups));
	p->n_groups = GROUP_FIRST_USER;
	for (i = 0; i < GROUP_FIRST_USER; i++) {
		p->groups[i].name = xstrdup(builtin_names[i]);
		p->groups[i].kind = GK_BUILTIN;
		/* Nothing passes inside quarantine: its members are not
		 * known to belong together yet. */
		p->groups[i].intra_allow = i != GROUP_QUARANTINE;
	}
	return p;
}

/* Classification and name lookup in time independent of the number of
 * groups. Each label group is filed under the one key=value pair of its
 * match that the fewest groups share: a container can only be in a group
 * whose every pair it carries, so looking up its own labels finds every
 * candidate, usually one. */
struct pi_kv {
	const char *key;	/* without the prefix */
	const char *value;
	uint32_t hash;
	unsigned count;		/* groups whose match holds this pair */
	unsigned *groups;	/* groups filed under it, ascending */
	size_t n_groups, cap;
};

struct policy_index {
	size_t n_groups;	/* what it was built for */
	struct pi_kv *kv;	/* open addressing, power of two */
	size_t kv_mask;
	unsigned *names;	/* group index + 1; 0 = empty */
	size_t names_mask;
	char **why;		/* per group */
};

static uint32_t kv_hash(const char *k, size_t klen, const char *v)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < klen; i++)
		h = (h ^ (uint8_t)k[i]) * 16777619u;
	h = (h ^ 0xff) * 16777619u;
	for (; *v; v++)
		h = (h ^ (uint8_t)*v) * 16777619u;
	return h;
}

static struct pi_kv *pi_kv_slot(struct policy_index *x, const char *k,
				size_t klen, const char *v, bool add)
{
	uint32_t h = kv_hash(k, klen, v);
	size_t i = h & x->kv_mask;

	for (;; i = (i + 1) & x->kv_mask) {
		struct pi_kv *e = &x->kv[i];

		if (!e->key) {
			if (!add)
				return NULL;
			e->key = k;
			e->value = v;
			e->hash = h;
			return e;
		}
		if (e->hash == h && strlen(e->key) == klen &&
		    !strncmp(e->key, k, klen) && !strcmp(e->value, v))
			return e;
	}
}

static size_t pow2_above(size_t n)
{
	size_t m = 16;

	while (m < 2 * n)
		m *= 2;
	return m;
}

static void index_free(struct policy_index *x, size_t n_groups)
{
	size_t i;

	if (!x)
		return;
	for (i = 0; i <= x->kv_mask; i++)
		free(x->kv[i].groups);
	for (i = 0; i < n_groups; i++)
		free(x->why[i]);
	free(x->why);
	free(x->kv);
	free(x->names);
	free(x);
}

static char *group_why(const struct policy *p, const struct group *g)
{
	struct strbuf sb = { 0 };
	size_t i;

	sb_printf(&sb, "matches %s (", g->name);
	for (i = 0; i < g->n_match; i++)
		sb_printf(&sb, "%s%s=%s", i ? ", " : "", g->match[i].key,
			  g->match[i].value);
	sb_printf(&sb, ") at %s:%u:%u", policy_file(p, g->loc.file),
		  g->loc.line, g->loc.col);
	return sb_steal(&sb);
}

void policy_seal(struct policy *p)
{
	struct policy_index *x = xcalloc(1, sizeof(*x));
	size_t i, j, n_kv = 0;
	struct pi_kv *e, *best;

	index_free(p->index, p->index ? p->index->n_groups : 0);
	x->n_groups = p->n_groups;
	for (i = 0; i < p->n_groups; i++)
		n_kv += p->groups[i].n_match;
	x->kv_mask = pow2_above(n_kv) - 1;
	x->kv = xcalloc(x->kv_mask + 1, sizeof(*x->kv));
	x->names_mask = pow2_above(p->n_groups) - 1;
	x->names = xcalloc(x->names_mask + 1, sizeof(*x->names));
	x->why = xcalloc(p->n_groups, sizeof(*x->why));
	for (i = 0; i < p->n_groups; i++) {
		const struct group *g = &p->groups[i];

		for (j = 0; j < g->n_match; j++)
			pi_kv_slot(x, g->match[j].key, strlen(g->match[j].key),
				   g->match[j].value, true)->count++;
		j = bh_str_hash(g->name) & x->names_mask;
		while (x->names[j] &&
		       strcmp(p->groups[x->names[j] - 1].name, g->name))
			j = (j + 1) & x->names_mask;
		if (!x->names[j])
			x->names[j] = (unsigned)i + 1;
		if (g->kind == GK_LABELS)
			x->why[i] = group_why(p, g);
	}
	for (i = GROUP_FIRST_USER; i < p->n_groups; i++) {
		const struct group *g = &p->groups[i];

		if (g->kind != GK_LABELS || !g->n_match)
			continue;
		best = NULL;
		for (j = 0; j < g->n_match; j++) {
			e = pi_kv_slot(x, g->match[j].key,
				       strlen(g->match[j].key),
				       g->match[j].value, false);
			if (!best || e->count < best->count)
				best = e;
		}
		xgrow(&best->groups, &best->cap, best->n_groups + 1,
		      sizeof(*best->groups));
		best->groups[best->n_groups++] = (unsigned)i;
	}
	p->index = x;
}

static bool index_fresh(const struct policy *p)
{
	return p->index && p->index->n_groups == p->n_groups;
}

static void group_free(struct group *g)
{
	size_t i;

	free(g->name);
	free(g->description);
	for (i = 0; i < g->n_match; i++) {
		free(g->match[i].key);
		free(g->match[i].value);
	}
	free(g->match);
	free(g->cidrs);
	free(g->risk);
}

static void boundary_end_free(struct boundary_end *e)
{
	size_t i;

	for (i = 0; i < e->n_risks; i++)
		free(e->risks[i]);
	free(e->risks);
}

void policy_free(struct policy *p)
{
	size_t i;

	if (!p)
		return;
	index_free(p->index, p->index ? p->index->n_groups : 0);
	for (i = 0; i < p->n_groups; i++)
		group_free(&p->groups[i]);
	free(p->groups);
	for (i = 0; i < p->n_flows; i++) {
		free(p->flows[i].from);
		free(p->flows[i].to);
		free(p->flows[i].ports);
	}
	free(p->flows);
	for (i = 0; i < p->n_boundaries; i++) {
		free(p->boundaries[i].name);
		free(p->boundaries[i].description);
		boundary_end_free(&p->boundaries[i].from);
		boundary_end_free(&p->boundaries[i].to);
	}
	free(p->boundaries);
	for (i = 0; i < p->n_files; i++)
		free(p->files[i]);
	free(p->files);
	free(p->label_prefix);
	free(p);
}

int policy_group_find(const struct policy *p, const char *name)
{
	size_t i;

	if (index_fresh(p)) {
		i = bh_str_hash(name) & p->index->names_mask;
		while (p->index->names[i]) {
			if (!strcmp(p->groups[p->index->names[i] - 1].name,
				    name))
				return (int)p->index->names[i] - 1;
			i = (i + 1) & p->index->names_mask;
		}
		return -1;
	}
	for (i = 0; i < p->n_groups; i++)
		if (!strcmp(p->groups[i].name, name))
			return (int)i;
	return -1;
}

const char *policy_file(const struct policy *p, unsigned file)
{
	return file < p->n_files ? p->files[file] : "-";
}

const char *policy_hash_hex(const struct policy *p,
			    char buf[POLICY_HASH_STRLEN])
{
	size_t i;

	for (i = 0; i < sizeof(p->sha256); i++)
		snprintf(buf + 2 * i, 3, "%02x", p->sha256[i]);
	return buf;
}

/* The label's key without the policy's prefix, or NULL when it has not
 * got the prefix. */
static const char *unprefixed(const struct policy *p, const char *key)
{
	size_t n = strlen(p->label_prefix);

	return strncmp(key, p->label_prefix, n) ? NULL : key + n;
}

static bool group_holds(const struct policy *p, const struct group *g,
			const struct kv *labels, size_t n_labels)
{
	const char *k;
	size_t i, j;

	if (g->kind != GK_LABELS || !g->n_match)
		return false;
	for (i = 0; i < g->n_match; i++) {
		for (j = 0; j < n_labels; j++) {
			k = unprefixed(p, labels[j].key);
			if (k && !strcmp(k, g->match[i].key) &&
			    !strcmp(labels[j].value, g->match[i].value))
				break;
		}
		if (j == n_labels)
			return false;
	}
	return true;
}

bool policy_is_container_group(const struct policy *p, unsigned g)
{
	return g == GROUP_UNASSIGNED || g == GROUP_QUARANTINE ||
	       p->groups[g].kind == GK_LABELS;
}

bool policy_flow_peer_judged(const struct policy *p, unsigned q, bool in)
{
	if (q >= p->n_groups || q == GROUP_QUARANTINE)
		return false;
	return in || !policy_is_container_group(p, q);
}

unsigned policy_classify(const struct policy *p, const struct kv *labels,
			 size_t n_labels, char **why)
{
	unsigned best = GROUP_UNASSIGNED;
	const struct pi_kv *e;
	const char *k;
	size_t i, j;

	if (!index_fresh(p)) {
		for (i = GROUP_FIRST_USER; i < p->n_groups; i++)
			if (group_holds(p, &p->groups[i], labels, n_labels)) {
				best = (unsigned)i;
				break;
			}
		goto out;
	}
	for (i = 0; i < n_labels; i++) {
		k = unprefixed(p, labels[i].key);
		if (!k)
			continue;
		e = pi_kv_slot(p->index, k, strlen(k), labels[i].value, false);
		if (!e)
			continue;
		for (j = 0; j < e->n_groups; j++) {
			if (best != GROUP_UNASSIGNED && e->groups[j] >= best)
				break;
			if (group_holds(p, &p->groups[e->groups[j]], labels,
					n_labels)) {
				best = e->groups[j];
				break;
			}
		}
	}
out:
	if (why) {
		if (best == GROUP_UNASSIGNED)
			*why = (char *)"matches no group";
		else if (index_fresh(p))
			*why = p->index->why[best];
		else
			*why = p->groups[best].name;
	}
	return best;
}

const char *policy_sens_str(enum sensitivity s)
{
	switch (s) {
	case SENS_LOW: return "low";
	case SENS_MODERATE: return "moderate";
	case SENS_HIGH: return "high";
	case SENS_RESTRICTED: return "restricted";
	default: return "unset";
	}
}

const char *policy_sensitivity_str(enum sensitivity s)
{
	return s == SENS_UNSET ? NULL : policy_sens_str(s);
}

/* Howard Hinnant's days_from_civil / civil_from_days */
static int32_t days_from_civil(int y, unsigned m, unsigned d)
{
	int era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

bool policy_parse_day(const char *s, int32_t *day)
{
	static const unsigned mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30,
					  31, 30, 31 };
	unsigned y, m, d;
	int n = 0;

	if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3 ||
	    n != 10 || s[4] != '-' || s[7] != '-' || y < 1970 || m < 1 ||
	    m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	if (m == 2 && d == 29 && !(y % 4 == 0 && (y % 100 || y % 400 == 0)))
		return false;
	*day = days_from_civil((int)y, m, d);
	return true;
}

const char *policy_day_str(int32_t day, char *buf)
{
	int32_t z = day + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int y = (int)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;

	sprintf(buf, "%04d-%02u-%02u", y + (m <= 2), m % 100, d % 100);
	return buf;
}

int32_t policy_today(void)
{
	return (int32_t)(time(NULL) / 86400);
}

const char *policy_group_risk(const struct group *g)
{
	size_t i;

	if (g->risk)
		return g->risk;
	for (i = 0; i < g->n_match; i++)
		if (!strcmp(g->match[i].key, "risk"))
			return g->match[i].value;
	return NULL;
}

bool policy_boundary_end_holds(const struct boundary_end *e,
			       enum sensitivity s, const char *risk)
{
	size_t i;

	if (e->kind != BE_LABELS)
		return false;
	if (e->sens_mask && !(e->sens_mask & 1u << s))
		return false;
	if (!e->n_risks)
		return true;
	for (i = 0; risk && i < e->n_risks; i++)
		if (!strcmp(e->risks[i], risk))
			return true;
	return false;
}

bool policy_boundary_end_group(const struct policy *p,
			       const struct boundary_end *e, unsigned g)
{
	const struct group *gr;

	if (g >= p->n_groups)
		return false;
	if (e->kind == BE_WORLD)
		return g == GROUP_WORLD;
	if (g == GROUP_HOST || g == GROUP_WORLD || g == GROUP_QUARANTINE)
		return false;
	gr = &p->groups[g];
	return policy_boundary_end_holds(e, gr->sensitivity,
					 policy_group_risk(gr));
}

void policy_facts_container(const struct policy *p, unsigned g,
			    const struct kv *labels, size_t n_labels,
			    struct policy_facts *f)
{
	const struct group *gr = g < p->n_groups ? &p->groups[g] : NULL;
	const char *k;
	size_t i;
	int s;

	memset(f, 0, sizeof(*f));
	if (gr && gr->sensitivity != SENS_UNSET)
		f->sens = 1u << gr->sensitivity;
	f->risk[0] = gr ? policy_group_risk(gr) : NULL;
	for (i = 0; i < n_labels; i++) {
		k = unprefixed(p, labels[i].key);
		if (!k)
			continue;
		if (!strcmp(k, "sensitivity")) {
			for (s = SENS_LOW; s <= SENS_RESTRICTED; s++)
				if (!strcmp(labels[i].value,
					    policy_sens_str((enum sensitivity)s)))
					f->sens |= 1u << s;
		} else if (!strcmp(k, "risk")) {
			f->risk[1] = labels[i].value;
		}
	}
	if (!f->sens)
		f->sens = 1u << SENS_UNSET;
}

static bool end_holds_facts(const struct boundary_end *e,
			    const struct policy_facts *f)
{
	size_t i, j;

	if (e->kind == BE_WORLD)
		return f->world;
	if (!(f->sens & (e->sens_mask ? e->sens_mask : ~0u)))
		return false;
	if (!e->n_risks)
		return true;
	for (i = 0; i < e->n_risks; i++)
		for (j = 0; j < 2; j++)
			if (f->risk[j] && !strcmp(f->risk[j], e->risks[i]))
				return true;
	return false;
}

int policy_boundary_crossed(const struct policy *p,
			    const struct policy_facts *from,
			    const struct policy_facts *to)
{
	size_t i;

	for (i = 0; i < p->n_boundaries; i++)
		if (end_holds_facts(&p->boundaries[i].from, from) &&
		    end_holds_facts(&p->boundaries[i].to, to))
			return (int)i;
	return -1;
}

void policy_boundary_end_str(const struct boundary_end *e, struct strbuf *sb)
{
	const char *sep = "";
	size_t i;
	int s;

	if (e->kind == BE_WORLD) {
		sb_puts(sb, "world");
		return;
	}
	if (e->sens_mask) {
		sb_puts(sb, "sensitivity=");
		for (s = SENS_UNSET; s <= SENS_RESTRICTED; s++)
			if (e->sens_mask & 1u << s) {
				sb_printf(sb, "%s%s", sep,
					  policy_sens_str((enum sensitivity)s));
				sep = "|";
			}
	}
	if (e->n_risks) {
		sb_printf(sb, "%srisk=", e->sens_mask ? " " : "");
		for (i = 0; i < e->n_risks; i++)
			sb_printf(sb, "%s%s", i ? "|" : "", e->risks[i]);
	}
	if (!e->sens_mask && !e->n_risks)
		sb_puts(sb, "any group");
}

void policy_port_str(const struct port_spec *s, char *buf, size_t len)
{
	const char *proto;

	switch (s->proto) {
	case 0: snprintf(buf, len, "any"); return;
	case IPPROTO_ICMP: snprintf(buf, len, "icmp"); return;
	case IPPROTO_ICMPV6: snprintf(buf, len, "icmpv6"); return;
	case IPPROTO_TCP: proto = "tcp"; break;
	case IPPROTO_UDP: proto = "udp"; break;
	case IPPROTO_SCTP: proto = "sctp"; break;
	default: snprintf(buf, len, "proto-%u", s->proto); return;
	}
	if (s->lo == 0 && s->hi == 65535)
		snprintf(buf, len, "%s", proto);
	else if (s->lo == s->hi)
		snprintf(buf, len, "%s/%u", proto, s->lo);
	else
		snprintf(buf, len, "%s/%u-%u", proto, s->lo, s->hi);
}

/* The order a reader expects: any, then tcp, udp, sctp, icmp, icmpv6. */
static int proto_rank(uint8_t proto)
{
	switch (proto) {
	case 0: return 0;
	case IPPROTO_TCP: return 1;
	case IPPROTO_UDP: return 2;
	case IPPROTO_SCTP: return 3;
	case IPPROTO_ICMP: return 4;
	case IPPROTO_ICMPV6: return 5;
	default: return 6 + proto;
	}
}

int policy_port_cmp(const void *a, const void *b)
{
	const struct port_spec *x = a, *y = b;

	if (x->proto != y->proto)
		return proto_rank(x->proto) < proto_rank(y->proto) ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return 0;
}

/* Descriptions are free text: keep each one on its own line. */
static void print_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\n')
			fputs("\\n", out);
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			fprintf(out, "\\x%02x", (unsigned char)*s);
		else
			fputc(*s, out);
	}
}

static void print_duration(FILE *out, uint32_t ms)
{
	if (ms % 60000 == 0)
		fprintf(out, "%um", ms / 60000);
	else if (ms % 1000 == 0)
		fprintf(out, "%us", ms / 1000);
	else
		fprintf(out, "%ums", ms);
}

static const char *rate_unit(uint32_t s)
{
	switch (s) {
	case 60: return "minute";
	case 3600: return "hour";
	case 86400: return "day";
	default: return "second";
	}
}

static void print_loc(FILE *out, const struct policy *p,
		      const struct src_loc *l)
{
	fprintf(out, "  # %s:%u:%u\n", policy_file(p, l->file), l->line,
		l->col);
}

static void print_group(FILE *out, const struct policy *p,
			const struct group *g)
{
	char buf[BH_ADDR_STRLEN];
	size_t i;

	fprintf(out, "group %s", g->name);
	if (g->kind == GK_BUILTIN) {
		fprintf(out, "  # built in: %s\n", 
			(size_t)(g - p->groups) < GROUP_FIRST_USER ?
			builtin_about[g - p->groups] : "");
		return;
	}
	print_loc(out, p, &g->loc);
	if (g->description) {
		fprintf(out, "  description ");
		print_text(out, g->description);
		fputc('\n', out);
	}
	fprintf(out, "  kind        %s\n",
		g->kind == GK_LABELS ? "labels" : "cidrs");
	if (g->kind == GK_LABELS) {
		fprintf(out, "  match      ");
		for (i = 0; i < g->n_match; i++) {
			fprintf(out, " %s", p->label_prefix);
			print_text(out, g->match[i].key);
			fputc('=', out);
			print_text(out, g->match[i].value);
		}
		fputc('\n', out);
	} else {
		fprintf(out, "  cidrs      ");
		for (i = 0; i < g->n_cidrs; i++)
			fprintf(out, " %s", bh_addr_str(&g->cidrs[i], buf));
		fputc('\n', out);
	}
	fprintf(out, "  sensitivity %s\n", policy_sens_str(g->sensitivity));
	if (g->risk)
		fprintf(out, "  risk        %s\n", g->risk);
	fprintf(out, "  mode        %s\n",
		g->mode == MODE_AUDIT ? "audit" : "enforce");
	if (g->until_day) {
		char day[16];

		fprintf(out, "  until       %s\n",
			policy_day_str(g->until_day, day));
	}
	if (g->kind == GK_LABELS)
		fprintf(out, "  intra       %s\n",
			g->intra_allow ? "allow" : "deny");
}

/* "boundary NAME: FROM -> TO  # file:line:col" */
static void print_boundary(FILE *out, const struct policy *p,
			   const struct boundary *b)
{
	struct strbuf sb = { 0 };

	policy_boundary_end_str(&b->from, &sb);
	sb_puts(&sb, " -> ");
	policy_boundary_end_str(&b->to, &sb);
	fprintf(out, "boundary %s: %s", b->name, sb.buf);
	print_loc(out, p, &b->loc);
	if (b->description) {
		fprintf(out, "  description ");
		print_text(out, b->description);
		fputc('\n', out);
	}
	sb_free(&sb);
}

void policy_print(const struct policy *p, FILE *out)
{
	struct port_spec *ports;
	const struct flow *f;
	char buf[32];
	size_t i, a, b, k;

	fprintf(out, "version %d\n", p->version);
	for (i = 0; i < p->n_files; i++)
		fprintf(out, "file %s\n", p->files[i]);
	fprintf(out, "\nsettings\n");
	fprintf(out, "  label_prefix %s\n", p->label_prefix);
	fprintf(out, "  unassigned   %s\n",
		p->unassigned_deny ? "deny" : "allow");
	fprintf(out, "  log.window   ");
	print_duration(out, p->log_window_ms);
	fprintf(out, "\n  log.rate     %u/%s\n", p->log_rate,
		rate_unit(p->log_rate_unit_s));
	if (p->colo_mode != COLO_OFF) {
		int x, y;

		fprintf(out, "  colocation   %s:",
			p->colo_mode == COLO_ENFORCE ? "enforce" : "warn");
		for (x = SENS_RESTRICTED; x >= SENS_UNSET; x--)
			for (y = x - 1; y >= SENS_UNSET; y--)
				if (p->colo_forbid[x] & 1u << y)
					fprintf(out, " %s+%s",
						policy_sens_str((enum sensitivity)x),
						policy_sens_str((enum sensitivity)y));
		fputc('\n', out);
	}
	fputc('\n', out);
	for (i = 0; i < p->n_groups; i++)
		print_group(out, p, &p->groups[i]);
	fputc('\n', out);
	for (i = 0; i < p->n_boundaries; i++)
		print_boundary(out, p, &p->boundaries[i]);
	if (p->n_boundaries)
		fputc('\n', out);
	/* One line per (from, to) pair: what the ruleset will hold, in
	 * declaration order, ports sorted and without repeats. */
	for (i = 0; i < p->n_flows; i++) {
		f = &p->flows[i];
		ports = xmalloc(f->n_ports * sizeof(*ports));
		memcpy(ports, f->ports, f->n_ports * sizeof(*ports));
		qsort(ports, f->n_ports, sizeof(*ports), policy_port_cmp);
		for (a = 0; a < f->n_from; a++) {
			for (b = 0; b < f->n_to; b++) {
				fprintf(out, "flow %s -> %s:",
					p->groups[f->from[a]].name,
					p->groups[f->to[b]].name);
				for (k = 0; k < f->n_ports; k++) {
					if (k && !policy_port_cmp(&ports[k],
							   &ports[k - 1]))
						continue;
					policy_port_str(&ports[k], buf, sizeof(buf));
					fprintf(out, " %s", buf);
				}
				print_loc(out, p, &f->loc);
			}
		}
		free(ports);
	}
}
