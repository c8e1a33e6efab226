#!/bin/bash
# bulkheadctl diff over a fixture of record files with times in the past
# (--records DIR, --policy PATH: no daemon): the exact output (golden),
# byte-identical across runs and whatever order the records come in; the
# --since filter; exit 1 when something would be newly denied, 0 for the
# policy against itself, 2 with check's findings for a candidate with a
# syntax error, 2 for usage errors. A container whose labels put it into
# another group under the candidate (web-old: tier=old -> legacy) is
# judged there; a record without labels keeps its recorded group.
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
tmp=$(mktemp -d /tmp/bh-diff.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
D=tests/policy/diff

diff_run() { # OUT ARGS...: stdout to OUT, stderr to OUT.err, prints rc
	local out=$1
	shift
	"$BH_CTL" diff "$@" >"$out" 2>"$out.err"
	echo $?
}

is "$(diff_run "$tmp/1" $D/cand.yaml --policy $D/now.yaml \
	--records $D/records --since 2026-11-15)" 1 \
	"a candidate that denies observed traffic: exit 1"
if diff -u $D/diff.expect "$tmp/1" >"$tmp/d"; then
	pass "  the output is the golden one"
else
	fail "  the output is the golden one"
	sed 's/^/#   /' "$tmp/d" | head -40
fi
grep -q "^newly denied: web -> api tcp/8080$" "$tmp/1" &&
	grep -q "^  groups     legacy -> api under the candidate$" "$tmp/1"
ok $? "  web-old is judged in legacy by the labels it had (it is gone)"
grep -q "^  note       the source is judged by its recorded group web: its records carry no labels$" "$tmp/1"
ok $? "  a record without labels: judged by its recorded group, and says so"
grep -q "^bulkheadctl denials: $D/records/denied.jsonl.1:3: skipped" "$tmp/1.err"
ok $? "  a truncated line is reported and skipped"
is "$(diff_run "$tmp/2" $D/cand.yaml --policy $D/now.yaml \
	--records $D/records --since 2026-11-15)" 1 "a second run: exit 1"
cmp -s "$tmp/1" "$tmp/2"
ok $? "  byte-identical to the first"

# the same records, each file's lines reversed and the files renamed so
# that they are read in another order
mkdir "$tmp/rev"
tac $D/records/flows.jsonl >"$tmp/rev/a-flows.jsonl"
tac $D/records/denied.jsonl >"$tmp/rev/b-denied.jsonl"
grep -v '08:00:0$' $D/records/denied.jsonl.1 | tac >"$tmp/rev/0.jsonl"
diff_run "$tmp/3" $D/cand.yaml --policy $D/now.yaml --records "$tmp/rev" \
	--since 2026-11-15 >/dev/null
cmp -s "$tmp/1" "$tmp/3"
ok $? "  byte-identical with the records in another order"
# the same records as ECS documents (bulkheadd --record-format ecs): the
# labels come back from bulkhead.<side>.labels
mkdir "$tmp/ecs"
for f in flows.jsonl denied.jsonl denied.jsonl.1; do
	"$BH_CTL" denials --file $D/records/$f --format ecs \
		>"$tmp/ecs/$f" 2>/dev/null
done
grep -q '"labels":\["bulkhead.purpose=web","bulkhead.tier=old"\]' \
	"$tmp/ecs/flows.jsonl"
ok $? "  (the ECS copy has the labels as keywords)"
diff_run "$tmp/4" $D/cand.yaml --policy $D/now.yaml --records "$tmp/ecs" \
	--since 2026-11-15 >/dev/null
cmp -s "$tmp/1" "$tmp/4"
ok $? "  byte-identical from the records as ECS documents"
diff_run "$tmp/j1" $D/cand.yaml --policy $D/now.yaml --records $D/records \
	--since 2026-11-15 --json >/dev/null
diff_run "$tmp/j2" $D/cand.yaml --policy $D/now.yaml --records "$tmp/rev" \
	--since 2026-11-15 --json >/dev/null
cmp -s "$tmp/j1" "$tmp/j2"
ok $? "  --json byte-identical too"
is "$(jq -r '[(.newly_denied | length), (.newly_allowed | length),
	(.changed_rule | length)] | map(tostring) | join(" ")' "$tmp/j1" 2>&1)" "4 1 0" \
	"  --json: 4 newly denied, 1 newly allowed"
is "$(jq -r '.newly_denied[] | select(.from.name == "web-old") |
	.from.candidate_group' "$tmp/j1" 2>&1)" legacy \
	"  --json: web-old's candidate group"

# --since: the udp/53 would-deny of 2026-11-01 is before it
diff_run "$tmp/all" $D/cand.yaml --policy $D/now.yaml --records $D/records \
	--since 2026-10-01 >/dev/null
grep -q "^newly denied: api -> db udp/53$" "$tmp/all" &&
	! grep -q "udp/53" "$tmp/1"
ok $? "--since leaves out what ended before it"

is "$(diff_run "$tmp/same" $D/now.yaml --policy $D/now.yaml \
	--records $D/records --since 2026-10-01)" 0 \
	"the policy against itself: exit 0"
is "$(tail -1 "$tmp/same")" "8 observations from 8 records: 0 newly denied, 0 newly allowed, 0 changed rule" \
	"  no change"

is "$(diff_run "$tmp/bad" $D/bad.yaml --policy $D/now.yaml \
	--records $D/records)" 2 "a candidate with a syntax error: exit 2"
"$BH_CTL" check $D/bad.yaml >"$tmp/check" 2>"$tmp/check.err"
cmp -s "$tmp/bad.err" "$tmp/check.err" && cmp -s "$tmp/bad" "$tmp/check"
ok $? "  reported exactly as check reports it"
grep -q "^$D/bad.yaml:4:1: error: " "$tmp/bad.err"
ok $? "  with FILE:LINE:COL"

is "$(diff_run "$tmp/u" --policy $D/now.yaml --records $D/records)" 2 \
	"no CANDIDATE: exit 2"
is "$(diff_run "$tmp/u" $D/cand.yaml --policy $D/now.yaml --since soon)" 2 \
	"a bad --since: exit 2"
is "$(diff_run "$tmp/u" $D/cand.yaml --policy $D/now.yaml \
	--records "$tmp/none")" 2 "a --records DIR that is missing: exit 2"
grep -q "$tmp/none: No such file or directory" "$tmp/u.err"
ok $? "  and says so"
mkdir "$tmp/empty"
is "$(diff_run "$tmp/u" $D/cand.yaml --policy $D/now.yaml \
	--records "$tmp/empty")" 2 "a --records DIR without record files: exit 2"
is "$(BULKHEAD_SOCKET=$tmp/no.sock diff_run "$tmp/u" $D/cand.yaml \
	--records $D/records)" 2 "no daemon and no --policy: exit 2"
grep -q "give it with --policy PATH" "$tmp/u.err"
ok $? "  and says what to do"

done_testing
