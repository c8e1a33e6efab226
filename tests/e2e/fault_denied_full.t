#!/bin/bash
# The denied-flow log on a full disk: records that cannot be written are
# counted (status: unwritten, write_errors), never half-written (the file
# holds whole JSON lines only), still reach the ring; once there is room
# writing resumes by itself and the first record written says how many
# records and packets the file misses, so that from the file alone
# packets + unlogged + lost + unwritten_packets == the kernel's counters.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
[ -x "$BH_UDPSTREAM" ] || skip_all "daemon_udpstream not built"
ns_init
LOG_MNT=
cleanup() {
	local rc=$?

	trap - EXIT
	[ -n "$LOG_MNT" ] && umount -l "$LOG_MNT" 2>/dev/null
	(exit $rc)
	ns_cleanup
}
trap cleanup EXIT
LOG_MNT=$NS_TMP/log
mkdir -p "$LOG_MNT"
mount -t tmpfs -o size=128k bh-denied-full "$LOG_MNT" ||
	{ LOG_MNT=; skip_all "cannot mount a tmpfs"; }
BHD_DENIED=$LOG_MNT/denied.jsonl
ns_add web 10.77.0.11 "" || exit 2
ns_add db 10.77.0.12 "" || exit 2
cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
settings:
  # every packet logged: at the default 20/second (burst 5) per source
  # whether a flow's first packet got a token, and so a record, depended
  # on how fast the datagrams of the flows before it went out
  log: { window: 1s, rate: 100000/second }
groups:
  web: { match: { purpose: web } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: db, ports: [tcp/5432] }
EOF
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach db bulkhead.purpose=db >/dev/null
dn() { bhctl status --json | jq -r ".denied.$1"; }
kernel_denied() {
	nft_host -j list counters | jq '[.nftables[] | select(.counter) |
		.counter | select(.name | test("^(denied_|spoofed_)")) |
		.packets] | add // 0'
}
# denied datagrams db -> web:PORT (undeclared), each from a new source port
deny_udp() { udp_stream db 10.77.0.11 "$1" "${2:-20}" 2000 >/dev/null; }
in_file() { # PORT: a record for it is in the file (bounded wait)
	local i
	for i in $(seq 100); do
		jq -en "[inputs | select(.destination.port == $1)] | length > 0" "$BHD_DENIED" \
			>/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

deny_udp 9001
in_file 9001
ok $? "room: a denied flow is written"

dd if=/dev/zero of="$LOG_MNT/fill" bs=4k 2>/dev/null
is "$(df --output=avail "$LOG_MNT" | tail -1 | tr -d ' ')" 0 "the log's tmpfs is full"
# more records than the file's last page has room for: ten new flows
for p in $(seq 9002 9011); do
	deny_udp "$p"
done
for _ in $(seq 100); do
	[ "$(dn unwritten)" -ge 5 ] 2>/dev/null && break
	sleep 0.1
done
[ "$(dn unwritten)" -ge 5 ] 2>/dev/null
ok $? "full disk: records that could not be written are counted ($(dn unwritten) unwritten, $(dn unwritten_packets) packets)"
[ "$(dn write_errors)" -ge 1 ] 2>/dev/null
ok $? "... and the write errors ($(dn write_errors))"
bhctl status | grep -q 'NOT WRITTEN to the file'
ok $? "bulkheadctl status (text) says so"
bad=$(awk '!/^\{.*\}$/ { n++ } END { print n + 0 }' "$BHD_DENIED")
is "$bad" 0 "the file holds only whole lines (a short write is taken back)"
bhctl denials --follow --json >"$NS_TMP/follow.out" 2>/dev/null &
fpid=$!
NS_BG_PIDS+=($fpid)
for _ in $(seq 50); do
	grep -q '"port":9011' "$NS_TMP/follow.out" 2>/dev/null && break
	sleep 0.1
done
kill "$fpid" 2>/dev/null
grep -q '"port":9011' "$NS_TMP/follow.out"
ok $? "the records the file misses still reach the ring (denials --follow)"

rm -f "$LOG_MNT/fill"
deny_udp 9012
in_file 9012
ok $? "room again: writing resumes by itself"
# seqs in the file: each line's seq is the last one's + 1 + its unwritten
gaps=$(jq -s -r '[foreach .[] as $r ({last: 0, bad: 0};
	.bad += (if $r.bulkhead.seq != .last + 1 + ($r.bulkhead.unwritten // 0)
		then 1 else 0 end) | .last = $r.bulkhead.seq; .bad)] | last' \
	"$BHD_DENIED")
is "$gaps" 0 "every gap in the file's seq is exactly the unwritten count of the record after it"
noted=$(jq -s '[.[].bulkhead.unwritten // 0] | add' "$BHD_DENIED")
[ "$noted" -ge 5 ] && [ "$noted" = "$(dn unwritten)" ]
ok $? "the file notes all $(dn unwritten) unwritten records ($noted)"

sleep 1.5	# the last window closes
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
kernel=$(kernel_denied)
read -r pk unl lost unw <<<"$(jq -s -r '[(map(.bulkhead.packets) | add),
	(map(.bulkhead.unlogged) | add), (map(.bulkhead.lost) | add),
	(map(.bulkhead.unwritten_packets // 0) | add)] | @tsv' "$BHD_DENIED")"
diag "kernel denied $kernel; file: packets $pk + unlogged $unl + lost $lost + unwritten $unw"
[ "$kernel" -ge 240 ]
ok $? "the kernel denied every datagram sent ($kernel >= 12 x 20)"
is "$((pk + unl + lost + unw))" "$kernel" \
	"from the file alone: packets + unlogged + lost + unwritten_packets == kernel denied counters"
done_testing
