#!/bin/bash
# Recaptures the ctnetlink fixtures (tests/fuzz/corpus-ctevent) from the
# running kernel, in a network namespace of its own that is removed on
# exit: conntrack on (an nft rule that needs it), accounting on, a DNAT
# of 127.0.0.1:6000 to :6001 in the output hook. Root.
#
#   tests/tools/ct_capture.sh [DIR]     (default tests/fuzz/corpus-ctevent)
set -euo pipefail
dir=${1:-tests/fuzz/corpus-ctevent}
ns=bhcap$$x$RANDOM
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" sysctl -qw net.netfilter.nf_conntrack_acct=1
ip netns exec "$ns" nft -f - <<'EOF'
table inet cap {
	chain out { type filter hook output priority 0; ct state new counter; }
}
table ip capnat {
	chain out { type nat hook output priority -100; tcp dport 6000 dnat to 127.0.0.1:6001; }
}
EOF
ip netns exec "$ns" python3 "$(dirname "$0")/ct_capture.py" "$dir"
