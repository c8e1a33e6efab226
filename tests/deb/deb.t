#!/bin/bash
# The Debian package as an admin meets it, piuparts-style: built from a
# clean copy of the tree (tools/build-deb.sh, as make deb) and checked by
# lintian; then, in a throwaway chroot that mmdebstrap makes from the
# archive this machine's apt sources name:
#   install    files and modes, conffiles, the group, the directories,
#              the unit enabled and passing systemd-analyze verify, the
#              bridge sysctls applied, one version everywhere, and no
#              start (the example policy alone); the installed bulkheadd
#              runs, bulkheadctl status shows its version, and it leaves
#              its table when stopped
#   purge      the table, state, logs and group gone, and said so;
#              nothing of ours left
#   previous commit's package (DEB_PREV, default HEAD~1), an admin's
#   policy and an edited conffile, then
#   upgrade    try-restart and start, never a stop (no gap); the admin's
#              files kept; the table untouched
#   remove     a stop; the table stays in force
#   purge      as above; only the admin's own policy left
# Nothing of the host is bind-mounted: mmdebstrap runs with
# --skip=chroot/mount (device nodes made by mknod), and every command in
# the chroot runs in the test's own network namespace, with a fresh /proc
# in its own pid and mount namespaces. The machine's sysctls, firewall and
# modules are not touched (the package's nft and sysctl calls reach the
# test's namespace only).
# No systemd runs in the chroot: /run/systemd/system exists there so that
# the maintainer scripts take their systemd branch, and a policy-rc.d
# (Debian's interface for it, as piuparts uses) records every start, stop
# and restart they ask for and refuses them.
# DEB_DIR (default $BH_BUILD/deb) holds the packages; the chroot is made
# once per run, in the test's temp dir, and removed with it.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
bail() { echo "Bail out! $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || skip_all "needs root (chroot, namespaces)"
for t in dpkg-buildpackage lintian mmdebstrap git unshare jq; do
	command -v "$t" >/dev/null ||
		skip_all "$t missing (tools/deps.sh installs it)"
done
suite=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
[ -n "$suite" ] || skip_all "no VERSION_CODENAME in /etc/os-release"
sources=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
	 /etc/apt/sources.list.d/*.sources; do
	[ -s "$f" ] && sources+=("$f")
done
[ ${#sources[@]} -gt 0 ] || skip_all "no apt sources on this machine"
uri=$(cat "${sources[@]}" | awk '$1 == "URIs:" { print $2; exit }
	$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) {
		print $i; exit } }')
[ -n "$uri" ] || skip_all "no archive URI in the apt sources"
ns_init
timeout 60 /usr/lib/apt/apt-helper download-file \
	"${uri%/}/dists/$suite/InRelease" "$NS_TMP/InRelease" >/dev/null 2>&1 ||
	skip_all "the archive ($uri) is not reachable"
# The background builds and mmdebstrap run in process groups of their own:
# a test that stops early ends them, children and all, before netns.sh
# removes the temp dir.
BG_GROUPS=()
deb_cleanup() {
	local rc=$? g

	for g in "${BG_GROUPS[@]}"; do
		kill -TERM -- "-$g" 2>/dev/null && wait "$g" 2>/dev/null
	done
	return $rc
}
trap 'deb_cleanup; ns_cleanup' EXIT
R=$NS_TMP/root
DEB_DIR=${DEB_DIR:-$BH_BUILD/deb}
case "$DEB_DIR" in /*) ;; *) DEB_DIR=$BH_TOP/$DEB_DIR ;; esac
DEB_PREV=${DEB_PREV:-HEAD~1}
T0=$SECONDS

# inroot CMD...: CMD in the chroot, in the test's network namespace, with
# its own pid and mount namespaces and a fresh /proc.
inroot() {
	nsx host unshare --mount --pid --fork --mount-proc="$R/proc" \
		chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
		LC_ALL=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}
# rc_log: what the maintainer scripts asked of the service manager since
# the last call, one "UNIT ACTION" a line.
rc_log() {
	cat "$R/tmp/policy-rc.log" 2>/dev/null
	: >"$R/tmp/policy-rc.log"
}
# snapshot: every path of the chroot with its type, mode and owner, but
# dpkg's and apt's own books and logs, the triggers' caches and the
# shadow tools' backups (/etc/group-), which record any change at all.
snapshot() {
	inroot find / -xdev \( -path /proc -o -path /sys -o -path /dev \
		-o -path /tmp -o -path /run -o -path /var/lib/dpkg \
		-o -path /var/lib/apt -o -path /var/cache -o -path /var/log/apt \
		-o -path /var/log/dpkg.log -o -path /var/log/alternatives.log \
		-o -path /etc/group- -o -path /etc/gshadow- \
		-o -path /etc/ld.so.cache \) -prune -o \
		-printf '%p %y %m %u:%g\n' | sort
}
# ours: files of the chroot that still name bulkhead (the same books
# left out)
ours() {
	inroot sh -c 'grep -rlI bulkhead /etc /var /usr /opt /srv /root \
		2>/dev/null' | grep -vE '^/(var/lib/dpkg|var/lib/apt|var/cache|var/log/apt|var/log/dpkg\.log)(/|$)|^/etc/(group|gshadow)-$' |
		sort
}
table() { nsx host nft list table inet bulkhead >/dev/null 2>&1; }
ver_of() { dpkg-deb -f "$1" Version; }

# --- the packages and the chroot ---------------------------------------------
# The previous commit's package builds while this tree's does; the chroot
# is made while the previous one still builds and lintian runs.
mkdir -p "$DEB_DIR"
prev_ok=0
if git -C "$BH_TOP" rev-parse -q --verify "$DEB_PREV^{commit}" >/dev/null
then
	DEB_BUILD_OPTIONS=noautodbgsym setsid sh "$BH_TOP/tools/build-deb.sh" \
		"$DEB_DIR/prev" "$DEB_PREV" >"$NS_TMP/prev.out" 2>&1 &
	prev_pid=$!
	BG_GROUPS+=("$prev_pid")
	prev_ok=1
else
	diag "no commit $DEB_PREV (a shallow clone?): no upgrade test"
fi
DEB_BUILD_OPTIONS=noautodbgsym sh "$BH_TOP/tools/build-deb.sh" "$DEB_DIR/cur" \
	>"$NS_TMP/cur.out" 2>&1
ok $? "make deb's build: dpkg-buildpackage -us -uc -b from a clean copy" ||
	{ sed 's/^/# /' "$NS_TMP/cur.out"; bail "no package"; }
CUR=$(tail -1 "$NS_TMP/cur.out")
CURV=$(ver_of "$CUR")
is "$CURV" "$(sh "$BH_TOP/tools/version.sh")" \
	"the package's version is tools/version.sh's ($CURV)"
diag "package built in $((SECONDS - T0)) s"

# depends: a package's dependencies, the first of each alternative
depends() {
	dpkg-deb -f "$1" Depends | tr ',' '\n' |
		sed -e 's/|.*//' -e 's/(.*//' -e 's/[[:space:]]//g' | sort -u
}
# The chroot: the package's dependencies and what the checks run:
# systemd-analyze (systemd), man for Documentation=, /bin/kill for
# ExecReload= (procps).
T1=$SECONDS
deps=$( (depends "$CUR"; echo systemd; echo man-db; echo procps) |
	sort -u | paste -sd, -)
# a second attempt when the first fails (a mirror's hiccup)
R=$R setsid bash -c 'for a in 1 2; do
		timeout 900 mmdebstrap "$@" && exit 0
		echo "mmdebstrap: attempt $a failed"; rm -rf "$R"
	done; exit 1' mmdebstrap --variant=essential --skip=chroot/mount \
	--include="$deps" "$suite" "$R" "${sources[@]}" \
	>"$NS_TMP/mmdebstrap.log" 2>&1 &
mm_pid=$!
BG_GROUPS+=("$mm_pid")

out=$(lintian --fail-on error,warning "$DEB_DIR"/cur/*.changes 2>&1)
ok $? "lintian: no error, no warning (overrides: debian/README.source)" ||
	diag "$out"

if [ "$prev_ok" = 1 ]; then
	wait "$prev_pid"
	ok $? "the package of $DEB_PREV" ||
		{ sed 's/^/# /' "$NS_TMP/prev.out"; prev_ok=0; }
fi
if [ "$prev_ok" = 1 ]; then
	PREV=$(tail -1 "$NS_TMP/prev.out")
	PREVV=$(ver_of "$PREV")
	dpkg --compare-versions "$CURV" gt "$PREVV"
	ok $? "$CURV upgrades $PREVV"
fi

wait "$mm_pid"
ok $? "mmdebstrap: a $suite chroot with the package's dependencies" ||
	{ tail -20 "$NS_TMP/mmdebstrap.log" | sed 's/^/# /'
	  bail "no chroot"; }
diag "chroot made in $((SECONDS - T1)) s"
if [ "$prev_ok" = 1 ]; then
	# only a dependency this commit dropped is missing: the chroot is
	# made for this commit's package
	missing=$(depends "$PREV" | while read -r p; do
		inroot dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null |
			grep -q '^ii' || echo "$p"; done | paste -sd' ' -)
	if [ -n "$missing" ]; then
		diag "$PREVV needs $missing, which $CURV no longer does:" \
		     "no upgrade test"
		prev_ok=0
	fi
fi
printf '#!/bin/sh\necho "$*" >>/tmp/policy-rc.log\nexit 101\n' \
	>"$R/usr/sbin/policy-rc.d"
chmod 0755 "$R/usr/sbin/policy-rc.d"
mkdir -p "$R/run/systemd/system"
cp "$CUR" "$R/tmp/cur.deb"
[ "$prev_ok" = 1 ] && cp "$PREV" "$R/tmp/prev.deb"
base=$(snapshot)
[ -n "$base" ]
ok $? "snapshot of the chroot before the package"

# --- install ----------------------------------------------------------------
bridge=0
if nsx host test -e /proc/sys/net/bridge/bridge-nf-call-iptables; then
	bridge=1
	nsx host sysctl -q -w net.bridge.bridge-nf-call-iptables=0 \
		net.bridge.bridge-nf-call-ip6tables=0
fi
rc_log >/dev/null
out=$(inroot dpkg -i /tmp/cur.deb 2>&1)
ok $? "install: dpkg -i" || diag "$out"

# PATH TYPE MODE OWNER: every file the package ships, and the directories
# its scripts make
want="/usr/sbin/bulkheadd f 755 root:root
/usr/bin/bulkheadctl f 755 root:root
/usr/lib/cni/bulkhead-cni f 755 root:root
/lib/systemd/system/bulkheadd.service f 644 root:root
/usr/lib/sysctl.d/60-bulkhead.conf f 644 root:root
/usr/lib/modules-load.d/bulkhead.conf f 644 root:root
/usr/lib/tmpfiles.d/bulkhead.conf f 644 root:root
/usr/lib/sysusers.d/bulkhead.conf f 644 root:root
/etc/logrotate.d/bulkhead f 644 root:root
/etc/bulkhead/groups/example.yaml f 644 root:root
/usr/share/man/man8/bulkheadd.8.gz f 644 root:root
/usr/share/man/man8/bulkheadctl.8.gz f 644 root:root
/usr/share/man/man5/bulkhead-policy.5.gz f 644 root:root
/usr/share/bash-completion/completions/bulkheadctl f 644 root:root
/usr/share/doc/bulkhead/changelog.gz f 644 root:root
/usr/share/doc/bulkhead/copyright f 644 root:root
/usr/share/lintian/overrides/bulkhead f 644 root:root"
for u in docker.service docker.socket containerd.service podman.service \
	 podman.socket podman-restart.service crio.service; do
	want+=$'\n'"/lib/systemd/system/$u.d/bulkhead.conf f 644 root:root"
done
files=$(echo "$want" | awk '{ print $1 }')
# shellcheck disable=SC2086
got=$(inroot stat -c '%n %F %a %U:%G' $files 2>&1 |
	sed -e 's/ regular file / f /' -e 's/ regular empty file / f /')
is "$got" "$want" "install: every file in place with its mode and owner"
shipped=$(inroot sh -c 'dpkg-query -L bulkhead | while read -r p; do
	[ -d "$p" ] || echo "$p"; done' | sort)
is "$shipped" "$(echo "$files" | sort)" "install: no other file shipped"
is "$(inroot stat -c '%n %a %U:%G' /var/lib/bulkhead /var/log/bulkhead \
	/etc/bulkhead/groups)" "/var/lib/bulkhead 750 root:bulkhead
/var/log/bulkhead 750 root:bulkhead
/etc/bulkhead/groups 755 root:root" \
	"install: state and log directories 0750 root:bulkhead (tmpfiles.d)"
inroot getent group bulkhead >/dev/null
ok $? "install: the group bulkhead (sysusers.d)"
is "$(inroot dpkg-query -W -f='${Conffiles}' bulkhead | awk 'NF { print $1 }' |
	sort)" "/etc/bulkhead/groups/example.yaml
/etc/logrotate.d/bulkhead" "install: the /etc files are conffiles"
is "$(inroot readlink /etc/systemd/system/multi-user.target.wants/bulkheadd.service)" \
	/lib/systemd/system/bulkheadd.service "install: the unit is enabled"
out2=$(inroot systemd-analyze verify /lib/systemd/system/bulkheadd.service 2>&1)
ok $? "install: systemd-analyze verify of the installed unit" || diag "$out2"
is "$out2" "" "install: systemd-analyze verify says nothing (man pages found)"
if [ "$bridge" = 1 ]; then
	is "$(nsx host sysctl -n net.bridge.bridge-nf-call-iptables \
		net.bridge.bridge-nf-call-ip6tables | tr '\n' ' ')" "1 1 " \
		"install: the bridge sysctls applied (in the test's namespace)"
else
	pass "install: bridge sysctls # SKIP br_netfilter not loaded here"
fi
is "$(rc_log)" "" "install: not started, the example policy alone"
echo "$out" | grep -q "enabled but not started: no policy"
ok $? "install: says why it did not start"
is "$(inroot bulkheadd --version) $(inroot bulkheadctl --version)" \
	"bulkheadd $CURV bulkheadctl $CURV" "install: --version is the package's"
is "$(inroot env CNI_COMMAND=VERSION /usr/lib/cni/bulkhead-cni |
	jq -r .bulkheadVersion)" "$CURV" "install: bulkhead-cni VERSION says it too"
inroot bulkheadctl check --strict /etc/bulkhead/groups >/dev/null 2>&1
ok $? "install: the example policy passes bulkheadctl check --strict"

# The installed daemon, as the unit runs it (without systemd): it comes
# up on the example policy, bulkheadctl status shows the package's
# version, and SIGTERM leaves its table for the purge to delete.
# /run/bulkhead is the unit's RuntimeDirectory=, made by systemd
install -d -m 0750 -g "$(inroot getent group bulkhead | cut -d: -f3)" \
	"$R/run/bulkhead"
setsid nsenter --net="$(ns_path host)" -- \
	unshare --mount --pid --fork --mount-proc="$R/proc" \
	chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
	bulkheadd --foreground --policy /etc/bulkhead/groups \
	--socket /run/bulkhead/bulkhead.sock --state-dir /var/lib/bulkhead \
	--denied-log /var/log/bulkhead/denied.jsonl \
	</dev/null >"$NS_TMP/bulkheadd.log" 2>&1 &
bhd=$!
BG_GROUPS+=("$bhd")
for _ in $(seq 200); do
	inroot bulkheadctl status >/dev/null 2>&1 && break
	kill -0 "$bhd" 2>/dev/null || break
	sleep 0.1
done
st=$(inroot bulkheadctl status 2>&1)
ok $? "installed bulkheadd runs and answers bulkheadctl status" ||
	{ diag "$st"; sed 's/^/# /' "$NS_TMP/bulkheadd.log"; }
echo "$st" | head -1 | grep -q "^bulkheadd $CURV, pid "
ok $? "bulkheadctl status shows the daemon's version" || diag "$st"
is "$(inroot bulkheadctl status --json | jq -r .daemon.version)" "$CURV" \
	"status --json: daemon.version"
kill -TERM -- "-$bhd" 2>/dev/null
wait "$bhd" 2>/dev/null
for _ in $(seq 300); do
	[ -z "$(ip netns pids "$(ns_name host)")" ] && break
	sleep 0.1
done
is "$(ip netns pids "$(ns_name host)")" "" "the daemon stopped on SIGTERM"
rm -rf "$R/run/bulkhead"
table
ok $? "a stopped daemon leaves its table in force"

# --- purge ------------------------------------------------------------------
out=$(inroot dpkg --purge bulkhead 2>&1)
ok $? "purge: dpkg --purge" || diag "$out"
is "$(rc_log)" "bulkheadd.service stop" "purge: the daemon stopped (prerm)"
table
ok $((!$?)) "purge: the table inet bulkhead is gone"
for m in "deleted the nftables table inet bulkhead" \
	 "deleted /var/lib/bulkhead" "deleted /var/log/bulkhead" \
	 "deleted the group bulkhead"; do
	echo "$out" | grep -q "$m"
	ok $? "purge says: $m"
done
got=$(snapshot)
is "$(diff <(echo "$base") <(echo "$got"))" "" \
	"purge: the chroot as it was before the install"
is "$(ours)" "" "purge: no file names bulkhead any more"
inroot getent group bulkhead >/dev/null
ok $((!$?)) "purge: no group bulkhead"

# --- upgrade from the previous commit's package -------------------------------
if [ "$prev_ok" != 1 ]; then
	diag "upgrade, remove and purge after it skipped: no previous package"
	done_testing
fi
out=$(inroot dpkg -i /tmp/prev.deb 2>&1)
ok $? "previous: install $PREVV" || diag "$out"
rc_log >/dev/null
# the admin's policy and an edit of a conffile
sed 's/mode: audit/mode: enforce/' "$R/etc/bulkhead/groups/example.yaml" \
	>"$R/etc/bulkhead/groups/site.yaml"
echo "# the admin's own line" >>"$R/etc/logrotate.d/bulkhead"
cp "$R/etc/logrotate.d/bulkhead" "$NS_TMP/logrotate.admin"
nsx host nft add table inet bulkhead

out=$(inroot dpkg -i --force-confold /tmp/cur.deb 2>&1)
ok $? "upgrade: $PREVV to $CURV" || diag "$out"
log=$(rc_log)
is "$log" "bulkheadd.service try-restart
bulkheadd.service start" \
	"upgrade: a running daemon restarted, a stopped one started (a policy of the admin's), never stopped first"
is "$(inroot bulkheadd --version)" "bulkheadd $CURV" "upgrade: the new bulkheadd"
cmp -s "$NS_TMP/logrotate.admin" "$R/etc/logrotate.d/bulkhead"
ok $? "upgrade: the admin's edit of a conffile kept"
test -f "$R/etc/bulkhead/groups/site.yaml"
ok $? "upgrade: the admin's policy kept"
table
ok $? "upgrade: the table untouched"

# --- remove -----------------------------------------------------------------
out=$(inroot dpkg -r bulkhead 2>&1)
ok $? "remove: dpkg -r" || diag "$out"
is "$(rc_log)" "bulkheadd.service stop" "remove: the daemon stopped"
table
ok $? "remove: the table stays in force"
echo "$out" | grep -q "stays in force"
ok $? "remove: says the table stays"
inroot test ! -e /usr/sbin/bulkheadd -a -e /etc/logrotate.d/bulkhead \
	-a -d /var/lib/bulkhead
ok $? "remove: the programs gone, conffiles and state kept"

out=$(inroot dpkg --purge bulkhead 2>&1)
ok $? "purge after upgrade: dpkg --purge" || diag "$out"
table
ok $((!$?)) "purge after upgrade: the table is gone"
got=$(snapshot)
is "$(diff <(echo "$base") <(echo "$got") | grep '^[<>]')" \
	"> /etc/bulkhead d 755 root:root
> /etc/bulkhead/groups d 755 root:root
> /etc/bulkhead/groups/site.yaml f 644 root:root" \
	"purge after upgrade: only the admin's own policy left"
rm -r "$R/etc/bulkhead"
is "$(ours)" "" "purge after upgrade: no other file names bulkhead"
diag "chroot checks done in $((SECONDS - T1)) s; whole test $((SECONDS - T0)) s"

done_testing
