#!/bin/bash
# 200 reloads while a counted stream of an allowed flow runs and a counted
# probe of a denied flow runs beside it: the allowed stream loses nothing
# and the denied probe gets nothing through. Every datagram comes from a
# fresh source port, so each one meets the table as it is at that moment
# (no established-state shortcut). The reloads alternate between two
# policies that differ, so each one really replaces the table.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
ns_add db 10.77.0.31 fd77::31

cat >"$NS_TMP/a.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database } }
flows:
  - { from: web, to: api, ports: [udp/9000] }
EOF
cat >"$NS_TMP/b.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database } }
  extra: { match: { purpose: extra } }
flows:
  - { from: api, to: db, ports: [tcp/5432] }
  - { from: web, to: api, ports: [udp/9000, tcp/8080] }
  - { from: extra, to: [web, api], ports: [icmp] }
EOF
cp "$NS_TMP/a.yaml" "$NS_TMP/policy.yaml"

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null

udp_count_start api 9000
allowed_pid=$UDPC_PID allowed_out=$UDPC_OUT
udp_count_start db 9000
denied_pid=$UDPC_PID denied_out=$UDPC_OUT
sleep 0.3

ns_bg web "$BH_UDPSTREAM" send 10.77.0.21 9000 1000000 4000 \
	>"$NS_TMP/allowed.sent"
s1=$!
ns_bg web "$BH_UDPSTREAM" send fd77::31 9000 1000000 8000 \
	>"$NS_TMP/denied.sent"
s2=$!
sleep 0.3

t0=$SECONDS
bad=0
for i in $(seq 200); do
	# replace the file atomically, as an admin's tooling should: the
	# inotify reloads it triggers must never read half a file
	if [ $((i % 2)) -eq 1 ]; then
		cp "$NS_TMP/b.yaml" "$NS_TMP/policy.tmp"
	else
		cp "$NS_TMP/a.yaml" "$NS_TMP/policy.tmp"
	fi
	mv "$NS_TMP/policy.tmp" "$NS_TMP/policy.yaml"
	bhctl reload >/dev/null 2>>"$NS_TMP/reload.err" || bad=$((bad + 1))
	# a bound for a stuck run, not a speed (that is a benchmark's)
	[ $((SECONDS - t0)) -gt 900 ] && break
done
is "$i" 200 "200 reloads done"
is "$bad" 0 "every reload succeeded"
sleep 0.5

kill -0 "$s1" && kill -0 "$s2"; ok $? "both streams still sending after the reloads"
kill -TERM "$s1" "$s2"
wait "$s1" "$s2" 2>/dev/null
sleep 0.5
# the control of the denied probe: its receiver counts what db sends
# itself (the unfiltered path); nothing else may arrive
udp_stream db fd77::31 9000 20 1000 >/dev/null
sent=$(awk '{print $2}' "$NS_TMP/allowed.sent")
got=$(udp_count_stop "$allowed_pid" "$allowed_out")
dgot=$(udp_count_stop "$denied_pid" "$denied_out")
dsent=$(awk '{print $2}' "$NS_TMP/denied.sent")
diag "allowed: sent $sent, $got"
diag "denied: sent $dsent, $dgot (20 of them from db itself)"
[ "${sent:-0}" -gt 1000 ]; ok $? "the allowed stream ran throughout ($sent datagrams)"
distinct=$(echo "$got" | awk '{print $4}')
is "$distinct" "$sent" "allowed stream: 0 datagrams lost over 200 reloads"
[ "${dsent:-0}" -gt 400 ]; ok $? "the denied probe ran throughout ($dsent datagrams)"
is "$(echo "$dgot" | awk '{print $2}')" 20 "denied probe: 0 datagrams through (its receiver got db's own 20)"

st=$(bhctl status --json)
n=$(echo "$st" | jq .counters.reloads)
[ "$n" -ge 200 ]; ok $? "the daemon counted the reloads ($n, some by inotify)"
is "$(echo "$st" | jq .counters.reloads_failed)" 0 "no reload failed"
is "$(echo "$st" | jq -r .last_reload.ok)" true "last reload ok"
kill -0 "$BHD_PID"; ok $? "daemon still running"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
