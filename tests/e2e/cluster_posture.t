#!/bin/bash
# bulkheadctl posture --cluster (NIST SP 800-190 4.3.4): three hosts
# through a real etcd, each daemon publishing in its host key how many of
# its containers hold each sensitivity level. hA runs a restricted
# container beside a low one: posture --cluster on hB names hA and those
# two levels, and hB (restricted only) and hC (low only) are clean. hB's
# own posture does not count hA's containers as on its kernel (they are in
# its sets, not on its kernel). Once hA's low container leaves, the
# cluster is clean.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cluster.sh"

cl_init
cl_etcd_start || { fail "etcd starts"; done_testing; }
cl_host hA 1 || exit 2
cl_host hB 2 || exit 2
cl_host hC 3 || exit 2
cl_add hA avault 2 || exit 2
cl_add hA aweb 3 || exit 2
cl_add hB bvault 2 || exit 2
cl_add hC cweb 2 || exit 2
cl_add hC cweb2 3 || exit 2

cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  web:   { match: { purpose: web }, sensitivity: low }
  vault: { match: { purpose: vault }, sensitivity: restricted }
flows:
  - { from: web, to: vault, ports: [tcp/8200] }
EOF2

for h in hA hB hC; do
	cl_start $h "$NS_TMP/policy.yaml" || { fail "daemon on $h"; done_testing; }
done
cl_attach hA avault bulkhead.purpose=vault >/dev/null
cl_attach hA aweb bulkhead.purpose=web >/dev/null
cl_attach hB bvault bulkhead.purpose=vault >/dev/null
cl_attach hC cweb bulkhead.purpose=web >/dev/null
cl_attach hC cweb2 bulkhead.purpose=web >/dev/null

# every host's key on B carries what its daemon published last
levels_on_b() { # HOST -> its levels as hB's hosts reply has them
	clctl hB hosts --json 2>/dev/null |
		jq -c --arg h "$1" '.hosts[] | select(.name == $h) | .levels'
}
wait_levels() { # HOST WANT
	local i

	for i in $(seq 300); do
		[ "$(levels_on_b "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	diag "levels of $1 on hB: $(levels_on_b "$1"), want $2"
	return 1
}
wait_levels hA '{"low":1,"restricted":1}'; ok $? "hA's key says low 1, restricted 1"
wait_levels hB '{"restricted":1}'; ok $? "hB's key says restricted 1"
wait_levels hC '{"low":2}'; ok $? "hC's key says low 2"
etcdctl_ get /bulkhead/v1/hosts/hA --print-value-only |
	jq -e '.levels == {"low":1,"restricted":1}' >/dev/null
ok $? "the levels are in hA's host key in etcd"

clctl hB posture --cluster --json >"$NS_TMP/pc.json" 2>"$NS_TMP/pc.err"
is $? 1 "posture --cluster on hB exits 1: a host mixes"
is "$(jq -r '[.findings[] | .kind + ":" + (.subjects | join(","))] | join(" ")' "$NS_TMP/pc.json")" \
	"host-mixing:hA,restricted,low" "one finding: hA mixes restricted with low"
is "$(jq -r '.findings[0] | [.section, .quote] | join(" | ")' "$NS_TMP/pc.json")" \
	"4.3.4 | Orchestrators should be configured to isolate deployments to specific sets of hosts by sensitivity levels." \
	"  with its section and SP 800-190's words"
ok $(jq -e '.findings[0].what_to_do | test("hosts that run only that level")' \
	"$NS_TMP/pc.json" >/dev/null; echo $?) "  and what to do"
is "$(jq -r '.findings[0].finding' "$NS_TMP/pc.json")" \
	"host hA runs containers of 2 sensitivity levels on one kernel: restricted (1 container), low (1 container)" \
	"  the finding names the host and both levels"
is "$(jq -r '[.hosts[] | .name + "=" + (.mixes | tostring)] | join(" ")' "$NS_TMP/pc.json")" \
	"hA=true hB=false hC=false" "hB and hC are clean"
is "$(jq -r '[.cluster.from, .cluster.hosts, .summary.findings] | join(",")' "$NS_TMP/pc.json")" \
	"hB,3,1" "seen from hB, 3 hosts, 1 finding"
clctl hB posture --cluster >"$NS_TMP/pc.txt" 2>&1
is $? 1 "the text form exits 1 too"
grep -q "^1. host-mixing \[§4.3.4\]$" "$NS_TMP/pc.txt"; ok $? "  numbers the finding with its section"
grep -Eq "^  hA +restricted 1, low 1  MIXES$" "$NS_TMP/pc.txt"; ok $? "  hA MIXES in the hosts list"
grep -Eq "^  hC +low 2$" "$NS_TMP/pc.txt"; ok $? "  hC is listed clean"
clctl hA posture --cluster --json | jq -c '[.findings[].subjects]' >"$NS_TMP/pa"
is "$(cat "$NS_TMP/pa")" '[["hA","restricted","low"]]' "hA sees the same"

# this host's posture: B's sets hold A's containers, B's kernel does not
clctl hB posture --json >"$NS_TMP/pb.json" 2>/dev/null
is "$(jq -r '[.findings[].kind] | index("mixing")' "$NS_TMP/pb.json")" null \
	"hB's own posture: no mixing (hA's containers are not on hB's kernel)"
is "$(jq -r .containers "$NS_TMP/pb.json")" 1 "hB's own posture counts its 1 container"
clctl hA posture --json | jq -r '.findings[] | select(.kind == "mixing") | .subjects | join(",")' >"$NS_TMP/pa2"
is "$(cat "$NS_TMP/pa2")" "restricted,low" "hA's own posture reports its mixing"

clctl hB posture --cluster --policy "$NS_TMP/policy.yaml" >/dev/null 2>"$NS_TMP/usage"
is $? 2 "--cluster with --policy is a usage error"
grep -q "no --policy, --inventory or --engine" "$NS_TMP/usage"; ok $? "  saying why"

# aweb leaves hA: every host is clean
cl_detach hA aweb >/dev/null
wait_levels hA '{"restricted":1}'; ok $? "hA's key follows the detach"
clctl hB posture --cluster --json >"$NS_TMP/pc2.json" 2>/dev/null
is $? 0 "posture --cluster exits 0 once no host mixes"
is "$(jq -r '[(.findings | length), ([.hosts[] | select(.mixes)] | length)] | join(",")' "$NS_TMP/pc2.json")" \
	"0,0" "  no finding, no host mixes"

for h in hA hB hC; do
	cl_stop $h; ok $? "$h stops cleanly" || cl_log_diag $h
done
done_testing
