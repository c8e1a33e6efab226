#!/bin/bash
# Anti-spoofing with containers registered by bulkhead-cni (real bridge +
# host-local chain, so each container's host-side port comes from
# prevResult): a container that adds another group's address to its
# interface cannot reach what that group may, and the attempt is logged as
# spoofed; the real owner of the address still passes.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/cni.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq not installed"
ns_init
cat >"$NS_TMP/policy.yaml" <<'YAML'
version: 1
settings:
  log: { window: 1s }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: api, to: db, ports: [tcp/5432] }
YAML
cat >"$NS_TMP/chain.conflist" <<JSON
{"cniVersion":"1.0.0","name":"bhspoof","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/24"}]],
          "dataDir":"$NS_TMP/ipam"}},
 {"type":"bulkhead-cni","socket":"$BHD_SOCK","capabilities":{"labels":true}}]}
JSON
cni_setup "$NS_TMP/chain.conflist"
for n in web api db; do _ns_new $n || exit 2; done
bhd_start "$NS_TMP/policy.yaml" || { fail "bulkheadd up"; done_testing; }
pass "bulkheadd up"
for n in web api db; do
	cni_run ADD $n "$(ns_path $n)" "{\"bulkhead.purpose\":\"$n\"}" >/dev/null ||
		fail "ADD $n"
done
ip_of() { jq -r '.ips[0].address | sub("/.*"; "")' "$NS_TMP/cni/$1.result"; }
WEB=$(ip_of web) API=$(ip_of api) DB=$(ip_of db)
serve_tcp db 5432	# returns once it listens (bounded): no race with probes

is "$(probe tcp api "$DB" 5432)" pass "the address's owner (api) reaches db"
is "$(probe_deny api tcp web "$DB" 5432)" drop "web may not reach db"

# web takes api's address as a second one and connects from it; the
# owner passing just before and web's interface sending make it a drop
ctl=$(probe_want pass tcp api "$DB" 5432)
nsx web ip addr add "$API/32" dev eth0
tx0=$(ns_tx_packets web)
r=$(timeout 5 nsenter --net="$(ns_path web)" -- socat -T1 STDIO \
	"TCP:$DB:5432,bind=$API,connect-timeout=1" </dev/null 2>/dev/null)
tx1=$(ns_tx_packets web)
[ "$tx1" -gt "$tx0" ] || r=${r:-not-sent}
is "$ctl:${r:-drop}" pass:drop "web using api's address cannot reach db"
spoofed() {
	jq -c --arg a "$API" 'select(.source.ip == $a and
		.event.action == "spoof") | .source.group' \
		"$BHD_DENIED" 2>/dev/null | head -1
}
for _ in $(seq 30); do
	[ -n "$(spoofed)" ] && break
	sleep 0.1
done
is "$(spoofed)" '"web"' \
	"the attempt is logged as spoof, attributed to web by its port"
is "$(jq -r --arg a "$API" 'select(.source.ip == $a and
	.event.action == "spoof") | [.rule.name, .network.direction] |
	join(" ")' "$BHD_DENIED" | head -1)" "spoofed egress" \
	"  by the rule spoofed, egress"
nsx web ip addr del "$API/32" dev eth0
is "$(probe tcp api "$DB" 5432)" pass "the owner still passes afterwards"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
