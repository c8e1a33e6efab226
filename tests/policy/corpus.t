#!/bin/bash
# The policy corpus: every bad case gives exactly its expected findings
# (FILE:LINE:COL, message) and exit 1; warning cases exit 0, or 1 with
# --strict; good cases are clean and `show` matches its golden output;
# directories merge in name order. Run from anywhere; paths in the
# expected output are relative to the repository root.
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
tmp=$(mktemp -d /tmp/bh-policy.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# run_check EXPECT-FILE WANT-RC ARGS...: stderr must equal EXPECT-FILE.
run_check() {
	local expect=$1 want=$2 rc
	shift 2
	"$BH_CTL" check "$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	is "$rc" "$want" "check $* exits $want"
	if diff -u "$expect" "$tmp/err" >"$tmp/diff"; then
		pass "check $* findings"
	else
		fail "check $* findings"
		sed 's/^/#   /' "$tmp/diff" | head -20
	fi
}

n_bad=0
for f in tests/policy/bad/*.yaml; do
	run_check "${f%.yaml}.expect" 1 "$f"
	n_bad=$((n_bad + 1))
done
[ "$n_bad" -ge 40 ]; ok $? "at least 40 bad cases ($n_bad)"

for f in tests/policy/warn/*.yaml; do
	run_check "${f%.yaml}.expect" 0 "$f"
	grep -q ': warning: ' "${f%.yaml}.expect"
	ok $? "$f expects a warning"
	"$BH_CTL" check "$f" --strict >/dev/null 2>&1
	is $? 1 "check --strict $f fails on warnings"
done

for f in tests/policy/good/*.yaml; do
	run_check /dev/null 0 --strict "$f"
	"$BH_CTL" show "$f" >"$tmp/show" 2>"$tmp/err"
	is $? 0 "show $f exits 0"
	if diff -u "${f%.yaml}.show" "$tmp/show" >"$tmp/diff"; then
		pass "show $f matches ${f%.yaml}.show"
	else
		fail "show $f matches ${f%.yaml}.show"
		sed 's/^/#   /' "$tmp/diff" | head -20
	fi
done

for d in tests/policy/dirs/*/; do
	d=${d%/}
	if [ -s "$d.expect" ]; then want=1; else want=0; fi
	run_check "$d.expect" $want "$d"
done
"$BH_CTL" show tests/policy/dirs/merge >"$tmp/show" 2>/dev/null
diff -u tests/policy/dirs/merge.show "$tmp/show" >/dev/null
ok $? "show of a directory merges its *.yaml in name order"
"$BH_CTL" show tests/policy/dirs/merge/ >"$tmp/show2" 2>/dev/null
diff -u tests/policy/dirs/merge.show "$tmp/show2" >/dev/null
ok $? "a trailing slash on the directory is fine"

# The shipped policies: the demo, and every example on its own.
run_check /dev/null 0 --strict groups/
run_check /dev/null 0 --strict groups/examples/*.yaml
ls groups/examples/*.yaml >/dev/null 2>&1
ok $? "groups/examples holds examples"

# Several paths: each its own policy; one bad one fails the run.
"$BH_CTL" check groups/demo.yaml tests/policy/bad/port_zero.yaml \
	>"$tmp/out" 2>/dev/null
is $? 1 "a bad policy among several fails the check"
is "$(cat "$tmp/out")" "groups/demo.yaml: ok (5 groups, 5 flows)
tests/policy/bad/port_zero.yaml: 1 error, 0 warnings" "one summary line per policy"

# Usage errors exit 2.
"$BH_CTL" check >/dev/null 2>&1; is $? 2 "check without a path is a usage error"
"$BH_CTL" check --bogus groups/ >/dev/null 2>&1
is $? 2 "check with an unknown option is a usage error"
"$BH_CTL" show >/dev/null 2>&1; is $? 2 "show without a path is a usage error"
"$BH_CTL" show groups/ groups/ >/dev/null 2>&1
is $? 2 "show takes one path"

# show refuses a policy with errors and prints no half policy.
"$BH_CTL" show tests/policy/bad/many_errors.yaml >"$tmp/out" 2>"$tmp/err"
is $? 1 "show of a bad policy exits 1"
[ ! -s "$tmp/out" ]; ok $? "show of a bad policy prints nothing on stdout"
head -n 9 "$tmp/err" | diff - tests/policy/bad/many_errors.expect >/dev/null
ok $? "show reports the same findings as check"

# Files that cannot be read, and the size bound.
run_check <(echo "$tmp/nope.yaml: error: cannot read: No such file or directory") \
	1 "$tmp/nope.yaml"
{ echo "version: 1"; echo "groups:"
  head -c 1100000 /dev/zero | tr '\0' '#'; echo; } >"$tmp/big.yaml"
run_check <(echo "$tmp/big.yaml: error: file is larger than 1 MiB") \
	1 "$tmp/big.yaml"

# A 1,000-group policy with a flow each is clean and every group and flow
# counted. How long the check takes is tests/bench/policy_scale's figure
# (docs/benchmarks.md, "policy"); the timeout only stops a hang.
{
	echo "version: 1"; echo "groups:"
	for i in $(seq 1 1000); do
		echo "  g$i: { match: { purpose: p$i, tier: t$((i % 7)) } }"
	done
	echo "flows:"
	for i in $(seq 1 1000); do
		echo "  - { from: g$i, to: g$(( i % 1000 + 1 )), ports: [tcp/$i] }"
	done
} >"$tmp/big1000.yaml"
timeout 300 "$BH_CTL" check "$tmp/big1000.yaml" >"$tmp/out" 2>"$tmp/err"
is $? 0 "a 1,000-group policy is clean"
is "$(cat "$tmp/out")" "$tmp/big1000.yaml: ok (1000 groups, 1000 flows)" \
	"every group and flow of the 1,000-group policy is counted"
[ ! -s "$tmp/err" ]; ok $? "and it has no findings"

done_testing
