/* The churn soak's container traffic (tests/soak/churn.sh): over one
 * control connection, N synthetic containers (ids soak-<i>, IPv4 in
 * 10.200.0.0/16, every other one also IPv6 in fd99::/64, no host-side
 * port) are first attached in random order (the warm-up, at most
 * WARMUP seconds, SECONDS when not given), then, for SECONDS, a random
 * one at a time is attached (when it is not), or detached, relabelled
 * (another bulkhead.purpose, or none) or readdressed (a free address of
 * its family), in equal parts. Every request must be accepted. One JSON
 * summary line goes to stdout; the line "churn" goes to stderr when the
 * warm-up is done.
 *
 *   churn_driver SOCKET SECONDS N SEED [WARMUP]
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../bench/control_client.h"

#define MAX_N 60000
#define ADDR_SLOTS (2 * MAX_N)	/* per family: room to readdress */
#define LAT_MAX (1u << 22)

static const char *const purposes[] = { "web", "api", "database", "batch",
					NULL /* no label: unassigned */ };

struct ctr {
	bool attached;
	unsigned purpose;		/* index in purposes */
	uint32_t v4, v6;		/* address slots; v6 UINT32_MAX: none */
};

static struct ctr *ctrs;
static uint8_t *used4, *used6;
static uint32_t n_ctrs;
static uint64_t rng = 88172645463325252ULL;
static double *lat;
static size_t n_lat;

static uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t pick(uint32_t n)
{
	return (uint32_t)(xorshift() % n);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint32_t free_slot(uint8_t *used)
{
	uint32_t s;

	do
		s = pick(ADDR_SLOTS);
	while (used[s]);
	used[s] = 1;
	return s;
}

static void addr4(uint32_t slot, char *buf, size_t len)
{
	/* 10.200.0.0/16 has 65,536 addresses; slots beyond go to 10.201 */
	snprintf(buf, len, "10.%u.%u.%u", 200 + slot / 65536,
		 slot / 256 % 256, slot % 256);
}

static void addr6(uint32_t slot, char *buf, size_t len)
{
	snprintf(buf, len, "fd99::%x:%x", slot >> 16, slot & 0xffff);
}

/* One request, its reply read to the end of its line; false on a refusal
 * (printed) or a broken connection (fatal). */
static bool call(int fd, json_t *req)
{
	static char buf[1 << 20];
	static size_t have;
	char *s = json_dumps(req, JSON_COMPACT), *nl;
	double t0 = now_ms();
	json_t *r;
	bool ok;
	ssize_t n;

	if (!cc_put(fd, s) || !cc_put(fd, "\n")) {
		fprintf(stderr, "churn_driver: send: %s\n", strerror(errno));
		exit(2);
	}
	free(s);
	while (!(nl = memchr(buf, '\n', have))) {
		if (have == sizeof(buf)) {
			fprintf(stderr, "churn_driver: reply too long\n");
			exit(2);
		}
		n = recv(fd, buf + have, sizeof(buf) - have, 0);
		if (n <= 0) {
			fprintf(stderr, "churn_driver: recv: %s\n",
				n ? strerror(errno) : "connection closed");
			exit(2);
		}
		have += (size_t)n;
	}
	if (n_lat < LAT_MAX)
		lat[n_lat++] = now_ms() - t0;
	r = json_loadb(buf, (size_t)(nl - buf), 0, NULL);
	ok = json_is_true(json_object_get(r, "ok"));
	if (!ok) {
		fprintf(stderr, "churn_driver: refused: %.*s\n",
			(int)(nl - buf), buf);
	}
	json_decref(r);
	have -= (size_t)(nl + 1 - buf);
	memmove(buf, nl + 1, have);
	return ok;
}

static bool attach(int fd, uint32_t i)
{
	struct ctr *c = &ctrs[i];
	char id[32], a[64];
	json_t *req, *ips = json_array(), *labels = json_object();
	bool ok;

	snprintf(id, sizeof(id), "soak-%u", i);
	addr4(c->v4, a, sizeof(a));
	json_array_append_new(ips, json_string(a));
	if (c->v6 != UINT32_MAX) {
		addr6(c->v6, a, sizeof(a));
		json_array_append_new(ips, json_string(a));
	}
	if (purposes[c->purpose])
		json_object_set_new(labels, "bulkhead.purpose",
				    json_string(purposes[c->purpose]));
	json_object_set_new(labels, "soak", json_string("1"));
	req = json_pack("{s:i, s:s, s:s, s:s, s:o, s:o}", "version", 1, "op",
			"attach", "id", id, "name", id, "labels", labels,
			"ips", ips);
	ok = call(fd, req);
	json_decref(req);
	return ok;
}

static bool detach(int fd, uint32_t i)
{
	char id[32];
	json_t *req;
	bool ok;

	snprintf(id, sizeof(id), "soak-%u", i);
	req = json_pack("{s:i, s:s, s:s}", "version", 1, "op", "detach", "id",
			id);
	ok = call(fd, req);
	json_decref(req);
	return ok;
}

static int dbl_cmp(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;

	return a < b ? -1 : a > b;
}

int main(int argc, char **argv)
{
	unsigned long secs, warmup, n_attach = 0, n_detach = 0, n_relabel = 0;
	unsigned long n_readdress = 0, n_err = 0, attached = 0;
	double end, t_churn, t_start;
	uint32_t *perm, i, j, t;
	int fd;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: churn_driver SOCKET SECONDS N SEED "
			"[WARMUP]\n");
		return 2;
	}
	secs = strtoul(argv[2], NULL, 10);
	warmup = argc == 6 ? strtoul(argv[5], NULL, 10) : secs;
	n_ctrs = (uint32_t)strtoul(argv[3], NULL, 10);
	rng ^= strtoull(argv[4], NULL, 10) * 0x9e3779b97f4a7c15ULL;
	if (!secs || !warmup || !n_ctrs || n_ctrs > MAX_N) {
		fprintf(stderr, "churn_driver: SECONDS and WARMUP > 0, N in "
			"1..%d\n", MAX_N);
		return 2;
	}
	fd = cc_dial(argv[1]);
	if (fd < 0) {
		fprintf(stderr, "churn_driver: cannot connect to %s\n",
			argv[1]);
		return 2;
	}
	ctrs = xcalloc(n_ctrs, sizeof(*ctrs));
	used4 = xcalloc(ADDR_SLOTS, 1);
	used6 = xcalloc(ADDR_SLOTS, 1);
	lat = xmalloc(LAT_MAX * sizeof(*lat));
	perm = xmalloc(n_ctrs * sizeof(*perm));
	t_start = now_ms();
	end = t_start + warmup * 1e3;
	for (i = 0; i < n_ctrs; i++) {
		ctrs[i].purpose = pick(ARRAY_SIZE(purposes));
		ctrs[i].v4 = free_slot(used4);
		ctrs[i].v6 = i % 2 ? free_slot(used6) : UINT32_MAX;
		perm[i] = i;
	}
	/* the warm-up: everyone in, in random order */
	for (i = n_ctrs - 1; i > 0; i--) {
		j = pick(i + 1);
		t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (i = 0; i < n_ctrs && now_ms() < end; i++) {
		if (attach(fd, perm[i])) {
			ctrs[perm[i]].attached = true;
			attached++;
			n_attach++;
		} else {
			n_err++;
		}
	}
	t_churn = now_ms();
	end = t_churn + secs * 1e3;
	fprintf(stderr, "churn\n");
	while (now_ms() < end) {
		struct ctr *c;
		uint32_t op;

		i = pick(n_ctrs);
		c = &ctrs[i];
		if (!c->attached) {
			if (attach(fd, i)) {
				c->attached = true;
				attached++;
				n_attach++;
			} else {
				n_err++;
			}
			continue;
		}
		op = pick(3);
		if (op == 0) {
			if (detach(fd, i)) {
				c->attached = false;
				attached--;
				n_detach++;
			} else {
				n_err++;
			}
		} else if (op == 1) {
			c->purpose = (c->purpose + 1 +
				      pick(ARRAY_SIZE(purposes) - 1)) %
				     ARRAY_SIZE(purposes);
			if (attach(fd, i))
				n_relabel++;
			else
				n_err++;
		} else {
			uint32_t o4 = c->v4, o6 = c->v6;

			c->v4 = free_slot(used4);
			if (o6 != UINT32_MAX)
				c->v6 = free_slot(used6);
			if (attach(fd, i)) {
				used4[o4] = 0;
				if (o6 != UINT32_MAX)
					used6[o6] = 0;
				n_readdress++;
			} else {
				used4[c->v4] = 0;
				if (o6 != UINT32_MAX)
					used6[c->v6] = 0;
				c->v4 = o4;
				c->v6 = o6;
				n_err++;
			}
		}
	}
	qsort(lat, n_lat, sizeof(*lat), dbl_cmp);
	printf("{\"ops\":%lu,\"attach\":%lu,\"detach\":%lu,\"relabel\":%lu,"
	       "\"readdress\":%lu,\"errors\":%lu,\"attached\":%lu,"
	       "\"warmup_s\":%.1f,\"churn_s\":%.1f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
	       "\"max_ms\":%.2f}\n",
	       n_attach + n_detach + n_relabel + n_readdress, n_attach,
	       n_detach, n_relabel, n_readdress, n_err, attached,
	       (t_churn - t_start) / 1e3, (now_ms() - t_churn) / 1e3,
	       n_lat ? lat[n_lat / 2] : 0, n_lat ? lat[n_lat * 99 / 100] : 0,
	       n_lat ? lat[n_lat - 1] : 0);
	close(fd);
	free(ctrs);
	free(used4);
	free(used6);
	free(lat);
	free(perm);
	return n_err ? 1 : 0;
}
