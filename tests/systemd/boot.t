#!/bin/bash
# bulkheadd.service run by systemd itself. systemd (the machine's, 252) is
# PID 1 of private pid, mount, cgroup, uts and ipc namespaces, inside the
# test's "host" network namespace; make install put the unit, the drop-ins
# and the snippets under /usr/local (a bind mount of a DESTDIR, private to
# those namespaces), systemd-sysusers made the bulkhead group from the
# shipped snippet. Nothing of the machine's own /etc, /var, /run or network
# is touched: /run, /tmp, /var/tmp, /var/lib and /var/log are tmpfs there.
# So the whole unit is exercised for real: Type=notify start, the
# sandbox (capabilities, seccomp, address families, read-only file
# system), journald logging, reload, the engines' drop-ins, the watchdog
# and the restart.
#
# The booted systemd gets the machine's cgroup layout:
#   unified  /sys/fs/cgroup is cgroup2 (a stock Debian 12 host)
#   hybrid   cgroup2 at /sys/fs/cgroup/unified beside the named v1
#            hierarchy at /sys/fs/cgroup/systemd
# BH_SD_CGROUP=unified boots the unified layout on a hybrid machine too,
# from its cgroup2 hierarchy alone. In every hierarchy it may use (in the
# hybrid layout systemd mounts each v1 controller's too) it is rooted in
# a fresh cgroup below the test's own, the root of its cgroup namespace,
# removed at the end. A machine where none of this works skips, except
# in CI (CI=true): this is the only test of the real unit, so there it
# fails instead.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/systemd/lib.sh"

# cannot REASON: this machine cannot boot systemd here.
cannot() {
	if [ "${CI:-}" = true ]; then
		fail "CI=true: boot.t must run, but: $*"
		done_testing
	fi
	skip_all "$*"
}

SYSTEMD=/lib/systemd/systemd
[ -x $SYSTEMD ] || cannot "no $SYSTEMD"
for c in unshare nsenter systemd-sysusers; do
	command -v $c >/dev/null || cannot "$c missing"
done
fstype() { stat -fc %T "$1" 2>/dev/null; }
# own DIR CONTROLLERS: the test's own cgroup in the hierarchy mounted at
# DIR whose /proc/self/cgroup entry names CONTROLLERS ("" for cgroup2)
own() {
	local p

	p=$(awk -F: -v c="$2" '$2 == c { print $3; exit }' /proc/self/cgroup)
	[ -n "$p" ] && echo "$1${p%/}"
}
LAYOUT= V2=
if [ "$(fstype /sys/fs/cgroup)" = cgroup2fs ]; then
	LAYOUT=unified V2=/sys/fs/cgroup
elif [ "$(fstype /sys/fs/cgroup/unified)" = cgroup2fs ] &&
     [ "$(fstype /sys/fs/cgroup/systemd)" = cgroupfs ]; then
	LAYOUT=hybrid V2=/sys/fs/cgroup/unified
fi
[ -n "$LAYOUT" ] || cannot "neither the unified nor the hybrid cgroup" \
	"layout: /sys/fs/cgroup is $(fstype /sys/fs/cgroup), no cgroup2 beside it"
case ${BH_SD_CGROUP:-$LAYOUT} in
"$LAYOUT") ;;
unified) LAYOUT=unified ;;
*) cannot "BH_SD_CGROUP=$BH_SD_CGROUP on a machine with the $LAYOUT layout" ;;
esac
# HIER: where the booted systemd's own cgroups are made
HIER=("$(own $V2 "")") || cannot "$V2: not in /proc/self/cgroup"
if [ $LAYOUT = hybrid ]; then
	for h in /sys/fs/cgroup/*; do
		[ ! -L "$h" ] && [ "$(fstype "$h")" = cgroupfs ] || continue
		c=${h##*/}
		[ "$c" = systemd ] && c=name=systemd
		HIER+=("$(own "$h" "$c")") || cannot "$h: no $c in /proc/self/cgroup"
	done
fi
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
	local rc=$? h i

	[ -n "$UPID" ] && kill -KILL "$UPID" 2>/dev/null
	[ -n "$UPID" ] && wait "$UPID" 2>/dev/null
	for h in "${HIER[@]}"; do
		[ -d "$h/$CG" ] || continue
		# the pid namespace died with its init: the cgroups empty soon
		for i in $(seq 100); do
			find "$h/$CG" -depth -type d -exec rmdir {} + 2>/dev/null
			[ -d "$h/$CG" ] || break
			sleep 0.1
		done
	done
	(exit $rc)
	ns_cleanup
}
trap boot_cleanup EXIT
for h in "${HIER[@]}"; do
	mkdir "$h/$CG" 2>"$NS_TMP/mkdir.err" ||
		cannot "cannot make a cgroup for systemd: $(cat "$NS_TMP/mkdir.err")"
	# v1 cpuset takes no process before it has CPUs and memory nodes
	for f in cpuset.cpus cpuset.mems; do
		[ -e "$h/$CG/$f" ] && cat "$h/$f" > "$h/$CG/$f"
	done
done

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

mkdir -p "$NS_TMP/units/bulkheadd.service.d"
# The seccomp filter and the address families, tried by a process that
# the unit confines as it confines the daemon: an ExecStartPre= (an
# admin's drop-in) runs under the same sandbox. Each try writes a line
# "NAME ok" or "NAME <the error>" to LogsDirectory=; what the filters must
# refuse stands next to what they must allow.
cat > "$NS_TMP/units/bulkheadd.service.d/probe.sh" <<'EOF'
try() { # NAME CMD...
	local e

	if e=$(timeout 10 "${@:2}" 2>&1 >/dev/null); then
		echo "$1 ok"
	else
		echo "$1 ${e##*: }"
	fi
}
f=/var/log/bulkhead/probe.file
{
	try touch touch $f
	try chown chown "0:$(id -g)" $f
	try getaffinity taskset -p $$
	try setaffinity taskset -p -c 0 $$
	# (UDP: connect() sends nothing, so IPAddressDeny= does not answer
	# in place of RestrictAddressFamilies=)
	try inet bash -c 'exec 3<>/dev/udp/127.0.0.1/9'
	try inet6 bash -c 'exec 3<>/dev/udp/::1/9'
	echo "filters $(awk '$1 == "Seccomp_filters:" { print $2 }' /proc/self/status)"
} > /var/log/bulkhead/probe
rm -f $f
EOF
printf '[Service]\nExecStartPre=/bin/bash %s\n' \
	/run/systemd/system/bulkheadd.service.d/probe.sh \
	> "$NS_TMP/units/bulkheadd.service.d/probe.conf"
cat > "$NS_TMP/units/bh-test.target" <<'EOF'
[Unit]
Description=bulkhead test boot
Wants=systemd-journald.socket systemd-journald.service
EOF
# A sanitizer build: LeakSanitizer stops the world with ptrace, which the
# unit's SystemCallFilter= forbids (caps.t runs it with leak checks).
if [ -n "${BH_SANITIZE:-}" ]; then
	printf '[Service]\nEnvironment=ASAN_OPTIONS=detect_leaks=0:abort_on_error=1\n' \
		> "$NS_TMP/units/bulkheadd.service.d/sanitizer.conf"
fi

# PID 1 of the new namespaces. First it alone joins the cgroups made
# above and makes them the root of its cgroup namespace (unshare stays
# outside): in cgroup2 systemd moves itself into init.scope and turns
# controllers on at that root, which a process left there would refuse.
# Then the mounts, then systemd.
cat > "$NS_TMP/pid1.sh" <<'EOF'
set -e
T=$1 D=$2 CG=$3 L=$4 SYSTEMD=$5
shift 5
if [ -z "${BH_IN_CGNS:-}" ]; then
	for h in "$@"; do echo $$ > "$h/$CG/cgroup.procs"; done
	BH_IN_CGNS=1 exec unshare --cgroup -- bash "$0" "$T" "$D" "$CG" "$L" \
		"$SYSTEMD" "$@"
fi
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
if [ "$L" = unified ]; then
	mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
	mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
	mkdir /sys/fs/cgroup/systemd /sys/fs/cgroup/unified
	mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
	mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
fi
mount -t proc proc /proc
exec env -i container=bulkhead-test "$SYSTEMD" --system \
	--unit=bh-test.target --show-status=no
EOF
nsenter --net="$(ns_path host)" -- unshare --pid --fork --mount --uts \
	--ipc --propagation private --kill-child -- bash "$NS_TMP/pid1.sh" \
	"$NS_TMP" "$D" "$CG" "$LAYOUT" "$SYSTEMD" "${HIER[@]}" \
	>"$NS_TMP/boot.log" 2>&1 &
UPID=$!
diag "cgroup layout: $LAYOUT"

# (unshare forks PID 1 as soon as it runs; a loaded machine may be slow)
for i in $(seq 300); do
	SDPID=$(cat /proc/$UPID/task/$UPID/children 2>/dev/null | awk '{print $1}')
	[ -n "$SDPID" ] && break
	kill -0 "$UPID" 2>/dev/null || break
	sleep 0.1
done
# Inside systemd's namespaces /tmp is a fresh tmpfs, which hides a build
# tree under /tmp (a CI clone may live there): use the installed tool.
CTL=/usr/local/bin/bulkheadctl
# sx CMD...: run CMD in systemd's namespaces (as its children see them).
sx() {
	timeout 60 nsenter -t "$SDPID" -m -p -C -- "$@"
}
state=
end=$((SECONDS + 90))
while [ $SECONDS -lt $end ]; do
	state=$(sx systemctl is-system-running 2>/dev/null)
	case $state in running | degraded) break ;; esac
	kill -0 "$UPID" 2>/dev/null || break
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
# (IPAddressDeny= is a BPF program on the unit's cgroup2 group)
sx grep -qx '0::/system.slice/bulkheadd.service' "/proc/$MPID/cgroup"
ok $? "systemd runs it in its own cgroup2 group ($LAYOUT layout)" ||
	sx cat "/proc/$MPID/cgroup" | sed 's/^/#   /'
st=$(sx cat "/proc/$MPID/status")
for f in CapBnd CapPrm CapEff CapAmb; do
	is "$(echo "$st" | awk -v f="$f:" '$1 == f {print $2}')" \
		0000000000001000 "$f is CAP_NET_ADMIN only"
done
is "$(echo "$st" | awk '/^NoNewPrivs:/ {print $2}')" 1 "no_new_privs"
# (many of the unit's settings are seccomp filters: which one does what is
# for the probe below)
is "$(echo "$st" | awk '/^Seccomp:/ {print $2}')" 2 \
	"seccomp filters are in force"
# The probe's lines (see probe.sh above).
pr=$(sx cat /var/log/bulkhead/probe 2>&1)
res() { echo "$pr" | sed -n "s/^$1 //p"; }
is "$(res touch)/$(res getaffinity)" ok/ok \
	"the unit's ExecStartPre= probe ran (control: allowed calls succeed)" ||
	echo "$pr" | sed 's/^/#   /'
is "$(res chown)" "Operation not permitted" \
	"SystemCallFilter=~@privileged: chown to its own ids fails with EPERM"
is "$(res setaffinity)" "Operation not permitted" \
	"SystemCallFilter=~@resources: sched_setaffinity fails with EPERM"
is "$(res inet)" "Address family not supported by protocol" \
	"RestrictAddressFamilies=: no AF_INET socket"
is "$(res inet6)" "Address family not supported by protocol" \
	"RestrictAddressFamilies=: no AF_INET6 socket"
is "$(res filters)" \
	"$(echo "$st" | awk '$1 == "Seccomp_filters:" {print $2}')" \
	"the daemon has the probe's seccomp filters"
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
is "$(echo "$J" | jq -r '[.BULKHEAD_RULE, .BULKHEAD_DIRECTION,
	(.BULKHEAD_POLICY_HASH | test("^[0-9a-f]{64}$"))] | join(" ")' 2>&1)" \
	"default-deny ingress true" "  and why: rule, direction, policy hash"

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
# (the daemon's and the kernel's own refusals, not any failure)
out=$(as_member "$CTL" detach --id id-web 2>&1)
is "$?/$(echo "$out" | grep -c 'detach needs uid 0 (you are uid 65534)')" 1/1 \
	"... but may not detach (uid 0 only)" || echo "$out" | sed 's/^/#   /'
out=$(sx setpriv --reuid=65534 --regid=65534 --clear-groups -- \
	"$CTL" status 2>&1)
echo "$out" | grep -q 'cannot reach bulkheadd on .*: Permission denied'
ok $? "a user outside the group cannot reach the socket" ||
	echo "$out" | sed 's/^/#   /'

# Allowed-flow observations: their log beside it, conntrack accounting
# on through the shipped sysctl.d and modules-load.d snippets (the unit
# may not write the sysctl itself).
F=/var/log/bulkhead/flows.jsonl
is "$(sx stat -c '%a %U:%G' $F 2>&1)" "640 root:bulkhead" \
	"allowed-flow log 0640 root:bulkhead"
is "$(sx $CTL status --json | jq -r .flows.accounting)" true \
	"conntrack accounting on under the unit (sysctl.d)"
# Denied flows land in LogsDirectory=, readable by the group; the shipped
# logrotate snippet rotates them and its postrotate (systemctl kill
# --signal=USR1) makes the daemon write to the new file.
L=/var/log/bulkhead/denied.jsonl
for i in $(seq 50); do sx test -s $L && break; sleep 0.1; done
is "$(sx stat -c '%a %U:%G' $L 2>&1)" "640 root:bulkhead" \
	"denied-flow log 0640 root:bulkhead"
reopens() {
	sx journalctl -u bulkheadd --no-pager 2>/dev/null |
		grep -c 'denied flows: reopened'
}
ino=$(sx stat -c %i $L)
r0=$(reopens)
sx logrotate -f -s /var/lib/logrotate.state \
	/usr/local/etc/logrotate.d/bulkhead >"$NS_TMP/lr.out" 2>&1
ok $? "logrotate -f with the installed /etc/logrotate.d/bulkhead" ||
	sed 's/^/#   /' "$NS_TMP/lr.out"
sx test -s $L.1
ok $? "rotated to $L.1"
for i in $(seq 300); do [ "$(reopens)" -gt "$r0" ] && break; sleep 0.1; done
[ "$(reopens)" -gt "$r0" ]
ok $? "postrotate's SIGUSR1: the daemon reopened $L"
probe tcp web 10.77.0.12 9090 >/dev/null
probe tcp api 10.77.0.11 8080 >/dev/null
for i in $(seq 300); do sx test -s $L && break; sleep 0.1; done
# (another inode: the file logrotate made, not the old one left in place)
sx test -s $L && [ "$(sx stat -c %i $L)" != "$ino" ]
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

# The engines' drop-ins, with Debian's real podman.socket where podman is
# installed, else with a stand-in docker.socket (and the docker.service a
# socket unit needs): the drop-ins shipped for Docker's units apply to
# them as to Docker's own.
ES=podman.socket
if [ ! -f /lib/systemd/system/podman.socket ]; then
	ES=docker.socket
	printf '[Socket]\nListenStream=/run/bh-engine.sock\n' |
		sx sh -c 'cat > /run/systemd/system/docker.socket'
	printf '[Service]\nExecStart=/bin/true\n' |
		sx sh -c 'cat > /run/systemd/system/docker.service'
	sx systemctl daemon-reload
fi
diag "engine: $ES"
sx systemctl stop bulkheadd
a0=$(prop bulkheadd ActiveEnterTimestampMonotonic)
sx systemctl start $ES
ok $? "$ES starts"
is "$(prop bulkheadd ActiveState)" active \
	"starting $ES started bulkheadd first (Wants=, After=)"
a=$(prop bulkheadd ActiveEnterTimestampMonotonic)
b=$(prop $ES ActiveEnterTimestampMonotonic)
# (a0: its previous start, which would be before $ES too)
[ -n "$a" ] && [ -n "$b" ] && [ "$a" -gt "${a0:-0}" ] && [ "$a" -le "$b" ]
ok $? "bulkheadd was ready before $ES listened ($a0 < $a <= $b)"
sx systemctl stop bulkheadd
is "$(prop $ES ActiveState)" active \
	"stopping bulkheadd leaves the engine alone"
sx systemctl stop $ES
# A bulkheadd that cannot start keeps the engine from starting.
nsx host nft delete table inet bulkhead
mv "$P/test.yaml" "$NS_TMP/test.yaml.good"
printf 'version: 1\ngroups:\n  Bad: { match: { a: b } }\n' > "$P/bad.yaml"
sx systemctl start $ES 2>/dev/null
[ $? -ne 0 ]
ok $? "$ES refuses to start while bulkheadd cannot start"
is "$(prop $ES AssertResult)" no "... by its AssertPathExists="
is "$(prop bulkheadd Result)" exit-code \
	"bulkheadd failed with the bad policy (and is retried)"
rm -f "$P/bad.yaml"
mv "$NS_TMP/test.yaml.good" "$P/test.yaml"
sx systemctl reset-failed bulkheadd $ES
sx systemctl start bulkheadd
ok $? "bulkheadd starts again with a good policy"
is "$(probe tcp web 10.77.0.12 8080)" pass \
	"the state file brought the containers back"

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
# (kill -STOP 0 would stop the test's own process group)
[ "${m0:-0}" -gt 0 ] && sx kill -STOP "$m0"
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
is "$(sx sh -c 'test -e /run/bulkhead; echo $?')" 1 \
	"/run/bulkhead is gone (what the engines' drop-ins test)"

# systemd itself ends cleanly: in a container `systemctl exit N` stops
# every unit and ends PID 1 with status N, which unshare passes on.
sx systemctl exit 42 2>/dev/null
for i in $(seq 600); do
	kill -0 "$UPID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$UPID" 2>/dev/null; then
	fail "systemctl exit 42: systemd exits with 42 (still running)"
else
	wait "$UPID"
	rc=$?
	UPID=
	is "$rc" 42 "systemctl exit 42: systemd exits with 42" ||
		tail -20 "$NS_TMP/boot.log" | sed 's/^/#   /'
fi

done_testing
