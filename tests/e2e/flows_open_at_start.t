#!/bin/bash
# Allowed-flow observations of a connection already open when bulkheadd
# starts: the observer's conntrack dump at start (its entries read by
# enforcer/ctevent.c, as the events are) tracks it, and its end is then
# recorded and attributed like any other: ended, packets and bytes, no
# new connection (it opened before the daemon looked).
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq missing"
command -v python3 >/dev/null || skip_all "python3 missing"
command -v conntrack >/dev/null || skip_all "conntrack (conntrack-tools) missing"
ns_init
cat > "$NS_TMP/policy.yaml" <<'EOF'
version: 1
settings:
  log: { window: 1s }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
ns_add web1 10.77.0.11 "" || exit 2
ns_add api 10.77.0.21 "" || exit 2

bhd_start "$NS_TMP/policy.yaml"; ok $? "bulkheadd up" || { done_testing; }
bhd_attach web1 bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
for k in tcp_timeout_time_wait tcp_timeout_close tcp_timeout_fin_wait \
	 tcp_timeout_last_ack tcp_timeout_close_wait; do
	nsx host sh -c "echo 1 > /proc/sys/net/netfilter/nf_conntrack_$k" ||
		diag "cannot shorten nf_conntrack_$k"
done

# a connection web1 -> api:8080 that stays open until $NS_TMP/close
# exists (both ends bounded to 120 s)
ns_bg api python3 -c '
import os, socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.77.0.21", 8080)); s.listen(1); s.settimeout(120)
a, _ = s.accept(); a.recv(1); a.send(b"y")
t = time.time() + 120
while not os.path.exists(sys.argv[1]) and time.time() < t: time.sleep(0.05)
a.close()' "$NS_TMP/close"
sleep 0.5
ns_bg web1 python3 -c '
import os, socket, sys, time
c = socket.create_connection(("10.77.0.21", 8080), timeout=10)
c.send(b"x"); c.recv(1)
t = time.time() + 120
while not os.path.exists(sys.argv[1]) and time.time() < t: time.sleep(0.05)
c.close()' "$NS_TMP/close"
est=0
for i in $(seq 100); do
	est=$(nsx host conntrack -L -p tcp --dport 8080 2>/dev/null |
		grep -c ESTABLISHED)
	[ "$est" -ge 1 ] && break
	sleep 0.1
done
is "$est" 1 "the connection is open (conntrack)"

# the daemon goes away and comes back (its state keeps the containers)
bhd_stop; ok $? "bulkheadd stops" || bhd_log_diag
: > "$BHD_FLOWS"
bhd_start "$NS_TMP/policy.yaml"; ok $? "bulkheadd up again" || { done_testing; }
st=$(bhctl status --json | jq -c .flows)
diag "$st"
[ "$(jq -r .tracked <<<"$st")" -ge 1 ]
ok $? "the open connection is tracked from the start-up dump"
is "$(jq -r .malformed <<<"$st")" 0 "no dump entry was malformed"

touch "$NS_TMP/close"
sum() {
	jq -s "[.[] | select(.source.group == \"web\" and
		.destination.group == \"api\" and .destination.port == 8080)
		| .bulkhead.$1] | add // 0" "$BHD_FLOWS" 2>/dev/null || echo 0
}
for i in $(seq 300); do
	[ "$(sum ended)" -ge 1 ] && break
	# the kernel reaps expired entries lazily; a dump evicts them
	[ $((i % 10)) = 0 ] && nsx host conntrack -L >/dev/null 2>&1
	sleep 0.1
done
is "$(sum ended)" 1 "its end is recorded as web -> api tcp/8080"
is "$(sum connections)" 0 "  and is no new connection"
[ "$(sum packets)" -ge 4 ]; ok $? "  with its packets ($(sum packets))"
is "$(bhctl status --json | jq -r .flows.malformed)" 0 "no malformed event"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
