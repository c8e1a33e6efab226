#!/bin/bash
# bulkheadd does its job with exactly what bulkheadd.service gives it:
# uid 0, a group that is not root's, CAP_NET_ADMIN alone in the bounding,
# permitted, effective, inheritable and ambient sets, no_new_privs,
# UMask=0027, a read-only /proc/sys (ProtectKernelTunables=) and a
# read-only root file system with only its own directories writable
# (ProtectSystem=strict + StateDirectory=/LogsDirectory=/RuntimeDirectory=).
# It also speaks the unit's Type=notify protocol to a NOTIFY_SOCKET the test
# listens on: READY=1 once the table is in the kernel, STATUS=, and
# WATCHDOG=1 while WATCHDOG_USEC (WatchdogSec=) is set, RELOADING=1 and
# READY=1 around a SIGHUP reload; a daemon that cannot start never says
# READY=1. Its last stop is tested too, so a leak report (ASan build)
# fails the file.
# Not reproduced here: the seccomp filter and RestrictAddressFamilies=
# (they need systemd as PID 1): boot.t probes them under the real unit.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"

command -v setpriv >/dev/null || skip_all "setpriv (util-linux) missing"
command -v unshare >/dev/null || skip_all "unshare (util-linux) missing"
command -v jq >/dev/null || skip_all "jq missing"
[ -x "$BH_D" ] || skip_all "bulkheadd not built ($BH_D)"
[ -x "$BH_CTL" ] || skip_all "bulkheadctl not built"

# The values the unit sets, read from the unit itself so the two cannot
# drift apart.
UNIT=$BH_TOP/systemd/bulkheadd.service.in
unit_get() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
is "$(unit_get CapabilityBoundingSet)" CAP_NET_ADMIN \
	"unit: bounding set is CAP_NET_ADMIN"
is "$(unit_get AmbientCapabilities)" CAP_NET_ADMIN \
	"unit: ambient set is CAP_NET_ADMIN"
is "$(unit_get User)" root "unit: User=root"
is "$(unit_get UMask)" 0027 "unit: UMask=0027"
is "$(unit_get ProtectKernelTunables)" yes "unit: ProtectKernelTunables=yes"
is "$(unit_get ProtectSystem)" strict "unit: ProtectSystem=strict"
# The engines the unit follows by default, moved into the test's temp dir
# (no engine listens there: the daemon must start and retry).
ENGINES=$(sed -n 's/^Environment="BULKHEAD_ENGINES=\(.*\)"$/\1/p' "$UNIT")
[ -n "$ENGINES" ]
ok $? "unit: default BULKHEAD_ENGINES: $ENGINES"
grep -qF -- '--engine unix:///run/docker.sock' <<<"$ENGINES" &&
	grep -qF -- '--engine unix:///run/podman/podman.sock' <<<"$ENGINES"
ok $? "unit: Docker's and Podman's sockets are followed by default"
CAPS=$(unit_get CapabilityBoundingSet | tr 'A-Z' 'a-z' | sed 's/cap_//g;
	s/ /,+/g')

ns_init
ENGINE_ARGS=()
for w in $ENGINES; do
	case $w in
	unix://*) ENGINE_ARGS+=("unix://$NS_TMP/$(basename "${w#unix://}")") ;;
	*) ENGINE_ARGS+=("$w") ;;
	esac
done
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.12 fd77::12

# A gid that names no group here stands for "bulkhead" (adding a group
# to this machine's /etc/group is not the test's business).
GID=64990
while getent group "$GID" >/dev/null && [ $GID -lt 65500 ]; do
	GID=$((GID + 1))
done

cat > "$NS_TMP/policy.yaml" <<'EOF'
version: 1
settings:
  unassigned: deny
  log: { window: 500ms }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF

# As the unit would: the bridge sysctls come from the shipped sysctl.d
# snippet, applied in the host namespace before the daemon starts.
nsx host sysctl -q -p "$BH_TOP/systemd/bulkhead.sysctl.conf"
ok $? "sysctl.d snippet applies (in the test's host namespace)"

mkdir -p "$BHD_STATE" "$(dirname "$BHD_SOCK")"
chgrp "$GID" "$BHD_STATE" "$(dirname "$BHD_SOCK")"
chmod 0750 "$BHD_STATE" "$(dirname "$BHD_SOCK")"

# What systemd would hand it: a notify socket and a watchdog period
# (1 s here, so WATCHDOG=1 comes every 0.5 s). Datagrams are appended to
# NOTES as they come.
NOTES=$NS_TMP/notify.log
: > "$NOTES"
ns_bg host socat -u "UNIX-RECV:$NS_TMP/notify.sock" "OPEN:$NOTES,append"
for i in $(seq 50); do [ -S "$NS_TMP/notify.sock" ] && break; sleep 0.05; done
export NOTIFY_SOCKET=$NS_TMP/notify.sock WATCHDOG_USEC=1000000

# nsenter (needs CAP_SYS_ADMIN) -> private mount namespace with the unit's
# read-only views -> setpriv drops to the unit's credentials -> bulkheadd
# with the unit's ExecStart= options (paths moved into the temp dir).
confined_spawn() {
	local policy=$1

	nsenter --net="$(ns_path host)" -- unshare --mount --propagation private \
		sh -c '
		set -e
		mount --bind "$1" "$1"
		mount -o remount,bind,ro /
		mount --bind /proc/sys /proc/sys
		mount -o remount,bind,ro /proc/sys
		shift
		umask 0027
		# the shell'"'"'s pid is the daemon'"'"'s once it execs
		export WATCHDOG_PID=$$
		exec setpriv --reuid=0 --regid="$GID" --clear-groups \
			--bounding-set=-all,+"$CAPS" --inh-caps=-all,+"$CAPS" \
			--ambient-caps=-all,+"$CAPS" --no-new-privs -- "$@"
		' sh "$NS_TMP" "$BH_D" --policy "$policy" --socket "$BHD_SOCK" \
		--state-dir "$BHD_STATE" --denied-log "$BHD_DENIED" \
		--flow-log "$BHD_FLOWS" --foreground "${ENGINE_ARGS[@]}" >>"$BHD_LOG" 2>&1 &
	BHD_PID=$!
}
export GID CAPS

# The shell between nsenter and bulkheadd execs each step, so BHD_PID
# becomes bulkheadd itself.
confined_spawn "$NS_TMP/policy.yaml"
if ! bhd_wait_ready 15; then
	fail "confined bulkheadd came up"
	bhd_log_diag
	done_testing
fi
pass "confined bulkheadd came up and answers status"
st=$(bhctl status --json 2>&1)
n=0
for w in "${ENGINE_ARGS[@]}"; do
	case $w in unix://*) echo "$st" | grep -qF "${w#unix://}" && n=$((n + 1)) ;; esac
done
is "$n" "$(echo "$ENGINES" | grep -o -- '--engine' | wc -l)" \
	"status lists every engine of the unit's default ($n followed)"
is "$(echo "$st" | jq -c '[.engines[] | [.state == "up", .stale]] | unique')" \
	'[[false,true]]' "absent engines: each is retried and reported stale"

# Type=notify: READY=1 only once the table is in the kernel.
for i in $(seq 100); do grep -q 'READY=1' "$NOTES" && break; sleep 0.05; done
grep -q 'READY=1' "$NOTES"
ok $? "sd_notify READY=1 received"
nsx host nft list table inet bulkhead >/dev/null 2>&1
ok $? "the table inet bulkhead is in the kernel when READY=1 is seen"
grep -q 'STATUS=' "$NOTES"
ok $? "sd_notify STATUS= received"
diag "status: $(grep -ao 'STATUS=[^=]*' "$NOTES" | tail -1 | head -c 200)"
# The keep-alives go on while it runs (how often: tests/bench, not here).
watchdogs() { grep -ao 'WATCHDOG=1' "$NOTES" | wc -l; }
w0=$(watchdogs)
end=$((SECONDS + 60))
while [ $SECONDS -lt $end ] && [ $(($(watchdogs) - w0)) -lt 2 ]; do
	sleep 0.1
done
[ $(($(watchdogs) - w0)) -ge 2 ]
ok $? "WATCHDOG=1 keeps coming while WATCHDOG_USEC is set"

st=/proc/$BHD_PID/status
is "$(awk '/^Name:/ {print $2}' "$st")" bulkheadd "the pid is bulkheadd"
for f in CapBnd CapPrm CapEff CapAmb; do
	is "$(awk -v f="$f:" '$1 == f {print $2}' "$st")" 0000000000001000 \
		"$f is CAP_NET_ADMIN only"
done
is "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" 1 "no_new_privs set"
is "$(awk '/^Uid:/ {print $2, $3, $4, $5}' "$st")" "0 0 0 0" "uid 0"
is "$(awk '/^Gid:/ {print $2}' "$st")" "$GID" "gid is the unit's group"
is "$(awk '/^Groups:/ {print $2}' "$st")" "" "no supplementary groups"

is "$(stat -c '%a %g' "$BHD_SOCK" 2>&1)" "660 $GID" \
	"control socket is 0660 and of the daemon's group"

bhd_attach web bulkhead.purpose=web >/dev/null
ok $? "attach web (as a client with uid 0)"
bhd_attach api bulkhead.purpose=api >/dev/null
ok $? "attach api"

serve_tcp api 8080
serve_tcp api 9090
serve_tcp web 8080
sleep 0.3

is "$(probe tcp web 10.77.0.12 8080)" pass "declared flow web->api tcp/8080 passes"
is "$(probe tcp web fd77::12 8080)" pass "declared flow passes over IPv6"
# Each drop: the listener answers on the unfiltered path (its own
# namespace) and the sender sent (probe_deny).
is "$(probe_deny api tcp web 10.77.0.12 9090)" drop "undeclared web->api tcp/9090 drops"
is "$(probe_deny web tcp api 10.77.0.11 8080)" drop "undeclared api->web tcp/8080 drops"
is "$(probe_deny web tcp api fd77::11 8080)" drop "undeclared api->web drops over IPv6"

nsx host nft list table inet bulkhead >/dev/null 2>&1
ok $? "the table inet bulkhead exists in the host namespace"

# ExecReload= sends SIGHUP; logrotate's postrotate sends SIGUSR1. The
# reload's end is seen in the notifications, not waited for.
: > "$NOTES"
kill -HUP "$BHD_PID"
for i in $(seq 600); do grep -q 'READY=1' "$NOTES" && break; sleep 0.05; done
is "$(grep -aoE 'RELOADING=1|READY=1' "$NOTES" | head -2 | tr '\n' ' ')" \
	"RELOADING=1 READY=1 " "SIGHUP: RELOADING=1, then READY=1 once reloaded"
kill -0 "$BHD_PID" 2>/dev/null
ok $? "SIGHUP reload with the unit's credentials keeps it running"
is "$(probe tcp web 10.77.0.12 8080)" pass "declared flow passes after reload"
is "$(probe_deny api tcp web 10.77.0.12 9090)" drop "undeclared flow drops after reload"

# logrotate with the shipped snippet, pointed at this daemon: the rotated
# file keeps the old records, and the daemon writes new ones into a new
# file after SIGUSR1.
for i in $(seq 60); do [ -s "$BHD_DENIED" ] && break; sleep 0.1; done
[ -s "$BHD_DENIED" ]
ok $? "denied flows were written to the denied-flow log"
if command -v logrotate >/dev/null; then
	sed -e "s|^/var/log/bulkhead/denied.jsonl|$BHD_DENIED|" \
	    -e "s|create 0640 root bulkhead|create 0640 root root|" \
	    -e "s|^\(\t\t\)if .*systemctl kill.*|\1kill -USR1 $BHD_PID|" \
		"$BH_TOP/systemd/bulkhead.logrotate" > "$NS_TMP/logrotate.conf"
	chmod 0644 "$NS_TMP/logrotate.conf"
	grep -q "kill -USR1 $BHD_PID" "$NS_TMP/logrotate.conf"
	ok $? "logrotate config derived from systemd/bulkhead.logrotate"
	reopens() { grep -c 'denied flows: reopened' "$BHD_LOG"; }
	ino=$(stat -c %i "$BHD_DENIED")
	r0=$(reopens)
	logrotate -f -s "$NS_TMP/logrotate.state" "$NS_TMP/logrotate.conf" \
		> "$NS_TMP/logrotate.out" 2>&1
	ok $? "logrotate -f rotates the denied-flow log" ||
		sed 's/^/#   /' "$NS_TMP/logrotate.out"
	[ -s "$BHD_DENIED.1" ]
	ok $? "the rotated file keeps the old records (delaycompress)"
	for i in $(seq 300); do [ "$(reopens)" -gt "$r0" ] && break; sleep 0.1; done
	[ "$(reopens)" -gt "$r0" ]
	ok $? "postrotate's SIGUSR1: the daemon reopened the log"
	probe tcp api 10.77.0.11 8080 >/dev/null
	probe tcp web 10.77.0.12 9090 >/dev/null
	for i in $(seq 300); do [ -s "$BHD_DENIED" ] && break; sleep 0.1; done
	# (another inode: the file logrotate made, not the old one left)
	[ -s "$BHD_DENIED" ] && [ "$(stat -c %i "$BHD_DENIED")" != "$ino" ]
	ok $? "after SIGUSR1 new records go to the new file"
	kill -0 "$BHD_PID" 2>/dev/null
	ok $? "SIGUSR1 (log reopen) keeps it running"
else
	diag "logrotate missing: rotation not tested"
fi

bhd_stop
is "$?" 0 "SIGTERM: clean exit" ||
	sed 's/^/#   /' "$BHD_LOG" | grep -v ' info: ' | tail -40
is "$(probe_deny api tcp web 10.77.0.12 9090)" drop \
	"rules stay after exit (fail closed): api:9090 answers, web's tcp/9090 drops"
is "$(probe tcp web 10.77.0.12 8080)" pass "... and the declared web->api tcp/8080 still passes"

# A daemon that cannot start (a policy with errors and no table left in
# the kernel to keep enforcing) exits non-zero and never says READY=1.
nsx host nft delete table inet bulkhead
printf 'version: 1\ngroups:\n  Bad Name: { match: { a: b } }\n' > "$NS_TMP/bad.yaml"
: > "$NOTES"
confined_spawn "$NS_TMP/bad.yaml"
for i in $(seq 600); do kill -0 "$BHD_PID" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$BHD_PID" 2>/dev/null; then
	fail "a bad policy at start: bulkheadd exits"
	bhd_stop
else
	wait "$BHD_PID"
	rc=$?
	BHD_PID=
	# 1 as bulkheadd(8) says, not a sanitizer's exit or a signal
	is "$rc" 1 "a bad policy at start: bulkheadd exits 1 (could not start)" ||
		sed 's/^/#   /' "$BHD_LOG" | grep -v ' info: ' | tail -40
fi
! grep -q 'READY=1' "$NOTES"
ok $? "... without READY=1 (the engines' start fails, not proceeds)"

# The sysctls are read-only for the service: a wrong value is reported,
# not silently ignored, and the daemon still enforces what it can.
nsx host sysctl -q -w net.bridge.bridge-nf-call-iptables=0
: > "$BHD_LOG"
confined_spawn "$NS_TMP/policy.yaml"
if bhd_wait_ready 15; then
	pass "starts with bridge-nf-call-iptables=0 and read-only /proc/sys"
else
	fail "starts with bridge-nf-call-iptables=0 and read-only /proc/sys"
fi
grep -q 'bridge-nf-call-iptables' "$BHD_LOG"
ok $? "it names net.bridge.bridge-nf-call-iptables in its log"
bhd_log_diag | grep -i bridge
bhd_stop
is "$?" 0 "SIGTERM: clean exit (read-only /proc/sys)" ||
	sed 's/^/#   /' "$BHD_LOG" | grep -v ' info: ' | tail -40
nsx host sysctl -q -w net.bridge.bridge-nf-call-iptables=1

done_testing
