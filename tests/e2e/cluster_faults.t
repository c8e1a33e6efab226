#!/bin/bash
# The cluster's faults against a real etcd: bad options change nothing; a
# lease revoked under a running daemon (keepalive 200 without TTL) is
# replaced and everything republished; a daemon stopped longer than its
# TTL leaves the other host's sets, and comes back with a new lease; a
# watch stalled past a compaction is cancelled with compact_revision and
# the host reads everything again, after which its remote membership
# equals etcd's, read back and compared.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cluster.sh"

command -v python3 >/dev/null || skip_all "python3 missing"
cl_init
cl_etcd_start || { fail "etcd starts"; done_testing; }
cl_web_api || exit 2

# bad options: a clear message, exit 2, no table
bad() { # WANT-IN-MESSAGE ARGS...
	local want=$1 out rc

	shift
	out=$(nsx hA "$BH_D" --policy "$NS_TMP/policy.yaml" --socket \
		"$NS_TMP/bad.sock" --state-dir "$NS_TMP/bad" --foreground "$@" 2>&1)
	rc=$?
	ok $([ $rc -ne 0 ] && [[ $out == *"$want"* ]]; echo $?) \
		"bulkheadd $* refused: $want" || diag "rc $rc: $out"
}
bad "not an http:// or https:// URL" --etcd ftp://x
bad "--etcd-ttl" --etcd "$CL_ETCD" --etcd-ttl 1
bad "need --etcd" --host-name x
bad "--etcd-ca" --etcd "$CL_ETCD" --etcd-ca /nonexistent.pem
bad "--etcd-cert and --etcd-key go together" --etcd "$CL_ETCD" --etcd-cert "$NS_TMP/policy.yaml"
bad "host name" --etcd "$CL_ETCD" --host-name "a/b"
bad "--etcd-prefix" --etcd "$CL_ETCD" --etcd-prefix nope
ok $(nsx hA nft list table inet bulkhead >/dev/null 2>&1; [ $? -ne 0 ]; echo $?) \
	"no table after the refusals"

cl_start hA "$NS_TMP/policy.yaml" --etcd-ttl 5 || { fail "daemon on A"; done_testing; }
cp "$NS_TMP/policy.yaml" "$NS_TMP/policyB.yaml"
cl_start hB "$NS_TMP/policyB.yaml" || { fail "daemon on B"; done_testing; }
cl_attach hA aweb bulkhead.purpose=web >/dev/null
cl_attach hB bapi bulkhead.purpose=api >/dev/null
cl_wait hB id-aweb; ok $? "B has aweb" || cl_log_diag hB
is "$(probe_want pass tcp aweb "${NS_ADDR4[bapi]}" 8080)" pass "web(A) -> api(B) passes"

# the lease revoked under A: its keys go from etcd (B drops aweb), A's
# next keepalive answers without TTL, A grants a new lease and publishes
# again
lease=$(clctl hA status --json | jq -r .cluster.lease)
det0=$(clctl hB status --json | jq -r .counters.detaches)
etcdctl_ lease revoke "$(printf '%x' "$lease")" >/dev/null
ok $? "A's lease revoked behind its back"
# A may put them back before a poll sees the gap: count B's detaches
for i in $(seq 200); do
	[ "$(clctl hB status --json | jq -r .counters.detaches)" -gt "$det0" ] && break
	sleep 0.1
done
ok $([ "$(clctl hB status --json | jq -r .counters.detaches)" -gt "$det0" ]; echo $?) \
	"B drops aweb when A's keys go"
cl_wait hB id-aweb 30; ok $? "A republished under a new lease: B has aweb again" || cl_log_diag hA
new=$(clctl hA status --json | jq -r .cluster.lease)
ok $([ "$new" != "$lease" ] && [ "$new" != 0 ]; echo $?) "A's lease is a new one ($lease -> $new)"
is "$(clctl hA status --json | jq -r '.cluster.counters.lease_lost')" 1 "A counted the lost lease"
is "$(probe_want pass tcp aweb "${NS_ADDR4[bapi]}" 8080)" pass "web(A) -> api(B) passes again"

# A stopped longer than its TTL (5 s): its lease expires, aweb leaves B's
# sets, and its packets meet B as the world's
cl_stop hA; ok $? "A stops"
cl_wait_gone hB id-aweb 40; ok $? "A's containers leave B once its TTL ran out"
aw4=${NS_ADDR4[aweb]}
ok $(nsx hB nft list ruleset | grep -qF "$aw4"; [ $? -ne 0 ]; echo $?) \
	"aweb's address is in none of B's sets"
is "$(probe_deny bapi tcp aweb "${NS_ADDR4[bapi]}" 8080)" drop \
	"web(A) -> api(B) drops at B while A is gone"
# A again: the kept lease expired, so a new one, and B has aweb again
cl_start hA "$NS_TMP/policy.yaml" --etcd-ttl 5 || fail "A restarts"
cl_wait hB id-aweb 30; ok $? "A back with a new lease: B has aweb again"
is "$(probe_want pass tcp aweb "${NS_ADDR4[bapi]}" 8080)" pass "web(A) -> api(B) passes again"

# a watch stalled past a compaction: B is stopped (SIGSTOP) while a
# third, simulated host writes ~30 MB of events, etcd compacts past B's
# position, B resumes; etcd cancels its watch with compact_revision and B
# reads the prefix again
compactions0=$(clctl hB status --json | jq -r .cluster.counters.compactions)
kill -STOP "${CL_PID[hB]}"
nsx etcd python3 - "$CL_ETCD" <<'PY'
import base64, json, sys, urllib.request
url = sys.argv[1]
def b(s): return base64.b64encode(s.encode()).decode()
pad = "x" * 4000
for rnd in range(300):
    ops = []
    for i in range(20):
        v = {"host": "hZ", "id": "z-%d" % i, "name": "z-%d" % i,
             "group": "web", "labels": {"bulkhead.purpose": "web",
             "pad": pad, "round": str(rnd)}, "labels_digest": "0"}
        ops.append({"request_put": {"key": b("/bulkhead/v1/addrs/10.99.0.%d" % (i + 1)),
                                     "value": b(json.dumps(v))}})
    # the last round leaves 10 of the 20
    if rnd == 299:
        ops = ops[:10] + [{"request_delete_range": {"key": b("/bulkhead/v1/addrs/10.99.0.%d" % (i + 1))}} for i in range(10, 20)]
    req = urllib.request.Request(url + "/v3/kv/txn", json.dumps({"success": ops}).encode(),
                                 {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=30).read()
PY
ok $? "300 rounds of churn written"
rev=$(etcdctl_ endpoint status -w json | jq -r '.[0].Status.header.revision')
etcdctl_ compact "$rev" >/dev/null; ok $? "compacted at revision $rev"
kill -CONT "${CL_PID[hB]}"

etcd_hz() {	# the addresses etcd has of host hZ
	etcdctl_ get --prefix /bulkhead/v1/addrs/ --print-value-only |
		jq -r 'select(.host == "hZ") | .name' | sort | tr '\n' ' '
}
b_hz() {	# the containers B has of host hZ
	clctl hB status --json | jq -r '.containers[] | select(.host == "hZ") | .name' |
		sort | tr '\n' ' '
}
# wait for B to be through the churn's events and in sync again
for i in $(seq 600); do
	st=$(clctl hB status --json 2>/dev/null | jq -r '[.cluster.state,
		.cluster.counters.compactions] | join(" ")')
	[ "${st% *}" = up ] && [ "${st#* }" -gt "$compactions0" ] && break
	sleep 0.1
done
c1=${st#* }
if [ "$c1" -gt "$compactions0" ] 2>/dev/null; then
	pass "B's watch was cancelled by the compaction and B read again"
else
	# etcd kept up with B's stalled stream this time (its buffers held
	# the churn): the comparison below still holds, but the path under
	# test did not run
	_tap_n=$((_tap_n + 1))
	echo "ok $_tap_n # SKIP etcd did not cancel B's watch (its buffers held the churn)"
fi
want=$(etcd_hz)
is "$(echo $want | wc -w)" 10 "etcd has 10 containers of hZ"
for i in $(seq 300); do
	[ "$(b_hz)" = "$want" ] && break
	sleep 0.1
done
is "$(b_hz)" "$want" "B's membership of hZ equals etcd's"
cl_wait hB id-aweb 30; ok $? "B still has aweb after the re-read"
is "$(probe_want pass tcp aweb "${NS_ADDR4[bapi]}" 8080)" pass "web(A) -> api(B) passes after it"

# a policy that differs between hosts: the host key carries its hash,
# and the other hosts warn
warns() { clctl hA status --json | jq -r '.cluster.warnings | join(";")'; }
is "$(warns)" "" "same policy everywhere: no warning"
cat >"$NS_TMP/policyB.yaml" <<'EOF2'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF2
clctl hB reload >/dev/null; ok $? "B reloads another policy"
for i in $(seq 100); do
	[ -n "$(warns)" ] && break
	sleep 0.1
done
ok $(warns | grep -q "host hB runs another policy"; echo $?) "A warns: $(warns)"
ok $(clctl hA status | grep -q "WARNING: host hB runs another policy"; echo $?) \
	"bulkheadctl status on A says it"
is "$(clctl hA hosts --json | jq -r '.hosts[] | select(.name == "hB") | .policy_differs')" \
	true "hosts on A marks hB"
is "$(clctl hA hosts --json | jq -r '.hosts[] | select(.name == "hB") | .bulkhead_version')" \
	"$("$BH_D" --version | awk '{ print $2 }')" \
	"hosts on A shows hB's bulkhead version (its host key carries it)"
clctl hA hosts | grep -q "^hB .* $("$BH_D" --version | awk '{ print $2 }') "
ok $? "  in the table too"
# A's keepalive rounds (every TTL/3 = 1.7 s) ask etcd for hB's lease
for i in $(seq 100); do
	ttl=$(clctl hA hosts --json | jq -r '.hosts[] | select(.name == "hB") | .lease_ttl_s')
	[ "$ttl" != null ] && break
	sleep 0.1
done
ok $([ "$ttl" -gt 0 ] && [ "$ttl" -le 60 ]; echo $?) "hosts on A shows hB's lease time left ($ttl s)"

cl_stop hA; ok $? "A stops cleanly" || cl_log_diag hA
cl_stop hB; ok $? "B stops cleanly" || cl_log_diag hB
done_testing
