#!/bin/bash
# Someone else changes bulkhead's tables (a firewall reload's `nft flush
# ruleset`, an admin's `nft delete table`, an inserted accept, an element
# added to an allow set): the daemon sees the transaction, names the
# process, and puts the whole table back. Its own commits (attach, reload)
# are not taken for tampering.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
ns_add db 10.77.0.31 fd77::31

cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
serve_tcp api 8080

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null
is "$(probe_want drop tcp db 10.77.0.21 8080)" drop "db -> api drops"

# counters.tamper_restored reaches N within 5 s
restored() {
	bhctl status --json | jq -r '.counters.tamper_restored'
}
wait_restored() {
	local i

	for i in $(seq 50); do
		[ "$(restored)" -ge "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
model=$(bhctl ruleset | grep -v '^[[:space:]]*size [0-9]*$')
same_table() { # the kernel's table equals the model again
	nft_host list table inet bulkhead >/dev/null 2>&1 || return 1
	diff <(echo "$model") <(bhctl ruleset | grep -v '^[[:space:]]*size [0-9]*$') \
		>/dev/null
}

# our own changes are not tampering
bhctl reload >/dev/null
bhd_attach web bulkhead.purpose=web >/dev/null
sleep 0.3
is "$(bhctl status --json | jq -c '[.counters.tamper_seen, .counters.tamper_restored, .last_tamper]')" \
	"[0,0,null]" "a reload and an attach of our own are not taken for tampering"

# 1. the table is deleted
t0=$(date +%s%N)
nft_host delete table inet bulkhead
for i in $(seq 500); do
	nft_host list table inet bulkhead >/dev/null 2>&1 && break
	sleep 0.01
done
diag "table back after $((($(date +%s%N) - t0) / 1000000)) ms (polled every 10 ms)"
wait_restored 1; ok $? "a deleted table is put back"
nft_host list table inet bulkhead >/dev/null 2>&1
ok $? "table inet bulkhead is in the kernel again"
is "$(probe_want drop tcp db 10.77.0.21 8080)" drop "db -> api drops again"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api passes"
bhctl status --json | jq -r '.last_tamper.by' | grep -q '^pid [0-9]* (nft)$'
ok $? "status names the process: $(bhctl status --json | jq -c .last_tamper)"
grep -q "was changed by pid [0-9]* (nft): put back" "$BHD_LOG"
ok $? "the log says who changed it"
bhctl status | grep -q '^TABLE CHANGED by pid [0-9]* (nft) at .*: put back (1 changes seen, 1 put back)$'
ok $? "so does bulkheadctl status"

# 2. a firewall reload flushes everything
nft_host flush ruleset
wait_restored 2; ok $? "a flushed ruleset is put back"
nft_host list table bridge bulkhead >/dev/null 2>&1
ok $? "the anti-spoofing table too"
is "$(probe_want drop tcp db 10.77.0.21 8080)" drop "db -> api drops after the flush"

# 3. a bypass rule inserted into our forward chain
nft_host insert rule inet bulkhead forward accept
wait_restored 3; ok $? "an inserted accept is noticed"
nft_host list chain inet bulkhead forward | grep -qx '[[:space:]]*accept'
is $? 1 "and removed"
is "$(probe_want drop tcp db 10.77.0.21 8080)" drop "db -> api drops"

# 4. an element slipped into an allow set: db may reach api's port
nft_host add element inet bulkhead allow_in_api_v4 '{ 10.77.0.31 . tcp . 8080 }'
wait_restored 4; ok $? "an added set element is noticed"
nft_host list set inet bulkhead allow_in_api_v4 | grep -q '10.77.0.31'
is $? 1 "and removed"
same_table; ok $? "the table equals the daemon's model"

# a table of someone else's is none of our business
nft_host add table inet other
nft_host add chain inet other c
sleep 0.3
is "$(restored)" 4 "changes to other tables are left alone"
is "$(bhctl status --json | jq '.counters.tamper_seen')" 4 "4 changes seen"

# a flood of notifications about someone else's table overflows the
# watcher's socket (the daemon is stopped meanwhile, so that it cannot
# keep up): it cannot know what it missed and puts its table back (a
# guess: not counted as a change seen)
{
	echo "table inet other { set big { type ipv4_addr; size 300000; elements = {"
	seq 0 199999 | awk '{ printf "10.%d.%d.%d,\n", int($1/65536), int($1/256)%256, $1%256 }'
	printf '10.255.255.255 }\n}\n}\n'
} >"$NS_TMP/flood.nft"
kill -STOP "$BHD_PID"
nft_host -f "$NS_TMP/flood.nft"
ok $? "200,000 elements loaded into another table"
kill -CONT "$BHD_PID"
wait_restored 5; ok $? "lost notifications: the table is put back"
grep -q "notifications were lost" "$BHD_LOG"; ok $? "and the log says why"
is "$(bhctl status --json | jq '.counters.tamper_seen')" 4 "a guess is not counted as a change seen"
same_table; ok $? "the table equals the daemon's model"

# a second bulkheadd on the same namespace with another policy: each puts
# back its own table; they must back off instead of committing in a loop
sed 's/to: api, ports/to: [api, db], ports/' "$NS_TMP/policy.yaml" >"$NS_TMP/p2.yaml"
full0=$(bhctl status --json | jq '.counters.commits_full')
mkdir -p "$NS_TMP/d2"
nsenter --net="$(ns_path host)" -- "$BH_D" --policy "$NS_TMP/p2.yaml" \
	--socket "$NS_TMP/d2/sock" --state-dir "$NS_TMP/d2" \
	--denied-log "$NS_TMP/d2/denied.jsonl" --foreground \
	>>"$NS_TMP/d2/log" 2>&1 &
d2=$!
sleep 4
full=$(($(bhctl status --json | jq '.counters.commits_full') - full0))
[ "$full" -le 12 ]; ok $? "two daemons on one table: $full restores in 4 s, not a loop"
grep -q "is another bulkheadd running" "$BHD_LOG"; ok $? "and the log asks whether another bulkheadd runs"
kill "$d2"; wait "$d2" 2>/dev/null
for i in $(seq 200); do	# the last backoff is at most 8 s here
	same_table && break
	sleep 0.1
done
same_table; ok $? "the other one gone, the daemon's table is back"

bhd_stop
ok $? "SIGTERM exits 0"
done_testing
