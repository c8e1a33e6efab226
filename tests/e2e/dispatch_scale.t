#!/bin/bash
# The bit-set dispatch at scale, against the real kernel in a namespace of
# our own: 10,000 containers in 1,000 groups committed through netlink;
# `nft list ruleset | nft -c -f -` and a full list/flush/load round trip
# work on that host (nft 1.0.6); the kernel's bit sets send sampled
# containers to their own groups' chains; a policy with one group more
# than the dispatch can number is refused by a running daemon, whose table
# keeps enforcing. BH_DISPATCH_CONTAINERS=100000 runs the same at 100,000
# (by hand: about a minute more; docs/ruleset.md quotes that run).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dispatch.sh"
cd "$BH_TOP" || exit 1
command -v nft >/dev/null || skip_all "nft not installed"
ns_init
T="$BH_BUILD/tests/tools/nft_apply"
S=$(ns_name scale)
ip netns add "$S" || skip_all "cannot make a network namespace"
NS_NAMES+=("$S")
sx() { ip netns exec "$S" "$@"; }

# 1,000 groups, a ring of port flows between them, host ssh to all
{
	echo "version: 1"
	echo "settings: { log: { rate: 20/second } }"
	echo "groups:"
	for g in $(seq 0 999); do echo "  g$g: { match: { purpose: g$g } }"; done
	echo "flows:"
	for g in $(seq 0 999); do
		echo "  - { from: g$g, to: g$(((g + 1) % 1000)), ports: [tcp/8080, udp/53-54] }"
	done
	echo "  - { from: host, to: [$(seq -s, -f 'g%g' 0 999 | sed 's/,/, /g')], ports: [tcp/22] }"
} >"$NS_TMP/scale.yaml"
# 10,000 containers, ten per group, one IPv4 and one IPv6 address each
N=${BH_DISPATCH_CONTAINERS:-10000}
awk -v n="$N" 'BEGIN {
	print "["
	for (i = 0; i < n; i++)
		printf "%s{\"id\":\"c%d\",\"name\":\"c%d\",\"labels\":{\"bulkhead.purpose\":\"g%d\"},\"ips\":[\"10.%d.%d.%d\",\"fd10::%x:%x\"],\"ifname\":\"v%d\"}\n",
			i ? "," : "", i, i, i % 1000, 1 + int(i / 65536), int(i / 256) % 256, i % 256, 1 + int(i / 65536), i % 65536, i
	print "]"
}' >"$NS_TMP/scale.json"

sx "$T" "$NS_TMP/scale.yaml" "$NS_TMP/scale.json" 2>"$NS_TMP/err"
ok $? "$N containers x 1,000 groups: one netlink commit" ||
	sed 's/^/#   /' "$NS_TMP/err"
sx nft list ruleset >"$NS_TMP/list" 2>"$NS_TMP/err"
ok $? "nft list ruleset works on that host" || sed 's/^/#   /' "$NS_TMP/err"
sx nft -c -f - <"$NS_TMP/list" 2>"$NS_TMP/err"
ok $? "nft list ruleset | nft -c -f - accepts it" || sed 's/^/#   /' "$NS_TMP/err" | head
sx nft flush ruleset && sx nft -f "$NS_TMP/list" && sx nft list ruleset >"$NS_TMP/list2"
ok $? "flush and nft -f of the listing load it again"
cmp -s "$NS_TMP/list" "$NS_TMP/list2"
ok $? "and list the same ruleset"
is "$(grep -c '^	chain ' "$NS_TMP/list")" "$(grep -c '^	chain ' "$NS_TMP/list2")" \
	"(the same chains)"
grep -q 'vmap\|: goto\|: jump' "$NS_TMP/list"
is $? 1 "no element anywhere has a verdict for data"

# The kernel's own dispatch for a sample of containers: the group number
# its bit sets give, and the chain the tree's leaf with that number names.
kd_nft() { sx nft "$@"; }
KD_LIST=$NS_TMP/list
bad=0
for i in 0 1 7 999 1000 4242 5555 8191 9998 9999; do
	g=g$((i % 1000))
	a4=10.$((1 + i / 65536)).$((i / 256 % 256)).$((i % 256))
	a6=$(printf 'fd10::%x:%x' $((1 + i / 65536)) $((i % 65536)))
	got="$(kd_chain "$a4" v4 in) $(kd_chain "$a6" v6 out)"
	got="$got $(kd_port "v$i")"
	[ "$got" = "in_$g out_$g spoofed_$g" ] || {
		bad=$((bad + 1))
		diag "c$i: $got, want in_$g out_$g spoofed_$g"
	}
done
is "$bad" 0 "ten sampled containers: the kernel leads them to their own group's chains and counter"
is "$(kd_num 10.250.0.1 v4)" 0 "an address of no container is in no bit set"

# A delta right after a full commit this big: the writer gave the full
# batch back once sent (nft.c, batch_release), and the attach after it
# needs a new one.
echo '[{"id":"late","name":"late","labels":{"bulkhead.purpose":"g5"},"ips":["10.250.0.9"],"ifname":"vlate"}]' >"$NS_TMP/late.json"
sx "$T" "$NS_TMP/scale.yaml" "$NS_TMP/scale.json" --add "$NS_TMP/late.json" \
	2>"$NS_TMP/err"
ok $? "a full commit of $N containers, then an attach as a delta" ||
	sed 's/^/#   /' "$NS_TMP/err"
is "$(kd_chain 10.250.0.9 v4 in) $(kd_port vlate)" "in_g5 spoofed_g5" \
	"the kernel leads the attached container to g5's chain and counter"

# One label group more than the dispatch can number: the daemon refuses
# the reload and its table keeps enforcing.
ns_add web 10.77.0.11 ""
ns_add api 10.77.0.12 ""
cat >"$NS_TMP/policy.yaml" <<'Y'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
Y
bhd_start "$NS_TMP/policy.yaml" || { fail "bulkheadd starts"; done_testing; }
bhd_attach web bulkhead.purpose=web
bhd_attach api bulkhead.purpose=api
serve_tcp api 8080
serve_tcp web 8081
is "$(probe_want pass tcp web 10.77.0.12 8080)" pass "web -> api:8080 passes (declared)"
is "$(probe_deny web tcp api 10.77.0.11 8081)" drop "api -> web:8081 is dropped (undeclared)"
# counters and the log limiter's timers move on; the rest may not
ktable() {
	nft_host list table inet bulkhead | grep -v 'packets [0-9]* bytes' |
		sed 's/ expires [0-9a-z]*//g'
}
ktable >"$NS_TMP/before"
{
	echo "version: 1"
	echo "groups:"
	for g in $(seq 0 8189); do echo "  g$g: { match: { purpose: g$g } }"; done
} >"$NS_TMP/policy.yaml"
bhctl reload >"$NS_TMP/reload" 2>&1
ok $(($? == 0)) "a reload with 8,190 label groups fails"
grep -q "policy.yaml:8192:3: error: group 'g8189' is one too many: at most 8189 label groups fit" \
	"$NS_TMP/reload" "$BHD_LOG"
ok $? "and says where and why" || sed 's/^/#   /' "$NS_TMP/reload" | head -5
ktable >"$NS_TMP/after"
diff "$NS_TMP/before" "$NS_TMP/after" >"$NS_TMP/diff"
ok $? "the kernel's table is the one from before" ||
	sed 's/^/#   /' "$NS_TMP/diff" | head
is "$(probe_want pass tcp web 10.77.0.12 8080)" pass "the old policy still lets web -> api:8080 pass"
is "$(probe_deny web tcp api 10.77.0.11 8081)" drop "and still drops api -> web:8081"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
