#!/bin/bash
# NFLOG loss accounting on the real kernel: a reader with a small, fixed
# receive buffer that does not read for 1.5 s while 30,000 denied packets
# are logged makes the kernel drop messages (ENOBUFS). The sequence gaps
# must count every dropped message: logged packets in the records plus
# the lost count equal the rule's kernel counter exactly.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

DUMP=$BH_BUILD/tests/tools/nflog_dump
FLOOD=$BH_BUILD/tests/tools/nflog_flood
[ -x "$DUMP" ] && [ -x "$FLOOD" ] || skip_all "test tools not built"
command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add a 10.77.0.11 "" || exit 2
ns_add b 10.77.0.12 "" || exit 2
# tools/deps.sh loads br_netfilter; CI runs it, so there a missing module
# is a failure, not a reason to skip
if ! nsx host sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null; then
	[ "${CI:-}" = true ] || skip_all "br_netfilter not available"
	fail "br_netfilter loaded (CI=true; tools/deps.sh loads it)"
	done_testing
fi
nsx host nft -f - <<'EOF' || exit 2
table inet bhloss {
	counter denied_in_b { }
	chain forward {
		type filter hook forward priority -5; policy accept;
		ip daddr 10.77.0.12 udp dport 9 counter name "denied_in_b" log group 4299 prefix "bh/in/b/deny" drop
	}
}
EOF

ns_bg host "$DUMP" 4299 7 1000 0 65536 1500 > "$NS_TMP/dump.out" 2> "$NS_TMP/dump.err"
dpid=$!
for i in $(seq 50); do grep -q ready "$NS_TMP/dump.err" && break; sleep 0.05; done
# one reader per group: a second one is refused, and says why
nsx host "$DUMP" 4299 1 > /dev/null 2> "$NS_TMP/second.err"
is "$?:$(grep -c 'NFLOG group 4299 already has a reader' "$NS_TMP/second.err")" \
	"1:1" "a second reader of the group is refused with a clear message"
nsx a timeout 30 "$FLOOD" 10.77.0.12 9 30000 0 > /dev/null
sleep 2		# the reader wakes up and drains
# a few more, slowly: the first of them reveals any gap at the very end
nsx a timeout 30 "$FLOOD" 10.77.0.12 9 200 1000 > /dev/null
wait $dpid

kernel=$(nsx host nft -j list counter inet bhloss denied_in_b | jq '.nftables[] | select(.counter) | .counter.packets')
stats=$(tail -1 "$NS_TMP/dump.out")
read -r pk lost recs <<<"$(head -n -1 "$NS_TMP/dump.out" | jq -s -r '[(map(.bulkhead.packets) | add), (map(.bulkhead.lost) | add), length] | @tsv')"
diag "kernel $kernel; records $recs: packets $pk + lost $lost; $stats"
is "$kernel" 30200 "kernel logged every denied packet"
ok $([ "$(echo "$stats" | jq .stats.enobufs)" -ge 1 ]; echo $?) "the reader saw ENOBUFS"
ok $([ "$lost" -ge 1 ]; echo $?) "lost messages reported in the records"
is "$(echo "$stats" | jq .stats.lost)" "$lost" "records carry every lost message the reader counted"
is "$((pk + lost))" "$kernel" "packets + lost == kernel counter: sequence gaps count every drop"
ok $([ "$recs" -le 20 ]; echo $?) "bounded number of records ($recs)"
done_testing
