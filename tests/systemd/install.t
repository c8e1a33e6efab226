#!/bin/bash
# make install / uninstall into a DESTDIR: every file where it belongs with
# its mode and nothing else; the admin's files under /etc are never
# overwritten and survive uninstall when changed; the shipped snippets are
# read by the tools that consume them (systemd-sysusers, systemd-tmpfiles,
# logrotate, modprobe), each pointed at the scratch tree.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/systemd/lib.sh"

sd_need_bins
sd_tmp
D=$SD_TMP/dest

sd_make install-only DESTDIR="$D" PREFIX=/usr
ok $? "make install-only DESTDIR=… PREFIX=/usr" ||
	sed 's/^/#   /' "$SD_TMP/make.log"

# Every file, with its mode; nothing more, nothing less.
expect() {
	cat <<'EOF'
755 etc/bulkhead
755 etc/bulkhead/groups
644 etc/bulkhead/groups/example.yaml
644 etc/logrotate.d/bulkhead
755 usr/bin/bulkheadctl
755 usr/lib/cni/bulkhead-cni
644 usr/lib/modules-load.d/bulkhead.conf
644 usr/lib/sysctl.d/60-bulkhead.conf
644 usr/lib/systemd/system/bulkheadd.service
755 usr/lib/systemd/system/containerd.service.d
644 usr/lib/systemd/system/containerd.service.d/bulkhead.conf
755 usr/lib/systemd/system/crio.service.d
644 usr/lib/systemd/system/crio.service.d/bulkhead.conf
755 usr/lib/systemd/system/docker.service.d
644 usr/lib/systemd/system/docker.service.d/bulkhead.conf
755 usr/lib/systemd/system/docker.socket.d
644 usr/lib/systemd/system/docker.socket.d/bulkhead.conf
755 usr/lib/systemd/system/podman-restart.service.d
644 usr/lib/systemd/system/podman-restart.service.d/bulkhead.conf
755 usr/lib/systemd/system/podman.service.d
644 usr/lib/systemd/system/podman.service.d/bulkhead.conf
755 usr/lib/systemd/system/podman.socket.d
644 usr/lib/systemd/system/podman.socket.d/bulkhead.conf
644 usr/lib/sysusers.d/bulkhead.conf
644 usr/lib/tmpfiles.d/bulkhead.conf
755 usr/sbin/bulkheadd
644 usr/share/bash-completion/completions/bulkheadctl
644 usr/share/man/man5/bulkhead-policy.5
644 usr/share/man/man8/bulkheadctl.8
644 usr/share/man/man8/bulkheadd.8
EOF
}
# Directories that hold only our files (the others, usr/bin and such,
# are shared and left out of the listing).
listing() {
	(cd "$D" && find . -mindepth 1 \( -type f -o -type d \) \
		-printf '%m %P\n' | sort -k2) |
		grep -vE ' (etc|usr|usr/bin|usr/sbin|usr/lib|usr/lib/cni|usr/lib/[a-z-]+\.d|usr/lib/systemd|usr/lib/systemd/system|usr/share|usr/share/man|usr/share/man/man[58]|usr/share/bash-completion|usr/share/bash-completion/completions|etc/logrotate.d)$'
}
is "$(listing)" "$(expect)" "every file in place with its mode, nothing else"

unit=$D/usr/lib/systemd/system/bulkheadd.service
grep -q '^ExecStart=/usr/sbin/bulkheadd --foreground' "$unit"
ok $? "unit: ExecStart=/usr/sbin/bulkheadd"
grep -q -- '--policy /etc/bulkhead/groups' "$unit"
ok $? "unit: --policy /etc/bulkhead/groups"
[ -f "$unit" ] && ! grep -q '@[A-Z]*@' "$unit"
ok $? "unit: every @VAR@ substituted"
cmp -s "$BH_D" "$D/usr/sbin/bulkheadd" && cmp -s "$BH_CTL" "$D/usr/bin/bulkheadctl" &&
	cmp -s "$BH_CNI" "$D/usr/lib/cni/bulkhead-cni"
ok $? "the binaries are the built ones"

# The example policy is a policy bulkheadd accepts, without warnings.
out=$("$BH_CTL" check --strict "$D/etc/bulkhead/groups" 2>&1)
ok $? "bulkheadctl check --strict accepts the installed example policy" ||
	echo "$out" | sed 's/^/#   /'

# systemd finds units, sysctl.d and the rest under /usr/lib and also
# /usr/local/lib: the two usual prefixes need no extra configuration.
paths=$(systemd-analyze unit-paths 2>/dev/null)
for p in /usr/lib/systemd/system /usr/local/lib/systemd/system; do
	echo "$paths" | grep -qx "$p"
	ok $? "systemd searches $p"
done

# The admin's files are theirs.
echo "# changed by the admin" >> "$D/etc/bulkhead/groups/example.yaml"
echo "# changed by the admin" >> "$D/etc/logrotate.d/bulkhead"
cp "$D/etc/bulkhead/groups/example.yaml" "$SD_TMP/mine.yaml"
sd_make install-only DESTDIR="$D" PREFIX=/usr
ok $? "second install"
cmp -s "$D/etc/bulkhead/groups/example.yaml" "$SD_TMP/mine.yaml"
ok $? "second install keeps a changed /etc/bulkhead/groups/example.yaml"
tail -1 "$D/etc/logrotate.d/bulkhead" | grep -q 'changed by the admin'
ok $? "second install keeps a changed /etc/logrotate.d/bulkhead"

# A policy of the admin's own: the example never joins it.
D2=$SD_TMP/dest2
mkdir -p "$D2/etc/bulkhead/groups"
printf 'version: 1\n' > "$D2/etc/bulkhead/groups/site.yaml"
sd_make install-only DESTDIR="$D2" PREFIX=/usr
ok $? "install over an existing policy"
is "$(ls "$D2/etc/bulkhead/groups")" site.yaml \
	"the example is not added to an admin's policy directory"

# The snippets, read by their consumers.
if command -v systemd-sysusers >/dev/null; then
	mkdir -p "$SD_TMP/root/etc"
	: > "$SD_TMP/root/etc/group"
	: > "$SD_TMP/root/etc/passwd"
	systemd-sysusers --root="$SD_TMP/root" \
		"$D/usr/lib/sysusers.d/bulkhead.conf" >/dev/null 2>&1
	grep -q '^bulkhead:x:[0-9]*:$' "$SD_TMP/root/etc/group"
	ok $? "systemd-sysusers creates the group bulkhead"
	if command -v systemd-tmpfiles >/dev/null; then
		systemd-tmpfiles --root="$SD_TMP/root" --create \
			"$D/usr/lib/tmpfiles.d/bulkhead.conf" 2>"$SD_TMP/tmpf.err"
		ok $? "systemd-tmpfiles accepts the snippet" ||
			sed 's/^/#   /' "$SD_TMP/tmpf.err"
		gid=$(awk -F: '$1 == "bulkhead" { print $3 }' "$SD_TMP/root/etc/group")
		is "$(stat -c '%a %u %g' "$SD_TMP/root/var/lib/bulkhead" 2>&1)" \
			"750 0 $gid" "tmpfiles: /var/lib/bulkhead 0750 root:bulkhead"
		is "$(stat -c '%a %u %g' "$SD_TMP/root/var/log/bulkhead" 2>&1)" \
			"750 0 $gid" "tmpfiles: /var/log/bulkhead 0750 root:bulkhead"
		is "$(stat -c '%a' "$SD_TMP/root/etc/bulkhead/groups" 2>&1)" 755 \
			"tmpfiles: /etc/bulkhead/groups 0755"
	fi
fi

if command -v logrotate >/dev/null; then
	# logrotate -d parses and plans without touching anything; the group
	# bulkhead may not exist here, so the check runs on a copy that
	# names root's.
	sed 's/create 0640 root bulkhead/create 0640 root root/' \
		"$BH_TOP/systemd/bulkhead.logrotate" > "$SD_TMP/lr.conf"
	logrotate -d -s "$SD_TMP/lr.state" "$SD_TMP/lr.conf" \
		>"$SD_TMP/lr.out" 2>&1
	ok $? "logrotate parses the snippet" || sed 's/^/#   /' "$SD_TMP/lr.out"
	grep -q 'USR1' "$D/etc/logrotate.d/bulkhead"
	ok $? "logrotate: postrotate sends SIGUSR1"
fi

m=$(grep -v '^#' "$D/usr/lib/modules-load.d/bulkhead.conf" | tr '\n' ' ')
is "${m% }" "br_netfilter nf_conntrack" \
	"modules-load.d names br_netfilter and nf_conntrack"
if [ -d "/lib/modules/$(uname -r)" ]; then
	for mm in $m; do
		modprobe -n -q "$mm"
		ok $? "modprobe knows $mm (module or built in)"
	done
fi
# The sysctl keys exist once br_netfilter is there (built in on this
# kernel); reading them changes nothing.
if [ -d /proc/sys/net/bridge ]; then
	for k in $(sed -n 's/^\([a-z0-9.-]*\) *=.*/\1/p' \
		   "$D/usr/lib/sysctl.d/60-bulkhead.conf"); do
		[ -e "/proc/sys/${k//./\/}" ]
		ok $? "sysctl.d key $k exists"
	done
else
	diag "br_netfilter not loaded here: sysctl keys not checked"
fi

# uninstall: ours gone, the admin's changed files kept.
sd_make uninstall DESTDIR="$D" PREFIX=/usr
ok $? "make uninstall"
left=$(cd "$D" && find . -type f -printf '%P\n' | sort)
is "$left" "$(printf '%s\n' etc/bulkhead/groups/example.yaml etc/logrotate.d/bulkhead)" \
	"uninstall removes every file but the admin's changed ones"
# (the directory itself stays: without it find would find nothing too)
[ -d "$D/usr/lib/systemd/system" ] &&
	! find "$D/usr/lib/systemd/system" -name '*.d' | grep -q .
ok $? "uninstall removes the drop-in directories"
cmp -s "$D/etc/bulkhead/groups/example.yaml" "$SD_TMP/mine.yaml"
ok $? "the admin's policy is untouched"

# An unchanged install uninstalls completely.
D3=$SD_TMP/dest3
sd_make install-only DESTDIR="$D3" PREFIX=/usr/local
ok $? "install PREFIX=/usr/local"
[ -f "$D3/usr/local/lib/systemd/system/bulkheadd.service" ] &&
	grep -q '^ExecStart=/usr/local/sbin/bulkheadd' \
		"$D3/usr/local/lib/systemd/system/bulkheadd.service"
ok $? "PREFIX=/usr/local: unit in /usr/local/lib/systemd/system"
sd_make uninstall DESTDIR="$D3" PREFIX=/usr/local
is "$(cd "$D3" && find . -type f | wc -l)" 0 "uninstall of an unchanged install leaves no file"
[ ! -e "$D3/etc/bulkhead" ]
ok $? "… and no /etc/bulkhead"

done_testing
