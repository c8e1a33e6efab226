#!/bin/bash
# Cluster benchmark (docs/benchmarks.md, "cluster"): one real bulkheadd
# follows a real etcd into which tests/bench/cluster_load.py has put
# CLUSTER_HOSTS simulated hosts x CLUSTER_PER_HOST containers (default
# 1,000 x 100 = 100,000 remote endpoints), then churns CLUSTER_RATE
# container starts and stops per second for CLUSTER_SECS seconds.
# Measured: the initial sync (daemon start -> every endpoint in status),
# propagation from a put or delete to the kernel's announcement of an
# element with the address (tests/bench/nft_elemwatch.c; p50, p99), the daemon's CPU per update and share of a core
# during the churn, its RSS, and etcd's CPU. Namespaces as in the e2e
# tests (tests/lib/cluster.sh). Last line:
#   cluster: N remote endpoints synced in S s; propagation p50 X ms, p99 Y ms at R updates/s
#
#   make bench-cluster                              (root)
#   BH_BUILD=build tests/bench/cluster.sh          (root; after make tests)
#   CLUSTER_HOSTS=100 tests/bench/cluster.sh       a smaller run
#   CLUSTER_PERF=FILE ...     perf record -g of the daemon during the sync
#                             (perf report -i FILE; where the sync goes)
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cluster.sh"

HOSTS=${CLUSTER_HOSTS:-1000}
PER=${CLUSTER_PER_HOST:-100}
RATE=${CLUSTER_RATE:-100}
SECS=${CLUSTER_SECS:-30}
N=$((HOSTS * PER))
LOAD=$(dirname "$0")/cluster_load.py

WATCH=$BH_BUILD/tests/bench/nft_elemwatch
[ -x "$WATCH" ] || { echo "cluster.sh: $WATCH not built (make tests)" >&2; exit 2; }
for c in python3; do
	command -v $c >/dev/null || { echo "cluster.sh: $c missing" >&2; exit 2; }
done
cl_init
cl_etcd_start || { echo "cluster.sh: etcd did not start" >&2; exit 2; }
cl_host hA 1 || exit 2
cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
  - { from: api, to: db, ports: [tcp/5432] }
EOF2

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
rss_mb() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$1/status"; }
HZ=$(getconf CLK_TCK)

# Sockets subscribed to NFNLGRP_NFTABLES (group 7: bit 0x40) in every
# network namespace. The kernel keeps one mask of listened groups per
# netlink protocol for all namespaces: while any listens anywhere (another
# bulkheadd, nft monitor), every commit builds a notification per element,
# ours too, whatever our own monitor does (docs/benchmarks.md, "cluster").
nft_listeners() {
	local p ns seen=" " n=0 c
	for p in /proc/[0-9]*; do
		ns=$(readlink "$p/ns/net" 2>/dev/null) || continue
		case $seen in *" $ns "*) continue ;; esac
		seen+="$ns "
		while read -r _ eth _ groups _; do
			[ "$eth" = 12 ] && (( 0x$groups & 64 )) && n=$((n + 1))
		done < <(tail -n +2 "$p/net/netlink" 2>/dev/null)
	done
	echo "$n"
}

diag "loading $HOSTS hosts x $PER containers into etcd"
nsx hA python3 "$LOAD" load "$CL_ETCD" "$HOSTS" "$PER" | sed 's/^/# /'
# an etcd too loaded to take the writes (HTTP 503) must not leave a
# smaller load that the sync then waits for in vain
[ "${PIPESTATUS[0]}" -eq 0 ] || { echo "cluster.sh: loading etcd failed" >&2; exit 2; }

diag "nftables notification listeners on the machine before the start: $(nft_listeners)"
etcd_pid=$(pgrep -n -x etcd -P "$CL_ETCD_PID" 2>/dev/null || echo "$CL_ETCD_PID")
e_sync0=$(cpu_ticks "$etcd_pid")
t0=$(date +%s%N)
cl_start hA "$NS_TMP/policy.yaml" $CLUSTER_DAEMON_OPTS || { echo "cluster.sh: no daemon" >&2; exit 1; }
pid=${CL_PID[hA]}
if [ -n "$CLUSTER_PERF" ]; then
	perf record -q -g -p "$pid" -o "$CLUSTER_PERF" 2>/dev/null &
	perf_pid=$!
fi
synced=
for i in $(seq 1200); do
	got=$(clctl hA status 2>/dev/null | sed -n 's/^  [0-9]* hosts, \([0-9]*\) remote endpoints$/\1/p')
	if [ "${got:-0}" -ge "$N" ]; then
		synced=$(date +%s%N)
		break
	fi
	sleep 0.1
done
e_sync1=$(cpu_ticks "$etcd_pid")
[ -n "$synced" ] || { echo "cluster.sh: not synced after 120 s (${got:-0} of $N)" >&2; cl_log_diag hA; exit 1; }
if [ -n "$CLUSTER_PERF" ]; then
	kill -INT "$perf_pid"
	wait "$perf_pid"
fi
sync_s=$(awk -v a="$t0" -v b="$synced" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
diag "synced $N endpoints in $sync_s s (daemon start to status; polled every 100 ms); RSS $(rss_mb "$pid") MB"
diag "etcd CPU during the sync (serving the read): $(awk -v t=$((e_sync1 - e_sync0)) -v hz="$HZ" 'BEGIN { printf "%.1f", t / hz }') s"
# CPU time is what a busy machine does not inflate
# (user: parsing and the model; kernel: mostly the commit and its
# notifications, see nft_listeners)
diag "daemon CPU for start-up and sync: $(awk -v hz="$HZ" '{ printf "%.1f s (user %.1f, kernel %.1f)", ($14 + $15) / hz, $14 / hz, $15 / hz }' "/proc/$pid/stat")"

d0=$(cpu_ticks "$pid"); e0=$(cpu_ticks "$etcd_pid"); w0=$(date +%s%N)
out=$(nsx hA python3 "$LOAD" churn "$CL_ETCD" "$RATE" "$SECS" "$WATCH")
rc=$?
d1=$(cpu_ticks "$pid"); e1=$(cpu_ticks "$etcd_pid"); w1=$(date +%s%N)
echo "# $out"
[ $rc -eq 0 ] || { echo "cluster.sh: churn failed" >&2; cl_log_diag hA; exit 1; }
updates=$(echo "$out" | sed -n 's/^churn: \([0-9]*\) updates.*/\1/p')
p50=$(echo "$out" | sed -n 's/.* p50 \([0-9]*\) ms.*/\1/p')
p99=$(echo "$out" | sed -n 's/.* p99 \([0-9]*\) ms.*/\1/p')
awk -v d=$((d1 - d0)) -v e=$((e1 - e0)) -v w=$((w1 - w0)) -v hz="$HZ" -v u="$updates" 'BEGIN {
	ws = w / 1e9
	printf "# daemon CPU during the churn: %.1f %% of one core, %.2f ms per update\n", 100 * d / hz / ws, 1000 * d / hz / u
	printf "# etcd CPU during the churn: %.1f %% of one core\n", 100 * e / hz / ws }'
diag "daemon RSS after the churn: $(rss_mb "$pid") MB"
[ -z "$CLUSTER_LOG" ] || cp "$NS_TMP/hA/log" "$CLUSTER_LOG"
cl_stop hA >/dev/null
echo "cluster: $N remote endpoints synced in $sync_s s; propagation p50 $p50 ms, p99 $p99 ms at $RATE updates/s"
