#!/bin/bash
# bulkheadd stopped with SIGSTOP for 60 s while a real Docker changes
# containers and a static container's veth goes away: the kernel keeps
# enforcing throughout (real TCP while it is stopped), and after SIGCONT
# the daemon catches up with what it missed: the Engine API events (a
# container stopped, one started, one relabelled by recreation) and the
# link change (the veth gone), so status and the kernel table converge.
# The one long test of the suite (the issue's 60 s); every wait after it
# is bounded.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"
. "$BH_TOP/tests/lib/docker.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
STOP_SECS=${BH_SIGSTOP_SECS:-60}
ns_init
ns_add s1 10.77.0.31 "" || exit 2
ns_add s2 10.77.0.32 "" || exit 2
dk_init || { echo "Bail out! cannot build the image"; exit 2; }
if ! dk_start; then
	why=$(grep -m1 -iE 'level=(fatal|error)|failed to start' \
		"$DK_DIR/dockerd.log" | cut -c1-300)
	skip_all "dockerd cannot run here: ${why:-no answer on its socket}"
fi
cat >"$NS_TMP/policy.yaml" <<'YAML'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
  - { from: api, to: db, ports: [tcp/5432] }
YAML
run() { # NAME PURPOSE
	dk_run "$1" --label "bulkhead.purpose=$2" --stop-timeout 1 >/dev/null
}
run web web || { echo "Bail out! docker run"; exit 2; }
run api api || exit 2
run gone api || exit 2
run relabel api || exit 2
bhd_start "$NS_TMP/policy.yaml" --engine "unix://$DK_SOCK" ||
	{ fail "bulkheadd up"; done_testing; }
bhd_attach s1 bulkhead.purpose=web >/dev/null
bhd_attach s2 bulkhead.purpose=api >/dev/null
ctr() { # NAME: [group, ips]
	bhctl status --json 2>/dev/null | jq -c --arg n "$1" \
		'.containers[] | select(.name == $n) | [.group, (.ips | sort)]'
}
converge() { # NAME WANT [TRIES]
	local i
	for i in $(seq "${3:-300}"); do
		[ "$(ctr "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
ip_of() { dk_ip "$1" bridge; }
in_table() {
	nft_host list table inet bulkhead 2>/dev/null | grep -v 'limit rate' |
		grep -qE "(^|[^0-9.])${1//./\\.}([^0-9.]|\$)" && echo 1 || echo 0
}
W=$(ip_of web) A=$(ip_of api) G=$(ip_of gone) R=$(ip_of relabel)
r=0
for n in web:web api:api gone:api relabel:api; do
	converge "${n%%:*}" "[\"${n#*:}\",[\"$(ip_of "${n%%:*}")\"]]" || r=1
done
ok $r "four Docker containers attached in their groups"
pm_serve "$(dk_key api)" 8080
pm_serve "$(dk_key web)" 8080
serve_tcp s2 8080

pstate() { awk '{ print $3 }' "/proc/$BHD_PID/stat"; }
kill -STOP "$BHD_PID"
t0=$SECONDS
for _ in $(seq 100); do	# the signal is delivered asynchronously
	[ "$(pstate)" = T ] && break
	sleep 0.05
done
is "$(pstate)" T "bulkheadd is stopped (SIGSTOP)"
# while it is stopped: the kernel enforces
is "$(dk_pass "$(dk_key web)" "$A" 8080)" pass "stopped: declared web -> api passes"
is "$(pm_probe_deny "$(dk_key web)" "$(dk_key api)" "$W" 8080)" drop \
	"stopped: undeclared api -> web drops"
is "$(probe_want pass tcp s1 10.77.0.32 8080)" pass "stopped: static s1 -> s2 (web -> api) passes"
# what it misses: engine events and a link change
dk rm -f gone >/dev/null
dk rm -f relabel >/dev/null
run relabel db
run late db
L=$(ip_of late) R2=$(ip_of relabel)
nsx host ip link del v-s1
ok $? "stopped: gone and relabel removed, relabel recreated as db, late started, s1's veth deleted"
left=$((STOP_SECS - (SECONDS - t0)))
[ $left -gt 0 ] && sleep $left
is "$(pstate)" T "still stopped after ${STOP_SECS} s"
is "$(dk_pass "$(dk_key web)" "$A" 8080)" pass "after ${STOP_SECS} s: declared web -> api still passes"
is "$(pm_probe_deny "$(dk_key web)" "$(dk_key api)" "$W" 8080)" drop \
	"after ${STOP_SECS} s: undeclared api -> web still drops"

kill -CONT "$BHD_PID"
bhd_wait_ready 30
ok $? "SIGCONT: bulkheadd answers again"
converge late "[\"db\",[\"$L\"]]"
ok $? "caught up: late (started while stopped) attached in db"
converge relabel "[\"db\",[\"$R2\"]]"
ok $? "caught up: relabel (recreated as db while stopped) in db" ||
	diag "relabel: $(ctr relabel)"
converge gone ""
ok $? "caught up: gone (removed while stopped) detached"
converge s1 ""
ok $? "caught up: s1 (veth deleted while stopped) detached by the link watcher"
for x in "$G" "$R"; do
	[ "$x" = "$L" ] || [ "$x" = "$R2" ] && continue	# reused by Docker
	is "$(in_table "$x")" 0 "the removed containers' address $x left the table"
done
is "$(in_table 10.77.0.31)" 0 "s1's address left the table"
pm_serve "$(dk_key late)" 5432
is "$(dk_pass "$(dk_key api)" "$L" 5432)" pass "late gets db's flows: api -> late tcp/5432 passes"
is "$(pm_probe_deny "$(dk_key api)" "$(dk_key web)" "$L" 5432)" drop "web -> late drops"
kernel_matches_model
ok $? "the kernel table equals the daemon's model"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
