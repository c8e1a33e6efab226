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
  # five ports: past RS_ALLOW_RULES_MAX, so api has an allow set to tamper
  # with (below)
  - { from: web, to: api, ports: [tcp/8080, tcp/8081, tcp/8082, tcp/8083, tcp/8084] }
EOF
serve_tcp api 8080

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null
# every drop below is shown against web -> api:8080, which passes
is "$(probe_deny web tcp db 10.77.0.21 8080)" drop "db -> api drops"

# set sizes are recomputed from the contents at a full commit: not state
unsized() { grep -v '^[[:space:]]*size [0-9]*$'; }
model=$(bhctl ruleset | unsized)
bhctl ruleset >"$NS_TMP/model.start"
# same_table [-q]: the kernel holds the daemon's model, and the model is
# the one the daemon started with
same_table() {
	kernel_matches_model "$@" || return 1
	diff <(echo "$model") <(unsized <"$NS_TMP/km.model") >/dev/null
}
# wait_drained: positive evidence that the daemon has read every nftables
# notification sent so far: its watcher socket (netfilter netlink with
# group NFNLGRP_NFTABLES, bit 0x40) exists and has nothing queued (15 s)
mon_rmem() {
	nsx host cat /proc/net/netlink |
		while read -r _ eth _ groups rmem _; do
			[ "$eth" = 12 ] && (( 0x$groups & 0x40 )) && echo "$rmem"
		done
}
wait_drained() {
	local i

	for i in $(seq 150); do
		[ "$(mon_rmem)" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}

# our own changes are not tampering
commits() {
	bhctl status --json | jq '.counters.commits_full + .counters.commits_delta'
}
c0=$(commits)
bhctl reload >/dev/null
bhctl detach --id id-web >/dev/null
bhd_attach web bulkhead.purpose=web >/dev/null
is "$(($(commits) - c0))" 3 "a reload, a detach and an attach of our own: 3 commits"
wait_drained; ok $? "the daemon has read the notifications of its own commits"
is "$(bhctl status --json | jq -c '[.counters.tamper_seen, .counters.tamper_restored, .last_tamper]')" \
	"[0,0,null]" "a reload, a detach and an attach of our own are not taken for tampering"

# 1. the table is deleted
nft_host delete table inet bulkhead
bhd_wait_counter tamper_restored 1; ok $? "a deleted table is put back"
nft_host list table inet bulkhead >/dev/null 2>&1
ok $? "table inet bulkhead is in the kernel again"
same_table; ok $? "  the daemon's table, as its model says"
is "$(probe_deny web tcp db 10.77.0.21 8080)" drop "db -> api drops again"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api passes"
bhctl status --json | jq -r '.last_tamper.by' | grep -q '^pid [0-9]* (nft)$'
ok $? "status names the process: $(bhctl status --json | jq -c .last_tamper)"
grep -q "was changed by pid [0-9]* (nft): put back" "$BHD_LOG"
ok $? "the log says who changed it"
bhctl status | grep -q '^TABLE CHANGED by pid [0-9]* (nft) at .*: put back (1 changes seen, 1 put back)$'
ok $? "so does bulkheadctl status"

# 2. a firewall reload flushes everything
nft_host flush ruleset
bhd_wait_counter tamper_restored 2; ok $? "a flushed ruleset is put back"
nft_host list table bridge bulkhead >/dev/null 2>&1
ok $? "the anti-spoofing table too"
same_table; ok $? "  both as the daemon's model says"
is "$(probe_deny web tcp db 10.77.0.21 8080)" drop "db -> api drops after the flush"

# 3. a bypass rule inserted into our forward chain
nft_host insert rule inet bulkhead forward accept
bhd_wait_counter tamper_restored 3; ok $? "an inserted accept is noticed"
nft_host list chain inet bulkhead forward | grep -qx '[[:space:]]*accept'
is $? 1 "and removed"
same_table; ok $? "  the table is the daemon's model again"
is "$(probe_deny web tcp db 10.77.0.21 8080)" drop "db -> api drops"

# 4. an element slipped into an allow set: db may reach api's port. Added
# while the daemon is stopped, it shows the kernel check can fail.
kill -STOP "$BHD_PID"
nft_host add element inet bulkhead allow_in_api_v4 '{ 10.77.0.31 . tcp . 8080 }'
kernel_matches_model -q "$NS_TMP/model.start"
is $? 1 "the kernel check sees the element the model lacks"
kill -CONT "$BHD_PID"
bhd_wait_counter tamper_restored 4; ok $? "an added set element is noticed"
nft_host list set inet bulkhead allow_in_api_v4 | grep -q '10.77.0.31'
is $? 1 "and removed"
same_table; ok $? "the kernel holds the daemon's model, which did not change"

# a table of someone else's is none of our business
nft_host add table inet other
nft_host add chain inet other c
wait_drained; ok $? "the daemon has read the notifications of the other table"
is "$(bhd_counter tamper_restored)" 4 "changes to other tables are left alone"
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
bhd_wait_counter tamper_restored 5; ok $? "lost notifications: the table is put back"
grep -q "notifications were lost" "$BHD_LOG"; ok $? "and the log says why"
is "$(bhctl status --json | jq '.counters.tamper_seen')" 4 "a guess is not counted as a change seen"
same_table; ok $? "the kernel holds the daemon's model, which did not change"

# lost again within GUESS_RESTORE_MS (10 s) of that guess, and this time
# the loss hides an element slipped into our table: a guess that soon is
# deferred, but the table must still be put back (not merely found there)
sed 's/inet other/inet other2/' "$NS_TMP/flood.nft" >"$NS_TMP/flood2.nft"
kill -STOP "$BHD_PID"
nft_host -f "$NS_TMP/flood2.nft"
nft_host add element inet bulkhead allow_in_api_v4 '{ 10.77.0.31 . tcp . 8080 }'
kill -CONT "$BHD_PID"
bhd_wait_counter tamper_restored 6; ok $? "lost notifications again: the table is put back"
same_table; ok $? "the kernel holds the daemon's model, without the element"

# a second bulkheadd on the same namespace with another policy: each puts
# back its own table; they must back off instead of committing in a loop
sed 's/to: api, ports/to: [api, db], ports/' "$NS_TMP/policy.yaml" >"$NS_TMP/p2.yaml"
mkdir -p "$NS_TMP/d2"
from=$(($(wc -l <"$BHD_LOG") + 1))
nsenter --net="$(ns_path host)" -- "$BH_D" --policy "$NS_TMP/p2.yaml" \
	--socket "$NS_TMP/d2/sock" --state-dir "$NS_TMP/d2" \
	--denied-log "$NS_TMP/d2/denied.jsonl" \
	--flow-log "$NS_TMP/d2/flows.jsonl" --foreground \
	>>"$NS_TMP/d2/log" 2>&1 &
d2=$!
# not a loop: one of the two (whichever the other outwaits) doubles its
# wait before each restore. delays LOG: the waits it logged since d2
# started, in order (ours logged some for the changes above already)
delays() {
	tail -n +"$2" "$1" 2>/dev/null | grep -o 'putting it back in [0-9]* ms' |
		awk '{ print $5 }' | tr '\n' ' '
}
doubling() { # three waits in a row, each twice the one before
	echo "$1" | awk '{ for (i = 3; i <= NF; i++)
		if ($i == 2 * $(i - 1) && $(i - 1) == 2 * $(i - 2)) exit 0
		exit 1 }'
}
backed_off() {
	doubling "$(delays "$BHD_LOG" "$from")" ||
		doubling "$(delays "$NS_TMP/d2/log" 1)"
}
end=$((SECONDS + 90))
until backed_off || [ $SECONDS -ge $end ]; do
	sleep 0.2
done
backed_off
ok $? "two daemons on one table back off, each wait double the last: not a loop" ||
	diag "waits logged: ours: $(delays "$BHD_LOG" "$from"); the other's: $(delays "$NS_TMP/d2/log" 1)"
tail -n +"$from" "$BHD_LOG" | grep -q "is another bulkheadd running"
ok $? "and the log asks whether another bulkheadd runs"
kill "$d2"; wait "$d2"
ok $? "the other bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	sed 's/^/#   /' "$NS_TMP/d2/log" | tail -20
# our last wait may have doubled up to 60 s (RESTORE_MAX_MS)
end=$((SECONDS + 90))
until same_table -q || [ $SECONDS -ge $end ]; do
	sleep 0.2
done
same_table; ok $? "the other one gone, the daemon's table is back"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
