#!/bin/bash
# bulkheadd --engine against a real Podman: containers run, stop, restart
# with a new address, are recreated with other labels, and the engine
# restarts while containers change; each time the kernel ruleset converges
# (the addresses in the table, bulkheadctl status) and real TCP flows
# follow (a declared flow passes, an undeclared one drops).
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"
. "$BH_TOP/tests/lib/dispatch.sh"
kd_nft() { nft_host "$@"; }

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
ns_init
pm_init || { echo "Bail out! cannot build the rootfs"; exit 2; }
cat >"$NS_TMP/policy.yaml" <<'YAML'
version: 1
settings:
  log: { window: 1s }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
YAML

pm_service_start || { echo "Bail out! podman system service did not start"; exit 2; }
pm_net NET1 10.89.0.0/24 || exit 2
pm_run api "$NET1" bulkhead.purpose=api >/dev/null || exit 2
bhd_start "$NS_TMP/policy.yaml" --engine "unix://$PM_SOCK" ||
	{ fail "bulkheadd up"; done_testing; }
pass "bulkheadd --engine up"

# NAME: [group, ips] as the daemon has it, "" when unknown
ctr() {
	bhctl status --json 2>/dev/null | jq -c --arg n "$1" \
		'.containers[] | select(.name == $n) | [.group, (.ips | sort)]'
}
converge() { # NAME WANT: waits (bounded) until ctr NAME says WANT
	local i
	for i in $(seq 150); do
		[ "$(ctr "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
ipof() { pm_ip "$1" "$NET1"; }
# the chain the kernel's bit sets send ADDR to ("" when not there)
in_chain() { kd_chain "$1" v4 in; }
# is ADDR an element of the table's sets and maps (rate meters aside)?
in_table() {
	nft_host list table inet bulkhead 2>/dev/null | grep -v 'limit rate' |
		grep -qE "(^|[^0-9.])${1//./\\.}([^0-9.]|\$)" && echo 1 || echo 0
}
# a TCP server or client inside a podman container's network namespace
cserve() { pm_serve "$(pm_key "$1")" "$2"; }
cprobe() { pm_probe "$(pm_key "$1")" "$2" "$3"; } # FROM DST PORT
cdeny() { pm_probe_deny "$(pm_key "$1")" "$(pm_key "$2")" "$3" "$4"; } # CTRL FROM DST PORT
engine_errors() { bhctl status --json 2>/dev/null | jq '.engine.errors // 0'; }
# waits (bounded) until the daemon failed to reach the engine once more
# than FLOOR times: it has been running its retries since, and could
# have acted on whatever changed before
wait_errors_above() { # FLOOR
	local i
	for i in $(seq 200); do
		[ "$(engine_errors)" -gt "$1" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

A1=$(ipof api)
converge api "[\"api\",[\"$A1\"]]"
ok $? "container running before the daemon: attached in group api"
pm_run web "$NET1" bulkhead.purpose=web >/dev/null
W1=$(ipof web)
converge web "[\"web\",[\"$W1\"]]"
ok $? "started container: attached in group web"
is "$(in_table "$A1"),$(in_table "$W1")" "1,1" "both addresses are in the kernel table"
hif=$(bhctl status --json 2>/dev/null |
	jq -r '.containers[] | select(.name == "web") | .ifname')
key=$(pm inspect -f '{{.NetworkSettings.SandboxKey}}' web)
is "$(nsx host ip -o link show "$hif" 2>/dev/null | grep -o "link-netns ${key##*/}")" \
	"link-netns ${key##*/}" "host-side veth ($hif) is the one into web's sandbox"
cserve api 8080
cserve web 8080
is "$(cprobe web "$A1" 8080)" pass "declared flow web -> api passes"
is "$(cdeny web api "$W1" 8080)" drop "undeclared api -> web drops (web answers itself)"

# restart with a new address
pm stop -t 0 api >/dev/null
converge api ""
ok $? "stopped: detached"
is "$(in_table "$A1")" 0 "its address left the table"
pm network disconnect "$NET1" api >/dev/null
pm network connect --ip 10.89.0.77 "$NET1" api >/dev/null
pm start api >/dev/null
converge api '["api",["10.89.0.77"]]'
ok $? "restarted with a new address: attached with it"
is "$(in_table 10.89.0.77)" 1 "the new address is in the table"
cserve api 8080
is "$(cprobe web 10.89.0.77 8080)" pass "flows follow the new address"

# relabel = recreate
pm rm -f -t 0 web >/dev/null
pm_run web "$NET1" bulkhead.purpose=other >/dev/null
W2=$(ipof web)
converge web "[\"unassigned\",[\"$W2\"]]"
ok $? "recreated with other labels: new group (unassigned)"
cserve web 8080
is "$(cdeny api web 10.89.0.77 8080)" drop "its old group's flow no longer passes (api answers itself)"

# the engine restarts while containers change
pm_service_stop
for _ in $(seq 50); do
	[ "$(bhctl status --json 2>/dev/null | jq -r '.engine.stale')" = true ] && break
	sleep 0.1
done
is "$(bhctl status --json 2>/dev/null | jq -c '.engine | [.state, .stale]')" '["down",true]' \
	"engine down: status says stale"
wait_errors_above "$(engine_errors)"
ok $? "the daemon tried the engine again after it went down"
is "$(ctr api)" '["api",["10.89.0.77"]]' \
	"while the engine is down its containers keep their policy"
is "$(cdeny api web 10.89.0.77 8080)" drop "and enforcement goes on (fail closed)"
pm stop -t 0 api >/dev/null
pm_run db "$NET1" bulkhead.purpose=api >/dev/null
D1=$(ipof db)
converge api ""
ok $? "engine down, container stopped: the link watcher detaches it (veth gone)"
wait_errors_above "$(engine_errors)"
ok $? "the daemon tried the engine again after db started"
is "$(ctr db)" "" "a container started while the engine is down is not known yet"
pm_service_start || diag "podman service did not come back"
converge db "[\"api\",[\"$D1\"]]"
ok $? "after reconnect: the container started meanwhile is attached"
is "$(bhctl status --json 2>/dev/null | jq -c '.engine | [.state, .stale]')" '["up",false]' \
	"engine up again, not stale"
is "$(in_table 10.89.0.77),$(in_table "$D1")" "0,1" "the table converged"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag

# the daemon is down while containers change
pm stop -t 0 db >/dev/null
pm_run late "$NET1" bulkhead.purpose=web >/dev/null
L1=$(ipof late)
bhd_start "$NS_TMP/policy.yaml" --engine "unix://$PM_SOCK" ||
	fail "bulkheadd restarts"
converge late "[\"web\",[\"$L1\"]]"
ok $? "daemon restarted: a container started while it was down is attached" ||
	{ diag "late=$L1 status: $(ctr late)"; bhd_log_diag; }
converge db ""
ok $? "daemon restarted: one that stopped while it was down is detached"
is "$(in_table "$D1"),$(in_table "$L1")" "0,1" "the table converged"

# An address conflict the daemon itself refuses: a static container holds
# the address a Podman container then gets. docker.c inspects the refused
# container again every 2 s until the daemon takes it.
HOLD=10.89.0.88
bhctl attach --id static-hold --name hold --label bulkhead.purpose=web \
	--ip "$HOLD" >/dev/null
ok $? "a static container holds $HOLD"
n=$(lines "$BHD_LOG")
pm run -d --name clash --network "$NET1" --ip "$HOLD" \
	--label bulkhead.purpose=api --rootfs "$PM_ROOTFS" /bin/sleep 3600 >/dev/null
ok $? "podman runs clash with that address"
CID=$(pm inspect -f '{{.Id}}' clash)
why="attaching ${CID:0:12}: address $HOLD belongs to container hold (static-hold)"
for _ in $(seq 150); do
	bhctl status --json 2>/dev/null | jq -r '.engine.last_error // ""' |
		grep -qF "$why" && break
	sleep 0.1
done
bhctl status --json 2>/dev/null | jq -r '.engine.last_error // ""' | grep -qF "$why"
ok $? "the daemon refuses clash's attach: status names the holder" ||
	diag "last_error: $(bhctl status --json | jq -r .engine.last_error)"
tail -n +$((n + 1)) "$BHD_LOG" | grep -qF "$why; retrying every 2000 ms"
ok $? "logged, with the retry"
is "$(ctr clash)" "" "clash is not attached"
is "$(ctr hold)" "[\"web\",[\"$HOLD\"]]" "the holder keeps the address"
is "$(in_chain "$HOLD")" in_web "... in the kernel: the dispatch sends it to web's chain"
out=$(bhctl attach --id static-2 --name hold2 --ip "$L1" 2>&1)
r=$?
[ $r -ne 0 ] && grep -qF "address $L1 belongs to container late" <<<"$out"
ok $? "the reverse: a static attach of late's address is refused (rc $r: $out)"
bhctl detach --id static-hold >/dev/null
ok $? "the holder detached"
converge clash "[\"api\",[\"$HOLD\"]]"
ok $? "with the conflict gone the engine source's retry attaches clash" ||
	bhd_log_diag
is "$(in_chain "$HOLD")" in_api "in the kernel it is now clash's: the dispatch sends it to api's chain"
cserve clash 8080
cserve clash 8081
is "$(cprobe late "$HOLD" 8080)" pass "and clash gets its group's flows (web -> api)"
is "$(cdeny clash late "$HOLD" 8081)" drop "... only those (tcp/8081 drops)"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
