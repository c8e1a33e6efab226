#!/bin/bash
# The netlink writer against the real kernel, nsx a namespace of our own:
# full commits (twice), equality with `nft -f` of the printed text, a
# kernel error that leaves the previous table nsx force, element deltas,
# counters read back, delete.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/dispatch.sh"
cd "$BH_TOP" || exit 1
command -v nft >/dev/null || skip_all "nft not installed"
ns=bh-nftc-$$-$RANDOM
ns2=$ns-ref
tmp=$(mktemp -d /tmp/bh-nftc.XXXXXX)
cleanup() {
	ip netns del "$ns" 2>/dev/null
	ip netns del "$ns2" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$ns" || skip_all "cannot make a network namespace"
ip netns add "$ns2" || skip_all "cannot make a network namespace"
T="$BH_BUILD/tests/tools/nft_apply"
R=tests/policy/ruleset
nsx() { ip netns exec "$ns" "$@"; }
list() { nsx nft list ruleset; }
kd_nft() { nsx nft "$@"; }
elems() { kd_elems inet "$1" | sort; }	# elems SET

nsx "$T" $R/demo.yaml $R/demo.json --exists >"$tmp/ex" 2>"$tmp/err"
ok $? "full commit into an empty namespace"
is "$(cat "$tmp/ex")" "exists 1" "table inet bulkhead exists afterwards"
list >"$tmp/ours1"

# The kernel holds exactly what `nft -f` of the printed text gives.
for c in demo edges cidrs boundaries; do
	nsx "$T" $R/$c.yaml $R/$c.json
	list >"$tmp/$c.ours"
	ip netns exec "$ns2" nft flush ruleset
	ip netns exec "$ns2" nft -f $R/$c.nft
	ip netns exec "$ns2" nft list ruleset >"$tmp/$c.ref"
	diff -u "$tmp/$c.ref" "$tmp/$c.ours" >"$tmp/$c.diff"
	ok $? "$c: netlink commit == nft -f of bulkheadctl ruleset (nft list)"
	[ -s "$tmp/$c.diff" ] && sed 's/^/# /' "$tmp/$c.diff" | head -20
done

# Full replace over an existing table, twice, gives the same table.
nsx "$T" $R/demo.yaml $R/demo.json && nsx "$T" $R/demo.yaml $R/demo.json
ok $? "full replace twice over an existing table"
list >"$tmp/ours2"
diff -q "$tmp/ours1" "$tmp/ours2" >/dev/null
ok $? "the table is the same after replacing it"

# Going from the edges policy to demo drops edges' objects.
nsx "$T" $R/edges.yaml $R/edges.json && nsx "$T" $R/demo.yaml $R/demo.json
list | grep -q "c_nets_v4"
ok $((! $?)) "a replace removes what the old policy had"

# A kernel error changes nothing and names what failed.
list >"$tmp/before"
nsx "$T" $R/demo.yaml $R/demo.json --shrink-set bit2_v4 2>"$tmp/err"
is $? 1 "a batch the kernel refuses fails"
grep -q "elements to bit2_v4.*the set is full" "$tmp/err"
ok $? "the error names the set: $(cat "$tmp/err")"
list >"$tmp/after"
diff -q "$tmp/before" "$tmp/after" >/dev/null
ok $? "the previous table is still in force, unchanged"
nsx "$T" $R/demo.yaml $R/demo.json --bad-flow-rule 2>"$tmp/err"
is $? 1 "a refused rule fails the batch"
grep -q 'add rule to chain out_web "flow web->dns tests/policy/ruleset/demo.yaml:33:5"' "$tmp/err"
ok $? "the error names the chain and the YAML location: $(cat "$tmp/err")"
list >"$tmp/after"
diff -q "$tmp/before" "$tmp/after" >/dev/null
ok $? "and the previous table is unchanged"

# Deltas: attach, detach, relabel change only elements.
cat >"$tmp/add.json" <<'J'
[{"id":"a2","name":"api2","labels":{"bulkhead.purpose":"api"},"ips":["10.88.0.20","fd88::20"],"ifname":"veth9"}]
J
nsx "$T" $R/demo.yaml $R/demo.json --no-full --add "$tmp/add.json" 2>"$tmp/err"
ok $? "attach as a delta"
is "$(kd_chain 10.88.0.20 v4 in)" in_api "the kernel's bit sets send the address to in_api"
is "$(kd_chain fd88::20 v6 out)" out_api "and its IPv6 address from out_api"
is "$(kd_num fd88::20 v6)" "$(kd_num 10.88.0.4 v4)" \
	"its IPv6 address has api's number, as api's other members"
elems allow_in_metrics_v4 | grep -qx "10.88.0.20 . tcp . 9102"
ok $? "api's port flows: its address is in allow_in_metrics_v4"
elems allow_in_metrics_v6 | grep -qx "fd88::20 . tcp . 9100"
ok $? "and in allow_in_metrics_v6"
is "$(kd_port veth9)" spoofed_api "its port is guarded, counted as api's"
list | grep -c 'comment "flow' >"$tmp/nrules"
is "$(cat "$tmp/nrules")" "$(grep -c 'comment "flow' "$tmp/before")" "rules are untouched by a delta"

nsx "$T" $R/demo.yaml $R/demo.json --no-full --del w1 2>"$tmp/err"
ok $? "detach as a delta"
is "$(kd_num 10.88.0.2 v4)" 0 "its address left every bit set"
is "$(kd_num fd88::2 v6)" 0 "and its IPv6 address too"
elems allow_in_metrics_v4 | grep -q "^10.88.0.2 "
ok $((! $?)) "and the allow sets"
nsx "$T" $R/demo.yaml $R/demo.json --no-full --del w1 2>"$tmp/err"
is $? 1 "detaching what the kernel no longer has fails"
grep -q "no such element" "$tmp/err"
ok $? "and says so: $(cat "$tmp/err")"

nsx "$T" $R/demo.yaml $R/demo.json --no-full --relabel x1 bulkhead.purpose=web 2>"$tmp/err"
ok $? "relabel as one delta"
is "$(kd_chain 10.88.0.6 v4 in)" in_web "the container's address now goes to in_web"

# Counters: exact kernel counts. Host -> db container, a denied port.
nsx "$T" $R/demo.yaml $R/demo.json
nsx ip link add bhv0 type veth peer name bhv1
nsx ip addr add 10.88.0.1/24 dev bhv0
nsx ip link set bhv0 up
nsx ip link set bhv1 up
nsx ping -c 3 -i 0.2 -W 1 10.88.0.5 >/dev/null 2>&1
is $? 1 "host -> db ICMP is denied (no flow declares it)"
nsx "$T" $R/demo.yaml $R/demo.json --no-full --counters >"$tmp/ctr"
grep -qx "inet denied_in_db 3 252" "$tmp/ctr"
ok $? "denied_in_db counted exactly 3 packets: $(grep denied_in_db "$tmp/ctr")"
# A burst past settings.log.rate (20/second, burst 5): all counted as
# denied, the excess counted as unlogged (not sent to NFLOG).
# The bucket lets through at most 5 + 20/s of the burst's duration (plus
# two tokens of slack): a loaded machine that stretches the burst logs
# more, so the bound follows the measured duration.
t0=$(date +%s%N)
nsx ping -c 40 -i 0.002 -W 0.01 10.88.0.5 >/dev/null 2>&1
t1=$(date +%s%N)
nsx "$T" $R/demo.yaml $R/demo.json --no-full --counters >"$tmp/ctr"
grep -qx "inet denied_in_db 43 3612" "$tmp/ctr"
ok $? "denied_in_db counts every packet: $(grep denied_in_db "$tmp/ctr")"
u=$(awk '$2 == "unlogged_in_db" { print $3 }' "$tmp/ctr")
least=$((40 - 5 - 2 - 20 * (t1 - t0) / 1000000000))
[ $least -ge 1 ] || least=1
[ "${u:-0}" -ge $least ] && [ "$u" -le 38 ]
ok $? "the kernel rate limit kept $u of 40 from the log (at least $least in $(((t1 - t0) / 1000000)) ms)"
is "$(wc -l <"$tmp/ctr")" "$(grep -c '^	counter ' $R/demo.nft)" \
	"every counter of the model is read back"

# Audit mode (metrics): the packet is judged, logged and counted as
# "would deny", and passes. The metrics container's address sits on a
# local interface; from the host's 10.88.0.1 the echo request crosses
# output (in_metrics: the host may only use tcp/22) and is answered only
# if the audit deny chain lets it pass.
cat >"$tmp/m.json" <<'J'
[{"id":"m1","name":"metrics1","labels":{"bulkhead.purpose":"metrics"},"ips":["10.88.0.30"]}]
J
nsx "$T" $R/demo.yaml $R/demo.json --no-full --add "$tmp/m.json"
nsx ip addr add 10.88.0.30/32 dev bhv1
nsx ip link set lo up
nsx ping -c 2 -i 0.2 -W 1 -I 10.88.0.1 10.88.0.30 >/dev/null 2>&1
ok $? "ICMP to an audit-mode container passes"
nsx "$T" $R/demo.yaml $R/demo.json --no-full --counters >"$tmp/ctr"
[ "$(awk '$2 == "denied_in_metrics" { print $3 }' "$tmp/ctr")" -ge 1 ]
ok $? "and is counted as would-deny: $(grep denied_in_metrics "$tmp/ctr")"
nsx nft list chain inet bulkhead in_metrics | grep -q 'log prefix "bh/in/metrics/audit" group 4200 accept'
ok $? "logged with the audit prefix, then accepted"

nsx "$T" $R/demo.yaml $R/demo.json --no-full --delete --exists >"$tmp/ex"
ok $? "delete the tables"
is "$(cat "$tmp/ex")" "exists 0" "table inet bulkhead is gone"
nsx nft list table bridge bulkhead >/dev/null 2>&1
ok $((! $?)) "table bridge bulkhead is gone"
nsx "$T" $R/demo.yaml $R/demo.json --no-full --delete
ok $? "deleting absent tables is not an error"
done_testing
