#!/bin/bash
# Smoke run of the commit benchmark (tests/bench/commit.sh) at a small
# scale: it runs, and prints its summary line in the promised form.
. "$(dirname "$0")/../lib/tap.sh"
cd "$BH_TOP" || exit 1
command -v nft >/dev/null || skip_all "nft not installed"
unshare -n true 2>/dev/null || skip_all "cannot make a network namespace"
B="$BH_BUILD/tests/bench/commit"
[ -x "$B" ] || skip_all "$B not built"
tmp=$(mktemp -d /tmp/bh-nftbench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$B" --containers 500 --groups 10 --rounds 1 --attaches 20 --tmp "$tmp" >"$tmp/out" 2>"$tmp/err"
ok $? "the benchmark runs at 500 containers x 10 groups"
sed 's/^/# /' "$tmp/out"
tail -1 "$tmp/out" | grep -Eq '^commit at 500 containers: [0-9]+\.[0-9]x faster than nft -f, [0-9]+\.[0-9]{2}x the kernel floor$'
ok $? "its last line has the promised form"
ls "$tmp" | grep -q '^commit-'
ok $((! $?)) "it leaves no files behind"
done_testing
