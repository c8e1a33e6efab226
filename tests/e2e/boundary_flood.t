#!/bin/bash
# A boundary's drops over the log rate are accounted like a group's deny:
# 20,000 datagrams from an exposed container to a restricted one, all
# dropped by the boundary, at a log rate of 100/s. The kernel counts them
# in boundary_<name>, those over the rate also in
# unlogged_boundary_<name>; the records (flow records naming the
# boundary, unlogged records with its rule) add up to the kernel's
# counters, per boundary and in status' kernel_denied equation.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

FLOOD=$BH_BUILD/tests/tools/nflog_flood
[ -x "$BH_D" ] || skip_all "bulkheadd not built"
[ -x "$FLOOD" ] || skip_all "nflog_flood not built"
command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add edge 10.77.0.11 fd77::11 || exit 2
ns_add vault 10.77.0.22 fd77::22 || exit 2
ns_add app 10.77.0.33 fd77::33 || exit 2

cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
settings:
  log: { window: 1s, rate: 100/second }
groups:
  edge: { match: { purpose: edge }, risk: exposed }
  app: { match: { purpose: app } }
  vault: { match: { purpose: vault }, sensitivity: restricted }
boundaries:
  exposed-restricted:
    from: { risk: exposed }
    to: { sensitivity: restricted }
flows:
  - { from: edge, to: app, ports: [tcp/8080] }
  - { from: app, to: vault, ports: [udp/9] }
EOF2
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach edge bulkhead.purpose=edge >/dev/null
bhd_attach app bulkhead.purpose=app >/dev/null
bhd_attach vault bulkhead.purpose=vault >/dev/null

counter() {
	nft_host -j list counter inet bulkhead "$1" |
		jq '.nftables[] | select(.counter) | .counter.packets'
}
kernel_denied() {
	nft_host -j list counters | jq '[.nftables[] | select(.counter) |
		.counter | select(.name | test("^(denied_|spoofed_|boundary_)")) |
		.packets] | add // 0'
}
B=exposed-restricted
N=20000
nsx edge timeout 60 "$FLOOD" 10.77.0.22 9 $N 20000 >"$NS_TMP/flood.json"
is "$(jq .sent "$NS_TMP/flood.json")" $N "all $N datagrams sent"
kb=$(counter boundary_$B)
ku=$(counter unlogged_boundary_$B)
ok $([ "$kb" -ge $N ]; echo $?) "boundary_$B counted them ($kb)"
ok $([ "$ku" -gt 0 ] && [ "$ku" -lt "$kb" ]; echo $?) \
	"unlogged_boundary_$B counted those over the log rate ($ku of $kb)"

# the window closes and the counters are read (bounded wait)
sum_recs() { # jq filter of records -> packets,unlogged sums
	jq -s -r --arg r "boundary/$B" '[map(select(.rule.name == $r)) |
		(map(.bulkhead.packets) | add // 0),
		(map(.bulkhead.unlogged) | add // 0)] | join(",")' "$BHD_DENIED"
}
for i in $(seq 100); do
	[ "$(sum_recs | cut -d, -f2)" = "$ku" ] && break
	sleep 0.1
done
IFS=, read -r pk unl <<<"$(sum_recs)"
diag "boundary $B: kernel $kb (unlogged $ku); records: packets $pk, unlogged $unl"
is "$unl" "$ku" "the unlogged records of boundary/$B carry the kernel's unlogged count"
is "$((pk + unl))" "$kb" "its records' packets + unlogged == boundary_$B"
rec=$(jq -c --arg r "boundary/$B" 'select(.rule.name == $r and
	.bulkhead.record == "unlogged")' "$BHD_DENIED" | head -1)
is "$(echo "$rec" | jq -r '[.event.action, .bulkhead.direction,
	(.destination.group // "-")] | join(",")')" "deny,in,-" \
	"an unlogged record: deny, direction in, no group (the rule names the boundary)"
for i in $(seq 50); do
	eq=$(bhctl status --json | jq '.denied | .kernel_denied == (.packets + .unlogged + .lost)')
	[ "$eq" = true ] && break
	sleep 0.1
done
is "$eq" true "status: kernel_denied == packets + unlogged + lost"
ok $(bhctl denials --file "$BHD_DENIED" --summary 2>&1 | grep -q .; echo $?) \
	"bulkheadctl denials --summary reads the records"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
kernel=$(kernel_denied)
read -r apk aunl alost <<<"$(jq -s -r '[(map(.bulkhead.packets) | add),
	(map(.bulkhead.unlogged) | add), (map(.bulkhead.lost) | add)] | @tsv' \
	"$BHD_DENIED")"
is "$((apk + aunl + alost))" "$kernel" \
	"all records: packets + unlogged + lost == the kernel's denied, spoofed and boundary counters"
done_testing
