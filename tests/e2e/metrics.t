#!/bin/bash
# --metrics-file: the Prometheus textfile the daemon rewrites atomically.
# Its series follow what happens (a denied probe, attaches, reloads good
# and bad, a deleted table), the denied packets per group pair add up to
# the kernel's counters, `promtool check metrics` passes, and a real
# prometheus-node-exporter in the test's namespace serves the series over
# HTTP. Bad options stop the daemon before it touches the kernel; a
# metrics directory that vanishes is counted, not fatal.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

for t in jq promtool prometheus-node-exporter curl; do
	command -v "$t" >/dev/null || skip_all "$t missing (tools/deps.sh)"
done
ns_init
ns_add_web_api_db
policy_web_api_db "$NS_TMP/policy.yaml"
echo "  - { from: web, to: api, ports: [tcp/8080] }" >>"$NS_TMP/policy.yaml"
TXT=$NS_TMP/textfile
PROM=$TXT/bulkhead.prom
mkdir -p "$TXT"

# the value of one series (exact text between { }), "-" when absent
metric() {
	awk -v k="$1" 'index($0, k " ") == 1 { v = $NF } END {
		print (v == "" ? "-" : v) }' "$PROM" 2>/dev/null
}
# waits (bounded, 30 s) until series $1 has at least $2; prints it
metric_wait() {
	local i v

	for i in $(seq 150); do
		v=$(metric "$1")
		[ "$v" != - ] && [ "$v" -ge "$2" ] 2>/dev/null && break
		sleep 0.2
	done
	echo "$v"
}

bhd_start "$NS_TMP/policy.yaml" --metrics-file "$PROM" \
	--metrics-interval 1 || { fail "daemon starts"; done_testing; }
[ -s "$PROM" ]; ok $? "the file is written at start-up"
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null

is "$(metric_wait 'bulkhead_containers{group="db"}' 1)" 1 \
	"bulkhead_containers: db has 1"
is "$(metric 'bulkhead_containers{group="web"}')" 1 "web has 1"
is "$(metric 'bulkhead_containers{group="unassigned"}')" 0 \
	"unassigned has 0, and is there"
is "$(metric 'bulkhead_containers{group="world"}')" - \
	"world holds no containers: no series"

serve_udp db 9100
is "$(probe_deny db udp web 10.77.0.31 9100)" drop "web -> db udp/9100 drops"
serve_tcp api 8080
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api tcp/8080 passes"
udp_stream web 10.77.0.31 9100 40 0 >/dev/null
want=$(bhctl status --json |
	jq '[.groups[] | select(.name == "db") | .counters.denied_in.packets]
	    | first')
[ "$want" -ge 41 ] 2>/dev/null; ok $? "the kernel counted the probe and 40 more ($want)"
# the records of the window reach the metrics once the window ends: the
# logged packets under web -> db, those over the log rate (unlogged
# records name only the chain's group) under * -> db
to_db() {
	awk '/^bulkhead_denied_packets_total\{.*dst_group="db",action="deny"\}/ {
		n += $NF } END { print n + 0 }' "$PROM"
}
for i in $(seq 150); do
	[ "$(to_db)" -ge "$want" ] && break
	sleep 0.2
done
is "$(to_db)" "$want" "denied packets to db equal the kernel's denied_in_db"
key='bulkhead_denied_packets_total{src_group="web",dst_group="db",action="deny"}'
[ "$(metric "$key")" -ge 1 ] 2>/dev/null
ok $? "the logged ones are counted under web -> db ($(metric "$key"))"
is "$(metric 'bulkhead_denied_packets_total{src_group="web",dst_group="api",action="deny"}')" - \
	"no series for the allowed pair"

# the allowed connection, observed through conntrack, once its window ends
# (a probe retries on a slow machine: count what the records counted)
fk='bulkhead_flows_total{src_group="web",dst_group="api",action="allow"}'
n=$(metric_wait "$fk" 1)
recs=$(jq -s '[.[] | select(.source.group == "web" and
	.destination.group == "api") | .bulkhead.connections] | add // 0' \
	"$BHD_FLOWS")
[ "$n" -ge 1 ] 2>/dev/null && [ "$n" = "$recs" ]
ok $? "flows_total web -> api equals the allow records' connections ($n, $recs)"

# commits: three attaches are deltas, the start-up a full one
d=$(metric 'bulkhead_commits_total{kind="delta"}')
f=$(metric 'bulkhead_commits_total{kind="full"}')
[ "$d" -ge 3 ] && [ "$f" -ge 1 ]; ok $? "commits_total: delta $d >= 3, full $f >= 1"
is "$(metric bulkhead_commit_duration_seconds_count)" $((d + f)) \
	"the histogram saw every commit"
is "$(metric 'bulkhead_commit_duration_seconds_bucket{le="+Inf"}')" \
	$((d + f)) "its +Inf bucket too"

# reloads, good and bad
bhctl reload >/dev/null; ok $? "reload"
is "$(metric_wait 'bulkhead_policy_reloads_total{result="ok"}' 1)" 1 \
	"policy_reloads_total{result=ok} 1"
# a bad edit: the file watcher's reload fails (and the old policy stays)
is "$(metric 'bulkhead_policy_reloads_total{result="error"}')" 0 \
	"policy_reloads_total{result=error} 0 so far"
cp "$NS_TMP/policy.yaml" "$NS_TMP/good.yaml"
echo "flows: [ {from: nosuch, to: db} ]" >>"$NS_TMP/policy.yaml"
v=$(metric_wait 'bulkhead_policy_reloads_total{result="error"}' 1)
[ "$v" -ge 1 ] 2>/dev/null; ok $? "policy_reloads_total{result=error} counts it ($v)"
cp "$NS_TMP/good.yaml" "$NS_TMP/policy.yaml"
is "$(metric_wait 'bulkhead_policy_reloads_total{result="ok"}' 2)" 2 \
	"the good file back: result=ok 2"

# a deleted table is put back and counted
nft_host delete table inet bulkhead
bhd_wait_counter tamper_restored 1; ok $? "the deleted table is put back"
is "$(metric_wait bulkhead_table_restores_total 1)" 1 \
	"table_restores_total 1"

# Prometheus' own linter: names, types, help, units
out=$(promtool check metrics <"$PROM" 2>&1)
is "$?:$out" "0:" "promtool check metrics passes, with nothing to say"
# ... and it would say something of a counter without _total
sed 's/bulkhead_table_restores_total/bulkhead_table_restores/' "$PROM" \
	>"$NS_TMP/bad.prom"
! promtool check metrics <"$NS_TMP/bad.prom" >/dev/null 2>&1
ok $? "(promtool does object to a counter named without _total)"
! grep -Eq '(src|dst)_(ip|port|addr)|[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+' "$PROM"
ok $? "no address or port in any label"

# a real node-exporter serves the file from the host namespace's loopback
ns_bg host prometheus-node-exporter --web.listen-address=127.0.0.1:19131 \
	--collector.disable-defaults --collector.textfile \
	--collector.textfile.directory="$TXT" >"$NS_TMP/ne.log" 2>&1
body=
for i in $(seq 100); do
	body=$(nsx host curl -sf --max-time 2 http://127.0.0.1:19131/metrics) &&
		break
	sleep 0.2
done
# (Prometheus sorts the labels by name)
grep -qE '^bulkhead_denied_packets_total\{action="deny",dst_group="db",src_group="web"\} [1-9]' \
	<<<"$body"; ok $? "node-exporter serves the denied series"
grep -qF 'bulkhead_containers{group="api"} 1' <<<"$body"
ok $? "and the containers gauge"
grep -qx 'node_textfile_scrape_error 0' <<<"$body"
ok $? "node-exporter read the file without error" ||
	diag "$(grep -i textfile <<<"$body" | head -5; tail -5 "$NS_TMP/ne.log")"

# the directory vanishes: counted in status, the daemon goes on, and
# writes again once it is back
rm -rf "$TXT"
for i in $(seq 100); do
	e=$(bhctl status --json | jq .metrics.errors)
	[ "$e" -ge 1 ] 2>/dev/null && break
	sleep 0.1
done
[ "$e" -ge 1 ] 2>/dev/null; ok $? "a failed write is counted in status ($e)"
kill -0 "$BHD_PID"; ok $? "and the daemon runs on"
mkdir -p "$TXT"
for i in $(seq 100); do [ -s "$PROM" ] && break; sleep 0.1; done
[ -s "$PROM" ]; ok $? "the file is back once the directory is"
is "$(ls -A "$TXT")" bulkhead.prom "no temp file is left beside it"

# bad options: stopped before the kernel is touched
before=$(nft_host list ruleset | md5sum)
out=$(nsx host "$BH_D" --policy "$NS_TMP/policy.yaml" --socket \
	"$NS_TMP/other.sock" --state-dir "$NS_TMP/other" --foreground \
	--metrics-file "$NS_TMP/nosuch/dir/b.prom" 2>&1)
rc=$?
[ "$rc" -ne 0 ]; ok $? "a metrics file in a missing directory stops the daemon"
grep -qF -- "--metrics-file $NS_TMP/nosuch/dir/b.prom: cannot create" \
	<<<"$out"; ok $? "and says which option and why" || diag "$out"
is "$(nft_host list ruleset | md5sum)" "$before" "the kernel's tables are as they were"
out=$(nsx host "$BH_D" --metrics-interval 0 2>&1)
is "$?" 2 "--metrics-interval 0 is a usage error"
grep -qF "expected 1-3600 seconds" <<<"$out"; ok $? "and says what it takes"

bhd_stop; ok $? "the daemon stops cleanly"
done_testing
