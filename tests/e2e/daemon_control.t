#!/bin/bash
# The control socket: malformed, oversized, mistyped and unauthenticated
# requests get an error reply and change nothing; a client that connects
# and says nothing does not stall the others; the online verbs' output.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
command -v setpriv >/dev/null || skip_all "setpriv missing"
command -v python3 >/dev/null || skip_all "python3 missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
serve_tcp api 8080

cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF2
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null

snapshot() {
	{
		bhctl status --json | jq -c '[.containers, .counters.reloads,
			.counters.attaches, .counters.detaches]'
		bhctl ruleset
		cat "$BHD_STATE/inventory.json"
	} | md5sum
}
before=$(snapshot)

# talk: standard input to the control socket as it is, then what the
# daemon answers until it hangs up or is silent for 3 s. Not socat: when
# the daemon hangs up on a request over the limit, socat's next write
# fails and it may exit before it prints the reply it had received.
talk() {
	timeout 15 python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
try:
    s.sendall(sys.stdin.buffer.read())
    s.shutdown(socket.SHUT_WR)
except OSError:
    pass  # hung up on: the reply is still there to read
s.settimeout(3)
buf = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
except OSError:
    pass
sys.stdout.write(buf.decode(errors="replace"))
' "$BHD_SOCK"
}
# raw: REQUEST-TEXT -> the daemon's reply line
raw() {
	printf '%s\n' "$1" | talk
}
# reject DESC REQUEST ERRNO: an error reply with that errno
reject() {
	local r

	r=$(raw "$2")
	is "$(echo "$r" | jq -c '[.version, .ok, .errno]')" "[1,false,$3]" "$1"
	echo "$r" | jq -en 'input | (.error | length > 0)' >/dev/null
	ok $? "  with a message: $(echo "$r" | jq -r .error | head -c 70)"
}

is "$(stat -c %a "$BHD_SOCK")" 660 "socket mode 0660"
reject "not JSON" 'hello' 22
reject "truncated JSON" '{"version":1,"op":"st' 22
reject "not an object" '[1,2,3]' 22
reject "no version" '{"op":"status"}' 22
reject "unknown version" '{"version":2,"op":"status"}' 93
reject "no op" '{"version":1}' 22
reject "unknown op" '{"version":1,"op":"format-disk"}' 22
reject "attach: unknown field" \
	'{"version":1,"op":"attach","id":"x","ips":["10.77.0.99"],"label":{"bulkhead.purpose":"api"}}' 22
reject "attach: bad address" \
	'{"version":1,"op":"attach","id":"x","ips":["10.77.0.999"]}' 22
reject "attach: labels not strings" \
	'{"version":1,"op":"attach","id":"x","ips":["10.77.0.99"],"labels":{"a":1}}' 22
reject "attach: id too long" \
	"{\"version\":1,\"op\":\"attach\",\"id\":\"$(head -c 300 /dev/zero | tr '\0' a)\",\"ips\":[\"10.77.0.99\"]}" 22
reject "detach: no id" '{"version":1,"op":"detach"}' 22
reject "explain: bad port" \
	'{"version":1,"op":"explain","from":"web","to":"api","port":"tcp/x"}' 22
reject "denials: bad after_seq" '{"version":1,"op":"denials","after_seq":-1}' 22

# oversized: a valid request padded past CONTROL_MAX_REQUEST (64 KiB)
pad=$(head -c 70000 /dev/zero | tr '\0' x)
reject "oversized request" "{\"version\":1,\"op\":\"status\",\"pad\":\"$pad\"}" 90
raw "{\"version\":1,\"op\":\"status\",\"pad\":\"$pad\"}" | jq -r .error |
	grep -q "over the limit of 65536 bytes per request"
ok $? "  naming the limit"
r=$(head -c 70000 /dev/zero | tr '\0' ' ' | talk)
is "$(echo "$r" | jq -c '[.ok, .errno]')" "[false,90]" "70 KB without a newline: error, then hang-up"

# several requests on one connection, answered in order
r=$(printf '%s\n%s\n' '{"version":1,"op":"status"}' 'junk' | talk |
	jq -c .ok | tr '\n' ' ')
is "$r" "true false " "pipelined requests answered in order"

# held: the peer inodes of the connections the daemon has accepted on its
# control socket (in its fd table, not just queued) from clients in the
# host namespace
held() {
	nsx host ss -xpnH | awk -v s="$BHD_SOCK" \
		'$2 == "ESTAB" && $5 == s && /"bulkheadd"/ { print $8 }'
}
# wait_held N: until the daemon holds at least N connections (15 s)
wait_held() {
	local i

	for i in $(seq 150); do
		[ "$(held | wc -l)" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}

# a client that connects and sends nothing does not stall the loop
ns_bg host socat -u "UNIX-CONNECT:$BHD_SOCK" - >/dev/null
silent=$!
silent_held() {
	local ino

	ino=$(nsx host ss -xpnH | awk -v p="pid=$silent," \
		'$2 == "ESTAB" && index($0, p) { print $6 }')
	[ -n "$ino" ] && held | grep -qx "$ino"
}
for i in $(seq 150); do silent_held && break; sleep 0.1; done
silent_held; ok $? "the silent client's connection is accepted by the daemon"
# the daemon drops an idle client after CONTROL_IDLE_MS (10 s): it must
# still hold this one after the answer, which then came while it was there
timeout 30 "$BH_CTL" --socket "$BHD_SOCK" status >/dev/null
ok $? "status answered while a silent client is connected"
silent_held; ok $? "  and the silent client was still connected"

# at most 64 clients: the 65th is told so, the loop carries on
pids=()
for i in $(seq 64); do
	# connects, reads, never sends: one process, killed by its pid. In
	# the host namespace: an accepted unix socket is in its client's
	# network namespace, and held() looks there
	nsenter --net="$(ns_path host)" -- \
		socat -u "UNIX-CONNECT:$BHD_SOCK" - >/dev/null 2>&1 &
	pids+=($!)
done
wait_held 64; ok $? "the daemon holds 64 client connections"
bhctl status >/dev/null 2>"$NS_TMP/err"
is $? 1 "with 64 other clients connected, one more is refused"
grep -q "too many clients: at the limit of 64 control clients" "$NS_TMP/err"
ok $? "  and told why, naming the limit"
kill "${pids[@]}" 2>/dev/null
for i in $(seq 50); do bhctl status >/dev/null 2>&1 && break; sleep 0.1; done
bhctl status >/dev/null; ok $? "served again once they are gone"

# unauthenticated: not root
nobody() {
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BH_CTL" --socket "$BHD_SOCK" "$@"
}
nobody status >/dev/null 2>"$NS_TMP/err"
is $? 2 "uid 65534 cannot even connect (mode 0660, root's socket)"
grep -q "Permission denied" "$NS_TMP/err"; ok $? "  permission denied"
# open the path up (this test's own temp dir) to reach the daemon's check
chmod 0755 "$NS_TMP" "$(dirname "$BHD_SOCK")"
chmod 0666 "$BHD_SOCK"
nobody status >/dev/null
ok $? "uid 65534 may read the status once it can connect"
nobody attach --id id-evil --name evil --label bulkhead.purpose=api \
	--ip 10.77.0.99 2>"$NS_TMP/err"
is $? 1 "uid 65534: attach refused"
grep -q "attach needs uid 0" "$NS_TMP/err"; ok $? "  because it needs uid 0"
nobody detach --id id-api 2>"$NS_TMP/err"
is $? 1 "uid 65534: detach refused"
nobody reload 2>"$NS_TMP/err"
is $? 1 "uid 65534: reload refused"
grep -q "reload needs uid 0" "$NS_TMP/err"; ok $? "  because it needs uid 0"
chmod 0660 "$BHD_SOCK"

is "$(snapshot)" "$before" "none of it changed anything (inventory, ruleset, state file)"
is "$(probe tcp web 10.77.0.21 8080)" pass "traffic as before"
kill -0 "$BHD_PID"; ok $? "daemon alive"

# status filters
is "$(raw '{"version":1,"op":"status","containers":false}' | jq -c '[.ok, has("containers")]')" \
	"[true,false]" "status without the container list"
is "$(raw '{"version":1,"op":"status","id":"id-web"}' | jq -c '[.containers[].id]')" \
	'["id-web"]' "status of one container"
reject "status: containers not a boolean" '{"version":1,"op":"status","containers":1}' 22

# the live ruleset through the socket
bhctl ruleset | grep -q "^table inet bulkhead"
ok $? "bulkheadctl ruleset prints the live table's model"
bhctl status | grep -q "^web .*labels .*enforce .*1  web"
ok $? "status shows groups with members"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
