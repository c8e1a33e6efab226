#!/bin/bash
# Per-port anti-spoofing: a container on two networks (two bridges, two
# host-side ports) may send each network's address only from that
# network's port. Its real addresses pass on each port; its first
# network's address sent from the second port, and the other way round,
# is dropped at the port, counted in spoofed_web and recorded as spoofing
# by web. The ports survive a restart (state file), and when one network
# goes (its veth deleted) the link watcher drops that port and keeps the
# other. Real bridges, veths and namespaces; the real daemon.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21

# the second network: bridge br1 and db on it, and web's second leg
nsx host ip link add br1 type bridge mcast_snooping 0 ||
	{ fail "a second bridge"; done_testing; }
nsx host ip addr add 10.78.0.1/24 dev br1
nsx host ip addr add fd78::1/64 dev br1 nodad
nsx host ip link set br1 up
_ns_new db || { fail "namespace db"; done_testing; }
nsx host ip link add v-db type veth peer name eth0 netns "$(ns_path db)"
nsx host ip link set v-db master br1 up
nsx db ip addr add 10.78.0.31/24 dev eth0
nsx db ip addr add fd78::31/64 dev eth0 nodad
nsx db ip link set eth0 up
nsx db ip route add default via 10.78.0.1
nsx db ip -6 route add default via fd78::1
nsx host ip link add w-web type veth peer name eth1 netns "$(ns_path web)"
nsx host ip link set w-web master br1 up
nsx web ip addr add 10.78.0.11/24 dev eth1
nsx web ip addr add fd78::11/64 dev eth1 nodad
nsx web ip link set eth1 up
# ARP asks with the interface's own address, so the spoofed packet itself
# goes out (not only an ARP request for it)
nsx web sysctl -qw net.ipv4.conf.all.arp_announce=2

cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
  - { from: web, to: db, ports: [tcp/5432] }
EOF
serve_tcp api 8080
serve_tcp db 5432

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhctl attach --id id-web --name web --label bulkhead.purpose=web \
	--port v-web=10.77.0.11,fd77::11 --port w-web=10.78.0.11,fd78::11 \
	>/dev/null
ok $? "attach with two --port"
bhd_attach api bulkhead.purpose=api >/dev/null
bhctl attach --id id-db --name db --label bulkhead.purpose=database \
	--ip 10.78.0.31 fd78::31 --ifname v-db >/dev/null
ok $? "the single-port form still attaches"
is "$(bhctl status --json | jq -c '.containers[] | select(.id == "id-web") | .ports')" \
	'[{"ifname":"v-web","ips":["10.77.0.11","fd77::11"]},{"ifname":"w-web","ips":["10.78.0.11","fd78::11"]}]' \
	"status lists each port with its own addresses"

# each port's own addresses pass on it
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api from its first port"
is "$(probe_want pass tcp web fd77::21 8080)" pass "... over IPv6"
is "$(probe_want pass tcp web 10.78.0.31 5432)" pass "web -> db from its second port"
is "$(probe_want pass tcp web fd78::31 5432)" pass "... over IPv6"
is "$(nft_host list counter bridge bulkhead spoofed_web | awk '/packets/ {print $2}')" 0 \
	"nothing of that counted as spoofed"

# Spoofing: a route sends to a peer of one network from the other
# network's address. The policy allows the flow (web -> db, web -> api),
# so only the port's anti-spoofing can stop it. Each drop's control: the
# destination's own namespace reaches it (the listener is there), and
# web's interfaces did send.
spoof_case() { # DST PORT DEV SRC what
	local fam=
	case $1 in *:*) fam=-6 ;; esac
	nsx web ip $fam route add "$1" dev "$3" src "$4"
	is "$(probe_deny "$6" tcp web "$1" "$2")" drop "$5"
	nsx web ip $fam route del "$1" dev "$3" src "$4"
}
spoof_case 10.78.0.31 5432 eth1 10.77.0.11 \
	"the first port's address from the second port is dropped" db
spoof_case 10.77.0.21 8080 eth0 10.78.0.11 \
	"the second port's address from the first port is dropped" api
spoof_case fd78::31 5432 eth1 fd77::11 \
	"... and over IPv6 from the second port" db
spoof_case fd77::21 8080 eth0 fd78::11 \
	"... and over IPv6 from the first port" api
sp=$(nft_host list counter bridge bulkhead spoofed_web | awk '/packets/ {print $2}')
[ "${sp:-0}" -ge 4 ] 2>/dev/null
ok $? "counted in spoofed_web ($sp packets)"

spoofers() {
	jq -r 'select(.event.action == "spoof") |
		"\(.source.ip) \(.source.group)"' "$BHD_DENIED" 2>/dev/null |
		sort -u | tr '\n' ' '
}
for i in $(seq 100); do
	case "$(spoofers)" in
	*"10.77.0.11 web"*"10.78.0.11 web"*"fd77::11 web"*"fd78::11 web"*) break ;;
	esac
	sleep 0.2
done
is "$(spoofers)" "10.77.0.11 web 10.78.0.11 web fd77::11 web fd78::11 web " \
	"each is recorded as spoofing by group web"

# the kernel holds what the daemon prints, pairs per port
kernel_matches_model
ok $? "the kernel holds the printed ruleset"
nft_host list set bridge bulkhead addrs_v4 >"$NS_TMP/pairs"
grep -q '"w-web" . 10.78.0.11' "$NS_TMP/pairs" &&
	grep -q '"v-web" . 10.77.0.11' "$NS_TMP/pairs" &&
	! grep -q '"w-web" . 10.77.0.11\|"v-web" . 10.78.0.11' "$NS_TMP/pairs"
ok $? "each address is paired with its own port only"

# a restart: the state file keeps both ports
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon restarts"; done_testing; }
is "$(bhctl status --json | jq -c '.containers[] | select(.id == "id-web") | [.ports[] | .ifname]')" \
	'["v-web","w-web"]' "after a restart web still has both ports"
spoof_case 10.78.0.31 5432 eth1 10.77.0.11 \
	"and spoofing from the second port is still dropped" db
is "$(probe_want pass tcp web 10.78.0.31 5432)" pass "while its own address passes there"

# one network goes: the link watcher drops its port, the other stays
nsx host ip link del w-web
for i in $(seq 100); do
	[ "$(bhctl status --json | jq -c '.containers[] | select(.id == "id-web") | [.ifname, .ips]')" = \
		'["v-web",["10.77.0.11","fd77::11"]]' ] && break
	sleep 0.1
done
is "$(bhctl status --json | jq -c '.containers[] | select(.id == "id-web") | [.ifname, .ips]')" \
	'["v-web",["10.77.0.11","fd77::11"]]' \
	"w-web deleted: web keeps v-web and its addresses"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "web -> api still passes"
nft_host list map bridge bulkhead ports | grep -q '"w-web"'
is $? 1 "w-web left the ports map"

# a network that goes while the daemon is down: dropped at start, the
# other port kept (links_reconcile)
nsx host ip link add x-web type veth peer name eth2 netns "$(ns_path web)"
nsx host ip link set x-web master br1 up
nsx web ip addr add 10.78.0.12/24 dev eth2
nsx web ip link set eth2 up
bhctl attach --id id-web --name web --label bulkhead.purpose=web \
	--port v-web=10.77.0.11,fd77::11 --port x-web=10.78.0.12 >/dev/null
ok $? "web on two networks again (x-web)"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
nsx host ip link del x-web
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon restarts"; done_testing; }
is "$(bhctl status --json | jq -c '.containers[] | select(.id == "id-web") | [.ifname, .ips]')" \
	'["v-web",["10.77.0.11","fd77::11"]]' \
	"x-web gone while the daemon was down: dropped at start, v-web kept"
nft_host list map bridge bulkhead ports | grep -q '"x-web"'
is $? 1 "x-web is not in the ports map"

# bad input: a clear message, nothing changed
bhctl attach --id id-x --port v-x >"$NS_TMP/out" 2>&1
is $? 2 "--port without addresses is a usage error"
grep -q "expected IFNAME=ADDR" "$NS_TMP/out"; ok $? "naming the form"
bhctl attach --id id-x --port v-api=10.77.0.99 >"$NS_TMP/out" 2>&1
is $? 1 "another container's port is refused"
grep -q "interface v-api belongs to container api" "$NS_TMP/out"; ok $? "naming the owner"
bhctl attach --id id-x --port v-x=10.79.0.1 --port v-y=10.79.0.1 >"$NS_TMP/out" 2>&1
is $? 1 "one address on two ports is refused"
grep -q "another port's address" "$NS_TMP/out"; ok $? "with why: $(cat "$NS_TMP/out")"
is "$(bhctl status --json | jq -c '.containers[] | select(.id == "id-x")')" "" \
	"and nothing was attached"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
