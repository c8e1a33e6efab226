#!/bin/bash
# Three hosts through a real etcd: each daemon publishes its containers and
# enforces the others'. Declared cross-host flows pass and undeclared ones
# drop in both directions, IPv4 and IPv6, recorded on the side that
# dropped with the remote container and its host; a container attached on
# A is enforced on B; kill -9 and restart of A's daemon within the TTL
# changes nothing on B; etcd stopped: B still enforces and says stale, and
# a container attached on A meanwhile is denied and recorded on B; etcd
# back: B reads again without a full commit and the container propagates.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cluster.sh"

cl_init
cl_etcd_start || { fail "etcd starts"; done_testing; }
cl_host hA 1 || exit 2
cl_host hB 2 || exit 2
cl_host hC 3 || exit 2
cl_add hA aweb 2 || exit 2
cl_add hA adb 3 || exit 2
cl_add hA aweb2 4 || exit 2
cl_add hB bapi 2 || exit 2
cl_add hB bdb 3 || exit 2
cl_add hC cdb 2 || exit 2

cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
settings: { log: { window: 1s } }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
  - { from: api, to: db, ports: [tcp/5432] }
EOF2
serve_tcp bapi 8080
serve_tcp adb 5432
serve_tcp bdb 5432
serve_tcp aweb 80
serve_tcp cdb 5432

cl_start hA "$NS_TMP/policy.yaml" || { fail "daemon on A"; done_testing; }
cl_start hB "$NS_TMP/policy.yaml" || { fail "daemon on B"; done_testing; }
cl_start hC "$NS_TMP/policy.yaml" || { fail "daemon on C"; done_testing; }
cl_attach hA aweb bulkhead.purpose=web >/dev/null
cl_attach hA adb bulkhead.purpose=db >/dev/null
cl_attach hB bapi bulkhead.purpose=api >/dev/null
cl_attach hB bdb bulkhead.purpose=db >/dev/null
cl_attach hC cdb bulkhead.purpose=db >/dev/null

cl_wait hB id-aweb; ok $? "B has A's web container" || cl_log_diag hB
cl_wait hB id-adb; ok $? "B has A's db container"
cl_wait hA id-bapi; ok $? "A has B's api container" || cl_log_diag hA
cl_wait hA id-cdb; ok $? "A has C's db container"
cl_wait hC id-bapi; ok $? "C has B's api container" || cl_log_diag hC
is "$(clctl hB status --json | jq -r '.containers[] | select(.id == "id-aweb") |
	[.source, .host, .group, .ifname] | join(",")')" "remote,hA,web," \
	"on B, aweb is remote, of host hA, in group web, without a port"
is "$(clctl hB status --json | jq -r '.cluster | [.state, .stale,
	.remote_per_host.hA, .remote_per_group.web] | join(",")')" \
	"up,false,4,2" "B's status: up, not stale, 4 endpoints of hA, 2 in web"

A4() { echo "${NS_ADDR4[$1]}"; }
A6() { echo "${NS_ADDR6[$1]}"; }

# declared, both directions of the pair of hosts
is "$(probe_want pass tcp aweb "$(A4 bapi)" 8080)" pass "web(A) -> api(B) tcp/8080 IPv4"
is "$(probe_want pass tcp aweb "$(A6 bapi)" 8080)" pass "web(A) -> api(B) tcp/8080 IPv6"
is "$(probe_want pass tcp bapi "$(A4 adb)" 5432)" pass "api(B) -> db(A) tcp/5432 IPv4"
is "$(probe_want pass tcp bapi "$(A6 adb)" 5432)" pass "api(B) -> db(A) tcp/5432 IPv6"
# undeclared: db(A) -> api(B) drops at A (the source side), api(B) ->
# web(A) drops at B
is "$(probe_deny aweb tcp adb "$(A4 bapi)" 8080)" drop "db(A) -> api(B) tcp/8080 IPv4 drops"
is "$(probe_deny aweb tcp adb "$(A6 bapi)" 8080)" drop "db(A) -> api(B) tcp/8080 IPv6 drops"
is "$(probe_deny aweb tcp bapi "$(A4 aweb)" 80)" drop "api(B) -> web(A) tcp/80 IPv4 drops"
is "$(probe_deny aweb tcp bapi "$(A6 aweb)" 80)" drop "api(B) -> web(A) tcp/80 IPv6 drops"

# the third host: api(B) -> db(C) passes, web(A) -> db(C) drops at A
is "$(probe_want pass tcp bapi "$(A4 cdb)" 5432)" pass "api(B) -> db(C) tcp/5432 IPv4"
is "$(probe_want pass tcp bapi "$(A6 cdb)" 5432)" pass "api(B) -> db(C) tcp/5432 IPv6"
is "$(probe_deny bapi tcp aweb "$(A4 cdb)" 5432)" drop "web(A) -> db(C) tcp/5432 IPv4 drops"
is "$(probe_deny bapi tcp aweb "$(A6 cdb)" 5432)" drop "web(A) -> db(C) tcp/5432 IPv6 drops"

# records where it was dropped, naming the remote side and its host
rec() { # HOST DSTIP PORT -> "action,src name,dst name,dst host"
	local i r

	for i in $(seq 100); do
		r=$(jq -r --arg ip "$2" --argjson p "$3" 'select(.destination.ip
			== $ip and .destination.port == $p) | [.event.action,
			.source.container.name, .destination.container.name,
			(.destination.container.host // "-")] | join(",")' \
			"$NS_TMP/$1/denied.jsonl" 2>/dev/null | head -1)
		[ -n "$r" ] && break
		sleep 0.1
	done
	echo "$r"
}
is "$(rec hA "$(A4 bapi)" 8080)" "deny,adb,bapi,hB" "A recorded db -> api(B), naming host hB"
is "$(rec hB "$(A4 aweb)" 80)" "deny,bapi,aweb,hA" "B recorded api -> web(A), naming host hA"
is "$(jq -r 'select(.destination.ip == "'"$(A4 aweb)"'") | .event.action' \
	"$NS_TMP/hA/denied.jsonl" 2>/dev/null | head -1)" "" \
	"A has no record of what B dropped"
ok $(clctl hB denials --file "$NS_TMP/hB/denied.jsonl" | grep -q "aweb@hA"; echo $?) \
	"bulkheadctl denials on B shows the remote container as aweb@hA"
is "$(clctl hB explain --from "$(A4 bapi)" --to "$(A4 aweb)" --port tcp/80 --json |
	jq -r '[.verdict, .dst.container.name, .dst.container.host] | join(",")')" \
	"deny,aweb,hA" "explain on B names aweb and its host"

# a container attached on A is enforced on B: its flow to api passes
# once B has it (before, B judged it as coming from the world)
t0=$(date +%s%N)
cl_attach hA aweb2 bulkhead.purpose=web >/dev/null
got=drop
for i in $(seq 100); do
	[ "$(PROBE_TIMEOUT=0.3 probe tcp aweb2 "$(A4 bapi)" 8080)" = pass ] &&
		{ got=pass; break; }
done
t1=$(date +%s%N)
is "$got" pass "a container attached on A reaches api on B"
diag "propagation A attach -> B enforcing, polled: $(( (t1 - t0) / 1000000 )) ms"

# kill -9 of A's daemon and a restart within the TTL: nothing on B changes
setsnap() { _nft_ours hB; }
before_sets=$(setsnap)
before_lease=$(clctl hA status --json | jq -r .cluster.lease)
before_commits=$(clctl hB status --json | jq -r '.counters.commits_full + .counters.commits_delta')
cl_kill9 hA
cl_start hA "$NS_TMP/policy.yaml" || fail "A's daemon restarts"
for i in $(seq 100); do
	[ "$(clctl hA status --json | jq -r .cluster.state)" = up ] && break
	sleep 0.1
done
is "$(clctl hA status --json | jq -r .cluster.lease)" "$before_lease" \
	"A took its lease back after kill -9"
sleep 1	# A republishes; B must see no change
ok $([ "$(setsnap)" = "$before_sets" ]; echo $?) "B's table unchanged by A's kill -9 + restart"
is "$(clctl hB status --json | jq -r '.counters.commits_full + .counters.commits_delta')" \
	"$before_commits" "B committed nothing for it"
is "$(probe_want pass tcp aweb "$(A4 bapi)" 8080)" pass "web(A) -> api(B) still passes"

# etcd stopped: B keeps enforcing what it knew and says stale since when;
# a container attached on A meanwhile is unknown on B: denied, recorded
cl_detach hA aweb2 >/dev/null
cl_wait_gone hB id-aweb2; ok $? "a detach on A leaves B"
full0=$(clctl hB status --json | jq -r .counters.commits_full)
cl_etcd_stop
for i in $(seq 300); do
	[ "$(clctl hB status --json | jq -r .cluster.stale)" = true ] && break
	sleep 0.1
done
is "$(clctl hB status --json | jq -r '.cluster.stale')" true "B says stale with etcd down"
ok $(clctl hB status --json | jq -en 'input | (.cluster.stale_since | test("^20"))' >/dev/null; echo $?) \
	"and since when"
ok $(clctl hB status | grep -qi "stale since"; echo $?) "bulkheadctl status says it"
is "$(probe_want pass tcp aweb "$(A4 bapi)" 8080)" pass "etcd down: web(A) -> api(B) passes"
is "$(probe_deny aweb tcp adb "$(A4 bapi)" 8080)" drop "etcd down: db(A) -> api(B) drops"
ok $(cl_has hB id-aweb; echo $?) "etcd down: B keeps A's containers"
cl_attach hA aweb2 bulkhead.purpose=web >/dev/null
is "$(probe_deny aweb tcp aweb2 "$(A4 bapi)" 8080)" drop \
	"etcd down: web aweb2 attached on A meanwhile is unknown on B, denied"
srcrec() { # HOST SRCIP DSTPORT -> action of its first record
	local i r

	for i in $(seq 100); do
		r=$(jq -r --arg ip "$2" --argjson p "$3" 'select(.source.ip == $ip
			and .destination.port == $p) | .event.action' \
			"$NS_TMP/$1/denied.jsonl" 2>/dev/null | head -1)
		[ -n "$r" ] && break
		sleep 0.1
	done
	echo "$r"
}
is "$(srcrec hB "$(A4 aweb2)" 8080)" deny "and B recorded it"

# etcd back: B reads everything again (a delta, never the whole table)
# and gets aweb2; a detach on A then leaves B again
cl_etcd_start || fail "etcd restarts"
cl_wait hB id-aweb2; ok $? "etcd back: B has aweb2"
is "$(clctl hB status --json | jq -r '.cluster.stale')" false "B is in sync again"
is "$(clctl hB status --json | jq -r .counters.commits_full)" "$full0" \
	"etcd back: B's re-read made no full commit"
is "$(probe_want pass tcp aweb2 "$(A4 bapi)" 8080)" pass "etcd back: aweb2 reaches api on B"
cl_detach hA aweb2 >/dev/null
cl_wait_gone hB id-aweb2; ok $? "etcd back: a detach on A leaves B"
is "$(probe_deny aweb tcp aweb2 "$(A4 bapi)" 8080)" drop "aweb2, detached on A, no longer reaches api on B"

hosts=$(clctl hB hosts --json)
is "$(echo "$hosts" | jq -r '[.hosts[].name] | sort | join(",")')" "hA,hB,hC" "hosts lists all three"
is "$(echo "$hosts" | jq -r '.hosts[] | select(.name == "hA") | .containers')" 2 "hA has 2 containers"
ok $(clctl hB hosts | grep -q "^hA"; echo $?) "bulkheadctl hosts prints a table"

cl_stop hA; ok $? "A stops cleanly" || cl_log_diag hA
cl_stop hB; ok $? "B stops cleanly" || cl_log_diag hB
cl_stop hC; ok $? "C stops cleanly" || cl_log_diag hC
done_testing
