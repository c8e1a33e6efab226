#!/bin/bash
# bulkheadd --engine A --engine B against two real Podman API services
# (two `podman system service`, each with its own root, runroot, events
# log and socket): containers of both engines are attached and a flow
# between them is enforced; stopping engine B marks only B stale while its
# containers keep their policy and engine A goes on converging; B back is
# up again. A repeated or malformed --engine stops bulkheadd before it
# touches the kernel.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
ns_init
pm_init || { echo "Bail out! cannot build the rootfs"; exit 2; }

# Engine B: podman.sh's helpers with B's state (PM_DIR, PM_SOCK, PM_SVC_PID
# are dynamically scoped in `on_b`).
B_DIR=$NS_TMP/pmb
B_SOCK=$B_DIR/api.sock
B_PID=
B_NET=
mkdir -p "$B_DIR/net"
sed "s|$PM_DIR/|$B_DIR/|g" "$PM_DIR/containers.conf" >"$B_DIR/containers.conf"
on_b() {
	local PM_DIR=$B_DIR PM_SOCK=$B_SOCK PM_SVC_PID=$B_PID rc

	"$@"
	rc=$?
	B_PID=$PM_SVC_PID
	return $rc
}
two_cleanup() {
	local rc=$? m

	exec 2>/dev/null
	on_b pm rm -af -t 0 >/dev/null
	[ -n "$B_NET" ] && on_b pm network rm -f "$B_NET" >/dev/null
	[ -n "$B_PID" ] && kill -KILL "$B_PID"
	awk -v d="$B_DIR/" 'index($2, d) == 1 { print $2 }' /proc/mounts |
		sort -r | while read -r m; do umount -l "$m"; done
	(exit $rc)
	pm_cleanup
}
trap two_cleanup EXIT

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

# Bad input first: nothing may reach the kernel.
for bad in "--engine unix://$PM_SOCK --engine unix://$PM_SOCK|given twice" \
	   "--engine unix://$PM_SOCK --engine tcp://127.0.0.1:2375|expected unix"; do
	# shellcheck disable=SC2086
	out=$(timeout 10 nsenter --net="$(ns_path host)" -- "$BH_D" \
		--policy "$NS_TMP/policy.yaml" --socket "$NS_TMP/bad.sock" \
		--state-dir "$NS_TMP/bad-state" --denied-log "$NS_TMP/bad.log" \
		--foreground ${bad%|*} 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && grep -q "${bad#*|}" <<<"$out"
	ok $? "refused: ${bad%|*} (rc $rc: $(tail -1 <<<"$out" | head -c 120))"
	nft_host list table inet bulkhead >/dev/null 2>&1
	is "$?" 1 "... before any table was committed"
done

pm_service_start || { echo "Bail out! podman service A did not start"; exit 2; }
on_b pm_service_start || { echo "Bail out! podman service B did not start"; exit 2; }
pm_net NET1 10.91.0.0/24 || exit 2
pm_run api "$NET1" bulkhead.purpose=api >/dev/null || exit 2
# B's network after A's bridge exists: B picks the next free bridge name
on_b pm_net B_NET 10.92.0.0/24 || exit 2
on_b pm_run web "$B_NET" bulkhead.purpose=web >/dev/null || exit 2
A1=$(pm_ip api "$NET1")
W1=$(on_b pm_ip web "$B_NET")
BRA=$(pm network inspect -f '{{.NetworkInterface}}' "$NET1")
BRB=$(on_b pm network inspect -f '{{.NetworkInterface}}' "$B_NET")
diag "engine A: api $A1 on $NET1 ($BRA); engine B: web $W1 on $B_NET ($BRB)"
[ -n "$BRA" ] && [ "$BRA" != "$BRB" ]
ok $? "two engines, two bridges in the test's host namespace"

bhd_start "$NS_TMP/policy.yaml" --engine "unix://$PM_SOCK" \
	--engine "unix://$B_SOCK" || { fail "bulkheadd up"; done_testing; }
pass "bulkheadd with two --engine up"

ctr() { # NAME: [group, ips] as the daemon has it, "" when unknown
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
# [state, stale, containers] of every engine, in --engine order
engines() {
	bhctl status --json 2>/dev/null |
		jq -c '[.engines[] | [.state, .stale, .containers]]'
}
wait_engines() { # WANT
	local i
	for i in $(seq 100); do
		[ "$(engines)" = "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
cserve() { pm_serve "$@"; }	# KEY PORT
cprobe() { pm_probe "$@"; }	# KEY DST PORT

converge api "[\"api\",[\"$A1\"]]"
ok $? "engine A's container attached in group api"
converge web "[\"web\",[\"$W1\"]]"
ok $? "engine B's container attached in group web"
wait_engines '[["up",false,1],["up",false,1]]'
is "$(engines)" '[["up",false,1],["up",false,1]]' \
	"status: both engines up, not stale, one container each"
st=$(bhctl status --json 2>/dev/null)
is "$(jq -r '[.engines[].url] | join(" ")' <<<"$st")" \
	"unix://$PM_SOCK unix://$B_SOCK" "status lists the engines in --engine order"
is "$(jq -c '.engine == .engines[0]' <<<"$st")" true \
	"\"engine\" is still there: the first engine"
is "$(jq -r '[.containers[] | .name + "@" + .engine] | sort | join(" ")' <<<"$st")" \
	"api@unix://$PM_SOCK web@unix://$B_SOCK" "each container names its engine"

KA=$(pm inspect -f '{{.NetworkSettings.SandboxKey}}' api)
KW=$(on_b pm inspect -f '{{.NetworkSettings.SandboxKey}}' web)
cserve "$KA" 8080
cserve "$KW" 8080
is "$(cprobe "$KW" "$A1" 8080)" pass "declared web (B) -> api (A) tcp/8080 passes"
is "$(pm_probe_deny "$KW" "$KA" "$W1" 8080)" drop \
	"undeclared api (A) -> web (B) drops (web answers itself)"

# engine B goes away: only B is stale, its container keeps its policy
on_b pm_service_stop
wait_engines '[["up",false,1],["down",true,1]]'
is "$(engines)" '[["up",false,1],["down",true,1]]' \
	"engine B down: only B is stale, A stays up"
bhctl status 2>/dev/null | grep -q "^engine unix://$B_SOCK: down (STALE"
ok $? "bulkheadctl status says engine B is stale"
b_errors() { bhctl status --json 2>/dev/null | jq '.engines[1].errors // 0'; }
e0=$(b_errors)
for _ in $(seq 200); do	# one more failed reconnect: B's source ran since
	[ "$(b_errors)" -gt "$e0" ] && break
	sleep 0.1
done
[ "$(b_errors)" -gt "$e0" ]
ok $? "the daemon tried engine B again after it went down"
is "$(ctr web)" "[\"web\",[\"$W1\"]]" "B's container keeps its group"
is "$(cprobe "$KW" "$A1" 8080)" pass "... its declared flow still passes"
is "$(pm_probe_deny "$KW" "$KA" "$W1" 8080)" drop \
	"... and the undeclared one still drops (web answers itself)"
pm_run db "$NET1" bulkhead.purpose=api >/dev/null
D1=$(pm_ip db "$NET1")
converge db "[\"api\",[\"$D1\"]]"
ok $? "engine A still followed while B is down: a new container is attached"

# engine B back
on_b pm_service_start || diag "podman service B did not come back"
wait_engines '[["up",false,2],["up",false,1]]'
is "$(engines)" '[["up",false,2],["up",false,1]]' "engine B up again, not stale"
is "$(ctr web)" "[\"web\",[\"$W1\"]]" "B's container still attached after the reconnect"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
is "$(jq -r '.[] | select(.name == "web") | .engine' "$BHD_STATE/inventory.json" 2>&1)" \
	"unix://$B_SOCK" "the state file names the engine of each container"

# While the daemon is down, web stops on B and web2 starts there, likely
# on web's host-side veth name (netavark takes the lowest free vethN): the
# link watcher cannot tell, only engine B's first list can.
HW=$(jq -r '.[] | select(.name == "web") | .ifname' "$BHD_STATE/inventory.json")
on_b pm stop -t 0 web >/dev/null
on_b pm_run web2 "$B_NET" bulkhead.purpose=web >/dev/null
W2=$(on_b pm_ip web2 "$B_NET")
diag "web had $HW; web2 got $(nsx host ip -o link show master "$BRB" | awk -F'[ @:]+' '{print $2}' | tr '\n' ' ')"
bhd_start "$NS_TMP/policy.yaml" --engine "unix://$PM_SOCK" \
	--engine "unix://$B_SOCK" || fail "bulkheadd restarts"
converge web2 "[\"web\",[\"$W2\"]]"
ok $? "restarted: a container B started while the daemon was down is attached"
converge web ""
r=$?
ok $r "restarted: the one that stopped on B meanwhile is detached by B's list"
[ $r -eq 0 ] || { diag "web: $(ctr web)"; bhd_log_diag; }
is "$(ctr api)" "[\"api\",[\"$A1\"]]" "engine A's container kept"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
