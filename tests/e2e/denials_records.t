#!/bin/bash
# Denied-flow records from the real daemon: each denied TCP, UDP and ICMP
# attempt over IPv4 and IPv6 yields exactly one record with both containers,
# both groups, ports and action; audit mode logs would-deny while traffic
# passes; --follow shows new records; a logrotate cycle (rename + SIGUSR1)
# loses no record.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq missing"
ns_init
BHD_DENIED=$NS_TMP/bhlog/denied.jsonl
cat > "$NS_TMP/policy.yaml" <<'EOF'
version: 1
settings:
  log: { window: 1s, rate: 20/second }
groups:
  web: { match: { purpose: web } }
  db:  { match: { purpose: db } }
  met: { match: { purpose: met }, mode: audit }
flows:
  - { from: web, to: db, ports: [tcp/5432] }
EOF
ns_add web 10.77.0.11 fd77::11 || exit 2
ns_add db 10.77.0.12 fd77::12 || exit 2
ns_add met 10.77.0.13 fd77::13 || exit 2


bhd_start "$NS_TMP/policy.yaml"; ok $? "bulkheadd up" || { done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach db bulkhead.purpose=db >/dev/null
bhd_attach met bulkhead.purpose=met >/dev/null
serve_tcp db 5432
serve_tcp met 7000
# listeners behind the denied ports: each drop below is first shown to
# be answerable from db itself (its own namespace, no filter on the way)
serve_tcp db 6001
serve_tcp db 6002
serve_udp db 6003
serve_udp db 6004
sleep 0.3

# flows TRANSPORT PORT NETTYPE: the flow records of one attempt
flows() {
	jq -c --arg t "$1" --argjson p "$2" --arg n "$3" '
		select(.bulkhead.record == "flow" and .network.transport == $t
		       and .network.type == $n and
		       (.destination.port // .bulkhead.icmp_type) == $p)' \
		"$BHD_DENIED" 2>/dev/null
}
# wait_records N: until the file holds N records (bounded, generously:
# a loaded machine under ASan is slow)
wait_records() {
	local i
	for i in $(seq 200); do
		[ "$(wc -l < "$BHD_DENIED" 2>/dev/null || echo 0)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

is "$(probe tcp web 10.77.0.12 5432)" pass "declared flow passes"
# one datagram, no waiting for an answer: its record comes (how soon is
# a benchmark's figure)
echo x | nsx web socat -u STDIN UDP:10.77.0.12:6000
wait_records 1; ok $? "first packet of a new flow recorded"
is "$(probe_deny db tcp web 10.77.0.12 6001)" drop "tcp/6001 v4 denied"
is "$(probe_deny db tcp web fd77::12 6002)" drop "tcp/6002 v6 denied"
is "$(probe_deny db udp web 10.77.0.12 6003)" drop "udp/6003 v4 denied"
is "$(probe_deny db udp web fd77::12 6004)" drop "udp/6004 v6 denied"
is "$(probe_deny db icmp web 10.77.0.12)" drop "icmp v4 denied"
is "$(probe_deny db icmp web fd77::12)" drop "icmpv6 denied"
wait_records 7
sleep 2.2	# two windows: a second packet would show as a second record

check() { # DESC TRANSPORT PORT NETTYPE
	local r n
	r=$(flows "$2" "$3" "$4")
	n=$(printf '%s' "$r" | grep -c .)
	is "$n:$(printf '%s' "$r" | jq -r '[.event.action, .source.group,
		.source.container.name, .source.container.id,
		.destination.group, .destination.container.name,
		.bulkhead.packets, .bulkhead.direction] | join(",")')" \
		"1:deny,web,web,id-web,db,db,1,in" "$1: one record, fields"
}
check "tcp v4" tcp 6001 ipv4
check "tcp v6" tcp 6002 ipv6
check "udp v4" udp 6003 ipv4
check "udp v6" udp 6004 ipv6
check "icmp v4" icmp 8 ipv4
check "icmp v6" ipv6-icmp 128 ipv6
is "$(flows tcp 6002 ipv6 | jq -r '[.source.ip, .destination.ip,
	.destination.port] | join(" ")')" "fd77::11 fd77::12 6002" "addresses and port"
is "$(stat -c %a "$BHD_DENIED"):$(stat -c %a "$(dirname "$BHD_DENIED")")" \
	"640:750" "file 0640, directory 0750"

# audit: the packet passes, the record says would-deny
is "$(probe tcp web 10.77.0.13 7000)" pass "audit group: traffic passes"
wait_records 8
sleep 0.3
is "$(jq -r 'select(.destination.group == "met") |
	[.event.action, .destination.port, .destination.container.name] |
	join(",")' "$BHD_DENIED")" "would-deny,7000,met" "audit: would-deny record"

# --follow: a record that appears while following
bhctl denials --file /dev/null --follow --json > "$NS_TMP/follow.out" 2>/dev/null &
fpid=$!
sleep 0.7
probe udp web 10.77.0.12 6010 >/dev/null
for i in $(seq 30); do
	grep -q '"port":6010' "$NS_TMP/follow.out" && break
	sleep 0.1
done
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null
is "$(jq -r 'select(.destination.port == 6010) | .event.action' "$NS_TMP/follow.out")" "deny" "--follow prints a new record from the daemon"

# logrotate: rename, records keep going to the old file until SIGUSR1,
# then to the new one; no sequence number is missing.
probe udp web 10.77.0.12 6020 >/dev/null
mv "$BHD_DENIED" "$BHD_DENIED.1"
probe udp web 10.77.0.12 6021 >/dev/null
sleep 0.3
kill -USR1 "$BHD_PID"
sleep 0.3
probe udp web 10.77.0.12 6022 >/dev/null
probe udp web fd77::12 6023 >/dev/null
sleep 2.2
ok $([ -s "$BHD_DENIED" ]; echo $?) "new file after SIGUSR1"
seqs=$(cat "$BHD_DENIED.1" "$BHD_DENIED" | jq -r .bulkhead.seq | sort -n)
last=$(printf '%s\n' "$seqs" | tail -1)
is "$(printf '%s\n' "$seqs" | tr '\n' ' ')" "$(seq 1 "$last" | tr '\n' ' ')" \
	"sequence numbers 1..$last, none missing, none twice"
is "$(cat "$BHD_DENIED.1" "$BHD_DENIED" | jq -r 'select(.destination.port >= 6020 and .destination.port <= 6023) | .destination.port' | sort | tr '\n' ' ')" \
	"6020 6021 6022 6023 " "every attempt around the rotation recorded"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
