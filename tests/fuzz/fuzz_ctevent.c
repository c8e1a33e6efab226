/* libFuzzer harness for what the kernel hands the allowed-flow observer:
 * one ctnetlink message (nlmsghdr, nfgenmsg, attributes), as a conntrack
 * NEW or DESTROY event or a dump entry carries it, through ctevent_parse
 * (enforcer/ctevent.c). The seeds are the kernel's own messages
 * (tests/fuzz/corpus-ctevent, tests/tools/ct_capture.sh). The input sits
 * in a buffer of exactly its size, so a read past it is ASan's; what
 * parses must be an event the aggregator can take. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "ctevent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct flowobs_event e;
	void *buf;
	int ret;

	/* malloc's alignment, as a socket buffer's */
	buf = malloc(size ? size : 1);
	if (!buf)
		abort();
	memcpy(buf, data, size);
	ret = ctevent_parse(buf, size, &e);
	if (ret != 0 && ret != -EINVAL && ret != -ENOENT)
		abort();
	if (ret == 0 &&
	    ((e.src.family != AF_INET && e.src.family != AF_INET6) ||
	     e.src.family != e.dst.family ||
	     e.src.plen != (e.src.family == AF_INET ? 32 : 128) ||
	     (e.has_port && !e.proto) || e.wall_ms))
		abort();
	if (ret != 0 && (e.packets || e.bytes || e.id))
		abort();
	free(buf);
	return 0;
}
