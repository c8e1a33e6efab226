#!/bin/bash
# Anti-spoofing (table bridge bulkhead): a container that sends from an
# address it was not given is dropped at its own bridge port, counted and
# logged as spoofed; its own address passes the bridge. Real bridge, veth
# and namespaces; nothing outside them.
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
command -v nft >/dev/null || skip_all "nft not installed"
p=bhas$$
h=$p-h a=$p-a
tmp=$(mktemp -d /tmp/bh-nftas.XXXXXX)
cleanup() {
	ip netns del "$h" 2>/dev/null
	ip netns del "$a" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$h" && ip netns add "$a" || skip_all "cannot make namespaces"
H() { ip netns exec "$h" "$@"; }
A() { ip netns exec "$a" "$@"; }
H ip link add br0 type bridge || skip_all "no bridge support"
H ip addr add 10.88.0.1/24 dev br0
H ip link set br0 up
H ip link add veth0 type veth peer name eth0 netns "$a"
H ip link set veth0 master br0
H ip link set veth0 up
A ip addr add 10.88.0.2/24 dev eth0
A ip link set eth0 up
A ip link set lo up
cat >"$tmp/inv.json" <<'J'
[{"id":"w1","name":"web1","labels":{"bulkhead.purpose":"web"},"ips":["10.88.0.2","fd88::2"],"ifname":"veth0"},
 {"id":"a1","name":"api1","labels":{"bulkhead.purpose":"api"},"ips":["10.88.0.3"],"ifname":"veth1"}]
J
T="$BH_BUILD/tests/tools/nft_apply"
H "$T" tests/policy/ruleset/demo.yaml "$tmp/inv.json"
ok $? "tables committed in the host namespace"
ctr() { H "$T" tests/policy/ruleset/demo.yaml "$tmp/inv.json" --no-full --counters | awk -v n="$1" '$2 == n { print $3 }'; }

# Its own address: the bridge lets it through (the inet policy then
# denies web -> host ICMP, in out_web's deny rules).
A ping -c 2 -i 0.2 -W 1 10.88.0.1 >/dev/null 2>&1
is "$(ctr spoofed_web)" 0 "packets from the container's own address are not spoofed"
[ "$(ctr denied_out_web)" -ge 1 ]
ok $? "they reach the inet hooks (denied_out_web $(ctr denied_out_web))"

# api's address from web's port: dropped at the port.
A ip addr add 10.88.0.3/32 dev eth0
before=$(ctr denied_out_web)
A ping -c 3 -i 0.2 -W 1 -I 10.88.0.3 10.88.0.1 >/dev/null 2>&1
is $? 1 "a ping from a stolen address gets no reply"
is "$(ctr spoofed_web)" 3 "3 packets counted in spoofed_web"
is "$(ctr denied_out_web)" "$before" "none of them reached the inet hooks"

# ARP may only speak for the port's own address: a gratuitous ARP for
# api's address is dropped (the host does not learn it), one for its own
# passes.
H ip neigh flush dev br0
# the host would believe gratuitous ARP if it reached it
H sysctl -qw net.ipv4.conf.br0.arp_accept=1
before=$(ctr spoofed_web)
A busybox arping -U -c 2 -w 1 -I eth0 -s 10.88.0.2 10.88.0.1 >/dev/null 2>&1
is "$(ctr spoofed_web)" "$before" "a gratuitous ARP for its own address is not spoofing"
# the control for the drop below: the host does learn from one that passes
H ip neigh show 10.88.0.2 dev br0 | grep -q lladdr
ok $? "the host learned 10.88.0.2 from it"
A busybox arping -U -c 2 -w 1 -I eth0 -s 10.88.0.3 10.88.0.1 >/dev/null 2>&1
is "$(ctr spoofed_web)" "$((before + 2))" "a gratuitous ARP for api's address is dropped and counted"
H ip neigh show 10.88.0.3 dev br0 | grep -q lladdr
ok $((! $?)) "the host did not learn 10.88.0.3 from it"

# NFLOG: the drop is logged with the spoof prefix whose group the reader
# takes from the port (nft monitor trace is not needed: the rule's own log
# statement is in the listing); the ports map counts veth0 as web's.
H nft list chain bridge bulkhead prerouting |
	grep -q 'meta protocol ip counter name iifname map @ports log prefix "bh/spoof/\*/deny" group 4200 drop'
ok $? "the drop is logged as bh/spoof/*/deny"
H nft list map bridge bulkhead ports | grep -q '"veth0" : "spoofed_web"'
ok $? "and counted in spoofed_web, the counter the ports map names for veth0"

# IPv6: link-local (neighbour discovery) passes, a global address the
# container was not given does not.
A sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 2>/dev/null
H sysctl -qw net.ipv6.conf.br0.disable_ipv6=0 2>/dev/null
H ip addr add fd88::1/64 dev br0 nodad
A ip addr add fd88::99/64 dev eth0 nodad
sleep 1
before=$(ctr spoofed_web)
A ping -6 -c 2 -i 0.2 -W 1 -I eth0 ff02::1 >/dev/null 2>&1
is "$(ctr spoofed_web)" "$before" "link-local IPv6 from the port is not spoofing"
A ping -6 -c 2 -i 0.2 -W 1 -I fd88::99 fd88::1 >/dev/null 2>&1
is $? 1 "a ping from an IPv6 address it was not given gets no reply"
[ "$(ctr spoofed_web)" -ge $((before + 2)) ]
ok $? "and is counted as spoofed ($(ctr spoofed_web))"

# Neighbour discovery never breaks: the host's advertisement to the
# container's own address (output hook, in_v6 maps it to in_web, which
# allows nothing from the host but tcp/22) still gets out.
A ip addr add fd88::2/64 dev eth0 nodad
A ip -6 neigh flush dev eth0
A ping -6 -c 1 -W 1 -I fd88::2 fd88::1 >/dev/null 2>&1
A ip -6 neigh show fd88::1 dev eth0 | grep -q lladdr
ok $? "the container resolves the host's IPv6 address: $(A ip -6 neigh show fd88::1 dev eth0)"
done_testing
