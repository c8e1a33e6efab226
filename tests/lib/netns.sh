# Network-namespace fixtures for bulkhead's e2e tests (bash). Source it
# after tests/lib/tap.sh. Nothing here touches the initial network
# namespace: every link, address, sysctl and daemon lives in namespaces
# named "$NS_PREFIX-*", and ns_init installs an EXIT trap that removes
# them, their processes and the temp dir, also when a test fails.
#
# Set up
#   ns_init [BR4 [BR6]]       unique NS_PREFIX (bh<pid>x<random>), temp dir
#                             NS_TMP, the "host" namespace with bridge br0
#                             (default 10.77.0.1/24 and fd77::1/64), IPv4 and
#                             IPv6 forwarding on, IPv6 DAD off. Skips the
#                             whole test (skip_all) when not root.
#   ns_add NAME ADDR4 ADDR6   a "container": namespace $NS_PREFIX-NAME, veth
#                             pair (host side "v-NAME" enslaved to br0,
#                             container side eth0), ADDR4/24 and ADDR6/64,
#                             default routes via the bridge. NAME <= 12
#                             chars. ADDR6 may be "" (IPv4 only).
#   ns_add_web_api_db         the usual three: web 10.77.0.11 fd77::11,
#                             api .21 ::21, db .31 ::31
#   policy_web_api_db FILE    writes a policy with groups web, api, db
#                             (labels purpose=web|api|database), a 1 s log
#                             window and "flows:" last: append the flows
#   ns_name NAME              prints the namespace's full name ("host" too)
#   ns_path NAME              prints /run/netns/<full name>
#   ns_ifname NAME            prints the host-side interface (v-NAME)
#
# Running things
#   nsx NAME CMD...           run CMD inside NAME's namespace (nsenter;
#                             NAME "host" is the host namespace)
#   ns_bg NAME CMD...         same, in the background; the pid is appended
#                             to NS_BG_PIDS and killed at cleanup; $! works
#   serve_tcp NAME PORT       TCP listener on PORT (IPv4 and IPv6) that
#                             answers every connection with the line NAME
#   serve_udp NAME PORT       the same for UDP datagrams
#   probe_tcp FROM DST PORT   connect from FROM to DST:PORT; prints the
#                             peer's answer; status 0 when one came back
#   probe_udp FROM DST PORT   one datagram, status 0 when answered
#   probe_ping FROM DST       one ICMP / ICMPv6 echo, status 0 when answered
#   probe PROTO FROM DST [PORT]  PROTO tcp|udp|icmp; prints "pass"/"drop"
#   probe_want WANT PROTO FROM DST [PORT]  probe, but when WANT is "pass"
#                             and the probe dropped, try twice more with a
#                             longer timeout (a loaded machine is slow, a
#                             drop stays a drop); prints "pass"/"drop"
#   probe_deny CTRL PROTO FROM DST [PORT]  a denied-flow check that can
#                             fail: first the same probe from CTRL (an
#                             allowed peer, or DST's own namespace for the
#                             unfiltered path) must pass, else it prints
#                             "no-listener"; then FROM's probe must fail
#                             AND FROM's interfaces must have sent packets
#                             meanwhile, else "not-sent". Prints "drop"
#                             only when all of that holds, "pass" when the
#                             probe got through.
#   ns_tx_packets NAME        packets sent by NAME's interfaces (not lo)
#   PROBE_TIMEOUT             seconds a probe waits (default 0.8)
#   udp_count_start NAME PORT   counting receiver (daemon_udpstream recv)
#                             in NAME; sets UDPC_PID, result file UDPC_OUT
#   udp_count_stop PID OUT    stop it; prints "received N distinct D max M"
#   udp_stream FROM DST PORT COUNT INTERVAL_US  counted datagrams, each
#                             from a fresh source port (new conntrack
#                             entry), in the foreground
#
# The daemon
#   bhd_start POLICY [ARGS...]  bulkheadd in the host namespace with socket
#                             $BHD_SOCK, state dir $BHD_STATE, denied log
#                             $BHD_DENIED, flow log $BHD_FLOWS (a later
#                             --flow-log in ARGS wins), its stderr in
#                             $BHD_LOG; waits
#                             until it answers (bhd_wait_ready); BHD_PID.
#                             Returns non-zero (and diag's the log) when it
#                             did not come up.
#   bhd_spawn POLICY [ARGS...]  the same without waiting
#   bhd_wait_ready [SECS]     poll `bulkheadctl status` (default 10 s)
#   bhd_stop                  SIGTERM, wait (30 s, then SIGKILL); returns
#                             the daemon's exit status, which under ASan is
#                             non-zero on a leak report (tap.sh's
#                             ASAN_OPTIONS): end every file with
#                             `bhd_stop; ok $? ... || bhd_log_diag`
#   bhd_kill9                 SIGKILL, wait
#   bhctl ARGS...             bulkheadctl --socket $BHD_SOCK ARGS...
#   bhd_attach NAME [KEY=VALUE...]  attach container NAME (id "id-NAME",
#                             its addresses, its host ifname) with labels
#   bhd_state_ids             the container ids in the daemon's durable
#                             state (snapshot + journal replayed), sorted
#   bhd_counter NAME          the daemon's own counter NAME (`bulkheadctl
#                             status --json`, .counters.NAME)
#   bhd_wait_counter NAME N   wait until it is at least N (bounded: 30 s);
#                             status 1 when it never got there
#   nft_host ARGS...          the nft binary inside the host namespace
#                             (read-only inspection in tests)
#   kernel_matches_model [-q] [RULESET]  the kernel, not the daemon's
#                             memory: loads RULESET (default: the daemon's
#                             printed model, `bhctl ruleset`) with nft -f
#                             into a scratch namespace and diffs its tables
#                             inet and bridge bulkhead with the host
#                             namespace's, as nft lists them. Packet-path
#                             state is left out: counter values and the
#                             elements of dynamic sets (the log rate
#                             limiter's). Status 0 when they are the same;
#                             else diag's the diff (not with -q).
#   bhd_log_diag              print the daemon's log as TAP diagnostics

if [ "${BASH_VERSINFO[0]:-0}" -lt 4 ]; then
	echo "netns.sh needs bash 4" >&2
	exit 2
fi

NS_PREFIX=
NS_TMP=
NS_BG_PIDS=()
NS_NAMES=()
declare -A NS_ADDR4 NS_ADDR6
PROBE_TIMEOUT=${PROBE_TIMEOUT:-0.8}
BH_UDPSTREAM=$BH_BUILD/tests/tools/daemon_udpstream
BHD_PID=

ns_name() {
	echo "$NS_PREFIX-$1"
}

ns_path() {
	echo "/run/netns/$NS_PREFIX-$1"
}

ns_ifname() {
	echo "v-$1"
}

nsx() {
	local n=$1
	shift
	nsenter --net="/run/netns/$NS_PREFIX-$n" -- "$@"
}

ns_bg() {
	local n=$1
	shift
	nsenter --net="/run/netns/$NS_PREFIX-$n" -- "$@" &
	NS_BG_PIDS+=($!)
}

# Every process still running inside one of our namespaces, then the
# namespaces, then the temp dir. Runs from the EXIT trap.
ns_cleanup() {
	local rc=$? p n pids

	trap - EXIT INT TERM
	# bash reports every killed background job; the test is over.
	exec 2>/dev/null
	for p in "${NS_BG_PIDS[@]}" $BHD_PID; do
		kill -KILL "$p" 2>/dev/null
	done
	for n in "${NS_NAMES[@]}"; do
		[ -e "/run/netns/$n" ] || continue
		pids=$(ip netns pids "$n" 2>/dev/null)
		[ -n "$pids" ] && kill -KILL $pids 2>/dev/null
	done
	for p in "${NS_BG_PIDS[@]}" $BHD_PID; do
		{ wait "$p"; } 2>/dev/null
	done
	for n in "${NS_NAMES[@]}"; do
		ip netns del "$n" 2>/dev/null
	done
	if [ -n "$NS_TMP" ] && [ -d "$NS_TMP" ]; then
		if [ -n "${BH_KEEP_TMP:-}" ]; then
			echo "# kept $NS_TMP" >&2
		else
			rm -rf "$NS_TMP"
		fi
	fi
	exit $rc
}

_ns_new() {
	local full=$NS_PREFIX-$1

	ip netns add "$full" || return 1
	NS_NAMES+=("$full")
	nsx "$1" ip link set lo up
	# Addresses must be usable at once: no duplicate address detection.
	nsx "$1" sh -c 'echo 0 > /proc/sys/net/ipv6/conf/all/accept_dad;
		echo 0 > /proc/sys/net/ipv6/conf/default/accept_dad;
		echo 0 > /proc/sys/net/ipv6/conf/lo/accept_dad' || return 1
}

ns_init() {
	local br4=${1:-10.77.0.1/24} br6=${2:-fd77::1/64}

	[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces)"
	command -v nsenter >/dev/null || skip_all "nsenter missing"
	NS_PREFIX=bh$$x$RANDOM
	NS_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-e2e.XXXXXX") || exit 2
	trap ns_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	BHD_SOCK=$NS_TMP/run/bulkhead.sock
	BHD_STATE=$NS_TMP/state
	BHD_DENIED=$NS_TMP/denied.jsonl
	BHD_FLOWS=$NS_TMP/flows.jsonl
	BHD_LOG=$NS_TMP/bulkheadd.log
	NS_BR4=${br4%/*}
	NS_BR6=${br6%/*}
	_ns_new host || { echo "Bail out! cannot create namespaces"; exit 2; }
	nsx host sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward;
		echo 1 > /proc/sys/net/ipv6/conf/all/forwarding' || exit 2
	nsx host ip link add br0 type bridge mcast_snooping 0 || exit 2
	nsx host ip addr add "$br4" dev br0 || exit 2
	[ -n "$br6" ] && { nsx host ip addr add "$br6" dev br0 nodad || exit 2; }
	nsx host ip link set br0 up || exit 2
}

ns_add() {
	local name=$1 a4=$2 a6=$3 hif="v-$1"

	if [ ${#hif} -gt 15 ]; then
		echo "ns_add: name '$name' too long" >&2
		return 1
	fi
	_ns_new "$name" || return 1
	nsx host ip link add "$hif" type veth peer name eth0 \
		netns "$(ns_path "$name")" || return 1
	nsx host ip link set "$hif" master br0 up || return 1
	nsx "$name" ip addr add "$a4/24" dev eth0 || return 1
	[ -n "$a6" ] && { nsx "$name" ip addr add "$a6/64" dev eth0 nodad ||
		return 1; }
	nsx "$name" ip link set eth0 up || return 1
	nsx "$name" ip route add default via "$NS_BR4" || return 1
	[ -n "$a6" ] && { nsx "$name" ip -6 route add default via "$NS_BR6" ||
		return 1; }
	NS_ADDR4[$name]=$a4
	NS_ADDR6[$name]=$a6
}

ns_add_web_api_db() {
	ns_add web 10.77.0.11 fd77::11 &&
		ns_add api 10.77.0.21 fd77::21 &&
		ns_add db 10.77.0.31 fd77::31
}

policy_web_api_db() {
	cat >"$1" <<'EOF'
version: 1
settings: { log: { window: 1s } }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database } }
flows:
EOF
}

# Waits (bounded: SECS, 10 by default) until a socket in the network
# namespace at path $1 listens on $2 (tcp|udp) port $3: a probe sent
# before the server has bound would be refused and read as a drop, on a
# loaded machine.
wait_listen() { # NETNS-PATH PROTO PORT [SECS]
	local i opt=-t secs=${4:-10}

	[ "$2" = udp ] && opt=-u
	for i in $(seq $((secs * 20))); do
		nsenter --net="$1" -- ss -Hln "$opt" "sport = :$3" \
			2>/dev/null | grep -q . && return 0
		sleep 0.05
	done
	echo "# nothing listens on $2/$3 in $1 after $secs s" >&2
	return 1
}

serve_tcp() {
	ns_bg "$1" socat -T5 "TCP6-LISTEN:$2,ipv6only=0,reuseaddr,fork" \
		"EXEC:echo $1" 2>/dev/null
	wait_listen "$(ns_path "$1")" tcp "$2"
}

serve_udp() {
	# one process answering every datagram: socat's forking UDP server
	# can hand a datagram to the child still lingering from the last one
	if [ -x "$BH_UDPSTREAM" ]; then
		ns_bg "$1" "$BH_UDPSTREAM" echo "$2" "$1"
	else
		ns_bg "$1" socat -T0.2 \
			"UDP6-RECVFROM:$2,ipv6only=0,reuseaddr,fork" \
			"EXEC:echo $1" 2>/dev/null
	fi
	wait_listen "$(ns_path "$1")" udp "$2"
}

_sockaddr() { # ADDR PORT -> socat address part
	case "$1" in
	*:*) echo "[$1]:$2" ;;
	*) echo "$1:$2" ;;
	esac
}

probe_tcp() {
	timeout 5 nsenter --net="$(ns_path "$1")" -- socat -T"$PROBE_TIMEOUT" \
		STDIO "TCP:$(_sockaddr "$2" "$3"),connect-timeout=$PROBE_TIMEOUT" \
		</dev/null 2>/dev/null | grep .
}

probe_udp() {
	echo probe | timeout 5 nsenter --net="$(ns_path "$1")" -- \
		socat -T"$PROBE_TIMEOUT" STDIO "UDP:$(_sockaddr "$2" "$3")" \
		2>/dev/null | grep .
}

probe_ping() {
	local w=${PROBE_TIMEOUT%.*}

	[ "${w:-0}" -ge 1 ] 2>/dev/null || w=1
	nsx "$1" ping -n -q -c 1 -W "$w" "$2" >/dev/null 2>&1
}

probe() { # PROTO FROM DST [PORT]
	local r

	case "$1" in
	tcp) probe_tcp "$2" "$3" "$4" >/dev/null ;;
	udp) probe_udp "$2" "$3" "$4" >/dev/null ;;
	icmp) probe_ping "$2" "$3" ;;
	*) echo "probe: unknown protocol $1" >&2; return 2 ;;
	esac
	r=$?
	[ $r -eq 0 ] && echo pass || echo drop
}

udp_count_start() {
	UDPC_OUT=$NS_TMP/udpc-$1-$2.$RANDOM
	ns_bg "$1" "$BH_UDPSTREAM" recv "$2" "$UDPC_OUT"
	UDPC_PID=$!
}

udp_count_stop() {
	local i

	kill -TERM "$1" 2>/dev/null
	for i in $(seq 50); do
		[ -s "$2" ] && break
		sleep 0.1
	done
	cat "$2" 2>/dev/null || echo "received ? (no result)"
}

udp_stream() {
	nsx "$1" "$BH_UDPSTREAM" send "$2" "$3" "$4" "$5"
}

probe_want() {
	local want=$1 r i

	shift
	r=$(probe "$@")
	if [ "$want" = pass ] && [ "$r" = drop ]; then
		for i in 1 2; do
			r=$(PROBE_TIMEOUT=2 probe "$@")
			[ "$r" = pass ] && break
		done
	fi
	echo "$r"
}

ns_tx_packets() {
	# /proc/net/dev is the reading process's namespace: field 10 after
	# the colon is transmitted packets
	nsx "$1" cat /proc/net/dev | awk -F: 'NR > 2 {
		gsub(/ /, "", $1); if ($1 == "lo") next
		split($2, f, " "); n += f[10] } END { print n + 0 }'
}

probe_deny() {
	local ctrl=$1 from=$3 before after r

	shift
	if [ "$(probe_want pass "$1" "$ctrl" "${@:3}")" != pass ]; then
		echo no-listener
		return
	fi
	before=$(ns_tx_packets "$from")
	r=$(probe "$@")
	after=$(ns_tx_packets "$from")
	if [ "$r" = drop ] && [ "$after" -le "$before" ]; then
		r=not-sent
	fi
	echo "$r"
}

bhctl() {
	"$BH_CTL" --socket "$BHD_SOCK" "$@"
}

bhd_spawn() {
	local policy=$1

	shift
	mkdir -p "$BHD_STATE"
	nsenter --net="$(ns_path host)" -- "$BH_D" --policy "$policy" \
		--socket "$BHD_SOCK" --state-dir "$BHD_STATE" \
		--denied-log "$BHD_DENIED" --flow-log "$BHD_FLOWS" \
		--foreground "$@" \
		>>"$BHD_LOG" 2>&1 &
	BHD_PID=$!
}

bhd_wait_ready() {
	local secs=${1:-10} end

	end=$((SECONDS + secs))
	while [ $SECONDS -lt $end ]; do
		if ! kill -0 "$BHD_PID" 2>/dev/null; then
			return 1
		fi
		bhctl status >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	return 1
}

bhd_start() {
	bhd_spawn "$@"
	if ! bhd_wait_ready 15; then
		diag "bulkheadd did not come up:"
		bhd_log_diag
		return 1
	fi
}

bhd_stop() {
	local i rc

	[ -n "$BHD_PID" ] || return 0
	kill -TERM "$BHD_PID" 2>/dev/null
	# generous: under ASan the exit runs LeakSanitizer on a busy machine
	for i in $(seq 600); do
		kill -0 "$BHD_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -KILL "$BHD_PID" 2>/dev/null &&
		diag "bulkheadd still ran 30 s after SIGTERM: SIGKILLed"
	wait "$BHD_PID"
	rc=$?
	BHD_PID=
	return $rc
}

bhd_kill9() {
	[ -n "$BHD_PID" ] || return 0
	kill -KILL "$BHD_PID" 2>/dev/null
	wait "$BHD_PID" 2>/dev/null
	BHD_PID=
}

bhd_attach() {
	local name=$1 l args=()

	shift
	for l in "$@"; do
		args+=(--label "$l")
	done
	args+=(--ip "${NS_ADDR4[$name]}")
	[ -n "${NS_ADDR6[$name]}" ] && args+=(--ip "${NS_ADDR6[$name]}")
	bhctl attach --id "id-$name" --name "$name" "${args[@]}" \
		--ifname "v-$name"
}

bhd_state_ids() {
	{
		jq -c '.[] | {op: "attach", id}' "$BHD_STATE/inventory.json" \
			2>/dev/null
		jq -c '{op, id: (.id // .c[0].id)}' \
			"$BHD_STATE/inventory.journal" 2>/dev/null
	} | jq -rs 'reduce .[] as $e ({}; if $e.op == "attach"
		then .[$e.id] = true else del(.[$e.id]) end) | keys[]'
}

bhd_counter() {
	bhctl status --json | jq -r ".counters.$1"
}

bhd_wait_counter() {
	local i

	for i in $(seq 300); do
		[ "$(bhd_counter "$1")" -ge "$2" ] 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

nft_host() {
	nsx host nft "$@"
}

# NS: our two tables as nft lists them, without packet-path state
_nft_ours() {
	local t

	for t in "inet bulkhead" "bridge bulkhead"; do
		nsx "$1" nft list table $t 2>/dev/null || echo "(no table $t)"
	done | sed -E 's/packets [0-9]+ bytes [0-9]+/packets N bytes N/' |
		awk '/^\tset / { dyn = 0 }
		/^\t\tflags .*dynamic/ { dyn = 1 }
		dyn && /^\t\telements = \{/ { skip = 1 }
		skip { if (/\}$/) skip = 0; next }
		{ print }'
}

kernel_matches_model() {
	local quiet= model=$NS_TMP/km.model

	[ "${1:-}" = -q ] && { quiet=1; shift; }
	if [ -n "${1:-}" ]; then
		cp "$1" "$model" || return 1
	elif ! bhctl ruleset >"$model"; then
		[ -n "$quiet" ] || diag "kernel_matches_model: no model"
		return 1
	fi
	# one scratch namespace for every call: a test may poll this
	if [ ! -e "$(ns_path model)" ]; then
		_ns_new model || return 1
	fi
	nsx model nft flush ruleset
	if ! nsx model nft -f "$model" 2>"$NS_TMP/km.err"; then
		[ -n "$quiet" ] ||
			sed 's/^/#   nft -f: /' "$NS_TMP/km.err" | head -20
		return 1
	fi
	_nft_ours model >"$NS_TMP/km.want"
	_nft_ours host >"$NS_TMP/km.got"
	diff -u "$NS_TMP/km.want" "$NS_TMP/km.got" >"$NS_TMP/km.diff" &&
		return 0
	if [ -z "$quiet" ]; then
		diag "the kernel's tables (+) differ from the model's (-):"
		tail -n +3 "$NS_TMP/km.diff" | sed 's/^/#   /' | head -40
	fi
	return 1
}

bhd_log_diag() {
	[ -f "$BHD_LOG" ] && sed 's/^/#   /' "$BHD_LOG" | tail -40
}
