#!/bin/bash
# make demo: a host network namespace with a bridge and containers as
# namespaces behind veth pairs (web, api, db, metrics in audit mode, and a
# stray that matches no group), a resolver namespace at 10.77.0.53 /
# fd77::53 (the cidrs group dns), bulkheadd inside the host namespace on
# groups/demo.yaml, then a table of attempted connections with the
# expected and the actual result, an `nft flush ruleset` that the daemon
# repairs, the group summary, the denied-flow records, the allowed flows
# observed, and last the group map of the run, written to
# $BH_BUILD/demo/map.svg (kept). Everything else it makes is removed at
# exit, also on failure; the
# machine's own network namespace is never touched.
set -u

TOP=$(cd "$(dirname "$0")/.." && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "demo: needs root (it creates network namespaces)" >&2
	exit 1
fi
export BH_BUILD=${BH_BUILD:-build}
# shellcheck source=../tests/lib/tap.sh
. "$TOP/tests/lib/tap.sh"
# shellcheck source=../tests/lib/netns.sh
. "$TOP/tests/lib/netns.sh"
for b in "$BH_D" "$BH_CTL"; do
	[ -x "$b" ] || { echo "demo: $b missing: run make first" >&2; exit 1; }
done
for t in socat ping nsenter; do
	command -v $t >/dev/null ||
		{ echo "demo: $t missing (tools/deps.sh)" >&2; exit 1; }
done

bold() { printf '\033[1m%s\033[0m\n' "$*"; }

bold "== building the demo host"
ns_init 10.77.0.1/24 fd77::1/64
ns_add web 10.77.0.10 fd77::10
ns_add api 10.77.0.20 fd77::20
ns_add db 10.77.0.30 fd77::30
ns_add metrics 10.77.0.40 fd77::40
ns_add stray 10.77.0.50 fd77::50
ns_add dns 10.77.0.53 fd77::53
echo "host namespace $(ns_name host): bridge br0 10.77.0.1/24 fd77::1/64"
for n in web api db metrics stray dns; do
	printf '  %-8s %-12s %-10s namespace %s\n' "$n" "${NS_ADDR4[$n]}" \
		"${NS_ADDR6[$n]}" "$(ns_name $n)"
done

serve_tcp web 22
serve_tcp api 8080
serve_tcp db 5432
serve_tcp db 22
serve_tcp metrics 9100
serve_tcp metrics 7777
serve_tcp stray 8080
serve_udp dns 53
serve_tcp dns 53

bold "== starting bulkheadd on groups/demo.yaml"
if ! bhd_start "$TOP/groups/demo.yaml"; then
	echo "demo: bulkheadd did not start; its log:" >&2
	cat "$BHD_LOG" >&2
	exit 1
fi
sed 's/^/  /' "$BHD_LOG"

bold "== attaching the containers"
bhd_attach web bulkhead.purpose=web | sed 's/^/  /'
bhd_attach api bulkhead.purpose=api | sed 's/^/  /'
bhd_attach db bulkhead.purpose=database | sed 's/^/  /'
bhd_attach metrics bulkhead.purpose=metrics | sed 's/^/  /'
bhd_attach stray bulkhead.purpose=batch | sed 's/^/  /'
echo "  (dns is not a container: it is the cidrs group dns)"

bold "== attempted connections"
printf '%-8s %-8s %-8s %-4s %-24s %-9s %-7s\n' FROM TO PROTO IP WHY \
	EXPECTED ACTUAL
mismatches=0
# try FROM TO PROTO PORT FAMILY EXPECTED WHY
try() {
	local from=$1 to=$2 proto=$3 port=$4 fam=$5 want=$6 why=$7 dst got
	local label=$proto mark=""

	if [ "$to" = host ]; then
		[ "$fam" = 6 ] && dst=fd77::1 || dst=10.77.0.1
	elif [ "$fam" = 6 ]; then
		dst=${NS_ADDR6[$to]}
	else
		dst=${NS_ADDR4[$to]}
	fi
	[ -n "$port" ] && label=$proto/$port
	[ "$proto" = icmp ] && [ "$fam" = 6 ] && label=icmpv6
	got=$(probe_want "$want" "$proto" "$from" "$dst" "$port")
	if [ "$got" != "$want" ]; then
		mark="  <-- MISMATCH"
		mismatches=$((mismatches + 1))
	fi
	printf '%-8s %-8s %-8s v%-3s %-24s %-9s %-7s%s\n' "$from" "$to" \
		"$label" "$fam" "$why" "$want" "$got" "$mark"
}
try web api tcp 8080 4 pass "declared"
try web api tcp 8080 6 pass "declared"
try web api icmp "" 4 pass "declared"
try web api icmp "" 6 pass "declared"
try api db tcp 5432 4 pass "declared"
try api db tcp 5432 6 pass "declared"
try web db tcp 5432 4 drop "undeclared"
try api web icmp "" 6 drop "undeclared direction"
try web dns udp 53 4 pass "declared (cidrs group)"
try api dns udp 53 6 pass "declared (cidrs group)"
try api dns tcp 53 4 pass "declared (cidrs group)"
try db dns udp 53 4 drop "undeclared (cidrs group)"
try db metrics tcp 9100 4 pass "declared"
try web metrics tcp 7777 4 pass "undeclared, audit mode"
try host web tcp 22 4 pass "declared from host"
try host db tcp 22 6 pass "declared from host"
try stray api tcp 8080 4 drop "unassigned: no flows"
try api stray tcp 8080 6 drop "unassigned: no flows"
if [ $mismatches -eq 0 ]; then
	echo "every attempt went as the policy says"
else
	echo "$mismatches attempt(s) did not go as the policy says"
fi

bold "== bulkheadctl explain --from web --to db --port tcp/5432"
bhctl explain --from web --to db --port tcp/5432 | sed 's/^/  /'

bold "== someone runs 'nft flush ruleset' (a firewall reload does)"
nft_host flush ruleset
for i in $(seq 100); do	# 5 s at most
	nft_host list table inet bulkhead >/dev/null 2>&1 && break
	sleep 0.05
done
grep "was changed by" "$BHD_LOG" | tail -1 | sed 's/^.*warning: /  bulkheadd: /'
try web db tcp 5432 4 drop "undeclared, after flush"
try web api tcp 8080 4 pass "declared, after flush"

bold "== bulkheadctl status"
bhctl status | sed 's/^/  /'

bold "== denied flows (bulkheadctl denials)"
# the first packet of a flow is written at once, within the kernel's
# batching delay
sleep 0.5
"$BH_CTL" denials --file "$BHD_DENIED" 2>&1 | sed 's/^/  /'

bold "== allowed flows (bulkheadctl flows --summary)"
# the daemon writes the window's observations when it stops
bhd_stop
"$BH_CTL" flows --file "$BHD_FLOWS" --summary 2>&1 | sed 's/^/  /'

bold "== the group map of this run (bulkheadctl map)"
map_dir=$(cd "$BH_BUILD" && pwd)/demo
mkdir -p "$map_dir"
if "$BH_CTL" map --since 1h --policy "$TOP/groups/demo.yaml" \
	--denied-file "$BHD_DENIED" --flows-file "$BHD_FLOWS" \
	-o "$map_dir/map.svg"; then
	echo "  written to $map_dir/map.svg (open it in a browser)"
else
	echo "  demo: bulkheadctl map failed" >&2
	mismatches=$((mismatches + 1))
fi

bold "== cleaning up"
echo "  namespaces, processes and $NS_TMP removed at exit"
[ $mismatches -eq 0 ]
