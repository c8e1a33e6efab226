#!/bin/bash
# The commit benchmark of docs/benchmarks.md ("commit"): full-table commit
# vs `nft -f` of the same text vs the kernel floor, attach latency, RSS,
# for 100..100,000 containers x 10..1,000 groups. Root; each measurement
# runs in a fresh network namespace (never the one it started in).
#   tests/bench/commit.sh [ARGS for build/tests/bench/commit]
# e.g. tests/bench/commit.sh --containers 1000 --groups 10 --rounds 1
set -e
cd "$(dirname "$0")/../.."
BH_BUILD=${BH_BUILD:-build}
make -s "$BH_BUILD/tests/bench/commit" >/dev/null
tmp=$(mktemp -d /tmp/bh-commit.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
echo "# $(uname -r), $(nproc) CPUs, $(nft --version), $(date -u +%FT%TZ)"
"$BH_BUILD/tests/bench/commit" --tmp "$tmp" "$@"
