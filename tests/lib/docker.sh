# Docker fixtures for the e2e tests (bash): Debian's docker.io (dockerd,
# its own containerd, runc) beside bulkheadd in the test's host network
# namespace. Source after tests/lib/tap.sh, tests/lib/netns.sh and
# tests/lib/podman.sh (for pm_serve, pm_probe and pm_probe_deny, which take
# a network namespace path), after ns_init.
#
# dockerd runs in the test's host network namespace and in a mount
# namespace of its own, held by a sleeping process ($DK_HOLDER) so that
# every dockerd of the test (restarts, --live-restore) shares it: a temp dir
# on /run (it writes /run/docker/plugins and its containerd the shims'
# sockets in /run/containerd/s whatever --exec-root says) and one on
# /etc/docker (its key.json), so nothing of it lands on the machine.
# Its data, exec root, socket and pid file are under $NS_TMP/docker; its
# containers' cgroups under the parent /$NS_PREFIX-docker. With iptables
# on (iptables-nft) it programs its own ip filter / ip nat tables in that
# network namespace only.
#
# The sandbox bind mounts Docker makes under --exec-root/netns live in its
# mount namespace, so a container's network namespace is reached here (and
# by bulkheadd) as /proc/PID/ns/net.
#
#   dk_init                 checks, dirs, the busybox image tarball; installs
#                           the cleanup; skip_all when Docker cannot run
#   dk_start [ARGS...]      dockerd (extra ARGS to it); waits for _ping
#                           (bounded); imports the image bb:local once
#   dk_stop                 SIGTERM dockerd, wait (bounded), SIGKILL
#   dk ARGS...              the docker client of the same version
#   dk_run NAME [OPTS...]   docker run -d --name NAME OPTS bb:local sleep
#   dk_key NAME             its network namespace (/proc/PID/ns/net)
#   dk_ip NAME NET          its IPv4 address on NET ("bridge" for docker0)
#   dk_wait_ping [SECS]     until dockerd answers
#   dk_pass KEY DST PORT    pm_probe from the namespace KEY, tried up to
#                           three times (1, 2, 3 s): a loaded machine is
#                           slow, a drop stays a drop; prints pass/drop

DK_DIR=
DK_SOCK=
DK_PID=
DK_HOLDER=
DK_CLI=/usr/bin/docker
DK_IMAGE=bb:local

dk() {
	"$DK_CLI" -H "unix://$DK_SOCK" "$@"
}

dk_cleanup() {
	local rc=$? p cg

	trap - EXIT
	exec 2>/dev/null
	if [ -n "$DK_PID" ] && kill -0 "$DK_PID"; then
		timeout 60 "$DK_CLI" -H "unix://$DK_SOCK" rm -f \
			$(timeout 20 "$DK_CLI" -H "unix://$DK_SOCK" ps -aq) \
			>/dev/null
		dk_stop
	fi
	# whatever outlived dockerd in our cgroup parent (a container whose
	# shim was killed), then the cgroups themselves
	for cg in /sys/fs/cgroup/*/"$NS_PREFIX-docker"; do
		[ -d "$cg" ] || continue
		for p in $(cat "$cg"/*/cgroup.procs "$cg"/cgroup.procs); do
			kill -KILL "$p"
		done
	done
	sleep 0.2
	for cg in /sys/fs/cgroup/*/"$NS_PREFIX-docker"; do
		[ -d "$cg" ] || continue
		rmdir "$cg"/* "$cg"
	done
	(exit $rc)
	ns_cleanup
}

dk_init() {
	local why=

	command -v dockerd >/dev/null || why="dockerd not installed"
	[ -x "$DK_CLI" ] || why="$DK_CLI (docker.io's client) not installed"
	command -v containerd >/dev/null || why="containerd not installed"
	command -v runc >/dev/null || why="runc not installed"
	command -v unshare >/dev/null || why="unshare missing"
	[ -x /bin/busybox ] || why="busybox-static not installed"
	command -v jq >/dev/null || why="jq not installed"
	[ -n "$why" ] && skip_all "$why"
	DK_DIR=$NS_TMP/docker
	DK_SOCK=$DK_DIR/api.sock
	mkdir -p "$DK_DIR"/{data,exec,etc,run} \
		"$DK_DIR"/rootfs/{bin,etc,proc,sys,dev,tmp} || return 1
	echo '{}' >"$DK_DIR/daemon.json"
	cp /bin/busybox "$DK_DIR/rootfs/bin/" || return 1
	chroot "$DK_DIR/rootfs" /bin/busybox --install -s /bin || return 1
	tar -C "$DK_DIR/rootfs" -cf "$DK_DIR/rootfs.tar" . || return 1
	trap dk_cleanup EXIT
	# /etc/docker is where dockerd keeps its key.json, whatever
	# --config-file says: a directory of ours over it when it exists
	ns_bg host unshare -m --propagation private sh -c '
		mount --bind "$0/run" /run || exit 1
		if [ -d /etc/docker ]; then
			mount --bind "$0/etc" /etc/docker || exit 1
		fi
		touch "$0/holder.ready"
		exec sleep 100000' "$DK_DIR"
	DK_HOLDER=$!
	for _ in $(seq 100); do
		[ -e "$DK_DIR/holder.ready" ] && return 0
		kill -0 "$DK_HOLDER" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

dk_wait_ping() {
	local secs=${1:-60} end

	end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		curl -sf --max-time 2 --unix-socket "$DK_SOCK" http://d/_ping \
			>/dev/null 2>&1 && return 0
		kill -0 "$DK_PID" 2>/dev/null || return 1
		sleep 0.2
	done
	return 1
}

dk_start() {
	local d=$DK_DIR

	rm -f "$DK_SOCK" "$d/pid"
	nsenter --net="$(ns_path host)" --mount="/proc/$DK_HOLDER/ns/mnt" -- \
		dockerd --config-file "$d/daemon.json" --data-root "$d/data" \
		--exec-root "$d/exec" --pidfile "$d/pid" -H "unix://$DK_SOCK" \
		--storage-driver vfs --cgroup-parent "/$NS_PREFIX-docker" \
		--iptables=true "$@" >>"$d/dockerd.log" 2>&1 &
	DK_PID=$!
	if ! dk_wait_ping 60; then
		diag "dockerd did not answer within 60 s; its log:"
		tail -20 "$d/dockerd.log" | sed 's/^/#   /'
		return 1
	fi
	if ! dk image inspect "$DK_IMAGE" >/dev/null 2>&1; then
		dk import "$d/rootfs.tar" "$DK_IMAGE" >/dev/null || return 1
	fi
}

dk_stop() {
	local i

	[ -n "$DK_PID" ] || return 0
	kill -TERM "$DK_PID" 2>/dev/null
	for i in $(seq 300); do
		kill -0 "$DK_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$DK_PID" 2>/dev/null && diag "dockerd SIGKILLed after 30 s"
	wait "$DK_PID" 2>/dev/null
	DK_PID=
}

dk_run() { # NAME [OPTS...]
	local name=$1

	shift
	dk run -d --name "$name" "$@" "$DK_IMAGE" sleep 3600
}

dk_key() {
	echo "/proc/$(dk inspect -f '{{.State.Pid}}' "$1")/ns/net"
}

dk_ip() { # NAME NET
	dk inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"
}

dk_pass() { # KEY DST PORT
	local t r

	for t in 1 2 3; do
		r=$(pm_probe "$1" "$2" "$3" "$t")
		[ "$r" = pass ] && break
	done
	echo "$r"
}
