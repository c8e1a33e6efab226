/* Containers of the shapes the benchmarks and the memory test measure,
 * one per index i (header-only: each program uses what it needs). The
 * commit benchmark's: short id = name, one label (group i % groups), one
 * IPv4 address 10.x.y.z from i, a host-side interface. An engine's: a
 * 64-hex id, a name, four labels (one of a kind), an IPv4 and an IPv6
 * address, a host-side interface, the engine's URL. */
#ifndef BULKHEAD_TESTS_SHAPES_H
#define BULKHEAD_TESTS_SHAPES_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "inventory.h"

static inline void shape_v4(unsigned long i, struct bh_addr *a)
{
	unsigned long x = i + 1;

	memset(a, 0, sizeof(*a));
	a->family = AF_INET;
	a->plen = 32;
	a->a[0] = 10;
	a->a[1] = (uint8_t)(x >> 16);
	a->a[2] = (uint8_t)(x >> 8);
	a->a[3] = (uint8_t)x;
}

static inline struct container *shape_bench(unsigned long i,
					    unsigned long groups)
{
	char id[32], label[32];
	struct container *c;
	struct bh_addr a;

	snprintf(id, sizeof(id), "c%lu", i);
	snprintf(label, sizeof(label), "g%lu", i % groups);
	c = container_new(id, id);
	container_add_label(c, "bulkhead.purpose", label);
	shape_v4(i, &a);
	container_add_addr(c, &a);
	snprintf(label, sizeof(label), "v%lu", i);
	container_set_port(c, label);
	return c;
}

static inline struct container *shape_engine(unsigned long i)
{
	char id[CONTAINER_ID_MAX + 1], name[64], label[32];
	struct container *c;
	struct bh_addr a;

	snprintf(id, sizeof(id), "%016lx%016lx%016lx%016lx", i * 2654435761u,
		 i, ~i, i * 40503u);
	snprintf(name, sizeof(name), "project_service_%lu", i);
	snprintf(label, sizeof(label), "g%lu", i % 10);
	c = container_new(id, name);
	container_add_label(c, "bulkhead.purpose", label);
	container_add_label(c, "com.docker.compose.project", "project");
	container_add_label(c, "com.docker.compose.service", "service");
	/* one of a kind: a string shared by nobody */
	snprintf(label, sizeof(label), "%08lx", i * 2654435761u);
	container_add_label(c, "com.docker.compose.config-hash", label);
	shape_v4(i, &a);
	container_add_addr(c, &a);
	a.family = AF_INET6;
	a.plen = 128;
	a.a[0] = 0xfd;
	container_add_addr(c, &a);
	snprintf(label, sizeof(label), "veth%lx", i);
	container_set_port(c, label);
	c->source = SRC_ENGINE;
	c->engine = strdup("unix:///run/podman/podman.sock");
	return c;
}

#endif
