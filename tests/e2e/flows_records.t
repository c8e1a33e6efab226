#!/bin/bash
# Allowed-flow observations from the real daemon: real TCP and UDP
# connections between containers yield `allow` records per (source group,
# destination group, protocol, port) with connections, packets and bytes;
# denied attempts yield none; `bulkheadctl flows` filters and summarises
# them as `denials` does; conntrack accounting is on in the daemon's
# namespace; a stalled daemon loses events, counts them and resyncs.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq missing"
ns_init
cat > "$NS_TMP/policy.yaml" <<'EOF'
version: 1
settings:
  log: { window: 1s }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: api, ports: [tcp/8080, udp/9000] }
  - { from: api, to: db, ports: [tcp/5432] }
EOF
ns_add web1 10.77.0.11 fd77::11 || exit 2
ns_add web2 10.77.0.12 fd77::12 || exit 2
ns_add api 10.77.0.21 fd77::21 || exit 2
ns_add db 10.77.0.31 fd77::31 || exit 2

bhd_start "$NS_TMP/policy.yaml"; ok $? "bulkheadd up" || { done_testing; }
for c in web1 web2; do bhd_attach $c bulkhead.purpose=web >/dev/null; done
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=db >/dev/null
serve_tcp api 8080
serve_udp api 9000
serve_tcp db 5432
serve_tcp db 6000
# Connections end (DESTROY, with their counts) after conntrack's
# timeouts: short ones here, in the test's host namespace only.
for k in tcp_timeout_time_wait tcp_timeout_close tcp_timeout_fin_wait \
	 tcp_timeout_last_ack tcp_timeout_close_wait udp_timeout \
	 udp_timeout_stream; do
	nsx host sh -c "echo 1 > /proc/sys/net/netfilter/nf_conntrack_$k" ||
		diag "cannot shorten nf_conntrack_$k"
done
sleep 0.3

is "$(nsx host cat /proc/sys/net/netfilter/nf_conntrack_acct)" 1 \
	"conntrack accounting on in the daemon's namespace"
is "$(bhctl status --json | jq -r .flows.accounting)" true \
	"status says accounting is on"
bhctl status | grep -q "^allowed flows: .* -> $BHD_FLOWS"
ok $? "status (text) has the allowed-flow line"

# traffic: 3 + 2 TCP web -> api (v4 and v6), 2 UDP exchanges, api -> db
for i in 1 2 3; do probe_want pass tcp web1 10.77.0.21 8080 >/dev/null; done
probe_want pass tcp web2 10.77.0.21 8080 >/dev/null
probe_want pass tcp web2 fd77::21 8080 >/dev/null
for i in 1 2; do probe_want pass udp web1 10.77.0.21 9000 >/dev/null; done
is "$(probe_want pass tcp api 10.77.0.31 5432)" pass "api -> db passes"
is "$(probe_deny db tcp web1 10.77.0.31 6000)" drop "web1 -> db denied"

# sum JQFILTER FIELD: FIELD summed over the records JQFILTER selects
sum() {
	jq -s "[.[] | select($1) | .bulkhead.$2] | add // 0" "$BHD_FLOWS" \
		2>/dev/null || echo 0
}
WA='.source.group == "web" and .destination.group == "api" and
    .network.transport == "tcp" and .destination.port == 8080'
# The kernel reaps an expired entry (and sends its DESTROY) lazily: its
# garbage collector slows down to a pass a minute or more on an idle
# host, but a dump evicts what it finds expired. Dump once a second.
wait_ended() { # FILTER N
	local i
	for i in $(seq 300); do
		[ "$(sum "$1" ended)" -ge "$2" ] && return 0
		[ $((i % 10)) = 0 ] && nsx host conntrack -L >/dev/null 2>&1
		sleep 0.1
	done
	return 1
}
wait_ended "$WA" 5; ok $? "the 5 web -> api tcp/8080 connections ended"
is "$(sum "$WA" connections)" 5 "  5 connections opened"
[ "$(sum "$WA" packets)" -ge 25 ]; ok $? "  packets counted ($(sum "$WA" packets))"
[ "$(sum "$WA" bytes)" -ge 1000 ]; ok $? "  bytes counted ($(sum "$WA" bytes))"
WU='.source.group == "web" and .destination.group == "api" and
    .network.transport == "udp" and .destination.port == 9000'
wait_ended "$WU" 2; ok $? "the 2 UDP exchanges ended"
is "$(sum "$WU" connections)" 2 "  2 connections"
[ "$(sum "$WU" packets)" -ge 4 ]; ok $? "  both directions' packets ($(sum "$WU" packets))"
AD='.source.group == "api" and .destination.group == "db"'
wait_ended "$AD" 1; ok $? "api -> db recorded"
is "$(jq -c "select(.source.group == \"web\" and .destination.group == \"db\")" \
	"$BHD_FLOWS" | grep -c .)" 0 "the denied web -> db is no allow record"

# the record's shape
r=$(jq -c "select($WA)" "$BHD_FLOWS" | head -1)
is "$(jq -r '.event.action' <<<"$r")" allow "event.action allow"
is "$(jq -c '.event.type' <<<"$r")" '["connection","allowed"]' "event.type"
is "$(jq -r '.event.dataset' <<<"$r")" bulkhead.flows "event.dataset"
is "$(jq -r '.bulkhead.record' <<<"$r")" flow "bulkhead.record flow"
is "$(jq -r '.destination.container.name' <<<"$r")" api "destination container"
# why, as a denied record says it: the flow explain names, the policy's
# hash, which way, which host
ex=$(bhctl explain --from 10.77.0.11 --to 10.77.0.21 --port tcp/8080 --json)
is "$(jq -r '.rule.name' <<<"$r")" "$(jq -r .rule <<<"$ex")" \
	"rule.name is the flow explain names ($(jq -r .rule <<<"$ex"))"
is "$(jq -r '.rule.name' <<<"$r")" "$NS_TMP/policy.yaml:9" \
	"  its file:line: the flow web -> api"
is "$(jq -r '.rule.ruleset' <<<"$r")" "$(bhctl status --json | jq -r .policy.hash)" \
	"rule.ruleset is the policy's hash"
is "$(jq -r '.network.direction' <<<"$r")" ingress "network.direction ingress"
is "$(jq -r '.host.name' <<<"$r")" "$(hostname)" "host.name"
is "$(jq -s -c "[.[] | select($WA) | .bulkhead.source_containers[]] |
	unique" "$BHD_FLOWS")" '["web1","web2"]' "both web containers named"
seqs=$(jq -s -c '[.[].bulkhead.seq] == [range(1; length + 1)]' "$BHD_FLOWS")
is "$seqs" true "seq 1, 2, ... without gaps"

# bulkheadctl flows: the filters and summary of denials
F=(--file "$BHD_FLOWS")
n=$(bhctl flows "${F[@]}" --json | grep -c .)
is "$n" "$(grep -c . "$BHD_FLOWS")" "flows --json: every record"
is "$(bhctl flows "${F[@]}" --json --from web --port udp/9000 |
	jq -r .destination.port | sort -u)" 9000 "--from web --port udp/9000"
is "$(bhctl flows "${F[@]}" --json --to db | jq -r .source.group |
	sort -u)" api "--to db"
is "$(bhctl flows "${F[@]}" --json --group web1 --port tcp/8080 |
	jq -r .destination.group | sort -u)" api "--group web1 (a container)"
is "$(bhctl flows "${F[@]}" --json --until 1d | grep -c .)" 0 \
	"--until 1d ago: none"
out=$(bhctl flows "${F[@]}" --summary)
diag "$out"
row=$(awk '$1 == "web" && $2 == "api" && $3 == "tcp/8080"' <<<"$out")
is "$(awk '{ print $4 }' <<<"$row")" 5 "--summary: 5 connections web -> api tcp/8080"
is "$(awk '{ print $5 }' <<<"$row")" "$(sum "$WA" packets)" "--summary: its packets"
bhctl flows "${F[@]}" | grep -q "allow .*tcp/8080 .*web"
ok $? "the table names action, service and group"
timeout -k 5 5 "$BH_CTL" --socket "$BHD_SOCK" flows --file "$NS_TMP/none" \
	--follow --json >"$NS_TMP/follow" 2>/dev/null
jq -e -s 'length > 0 and all(.[]; .event.action == "allow")' \
	"$NS_TMP/follow" >/dev/null
ok $? "--follow reads the daemon's ring ($(grep -c . "$NS_TMP/follow") records)"

# The group map of this run: counts from the same summaries
T1=$(date -u -d '-1 hour' +%Y-%m-%dT%H:%M:%SZ)
T2=$(date -u -d '+1 minute' +%Y-%m-%dT%H:%M:%SZ)
P=(--since "$T1" --until "$T2")
M=(map "${P[@]}" --denied-file "$BHD_DENIED" --flows-file "$BHD_FLOWS")
bhctl "${M[@]}" --format json -o "$NS_TMP/map.json"
ok $? "map --format json"
is "$(jq -r '[.groups[].name] | sort | join(" ")' "$NS_TMP/map.json")" \
	"api db host quarantine unassigned web world" \
	"the daemon's policy: every group, built-ins too"
is "$(jq -r '.observed[] | "\(.from) \(.to) \(.service) \(.connections) \(.packets) \(.bytes) \(.records)"' \
	"$NS_TMP/map.json" | sort)" \
	"$(bhctl flows "${P[@]}" --file "$BHD_FLOWS" --summary |
	   awk 'NR > 1 { print $1, $2, $3, $4, $5, $6, $7 }' | sort)" \
	"observed edges = flows --summary over the same period"
is "$(jq -r '.denied[] | "\(.from) \(.to) \(.service) \(.packets) \(.unlogged) \(.records) \(.action)"' \
	"$NS_TMP/map.json" | sort)" \
	"$(bhctl denials "${P[@]}" --file "$BHD_DENIED" --summary |
	   awk 'NR > 1 { print $1, $2, $3, $4, $5, $6, $7 }' | sort)" \
	"denied edges = denials --summary over the same period"
[ "$(jq '.denied | length' "$NS_TMP/map.json")" -ge 1 ] &&
	[ "$(jq '.observed | length' "$NS_TMP/map.json")" -ge 3 ]
ok $? "  (both have edges to compare)"
bhctl "${M[@]}" --policy "$NS_TMP/policy.yaml" -o "$NS_TMP/map.svg"
ok $? "map (svg) -o FILE"
xmllint --noout "$NS_TMP/map.svg"; ok $? "the SVG parses (xmllint)"
for g in web api db unassigned host world quarantine; do
	grep -q "<title>$g</title>" "$NS_TMP/map.svg" || break
done
ok $? "the SVG names every group (last checked: $g)"
grep -q 'stroke="#d62728"' "$NS_TMP/map.svg"; ok $? "a red (denied) edge"
grep -q "tcp/8080, udp/9000" "$NS_TMP/map.svg"; ok $? "declared ports on their edge"
rsvg-convert -f png -o "$NS_TMP/map.png" "$NS_TMP/map.svg" &&
	[ "$(head -c 8 "$NS_TMP/map.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
ok $? "it renders to PNG (rsvg-convert)"
bhctl "${M[@]}" --format dot | grep -q '^digraph bulkhead'; ok $? "--format dot"
# bad input: a clear message, exit 2, no file
for bad in "--format png|is not svg, dot or json" "--since yesterday|--since" \
	   "-o $NS_TMP/no/such/dir/m.svg|cannot write"; do
	# shellcheck disable=SC2086
	out=$(bhctl map --policy "$NS_TMP/policy.yaml" ${bad%|*} 2>&1 >/dev/null)
	rc=$?
	[ "$rc" = 2 ] && grep -q -- "${bad#*|}" <<<"$out"
	ok $? "map ${bad%|*}: exit 2, says why (rc $rc: $out)"
done
[ ! -e "$NS_TMP/no" ]; ok $? "  and wrote nothing"

# Lost events: the daemon stopped while 40,000 connections open and
# close; the kernel drops what its buffer cannot hold.
kill -STOP "$BHD_PID"
udp_stream web1 10.77.0.21 9000 40000 0 >/dev/null
kill -CONT "$BHD_PID"
for i in $(seq 300); do
	[ "$(bhctl status --json | jq -r .flows.resyncs)" -ge 1 ] && break
	sleep 0.1
done
st=$(bhctl status --json | jq -c .flows)
diag "$st"
[ "$(jq -r .enobufs <<<"$st")" -ge 1 ]; ok $? "ENOBUFS counted"
[ "$(jq -r .resyncs <<<"$st")" -ge 1 ]; ok $? "and a resync followed"
[ "$(jq -r .lost <<<"$st")" -ge 1 ]; ok $? "lost events counted ($(jq -r .lost <<<"$st"))"
is "$(grep -c 'conntrack events lost' "$BHD_LOG")" 1 "logged once"
for i in $(seq 300); do
	[ "$(sum true lost)" -ge 1 ] && break
	sleep 0.1
done
[ "$(sum true lost)" -ge 1 ]; ok $? "a record carries the loss"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag

# --record-format ecs holds for the flow log too: ECS documents in the
# file, which `flows` reads back as records
ECSF=$NS_TMP/flows-ecs.jsonl
bhd_start "$NS_TMP/policy.yaml" --record-format ecs --flow-log "$ECSF"
ok $? "bulkheadd up with --record-format ecs" || { done_testing; }
probe_want pass tcp web1 10.77.0.21 8080 >/dev/null
for i in $(seq 150); do [ -s "$ECSF" ] && break; sleep 0.2; done
doc=$(head -1 "$ECSF")
is "$(jq -c '[.event.action, .event.type, .source.ip, .destination.port,
	.network.transport]' <<<"$doc")" \
	'["allow",["connection","allowed"],"10.77.0.11",8080,"tcp"]' \
	"the flow log holds an ECS document of the allowed connection"
is "$(jq -r 'has("schema")' <<<"$doc")" false "not a bulkhead record"
is "$(bhctl flows --file "$ECSF" --json | head -1 |
	jq -c '[.event.action, .source.group, .destination.group]')" \
	'["allow","web","api"]' "flows reads it back as a record"
bhd_stop; ok $? "and exits 0" || bhd_log_diag

# --flow-log none: no observer, no file; the daemon says so
mv "$BHD_FLOWS" "$NS_TMP/flows.1"
bhd_start "$NS_TMP/policy.yaml" --flow-log none
ok $? "bulkheadd up with --flow-log none" || done_testing
is "$(bhctl status --json | jq -c .flows)" null "status: flows null"
out=$(timeout -k 5 10 "$BH_CTL" --socket "$BHD_SOCK" flows --file /dev/null \
	--follow 2>&1)
is "$?" 2 "flows --follow: exit 2"
grep -q "observations are off (--flow-log none)" <<<"$out"
ok $? "  says they are off ($out)"
probe_want pass tcp web1 10.77.0.21 8080 >/dev/null
grep -q "allowed-flow observations are off" "$BHD_LOG"; ok $? "the log says so"
bhd_stop; ok $? "bulkheadd exits 0" || bhd_log_diag
[ ! -e "$BHD_FLOWS" ]; ok $? "no flow log written"
done_testing
