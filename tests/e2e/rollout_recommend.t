#!/bin/bash
# Rolling out a group, end to end (issue 14): api is in audit mode with
# real traffic, some of it undeclared; `bulkheadctl recommend` over the
# daemon's records proposes flows, which pass `check` once in the
# policy's directory; a reload with them and api switched to enforce lets
# the same traffic all pass, while traffic never observed is denied and
# recorded. Before the switch, api's audit is past its `until` date: the
# daemon reports it in status (JSON and text), in the metrics
# (bulkhead_audit_expired) and in its log, and enforcement does not
# change (undeclared traffic still passes); readiness says not ready.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add_web_api_db || exit 2
POL=$NS_TMP/pol
PROM=$NS_TMP/bulkhead.prom
mkdir -p "$POL"
past=$(date -u -d '10 days ago' +%Y-%m-%d)
cat >"$POL/10-base.yaml" <<EOF2
version: 1
settings: { log: { window: 1s } }
groups:
  web: { match: { purpose: web }, risk: exposed }
  api: { match: { purpose: api }, mode: audit, until: $past }
  db:  { match: { purpose: database }, sensitivity: restricted }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
boundaries:
  exposed-restricted: { from: { risk: exposed }, to: { sensitivity: restricted } }
EOF2
for p in 8080 9000 9001 9002 9100 7000; do serve_tcp api $p; done
serve_udp api 5353

bhd_start "$POL" --metrics-file "$PROM" --metrics-interval 1 ||
	{ fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null

# the observed traffic: declared, and undeclared that audit lets pass
traffic() {
	local r=0
	[ "$(probe_want pass tcp web 10.77.0.21 8080)" = pass ] || r=1
	for p in 9000 9001 9002; do
		[ "$(probe_want pass tcp web 10.77.0.21 $p)" = pass ] || r=1
	done
	[ "$(probe_want pass tcp web fd77::21 9001)" = pass ] || r=1
	[ "$(probe_want pass udp web 10.77.0.21 5353)" = pass ] || r=1
	[ "$(probe_want pass tcp db 10.77.0.21 9100)" = pass ] || r=1
	return $r
}
traffic; ok $? "api in audit: declared and undeclared traffic all pass"

# the expired audit: status, metrics, log; enforcement unchanged
is "$(bhctl status --json | jq -c '[.audit_expired[] | [.group, .until, .days_past]]')" \
	"[[\"api\",\"$past\",10]]" "status --json lists api's expired audit"
bhctl status | grep -q "^audit expired: group api in mode: audit past $past (10 days): enforcement unchanged$"
ok $? "status (text) says so"
for i in $(seq 100); do
	grep -q 'bulkhead_audit_expired{group="api"} 1' "$PROM" 2>/dev/null && break
	sleep 0.1
done
grep -q '^bulkhead_audit_expired{group="api"} 1$' "$PROM"
ok $? "metrics: bulkhead_audit_expired{group=\"api\"} 1"
grep -q "audit expired: group api is in mode: audit past its until date $past (10 days ago); enforcement is unchanged" "$BHD_LOG"
ok $? "the daemon's log has the expired audit"
is "$(grep -c 'audit expired: group api' "$BHD_LOG")" 1 "... once (a day)"
is "$(bhctl explain --from web --to api --port tcp/9000 --json | jq -r .verdict)" \
	would-deny "enforcement unchanged: undeclared web -> api is still would-deny"

# wait for the would-deny records (a new flow's first packet is written
# at once; the last one after the 1 s window)
wd() { jq -c 'select(.event.action == "would-deny" and .destination.group == "api") |
	[.source.group, .network.transport, .destination.port]' "$BHD_DENIED" 2>/dev/null |
	sort -u | wc -l; }
for i in $(seq 100); do
	[ "$(wd)" -ge 5 ] && break
	sleep 0.1
done
is "$(wd)" 5 "would-deny records: web tcp/9000-9002, udp/5353, db tcp/9100"

"$BH_CTL" readiness --policy "$POL" --denied-file "$BHD_DENIED" \
	--flows-file "$BHD_FLOWS" --since 1h --json >"$NS_TMP/ready.json" 2>/dev/null
is $? 1 "readiness exits 1: api is not ready"
is "$(jq -r '.groups[0] | [.group, .verdict, .until_expired] | @tsv' "$NS_TMP/ready.json")" \
	"$(printf 'api\tnot ready\ttrue')" "readiness: api not ready, its until expired"

# recommend, into the policy's directory
"$BH_CTL" recommend --policy "$POL" --denied-file "$BHD_DENIED" --since 1h \
	-o "$POL/90-recommend.yaml" 2>"$NS_TMP/rec.err"
is $? 0 "recommend exits 0"
grep '^  - {' "$POL/90-recommend.yaml" >"$NS_TMP/flows"
is "$(cat "$NS_TMP/flows")" "$(printf '%s\n' \
	'  - { from: db, to: api, ports: [tcp/9100] }' \
	'  - { from: web, to: api, ports: [tcp/9000-9002, udp/5353] }')" \
	"recommend: one flow per pair, ports merged"
[ $? = 0 ] || sed 's/^/# /' "$POL/90-recommend.yaml" "$NS_TMP/rec.err"
"$BH_CTL" recommend --policy "$POL" --denied-file "$BHD_DENIED" --since 1h \
	>"$NS_TMP/again.yaml" 2>/dev/null
grep -q '^flows: \[\]$' "$NS_TMP/again.yaml"
ok $? "over the policy with them, recommend proposes nothing more"
"$BH_CTL" check "$POL" >/dev/null 2>"$NS_TMP/check.err"
is $? 0 "the policy with the recommendation passes check"

# diff: the policy with the recommendation, replayed over this traffic,
# denies nothing that passed, and leaves api no would-deny: its five
# would-deny observations become allowed (a changed rule: would-deny
# passes too, docs/rollout.md)
mkdir -p "$NS_TMP/before" "$NS_TMP/rec"
cp "$POL"/*.yaml "$NS_TMP/before/" && rm "$NS_TMP/before/90-recommend.yaml"
cp "$BHD_DENIED" "$BHD_FLOWS" "$NS_TMP/rec/"
"$BH_CTL" diff "$POL" --policy "$NS_TMP/before" --records "$NS_TMP/rec" \
	--since 1h --json >"$NS_TMP/diff.json" 2>"$NS_TMP/diff.err"
is $? 0 "diff of the policy with the recommendation exits 0"
is "$(jq -en 'input | .newly_denied | length' "$NS_TMP/diff.json")" 0 \
	"... nothing newly denied"
is "$(jq -en 'input | [.changed_rule[] | select(.to.group == "api" and
	.now.verdict == "would-deny" and .candidate.verdict == "allow") |
	[.from.group, .service]] | unique | length' "$NS_TMP/diff.json")" 5 \
	"... api's five would-deny observations become allowed"
[ $? = 0 ] || sed 's/^/# /' "$NS_TMP/diff.json" "$NS_TMP/diff.err" | head -60

# enforce
sed -i "s/mode: audit, until: $past/mode: enforce/" "$POL/10-base.yaml"
bhctl reload >/dev/null 2>"$NS_TMP/reload.err"
is $? 0 "reload with the recommendation and api enforcing"
[ $? = 0 ] || sed 's/^/# /' "$NS_TMP/reload.err"
is "$(bhctl status --json | jq -r '.groups[] | select(.name == "api") | .mode')" \
	enforce "api enforces"
is "$(bhctl status --json | jq -c .audit_expired)" "[]" \
	"no expired audit left in status"
n_wd=$(grep -c '"would-deny"' "$BHD_DENIED")
traffic; ok $? "the same traffic all passes"
is "$(probe_deny api tcp web 10.77.0.21 7000)" drop \
	"web -> api tcp/7000, never observed, is denied"
is "$(probe_deny web tcp db 10.77.0.21 9000)" drop \
	"db -> api tcp/9000, never observed from db, is denied"
for i in $(seq 100); do
	[ "$(jq -c 'select(.event.action == "deny" and .destination.group == "api" and .destination.port == 7000)' "$BHD_DENIED" | wc -l)" -ge 1 ] && break
	sleep 0.1
done
is "$(jq -r 'select(.event.action == "deny" and .destination.group == "api" and .destination.port == 7000) | .source.group' "$BHD_DENIED" | sort -u)" \
	web "... and recorded as deny"
is "$(grep -c '"would-deny"' "$BHD_DENIED")" "$n_wd" \
	"no would-deny since the switch"
for i in $(seq 100); do
	grep -q 'bulkhead_audit_expired{group="api"}' "$PROM" || break
	sleep 0.1
done
! grep -q 'bulkhead_audit_expired{group="api"}' "$PROM"
ok $? "metrics: no audit series for api once it enforces"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
