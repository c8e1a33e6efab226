#!/bin/bash
# The link watcher: a container whose host-side veth disappears without any
# runtime event is detached; one whose veth went while nobody watched is
# detached at start; global addresses that come and go on a container's
# interface follow it. engine_watch stands in for the daemon's inventory.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"

command -v jq >/dev/null || skip_all "jq not installed"
ns_init
W=$BH_BUILD/tests/tools/engine_watch
OUT=$NS_TMP/watch.out
ERR=$NS_TMP/watch.err

ns_add a 10.77.0.2 fd77::2 || exit 2
ns_add b 10.77.0.3 fd77::3 || exit 2
ns_add c 10.77.0.4 "" || exit 2
cat >"$NS_TMP/inv.json" <<EOF
[{"id":"id-a","name":"a","labels":{"bulkhead.purpose":"web"},
  "ips":["10.77.0.2","fd77::2"],"ifname":"v-a"},
 {"id":"id-b","name":"b","labels":{},"ips":["10.77.0.3"],"ifname":"v-b"},
 {"id":"id-gone","name":"gone","ips":["10.77.0.9"],"ifname":"v-gone"},
 {"id":"id-c","name":"c","source":"engine","ips":["10.77.0.4"],"ifname":"v-c"},
 {"id":"id-static","name":"static","ips":["10.77.0.10"]}]
EOF

wait_line() { # FROM JQ
	local end=$((SECONDS + 5)) r

	while :; do
		r=$(tail -n +"$(($1 + 1))" "$OUT" | jq -c "$2" 2>/dev/null | head -1)
		[ -n "$r" ] && { echo "$r"; return 0; }
		[ $SECONDS -ge $end ] && return 1
		sleep 0.05
	done
}

ns_bg host "$W" --inventory "$NS_TMP/inv.json" --links >"$OUT" 2>"$ERR"
WPID=$!
wait_line 0 'select(.event=="ready")' >/dev/null
ok $? "watcher started"
is "$(jq -r 'select(.event=="detach") | .id' "$OUT" | tr '\n' ' ')" "id-gone " \
	"at start: only the container whose veth is already gone is detached"

n=$(wc -l <"$OUT")
nsx host ip link del v-a
r=$(wait_line "$n" 'select(.event=="detach")')
is "$(jq -r .id <<<"$r")" "id-a" "veth deleted without any event: detached"

n=$(wc -l <"$OUT")
nsx host ip addr add 10.77.5.5/32 dev v-b
r=$(wait_line "$n" 'select(.event=="attach")')
is "$(jq -c '.container.ips' <<<"$r")" '["10.77.0.3","10.77.5.5"]' \
	"address added on the container's interface joins it"
n=$(wc -l <"$OUT")
nsx host ip addr del 10.77.5.5/32 dev v-b
r=$(wait_line "$n" 'select(.event=="attach")')
is "$(jq -c '.container.ips' <<<"$r")" '["10.77.0.3"]' \
	"address removed: it leaves"
# The watcher reads link and address events from one netlink socket, in
# the kernel's order: once it has acted on a global address added after
# them (a sentinel), it has read every earlier event too.
sentinel() { # IFNAME ADDR: adds ADDR, waits for the readdress, removes it
	local m r

	m=$(wc -l <"$OUT")
	nsx host ip addr add "$2/32" dev "$1"
	r=$(wait_line "$m" "select(.event==\"attach\" and
		(.container.ips | index(\"$2\")))") || return 1
	m=$(wc -l <"$OUT")
	nsx host ip addr del "$2/32" dev "$1"
	wait_line "$m" "select(.event==\"attach\" and
		(.container.ips | index(\"$2\") | not))" >/dev/null || return 1
	echo "$r"
}
n=$(wc -l <"$OUT")
nsx host ip addr add fe80::99/64 dev v-b
nsx host ip link set v-b down
nsx host ip link set v-b up
r=$(sentinel v-b 10.77.5.6)
ok $? "the watcher caught up with the flap (a later address on v-b seen)"
is "$(tail -n +$((n + 1)) "$OUT" | head -1 | jq -c '[.event, .container.ips]')" \
	'["attach",["10.77.0.3","10.77.5.6"]]' \
	"link-local addresses and link flaps change nothing"

# a name reused before the watcher read the removal (netavark's vethN):
# the record may be the new container's; its runtime's events decide
n=$(wc -l <"$OUT")
kill -STOP "$WPID"
nsx host ip link del v-c
nsx host ip link add v-c type veth peer name v-c-peer
kill -CONT "$WPID"
sentinel v-b 10.77.5.7 >/dev/null
ok $? "the watcher caught up with the removal (a later address on v-b seen)"
is "$(tail -n +$((n + 1)) "$OUT" | grep -c detach)" 0 \
	"interface gone and back under the same name: not detached"

# a namespace deleted under a runtime's feet takes its veth along
n=$(wc -l <"$OUT")
ip netns del "$(ns_name b)"
r=$(wait_line "$n" 'select(.event=="detach")')
is "$(jq -r .id <<<"$r")" "id-b" "container namespace gone: its veth went, detached"

kill -TERM "$WPID"
wait "$WPID"
ok $? "clean exit"
grep -q "id-static" "$OUT"
ok $((! $?)) "a container without an interface is never touched"
done_testing
