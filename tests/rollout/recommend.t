#!/bin/bash
# bulkheadctl recommend and readiness offline, from a fixture of records
# with times in the past (tests/rollout/fixtures: a policy whose api, db
# and cache groups are in audit mode, denied.jsonl and flows.jsonl):
# - recommend's output equals the golden recommend.expect.yaml, the same
#   bytes for records in another order, ports merged, one flow per pair;
#   the flow that crosses a boundary is left out with check's finding;
# - merged into the policy it passes `check`, and recommend over the
#   merged policy then has nothing left to propose;
# - readiness turns `ready` only once the period holds no would-deny:
#   by absolute times over the fixture, and by durations over records
#   written 3 days ago;
# - usage errors exit 2 and change nothing.
# The live path (namespaces, the daemon, enforce) is
# tests/e2e/rollout_recommend.t.
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
command -v jq >/dev/null || skip_all "jq missing"
tmp=$(mktemp -d /tmp/bh-rollout.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
F=tests/rollout/fixtures

rec() { "$BH_CTL" recommend --policy "${P:-$F/policy}" --denied-file "${D:-$F/denied.jsonl}" --since 2026-10-01 "$@"; }
ready() { "$BH_CTL" readiness --policy "$F/policy" --records "$F" "$@"; }

rec >"$tmp/out.yaml" 2>"$tmp/err"
is $? 0 "recommend exits 0"
diff -u "$F/recommend.expect.yaml" "$tmp/out.yaml" >"$tmp/diff"
ok $? "recommend equals the golden $F/recommend.expect.yaml"
[ -s "$tmp/diff" ] && sed 's/^/# /' "$tmp/diff" | head -30
grep -q "1 flow and 3 services left out" "$tmp/err"
ok $? "stderr says what was left out"

# determinism: the same records in reverse order, twice
tac "$F/denied.jsonl" >"$tmp/rev.jsonl"
D="$tmp/rev.jsonl" rec >"$tmp/rev1.yaml" 2>/dev/null
D="$tmp/rev.jsonl" rec >"$tmp/rev2.yaml" 2>/dev/null
cmp -s "$tmp/out.yaml" "$tmp/rev1.yaml" && cmp -s "$tmp/rev1.yaml" "$tmp/rev2.yaml"
ok $? "the same bytes for the records in another order and on a second run"

grep -qx '  - { from: web, to: api, ports: \[tcp/9000-9002, tcp/9100, udp/9000, icmp\] }' "$tmp/out.yaml"
ok $? "web -> api: one flow, ports merged into a range and a list, tcp apart from udp"
grep -q '^  # web -> api: would-deny 9 packets in 6 records, first seen 2026-11-20T08:00:00.000Z, last seen 2026-11-22T12:30:00.000Z$' "$tmp/out.yaml"
ok $? "the flow's comment has counts and first/last seen"
! grep -q '^  - { from: web, to: db' "$tmp/out.yaml"
ok $? "web -> db crosses exposed-restricted: not proposed"
grep -q "^#   web -> db \[tcp/5432\]: flow web -> db crosses boundary 'exposed-restricted' (tests/rollout/fixtures/policy/10-base.yaml:13:3" "$tmp/out.yaml"
ok $? "... and the comment says why, in check's words"

# --records DIR reads the files as diff does: the same records split
# into the live file and logrotate's denied.jsonl.1 give the same bytes
mkdir "$tmp/rot"
n=$(wc -l <"$F/denied.jsonl")
head -n $((n / 2)) "$F/denied.jsonl" >"$tmp/rot/denied.jsonl.1"
tail -n +$((n / 2 + 1)) "$F/denied.jsonl" >"$tmp/rot/denied.jsonl"
"$BH_CTL" recommend --policy "$F/policy" --records "$tmp/rot" \
	--since 2026-10-01 >"$tmp/rot.yaml" 2>/dev/null
cmp -s "$F/recommend.expect.yaml" "$tmp/rot.yaml"
ok $? "--records DIR: a rotated file counts, the same bytes"

# merged into the policy: check passes, and nothing is left to propose
cp -r "$F/policy" "$tmp/pol"
rec --include-denied -o "$tmp/pol/90-recommend.yaml" 2>/dev/null
is $? 0 "recommend -o into the policy's directory"
"$BH_CTL" check "$tmp/pol" >/dev/null 2>"$tmp/check.err"
is $? 0 "the policy with the recommendation passes check"
[ $? = 0 ] || sed 's/^/# /' "$tmp/check.err"
is "$("$BH_CTL" show "$tmp/pol" 2>/dev/null | grep -c '90-recommend.yaml')" 6 \
	"its 6 flows are in the policy"
P="$tmp/pol" rec --include-denied >"$tmp/again.yaml" 2>/dev/null
grep -q '^flows: \[\]$' "$tmp/again.yaml"
ok $? "recommend over the merged policy proposes nothing more"
is "$(grep -c 'already admitted by' "$tmp/again.yaml")" 12 \
	"... every service it proposed (11) and the one admitted before is"

rec --include-denied >"$tmp/den.yaml" 2>/dev/null
grep -q '^  - { from: api, to: web, ports: \[tcp/80, tcp/81\] }$' "$tmp/den.yaml"
ok $? "--include-denied: denied api -> web proposed, two neighbours as two ports"
grep -q '^#   web -> unassigned tcp/22: the destination matches no group' "$tmp/den.yaml"
ok $? "... a destination in unassigned is left out, with why"

# --group: only what that group's chain judged
rec --group db >"$tmp/db.yaml" 2>/dev/null
is "$(grep -c '^  - {' "$tmp/db.yaml")" 1 "--group db: one flow"
grep -q '^  - { from: api, to: db, ports: \[tcp/5433\] }' "$tmp/db.yaml"
ok $? "... api -> db tcp/5433"

# readiness by absolute times: cache's only would-deny is 2026-11-01
ready --since 2026-10-31 --json >"$tmp/r1.json" 2>/dev/null
is $? 1 "readiness exits 1 while an audit group is not ready"
is "$(jq -r '.groups[] | select(.group == "cache") | .verdict' "$tmp/r1.json")" \
	"not ready" "cache: not ready over a period holding its would-deny"
ready --since 2026-11-02 --json >"$tmp/r2.json" 2>/dev/null
is "$(jq -r '.groups[] | select(.group == "cache") | .verdict' "$tmp/r2.json")" \
	"ready" "cache: ready over the quiet period after it"
is "$(jq -r '.groups[] | select(.group == "cache") | [.would_deny.packets, .last_new_flow, .connections, .covered_connections] | @tsv' "$tmp/r2.json")" \
	"$(printf '0\t2026-11-01T10:00:00.000Z\t40\t40')" \
	"cache: 0 would-deny, its last new flow, 40 of 40 connections covered"
is "$(jq -r '.groups[] | select(.group == "api") | [.verdict, .would_deny.packets, .would_deny.flows, .connections, .covered_connections, .until_expired] | @tsv' "$tmp/r2.json")" \
	"$(printf 'not ready\t19\t8\t36\t30\ttrue')" \
	"api: not ready, 19 packets in 8 flows, 30 of 36 connections covered, its until expired"
ready --since 2026-12-01 >"$tmp/r3.txt" 2>/dev/null
is $? 0 "readiness exits 0 when every audit group is ready"
is "$(grep -c ': ready: no would-deny since 2026-12-01' "$tmp/r3.txt")" 3 \
	"text: each of the 3 audit groups ready"

# readiness by durations: a would-deny 3 days ago
t3=$(date -u -d '3 days ago' +%Y-%m-%dT%H:%M:%S.000Z)
jq -c --arg t "$t3" 'select(.destination.group == "cache") | .event.start = $t | .event.end = $t' \
	"$F/denied.jsonl" >"$tmp/recent.jsonl"
"$BH_CTL" readiness --policy "$F/policy" --denied-file "$tmp/recent.jsonl" \
	--flows-file /nonexistent --since 7d --json >"$tmp/r4.json" 2>/dev/null
is "$(jq -r '.groups[] | select(.group == "cache") | .verdict' "$tmp/r4.json")" \
	"not ready" "--since 7d over a would-deny 3 days ago: not ready"
"$BH_CTL" readiness --policy "$F/policy" --denied-file "$tmp/recent.jsonl" \
	--flows-file /nonexistent --since 2d --json >"$tmp/r5.json" 2>/dev/null
is "$(jq -r '.groups[] | select(.group == "cache") | .verdict' "$tmp/r5.json")" \
	"ready" "--since 2d: ready (quiet since)"
s=$(jq -r '.groups[] | select(.group == "cache") | .since_last_new_flow_s' "$tmp/r5.json")
[ "$s" -ge 259000 ] && [ "$s" -le 262000 ]
ok $? "time since the last new would-deny flow: about 3 days ($s s)"

# a tampered record: a group name with a line break stays in its comment
jq -c 'select(.destination.port == 9100) | .source.group = "x\nflows: [evil]"' \
	"$F/denied.jsonl" >"$tmp/evil.jsonl"
D="$tmp/evil.jsonl" rec >"$tmp/evil.yaml" 2>/dev/null
grep -q '^#   x?flows: \[evil\] -> api tcp/9100: a group that is not in the policy$' "$tmp/evil.yaml" &&
	! grep -q '^flows: \[evil\]' "$tmp/evil.yaml"
ok $? "a line break in a record's group name cannot add YAML to the output"

# quiet must be shown: records that begin inside the period cannot
"$BH_CTL" readiness --policy "$F/policy" --denied-file /nonexistent \
	--flows-file /nonexistent --since 7d --json >"$tmp/r6.json" 2>/dev/null
is $? 1 "no records at all: readiness exits 1"
is "$(jq -r '[.groups[] | .verdict] | unique | join(",")' "$tmp/r6.json")" \
	"not ready" "... every audit group not ready"
jq -r '.groups[0].reason' "$tmp/r6.json" | grep -q '^no records at all'
ok $? "... and the reason says there are no records"
"$BH_CTL" readiness --policy "$F/policy" --denied-file /nonexistent \
	--flows-file "$F/flows.jsonl" --since 2026-10-01 --json >"$tmp/r7.json" 2>/dev/null
is "$(jq -r '.groups[] | select(.group == "db") | [.verdict, .records_since] | @tsv' "$tmp/r7.json")" \
	"$(printf 'not ready\t2026-11-01T08:00:00.000Z')" \
	"records beginning after the period's start: not ready"
jq -r '.groups[] | select(.group == "db") | .reason' "$tmp/r7.json" |
	grep -q "^no would-deny, but the records begin at 2026-11-01T08:00:00.000Z, after the period's start"
ok $? "... and the reason says when they begin"
"$BH_CTL" readiness --policy "$F/policy" --denied-file /nonexistent \
	--flows-file "$F/flows.jsonl" --since 2026-11-02 --json >"$tmp/r8.json" 2>/dev/null
is "$(jq -r '.groups[] | select(.group == "db") | .verdict' "$tmp/r8.json")" \
	"ready" "... ready over a period they cover"

# 40 scattered ports: listed exactly, with a note; the flow after it
# (web -> db, a crossing) is still matched to check's finding by line
for p in $(seq 20000 2 20078); do
	jq -c --argjson p "$p" 'select(.destination.port == 9100) | .destination.port = $p' "$F/denied.jsonl"
done >"$tmp/many.jsonl"
jq -c 'select(.destination.group == "db")' "$F/denied.jsonl" >>"$tmp/many.jsonl"
D="$tmp/many.jsonl" rec >"$tmp/many.yaml" 2>/dev/null
is $? 0 "40 scattered ports: recommend exits 0"
grep -q '^  # 40 port entries: ports chosen at random' "$tmp/many.yaml"
ok $? "... a note says the list is long"
is "$(grep -o 'tcp/200[0-9][0-9]' "$tmp/many.yaml" | wc -l)" 40 "... each port listed, none bridged"
grep -q "^#   web -> db \[tcp/5432\]: flow web -> db crosses boundary" "$tmp/many.yaml"
ok $? "... and the crossing flow after it is still left out with check's finding"

# bad input: a clear message, exit 2, nothing written
rec --group nosuch -o "$tmp/x.yaml" >/dev/null 2>"$tmp/err"
is $? 2 "recommend --group of no group exits 2"
grep -q "'nosuch' is not a container group" "$tmp/err"
ok $? "... and says so"
[ ! -e "$tmp/x.yaml" ]
ok $? "... and writes nothing"
rec --since yesterday >/dev/null 2>&1
is $? 2 "recommend --since yesterday exits 2"
ready --since 5x >/dev/null 2>&1
is $? 2 "readiness --since 5x exits 2"
"$BH_CTL" readiness --policy "$F/denied.jsonl" --records "$F" >/dev/null 2>&1
is $? 2 "readiness with a policy that has errors exits 2"
done_testing
