#!/bin/bash
# bulkheadctl diff against real traffic (issue 14): the daemon records
# web -> api, api -> db and the would-deny db -> api of the audit group api,
# each record with the labels its containers had; then, with the daemon's
# policy as the one in force and its record files:
# - a candidate that removes the used flow api -> db exits 1 and names it;
# - a candidate identical in effect (flows reordered, another file) exits 0;
# - a candidate that enforces api and whose new group takes web by a label
#   it had (web is gone by then) denies web -> api: exit 1, judged in the
#   new group;
# - a candidate with a syntax error exits 2 with FILE:LINE:COL.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq missing"
ns_init
policy_web_api_db "$NS_TMP/policy.yaml"
sed -i 's/^  api: { match: { purpose: api } }$/  api: { match: { purpose: api }, mode: audit }/' \
	"$NS_TMP/policy.yaml"
cat >>"$NS_TMP/policy.yaml" <<'EOF2'
  - { from: web, to: api, ports: [tcp/8080] }
  - { from: api, to: db, ports: [tcp/5432] }
EOF2
grep -q "api: .*mode: audit" "$NS_TMP/policy.yaml"
ok $? "the policy puts api in audit mode"
ns_add_web_api_db || exit 2

bhd_start "$NS_TMP/policy.yaml"; ok $? "bulkheadd up" || { done_testing; }
bhd_attach web bulkhead.purpose=web bulkhead.tier=old >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null
serve_tcp api 8080
serve_tcp db 5432

is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api passes"
is "$(probe_want pass tcp api 10.77.0.31 5432)" pass "api -> db passes"
is "$(probe_want pass tcp db 10.77.0.21 8080)" pass \
	"db -> api passes (api is in audit mode: would-deny)"

# wait_rec FILE JQFILTER: a record the filter selects, within 30 s
wait_rec() {
	local i
	for i in $(seq 300); do
		[ -s "$1" ] && [ "$(jq -c "select($2)" "$1" 2>/dev/null |
			grep -c .)" -gt 0 ] && return 0
		sleep 0.1
	done
	return 1
}
wait_rec "$BHD_FLOWS" '.source.group == "web" and .destination.group == "api"'
ok $? "the allow record web -> api"
wait_rec "$BHD_FLOWS" '.source.group == "api" and .destination.group == "db"'
ok $? "the allow record api -> db"
wait_rec "$BHD_DENIED" '.event.action == "would-deny" and .source.group == "db" and .destination.group == "api"'
ok $? "the would-deny record db -> api"
is "$(jq -r 'select(.source.group == "web" and .destination.group == "api") |
	.source.labels["bulkhead.tier"]' "$BHD_FLOWS" | head -1)" old \
	"  the allow record carries web's labels"
is "$(jq -r 'select(.event.action == "would-deny") |
	.source.labels["bulkhead.purpose"]' "$BHD_DENIED" | head -1)" \
	database "  the would-deny record carries db's labels"

# the record files: the daemon's, and nothing else of the kind in the dir
mkdir "$NS_TMP/rec"
REC=$NS_TMP/rec
ln -s "$BHD_FLOWS" "$REC/flows.jsonl"
ln -s "$BHD_DENIED" "$REC/denied.jsonl"

# 1. the used flow api -> db removed
grep -v "from: api, to: db" "$NS_TMP/policy.yaml" >"$NS_TMP/cand-nodb.yaml"
bhctl diff "$NS_TMP/cand-nodb.yaml" --records "$REC" >"$NS_TMP/d1" \
	2>"$NS_TMP/d1.err"
is $? 1 "a candidate without the used flow api -> db: exit 1"
grep -q "^newly denied: api -> db tcp/5432$" "$NS_TMP/d1"
ok $? "  names it: newly denied: api -> db tcp/5432"
grep -A1 "^newly denied: api -> db tcp/5432$" "$NS_TMP/d1" |
	grep -q "^  now        allow by policy.yaml:9 (flow api -> db tcp/5432)$"
ok $? "  allowed now by the flow at policy.yaml:9"
grep -q "would-deny by default-deny" "$NS_TMP/d1"
is $? 1 "  the would-deny db -> api is not listed (the same under both)"
grep -q "^newly denied: web -> api" "$NS_TMP/d1"
is $? 1 "  web -> api is not listed"
[ -s "$NS_TMP/d1.err" ] && diag "$(cat "$NS_TMP/d1.err")"

# 2. identical in effect: the flows in the other order, another file
{ sed '/^flows:$/q' "$NS_TMP/policy.yaml"
  echo "  - { from: api, to: db, ports: [tcp/5432] }"
  echo "  - { from: web, to: api, ports: [tcp/8080] }"; } \
	>"$NS_TMP/cand-same.yaml"
bhctl diff "$NS_TMP/cand-same.yaml" --records "$REC" >"$NS_TMP/d2" 2>&1
is $? 0 "a candidate identical in effect: exit 0"
grep -q "observations\? from [0-9]* records\?: 0 newly denied, 0 newly allowed, 0 changed rule$" "$NS_TMP/d2"
ok $? "  no change" || diag "$(cat "$NS_TMP/d2")"

# 3. web is gone; a candidate that enforces api and whose new first
# group takes web by its tier
bhctl detach --id id-web >/dev/null
ok $? "web detached"
{ sed '/^groups:$/q' "$NS_TMP/policy.yaml"
  echo "  legacy: { match: { tier: old } }"
  sed -n '/^groups:$/,$p' "$NS_TMP/policy.yaml" | tail -n +2 |
	sed 's/, mode: audit//'; } >"$NS_TMP/cand-legacy.yaml"
bhctl diff "$NS_TMP/cand-legacy.yaml" --records "$REC" --json \
	>"$NS_TMP/d3" 2>"$NS_TMP/d3.err"
is $? 1 "a candidate that moves the gone web into legacy: exit 1"
is "$(jq -r '.newly_denied[] | select(.service == "tcp/8080" and
	.from.recorded_group == "web") |
	"\(.from.group) \(.from.candidate_group) \(.from.name)"' "$NS_TMP/d3")" \
	"web legacy web" "  web -> api tcp/8080 newly denied, judged in legacy"

# 4. a syntax error
printf 'version: 1\ngroups:\n  web: { match: { purpose: web }\n' \
	>"$NS_TMP/cand-bad.yaml"
bhctl diff "$NS_TMP/cand-bad.yaml" --records "$REC" >"$NS_TMP/d4" \
	2>"$NS_TMP/d4.err"
is $? 2 "a candidate with a syntax error: exit 2"
grep -q "^$NS_TMP/cand-bad.yaml:4:1: error: YAML syntax" "$NS_TMP/d4.err"
ok $? "  reported as FILE:LINE:COL" || diag "$(cat "$NS_TMP/d4.err")"

# the daemon's own default: with no --records the files are the host's
# (/var/log/bulkhead), which this test does not write; the policy in
# force came from the socket above
bhd_stop; ok $? "bulkheadd stops cleanly"
done_testing
