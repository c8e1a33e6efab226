#!/bin/bash
# The allowed-flow observer's own work per connection, in instructions
# (callgrind), which the load of other users of the machine does not
# move: each OBSERVER (a dp_observe binary, e.g. this build's and one of
# an earlier commit) follows CONNS TCP connections in a network namespace
# of its own, under `valgrind --tool=callgrind`; what it executes inside
# its event loop (ev_run, inclusive: reading the events, parsing,
# attribution, aggregation, records) divided by the connections it
# counted. Rounds alternate the observers; medians. User-space
# instructions only: the system calls' kernel side and the wakeups are
# not in it (the data-plane benchmark's ctobs/ctobs0 time those).
#
#   tests/bench/observe_cost.sh [--rounds N] [--conns N] [--keep DIR] OBSERVER...
#   (root, after `make tests`; about a minute per observer and round)
#   --keep DIR keeps each run's callgrind file there (callgrind.R.K.out,
#   round R, observer K), for callgrind_annotate.
#
# Set-up: lo holds 10.200.0.1 (a container of group g000 in the data-plane
# benchmark's 1,000-group policy and 10,000-container inventory, written
# by run.sh --gen) and 10.201.0.1 (group srv); an nft rule turns
# conntrack on; the client connects from the first to the second, port
# 5000, 1 byte each way, close; `conntrack -F` then ends what is left, so
# every connection sends its NEW and DESTROY inside the measurement.
# docs/benchmarks.md, "Allowed-flow observations".
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
rounds=3 conns=2000 keep=""
while [ $# -gt 0 ]; do
	case "$1" in
	--rounds) rounds=$2; shift 2 ;;
	--conns) conns=$2; shift 2 ;;
	--keep) keep=$2; mkdir -p "$keep"; shift 2 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	-*) echo "observe_cost.sh: unknown option '$1'" >&2; exit 2 ;;
	*) break ;;
	esac
done
[ $# -ge 1 ] || { echo "usage: observe_cost.sh [--rounds N] [--conns N] OBSERVER..." >&2; exit 2; }
for v in "$rounds" "$conns"; do
	case "$v" in ''|*[!0-9]*) echo "observe_cost.sh: '$v' is not a number" >&2; exit 2 ;; esac
done
for o in "$@"; do
	[ -x "$o" ] || { echo "observe_cost.sh: $o is not a program" >&2; exit 2; }
done
[ "$(id -u)" -eq 0 ] || { echo "observe_cost.sh: needs root (a namespace)" >&2; exit 2; }
for t in valgrind callgrind_annotate conntrack nft python3; do
	command -v "$t" >/dev/null || { echo "observe_cost.sh: '$t' not found" >&2; exit 2; }
done

ns=bhoc$$x$RANDOM
work=$(mktemp -d "/tmp/$ns.XXXXXX")
obs_pid=""
cleanup() {
	[ -z "$obs_pid" ] || kill "$obs_pid" 2>/dev/null || true
	ip netns del "$ns" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
bash "$here/dataplane/run.sh" --gen "$work" >/dev/null
ip netns add "$ns"
nx() { ip netns exec "$ns" "$@"; }
nx ip link set lo up
nx ip addr add 10.200.0.1/32 dev lo
nx ip addr add 10.201.0.1/32 dev lo
for t in close close_wait fin_wait last_ack time_wait; do
	nx sysctl -qw "net.netfilter.nf_conntrack_tcp_timeout_$t=1"
done
nx nft -f - <<'EOF'
table inet oc {
	chain out { type filter hook output priority 0; ct state new counter; }
}
EOF

# CONNS connections from 10.200.0.1 to 10.201.0.1:5000
cat >"$work/load.py" <<'EOF'
import socket, sys
n = int(sys.argv[1])
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("10.201.0.1", 5000))
srv.listen(64)
for i in range(n):
    c = socket.socket()
    c.bind(("10.200.0.1", 0))
    c.connect(("10.201.0.1", 5000))
    a, _ = srv.accept()
    c.send(b"x"); a.recv(1); a.send(b"y"); c.recv(1)
    c.close(); a.close()
EOF

# run_one OBSERVER TAG: prints "connections instructions enobufs"
run_one() {
	local obs=$1 i cg="$work/cg.out"
	local pre=(valgrind --tool=callgrind --callgrind-out-file="$cg")
	rm -f "$cg" "$work/o.out"
	nx conntrack -F >/dev/null 2>&1 || true
	# not through nx: a backgrounded function is a subshell, and $! must
	# be the observer itself (ip netns exec and valgrind exec it)
	ip netns exec "$ns" "${pre[@]}" "$obs" "$work/p1000.yaml" "$work/inv1000.json" \
		"$work/flows.jsonl" >"$work/o.out" 2>"$work/o.err" &
	obs_pid=$!
	for i in $(seq 1200); do
		grep -q ready "$work/o.out" 2>/dev/null && break
		sleep 0.1
	done
	grep -q ready "$work/o.out" || { cat "$work/o.err" >&2; return 1; }
	nx python3 "$work/load.py" "$conns"
	sleep 1
	nx conntrack -F >/dev/null 2>&1 || true
	sleep 5
	kill "$obs_pid"
	wait "$obs_pid" || true
	obs_pid=""
	local st conn ir
	st=$(tail -n 1 "$work/o.out")
	conn=$(echo "$st" | sed -n 's/.*"connections": *\([0-9]*\).*/\1/p')
	ir=$(callgrind_annotate --inclusive=yes "$cg" 2>/dev/null |
		awk '/:ev_run / && !n++ { gsub(",", "", $1); print $1 }' || true)
	[ -z "$keep" ] || cp "$cg" "$keep/callgrind.$2.out"
	echo "${conn:-0} ${ir:-0} $(echo "$st" | sed -n 's/.*"enobufs": *\([0-9]*\).*/\1/p')"
}

res="$work/res"
: >"$res"
for r in $(seq "$rounds"); do
	# alternate the order
	if [ $((r % 2)) = 1 ]; then order=("$@"); else
		order=(); for ((i = $#; i >= 1; i--)); do order+=("${!i}"); done
	fi
	for o in "${order[@]}"; do
		k=1; for ((i = 1; i <= $#; i++)); do [ "${!i}" = "$o" ] && k=$i; done
		read -r conn ir eno < <(run_one "$o" "$r.$k")
		echo "round=$r observer=$o conns=$conn ir=$ir enobufs=$eno" | tee -a "$res"
	done
done
awk -v N="$#" '
	function kv(s,   i, n, a, p) {
		delete F; n = split(s, a, " ")
		for (i = 1; i <= n; i++) { p = index(a[i], "="); F[substr(a[i], 1, p - 1)] = substr(a[i], p + 1) }
	}
	function med(v, n,   i, j, t) {
		for (i = 2; i <= n; i++) { t = v[i]; for (j = i - 1; j >= 1 && v[j] > t; j--) v[j + 1] = v[j]; v[j + 1] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	{ kv($0); o = F["observer"]; if (!(o in K)) { K[o] = ++no; NAME[no] = o }
	  k = K[o]; if (F["conns"] > 0) IR[k, ++ni[k]] = F["ir"] / F["conns"] }
	END {
		for (k = 1; k <= no; k++) {
			delete a
			for (i = 1; i <= ni[k]; i++) a[i] = IR[k, i]
			mi[k] = med(a, ni[k]); lo[k] = a[1]; hi[k] = a[ni[k]]
			printf("%s: %.0f [%.0f..%.0f] instructions per connection in ev_run (callgrind), median [min..max] of %d rounds\n",
			       NAME[k], mi[k], lo[k], hi[k], ni[k])
		}
		for (k = 2; k <= no; k++)
			printf("observe_cost: %s vs %s: %.3fx the instructions per connection\n",
			       NAME[1], NAME[k], mi[1] / mi[k])
	}' "$res"
