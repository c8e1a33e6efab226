#!/bin/bash
# A restart that finds many containers of the state file whose host-side
# interface is gone (the host rebooted their runtime away while bulkheadd
# was down) detaches them all in ONE kernel transaction, keeps the ones
# whose interface is there, and answers at once.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/dispatch.sh"
kd_nft() { nft_host "$@"; }

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
serve_tcp api 8080
cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF2

N=2000
mkdir -p "$BHD_STATE"
{
	echo '['
	echo '{"id":"id-web","name":"web","labels":{"bulkhead.purpose":"web"},"ips":["10.77.0.11","fd77::11"],"ifname":"v-web"},'
	echo '{"id":"id-api","name":"api","labels":{"bulkhead.purpose":"api"},"ips":["10.77.0.21","fd77::21"],"ifname":"v-api"},'
	for i in $(seq 1 $N); do
		printf '{"id":"gone-%d","name":"gone-%d","labels":{"bulkhead.purpose":"api"},"ips":["10.78.%d.%d"],"ifname":"gone%d"}' \
			"$i" "$i" $((i / 256)) $((i % 256)) "$i"
		[ "$i" -lt $N ] && echo ,
	done
	echo ']'
} >"$BHD_STATE/inventory.json"

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
n=
for i in $(seq 100); do
	n=$(bhctl status --json | jq '.containers | length')
	[ "$n" = 2 ] && break
	sleep 0.1
done
is "$n" 2 "the $N containers whose interface is gone are detached"
c=$(bhctl status --json | jq -c '.counters')
is "$(echo "$c" | jq .commits_delta)" 1 "... in one kernel transaction"
kd_members v4 >"$NS_TMP/members"
is "$(grep -c '^10\.78\.' "$NS_TMP/members")" 0 \
	"none of their addresses is left in the kernel's bit sets"
is "$(grep -cE '^10\.77\.0\.(11|21)$' "$NS_TMP/members")" 2 \
	"while the two that are there still are"
is "$(probe tcp web 10.77.0.21 8080)" pass "the two that are there keep their flows"
is "$(bhd_state_ids | wc -l)" 2 "the state file agrees"
t0=$(date +%s%N)
bhctl status >/dev/null
ok $? "status answers"
diag "status took $((($(date +%s%N) - t0) / 1000000)) ms after the reconcile"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
