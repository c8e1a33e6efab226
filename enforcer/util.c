/* Allocation, string buffers, addresses, time and file helpers. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static void oom(void)
{
	static const char msg[] = "bulkhead: out of memory\n";

	/* write(2) because stdio may itself need memory */
	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0)
		abort();
	abort();
}

void bh_malloc_tune(void)
{
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s ? s : "");

	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);

	if (!p)
		oom();
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	va_end(ap);
	return s;
}

void xgrow(void *v, size_t *cap, size_t want, size_t sz)
{
	void **pv = v;
	size_t n = *cap ? *cap : 8;

	if (want <= *cap)
		return;
	while (n < want)
		n *= 2;
	*pv = xrealloc(*pv, n * sz);
	*cap = n;
}

static void sb_reserve(struct strbuf *sb, size_t extra)
{
	xgrow(&sb->buf, &sb->cap, sb->len + extra + 1, 1);
}

void sb_putn(struct strbuf *sb, const char *s, size_t n)
{
	sb_reserve(sb, n);
	memcpy(sb->buf + sb->len, s, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
}

void sb_putc(struct strbuf *sb, char c)
{
	sb_putn(sb, &c, 1);
}

void sb_puts(struct strbuf *sb, const char *s)
{
	sb_putn(sb, s, strlen(s));
}

void sb_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_reserve(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

void sb_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf)
		sb->buf[0] = '\0';
}

void sb_free(struct strbuf *sb)
{
	free(sb->buf);
	sb->buf = NULL;
	sb->len = sb->cap = 0;
}

char *sb_steal(struct strbuf *sb)
{
	char *s = sb->buf ? sb->buf : xstrdup("");

	sb->buf = NULL;
	sb->len = sb->cap = 0;
	return s;
}

size_t bh_addr_len(const struct bh_addr *a)
{
	return a->family == AF_INET ? 4 : 16;
}

static bool host_bits_zero(const struct bh_addr *a)
{
	size_t bits = bh_addr_len(a) * 8, i;

	for (i = a->plen; i < bits; i++)
		if (a->a[i / 8] & (0x80 >> (i % 8)))
			return false;
	return true;
}

bool bh_addr_parse(const char *s, bool allow_prefix, struct bh_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long plen;
	char *end;

	memset(out, 0, sizeof(*out));
	if (n == 0 || n >= INET6_ADDRSTRLEN)
		return false;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET, buf, out->a) == 1) {
		out->family = AF_INET;
		out->plen = 32;
	} else if (inet_pton(AF_INET6, buf, out->a) == 1) {
		out->family = AF_INET6;
		out->plen = 128;
	} else {
		return false;
	}
	if (!slash)
		return true;
	if (!allow_prefix || slash[1] < '0' || slash[1] > '9')
		return false;
	errno = 0;
	plen = strtoul(slash + 1, &end, 10);
	if (errno || *end || plen > out->plen || end - (slash + 1) > 3)
		return false;
	out->plen = (uint8_t)plen;
	return host_bits_zero(out);
}

const char *bh_addr_str(const struct bh_addr *a, char *buf)
{
	size_t n;

	if (!inet_ntop(a->family, a->a, buf, INET6_ADDRSTRLEN)) {
		strcpy(buf, "?");
		return buf;
	}
	if (a->plen != bh_addr_len(a) * 8) {
		n = strlen(buf);
		snprintf(buf + n, BH_ADDR_STRLEN - n, "/%u", a->plen);
	}
	return buf;
}

bool bh_addr_eq(const struct bh_addr *x, const struct bh_addr *y)
{
	return bh_addr_cmp(x, y) == 0;
}

int bh_addr_cmp(const struct bh_addr *x, const struct bh_addr *y)
{
	int r;

	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	r = memcmp(x->a, y->a, bh_addr_len(x));
	if (r)
		return r;
	return (int)x->plen - (int)y->plen;
}

/* FNV-1a: short keys, no adversary who can choose many colliding
 * container addresses without already being root on the host. */
static uint32_t fnv1a(const void *p, size_t n, uint32_t h)
{
	const uint8_t *b = p;

	while (n--) {
		h ^= *b++;
		h *= 16777619u;
	}
	return h;
}

uint32_t bh_addr_hash(const struct bh_addr *a)
{
	return fnv1a(a->a, bh_addr_len(a), 2166136261u ^ a->family);
}

uint32_t bh_str_hash(const char *s)
{
	return fnv1a(s, strlen(s), 2166136261u);
}

uint64_t bh_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t bh_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

bool bh_window_over(uint64_t start, uint64_t len, uint64_t now)
{
	return now < start || now >= start + len;
}

uint64_t bh_window_next(uint64_t start, uint64_t len, uint64_t now)
{
	uint64_t end = start + len;

	if (now < start)
		return now;
	return now - end < len ? end : now;
}

uint64_t bh_window_left(uint64_t start, uint64_t len, uint64_t now)
{
	return start + len > now ? start + len - now : 0;
}

uint64_t bh_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *bh_rfc3339(uint64_t wall_ms, char *buf)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	size_t n;

	gmtime_r(&t, &tm);
	n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, 32 - n, ".%03uZ", (unsigned)(wall_ms % 1000));
	return buf;
}

bool bh_parse_rfc3339(const char *s, uint64_t *ms)
{
	struct tm tm = { 0 };
	const char *p;
	uint64_t frac = 0, scale = 1000;
	int sign, hh, mm;
	int64_t sec;

	p = strptime(s, "%Y-%m-%d", &tm);
	if (!p)
		return false;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p = strptime(p + 1, "%H:%M:%S", &tm);
		if (!p)
			return false;
		if (*p == '.') {
			for (p++; *p >= '0' && *p <= '9'; p++) {
				if (scale > 1) {
					scale /= 10;
					frac += (uint64_t)(*p - '0') * scale;
				}
			}
		}
	}
	sec = (int64_t)timegm(&tm);
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '+' ? 1 : -1;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2 || strlen(p) != 6)
			return false;
		sec -= sign * (hh * 3600 + mm * 60);
		p += 6;
	}
	if (*p || sec < 0)
		return false;
	*ms = (uint64_t)sec * 1000 + frac;
	return true;
}

int bh_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct strbuf sb = { 0 };
	char chunk[65536];
	ssize_t n;
	int fd, ret = 0;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			goto out;
		}
		if (n == 0)
			break;
		if (sb.len + (size_t)n > max) {
			ret = -EFBIG;
			goto out;
		}
		sb_putn(&sb, chunk, (size_t)n);
	}
	*len = sb.len;
	*out = sb_steal(&sb);
out:
	close(fd);
	sb_free(&sb);
	return ret;
}

int bh_write_file_atomic(const char *path, const char *data, size_t len,
			 unsigned mode)
{
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	char *dir = xstrdup(path), *slash;
	size_t off = 0;
	ssize_t n;
	int fd, dfd, ret = 0;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		ret = -errno;
		goto out;
	}
	while (off < len) {
		n = write(fd, data + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			break;
		}
		off += (size_t)n;
	}
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	if (close(fd) < 0 && !ret)
		ret = -errno;
	if (!ret && rename(tmp, path) < 0)
		ret = -errno;
	if (ret) {
		unlink(tmp);
		goto out;
	}
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
out:
	free(tmp);
	free(dir);
	return ret;
}
