/* Small helpers shared by every bulkhead binary: allocation that cannot
 * fail silently, a growable string buffer, and IP address parsing. */
#ifndef BULKHEAD_UTIL_H
#define BULKHEAD_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Allocation failure aborts: a daemon that cannot allocate a few bytes
 * cannot keep its promises anyway, and the kernel keeps enforcing. */
void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Blocks of 128 KiB and more come from mmap and go back to the kernel
 * when freed, always. glibc would raise that threshold to the size of the
 * first big block freed and serve the next ones from the heap, which
 * gives pages back only from its top: a full commit's element arrays,
 * given back while its batch grows (nft_commit_full), would then stay
 * resident. The daemon and the benchmark that measures it call this
 * first. */
void bh_malloc_tune(void);

/* Grow *v (element size sz) so that it holds at least want elements. */
void xgrow(void *v, size_t *cap, size_t want, size_t sz);

struct strbuf {
	char *buf;		/* always NUL-terminated once anything is added */
	size_t len;
	size_t cap;
};

void sb_putc(struct strbuf *sb, char c);
void sb_puts(struct strbuf *sb, const char *s);
void sb_putn(struct strbuf *sb, const char *s, size_t n);
void sb_printf(struct strbuf *sb, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sb_reset(struct strbuf *sb);
void sb_free(struct strbuf *sb);
/* Returns the buffer (never NULL) and leaves sb empty. */
char *sb_steal(struct strbuf *sb);

/* An IPv4 or IPv6 address with an optional prefix length. */
struct bh_addr {
	uint8_t family;		/* AF_INET or AF_INET6 */
	uint8_t plen;		/* 32 / 128 for a host address */
	uint8_t a[16];		/* network byte order; IPv4 uses a[0..3] */
};

/* Parse "10.0.0.1", "fd00::1", or with allow_prefix "10.0.0.0/8".
 * Host bits beyond the prefix must be zero. */
bool bh_addr_parse(const char *s, bool allow_prefix, struct bh_addr *out);
/* Writes "10.0.0.1" or "10.0.0.0/8" (prefix shown only when shorter than
 * the host length). buf must hold BH_ADDR_STRLEN bytes. */
#define BH_ADDR_STRLEN 64
const char *bh_addr_str(const struct bh_addr *a, char *buf);
bool bh_addr_eq(const struct bh_addr *x, const struct bh_addr *y);
int bh_addr_cmp(const struct bh_addr *x, const struct bh_addr *y);
size_t bh_addr_len(const struct bh_addr *a);	/* 4 or 16 */
uint32_t bh_addr_hash(const struct bh_addr *a);
uint32_t bh_str_hash(const char *s);

/* Monotonic and wall clock in milliseconds. */
uint64_t bh_now_ms(void);
uint64_t bh_now_us(void);		/* monotonic, microseconds */
uint64_t bh_wall_ms(void);
/* Records' fixed windows of len ms on the wall clock, the current one
 * starting at start. Over when now reached its end, or when the clock
 * stepped back before its start (end it now rather than hold records
 * back for as long as the step). */
bool bh_window_over(uint64_t start, uint64_t len, uint64_t now);
/* After the owner flushed an over window: the next one's start (a late
 * tick does not stretch it; a step back starts it now). */
uint64_t bh_window_next(uint64_t start, uint64_t len, uint64_t now);
/* ms until the window that starts at start ends (0: it has). */
uint64_t bh_window_left(uint64_t start, uint64_t len, uint64_t now);

/* RFC 3339 UTC with milliseconds: 2026-11-28T12:00:00.123Z (buf >= 32). */
const char *bh_rfc3339(uint64_t wall_ms, char *buf);
/* Its reader, for records and the tools' times: 2026-11-28T12:00:00[.123]
 * with Z or an offset (+01:00), or a date alone (UTC); not before 1970.
 * false: not such a time. */
bool bh_parse_rfc3339(const char *s, uint64_t *ms);

/* Read a whole file, at most max bytes; -EFBIG when it is larger. */
int bh_read_file(const char *path, size_t max, char **out, size_t *len);
/* Write atomically: temp file in the same directory, fsync, rename,
 * fsync of the directory. */
int bh_write_file_atomic(const char *path, const char *data, size_t len,
			 unsigned mode);

#endif
