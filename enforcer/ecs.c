/* Our record -> ECS document. Most of our schema already uses ECS names
 * (event.*, source.ip, network.transport, rule.*, host.name); what
 * differs: event.type carries `connection` beside the verdict, packet and
 * byte counts move to network.*, the sequence number to event.sequence,
 * the Community ID is computed, and our own fields (groups, sensitivity,
 * record kind, chain direction, loss accounting) live under bulkhead.*.
 *
 * source.container.* and destination.container.* are not ECS fields (ECS
 * has one top-level container.*, the event's own); issue 13 asks for
 * them beside ip and port, and tests/ecs/fields.txt marks them custom. */
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "community_id.h"
#include "ecs.h"
#include "util.h"

bool ecs_parse_format(const char *s, enum record_format *f)
{
	if (!strcmp(s, "json"))
		*f = RECORD_FORMAT_JSON;
	else if (!strcmp(s, "ecs"))
		*f = RECORD_FORMAT_ECS;
	else
		return false;
	return true;
}

static json_t *get(const json_t *o, const char *a, const char *b)
{
	json_t *v = json_object_get(o, a);

	return b ? json_object_get(v, b) : v;
}

static void copy(json_t *dst, const char *key, json_t *v)
{
	if (v)
		json_object_set(dst, key, v);
}

static void drop_empty(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (json_is_object(v) && !json_object_size(v))
		json_object_del(o, key);
}

/* event.type: ["connection", the verdict]; a loss record (NFLOG
 * messages the kernel could not deliver) is ["info"], an overflow record
 * (packets of many flows, whatever their verdict) ["connection"]. */
static json_t *event_type(const char *action, const char *record)
{
	if (record && !strcmp(record, "loss"))
		return json_pack("[s]", "info");
	if (!action)
		return json_pack("[s]", "connection");
	if (!strcmp(action, "allow") || !strcmp(action, "would-deny"))
		return json_pack("[s, s]", "connection", "allowed");
	return json_pack("[s, s]", "connection", "denied");
}

static json_t *event_of(const json_t *rec)
{
	json_t *ev = json_object();
	const json_t *rev = get(rec, "event", NULL);
	const char *action = json_string_value(get(rec, "event", "action"));
	const char *record = json_string_value(get(rec, "bulkhead",
						   "record"));

	json_object_set_new(ev, "kind", json_string("event"));
	json_object_set_new(ev, "category", json_pack("[s]", "network"));
	json_object_set_new(ev, "type", event_type(action, record));
	copy(ev, "action", json_object_get(rev, "action"));
	copy(ev, "dataset", json_object_get(rev, "dataset"));
	json_object_set_new(ev, "module", json_string("bulkhead"));
	copy(ev, "start", json_object_get(rev, "start"));
	copy(ev, "end", json_object_get(rev, "end"));
	copy(ev, "sequence", get(rec, "bulkhead", "seq"));
	return ev;
}

static int str_cmp(const void *x, const void *y)
{
	return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* A container's labels (an object of arbitrary keys) as a keyword array
 * of "key=value", sorted: ECS has no field for another side's container
 * labels, and arbitrary keys would make arbitrary field names. */
static json_t *labels_to_ecs(const json_t *labels)
{
	json_t *a = json_array(), *v;
	size_t n = json_object_size(labels), i = 0;
	char **kv = xcalloc(n + 1, sizeof(*kv));
	const char *k;

	json_object_foreach((json_t *)labels, k, v)
		if (json_is_string(v))
			kv[i++] = xasprintf("%s=%s", k, json_string_value(v));
	qsort(kv, i, sizeof(*kv), str_cmp);
	for (n = 0; n < i; n++) {
		json_array_append_new(a, json_string(kv[n]));
		free(kv[n]);
	}
	free(kv);
	return a;
}

/* and back: a label key has no '=' (the engines split at the first) */
static json_t *labels_from_ecs(const json_t *a)
{
	json_t *o = json_object(), *v;
	const char *s, *eq;
	size_t i;
	char *k;

	json_array_foreach((json_t *)a, i, v) {
		s = json_string_value(v);
		eq = s ? strchr(s, '=') : NULL;
		if (!eq)
			continue;
		k = xstrndup(s, (size_t)(eq - s));
		json_object_set_new(o, k, json_string(eq + 1));
		free(k);
	}
	return o;
}

/* ip, port and the container of one side; its group, sensitivity and
 * labels go to bulkhead.<side>. */
static void side_of(json_t *doc, json_t *bh, const json_t *rec,
		    const char *side)
{
	const json_t *s = json_object_get(rec, side);
	json_t *out = json_object(), *ours = json_object(), *c;

	copy(out, "ip", json_object_get(s, "ip"));
	copy(out, "port", json_object_get(s, "port"));
	c = json_object_get(s, "container");
	if (json_is_object(c))
		json_object_set_new(out, "container", json_deep_copy(c));
	copy(ours, "group", json_object_get(s, "group"));
	copy(ours, "sensitivity", json_object_get(s, "sensitivity"));
	if (json_is_object(json_object_get(s, "labels")))
		json_object_set_new(ours, "labels", labels_to_ecs(
			json_object_get(s, "labels")));
	json_object_set_new(doc, side, out);
	json_object_set_new(bh, side, ours);
	drop_empty(doc, side);
	drop_empty(bh, side);
}

static bool get_port(const json_t *o, uint16_t *port)
{
	json_int_t v;

	if (!json_is_integer(o))
		return false;
	v = json_integer_value(o);
	if (v < 0 || v > 65535)
		return false;
	*port = (uint16_t)v;
	return true;
}

/* The flow's Community ID (seed 0): absent when the record lacks part of
 * the tuple, e.g. a TCP record whose retries used several source ports. */
static void community_id(json_t *net, const json_t *rec)
{
	const char *sip = json_string_value(get(rec, "source", "ip"));
	const char *dip = json_string_value(get(rec, "destination", "ip"));
	const char *iana = json_string_value(json_object_get(net,
							     "iana_number"));
	char id[COMMUNITY_ID_STRLEN], *end;
	uint16_t sport = 0, dport = 0;
	struct bh_addr s, d;
	bool ports = false;
	unsigned long proto;

	if (!sip || !dip || !iana || !bh_addr_parse(sip, false, &s) ||
	    !bh_addr_parse(dip, false, &d))
		return;
	proto = strtoul(iana, &end, 10);
	if (*end || !*iana || proto > 255)
		return;
	if (proto == IPPROTO_ICMP || proto == IPPROTO_ICMPV6)
		ports = get_port(get(rec, "bulkhead", "icmp_type"), &sport) &&
			get_port(get(rec, "bulkhead", "icmp_code"), &dport) &&
			sport <= 255 && dport <= 255;
	else
		ports = get_port(get(rec, "source", "port"), &sport) &&
			get_port(get(rec, "destination", "port"), &dport);
	if (community_id_v1(&s, &d, (uint8_t)proto, ports, sport, dport, 0,
			    id))
		json_object_set_new(net, "community_id", json_string(id));
}

static json_t *network_of(const json_t *rec)
{
	const json_t *rnet = json_object_get(rec, "network");
	const char *record = json_string_value(get(rec, "bulkhead",
						   "record"));
	json_t *net = json_object(), *v;

	copy(net, "type", json_object_get(rnet, "type"));
	copy(net, "transport", json_object_get(rnet, "transport"));
	copy(net, "iana_number", json_object_get(rnet, "iana_number"));
	copy(net, "direction", json_object_get(rnet, "direction"));
	community_id(net, rec);
	if (record && !strcmp(record, "unlogged")) {
		/* counted by the kernel, never seen: no byte count */
		copy(net, "packets", get(rec, "bulkhead", "unlogged"));
	} else if (!record || strcmp(record, "loss")) {
		copy(net, "packets", get(rec, "bulkhead", "packets"));
		copy(net, "bytes", get(rec, "bulkhead", "bytes"));
	}
	v = json_object_get(net, "transport");
	/* ECS wants it lowercase; ours is, but a record from elsewhere
	 * might not be */
	if (json_is_string(v)) {
		char *t = xstrdup(json_string_value(v));
		size_t i;

		for (i = 0; t[i]; i++)
			if (t[i] >= 'A' && t[i] <= 'Z')
				t[i] = (char)(t[i] - 'A' + 'a');
		json_object_set_new(net, "transport", json_string(t));
		free(t);
	}
	return net;
}

json_t *ecs_from_record(const json_t *rec)
{
	json_t *doc, *bh, *v;

	if (!json_is_object(rec) || !json_is_object(get(rec, "event", NULL)))
		return NULL;
	doc = json_object();
	copy(doc, "@timestamp", json_object_get(rec, "@timestamp"));
	json_object_set_new(doc, "ecs", json_pack("{s:s}", "version",
						  ECS_VERSION));
	json_object_set_new(doc, "event", event_of(rec));
	/* everything of ours first, then the ECS homes of the sides */
	v = json_object_get(rec, "bulkhead");
	bh = json_is_object(v) ? json_deep_copy(v) : json_object();
	copy(bh, "schema", json_object_get(rec, "schema"));
	side_of(doc, bh, rec, "source");
	side_of(doc, bh, rec, "destination");
	json_object_set_new(doc, "network", network_of(rec));
	drop_empty(doc, "network");
	v = json_object_get(rec, "rule");
	if (json_is_object(v))
		json_object_set_new(doc, "rule", json_deep_copy(v));
	v = json_object_get(rec, "host");
	if (json_is_object(v))
		json_object_set_new(doc, "host", json_deep_copy(v));
	json_object_set_new(doc, "bulkhead", bh);
	return doc;
}

bool ecs_is_doc(const json_t *o)
{
	return json_is_object(o) &&
	       json_is_string(get(o, "ecs", "version")) &&
	       json_is_object(json_object_get(o, "bulkhead"));
}

/* source.ip/port/container from the document, group and sensitivity
 * back from bulkhead.<side>. */
static void side_back(json_t *rec, json_t *bh, const json_t *doc,
		      const char *side)
{
	const json_t *s = json_object_get(doc, side);
	json_t *out = json_object(), *ours = json_object_get(bh, side), *c;

	copy(out, "ip", json_object_get(s, "ip"));
	copy(out, "port", json_object_get(s, "port"));
	copy(out, "group", json_object_get(ours, "group"));
	copy(out, "sensitivity", json_object_get(ours, "sensitivity"));
	c = json_object_get(s, "container");
	if (json_is_object(c))
		json_object_set_new(out, "container", json_deep_copy(c));
	if (json_is_array(json_object_get(ours, "labels")))
		json_object_set_new(out, "labels", labels_from_ecs(
			json_object_get(ours, "labels")));
	json_object_set_new(rec, side, out);
	json_object_del(bh, side);
}

json_t *ecs_to_record(const json_t *doc)
{
	const json_t *dev = get(doc, "event", NULL), *dnet;
	json_t *rec, *ev, *net, *bh, *v;
	const char *dataset;

	if (!ecs_is_doc(doc))
		return NULL;
	rec = json_object();
	bh = json_deep_copy(json_object_get(doc, "bulkhead"));
	copy(rec, "@timestamp", json_object_get(doc, "@timestamp"));
	copy(rec, "schema", json_object_get(bh, "schema"));
	json_object_del(bh, "schema");

	ev = json_object();
	copy(ev, "kind", json_object_get(dev, "kind"));
	copy(ev, "category", json_object_get(dev, "category"));
	/* Every record of the denied-flow log says "denied" (would-deny
	 * included: the rule is a deny rule); allow records already say
	 * what ECS says (connection, allowed). */
	dataset = json_string_value(json_object_get(dev, "dataset"));
	if (dataset && !strcmp(dataset, "bulkhead.denied"))
		json_object_set_new(ev, "type", json_pack("[s]", "denied"));
	else
		copy(ev, "type", json_object_get(dev, "type"));
	copy(ev, "dataset", json_object_get(dev, "dataset"));
	copy(ev, "action", json_object_get(dev, "action"));
	copy(ev, "start", json_object_get(dev, "start"));
	copy(ev, "end", json_object_get(dev, "end"));
	json_object_set_new(rec, "event", ev);

	dnet = json_object_get(doc, "network");
	net = json_object();
	copy(net, "type", json_object_get(dnet, "type"));
	copy(net, "transport", json_object_get(dnet, "transport"));
	copy(net, "iana_number", json_object_get(dnet, "iana_number"));
	copy(net, "direction", json_object_get(dnet, "direction"));
	if (json_object_size(net))
		json_object_set_new(rec, "network", net);
	else
		json_decref(net);
	side_back(rec, bh, doc, "source");
	side_back(rec, bh, doc, "destination");
	v = json_object_get(doc, "rule");
	if (json_is_object(v))
		json_object_set_new(rec, "rule", json_deep_copy(v));
	v = json_object_get(doc, "host");
	if (json_is_object(v))
		json_object_set_new(rec, "host", json_deep_copy(v));
	json_object_set_new(rec, "bulkhead", bh);
	return rec;
}
