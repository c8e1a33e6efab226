#!/bin/bash
# Data-plane benchmark: connection rate and CPU per connection through
# bulkhead's table vs no rules, conntrack only, and Docker-style linear
# chains (iptables-nft and nft). See docs/benchmarks.md, "data plane".
#
#   run.sh [--smoke] [--rounds N] [--duration SEC] [--udp-duration SEC]
#          [--warmup SEC] [--conc N] [--configs LIST] [--out DIR]
#   run.sh --gen DIR   only write the policies, inventories and tables to
#                      DIR (no namespaces, no traffic)
#   run.sh --report DIR  print the tables again from DIR/results.txt
#
# Topology (all in namespaces named bhdp<pid>…, removed on exit):
#   client netns  c0 10.99.0.1/24 + the 2,000 traffic container addresses
#        |  veth (host side "vc")
#   host netns    bridge br0, br_netfilter on (bridge-nf-call-iptables=1 in
#        |        this namespace only): the tables under test sit on the
#        |        inet/ip forward hook here
#   server netns  s0 10.99.0.2/24 + the 10 addresses of group srv
# Container addresses: group gNNN (N = 0..998) holds 10.200.0.0/18 + 16*N
# + 1..10; group srv holds 10.201.0.1..10. The load uses the containers of
# g000..g199 as sources (2,000 addresses) and srv as destinations.
#
# Configurations (each round runs all of them in shuffled order):
#   none      no rules at all (no conntrack either)
#   ct        conntrack only: `ct state established,related accept` on the
#             forward hook at bulkhead's priority
#   bh1       bulkhead, 1 group (the 2,010 containers in one group, intra)
#   bh1000    bulkhead, 1,000 groups / 10,000 containers (g000..g998 each
#             with a flow to srv on tcp/5000 and udp/5000)
#   iptmid    iptables-nft, Docker style: one rule per container/group
#   iptend    permission (and port), 19,980 rules; the rules the traffic
#             matches sit in the middle (mid) or at the end (end)
#   nftmid    the same linear rules written in nft
#   nftend
#   ctobs     ct plus bulkheadd's allowed-flow observations: conntrack
#             accounting on and the observer (observe.c, run alone by
#             dp_observe with the bh1000 policy and inventory) following
#             every NEW and DESTROY event
#   bh1000obs bh1000 plus the same observations
#   ctobs0    ctobs with the observer program DP_OBSERVE_BASE (a
#             dp_observe built from an earlier commit): before and after
#             of an observer change, side by side in the same rounds
#   bh1000st  bh1000 plus a staged candidate of the same 1,000 groups
#             (issue 14, "live staging"): a second table, inet
#             bulkhead_staged, at a later forward priority, holding the
#             candidate's shadow judgement: bulkheadctl ruleset of the
#             policy with every group in audit mode, its inet table
#             only, every drop turned into accept and every log prefix
#             into .../would-deny-staged. Each new connection walks both
#             tables' dispatch
#   bh1000x   a what-if, labelled as such in the results: the bh1000
#             table with in_srv's per-flow rules (one per source group,
#             port and family) replaced by one
#             `ip saddr . meta l4proto . th dport` set lookup, to show what
#             that ruleset change would buy; not what bulkhead ships
#   bh1000nb  what-ifs, only on request: bh1000 without the bridge
#   bh1000eb  table (no anti-spoofing), and with its prerouting chain
#             emptied (the hook without its rules), to tell the cost of
#             the dispatch and the group chains from that of the
#             per-packet anti-spoofing hook and lookup
# Every configuration runs with short conntrack timeouts in the host
# namespace (TCP close 1 s, UDP 1 s and 2 s), so that the connections of a
# measurement also end (DESTROY events) inside it.
# Defaults: 10 rounds, TCP 4 s and UDP 2 s per configuration after a 1 s
# warm-up each, 64 operations in flight, every configuration but ctobs0,
# bh1000nb and bh1000eb (only on request: --configs); --smoke is 1
# round of 1 s each without warm-up. Results: --out DIR (default
# $BH_BUILD/bench/dataplane): results.txt, machine.txt, summary.txt
# (observer.txt: the observer's status after each of its runs); the
# last line printed is the headline (bh1000 vs ct and vs iptmid).
# The bulkhead tables are programmed by bulkhead's own netlink writer (nft.c,
# one batch, as bulkheadd does at start) through tests/tools/nft_apply
# POLICY INVENTORY; no daemon process competes for the 2 CPUs during the
# measurement. `bulkheadctl ruleset` prints the same model (--gen).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top=$(cd "$here/../../.." && pwd)
BH_BUILD=${BH_BUILD:-build}
case "$BH_BUILD" in /*) ;; *) BH_BUILD="$top/$BH_BUILD" ;; esac
CTL="$BH_BUILD/bulkheadctl"
LOAD="$BH_BUILD/bench/dp_load"
SINK="$BH_BUILD/bench/dp_sink"
OBS="$BH_BUILD/bench/dp_observe"
APPLY="$BH_BUILD/tests/tools/nft_apply"

DEFAULT_CONFIGS="none ct ctobs bh1 bh1000 bh1000obs bh1000st iptmid iptend nftmid nftend bh1000x"
ALL_CONFIGS="$DEFAULT_CONFIGS ctobs0 bh1000nb bh1000eb"
rounds=10 duration=4 udp_duration=2 warmup=1 conc=64 smoke=0
configs=$DEFAULT_CONFIGS out="" gen_only="" report_only=""
N_GROUPS=999		# client groups g000..g998; srv makes 1,000
PER_GROUP=10		# containers per group: 9,990 + 10 = 10,000
T_GROUPS=200		# groups whose containers are the traffic sources
PORT=5000
STAGED_PRIO="filter - 5"	# bh1000st: after the enforcing table (filter - 10)

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
	case "$1" in
	--smoke) smoke=1 rounds=1 duration=1 udp_duration=1 warmup=0 ;;
	--rounds) rounds=$2; shift ;;
	--duration) duration=$2; shift ;;
	--udp-duration) udp_duration=$2; shift ;;
	--warmup) warmup=$2; shift ;;
	--conc) conc=$2; shift ;;
	--configs) configs=${2//,/ }; shift ;;
	--out) out=$2; shift ;;
	--gen) gen_only=$2; shift ;;
	--report) report_only=$2; shift ;;
	-h|--help) usage; exit 0 ;;
	*) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
	esac
	shift
done
for v in "$rounds" "$duration" "$udp_duration" "$warmup" "$conc"; do
	case "$v" in
	''|*[!0-9]*) echo "run.sh: '$v' is not a number" >&2; exit 2 ;;
	esac
done
case "$gen_only$report_only: $configs " in
:*" ctobs0 "*) [ -x "${DP_OBSERVE_BASE:-}" ] || {
	echo "run.sh: ctobs0 needs DP_OBSERVE_BASE, an earlier build's dp_observe" >&2
	exit 2; } ;;
esac
for c in $configs; do
	case " $ALL_CONFIGS " in
	*" $c "*) ;;
	*) echo "run.sh: unknown configuration '$c' (known: $ALL_CONFIGS)" >&2
	   exit 2 ;;
	esac
done
if [ -n "$gen_only" ]; then
	[ -x "$CTL" ] || { echo "run.sh: $CTL missing: run make first" >&2; exit 2; }
	mkdir -p "$gen_only"
	work=$(cd "$gen_only" && pwd)
fi
[ -n "$gen_only$report_only" ] || [ "$(id -u)" -eq 0 ] ||
	{ echo "run.sh: needs root (namespaces)" >&2; exit 2; }
[ -n "$gen_only$report_only" ] || for b in "$CTL" "$LOAD" "$SINK" "$APPLY" "$OBS"; do
	[ -x "$b" ] || { echo "run.sh: $b missing: run make first" >&2; exit 2; }
done
[ -n "$gen_only$report_only" ] || for t in ip nft iptables-nft-restore conntrack shuf awk timeout; do
	command -v "$t" >/dev/null ||
		{ echo "run.sh: '$t' not found (tools/deps.sh)" >&2; exit 2; }
done

P=bhdp$$
H=$P-host C=$P-cli S=$P-srv
[ -n "$gen_only$report_only" ] || work=$(mktemp -d "/tmp/$P.XXXXXX")
[ -n "$out" ] || out=$BH_BUILD/bench/dataplane
sink_pid="" obs_pid=""

cleanup() {
	stop_observer
	if [ -n "$sink_pid" ]; then
		kill "$sink_pid" 2>/dev/null || true
		wait "$sink_pid" 2>/dev/null || true
	fi
	for ns in "$C" "$S" "$H"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$work"
}
[ -n "$gen_only$report_only" ] || trap cleanup EXIT
trap 'exit 130' INT TERM

hx() { ip netns exec "$H" "$@"; }
say() { printf '%s\n' "$*" >&2; }

# ---- inputs: addresses, policies, inventories, linear rules ---------------
# One awk program writes every file, so the address plan exists once.
gen() {
	awk -v NG="$N_GROUPS" -v PG="$PER_GROUP" -v TG="$T_GROUPS" \
	    -v PORT="$PORT" -v D="$work" '
	function addr(g, j,   n) { n = g * 16 + j + 1
		return sprintf("10.200.%d.%d", int(n / 256), n % 256) }
	function gname(g) { return sprintf("g%03d", g) }
	function srvaddr(j) { return sprintf("10.201.0.%d", j + 1) }
	# Every container gets its own host-side interface name, as behind
	# a real bridge (bulkhead keys its anti-spoofing map on it). The
	# names exist only in the inventory: the traffic really enters the
	# bridge through the one client port "vc" (see docs/benchmarks.md).
	function inv(f, id, purpose, ip, ifn, first) {
		printf("%s{\"id\":\"%s\",\"name\":\"%s\",\"labels\":" \
		       "{\"bulkhead.purpose\":\"%s\"},\"ips\":[\"%s\"]," \
		       "\"ifname\":\"%s\"}\n", first ? "" : ",", id, id,
		       purpose, ip, ifn) > f }
	# the permission rules of one group, iptables and nft syntax
	function linear(g,   j, a) {
		for (j = 0; j < PG; j++) {
			a = addr(g, j)
			for (k = 1; k <= 2; k++) {
				p = k == 1 ? "tcp" : "udp"
				printf("-A FORWARD -s %s/32 -d 10.201.0.0/28 " \
				       "-p %s -m %s --dport %d -j ACCEPT\n",
				       a, p, p, PORT) > IPT
				printf("\t\tip saddr %s ip daddr 10.201.0.0/28 " \
				       "%s dport %d accept\n", a, p, PORT) > NFT
			}
		}
	}
	BEGIN {
		for (g = 0; g < TG; g++)
			for (j = 0; j < PG; j++)
				print addr(g, j) > (D "/src.txt")
		for (j = 0; j < PG; j++)
			print srvaddr(j) > (D "/dst.txt")
		for (g = 0; g < NG; g++)
			for (j = 0; j < PG; j++)
				print addr(g, j) > (D "/clients.txt")
		close(D "/clients.txt")

		# 1 group: every traffic container and srv in "bench"
		f = D "/p1.yaml"
		print "version: 1\nsettings:\n  unassigned: deny\ngroups:" > f
		print "  bench:\n    match: { purpose: bench }\n    intra: allow" > f
		f = D "/inv1.json"; print "[" > f
		for (g = 0; g < TG; g++)
			for (j = 0; j < PG; j++)
				inv(f, sprintf("c%s-%d", gname(g), j), "bench",
				    addr(g, j), sprintf("p%d", g * PG + j),
				    g == 0 && j == 0)
		for (j = 0; j < PG; j++)
			inv(f, "srv-" j, "bench", srvaddr(j), "ps" j, 0)
		print "]" > f

		# 1,000 groups: g000..g998 and srv, 10 containers each
		f = D "/p1000.yaml"
		print "version: 1\nsettings:\n  unassigned: deny\ngroups:" > f
		for (g = 0; g < NG; g++)
			printf("  %s:\n    match: { purpose: %s }\n",
			       gname(g), gname(g)) > f
		# flows in the order of the "mid" linear chain: the flows of the
		# traffic groups in the middle, as their rules are there
		print "  srv:\n    match: { purpose: srv }\nflows:" > f
		half = int((NG - TG) / 2)
		for (i = 0; i < NG; i++) {
			g = i < half ? TG + i : i < half + TG ? i - half : i
			printf("  - { from: %s, to: srv, ports: [tcp/%d, " \
			       "udp/%d] }\n", gname(g), PORT, PORT) > f
		}
		f = D "/inv1000.json"; print "[" > f
		for (g = 0; g < NG; g++)
			for (j = 0; j < PG; j++)
				inv(f, sprintf("c%s-%d", gname(g), j), gname(g),
				    addr(g, j), sprintf("p%d", g * PG + j),
				    g == 0 && j == 0)
		for (j = 0; j < PG; j++)
			inv(f, "srv-" j, "srv", srvaddr(j), "ps" j, 0)
		print "]" > f

		# linear chains; traffic groups g000..g(TG-1) placed in the
		# middle (mid) or at the end (end) of the other groups
		for (v = 0; v < 2; v++) {
			IPT = D "/ipt" (v ? "end" : "mid") ".rules"
			NFT = D "/nft" (v ? "end" : "mid") ".nft"
			print "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]" > IPT
			print ":OUTPUT ACCEPT [0:0]" > IPT
			print "-A FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" > IPT
			print "-A FORWARD -m conntrack --ctstate INVALID -j DROP" > IPT
			print "table inet bhdp_linear {\n\tchain forward {" > NFT
			print "\t\ttype filter hook forward priority filter; policy accept;" > NFT
			print "\t\tct state established,related accept" > NFT
			print "\t\tct state invalid drop" > NFT
			before = v ? NG - TG : half
			for (g = TG; g < TG + before; g++)
				linear(g)
			for (g = 0; g < TG; g++)
				linear(g)
			for (g = TG + before; g < NG; g++)
				linear(g)
			print "-A FORWARD -j DROP\nCOMMIT" > IPT
			print "\t\tdrop\n\t}\n}" > NFT
			close(IPT); close(NFT)
		}
	}'
}

# ---- the tables under test --------------------------------------------------
build_tables() {
	local n prio
	for n in 1 1000; do
		if ! "$CTL" ruleset "$work/p$n.yaml" --inventory "$work/inv$n.json" \
			>"$work/bh$n.nft" 2>"$work/bh$n.err"; then
			say "run.sh: bulkheadctl ruleset failed for $n group(s):"
			sed 's/^/  /' "$work/bh$n.err" | head -20 >&2
			return 1
		fi
	done
	whatif "$work/bh1000.nft"
	staged || return 1
	# conntrack-only sits at the same hook and priority as bulkhead's
	# forward base chain
	prio=$(awk '/type filter hook forward priority/ {
		sub(/.*priority[ \t]+/, ""); sub(/;.*/, ""); print; exit }' \
		"$work/bh1000.nft")
	[ -n "$prio" ] || { say "run.sh: no forward base chain in bulkhead's table"; return 1; }
	echo "$prio" >"$work/prio"
	printf 'table inet bhdp_ct {\n\tchain forward {\n\t\ttype filter hook forward priority %s; policy accept;\n\t\tct state established,related accept\n\t}\n}\n' \
		"$prio" >"$work/ct.nft"
}

# bh1000x: in_srv's flow rules, each a set lookup in the group of one
# source, become one lookup in a set of (address, protocol, port) of
# every container its flows admit; the rest of the table is unchanged.
# whatif TABLE-TEXT: from the printed table (--gen) or from the kernel's
# listing of the table the writer programmed (a run).
whatif() {
	awk -v PORT="$PORT" -v EL="$work/clients.txt" '
	/^\tchain in_srv \{$/ {
		print "\tset wf_in_srv_v4 {"
		print "\t\ttype ipv4_addr . inet_proto . inet_service"
		print "\t\telements = {"
		n = 0
		while ((getline a < EL) > 0)
			for (k = 0; k < 2; k++)
				printf("%s\t\t\t%s . %s . %d", n++ ? ",\n" : "",
				       a, k ? "udp" : "tcp", PORT)
		print "\n\t\t}\n\t}"
		print "\tset wf_in_srv_v6 {"
		print "\t\ttype ipv6_addr . inet_proto . inet_service\n\t}"
		print; insrv = 1; next
	}
	insrv && /^\t}$/ { insrv = 0 }
	insrv && /saddr @g_g[0-9]+_v[46] (tcp|udp) dport/ { next }
	# before the first of the deny rules that end the chain
	insrv && !denied && /counter name "denied_in_srv"/ {
		print "\t\tip saddr . meta l4proto . th dport @wf_in_srv_v4 accept"
		print "\t\tip6 saddr . meta l4proto . th dport @wf_in_srv_v6 accept"
		denied = 1
	}
	{ print }' "$1" >"$work/bh1000x.nft"
}

# bh1000st's second table: the staged candidate's shadow judgement. The
# same policy with every group in audit mode (ruleset.c's deny_rules then
# end each group's chain in accept), printed by bulkheadctl ruleset; of
# it only the inet table (the bridge table's anti-spoofing judges no
# connection), renamed, hooked after the enforcing table (a packet the
# enforcing table drops never reaches it), and nothing in it may drop:
# the remaining drops (unassigned, quarantine, ct invalid) become accept
# and every log prefix says would-deny-staged.
staged() {
	awk '{ print } /^    match:/ { print "    mode: audit" }' \
		"$work/p1000.yaml" >"$work/p1000audit.yaml"
	if ! "$CTL" ruleset "$work/p1000audit.yaml" \
		--inventory "$work/inv1000.json" >"$work/bh1000audit.nft" \
		2>"$work/bh1000audit.err"; then
		say "run.sh: bulkheadctl ruleset failed for the staged candidate:"
		sed 's/^/  /' "$work/bh1000audit.err" | head -20 >&2
		return 1
	fi
	awk -v PRIO="$STAGED_PRIO" '
	/^table inet bulkhead \{$/ { print "table inet bulkhead_staged {"; t = 1; next }
	/^table / { t = 0 }
	!t { next }
	/type filter hook / { sub(/priority [^;]*;/, "priority " PRIO ";") }
	{ sub(/ drop$/, " accept")
	  gsub(/log prefix "bh\/[^"\/]*\/[^"]*\/(deny|audit)"/, "&@")
	  while (match($0, /\/(deny|audit)"@/))
		$0 = substr($0, 1, RSTART) "would-deny-staged\"" \
		     substr($0, RSTART + RLENGTH)
	  print }' "$work/bh1000audit.nft" >"$work/bh1000st.nft"
	if grep -q ' drop$' "$work/bh1000st.nft" ||
	   ! grep -q 'would-deny-staged"' "$work/bh1000st.nft" ||
	   [ "$(grep -c 'type filter hook' "$work/bh1000st.nft")" -lt 1 ]; then
		say "run.sh: the staged table is not what it should be"
		return 1
	fi
}

# apply N: bulkhead's writer programs the N-group table (its policy
# warnings, such as the 1-group policy's lone group, only on failure)
apply() {
	hx "$APPLY" "$work/p$1.yaml" "$work/inv$1.json" >/dev/null \
		2>"$work/apply.err" || { cat "$work/apply.err" >&2; return 1; }
}

# the allowed-flow observer, as bulkheadd runs it (it turns accounting on);
# $1: another build of it (ctobs0)
start_observer() {
	local i obs=${1:-$OBS}
	# not through hx: a backgrounded function is a subshell, and $!
	# must be the observer itself (ip netns exec execs it), to stop it
	# and to count its CPU
	ip netns exec "$H" "$obs" "$work/p1000.yaml" "$work/inv1000.json" \
		"$work/flows.jsonl" >"$work/obs.out" 2>"$work/obs.err" &
	obs_pid=$!
	for i in $(seq 100); do
		grep -q ready "$work/obs.out" 2>/dev/null && return 0
		sleep 0.1
	done
	say "run.sh: dp_observe did not start:"; cat "$work/obs.err" >&2
	return 1
}

stop_observer() {
	[ -n "$obs_pid" ] || return 0
	kill "$obs_pid" 2>/dev/null || true
	wait "$obs_pid" 2>/dev/null || true
	obs_pid=""
	# its last line: the events it saw (the benchmark's evidence that
	# it followed the load)
	tail -n 1 "$work/obs.out" >>"$work/obs.status" 2>/dev/null || true
}

load_config() {
	case "$1" in
	none) ;;
	ct) hx nft -f "$work/ct.nft" ;;
	ctobs) hx nft -f "$work/ct.nft" && start_observer ;;
	ctobs0) hx nft -f "$work/ct.nft" && start_observer "$DP_OBSERVE_BASE" ;;
	bh1) apply 1 ;;
	bh1000) apply 1000 ;;
	bh1000nb) apply 1000 && hx nft delete table bridge bulkhead ;;
	bh1000eb) apply 1000 && hx nft flush chain bridge bulkhead prerouting ;;
	bh1000obs) apply 1000 && start_observer ;;
	bh1000st) apply 1000 && hx nft -f "$work/bh1000st.nft" ;;
	bh1000x) hx nft -f "$work/bh1000x.nft" ;;
	iptmid) hx iptables-nft-restore <"$work/iptmid.rules" ;;
	iptend) hx iptables-nft-restore <"$work/iptend.rules" ;;
	nftmid) hx nft -f "$work/nftmid.nft" ;;
	nftend) hx nft -f "$work/nftend.nft" ;;
	esac
}

# Evidence that bh1000st's second table judges traffic and only counts:
# the staged table alone, a TCP exchange with srv from the client's own
# address (no container: the candidate would deny it) must pass and be
# counted in the staged table's denied_* counters.
staged_probe() {
	local got n
	hx nft -f "$work/bh1000st.nft" || return 1
	got=$(timeout 10 ip netns exec "$C" bash -c \
		'exec 3<>/dev/tcp/10.201.0.1/'"$PORT"' && printf x >&3 &&
		 head -c 1 <&3' 2>/dev/null | wc -c) || got=0
	n=$(hx nft list counters table inet bulkhead_staged |
		awk '/counter denied_/ { d = 1; next }
		     d && /packets/ { s += $2; d = 0 } END { print s + 0 }')
	unload_config
	say "run.sh: staged table alone: an exchange the candidate would deny got $got byte(s) back (want 1) and $n packet(s) counted would-deny-staged (want > 0)"
	[ "$got" -eq 1 ] && [ "$n" -gt 0 ] ||
		{ say "run.sh: the staged table did not judge-and-pass"; return 1; }
}

# nft's view covers iptables-nft's tables too: one flush empties the
# host namespace; then forget the previous configuration's flows.
unload_config() {
	stop_observer
	hx sysctl -qw net.netfilter.nf_conntrack_acct=0 2>/dev/null || true
	hx nft flush ruleset
	hx conntrack -F >/dev/null 2>&1 || true
}

# ---- namespaces -------------------------------------------------------------
setup_netns() {
	local cmac smac
	ip netns add "$H"
	ip netns add "$C"
	ip netns add "$S"
	hx ip link set lo up
	hx ip link add br0 type bridge
	hx ip link set br0 up
	hx sysctl -qw net.bridge.bridge-nf-call-iptables=1
	[ "$(hx sysctl -n net.bridge.bridge-nf-call-iptables)" = 1 ] ||
		{ say "run.sh: br_netfilter not available"; return 1; }
	hx ip link add vc type veth peer name c0 netns "$C"
	hx ip link add vs type veth peer name s0 netns "$S"
	hx ip link set vc master br0 up
	hx ip link set vs master br0 up

	ip -n "$C" link set lo up
	ip -n "$C" addr add 10.99.0.1/24 dev c0
	ip -n "$C" link set c0 up
	awk '{ print "addr add " $1 "/32 dev c0" }' "$work/src.txt" |
		ip -n "$C" -batch -
	ip -n "$S" link set lo up
	ip -n "$S" addr add 10.99.0.2/24 dev s0
	ip -n "$S" link set s0 up
	awk '{ print "addr add " $1 "/32 dev s0" }' "$work/dst.txt" |
		ip -n "$S" -batch -
	ip -n "$C" route add 10.201.0.0/24 via 10.99.0.2
	ip -n "$S" route add 10.200.0.0/16 via 10.99.0.1
	# static neighbours: no ARP in the measurement, and none for a
	# table to have an opinion about
	cmac=$(ip -n "$C" -br link show c0 | awk '{ print $3 }')
	smac=$(ip -n "$S" -br link show s0 | awk '{ print $3 }')
	ip -n "$C" neigh replace 10.99.0.2 lladdr "$smac" dev c0 nud permanent
	ip -n "$S" neigh replace 10.99.0.1 lladdr "$cmac" dev s0 nud permanent
	ip netns exec "$C" sysctl -qw net.ipv4.ip_local_port_range="1024 65000"
	ip netns exec "$S" sysctl -qw net.core.somaxconn=4096
	ip netns exec "$S" sysctl -qw net.ipv4.tcp_max_syn_backlog=4096
	# conntrack exists once a table uses it: load it, then shorten the
	# timeouts (this namespace only) so that connections end in their
	# measurement
	hx nft -f "$work/ct.nft" && hx nft flush ruleset
	hx sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_close=1 \
		net.netfilter.nf_conntrack_tcp_timeout_time_wait=1 \
		net.netfilter.nf_conntrack_udp_timeout=1 \
		net.netfilter.nf_conntrack_udp_timeout_stream=2
}

start_sink() {
	ip netns exec "$S" "$SINK" --port "$PORT" >"$work/sink.out" 2>&1 &
	sink_pid=$!
	local i
	for i in $(seq 50); do
		grep -q ready "$work/sink.out" 2>/dev/null && return 0
		sleep 0.1
	done
	say "run.sh: dp_sink did not start:"; cat "$work/sink.out" >&2
	return 1
}

# run_load ROUND CONFIG PROTO SECS: one measurement, appended to results
run_load() {
	local line args p
	args=(--src "$work/src.txt" --dst "$work/dst.txt" --port "$PORT"
	      --proto "$3" --conc "$conc" --warmup "$warmup" --duration "$4"
	      --pid "$sink_pid")
	for p in $softirqd; do args+=(--pid "$p"); done
	# the observer's own CPU is part of what observations cost
	[ -z "$obs_pid" ] || args+=(--pid "$obs_pid")
	if ! line=$(timeout $((warmup + $4 + 30)) \
		ip netns exec "$C" "$LOAD" "${args[@]}"); then
		say "run.sh: dp_load failed ($2 $3)"
		return 1
	fi
	printf 'round=%s config=%s %s\n' "$1" "$2" "$line" >>"$out/results.txt"
	say "  $(printf '%-7s' "$2") $line"
}

# ---- analysis -----------------------------------------------------------------
# Per configuration and protocol: median rate and CPU per operation over
# the rounds, and the median (min..max) of the per-round ratios to
# conntrack-only of the same round. Last line: the two headline ratios.
report() {
	awk -v CONFIGS="$configs" '
	function kv(s,   i, n, a, p) {
		delete F
		n = split(s, a, " ")
		for (i = 1; i <= n; i++) {
			p = index(a[i], "=")
			F[substr(a[i], 1, p - 1)] = substr(a[i], p + 1)
		}
	}
	function sortv(arr, n,   i, j, t) {
		for (i = 2; i <= n; i++) {
			t = arr[i]
			for (j = i - 1; j >= 1 && arr[j] > t; j--)
				arr[j + 1] = arr[j]
			arr[j + 1] = t
		}
	}
	function median(arr, n) {
		sortv(arr, n)
		return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
	}
	# stats over vals["key",1..n]: sets MED MIN MAX N
	function stats(key,   n, v, r) {
		n = 0
		for (r = 1; r <= NR_ROUNDS; r++)
			if ((key, r) in V) v[++n] = V[key, r]
		N = n
		if (!n) { MED = MIN = MAX = "-"; return }
		MED = median(v, n); MIN = v[1]; MAX = v[n]
	}
	{
		kv($0)
		r = F["round"] + 0; c = F["config"]; p = F["proto"]
		if (r > NR_ROUNDS) NR_ROUNDS = r
		V["rate", c, p, r] = F["rate"]
		V["cpu", c, p, r] = F["cpu_us_per_op"]
		V["own", c, p, r] = F["own_cpu_us_per_op"]
		V["err", c, p, r] = F["errors"] + F["timeouts"]
		DONE[c, p] += F["done"]
	}
	END {
		nc = split(CONFIGS, cf, " ")
		for (r = 1; r <= NR_ROUNDS; r++)
			for (i = 1; i <= nc; i++)
				for (pi = 1; pi <= 2; pi++) {
					c = cf[i]; p = pi == 1 ? "tcp" : "udp"
					if (("cpu", "ct", p, r) in V && ("cpu", c, p, r) in V &&
					    V["cpu", "ct", p, r] > 0)
						V["rcpu", c, p, r] = V["cpu", c, p, r] / V["cpu", "ct", p, r]
					if (("own", "ct", p, r) in V && ("own", c, p, r) in V &&
					    V["own", "ct", p, r] > 0)
						V["rown", c, p, r] = V["own", c, p, r] / V["own", "ct", p, r]
					if (("rate", "ct", p, r) in V && ("rate", c, p, r) in V &&
					    V["rate", "ct", p, r] > 0)
						V["rrate", c, p, r] = V["rate", c, p, r] / V["rate", "ct", p, r]
				}
		for (pi = 1; pi <= 2; pi++) {
			p = pi == 1 ? "tcp" : "udp"
			unit = p == "tcp" ? "conn" : "exch"
			printf("\n%s (%s: %s), %d round(s): medians over rounds; " \
			       "ratios to conntrack-only of the same round: median " \
			       "[min..max]; cpu us = machine busy (/proc/stat) per " \
			       "%s; own us = load+sink+ksoftirqd per %s\n",
			       toupper(p), unit, p == "tcp" ? \
			       "connect, 1 byte each way, RST" : \
			       "1-byte request/answer, 16 per flow", NR_ROUNDS,
			       unit, unit)
			printf("%-8s %9s %9s %22s %22s %9s %22s %6s\n", "config",
			       unit "/s", "cpu us", "cpu vs ct",
			       "rate vs ct", "own us", "own vs ct", "failed")
			for (i = 1; i <= nc; i++) {
				c = cf[i]
				stats("rate" SUBSEP c SUBSEP p); rate = MED
				stats("cpu" SUBSEP c SUBSEP p); cpu = MED
				stats("rcpu" SUBSEP c SUBSEP p)
				rc = N ? sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX) : "-"
				stats("rrate" SUBSEP c SUBSEP p)
				rr = N ? sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX) : "-"
				stats("own" SUBSEP c SUBSEP p); own = MED
				stats("rown" SUBSEP c SUBSEP p)
				ro = N ? sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX) : "-"
				e = 0
				for (r = 1; r <= NR_ROUNDS; r++) e += V["err", c, p, r]
				if (rate == "-") continue
				printf("%-8s %9.0f %9.2f %22s %22s %9.2f %22s %6d\n", c,
				       rate, cpu, rc, rr, own, ro, e)
			}
		}
		# observations on: vs conntrack-only, and bh1000obs vs bh1000,
		# machine-wide (cpu) and own (load+sink+ksoftirqd+observer)
		for (pi = 1; pi <= 2; pi++) {
			p = pi == 1 ? "tcp" : "udp"
			stats("rcpu" SUBSEP "ctobs" SUBSEP p)
			if (!N)
				continue
			oc = sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX)
			stats("rown" SUBSEP "ctobs" SUBSEP p)
			oo = sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX)
			for (r = 1; r <= NR_ROUNDS; r++)
				if (("own", "bh1000obs", p, r) in V &&
				    ("own", "bh1000", p, r) in V &&
				    V["own", "bh1000", p, r] > 0)
					V["ob" p, r] = V["own", "bh1000obs", p, r] / V["own", "bh1000", p, r]
			stats("ob" p)
			ob = N ? sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX) : "n/a"
			printf("observations on (%s): vs conntrack-only cpu %s, own %s; " \
			       "bh1000 with them vs without, own %s\n", p, oc, oo, ob)
		}
		# a staged candidate (issue 14): bh1000st vs conntrack-only and
		# vs the enforcing table alone, per round, machine-wide and own
		for (pi = 1; pi <= 2; pi++) {
			p = pi == 1 ? "tcp" : "udp"
			stats("rcpu" SUBSEP "bh1000st" SUBSEP p)
			if (!N)
				continue
			sc = sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX)
			stats("rown" SUBSEP "bh1000st" SUBSEP p)
			so = sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX)
			for (r = 1; r <= NR_ROUNDS; r++)
				if (("own", "bh1000st", p, r) in V &&
				    ("own", "bh1000", p, r) in V &&
				    V["own", "bh1000", p, r] > 0)
					V["sb" p, r] = V["own", "bh1000st", p, r] / V["own", "bh1000", p, r]
			stats("sb" p)
			sb = N ? sprintf("%.3f [%.3f..%.3f]", MED, MIN, MAX) : "n/a"
			printf("staged candidate of 1000 groups (%s): vs conntrack-only " \
			       "cpu %s, own %s; vs the enforcing table alone, own %s\n",
			       p, sc, so, sb)
		}
		# headline: bulkhead 1,000 groups vs conntrack-only (CPU) and
		# vs the iptables chain with the matching rules mid-chain (rate)
		for (r = 1; r <= NR_ROUNDS; r++)
			if (("rate", "bh1000", "tcp", r) in V &&
			    ("rate", "iptmid", "tcp", r) in V &&
			    V["rate", "iptmid", "tcp", r] > 0)
				V["hl", r] = V["rate", "bh1000", "tcp", r] / V["rate", "iptmid", "tcp", r]
		for (r = 1; r <= NR_ROUNDS; r++)
			if (("rate", "bh1000x", "tcp", r) in V &&
			    ("rate", "iptmid", "tcp", r) in V &&
			    V["rate", "iptmid", "tcp", r] > 0)
				V["hlx", r] = V["rate", "bh1000x", "tcp", r] / V["rate", "iptmid", "tcp", r]
		stats("rcpu" SUBSEP "bh1000x" SUBSEP "tcp")
		if (N) {
			xc = sprintf("%.2f [%.2f..%.2f]", MED, MIN, MAX)
			stats("hlx")
			printf("\nbh1000x is a what-if, not the shipped ruleset: bh1000 " \
			       "with in_srv as one set lookup.\n  what-if: cpu/conn vs " \
			       "conntrack-only %s; conn rate vs iptables linear " \
			       "%.1fx [%.2f..%.2f]\n", xc, MED, MIN, MAX)
		}
		stats("rcpu" SUBSEP "bh1000" SUBSEP "tcp")
		hc = N ? sprintf("%.2f", MED) : "n/a"
		hcs = N ? sprintf("%.3f..%.3f", MIN, MAX) : "n/a"
		stats("hl")
		hr = N ? sprintf("%.1fx", MED) : "n/a"
		hrs = N ? sprintf("%.2f..%.2f", MIN, MAX) : "n/a"
		printf("\nspread over rounds: cpu/conn ratio %s; rate ratio %s\n",
		       hcs, hrs)
		printf("cpu/conn vs conntrack-only at 1000 groups: %s; " \
		       "conn rate vs iptables linear at 1000 groups: %s\n", hc, hr)
	}' "$out/results.txt"
}

if [ -n "$report_only" ]; then
	out=$report_only
	report
	exit
fi

# ---- main ---------------------------------------------------------------------
say "run.sh: generating policies, inventories and linear rule sets in $work"
gen
build_tables
if [ -n "$gen_only" ]; then
	say "run.sh: wrote $(ls "$work" | tr '\n' ' ')"
	exit 0
fi
mkdir -p "$out"
say "run.sh: bulkhead tables: $(grep -c . "$work/bh1.nft") and $(grep -c . "$work/bh1000.nft") lines; linear chains: $(grep -c -- '-j ACCEPT$' "$work/iptmid.rules") permission rules; forward priority $(cat "$work/prio")"
setup_netns
start_sink
# the what-if starts from the table the writer really programs
load_config bh1000
hx nft list ruleset >"$work/bh1000.list"
unload_config
whatif "$work/bh1000.list"
case " $configs " in *" bh1000st "*) staged_probe ;; esac
say "run.sh: bulkhead's writer programmed $(grep -c . "$work/bh1000.list") lines for 1,000 groups ($(grep -c . "$work/bh1000.nft") printed by bulkheadctl ruleset); in_srv: $(awk '/chain in_srv/,/^\t}/' "$work/bh1000.list" | grep -c accept) accept rules"
# the threads that run deferred softirq work: part of "own" CPU
softirqd=$(for d in /proc/[0-9]*; do
	case "$(cat "$d/comm" 2>/dev/null)" in
	ksoftirqd/*) echo "${d#/proc/}" ;;
	esac
done | head -n 15)
: >"$out/results.txt"
{
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "kernel: $(uname -r)"
	echo "nproc: $(nproc)"
	echo "cpu: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
	echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "args: rounds=$rounds duration=$duration udp_duration=$udp_duration warmup=$warmup conc=$conc"
} >"$out/machine.txt"

# Busy share of both CPUs over 1 s with no benchmark traffic: what the
# rest of the machine was doing around this round (/proc/stat is global).
background() {
	local a b
	a=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6; exit }' /proc/stat)
	sleep 1
	b=$(awk '/^cpu / { print $2+$3+$4+$7+$8+$9, $5+$6; exit }' /proc/stat)
	echo "$a $b" | awk '{ busy = $3 - $1; all = busy + $4 - $2
		printf("%.0f%%", all ? 100 * busy / all : 0) }'
}

for r in $(seq "$rounds"); do
	order=$(printf '%s\n' $configs | shuf | tr '\n' ' ')
	bg=$(background)
	echo "round $r: background busy $bg of all CPUs (1 s, no traffic); order: $order" >>"$out/machine.txt"
	say "round $r/$rounds (background busy $bg): $order"
	for c in $order; do
		unload_config
		load_config "$c"
		run_load "$r" "$c" tcp "$duration"
		hx conntrack -F >/dev/null 2>&1 || true
		run_load "$r" "$c" udp "$udp_duration"
	done
	unload_config
done
echo "loadavg at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# what the observer saw in each ctobs/bh1000obs measurement (its status)
cp "$work/obs.status" "$out/observer.txt" 2>/dev/null || true
cat "$out/machine.txt"
report | tee "$out/summary.txt"
