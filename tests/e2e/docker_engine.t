#!/bin/bash
# bulkheadd --engine against a real Docker (Debian's docker.io: dockerd,
# its own containerd, runc) with Docker's own iptables-nft rules in the same
# network namespace: Docker's ip filter FORWARD (policy drop, but ICC and
# published ports accepted) and ip nat (DNAT of published ports) beside our
# inet bulkhead. Real TCP shows that our groups judge containers on the
# default bridge and on a user network, that Docker's accepts open no hole
# (an undeclared flow on docker0 drops and is recorded), that a published
# port reaches a container only as declared (world -> web tcp/80), and that
# `docker restart`, a restart of dockerd and one with --live-restore (the
# containers run on while it is away) keep all of that.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"
. "$BH_TOP/tests/lib/docker.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
ns_init
# "world": a machine outside, on the host's br0 (10.77.0.1)
ns_add world 10.77.0.50 "" || { echo "Bail out! cannot create world"; exit 2; }
dk_init || { echo "Bail out! cannot build the image"; exit 2; }
# as on a fresh host: dockerd turns forwarding on itself, and then sets its
# FORWARD chain's policy to drop
nsx host sh -c 'echo 0 > /proc/sys/net/ipv4/ip_forward' || exit 2
if ! dk_start; then
	why=$(grep -m1 -iE 'level=(fatal|error)|failed to start' \
		"$DK_DIR/dockerd.log" | cut -c1-300)
	skip_all "dockerd cannot run here: ${why:-no answer on its socket (see its log)}"
fi
cat >"$NS_TMP/policy.yaml" <<'YAML'
version: 1
settings:
  log: { window: 1s }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: world, to: web, ports: [tcp/80] }
  - { from: web, to: api, ports: [tcp/8080] }
YAML
UNET=$NS_PREFIX-u
dk network create --subnet 172.31.77.0/24 "$UNET" >/dev/null ||
	{ echo "Bail out! docker network create"; exit 2; }
run() { # NAME NET PURPOSE [OPTS...]
	local n=$1 net=$2 p=$3

	shift 3
	dk_run "$n" --network "$net" --label "bulkhead.purpose=$p" \
		--restart always --stop-timeout 1 "$@" >/dev/null
}
run web bridge web -p 8080:80 -p 8081:81 || { echo "Bail out! docker run"; exit 2; }
run api bridge api || exit 2
run db bridge db || exit 2
run web2 "$UNET" web || exit 2
run api2 "$UNET" api || exit 2
pass "dockerd runs 5 containers: 3 on docker0, 2 on a user network"

bhd_start "$NS_TMP/policy.yaml" --engine "unix://$DK_SOCK" ||
	{ fail "bulkheadd up"; done_testing; }
pass "bulkheadd --engine (Docker) up"

ctr() { # NAME: [group, ips] as the daemon has it
	bhctl status --json 2>/dev/null | jq -c --arg n "$1" \
		'.containers[] | select(.name == $n) | [.group, (.ips | sort)]'
}
ifname_of() {
	bhctl status --json 2>/dev/null | jq -r --arg n "$1" \
		'.containers[] | select(.name == $n) | .ifname'
}
converge() { # NAME WANT
	local i
	for i in $(seq 300); do
		[ "$(ctr "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
ip_of() { # NAME: its address on its one network
	dk inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$1"
}
# the host-side veth's peer is the container's eth0
veth_ok() { # NAME
	local hif peer

	hif=$(ifname_of "$1")
	[ -n "$hif" ] || return 1
	peer=$(nsenter --net="$(dk_key "$1")" -- ip -o link show eth0 |
		sed -nE 's/^[0-9]+: eth0@if([0-9]+):.*/\1/p')
	[ "$(nsx host cat "/sys/class/net/$hif/ifindex" 2>/dev/null)" = "$peer" ] ||
		[ "$(nsx host ip -o link show "$hif" | cut -d: -f1)" = "$peer" ]
}
all_attached() {
	local n
	for n in web api db web2 api2; do
		converge "$n" "[\"${GROUP[$n]}\",[\"$(ip_of "$n")\"]]" || {
			diag "$n: $(ctr "$n") (docker: $(ip_of "$n"))"
			return 1
		}
	done
}
declare -A GROUP=([web]=web [api]=api [db]=db [web2]=web [api2]=api)
serve_all() {
	pm_serve "$(dk_key web)" 80 && pm_serve "$(dk_key web)" 81 &&
		pm_serve "$(dk_key web)" 8080 && pm_serve "$(dk_key api)" 8080 &&
		pm_serve "$(dk_key web2)" 8080 && pm_serve "$(dk_key api2)" 8080
}
# the first deny record after line FROM of the denied log for the flow
denied_rec() { # FROM SRC DST DPORT
	wait_line "$BHD_DENIED" "$1" "select(.event.action == \"deny\" and
		.source.ip == \"$2\" and .destination.ip == \"$3\" and
		.destination.port == $4) | [.source.group, .destination.group,
		.destination.container.name]" 10
}
# world -> host's published PORT: prints pass/drop/not-sent
world_probe() { # PORT
	local before after r

	before=$(ns_tx_packets world)
	r=$(probe tcp world 10.77.0.1 "$1")
	after=$(ns_tx_packets world)
	[ "$r" = drop ] && [ "$after" -le "$before" ] && r=not-sent
	echo "$r"
}

flows() { # WHEN
	local when=$1 n W A D W2 A2

	W=$(ip_of web) A=$(ip_of api) D=$(ip_of db) W2=$(ip_of web2) A2=$(ip_of api2)
	n=$(lines "$BHD_DENIED")
	is "$(dk_pass "$(dk_key web)" "$A" 8080)" pass \
		"$when: docker0: declared web -> api tcp/8080 passes"
	is "$(pm_probe_deny "$(dk_key web)" "$(dk_key api)" "$W" 8080)" drop \
		"$when: docker0: undeclared api -> web drops though Docker's ICC accepts it (web answers web)"
	is "$(denied_rec "$n" "$A" "$W" 8080)" '["api","web","web"]' \
		"$when: ... and is recorded (api -> web, container web)"
	is "$(pm_probe_deny "$(dk_key web)" "$(dk_key db)" "$A" 8080)" drop \
		"$when: docker0: undeclared db -> api drops"
	is "$(dk_pass "$(dk_key web2)" "$A2" 8080)" pass \
		"$when: user network: declared web2 -> api2 tcp/8080 passes"
	is "$(pm_probe_deny "$(dk_key web2)" "$(dk_key api2)" "$W2" 8080)" drop \
		"$when: user network: undeclared api2 -> web2 drops"
	is "$(denied_rec "$n" "$A2" "$W2" 8080)" '["api","web","web2"]' \
		"$when: ... and is recorded"
	is "$(probe_want pass tcp world 10.77.0.1 8080)" pass \
		"$when: published 8080 -> web:80, declared world -> web tcp/80: passes"
	is "$(dk_pass "$(dk_key web)" 127.0.0.1 81)" pass \
		"$when: web listens on 81 (its own namespace)"
	is "$(world_probe 8081)" drop \
		"$when: published 8081 -> web:81, not declared: Docker's DNAT and accept open no hole"
	is "$(denied_rec "$n" 10.77.0.50 "$W" 81)" '["world","web","web"]' \
		"$when: ... and is recorded as world -> web tcp/81"
}

all_attached
ok $? "every container attached in its group with Docker's address"
for c in web api2; do
	veth_ok "$c"
	ok $? "$c: the host-side veth ($(ifname_of "$c")) is the peer of its eth0"
done
is "$(nft_host list table ip filter 2>/dev/null | grep -c 'hook forward .*policy drop'),$(
	nft_host list table ip nat 2>/dev/null | grep -c 'dnat to 172\.17\.0\.[0-9]*:8[01]$'),$(
	nft_host list table inet bulkhead 2>/dev/null | grep -c 'hook forward')" 1,2,1 \
	"one namespace: Docker's ip filter FORWARD (policy drop), its ip nat DNAT of both published ports, our inet bulkhead forward hook"
serve_all || diag "a listener did not come up"
flows "start"

# hosts where an admin opened FORWARD (iptables -P FORWARD ACCEPT, as many
# guides say): world reaches the containers' addresses by its route, and
# Docker's filter lets all of it through; ours still decides
nft_host add chain ip filter FORWARD '{ policy accept; }'
ok $? "Docker's FORWARD policy set to accept"
W=$(ip_of web)
is "$(probe_want pass tcp world "$W" 80)" pass \
	"FORWARD accept: world -> web's address tcp/80 (declared) passes"
n=$(lines "$BHD_DENIED")
before=$(ns_tx_packets world)
r=$(probe tcp world "$W" 81)
[ "$r" = drop ] && [ "$(ns_tx_packets world)" -le "$before" ] && r=not-sent
is "$r" drop "FORWARD accept: world -> web's address tcp/81 (undeclared) drops"
is "$(denied_rec "$n" 10.77.0.50 "$W" 81)" '["world","web","web"]' \
	"... and is recorded"

# docker restart: die + start, a new sandbox and veth
old=$(ifname_of web)
dk restart -t 1 web >/dev/null
for _ in $(seq 300); do
	new=$(ifname_of web)
	[ -n "$new" ] && [ "$new" != "$old" ] && break
	sleep 0.1
done
[ -n "$new" ] && [ "$new" != "$old" ]
ok $? "docker restart web: attached again on its new veth ($old -> $new)"
all_attached
ok $? "every container in its group after docker restart"
pm_serve "$(dk_key web)" 80 && pm_serve "$(dk_key web)" 81 &&
	pm_serve "$(dk_key web)" 8080 || diag "web's listeners did not come up"
flows "after docker restart"

# dockerd restarts: it stops its containers, starts them again (restart
# always) with new sandboxes
engine_state() {
	bhctl status --json 2>/dev/null | jq -c '.engine | [.state, .stale]'
}
dk_stop
for _ in $(seq 100); do
	[ "$(engine_state)" = '["down",true]' ] && break
	sleep 0.1
done
is "$(engine_state)" '["down",true]' "dockerd stopped: status says the engine is down, stale"
dk_start || { fail "dockerd restarts"; done_testing; }
for _ in $(seq 300); do
	[ "$(engine_state)" = '["up",false]' ] && break
	sleep 0.1
done
is "$(engine_state)" '["up",false]' "dockerd back: the engine is up, not stale"
all_attached
ok $? "every container attached in its group after dockerd restarted" ||
	bhd_log_diag
for c in web api2; do
	veth_ok "$c"
	ok $? "$c: its new host-side veth ($(ifname_of "$c")) is the peer of its eth0"
done
serve_all || diag "a listener did not come up"
flows "after dockerd restart"

# --live-restore: the containers outlive dockerd; while it is away they
# keep their groups and flows, and when it is back nothing is attached again
dk_stop
dk_start --live-restore || { fail "dockerd with --live-restore"; done_testing; }
for _ in $(seq 300); do
	[ "$(engine_state)" = '["up",false]' ] && all_attached 2>/dev/null && break
	sleep 0.1
done
all_attached
ok $? "dockerd --live-restore: every container attached in its group"
serve_all || diag "a listener did not come up"
declare -A KEY IFN
for c in web api web2 api2; do
	KEY[$c]=$(dk_key "$c") IFN[$c]=$(ifname_of "$c")
done
W=$(ip_of web) A=$(ip_of api)
a0=$(bhd_counter attaches)
dk_stop
for _ in $(seq 100); do
	[ "$(engine_state)" = '["down",true]' ] && break
	sleep 0.1
done
is "$(engine_state)" '["down",true]' "dockerd stopped with live-restore: the engine is down, stale"
kill -0 "${KEY[web]//[^0-9]/}" 2>/dev/null && kill -0 "${KEY[api]//[^0-9]/}" 2>/dev/null
ok $? "... and its containers still run"
is "$(ctr web),$(ctr api)" "[\"web\",[\"$W\"]],[\"api\",[\"$A\"]]" "they keep their groups"
is "$(dk_pass "${KEY[web]}" "$A" 8080)" pass "dockerd away: declared web -> api passes"
is "$(pm_probe_deny "${KEY[web]}" "${KEY[api]}" "$W" 8080)" drop \
	"dockerd away: undeclared api -> web drops"
is "$(probe_want pass tcp world 10.77.0.1 8080)" pass \
	"dockerd away: published 8080 (Docker's DNAT stays) passes as declared"
is "$(world_probe 8081)" drop "dockerd away: published 8081 drops"
dk_start --live-restore || { fail "dockerd back"; done_testing; }
for _ in $(seq 300); do
	[ "$(engine_state)" = '["up",false]' ] && break
	sleep 0.1
done
is "$(engine_state)" '["up",false]' "dockerd back: the engine is up, not stale"
all_attached
ok $? "every container still in its group"
r=0
for c in web api web2 api2; do
	[ "$(ifname_of "$c")" = "${IFN[$c]}" ] || r=1
done
ok $r "on the same veths"
sleep 1	# the list and its inspects have run (engine up): no attach follows
is "$(bhd_counter attaches)" "$a0" "nothing was attached again (the engine's list found no change)"
flows "after a --live-restore restart of dockerd"

bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
