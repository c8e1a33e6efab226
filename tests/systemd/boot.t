#!/bin/bash
# bulkheadd.service run by systemd itself. systemd (the machine's, 252) is
# PID 1 of private pid, mount, cgroup, uts and ipc namespaces, inside the
# test's "host" network namespace; make install put the unit, the drop-ins
# and the snippets under /usr/local (a bind mount of a DESTDIR, private to
# those namespaces), systemd-sysusers made the bulkhead group from the
# shipped snippet. Nothing of the machine's own /etc, /var, /run or network
# is touched: /run, /tmp, /var/tmp, /var/lib and /var/log are tmpfs there.
# So the whole unit is exercised for real: Type=notify start, the
# sandbox (capabilities, seccomp, read-only file system), journald
# logging, reload, the engines' drop-ins, the watchdog and the restart.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/systemd/lib.sh"

SYSTEMD=/lib/systemd/systemd
[ -x $SYSTEMD ] || skip_all "no $SYSTEMD"
for c in unshare nsenter systemd-sysusers; do
	command -v $c >/dev/null || skip_all "$c missing"
done
[ -d /sys/fs/cgroup/systemd ] && [ -d /sys/fs/cgroup/unified ] ||
	skip_all "needs the hybrid cgroup layout (name=systemd + unified)"
[ -w /sys/fs/cgroup/systemd ] || skip_all "cgroups not writable"
sd_need_bins

ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.12 fd77::12
SD_TMP=$NS_TMP
D=$NS_TMP/dest
CG=bhsd$$x$RANDOM
UPID=
SDPID=

boot_cleanup() {
	local rc=$? h

	[ -n "$UPID" ] && kill -KILL "$UPID" 2>/dev/null
	[ -n "$UPID" ] && wait "$UPID" 2>/dev/null
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		[ -d "$h/$CG" ] || continue
		# the pid namespace died with its init: the cgroups are empty
		for i in $(seq 20); do
			find "$h/$CG" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$h/$CG" ] || break
			sleep 0.1
		done
	done
	(exit $rc)
	ns_cleanup
}
trap boot_cleanup EXIT

sd_make install-only DESTDIR="$D" PREFIX=/usr/local SYSCONFDIR=/usr/local/etc
ok $? "make install-only PREFIX=/usr/local into a DESTDIR" ||
	sed 's/^/#   /' "$NS_TMP/make.log"
P=$D/usr/local/etc/bulkhead/groups
rm -f "$P"/*.yaml
cat > "$P/test.yaml" <<'EOF'
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
# No engine here to follow (the EnvironmentFile= of the unit).
mkdir -p "$D/usr/local/etc/default"
echo 'BULKHEAD_ENGINES=' > "$D/usr/local/etc/default/bulkhead"

# The machine's users and groups plus what sysusers.d/bulkhead.conf adds.
mkdir -p "$NS_TMP/root/etc"
cp /etc/group /etc/passwd "$NS_TMP/root/etc/"
systemd-sysusers --root="$NS_TMP/root" \
	"$D/usr/local/lib/sysusers.d/bulkhead.conf" >/dev/null 2>&1
BGID=$(awk -F: '$1 == "bulkhead" { print $3 }' "$NS_TMP/root/etc/group")
[ -n "$BGID" ]
ok $? "systemd-sysusers made the group bulkhead ($BGID)"

mkdir -p "$NS_TMP/units"
cat > "$NS_TMP/units/bh-test.target" <<'EOF'
[Unit]
Description=bulkhead test boot
Wants=systemd-journald.socket systemd-journald.service
EOF
# A sanitizer build: LeakSanitizer stops the world with ptrace, which the
# unit's SystemCallFilter= forbids (caps.t runs it with leak checks).
if [ -n "${BH_SANITIZE:-}" ]; then
	mkdir -p "$NS_TMP/units/bulkheadd.service.d"
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0:abort_on_error=1\n' \
		> "$NS_TMP/units/bulkheadd.service.d/sanitizer.conf"
fi

for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
	mkdir "$h/$CG" || { echo "Bail out! cannot create $h/$CG"; exit 2; }
done
(
	for h in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified; do
		echo $BASHPID > "$h/$CG/cgroup.procs" || exit 2
	done
	exec nsenter --net="$(ns_path host)" -- unshare --pid --fork --mount \
		--cgroup --uts --ipc --propagation private --kill-child -- \
		bash -c '
		set -e
		T=$1 D=$2
		mount --bind "$D/usr/local" /usr/local
		mount --bind "$T/root/etc/group" /etc/group
		mount --bind "$T/root/etc/passwd" /etc/passwd
		mount -t tmpfs -o mode=0755 tmpfs /run
		mkdir -p /run/systemd/system
		cp -r "$T"/units/* /run/systemd/system/
		for m in /tmp /var/tmp /var/lib /var/log; do
			mount -t tmpfs -o mode=0755 tmpfs $m
		done
		chmod 1777 /tmp /var/tmp
		umount -l /sys/fs/cgroup
		mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
		mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
		mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
		mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
		mount -t proc proc /proc
		exec env -i container=bulkhead-test '"$SYSTEMD"' --system \
			--unit=bh-test.target --show-status=no
		' bash "$NS_TMP" "$D"
) >"$NS_TMP/boot.log" 2>&1 &
UPID=$!

for i in $(seq 100); do
	SDPID=$(cat /proc/$UPID/task/$UPID/children 2>/dev/null | awk '{print $1}')
	[ -n "$SDPID" ] && break
	sleep 0.05
done
# Inside systemd's namespaces /tmp is a fresh tmpfs, which hides a build
# tree under /tmp (a CI clone may live there): use the installed tool.
CTL=/usr/local/bin/bulkheadctl
# sx CMD...: run CMD in systemd's namespaces (as its children see them).
sx() {
	timeout 60 nsenter -t "$SDPID" -m -p -- "$@"
}
state=
end=$((SECONDS + 40))
while [ $SECONDS -lt $end ]; do
	state=$(sx systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	sleep 0.2
done
case $state in
running | degraded) pass "systemd is up as PID 1 of its namespaces ($state)" ;;
*)
	fail "systemd is up as PID 1 of its namespaces ($state)"
	sed 's/^/#   /' "$NS_TMP/boot.log" | tail -20
	done_testing
	;;
esac

prop() { # UNIT PROPERTY
	sx systemctl show -p "$2" --value "$1" 2>/dev/null
}

sx systemctl start bulkheadd.service
ok $? "systemctl start bulkheadd (returns once READY=1 came)" ||
	sx systemctl status --no-pager -l bulkheadd | sed 's/^/#   /'
is "$(prop bulkheadd ActiveState)/$(prop bulkheadd SubState)" active/running \
	"bulkheadd is active (running)"
is "$(prop bulkheadd StatusText)" "enforcing 2 groups, 0 containers" \
	"STATUS= reaches systemd"
nsx host nft list table inet bulkhead >/dev/null 2>&1
ok $? "the table inet bulkhead is in the kernel"

MPID=$(prop bulkheadd MainPID)
st=$(sx cat "/proc/$MPID/status")
for f in CapBnd CapPrm CapEff CapAmb; do
	is "$(echo "$st" | awk -v f="$f:" '$1 == f {print $2}')" \
		0000000000001000 "$f is CAP_NET_ADMIN only"
done
is "$(echo "$st" | awk '/^NoNewPrivs:/ {print $2}')" 1 "no_new_privs"
is "$(echo "$st" | awk '/^Seccomp:/ {print $2}')" 2 \
	"a seccomp filter is in force (SystemCallFilter=)"
is "$(echo "$st" | awk '/^Uid:/ {print $2}')/$(echo "$st" | awk '/^Gid:/ {print $2}')" \
	"0/$BGID" "uid 0, gid bulkhead"
is "$(sx stat -c '%a %U:%G' /run/bulkhead /run/bulkhead/bulkhead.sock | tr '\n' ' ')" \
	"750 root:bulkhead 660 root:bulkhead " \
	"/run/bulkhead 0750 and the socket 0660, root:bulkhead"
is "$(sx stat -c '%a %U:%G' /var/lib/bulkhead /var/log/bulkhead | tr '\n' ' ')" \
	"750 root:bulkhead 750 root:bulkhead " \
	"StateDirectory= and LogsDirectory= 0750 root:bulkhead"
# (writing the value it already has: were it writable, nothing changes)
sx nsenter -t "$MPID" -m sh -c 'touch /usr/x; touch /etc/x;
	echo 1 > /proc/sys/net/ipv4/ip_forward' >"$NS_TMP/ro.out" 2>&1
is "$(grep -c 'Read-only file system' "$NS_TMP/ro.out")" 3 \
	"its view of /usr, /etc and /proc/sys is read-only"

sx journalctl -u bulkheadd -o verbose --no-pager >"$NS_TMP/journal" 2>&1
grep -q 'SYSLOG_IDENTIFIER=bulkheadd' "$NS_TMP/journal" &&
	grep -q 'PRIORITY=6' "$NS_TMP/journal" &&
	grep -q 'MESSAGE=ready: control socket' "$NS_TMP/journal"
ok $? "it logs to journald with priorities" ||
	tail -20 "$NS_TMP/journal" | sed 's/^/#   /'

for c in web api; do
	sx "$CTL" attach --id "id-$c" --name $c --label bulkhead.purpose=$c \
		--ip "${NS_ADDR4[$c]}" --ip "${NS_ADDR6[$c]}" --ifname "v-$c" \
		>/dev/null
	ok $? "bulkheadctl attach $c through /run/bulkhead/bulkhead.sock"
done
serve_tcp api 8080
serve_tcp api 9090
serve_tcp web 8080
sleep 0.3
is "$(probe tcp web 10.77.0.12 8080)" pass "declared web->api tcp/8080 passes"
is "$(probe tcp web fd77::12 8080)" pass "... over IPv6"
is "$(probe_deny api tcp web 10.77.0.12 9090)" drop "undeclared web->api tcp/9090 drops"

# The denied-flow record reaches journald too, with structured fields a
# security team can filter on.
J=
for i in $(seq 50); do
	J=$(sx journalctl --no-pager -o json BULKHEAD_DST_PORT=9090 2>/dev/null |
		head -1)
	[ -n "$J" ] && break
	sleep 0.1
done
is "$(echo "$J" | jq -r '[.BULKHEAD_ACTION, .BULKHEAD_PROTO,
	.BULKHEAD_SRC_GROUP, .BULKHEAD_SRC_CONTAINER_NAME, .BULKHEAD_SRC_IP,
	.BULKHEAD_DST_GROUP, .BULKHEAD_DST_CONTAINER_NAME, .BULKHEAD_DST_IP,
	.BULKHEAD_SCHEMA, .SYSLOG_IDENTIFIER] | join(" ")' 2>&1)" \
	"deny tcp web web 10.77.0.11 api api 10.77.0.12 1 bulkheadd" \
	"the denied web->api tcp/9090 is a journald record with its fields"

# Under the unit's sandbox too, the daemon hears of a change to its table
# made by another process and puts the table back.
nsx host nft delete table inet bulkhead
for i in $(seq 50); do
	nsx host nft list table inet bulkhead >/dev/null 2>&1 && break
	sleep 0.1
done
is "$(probe_deny api tcp web 10.77.0.12 9090)" drop "a deleted table is put back under systemd"
sx journalctl -u bulkheadd --no-pager >"$NS_TMP/journal" 2>&1
grep -q 'was changed by pid [0-9]* (nft): put back' "$NS_TMP/journal"
ok $? "and journald says who changed it" ||
	grep -i 'nftables\|changed' "$NS_TMP/journal" | tail -5 | sed 's/^/#   /'

# The group bulkhead: a member that is not root reads status through the
# socket; changes stay refused.
as_member() {
	sx setpriv --reuid=65534 --regid=65534 --groups="$BGID" -- "$@"
}
as_member "$CTL" status >/dev/null 2>&1
ok $? "a member of bulkhead (uid 65534) runs bulkheadctl status"
as_member "$CTL" detach --id id-web >/dev/null 2>&1
is "$?" 1 "... but may not detach (uid 0 only)"
sx setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	"$CTL" status >/dev/null 2>&1
[ $? -ne 0 ]
ok $? "a user outside the group cannot reach the socket"

# Denied flows land in LogsDirectory=, readable by the group; the shipped
# logrotate snippet rotates them and its postrotate (systemctl kill
# --signal=USR1) makes the daemon write to the new file.
L=/var/log/bulkhead/denied.jsonl
for i in $(seq 50); do sx test -s $L && break; sleep 0.1; done
is "$(sx stat -c '%a %U:%G' $L 2>&1)" "640 root:bulkhead" \
	"denied-flow log 0640 root:bulkhead"
sx logrotate -f -s /var/lib/logrotate.state \
	/usr/local/etc/logrotate.d/bulkhead >"$NS_TMP/lr.out" 2>&1
ok $? "logrotate -f with the installed /etc/logrotate.d/bulkhead" ||
	sed 's/^/#   /' "$NS_TMP/lr.out"
sx test -s $L.1
ok $? "rotated to $L.1"
sleep 0.3
probe tcp web 10.77.0.12 9090 >/dev/null
probe tcp api 10.77.0.11 8080 >/dev/null
for i in $(seq 50); do sx test -s $L && break; sleep 0.1; done
sx test -s $L
ok $? "after postrotate's SIGUSR1 new records go to the new $L"

# systemctl reload: ExecReload= sends SIGHUP.
sed -i 's|ports: \[tcp/8080\]|ports: [tcp/8080, tcp/9090]|' "$P/test.yaml"
sx systemctl reload bulkheadd
ok $? "systemctl reload bulkheadd"
r=drop
for i in $(seq 30); do
	r=$(probe tcp web 10.77.0.12 9090)
	[ "$r" = pass ] && break
	sleep 0.1
done
is "$r" pass "after the reload web->api tcp/9090 passes"
# RELOADING=1 ... READY=1 around the SIGHUP reload; inotify saw the edit
# too and reloads again, unannounced.
end=$((SECONDS + 15))
while [ $SECONDS -lt $end ]; do
	[ "$(prop bulkheadd ActiveState)" = active ] && break
	sleep 0.2
done
st=$(prop bulkheadd ActiveState)
# The daemon's own inotify reload right after is not announced to
# systemd (only SIGHUP's is), so the unit is active again at once.
is "$st" active "active again after the reload"
[ "$st" = active ] ||
	sx journalctl -u bulkheadd --no-pager -n 30 | sed 's/^/#   /'

# The engines' drop-ins, with Debian's real podman.socket.
if [ -f /lib/systemd/system/podman.socket ]; then
	sx systemctl stop bulkheadd
	sx systemctl start podman.socket
	ok $? "podman.socket starts"
	is "$(prop bulkheadd ActiveState)" active \
		"starting podman.socket started bulkheadd first (Wants=, After=)"
	a=$(prop bulkheadd ActiveEnterTimestampMonotonic)
	b=$(prop podman.socket ActiveEnterTimestampMonotonic)
	[ -n "$a" ] && [ -n "$b" ] && [ "$a" -le "$b" ]
	ok $? "bulkheadd was ready before podman.socket listened ($a <= $b)"
	sx systemctl stop bulkheadd
	is "$(prop podman.socket ActiveState)" active \
		"stopping bulkheadd leaves the engine alone"
	sx systemctl stop podman.socket
	# A bulkheadd that cannot start keeps the engine from starting.
	nsx host nft delete table inet bulkhead
	mv "$P/test.yaml" "$NS_TMP/test.yaml.good"
	printf 'version: 1\ngroups:\n  Bad: { match: { a: b } }\n' > "$P/bad.yaml"
	sx systemctl start podman.socket 2>/dev/null
	[ $? -ne 0 ]
	ok $? "podman.socket refuses to start while bulkheadd cannot start"
	is "$(prop podman.socket AssertResult)" no "... by its AssertPathExists="
	is "$(prop bulkheadd Result)" exit-code \
		"bulkheadd failed with the bad policy (and is retried)"
	rm -f "$P/bad.yaml"
	mv "$NS_TMP/test.yaml.good" "$P/test.yaml"
	sx systemctl reset-failed bulkheadd podman.socket
	sx systemctl start bulkheadd
	ok $? "bulkheadd starts again with a good policy"
	is "$(probe tcp web 10.77.0.12 8080)" pass \
		"the state file brought the containers back"
else
	diag "no podman.socket here: engine drop-ins not exercised"
	sx systemctl restart bulkheadd
fi

# The watchdog: a loop that stops answering is killed and restarted.
# WatchdogSec= and TimeoutStopSec= shortened by an admin's drop-in.
sx mkdir -p /run/systemd/system/bulkheadd.service.d
printf '[Service]\nWatchdogSec=2s\nTimeoutStopSec=2s\n' |
	sx sh -c 'cat > /run/systemd/system/bulkheadd.service.d/test.conf'
sx systemctl daemon-reload
sx systemctl restart bulkheadd
ok $? "restart with WatchdogSec=2s"
sleep 3
is "$(prop bulkheadd ActiveState)" active "WATCHDOG=1 keeps it alive past WatchdogSec"
n0=$(prop bulkheadd NRestarts)
m0=$(prop bulkheadd MainPID)
sx kill -STOP "$m0"
m1=$m0
for i in $(seq 100); do
	m1=$(prop bulkheadd MainPID)
	[ "$(prop bulkheadd NRestarts)" != "$n0" ] &&
		[ "$(prop bulkheadd ActiveState)" = active ] &&
		[ "$m1" != "$m0" ] && [ "$m1" != 0 ] && break
	sleep 0.1
done
n1=$(prop bulkheadd NRestarts)
is "$n1" $((n0 + 1)) "a stuck loop: killed and restarted (Restart=on-failure)"
[ "$n1" = $((n0 + 1)) ] ||
	sx journalctl -u bulkheadd --no-pager -n 40 | sed 's/^/#   /'
sx journalctl -u bulkheadd --no-pager 2>/dev/null | grep -q 'Watchdog timeout'
ok $? "... by the watchdog"
is "$(probe tcp web 10.77.0.12 8080)" pass "enforcing again after the restart"
is "$(probe_deny web tcp api 10.77.0.11 8080)" drop "... and denying"

sx systemctl stop bulkheadd
st=$(prop bulkheadd ActiveState)
is "$st" inactive "systemctl stop: exits cleanly"
[ "$st" = inactive ] ||
	sx journalctl -u bulkheadd --no-pager -n 60 | sed 's/^/#   /'
nsx host nft list table inet bulkhead >/dev/null 2>&1
ok $? "the table stays in the kernel (fail closed)"
sx test -e /run/bulkhead
is "$?" 1 "/run/bulkhead is gone (what the engines' drop-ins test)"

done_testing
