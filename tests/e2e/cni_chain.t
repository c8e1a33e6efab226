#!/bin/bash
# bulkhead-cni in a real chain (bridge + host-local, then bulkhead-cni)
# against the real daemon: ADD registers the container before it returns
# and passes prevResult through unchanged; labels from runtimeConfig put it
# in its group and flows follow; ADD without labels quarantines it (traffic
# in that window drops, logged as quarantine) until a source that knows its
# labels attaches the same id; CHECK; DEL is idempotent; an address owned by
# another container is refused with a CNI error.
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
flows:
  - { from: web, to: api, ports: [tcp/8080] }
YAML
cat >"$NS_TMP/chain.conflist" <<JSON
{"cniVersion":"1.0.0","name":"bhtest","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,
  "ipam":{"type":"host-local",
          "ranges":[[{"subnet":"10.88.0.0/24"}],[{"subnet":"fd88::/64"}]],
          "dataDir":"$NS_TMP/ipam"}},
 {"type":"bulkhead-cni","socket":"$BHD_SOCK","capabilities":{"labels":true}}]}
JSON
cni_setup "$NS_TMP/chain.conflist"
for n in cweb capi cq; do _ns_new $n || exit 2; done

bhd_start "$NS_TMP/policy.yaml" || { fail "bulkheadd up"; done_testing; }
pass "bulkheadd up"

ctr() { # ID: its entry in the daemon's status
	bhctl status --json 2>/dev/null | jq -c --arg id "$1" '.containers[] | select(.id == $id)'
}
ip_of() {
	jq -r '[.ips[].address | select(contains(".")) | sub("/.*"; "")][0]' \
		"$NS_TMP/cni/$1.result"
}
ip6_of() {
	jq -r '[.ips[].address | select(contains(":")) | sub("/.*"; "")][0]' \
		"$NS_TMP/cni/$1.result"
}
hostif() {
	jq -r '.interfaces[] | select(.sandbox == null and .name != "cni0") | .name' \
		"$NS_TMP/cni/$1.result"
}

cni_run ADD cweb "$(ns_path cweb)" '{"bulkhead.purpose":"web"}' >/dev/null
ok $? "ADD with labels succeeds"
is "$(jq -S . "$NS_TMP/cni/cweb.ADD.1")" "$(jq -S . "$NS_TMP/cni/cweb.ADD.0")" \
	"prevResult passed through unchanged"
c=$(ctr cweb)
is "$(jq -c '[.group, .source, .quarantined, .name]' <<<"$c")" \
	'["web","cni",false,"cweb"]' \
	"registered before ADD returned: group web, source cni"
is "$(jq -c '.ips' <<<"$c")" "[\"$(ip_of cweb)\",\"$(ip6_of cweb)\"]" \
	"both addresses from prevResult (IPv4 and IPv6)"
is "$(jq -r .ifname <<<"$c")" "$(hostif cweb)" \
	"host-side veth from prevResult (not the bridge)"

cni_run ADD capi "$(ns_path capi)" '{"bulkhead.purpose":"api"}' >/dev/null
ok $? "second container"
cni_run ADD cq "$(ns_path cq)" >/dev/null
ok $? "ADD without labels succeeds"
is "$(ctr cq | jq -c '[.group, .quarantined]')" '["quarantine",true]' \
	"no labels: quarantined"

WEB=$(ip_of cweb) API=$(ip_of capi) Q=$(ip_of cq)
serve_tcp capi 8080
serve_tcp cq 8080
serve_tcp cweb 8080	# each returns once its server listens (bounded)
is "$(probe tcp cweb "$API" 8080)" pass "declared flow web -> api passes"
is "$(probe_deny cweb tcp capi "$WEB" 8080)" drop "undeclared api -> web drops"
is "$(probe tcp cweb "$(ip6_of capi)" 8080)" pass "declared flow over IPv6 passes"
is "$(probe_deny cweb tcp capi "$(ip6_of cweb)" 8080)" drop "undeclared flow over IPv6 drops"
is "$(probe_deny cq tcp cweb "$Q" 8080)" drop "quarantine window: web -> unclassified drops"
is "$(probe_deny cweb tcp cq "$API" 8080)" drop "quarantine window: unclassified -> api drops"
qrec() {
	jq -c --arg q "$Q" 'select(.destination.ip == $q and
		.destination.group == "quarantine") | .source.group' \
		"$BHD_DENIED" 2>/dev/null | head -1
}
for _ in $(seq 30); do
	[ -n "$(qrec)" ] && break
	sleep 0.1
done
is "$(qrec)" '"web"' "the quarantine-window drop is logged with group quarantine"

# the Engine API (here: an attach that knows the labels) classifies it
bhctl attach --id cq --name cq --label bulkhead.purpose=api --ip "$Q" \
	--ip "$(ip6_of cq)" \
	--ifname "$(hostif cq)" >/dev/null
is "$(ctr cq | jq -c '[.group, .quarantined]')" '["api",false]' \
	"same id with labels: out of quarantine"
is "$(probe tcp cweb "$Q" 8080)" pass "and its group's flows apply"

# a second network for a classified container; its runtime gives no labels
# (Podman's CNI backend on `network connect`): it keeps its group
jq '.name = "bhtest2" | .plugins[0].bridge = "cni1"
	| .plugins[0].ipam.ranges = [[{subnet: "10.87.0.0/24"}]]
	| .plugins[0].ipam.dataDir += "2"' "$NS_TMP/chain.conflist" \
	>"$NS_TMP/chain2.conflist"
CNI_CONF=$NS_TMP/chain2.conflist CNI_IF=eth1 \
	cni_run ADD cweb "$(ns_path cweb)" >/dev/null
ok $? "ADD of a second network, no labels"
W2=$(jq -r '.ips[0].address | sub("/.*"; "")' "$NS_TMP/cni/cweb-eth1.result")
H2=$(jq -r '.interfaces[] | select(.sandbox == null and .name != "cni1") | .name' \
	"$NS_TMP/cni/cweb-eth1.result")
c=$(ctr cweb)
is "$(jq -c '[.group, .quarantined, [.ports[].ifname], (.ips | length)]' <<<"$c")" \
	"[\"web\",false,[\"$(hostif cweb)\",\"$H2\"],3]" \
	"known container keeps its group, first port and addresses, gains a second port"
is "$(jq -c '.ports[1].ips' <<<"$c")" "[\"$W2\"]" \
	"the new network's address is registered on its own port"
nft_host list set bridge bulkhead addrs_v4 >"$NS_TMP/pairs"
grep -q "\"$H2\" . $W2" "$NS_TMP/pairs" &&
	! grep -q "\"$H2\" . $(ip_of cweb)\|\"$(hostif cweb)\" . $W2" "$NS_TMP/pairs"
ok $? "anti-spoofing pairs each address with its own port only"
CNI_CONF=$NS_TMP/chain2.conflist CNI_IF=eth1 \
	cni_run DEL cweb "$(ns_path cweb)" >/dev/null
ok $? "DEL of the second network"
is "$(ctr cweb | jq -c '[.group, .ifname, (.ips | sort)]')" \
	"[\"web\",\"$(hostif cweb)\",$(jq -c '[.ips[].address | sub("/.*"; "")] | sort' "$NS_TMP/cni/cweb.result")]" \
	"only that network's address leaves; the container stays"

CNI_RESULT=$(cat "$NS_TMP/cni/cweb.result")
cni_run CHECK cweb "$(ns_path cweb)" >/dev/null
ok $? "CHECK: known with its addresses"
cni_run DEL cweb "$(ns_path cweb)" >/dev/null
ok $? "DEL"
is "$(ctr cweb)" "" "DEL detached it"
echo "$CNI_RESULT" >"$NS_TMP/cni/cweb.result"
cni_run DEL cweb "$(ns_path cweb)" >/dev/null
ok $? "DEL again (unknown id) succeeds: idempotent"
echo "$CNI_RESULT" >"$NS_TMP/cni/cweb.result"
r=$(cni_run CHECK cweb "$(ns_path cweb)")
is "$(jq -r .code <<<"$r")" 101 \
	"CHECK of a container the daemon does not know: code 101"

# an address that belongs to another container: the daemon refuses
conf=$(jq -nc --arg s "$BHD_SOCK" --arg ip "$API/24" '{cniVersion: "1.0.0",
	name: "x", type: "bulkhead-cni", socket: $s, prevResult: {
	cniVersion: "1.0.0", interfaces: [{name: "eth0", sandbox: "/x"}],
	ips: [{address: $ip, interface: 0}]}}')
r=$(nsx host env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=thief \
	CNI_NETNS=/x CNI_IFNAME=eth0 "$BH_CNI" <<<"$conf" 2>/dev/null)
rc=$?
is "$(jq -r .code <<<"$r"),$rc" "100,1" "address of another container: code 100"
grep -q "belongs to container" <<<"$r"
ok $? "with the daemon's reason"
is "$(ctr thief)" "" "and nothing attached"

# found by tests/fuzz/fuzz_cni.c: the only host-side interface prevResult
# names cannot be an interface ("/" in it); it was sent as the port and the
# daemon refused the attach (code 100); now the port stays unknown
conf=$(jq -nc --arg s "$BHD_SOCK" '{cniVersion: "1.0.0", name: "x",
	type: "bulkhead-cni", socket: $s, runtimeConfig: {labels:
	{"bulkhead.purpose": "api"}}, prevResult: {cniVersion: "1.0.0",
	interfaces: [{name: "br/0"}, {name: "eth0", sandbox: "/x"}],
	ips: [{address: "10.88.0.250/24", interface: 1}]}}')
nsx host env -i PATH="$PATH" CNI_COMMAND=ADD CNI_CONTAINERID=slash \
	CNI_NETNS=/x CNI_IFNAME=eth0 "$BH_CNI" <<<"$conf" >/dev/null 2>&1
ok $? "a host interface name with a slash is not taken for the port"
is "$(ctr slash | jq -c '[.group, .ifname]')" '["api",""]' \
	"attached in its group without a port"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
