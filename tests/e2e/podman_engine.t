#!/bin/bash
# The Engine API source against a real Podman (its Docker-compatible API):
# start-up listing, run, stop, restart with a new address, network connect,
# relabel by recreation, and an engine restart while containers change.
# engine_watch runs the source on a real event loop and prints every
# attach/detach it asks of the daemon.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"

ns_init
pm_init || { echo "Bail out! cannot build the rootfs"; exit 2; }
W=$BH_BUILD/tests/tools/engine_watch
OUT=$NS_TMP/watch.out
ERR=$NS_TMP/watch.err

# engine_watch's next status line (SIGUSR1)
wstatus() {
	local n

	n=$(lines "$OUT")
	kill -USR1 "$WPID"
	wait_line "$OUT" "$n" 'select(.status)'
}
# waits (bounded) until the status's number at JQ exceeds FLOOR: the
# source's own counters show it has caught up before a check that
# something did NOT happen
wait_above() { # JQ FLOOR [SECS]
	local end=$((SECONDS + ${3:-15})) v

	while :; do
		v=$(wstatus | jq "$1")
		[ "${v:-0}" -gt "$2" ] 2>/dev/null && return 0
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}
events_after() { # FROM: attach/detach lines after line FROM
	tail -n +$(($1 + 1)) "$OUT" | jq -c 'select(.event)' | grep -c .
}

pm_service_start || { echo "Bail out! podman system service did not start"; exit 2; }
pm_net NET1 10.89.0.0/24 || exit 2
pm_net NET2 10.89.1.0/24 || exit 2
pm_run web "$NET1" bulkhead.purpose=web >/dev/null
ok $? "podman runs a busybox container in the test namespace"

# what the daemon's state file would hold: an engine container that
# stopped while nobody watched, and a static one
cat >"$NS_TMP/state.json" <<JSON
[{"id":"0123456789abcdef0123456789abcdef","name":"gone","source":"engine",
  "ips":["10.89.0.200"]},
 {"id":"static-1","name":"static","source":"static","ips":["10.89.0.201"]}]
JSON
ns_bg host "$W" --inventory "$NS_TMP/state.json" --engine "unix://$PM_SOCK" \
	>"$OUT" 2>"$ERR"
WPID=$!

# 1: what already runs is listed, inspected, attached
r=$(wait_line "$OUT" 0 'select(.event=="attach" and .container.name=="web")')
ok $? "running container attached at start"
is "$(jq -c '.container.labels' <<<"$r")" '{"bulkhead.purpose":"web"}' \
	"labels from inspect only (no name/image/podId attributes)"
is "$(jq -r '.container.ips[0]' <<<"$r")" \
	"$(pm_ip web "$NET1")" \
	"address from Networks"
WEB_ID=$(jq -r '.container.id' <<<"$r")
is "$(jq -r 'select(.event=="detach") | .id' "$OUT" | tr '\n' ' ')" \
	"0123456789abcdef0123456789abcdef " \
	"first list: a restored engine container that is gone is detached, a static one kept"
hif=$(jq -r '.container.ifname' <<<"$r")
peer=$(nsx host ip -o link show "$hif" 2>/dev/null | grep -c 'link-netns')
is "$peer" 1 "host-side veth found ($hif) through the sandbox's netns id"

# 2: run → start event → attach
n=$(lines "$OUT")
pm_run api "$NET1" bulkhead.purpose=api >/dev/null
r=$(wait_line "$OUT" "$n" 'select(.event=="attach" and .container.name=="api")')
ok $? "started container attached from the event stream"
API_ID=$(jq -r '.container.id' <<<"$r")

# 2b: podman sets the network up at init, before the workload runs
n=$(lines "$OUT")
pm create --name early --network "$NET1" --label bulkhead.purpose=early \
	--rootfs "$PM_ROOTFS" /bin/sleep 3600 >/dev/null
pm init early >/dev/null
r=$(wait_line "$OUT" "$n" 'select(.event=="attach" and .container.name=="early")')
ok $? "podman init: attached before the workload starts"
EARLY_ID=$(jq -r '.container.id' <<<"$r")
st=$(wstatus)
n=$(lines "$OUT")
pm start early >/dev/null
# the start event received, then an inspect answer acted on after it
wait_above '.status[0].events' "$(jq '.status[0].events' <<<"$st")" &&
	wait_above .lookups "$(jq .lookups <<<"$st")"
ok $? "the start event was read and its inspect answered"
is "$(events_after "$n")" 0 "and its start changes nothing"
n=$(lines "$OUT")
pm rm -f -t 0 early >/dev/null
wait_line "$OUT" "$n" "select(.event==\"detach\" and .id==\"$EARLY_ID\")" >/dev/null
ok $? "removed: detached"

# 3: stop → die → detach
n=$(lines "$OUT")
pm stop -t 0 web >/dev/null
wait_line "$OUT" "$n" "select(.event==\"detach\" and .id==\"$WEB_ID\")" >/dev/null
ok $? "stopped container detached"

# 4: restart with a new address
n=$(lines "$OUT")
pm stop -t 0 api >/dev/null
pm network disconnect "$NET1" api >/dev/null
pm network connect --ip 10.89.0.77 "$NET1" api >/dev/null
pm start api >/dev/null
r=$(wait_line "$OUT" "$n" 'select(.event=="attach" and .container.name=="api")')
is "$(jq -c '.container.ips' <<<"$r")" '["10.89.0.77"]' \
	"restarted with a new address: attached with it"

# 5: a second network while running → readdress
n=$(lines "$OUT")
pm network connect "$NET2" api >/dev/null
r=$(wait_line "$OUT" "$n" 'select(.event=="attach" and (.container.ips|length)==2)')
is "$(jq -c '.container.ips|sort' <<<"$r")" \
	"[\"10.89.0.77\",\"$(pm_ip api "$NET2")\"]" \
	"network connect: both addresses"
# each on its own port: the veth whose peer in the sandbox holds it
is "$(jq -c '[.container.ports[] | [(.ifname | test("^veth")), .ips]] | sort_by(.[1])' <<<"$r")" \
	"$(jq -nc --arg a 10.89.0.77 --arg b "$(pm_ip api "$NET2")" '[[true, [$a]], [true, [$b]]] | sort_by(.[1])')" \
	"network connect: two ports, each with its own address"

# 6: relabel = recreate under the same name
n=$(lines "$OUT")
pm rm -f -t 0 api >/dev/null
pm_run api "$NET1" bulkhead.purpose=db >/dev/null
wait_line "$OUT" "$n" "select(.event==\"detach\" and .id==\"$API_ID\")" >/dev/null
ok $? "recreated container: old id detached"
r=$(wait_line "$OUT" "$n" "select(.event==\"attach\" and .container.id!=\"$API_ID\")")
is "$(jq -c '.container.labels' <<<"$r")" '{"bulkhead.purpose":"db"}' \
	"recreated container: new id attached with the new labels"
API2_ID=$(jq -r '.container.id' <<<"$r")

# 7: the engine goes away; containers change meanwhile
pm_service_stop
for _ in $(seq 50); do	# until the watcher has seen the stream end
	n=$(lines "$OUT")
	kill -USR1 "$WPID"
	r=$(wait_line "$OUT" "$n" 'select(.status)')
	[ "$(jq -r '.status[0].stale' <<<"$r")" = true ] && break
	sleep 0.1
done
is "$(jq -c '.status[0] | [.state, .stale, .containers]' <<<"$r")" '["down",true,1]' \
	"engine down: status is stale, its container kept"
n=$(lines "$OUT")
pm stop -t 0 api >/dev/null
pm_run cache "$NET1" bulkhead.purpose=cache >/dev/null
# another failed reconnect after the changes: the watcher was running
# and could have acted on them
wait_above '.status[0].errors' "$(wstatus | jq '.status[0].errors')"
ok $? "the watcher tried the engine again after the changes"
is "$(events_after "$n")" 0 \
	"while the engine is down nothing changes (fail closed)"
pm_service_start || diag "podman service did not come back"
wait_line "$OUT" "$n" "select(.event==\"detach\" and .id==\"$API2_ID\")" 15 >/dev/null
ok $? "after reconnect: container stopped meanwhile detached"
r=$(wait_line "$OUT" "$n" 'select(.event=="attach" and .container.name=="cache")' 15)
ok $? "after reconnect: container started meanwhile attached"
n=$(lines "$OUT")
kill -USR1 "$WPID"
r=$(wait_line "$OUT" "$n" 'select(.status)')
is "$(jq -c '.status[0] | [.state, .stale, .containers]' <<<"$r")" '["up",false,1]' \
	"engine back: status up, not stale"
grep -q "containers keep their policy (stale)" "$ERR"
ok $? "the outage was logged"

kill -TERM "$WPID"
wait "$WPID"
ok $? "engine_watch exits cleanly on SIGTERM"
if [ -n "${BH_SANITIZE:-}" ]; then
	is "$(grep -c ERROR "$ERR")" 0 "no sanitizer errors" ||
		sed 's/^/#   /' "$ERR" | grep -A20 ERROR | head -40
fi
done_testing
