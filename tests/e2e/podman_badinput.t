#!/bin/bash
# Bad input from an engine socket: malformed JSON, a huge body, wrong
# types, unknown fields, garbage and oversized event lines, a truncated
# stream. No real engine sends these, so a socat peer answers each request
# with a crafted HTTP response (the scenario is a file the test switches).
# Each must give a clear error and change nothing else; the source must
# recover when the peer behaves again.
. "$(dirname "$0")/../lib/tap.sh"

command -v socat >/dev/null || skip_all "socat not installed"
command -v jq >/dev/null || skip_all "jq not installed"
W=$BH_BUILD/tests/tools/engine_watch
T=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-engine.XXXXXX") || exit 2
PIDS=()
cleanup() {
	local rc=$? p

	for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
	for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
	rm -rf "$T"
	exit $rc
}
trap cleanup EXIT
SOCK=$T/engine.sock
OUT=$T/out
ERR=$T/err

# one HTTP exchange per connection; the scenario's files are the bodies
cat >"$T/peer.sh" <<'EOF'
D=$(dirname "$0")
read -r _ path _
while read -r h; do [ "${h%$'\r'}" = "" ] && break; done
mode=$(cat "$D/mode")
case "${path%%\?*}" in
*/events)
	n=$(cat "$D/events.count" 2>/dev/null || echo 0)
	echo $((n + 1)) >"$D/events.count"
	printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n'
	# the first part after the list's inspect was answered, the second
	# after the inspect that the first part caused (bounded waits)
	if [ "$n" = 0 ] && [ -f "$D/$mode.events" ]; then
		for _ in $(seq 200); do
			[ "$(cat "$D/inspects" 2>/dev/null | wc -l)" -ge 1 ] && break
			sleep 0.05
		done
		cat "$D/$mode.events"
		for _ in $(seq 200); do
			[ "$(cat "$D/inspects" 2>/dev/null | wc -l)" -ge 2 ] && break
			sleep 0.05
		done
		cat "$D/$mode.events2"
	fi
	[ "$n" = 0 ] && [ -f "$D/$mode.truncate" ] && exit 0
	sleep 60
	exit 0 ;;
*/containers/json) f=$D/$mode.list ;;
*/containers/*/json)
	f=$D/$mode.inspect
	id=${path#*/containers/}
	id=${id%%/*}
	[ -f "$f.$id" ] && f=$f.$id ;;
*) f=/dev/null ;;
esac
if [ -f "$f.gen" ]; then
	len=$(bash "$f.gen" | wc -c)
	printf 'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$len"
	bash "$f.gen"
else
	printf 'HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' "$(wc -c <"$f")"
	cat "$f"
fi
# answered: the events part that depends on it may follow
case "$path" in */containers/*/json*) echo "$path" >>"$D/inspects" ;; esac
EOF

good_inspect='{"Id":"c2","Name":"/c2","State":{"Running":true,"Pid":0},
 "Config":{"Labels":{"bulkhead.purpose":"web"},"Future":[1,2]},
 "NetworkSettings":{"SandboxKey":"'$T/fifo'","Networks":{"n":{"IPAddress":"10.1.2.3",
 "GlobalIPv6Address":"fd01::3","Unknown":{"x":null}}}},"NewField":true}'
# a sandbox path that is a FIFO must not block the source (open would)
mkfifo "$T/fifo"
echo '[{"Id":"c2"}]' >"$T/good.list"
echo "$good_inspect" >"$T/good.inspect"
printf '[{"Id":"c1", "Names":' >"$T/badlist.list"
cat >"$T/huge.list.gen" <<'EOF'
printf '['
head -c 34000000 /dev/zero | tr '\0' ' '
printf ']'
EOF
echo '[{"Id":"c1"}]' >"$T/badinspect.list"
echo '{"Id":"c1","State":{"Running":true},"Config":{"Labels":{"a":1}}}' \
	>"$T/badinspect.inspect"
echo '[{"Id":"c2"}]' >"$T/events.list"
echo "$good_inspect" >"$T/events.inspect"
{
	echo 'this is not json'
	echo '{"Type":"container"}'
	printf '{"Type":"container","pad":"'
	head -c 300000 /dev/zero | tr '\0' a
	echo '"}'
	echo '{"Type":"container","Action":"start","Actor":{"ID":"c2","Attributes":{"bulkhead.purpose":"evil","name":"c2"}},"Extra":{"x":1}}'
} >"$T/events.events"
{
	echo '{"Type":"container","Action":"die","Actor":{"ID":"c9"}}'
	echo '{"Type":"container","Action":"die","Actor":{"ID":"../etc"}}'
	echo '{"Type":"container","Action":"die","Actor":{"ID":"c2","Attributes":{}}}'
	printf '{"Type":"contai'
} >"$T/events.events2"
touch "$T/events.truncate"

status() { # prints [state, stale] of the one engine
	local n
	n=$(wc -l <"$OUT")
	kill -USR1 "$WPID"
	for _ in $(seq 50); do
		tail -n +$((n + 1)) "$OUT" | grep -q status && break
		sleep 0.05
	done
	tail -n +$((n + 1)) "$OUT" | grep status | head -1 |
		jq -c '.status[0] | [.state, .stale]'
}
waitfor() { # FILE PATTERN
	for _ in $(seq 100); do
		grep -q -- "$2" "$1" && return 0
		sleep 0.05
	done
	return 1
}
events_out() { grep -c '"event":"\(attach\|detach\)"' "$OUT"; }

start_watch() {
	: >"$OUT"; : >"$ERR"; rm -f "$T/events.count" "$T/inspects"
	"$W" --engine "unix://$SOCK" >"$OUT" 2>"$ERR" &
	WPID=$!
	PIDS+=($WPID)
}
stop_watch() {
	local rc
	kill -TERM "$WPID" 2>/dev/null
	wait "$WPID"
	rc=$?
	[ $rc -eq 0 ] || sed 's/^/#   /' "$ERR" | tail -30
	return $rc
}

socat UNIX-LISTEN:"$SOCK",fork,unlink-early EXEC:"bash $T/peer.sh" \
	2>/dev/null &
PIDS+=($!)
for _ in $(seq 50); do [ -S "$SOCK" ] && break; sleep 0.05; done

echo badlist >"$T/mode"
start_watch
waitfor "$ERR" "container list is malformed JSON"
ok $? "malformed list: clear error"
is "$(status)" '["down",true]' "malformed list: source is stale"
is "$(events_out)" 0 "malformed list: nothing attached or detached"
echo good >"$T/mode"
waitfor "$OUT" '"event":"attach"'
ok $? "the peer behaves again: recovered with backoff, attached"
stop_watch

echo huge >"$T/mode"
start_watch
waitfor "$ERR" "container list body larger than 33554432 bytes"
ok $? "huge list body: capped with a clear error"
is "$(events_out)" 0 "huge list body: nothing changed"
stop_watch

# an engine that lost an event: the list no longer has c2, the stream
# said nothing; a resync (every 5 minutes, SIGUSR2 here) catches it
echo good >"$T/mode"
start_watch
waitfor "$OUT" '"event":"attach"'
echo '[]' >"$T/good.list"
kill -USR2 "$WPID"
waitfor "$OUT" '"event":"detach"'
ok $? "resync: a stop the event stream never told is reconciled"
echo '[{"Id":"c2"}]' >"$T/good.list"
stop_watch

echo badinspect >"$T/mode"
start_watch
waitfor "$ERR" 'label "a" is not a string'
ok $? "wrong type in inspect: clear error naming the field"
is "$(events_out)" 0 "wrong type in inspect: nothing attached"
is "$(status)" '["up",false]' "wrong type in inspect: the engine stays up"
stop_watch

echo events >"$T/mode"
start_watch
waitfor "$OUT" '"event":"detach"'
ok $? "events after garbage lines are still processed (die detaches)"
r=$(grep '"event":"attach"' "$OUT" | head -1)
is "$(jq -c '.container | [.labels, .ips]' <<<"$r")" \
	'[{"bulkhead.purpose":"web"},["10.1.2.3","fd01::3"]]' \
	"unknown fields ignored; labels from inspect, never from the event; a FIFO as SandboxKey does not block"
is "$(grep -c '"event":"attach"' "$OUT")" 1 \
	"a start event whose inspect says nothing new attaches nothing"
grep -q "event is not a JSON object" "$ERR"
ok $? "garbage event line: clear error"
grep -q "event without Type, Action or Actor" "$ERR"
ok $? "incomplete event: clear error"
grep -q "event larger than 262144 bytes: skipped" "$ERR"
ok $? "oversized event line: clear error"
grep -q "die event without a valid container id" "$ERR"
ok $? "event with a bad id: clear error"
waitfor "$ERR" "event stream ended"
ok $? "truncated stream: reported, reconnects"
for _ in $(seq 100); do
	[ "$(grep -c '"event":"attach"' "$OUT")" -ge 2 ] && break
	sleep 0.05
done
[ "$(grep -c '"event":"attach"' "$OUT")" -eq 2 ]
ok $? "after the reconnect the list is reconciled again"
stop_watch
ok $? "clean exit"

# An attach refused (its address is still another container's): the
# source asks again until it passes. The refusal here comes from
# engine_watch's stand-in for the daemon (its inventory_add keeps an
# address unique); the retry and the link watcher that frees the address
# are the real code. The real bulkheadd's refusal of an address conflict,
# and the retry against it, are in podman_daemon.t. The holder's
# interface lives in a namespace of this test; deleting it lets the link
# watcher free the address.
if [ "$(id -u)" -eq 0 ]; then
	NS=bhbad$$
	ip netns add "$NS" || fail "netns"
	trap 'ip netns del "$NS" 2>/dev/null; cleanup' EXIT
	ip -n "$NS" link add hold0 type veth peer name hold1
	cat >"$T/inv.json" <<JSON
[{"id":"holder","name":"holder","ips":["10.1.2.3"],"ifname":"hold0"}]
JSON
	echo good >"$T/mode"
	: >"$OUT"; : >"$ERR"; rm -f "$T/events.count" "$T/inspects"
	nsenter --net="/run/netns/$NS" -- "$W" --inventory "$T/inv.json" --links \
		--engine "unix://$SOCK" >"$OUT" 2>"$ERR" &
	WPID=$!
	PIDS+=($WPID)
	waitfor "$ERR" "address.*retrying every 2000 ms\|inventory: .*retrying"
	ok $? "attach refused by the stand-in's inventory (address in use): reported, will retry"
	is "$(events_out)" 0 "nothing attached while the address is held"
	ip -n "$NS" link del hold0
	waitfor "$OUT" '"event":"attach"'
	ok $? "address freed (holder's interface gone): the retry attaches"
	stop_watch
	ok $? "clean exit"
fi

"$W" --engine tcp://localhost:2375 >/dev/null 2>"$ERR"
is "$?" 2 "a non-unix engine URL is refused"
grep -q "expected unix:///PATH/TO/SOCKET" "$ERR"
ok $? "with a clear message"
done_testing
