#!/bin/bash
# attach, detach, relabel and readdress take effect on the very next
# connection; the state file follows every change; conflicting or unknown
# requests are refused and change nothing.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dispatch.sh"
kd_nft() { nft_host "$@"; }

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
ns_add other 10.77.0.31 fd77::31
serve_tcp api 8080
serve_tcp other 8080

cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }

group_of() {
	bhctl status --json | jq -r --arg id "id-$1" \
		'.containers[] | select(.id == $id) | .group'
}
state_has() {
	bhd_state_ids | grep -qx "id-$1"
}

is "$(probe tcp web 10.77.0.21 8080)" pass "nothing attached: not ours, passes"
bhd_attach api bulkhead.purpose=api >/dev/null
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "api attached, web unknown: world -> api drops"
bhd_attach web bulkhead.purpose=web >/dev/null
is "$(probe tcp web 10.77.0.21 8080)" pass "web attached: web -> api passes at once"
state_has web; ok $? "state file has web"

# relabel: same id, new labels
out=$(bhd_attach web bulkhead.purpose=database)
ok $? "relabel accepted"
is "$(group_of web)" db "web is now in db ($out)"
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "relabelled to db: the next connection drops"
is "$(probe_deny api tcp web fd77::21 8080)" drop "over IPv6 too"
bhd_attach web bulkhead.purpose=web >/dev/null
is "$(probe tcp web fd77::21 8080)" pass "relabelled back: passes again"

# readdress: keep only the IPv6 address
bhctl attach --id id-web --name web --label bulkhead.purpose=web \
	--ip fd77::11 --ifname v-web >/dev/null
ok $? "readdress accepted"
is "$(bhctl status --json | jq -r '.containers[] | select(.id == "id-web") |
	.ips | join(",")')" "fd77::11" "web has only its IPv6 address"
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "its old IPv4 address is world now: drops"
is "$(probe tcp web fd77::21 8080)" pass "IPv6 still passes"
bhd_attach web bulkhead.purpose=web >/dev/null

# refusals change nothing
before=$(bhctl status --json | jq -c .containers)
bhctl attach --id id-thief --name thief --label bulkhead.purpose=api \
	--ip 10.77.0.21 >/dev/null 2>"$NS_TMP/err"
is $? 1 "an address of another container is refused"
grep -q "belongs to container api" "$NS_TMP/err"; ok $? "and says whose it is"
bhctl detach --id id-nosuch 2>"$NS_TMP/err"
is $? 1 "detach of an unknown id is refused"
grep -q "no container with id id-nosuch" "$NS_TMP/err"; ok $? "and says so"
bhctl attach --id id-x --ip 10.77.0.300 >/dev/null 2>&1
is $? 1 "a malformed address is refused"
bhctl attach --id id-x --label nolabel --ip 10.77.0.99 >/dev/null 2>&1
is $? 2 "a malformed label is a usage error"
is "$(bhctl status --json | jq -c .containers)" "$before" "nothing changed"

# quarantine (the CNI plugin's attach before labels are known): nothing
# passes, not even a declared flow, until an attach with labels
printf '%s\n' '{"version":1,"op":"attach","id":"id-api","name":"api","ips":["10.77.0.21","fd77::21"],"ifname":"v-api","source":"cni","quarantine":true}' |
	timeout 5 socat -t3 - "UNIX-CONNECT:$BHD_SOCK" | jq -en 'input | .ok' >/dev/null
ok $? "attach api in quarantine"
is "$(group_of api)" quarantine "api is in quarantine"
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "declared web -> api drops while api is quarantined"
bhd_attach api bulkhead.purpose=api >/dev/null
is "$(group_of api)" api "labels known: api back in api"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api passes again"

# a container that matches no group gets no lateral flows
bhd_attach other bulkhead.purpose=nothing >/dev/null
is "$(group_of other)" unassigned "other is unassigned"
is "$(probe_deny other tcp web 10.77.0.31 8080)" drop "web -> unassigned drops"

# detach
bhctl detach --id id-api >/dev/null
ok $? "detach api"
state_has api; is $? 1 "state file no longer has api"
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "api detached: web has no flow to world, drops"
bhctl detach --id id-web >/dev/null
bhctl detach --id id-other >/dev/null
is "$(probe tcp web 10.77.0.21 8080)" pass "both detached: not ours, passes"
is "$(bhd_state_ids | wc -l)" 0 "durable state empty"
c=$(bhctl status --json | jq .counters)
is "$(echo "$c" | jq .commits_full)" 1 "one full commit (start-up) only"
[ "$(echo "$c" | jq .commits_delta)" -ge 8 ]; ok $? "every change was an element delta"

# A host-side port has one owner: anti-spoofing keys it to one
# container's addresses.
bhctl attach --id port-a --name port-a --label bulkhead.purpose=db \
	--ip 10.77.2.1 --ifname vethshared >/dev/null
ok $? "attach port-a on vethshared"
out=$(bhctl attach --id port-b --name port-b --label bulkhead.purpose=db \
	--ip 10.77.2.2 --ifname vethshared 2>&1)
ok $((! $?)) "a second container on vethshared is refused"
echo "$out" | grep -q "interface vethshared belongs to container port-a"
ok $? "... saying whose interface it is" || diag "$out"
bhctl detach --id port-a >/dev/null
bhctl attach --id port-b --name port-b --label bulkhead.purpose=db \
	--ip 10.77.2.2 --ifname vethshared >/dev/null
ok $? "once port-a is gone, port-b may take vethshared"
bhctl detach --id port-b >/dev/null

# More containers than the presized sets hold (64 + headroom when empty):
# the attach that would overflow becomes one full commit, and every
# container before and after it stays in the kernel's maps.
n_ok=0
for i in $(seq 1 80); do
	bhctl attach --id "bulk-$i" --name "bulk-$i" \
		--label bulkhead.purpose=db --ip "10.77.1.$i" >/dev/null &&
		n_ok=$((n_ok + 1))
done
is "$n_ok" 80 "80 more containers attach"
c=$(bhctl status --json | jq .counters)
[ "$(echo "$c" | jq .commits_full)" -ge 2 ]
ok $? "a set outgrew its size: full commit instead of a delta"
is "$(kd_members v4 | grep -c '^10\.77\.1\.')" 80 \
	"all 80 addresses are in the kernel's bit sets"
is "$(kd_chain 10.77.1.80 v4 in)" in_unassigned "... which send the last of them to in_unassigned (purpose=db is no group)"
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach web bulkhead.purpose=web >/dev/null
is "$(probe tcp web 10.77.0.21 8080)" pass "web -> api passes after the regrowth"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
