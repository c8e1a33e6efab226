#!/bin/bash
# Smoke run of the data-plane benchmark (tests/bench/dataplane/run.sh
# --smoke): one short round of every configuration, in its own namespaces.
# Checks that each configuration loads and carries TCP connections and UDP
# exchanges with no failures; never asserts timing (docs/benchmarks.md has
# the measured figures).
. "$(dirname "$0")/../lib/tap.sh"

[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces)"
for b in "$BH_CTL" "$BH_BUILD/bench/dp_load" "$BH_BUILD/bench/dp_sink" \
	 "$BH_BUILD/tests/tools/nft_apply" "$BH_BUILD/bench/dp_observe"; do
	[ -x "$b" ] || skip_all "$b not built (make tests)"
done

out=$(mktemp -d /tmp/bhdp-smoke.XXXXXX)
trap 'rm -rf "$out"' EXIT

timeout 240 bash "$BH_TOP/tests/bench/dataplane/run.sh" --smoke \
	--out "$out" >"$out/log" 2>&1
rc=$?
is "$rc" 0 "run.sh --smoke exits 0"
[ "$rc" -eq 0 ] || sed 's/^/# /' "$out/log" | tail -30

# field KEY LINE: the value of KEY=... in a results line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

for c in none ct ctobs bh1 bh1000 bh1000obs bh1000st iptmid iptend nftmid \
	 nftend bh1000x; do
	for p in tcp udp; do
		line=$(grep " config=$c proto=$p " "$out/results.txt" 2>/dev/null)
		done_n=$(field done "$line")
		e=$(field errors "$line") t=$(field timeouts "$line")
		bad=$(( ${e:-1} + ${t:-1} ))
		[ -n "$line" ] && [ "${done_n:-0}" -gt 0 ] && [ "$bad" -eq 0 ]
		ok $? "$c $p: ${done_n:-no} operations, ${bad} failed"
	done
done
grep -Eq '^run.sh: staged table alone: .* got 1 byte\(s\) back .* and [1-9][0-9]* packet\(s\) counted would-deny-staged' "$out/log"
ok $? "bh1000st's staged table judges traffic and only counts (its probe)"
last=$(tail -n 1 "$out/log")
printf '%s\n' "$last" | grep -Eq '^cpu/conn vs conntrack-only at 1000 groups: [0-9]+\.[0-9]{2}; conn rate vs iptables linear at 1000 groups: [0-9]+\.[0-9]x$'
ok $? "last line is the headline: $last"
done_testing
