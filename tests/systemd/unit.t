#!/bin/bash
# bulkheadd.service as make install writes it: systemd-analyze verify
# (syntax, ExecStart/ExecReload resolvable, man pages of Documentation=
# found), the offline security exposure score, and the dependency graph
# systemd builds from it and from the engine drop-ins: bulkheadd before
# every engine, pulled in by them, no ordering cycle when an engine's socket
# is enabled. All offline: systemd is not PID 1 here.
# Where this machine has no unit of an engine (docker, containerd, crio),
# only bulkheadd's side of the ordering and the drop-in file are checked;
# podman's units come from Debian's podman package and are loaded for real.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/systemd/lib.sh"

command -v systemd-analyze >/dev/null || skip_all "systemd-analyze missing"
sd_need_bins
sd_tmp

# A scratch prefix on this machine (not a DESTDIR) so that the unit's
# ExecStart= names a binary systemd-analyze can find.
P=$SD_TMP/usr
UD=$P/lib/systemd/system
U=$UD/bulkheadd.service
sd_make install-only PREFIX="$P" SYSCONFDIR="$SD_TMP/etc"
ok $? "make install-only PREFIX=<scratch>" || sed 's/^/#   /' "$SD_TMP/make.log"

grep -q "^ExecStart=$P/sbin/bulkheadd " "$U"
ok $? "ExecStart= names the installed bulkheadd"

out=$(MANPATH=$P/share/man SYSTEMD_UNIT_PATH=$UD: \
	systemd-analyze verify "$U" 2>&1)
rc=$?
is "$rc" 0 "systemd-analyze verify: exit 0"
is "$out" "" "systemd-analyze verify: no warnings (man pages found too)"

# The offline security review, printed, and its score held to 2.0.
sec=$(systemd-analyze security --offline=true "$U" 2>&1)
echo "$sec" | grep -E '✗|Overall' | sed 's/^/# /'
score=$(echo "$sec" | sed -n 's/.*Overall exposure level for bulkheadd.service: \([0-9.]*\).*/\1/p')
diag "exposure score: ${score:-none}"
[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
ok $? "exposure score ${score:-?} <= 2.0"
systemd-analyze security --offline=true --threshold=20 "$U" >/dev/null 2>&1
ok $? "systemd-analyze security --threshold=20 agrees"

# The dependency graph: a scratch unit directory where bulkheadd is
# enabled, and podman.socket too when this machine has it (the case that
# makes a cycle through sockets.target/basic.target if the unit kept
# DefaultDependencies=yes). systemd-analyze verify with debug logging
# dumps every loaded unit's dependencies and reports ordering cycles.
EN=$SD_TMP/enable
mkdir -p "$EN/multi-user.target.wants" "$EN/sockets.target.wants"
ln -s "$U" "$EN/multi-user.target.wants/bulkheadd.service"
units=("$U" multi-user.target)
have_podman=0
if [ -f /lib/systemd/system/podman.socket ] &&
   [ -f /lib/systemd/system/podman.service ]; then
	have_podman=1
	ln -s /lib/systemd/system/podman.socket "$EN/sockets.target.wants/"
	units+=(podman.socket podman.service)
	[ -f /lib/systemd/system/podman-restart.service ] &&
		units+=(podman-restart.service)
fi
SYSTEMD_LOG_LEVEL=debug SYSTEMD_UNIT_PATH=$EN:$UD: \
	systemd-analyze verify --man=false "${units[@]}" >"$SD_TMP/dump" 2>&1
is "$?" 0 "verify of the enabled graph: exit 0"
grep -i 'ordering cycle' "$SD_TMP/dump" | sed 's/^/#   /'
# (an empty dump has no cycle either: the unit must be in it)
grep -qF -- '-> Unit bulkheadd.service:' "$SD_TMP/dump" &&
	! grep -qi 'ordering cycle' "$SD_TMP/dump"
ok $? "no ordering cycle (bulkheadd, multi-user.target, engines' sockets)"

# block UNIT: the dependency dump of one unit.
block() {
	awk -v u="-> Unit $1:" '
		index($0, u) { on = 1; next }
		/-> Unit / { on = 0 }
		on' "$SD_TMP/dump"
}
has() { # UNIT "Key: value"
	block "$1" | grep -qF -- "$2"
}

B=bulkheadd.service
has $B "Type: notify"
ok $? "Type=notify"
has $B "NotifyAccess: main"
ok $? "NotifyAccess=main"
has $B "WatchdogSec: 30s"
ok $? "WatchdogSec=30s"
has $B "Restart: on-failure"
ok $? "Restart=on-failure"
has $B "DefaultDependencies: no"
ok $? "DefaultDependencies=no (no After=basic.target)"
for d in sysinit.target systemd-sysctl.service systemd-modules-load.service \
	 systemd-sysusers.service; do
	has $B "After: $d "
	ok $? "after $d (sysctl.d, modules-load.d, the bulkhead group)"
done
has $B "Conflicts: shutdown.target"
ok $? "stopped at shutdown"
for e in docker.service docker.socket containerd.service crio.service \
	 podman.service podman.socket podman-restart.service; do
	has $B "Before: $e "
	ok $? "before $e"
	cmp -s "$BH_TOP/systemd/engine-dropin.conf" "$UD/$e.d/bulkhead.conf"
	ok $? "drop-in $e.d/bulkhead.conf installed"
done
has $B "WantedBy: multi-user.target"
ok $? "wanted by multi-user.target when enabled"

if [ $have_podman -eq 1 ]; then
	for e in podman.socket podman.service; do
		has $e "DropIn Path: $UD/$e.d/bulkhead.conf"
		ok $? "$e: the drop-in is loaded"
		has $e "Wants: bulkheadd.service"
		ok $? "$e pulls bulkheadd in"
		has $e "After: bulkheadd.service"
		ok $? "$e starts after bulkheadd is ready"
		has $e "AssertPathExists: /run/bulkhead/bulkhead.sock"
		ok $? "$e refuses to start while bulkheadd is not running"
		! block $e | grep -qE '^\s*(Requires|BindsTo|PartOf): bulkheadd'
		ok $? "$e is not stopped or restarted with bulkheadd"
	done
else
	diag "no podman units on this machine: drop-ins not loaded"
fi

done_testing
