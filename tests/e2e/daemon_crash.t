#!/bin/bash
# Fail closed: kill -9 leaves the table enforcing, a restart restores the
# same state from the state file and replaces the table atomically, and a
# denied probe running through all of it gets nothing through. SIGTERM
# leaves the rules; --flush-on-exit removes them.
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
  - { from: web, to: api, ports: [tcp/8080, udp/9000] }
EOF
serve_tcp api 8080

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null
before=$(bhctl status --json | jq -c '[.containers[] | {id, group, ips}] |
	sort_by(.id)')
# set sizes are recomputed from the contents at a full commit: not state
bhctl ruleset >"$NS_TMP/rs.before.full"
rs_before=$(grep -v '^[[:space:]]*size [0-9]*$' "$NS_TMP/rs.before.full")
is "$(wc -l <"$BHD_STATE/inventory.journal")" 3 "3 changes journalled"
is "$(bhd_state_ids | tr '\n' ' ')" "id-api id-db id-web " "durable state lists the 3 containers"

# the denied probe runs from here to the end
udp_count_start db 9000
denied_pid=$UDPC_PID denied_out=$UDPC_OUT
udp_count_start api 9000
allowed_pid=$UDPC_PID allowed_out=$UDPC_OUT
sleep 0.3
ns_bg web "$BH_UDPSTREAM" send 10.77.0.31 9000 1000000 3000 \
	>"$NS_TMP/denied.sent"
probe_pid=$!
# and an allowed counted stream to show the table works throughout
ns_bg web "$BH_UDPSTREAM" send 10.77.0.21 9000 1000000 3000 \
	>"$NS_TMP/allowed.sent"
stream_pid=$!
sleep 0.5
kill -0 "$probe_pid"; ok $? "the denied probe is sending"

old=$BHD_PID
bhd_kill9
kill -0 "$old" 2>/dev/null
is $? 1 "bulkheadd killed with SIGKILL"
nft_host list table inet bulkhead >/dev/null 2>&1
ok $? "table inet bulkhead still in the kernel"
kernel_matches_model "$NS_TMP/rs.before.full"
ok $? "  all of the dead daemon's last model, as it printed it"
is "$(probe tcp web 10.77.0.21 8080)" pass "allowed flow passes while the daemon is dead"
is "$(probe_deny web tcp db 10.77.0.21 8080)" drop "denied flow drops while the daemon is dead"
sleep 0.5

# restart: the stale socket is replaced, the state comes back
bhd_start "$NS_TMP/policy.yaml"
ok $? "restarted on the same socket and state dir"
after=$(bhctl status --json | jq -c '[.containers[] | {id, group, ips}] |
	sort_by(.id)')
is "$after" "$before" "same containers in the same groups after restart"
bhctl ruleset | grep -v '^[[:space:]]*size [0-9]*$' >"$NS_TMP/rs.after"
echo "$rs_before" | diff - "$NS_TMP/rs.after" >"$NS_TMP/rs.diff"
ok $? "same ruleset model after restart" ||
	sed 's/^/#   /' "$NS_TMP/rs.diff" | head -20
kernel_matches_model; ok $? "and the kernel holds that model"
grep -q "restored 3 containers" "$BHD_LOG"; ok $? "log says it restored the state"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "allowed flow passes after restart"

# a corrupt state file stops the start-up and changes nothing
bhctl ruleset >"$NS_TMP/rs.stop"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
nft_host list table inet bulkhead >/dev/null 2>&1
ok $? "SIGTERM leaves the table enforcing"
kernel_matches_model "$NS_TMP/rs.stop"; ok $? "  as the daemon's last model says"
is "$(jq length "$BHD_STATE/inventory.json"):$(wc -c <"$BHD_STATE/inventory.journal")" \
	"3:0" "a clean stop leaves one complete snapshot"
# a crash in mid-append leaves a torn last line: it is dropped
cp "$BHD_STATE/inventory.json" "$NS_TMP/state.good"
# (db: the allowed stream web -> api keeps running meanwhile)
printf '{"op":"detach","id":"id-db"}\n{"op":"det' >"$BHD_STATE/inventory.journal"
bhd_start "$NS_TMP/policy.yaml"
ok $? "starts with a torn journal"
grep -q "dropping an incomplete last entry" "$BHD_LOG"; ok $? "  says it dropped the torn entry"
is "$(bhctl status --json | jq -r '[.containers[].id] | sort | join(" ")')" \
	"id-api id-web" "  and replayed the complete one"
bhd_attach db bulkhead.purpose=database >/dev/null
bhctl ruleset >"$NS_TMP/rs.stop"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
echo '[{"id": 5}]' >"$BHD_STATE/inventory.json"
bhd_spawn "$NS_TMP/policy.yaml"
wait "$BHD_PID"
is $? 1 "a corrupt state file is fatal at start-up"
BHD_PID=
grep -q "state in .*inventory.json" "$BHD_LOG"; ok $? "and the error names the file"
nft_host list table inet bulkhead >/dev/null 2>&1
ok $? "the table is still there"
kernel_matches_model "$NS_TMP/rs.stop"; ok $? "  unchanged"
cp "$NS_TMP/state.good" "$BHD_STATE/inventory.json"

kill -0 "$probe_pid"; ok $? "the denied probe sent until the end"
kill -TERM "$probe_pid" "$stream_pid"
wait "$probe_pid" "$stream_pid" 2>/dev/null
sleep 0.3
# the control of the denied probe: its receiver counts what db sends
# itself (the unfiltered path); nothing else may arrive
udp_stream db 10.77.0.31 9000 20 1000 >/dev/null
dgot=$(udp_count_stop "$denied_pid" "$denied_out")
agot=$(udp_count_stop "$allowed_pid" "$allowed_out")
diag "denied probe: $(cat "$NS_TMP/denied.sent"), $dgot (20 of them from db itself)"
diag "allowed stream: $(cat "$NS_TMP/allowed.sent"), $agot"
[ "$(awk '{print $2}' "$NS_TMP/denied.sent")" -gt 0 ] 2>/dev/null
ok $? "the denied probe sent datagrams"
is "$(echo "$dgot" | awk '{print $2}')" 20 "denied probe got nothing through kill -9, restart and stop (its receiver got db's own 20)"
is "$(echo "$agot" | awk '{print $4}')" "$(awk '{print $2}' "$NS_TMP/allowed.sent")" \
	"allowed stream lost nothing through kill -9, restart and stop"

# --flush-on-exit removes the table at SIGTERM
bhd_start "$NS_TMP/policy.yaml" --flush-on-exit
ok $? "started with --flush-on-exit"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
nft_host list table inet bulkhead >/dev/null 2>&1
is $? 1 "--flush-on-exit: table gone after SIGTERM"

done_testing
