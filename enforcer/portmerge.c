/* Port merging for bulkheadctl recommend (include/portmerge.h). */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"
#include "portmerge.h"

static bool has_ports(uint8_t proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP ||
	       proto == IPPROTO_SCTP;
}

size_t portmerge(struct port_spec *v, size_t n)
{
	size_t i, o = 0;
	struct port_spec *cur;

	if (!n)
		return 0;
	for (i = 0; i < n; i++) {
		v[i].loc = (struct src_loc){ 0 };
		if (!v[i].proto) {
			/* any admits every other entry */
			v[0] = v[i];
			v[0].lo = 0;
			v[0].hi = 65535;
			return 1;
		}
		if (!has_ports(v[i].proto)) {
			v[i].lo = 0;
			v[i].hi = 0;
		} else if (v[i].lo > v[i].hi) {
			uint16_t t = v[i].lo;

			v[i].lo = v[i].hi;
			v[i].hi = t;
		}
	}
	qsort(v, n, sizeof(*v), policy_port_cmp);	/* show's order */
	for (i = 1; i < n; i++) {
		cur = &v[o];
		/* sorted by lo: the next one overlaps or touches cur when
		 * it starts at most one past cur's end */
		if (v[i].proto == cur->proto &&
		    (!has_ports(cur->proto) ||
		     (uint32_t)v[i].lo <= (uint32_t)cur->hi + 1)) {
			if (v[i].hi > cur->hi)
				cur->hi = v[i].hi;
			continue;
		}
		v[++o] = v[i];
	}
	return o + 1;
}

void portmerge_str(const struct port_spec *v, size_t n, struct strbuf *sb)
{
	struct port_spec one;
	char buf[32];
	size_t i;

	for (i = 0; i < n; i++) {
		if (i)
			sb_puts(sb, ", ");
		if (has_ports(v[i].proto) && v[i].hi == v[i].lo + 1) {
			/* a range of two ports is written as two ports */
			one = v[i];
			one.hi = one.lo;
			policy_port_str(&one, buf, sizeof(buf));
			sb_printf(sb, "%s, ", buf);
			one.lo = one.hi = v[i].hi;
			policy_port_str(&one, buf, sizeof(buf));
		} else {
			policy_port_str(&v[i], buf, sizeof(buf));
		}
		sb_puts(sb, buf);
	}
}

bool portmerge_parse_service(const char *svc, struct port_spec *out)
{
	static const struct { const char *name; uint8_t proto; } protos[] = {
		{ "tcp", IPPROTO_TCP }, { "udp", IPPROTO_UDP },
		{ "sctp", IPPROTO_SCTP }, { "icmp", IPPROTO_ICMP },
		{ "ipv6-icmp", IPPROTO_ICMPV6 }, { "icmpv6", IPPROTO_ICMPV6 },
	};
	const char *slash = strchr(svc, '/'), *p;
	size_t len = slash ? (size_t)(slash - svc) : strlen(svc), i;
	unsigned long port = 0;

	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		if (strlen(protos[i].name) == len &&
		    !strncmp(svc, protos[i].name, len))
			break;
	if (i == sizeof(protos) / sizeof(protos[0]))
		return false;
	*out = (struct port_spec){ .proto = protos[i].proto };
	if (!has_ports(out->proto))
		return true;	/* icmp, icmp/type8: every type */
	if (!slash || !slash[1])
		return false;
	for (p = slash + 1; *p; p++) {
		if (*p < '0' || *p > '9' || port > 65535)
			return false;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	if (port < 1 || port > 65535)
		return false;
	out->lo = out->hi = (uint16_t)port;
	return true;
}
