#!/bin/bash
# bulkhead-cni on its own: VERSION, and every kind of bad input a runtime
# can hand it (bad JSON, too large, no prevResult, unknown version, bad
# labels, bad environment) gets a CNI error object with the right code on
# stdout and a non-zero exit. Then a real bridge + host-local chain with
# the daemon down: ADD must fail (never succeed silently), DEL must not
# block the runtime's cleanup.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/cni.sh"

command -v jq >/dev/null || skip_all "jq not installed"
ns_init

# bulkhead-cni runs in the test host's namespace, never in the initial one
cni() { # CMD [ENV...] <stdin: runs bulkhead-cni, prints stdout, status
	local cmd=$1
	shift
	nsx host env -i PATH="$PATH" CNI_COMMAND="$cmd" CNI_CONTAINERID=ctr1 \
		CNI_NETNS=/dev/null CNI_IFNAME=eth0 CNI_PATH=/nonexistent \
		"$@" "$BH_CNI" 2>/dev/null
}
code() { jq -r .code 2>/dev/null; }

r=$(cni VERSION </dev/null)
is "$(jq -c .supportedVersions <<<"$r")" '["0.3.0","0.3.1","0.4.0","1.0.0"]' \
	"VERSION lists the spec versions"

PREV='{"cniVersion":"1.0.0","interfaces":[{"name":"veth9"},{"name":"eth0","sandbox":"/x"}],"ips":[{"address":"10.1.0.5/24","interface":1}]}'
BASE='{"cniVersion":"1.0.0","name":"t","type":"bulkhead-cni","socket":"'$BHD_SOCK'"}'

r=$(echo 'not json' | cni ADD); rc=$?
is "$(code <<<"$r"),$rc" "6,1" "bad JSON: code 6 (decoding), exit 1"
r=$(head -c 1100000 /dev/zero | tr '\0' ' ' | cni ADD)
is "$(code <<<"$r")" 6 "stdin over 1 MiB: code 6"
grep -q "larger than 1 MiB" <<<"$r"
ok $? "and says so"
r=$(echo "$BASE" | cni ADD); rc=$?
is "$(code <<<"$r"),$rc" "7,1" "no prevResult: code 7 (invalid config)"
grep -q "chained plugin" <<<"$r"
ok $? "the message says it is a chained plugin"
r=$(jq -c '.cniVersion="0.2.0"' <<<"$BASE" | cni ADD)
is "$(code <<<"$r")" 1 "unsupported cniVersion: code 1"
r=$(jq -c --argjson p "$PREV" '. + {prevResult: $p,
	runtimeConfig: {labels: {"bulkhead.purpose": 7}}}' <<<"$BASE" | cni ADD)
is "$(code <<<"$r")" 7 "label with a non-string value: code 7"
r=$(jq -c --argjson p "$PREV" '. + {prevResult: ($p + {ips: [{address: "10.1.0.999/24", interface: 1}]})}' \
	<<<"$BASE" | cni ADD)
is "$(code <<<"$r")" 7 "prevResult with a bad address: code 7"
r=$(jq -c --argjson p "$PREV" '. + {prevResult: ($p + {ips: [{address: "10.1.0.5/24", interface: 5}]})}' \
	<<<"$BASE" | cni ADD)
is "$(code <<<"$r")" 7 "ips[].interface pointing nowhere: code 7"
r=$(echo "$BASE" | nsx host env -i PATH="$PATH" CNI_COMMAND=ADD "$BH_CNI" 2>/dev/null)
is "$(code <<<"$r")" 4 "no CNI_CONTAINERID: code 4"
r=$(echo "$BASE" | nsx host env -i PATH="$PATH" "$BH_CNI" 2>/dev/null)
is "$(code <<<"$r")" 4 "no CNI_COMMAND: code 4"
# found by tests/fuzz/fuzz_cni.c: bytes that are not UTF-8 cannot travel
# in the JSON request, which failed at the socket as "bulkheadd refused"
LADD=$(jq -c --argjson p "$PREV" '. + {prevResult: $p,
	runtimeConfig: {labels: {"bulkhead.purpose": "web"}}}' <<<"$BASE")
r=$(cni ADD CNI_CONTAINERID=$'ctr\xe3' <<<"$LADD")
is "$(code <<<"$r")" 4 "CNI_CONTAINERID not UTF-8: code 4"
r=$(cni ADD CNI_ARGS=$'K8S_POD_NAME=web\xff' <<<"$LADD")
is "$(code <<<"$r")" 11 "K8S_POD_NAME not UTF-8 is ignored: the attach is sent (daemon down: code 11)"
r=$(echo "$BASE" | cni FROB)
is "$(code <<<"$r")" 4 "unknown CNI_COMMAND: code 4"

# the daemon is not running: a real chain
cat >"$NS_TMP/chain.conflist" <<EOF
{"cniVersion":"1.0.0","name":"bhtest","plugins":[
 {"type":"bridge","bridge":"cni0","isGateway":true,
  "ipam":{"type":"host-local","ranges":[[{"subnet":"10.88.0.0/24"}]],
          "dataDir":"$NS_TMP/ipam"}},
 {"type":"bulkhead-cni","socket":"$BHD_SOCK","capabilities":{"labels":true}}]}
EOF
cni_setup "$NS_TMP/chain.conflist"
_ns_new c1 || exit 2
r=$(cni_run ADD c1 "$(ns_path c1)" '{"bulkhead.purpose":"web"}'); rc=$?
is "$(code <<<"$r"),$rc" "11,1" "daemon down: ADD fails with code 11 (try again later)"
grep -q "not reachable on $BHD_SOCK" <<<"$r"
ok $? "the message names the socket"
is "$(nsx host ip -o link show type veth | wc -l)" 1 \
	"(the bridge plugin before it did make the veth)"
cni_run DEL c1 "$(ns_path c1)" >/dev/null
ok $? "daemon down: DEL lets the runtime clean up the rest of the chain"
is "$(nsx host ip -o link show type veth | wc -l)" 0 \
	"the bridge plugin's veth is gone after the chain's DEL"
done_testing
