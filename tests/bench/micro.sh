#!/bin/bash
# The micro benchmarks of docs/benchmarks.md ("policy", "control socket",
# "event loop", "inventory memory", the conntrack event parser of
# "Allowed-flow observations"): the figures that were time and memory
# limits in tests/unit and tests/policy/corpus.t, whose tests now check
# only behaviour. No root, no network; about 20 s.
#   make bench-micro [MICRO_ARGS="--rounds R"]
#   BH_BUILD=build tests/bench/micro.sh [--rounds R]
# --rounds R goes to every program (each has its own default). Needs the
# plain build (`make tests`), not the ASan one: ASan's heap is not glibc's.
set -e
cd "$(dirname "$0")/../.."
BH_BUILD=${BH_BUILD:-build}
bench=$BH_BUILD/tests/bench
for b in policy_scale control_stuck ev_timer inventory_mem ctevent; do
	[ -x "$bench/$b" ] || { echo "micro.sh: no $bench/$b (make tests)" >&2; exit 2; }
done
[ -x "$BH_BUILD/bulkheadctl" ] || { echo "micro.sh: no $BH_BUILD/bulkheadctl" >&2; exit 2; }
tmp=$(mktemp -d /tmp/bh-micro.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%FT%TZ)"
"$bench/policy_scale" --ctl "$BH_BUILD/bulkheadctl" --tmp "$tmp" "$@"
echo
"$bench/control_stuck" --tmp "$tmp" "$@"
echo
"$bench/ev_timer" "$@"
echo
"$bench/inventory_mem" "$@"
echo
"$bench/ctevent" "$@"
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
