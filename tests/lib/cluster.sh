# Several hosts for the cluster e2e tests (bash). Source it after
# tests/lib/tap.sh and tests/lib/netns.sh. Nothing here touches the
# initial network namespace: ns_init's "host" namespace is the underlay,
# whose bridge br0 (10.77.0.1/24, fd77::1/64) joins the host namespaces
# and etcd's; everything goes with ns_init's EXIT trap.
#
#   cl_init                   ns_init; skips when etcd or jq is missing
#   cl_etcd_start [ARGS...]   etcd in namespace "etcd" on the underlay,
#                             $CL_ETCD (http://10.77.0.100:2379), data in
#                             $NS_TMP/etcd (kept across a stop/start)
#   cl_etcd_stop              SIGTERM, wait
#   etcdctl_ ARGS...          etcdctl (v3 API) against it (with the
#                             arguments in CL_ETCDCTL_ARGS, e.g. TLS)
#   cl_tls_certs DIR          a CA, etcd's server certificate (for
#                             10.77.0.100) and a client certificate, made
#                             with openssl: DIR/{ca,server,client}.{pem,key}
#   cl_host H N               host namespace H (e.g. hA) on the underlay at
#                             10.77.0.1N / fd77::1N, bridge br1 with the
#                             container subnet 10.81.N.1/24, fd81:N::1/64,
#                             forwarding on; routes to the hosts added
#                             before it, and theirs to it
#   cl_add H NAME IDX         container NAME on host H: namespace, veth
#                             v-NAME on H's br1, 10.81.N.IDX, fd81:N::IDX
#   cl_start H POLICY [ARGS]  bulkheadd in H with --etcd $CL_ETCD
#                             --host-name H, its own socket, state dir,
#                             denied log ($NS_TMP/H/...); waits until it
#                             answers; CL_PID[H]
#   cl_stop H                 SIGTERM, wait; the daemon's exit status
#   cl_kill9 H                SIGKILL, wait
#   clctl H ARGS...           bulkheadctl against H's daemon
#   cl_attach H NAME LABEL... attach container NAME (id id-NAME) on H
#   cl_detach H NAME          detach it
#   cl_has H ID               status 0 when H's daemon has container ID
#   cl_wait H ID [SECS]       wait until it has (default 30 s); 1 if not
#   cl_wait_gone H ID [SECS]  wait until it has not
#   cl_log_diag H             H's daemon log as TAP diagnostics

declare -A CL_PID CL_N
CL_ETCD=http://10.77.0.100:2379
CL_ETCD_PID=
CL_HOSTS=()
CL_ETCDCTL_ARGS=()

cl_init() {
	command -v etcd >/dev/null ||
		skip_all "etcd missing (apt-get install etcd-server)"
	command -v etcdctl >/dev/null ||
		skip_all "etcdctl missing (apt-get install etcd-client)"
	command -v jq >/dev/null || skip_all "jq missing"
	[ -x "$BH_D" ] || skip_all "bulkheadd not built"
	ns_init
	ns_add etcd 10.77.0.100 fd77::100 || exit 2
}

cl_etcd_start() {
	mkdir -p "$NS_TMP/etcd"
	ns_bg etcd etcd --name bh-test --data-dir "$NS_TMP/etcd/data" \
		--listen-client-urls "$CL_ETCD" \
		--advertise-client-urls "$CL_ETCD" \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster bh-test=http://127.0.0.1:2380 "$@" \
		>>"$NS_TMP/etcd/log" 2>&1
	CL_ETCD_PID=$!
	local i

	for i in $(seq 300); do
		etcdctl_ endpoint health >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	diag "etcd did not come up:"
	tail -20 "$NS_TMP/etcd/log" | sed 's/^/#   /'
	return 1
}

cl_etcd_stop() {
	[ -n "$CL_ETCD_PID" ] || return 0
	kill -TERM "$CL_ETCD_PID" 2>/dev/null
	wait "$CL_ETCD_PID" 2>/dev/null
	CL_ETCD_PID=
}

etcdctl_() {
	ETCDCTL_API=3 nsx etcd etcdctl --endpoints "$CL_ETCD" \
		--command-timeout=5s "${CL_ETCDCTL_ARGS[@]}" "$@"
}

cl_tls_certs() {
	local d=$1

	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bh test CA" \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=etcd" \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || return 1
	printf 'subjectAltName=IP:10.77.0.100,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' \
		>"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/server.ext" \
		-out "$d/server.pem" 2>/dev/null || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=bulkheadd" \
		-keyout "$d/client.key" -out "$d/client.csr" 2>/dev/null || return 1
	printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
	openssl x509 -req -in "$d/client.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		-CAcreateserial -days 2 -extfile "$d/client.ext" \
		-out "$d/client.pem" 2>/dev/null || return 1
}

cl_host() {
	local h=$1 n=$2 o

	ns_add "$h" "10.77.0.1$n" "fd77::1$n" || return 1
	CL_N[$h]=$n
	nsx "$h" sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward;
		echo 1 > /proc/sys/net/ipv6/conf/all/forwarding' || return 1
	nsx "$h" ip link add br1 type bridge mcast_snooping 0 || return 1
	nsx "$h" ip addr add "10.81.$n.1/24" dev br1 || return 1
	nsx "$h" ip addr add "fd81:$n::1/64" dev br1 nodad || return 1
	nsx "$h" ip link set br1 up || return 1
	for o in "${CL_HOSTS[@]}"; do
		local m=${CL_N[$o]}

		nsx "$h" ip route add "10.81.$m.0/24" via "10.77.0.1$m" || return 1
		nsx "$h" ip -6 route add "fd81:$m::/64" via "fd77::1$m" || return 1
		nsx "$o" ip route add "10.81.$n.0/24" via "10.77.0.1$n" || return 1
		nsx "$o" ip -6 route add "fd81:$n::/64" via "fd77::1$n" || return 1
	done
	CL_HOSTS+=("$h")
	mkdir -p "$NS_TMP/$h/state"
}

cl_add() {
	local h=$1 name=$2 i=$3 n=${CL_N[$1]} hif="v-$2"

	[ ${#hif} -le 15 ] || { echo "cl_add: name '$name' too long" >&2; return 1; }
	_ns_new "$name" || return 1
	nsx "$h" ip link add "$hif" type veth peer name eth0 \
		netns "$(ns_path "$name")" || return 1
	nsx "$h" ip link set "$hif" master br1 up || return 1
	nsx "$name" ip addr add "10.81.$n.$i/24" dev eth0 || return 1
	nsx "$name" ip addr add "fd81:$n::$i/64" dev eth0 nodad || return 1
	nsx "$name" ip link set eth0 up || return 1
	nsx "$name" ip route add default via "10.81.$n.1" || return 1
	nsx "$name" ip -6 route add default via "fd81:$n::1" || return 1
	NS_ADDR4[$name]=10.81.$n.$i
	NS_ADDR6[$name]=fd81:$n::$i
}

# Two hosts, web on A (aweb) and api on B (bapi, serving tcp/8080), and
# $NS_TMP/policy.yaml that lets web reach api there: the world of the
# cluster's fault and TLS tests. Call after cl_etcd_start.
cl_web_api() {
	cl_host hA 1 && cl_host hB 2 && cl_add hA aweb 2 && cl_add hB bapi 2 ||
		return 1
	cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF2
	serve_tcp bapi 8080
}

clctl() {
	local h=$1

	shift
	"$BH_CTL" --socket "$NS_TMP/$h/sock" "$@"
}

cl_start() {
	local h=$1 policy=$2 i

	shift 2
	nsenter --net="$(ns_path "$h")" -- "$BH_D" --policy "$policy" \
		--socket "$NS_TMP/$h/sock" --state-dir "$NS_TMP/$h/state" \
		--denied-log "$NS_TMP/$h/denied.jsonl" --foreground \
		--etcd "$CL_ETCD" --host-name "$h" "$@" \
		>>"$NS_TMP/$h/log" 2>&1 &
	CL_PID[$h]=$!
	NS_BG_PIDS+=($!)
	for i in $(seq 300); do
		kill -0 "${CL_PID[$h]}" 2>/dev/null || break
		clctl "$h" status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	diag "bulkheadd on $h did not come up:"
	cl_log_diag "$h"
	return 1
}

cl_stop() {
	local h=$1 pid=${CL_PID[$1]} i

	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null &&
		diag "bulkheadd on $h still ran 30 s after SIGTERM: SIGKILLed"
	wait "$pid"
	local rc=$?

	CL_PID[$h]=
	return $rc
}

cl_kill9() {
	local pid=${CL_PID[$1]}

	[ -n "$pid" ] || return 0
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	CL_PID[$1]=
}

cl_attach() {
	local h=$1 name=$2 l args=()

	shift 2
	for l in "$@"; do
		args+=(--label "$l")
	done
	clctl "$h" attach --id "id-$name" --name "$name" "${args[@]}" \
		--ip "${NS_ADDR4[$name]}" --ip "${NS_ADDR6[$name]}" \
		--ifname "v-$name"
}

cl_detach() {
	clctl "$1" detach --id "id-$2"
}

cl_has() {
	clctl "$1" status --json 2>/dev/null |
		jq -en --arg id "$2" 'input | (.containers | any(.id == $id))' >/dev/null
}

cl_wait() {
	local i

	for i in $(seq $((${3:-30} * 10))); do
		cl_has "$1" "$2" && return 0
		sleep 0.1
	done
	return 1
}

cl_wait_gone() {
	local i

	for i in $(seq $((${3:-30} * 10))); do
		cl_has "$1" "$2" || return 0
		sleep 0.1
	done
	return 1
}

cl_log_diag() {
	[ -f "$NS_TMP/$1/log" ] && sed "s/^/#   $1: /" "$NS_TMP/$1/log" | tail -40
}
