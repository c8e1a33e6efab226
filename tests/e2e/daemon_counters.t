#!/bin/bash
# The kernel's named counters (denied_*, unlogged_*, spoofed_*) are the
# evidence of what was denied; a full commit replaces the whole table, and
# the counters must come through it: a reload (control socket, SIGHUP), a
# restore after someone deleted or flushed the table, a daemon restart. A
# group the new policy drops takes its counts with it. Counted bursts of
# denied datagrams (each from a fresh source port) are sent while nothing
# else runs, so every count is exact; last, a stream runs during reloads
# and what it loses is bounded by what was sent while they ran
# (docs/daemon.md, "Counters").
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add_web_api_db
policy_web_api_db "$NS_TMP/a.yaml"
echo "  - { from: web, to: api, ports: [udp/9000] }" >>"$NS_TMP/a.yaml"
# api is gone: its container falls to unassigned
cat >"$NS_TMP/b.yaml" <<'EOF'
version: 1
settings: { log: { window: 1s } }
groups:
  web: { match: { purpose: web } }
  db:  { match: { purpose: database } }
flows:
  - { from: web, to: db, ports: [tcp/5432] }
EOF
cp "$NS_TMP/a.yaml" "$NS_TMP/policy.yaml"

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null

# "packets bytes" of counter KIND of GROUP, from bulkheadctl status
# ("- -" when the group or the counter is not there)
ctr() {
	bhctl status --json | jq -r --arg g "$1" --arg k "$2" '
		[.groups[] | select(.name == $g) | .counters[$k]] | first |
		if . then "\(.packets) \(.bytes)" else "- -" end'
}
# waits (bounded) until counter KIND of GROUP shows WANT packets; prints
# "packets bytes" as last read
ctr_wait() {
	local i c

	for i in $(seq 50); do
		c=$(ctr "$1" "$2")
		[ "${c%% *}" = "$3" ] && break
		sleep 0.1
	done
	echo "$c"
}
# N denied datagrams from web to DST:PORT, in the foreground
burst() {
	udp_stream web "$1" "$2" "$3" 0 >"$NS_TMP/burst.sent"
	is "$(cat "$NS_TMP/burst.sent")" "sent $3" "sent $3 datagrams to $1:$2"
}

# the denied path counts: nothing reaches db's port, all of it is counted
serve_udp db 9100
r=$(probe_deny db udp web 10.77.0.31 9100)
is "$r" drop "web -> db udp/9100 is denied (probe_deny)"
base=$(ctr db denied_in)
base=${base%% *}
[ "$base" -ge 1 ] 2>/dev/null; ok $? "the probe was counted in denied_in_db ($base)"
burst 10.77.0.31 9100 50
db1=$(ctr_wait db denied_in $((base + 50)))
is "${db1%% *}" $((base + 50)) "denied_in_db counted all 50"
burst 10.77.0.21 9200 30
api1=$(ctr_wait api denied_in 30)
is "${api1%% *}" 30 "denied_in_api counted all 30"

# 1. a reload over the control socket: the same counts, bytes too
bhctl reload >/dev/null; ok $? "reload"
is "$(ctr db denied_in)" "$db1" "denied_in_db survives the reload ($db1)"
is "$(ctr api denied_in)" "$api1" "denied_in_api survives the reload ($api1)"
burst 10.77.0.31 9100 20
db2=$(ctr_wait db denied_in $((${db1%% *} + 20)))
is "${db2%% *}" $((${db1%% *} + 20)) "and counts on: before + 20"

# 2. SIGHUP
n=$(bhd_counter reloads)
kill -HUP "$BHD_PID"
bhd_wait_counter reloads $((n + 1)); ok $? "SIGHUP reloaded"
is "$(ctr db denied_in)" "$db2" "denied_in_db survives SIGHUP"
is "$(ctr api denied_in)" "$api1" "denied_in_api survives SIGHUP"

# 3. someone deletes the table: put back with the last counts read (the
# status read just above)
nft_host delete table inet bulkhead
bhd_wait_counter tamper_restored 1; ok $? "a deleted table is put back"
is "$(ctr db denied_in)" "$db2" "denied_in_db survives the deleted table"
is "$(ctr api denied_in)" "$api1" "denied_in_api survives the deleted table"
burst 10.77.0.31 9100 10
db3=$(ctr_wait db denied_in $((${db2%% *} + 10)))
is "${db3%% *}" $((${db2%% *} + 10)) "and counts on: before + 10"

# someone flushes it (chains emptied, counters left): read from the kernel
nft_host flush table inet bulkhead
bhd_wait_counter tamper_restored 2; ok $? "a flushed table is put back"
is "$(ctr db denied_in)" "$db3" "denied_in_db survives the flushed table"
is "$(ctr api denied_in)" "$api1" "denied_in_api survives the flushed table"

# the anti-spoofing table (bridge bulkhead): web sends from an address
# that is not its own, then loses it (later ARP comes from its own); the
# table is deleted: put back with the last counts read
nsx web ip addr add 10.77.0.99/24 dev eth0
nsx web ping -c 3 -i 0.2 -W 1 -I 10.77.0.99 10.77.0.31 >/dev/null 2>&1
is $? 1 "ping from a spoofed source gets no answer"
nsx web ip addr del 10.77.0.99/24 dev eth0
sp1=$(ctr web spoofed)
[ "${sp1%% *}" -ge 1 ] 2>/dev/null; ok $? "counted in spoofed_web ($sp1)"
nft_host delete table bridge bulkhead
bhd_wait_counter tamper_restored 3; ok $? "a deleted bridge table is put back"
nft_host list table bridge bulkhead >/dev/null 2>&1
ok $? "table bridge bulkhead is in the kernel again"
is "$(ctr web spoofed)" "$sp1" "spoofed_web survives the deleted table"
is "$(ctr db denied_in)" "$db3" "denied_in_db too"

# 4. a policy without api: its counter goes, db's counts on
cp "$NS_TMP/b.yaml" "$NS_TMP/policy.yaml"
bhctl reload >/dev/null; ok $? "reload without group api"
nft_host list counter inet bulkhead denied_in_api >/dev/null 2>&1
is $? 1 "denied_in_api is gone from the kernel"
is "$(ctr api denied_in)" "- -" "and from status"
is "$(ctr db denied_in)" "$db3" "denied_in_db keeps its counts"
burst 10.77.0.31 9100 10
db4=$(ctr_wait db denied_in $((${db3%% *} + 10)))
is "${db4%% *}" $((${db3%% *} + 10)) "denied_in_db counts on: before + 10"
# api comes back: a new counter, from zero
cp "$NS_TMP/a.yaml" "$NS_TMP/policy.yaml"
bhctl reload >/dev/null; ok $? "reload with group api again"
is "$(ctr api denied_in)" "0 0" "denied_in_api starts from zero: the old counts went with the group"
is "$(ctr db denied_in)" "$db4" "denied_in_db keeps its counts"

# the denied-flow pipeline reported every counted packet exactly once
# across all of that (it counts on from the carried counts, and keeps its
# counts while the table is gone): it reads the counters every 250 ms and
# the equation holds at its windows' ends (1 s)
sp=$(ctr web spoofed)
want=$((${db4%% *} + ${api1%% *} + ${sp%% *}))
for i in $(seq 50); do
	eq=$(bhctl status --json | jq -c '.denied | [.kernel_denied, .packets + .unlogged + .lost]')
	[ "$eq" = "[$want,$want]" ] && break
	sleep 0.1
done
is "$(echo "$eq" | jq '.[0]')" "$want" \
	"status: kernel_denied is what denied_in_db, the old denied_in_api and spoofed_web counted ($eq)"
is "$(echo "$eq" | jq '.[0] == .[1]')" true "status: kernel_denied == packets + unlogged + lost"

# 5. a restart finds the table in the kernel
bhd_stop; ok $? "bulkheadd stops"
nft_host list counter inet bulkhead denied_in_db | grep -q "packets ${db4%% *} bytes ${db4##* }"
ok $? "the table stays in the kernel with the counts"
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon restarts"; done_testing; }
is "$(ctr db denied_in)" "$db4" "denied_in_db survives the restart"
burst 10.77.0.31 9100 10
db5=$(ctr_wait db denied_in $((${db4%% *} + 10)))
is "${db5%% *}" $((${db4%% *} + 10)) "and counts on: before + 10"

# 6. the window: a stream runs during reloads. What the old counters count
# between the daemon's read and the commit is lost; nothing is counted
# twice, and no more is lost than web sent while the reloads ran.
before=${db5%% *}
ns_bg web "$BH_UDPSTREAM" send 10.77.0.31 9100 6000 1000 >"$NS_TMP/stream.sent"
spid=$!
for i in $(seq 50); do
	c=$(ctr db denied_in)
	[ "${c%% *}" -gt "$before" ] 2>/dev/null && break
	sleep 0.1
done
tx0=$(ns_tx_packets web)
bad=0
for i in $(seq 10); do
	bhctl reload >/dev/null || bad=$((bad + 1))
done
tx1=$(ns_tx_packets web)
running=$(kill -0 "$spid" 2>/dev/null && echo yes || echo no)
is "$bad" 0 "10 reloads during the stream"
is "$running" yes "the stream ran throughout the reloads"
wait "$spid"
sent=$(awk '{print $2}' "$NS_TMP/stream.sent")
is "$sent" 6000 "the stream sent 6000 datagrams"
after=$(ctr_wait db denied_in $((before + sent)))
after=${after%% *}
lost=$((before + sent - after))
during=$((tx1 - tx0))
diag "stream: $sent sent, $during packets left web during the reloads, $lost not counted"
ok $([ "$lost" -ge 0 ]; echo $?) "nothing counted twice ($after <= $before + $sent)"
ok $([ "$lost" -le "$during" ]; echo $?) "lost ($lost) <= sent during the reloads ($during)"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
