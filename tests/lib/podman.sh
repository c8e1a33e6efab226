# Podman fixtures for the SOURCES e2e tests (bash). Source after
# tests/lib/tap.sh and tests/lib/netns.sh, after ns_init. Everything Podman
# keeps (storage, run state, networks, its events log) lives under $NS_TMP,
# and every podman command runs in the test's host namespace, as
# ../shared/RUNTIMES.md says (nsenter, runc, cgroupfs, a busybox rootfs).
#
#   pm_init                 config, rootfs $PM_ROOTFS; installs the cleanup
#   pm ARGS...              podman in the host namespace with that state
#   pm_net VAR SUBNET       creates a network with a name unique to this run
#                           (rootful Podman keeps one IPAM database for all
#                           in /run/containers/networks), name in $VAR
#   pm_ip CONTAINER NET     its IPv4 address on NET
#   pm_run NAME NET [LABEL...]  podman run -d a busybox `sleep` container
#   pm_service_start        podman system service on $PM_SOCK (PM_SVC_PID)
#   pm_service_stop         SIGTERM it, wait (bounded)
#   wait_line FILE FROM JQ [SECS]  waits until a line after line FROM of
#                           FILE matches the jq filter; prints it
#
# Flows between containers (KEY: a sandbox path, pm_key's answer)
#   pm_key CONTAINER        its network namespace (NetworkSettings.SandboxKey)
#   pm_serve KEY PORT       TCP listener answering "hi"; returns once it
#                           listens (bounded)
#   pm_probe KEY DST PORT   connect from KEY's namespace; prints pass/drop
#   pm_probe_deny CTRL FROM DST PORT  probe_deny (netns.sh) for podman
#                           containers: CTRL's probe (an allowed peer's
#                           key, or DST's own for the unfiltered path) must
#                           pass, else "no-listener"; then FROM's must fail
#                           while FROM sent packets, else "not-sent";
#                           prints "drop" only then, "pass" if it got in

PM_DIR=
PM_SOCK=
PM_ROOTFS=
PM_SVC_PID=
PM_NETS=()

pm() {
	nsenter --net="$(ns_path host)" -- env CONTAINERS_CONF="$PM_DIR/containers.conf" \
		podman --root "$PM_DIR/root" --runroot "$PM_DIR/runroot" \
		--tmpdir "$PM_DIR/tmp" --storage-driver vfs \
		--events-backend file "$@" 2> >(grep -v 'connect to syslog' >&2)
}

pm_cleanup() {
	local rc=$? m

	trap - EXIT
	exec 2>/dev/null
	if [ -n "$PM_DIR" ]; then
		pm rm -af -t 0 >/dev/null
		for m in "${PM_NETS[@]}"; do
			pm network rm -f "$m" >/dev/null
		done
		[ -n "$PM_SVC_PID" ] && kill -KILL "$PM_SVC_PID"
		# whatever podman left mounted under our temp dir
		awk -v d="$PM_DIR" 'index($2, d) == 1 { print $2 }' /proc/mounts |
			sort -r | while read -r m; do umount -l "$m"; done
	fi
	(exit $rc)
	ns_cleanup
}

pm_init() {
	command -v podman >/dev/null || skip_all "podman not installed"
	command -v runc >/dev/null || skip_all "runc not installed"
	[ -x /bin/busybox ] || skip_all "busybox-static not installed"
	command -v jq >/dev/null || skip_all "jq not installed"
	PM_DIR=$NS_TMP/podman
	PM_SOCK=$PM_DIR/api.sock
	PM_ROOTFS=$PM_DIR/rootfs
	mkdir -p "$PM_DIR/net" "$PM_ROOTFS"/{bin,etc,proc,sys,dev,tmp}
	cat >"$PM_DIR/containers.conf" <<-EOF
	[containers]
	default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
	[engine]
	runtime = "runc"
	cgroup_manager = "cgroupfs"
	events_logger = "file"
	events_logfile_path = "$PM_DIR/events.log"
	[network]
	network_config_dir = "$PM_DIR/net"
	EOF
	cp /bin/busybox "$PM_ROOTFS/bin/"
	chroot "$PM_ROOTFS" /bin/busybox --install -s /bin || return 1
	trap pm_cleanup EXIT
}

pm_net() { # VAR SUBNET
	local name=$NS_PREFIX-$((${#PM_NETS[@]} + 1))

	pm network create --disable-dns --subnet "$2" "$name" >/dev/null ||
		return 1
	PM_NETS+=("$name")
	printf -v "$1" %s "$name"
}

pm_ip() { # CONTAINER NET: its IPv4 address on NET
	pm inspect -f "{{(index .NetworkSettings.Networks \"$2\").IPAddress}}" "$1"
}

pm_run() { # NAME NET [LABEL...]
	local name=$1 net=$2 l args=()

	shift 2
	for l in "$@"; do
		args+=(--label "$l")
	done
	pm run -d --name "$name" --network "$net" "${args[@]}" \
		--rootfs "$PM_ROOTFS" /bin/sleep 3600
}

pm_service_start() {
	local i

	rm -f "$PM_SOCK"
	nsenter --net="$(ns_path host)" -- env CONTAINERS_CONF="$PM_DIR/containers.conf" \
		podman --root "$PM_DIR/root" --runroot "$PM_DIR/runroot" \
		--tmpdir "$PM_DIR/tmp" --storage-driver vfs \
		--events-backend file system service --time=0 \
		"unix://$PM_SOCK" >>"$PM_DIR/service.log" 2>&1 &
	PM_SVC_PID=$!
	for i in $(seq 100); do
		curl -sf --unix-socket "$PM_SOCK" http://d/_ping >/dev/null 2>&1 &&
			return 0
		sleep 0.1
	done
	return 1
}

pm_service_stop() {
	local i

	[ -n "$PM_SVC_PID" ] || return 0
	kill -TERM "$PM_SVC_PID" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$PM_SVC_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$PM_SVC_PID" 2>/dev/null
	wait "$PM_SVC_PID" 2>/dev/null
	PM_SVC_PID=
}

wait_line() { # FILE FROM JQ [SECS]
	local file=$1 from=$2 filter=$3 secs=${4:-10} end r

	end=$((SECONDS + secs))
	while :; do
		r=$(tail -n +"$((from + 1))" "$file" 2>/dev/null |
			jq -c "$filter" 2>/dev/null | head -1)
		[ -n "$r" ] && { echo "$r"; return 0; }
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

lines() { # FILE: its line count
	wc -l <"$1" 2>/dev/null || echo 0
}

pm_key() { # CONTAINER: its network namespace path
	pm inspect -f '{{.NetworkSettings.SandboxKey}}' "$1"
}

pm_serve() { # KEY PORT
	nsenter --net="$1" -- socat -T5 TCP-LISTEN:"$2",reuseaddr,fork \
		"SYSTEM:echo hi" 2>/dev/null &
	NS_BG_PIDS+=($!)
	wait_listen "$1" tcp "$2" 5
}

pm_probe() { # KEY DST PORT [SECS]
	local t=${4:-1}

	if timeout 10 nsenter --net="$1" -- socat -T"$t" STDIO \
		"TCP:$2:$3,connect-timeout=$t" </dev/null 2>/dev/null |
		grep -q .; then
		echo pass
	else
		echo drop
	fi
}

pm_tx_packets() { # KEY: packets sent by its interfaces (not lo)
	nsenter --net="$1" -- cat /proc/net/dev | awk -F: 'NR > 2 {
		gsub(/ /, "", $1); if ($1 == "lo") next
		split($2, f, " "); n += f[10] } END { print n + 0 }'
}

pm_probe_deny() { # CTRL FROM DST PORT
	local i r before after

	# a loaded machine is slow: the control gets three tries
	for i in 1 2 3; do
		r=$(pm_probe "$1" "$3" "$4" "$i")
		[ "$r" = pass ] && break
	done
	if [ "$r" != pass ]; then
		echo no-listener
		return
	fi
	before=$(pm_tx_packets "$2")
	r=$(pm_probe "$2" "$3" "$4")
	after=$(pm_tx_packets "$2")
	if [ "$r" = drop ] && [ "$after" -le "$before" ]; then
		r=not-sent
	fi
	echo "$r"
}
