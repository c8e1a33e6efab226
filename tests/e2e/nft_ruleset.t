#!/bin/bash
# Golden tests of `bulkheadctl ruleset`: the printed tables equal
# tests/policy/ruleset/*.nft, and the kernel accepts them (`nft -c -f`,
# in a namespace of our own).
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
command -v nft >/dev/null || skip_all "nft not installed"
unshare -n true 2>/dev/null || skip_all "cannot make a network namespace"
tmp=$(mktemp -d /tmp/bh-nftrs.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

for y in tests/policy/ruleset/*.yaml; do
	c=${y%.yaml}
	n=$(basename "$c")
	inv=()
	[ -f "$c.json" ] && inv=(--inventory "$c.json")
	"$BH_CTL" ruleset "$y" "${inv[@]}" >"$tmp/$n.nft" 2>"$tmp/$n.err"
	ok $? "$n: bulkheadctl ruleset exits 0"
	diff -u "$c.nft" "$tmp/$n.nft" >"$tmp/$n.diff"
	ok $? "$n: output equals the golden $c.nft"
	[ -s "$tmp/$n.diff" ] && sed 's/^/# /' "$tmp/$n.diff" | head -30
	unshare -n nft -c -f "$tmp/$n.nft" 2>"$tmp/$n.nfterr"
	ok $? "$n: nft -c -f accepts it"
	[ -s "$tmp/$n.nfterr" ] && sed 's/^/# /' "$tmp/$n.nfterr" | head -10
	# loaded for real, the kernel lists what we declared
	got=$(unshare -n sh -c "nft -f '$tmp/$n.nft' && nft list table inet bulkhead" 2>&1 |
		grep -c 'comment "flow ')
	want=$(grep -c 'comment "flow ' "$c.nft")
	is "$got" "$want" "$n: every flow rule is in the kernel with its YAML location"
done

# Determinism: the same inputs print the same bytes.
a=$("$BH_CTL" ruleset tests/policy/ruleset/demo.yaml --inventory tests/policy/ruleset/demo.json | md5sum)
b=$("$BH_CTL" ruleset tests/policy/ruleset/demo.yaml --inventory tests/policy/ruleset/demo.json | md5sum)
is "$a" "$b" "the same inputs print the same text"

# A bad policy: exit 1 and the diagnostics, nothing on stdout.
printf 'version: 1\ngroups:\n  web: { match: { purpose: web } }\nflows:\n  - { from: web, to: nowhere, ports: [tcp/80] }\n' >"$tmp/bad.yaml"
"$BH_CTL" ruleset "$tmp/bad.yaml" >"$tmp/bad.out" 2>"$tmp/bad.err"
is $? 1 "a bad policy exits 1"
grep -q "^$tmp/bad.yaml:5:[0-9]*: error: " "$tmp/bad.err"
ok $? "its diagnostics name file:line:col"
[ ! -s "$tmp/bad.out" ]
ok $? "and nothing is printed on stdout"

# A bad inventory: exit 2 with the entry named.
echo '[{"id":"a","ips":["10.0.0.1"]},{"id":"b","ips":["not-an-ip"]}]' >"$tmp/inv.json"
"$BH_CTL" ruleset tests/policy/ruleset/demo.yaml --inventory "$tmp/inv.json" >"$tmp/inv.out" 2>"$tmp/inv.err"
is $? 2 "a bad inventory exits 2"
grep -q "entry 1 (b): ips\[0\]" "$tmp/inv.err"
ok $? "the message names the entry and field"
"$BH_CTL" ruleset tests/policy/ruleset/demo.yaml --inventory "$tmp/missing.json" >/dev/null 2>&1
is $? 2 "a missing inventory file exits 2"
"$BH_CTL" ruleset tests/policy/ruleset/demo.yaml --bogus >/dev/null 2>&1
is $? 2 "an unknown option exits 2"
"$BH_CTL" ruleset tests/policy/ruleset/demo.yaml --nflog-group 77 | grep -q 'log prefix "bh/in/web/deny" group 77 drop'
ok $? "--nflog-group sets the NFLOG group of every log rule"
done_testing
