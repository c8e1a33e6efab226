#!/bin/bash
# Limits at the control socket (docs/limits.md): an attach over any
# per-container limit (labels, label key and value bytes, addresses,
# ports) is refused with a message naming the limit and changes nothing
# (status, the kernel's tables, the state file); one at each limit is
# accepted. The request size and client limits are in daemon_control.t.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21

cat >"$NS_TMP/policy.yaml" <<'Y'
version: 1
settings:
  log: { window: 500ms, rate: 100000/second }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows: []
Y
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null

snapshot() {
	{
		bhctl status --json | jq -c '[.containers, .counters.attaches]'
		nft_host list table inet bulkhead
		nft_host list table bridge bulkhead
		cat "$BHD_STATE/inventory.json" "$BHD_STATE/inventory.journal" 2>/dev/null
	} | md5sum
}
raw() {
	printf '%s\n' "$1" | timeout 10 socat -t5 - "UNIX-CONNECT:$BHD_SOCK"
}
# a request's JSON from jq, sent as one line
send() {
	raw "$(jq -nc "$@")"
}
# refused DESC WANT-IN-MESSAGE JQ-ARGS...: errno 22, the message names
# the limit, nothing changed
refused() {
	local desc=$1 want=$2 before r
	shift 2

	before=$(snapshot)
	r=$(send "$@")
	is "$(jq -c '[.ok, .errno]' <<<"$r")" "[false,22]" "$desc: refused"
	jq -r .error <<<"$r" | grep -qF "$want"
	ok $? "  naming the limit: $(jq -r .error <<<"$r" | head -c 120)"
	is "$(snapshot)" "$before" "  and nothing changed"
}
# accepted DESC JQ-ARGS...: at the limit, the attach goes through
accepted() {
	local desc=$1 r
	shift

	r=$(send "$@")
	is "$(jq -c .ok <<<"$r")" true "$desc" ||
		diag "$(jq -r .error <<<"$r" | head -c 200)"
}

base='{version: 1, op: "attach", id: "lim", name: "lim"}'

# labels per container: 1,024
accepted "1,024 labels: accepted" \
	"$base + {labels: ([range(1024)] | map({key: \"k\(.)\", value: \"v\"}) | from_entries), ips: [\"10.77.0.200\"]}"
refused "1,025 labels" "over the limit of 1024 labels per container" \
	"$base + {labels: ([range(1025)] | map({key: \"k\(.)\", value: \"v\"}) | from_entries), ips: [\"10.77.0.200\"]}"

# bytes of a label key and of a label value: 4,096 each
accepted "a 4,096-byte key and value: accepted" \
	"$base + {labels: {(\"k\" * 4096): (\"v\" * 4096)}, ips: [\"10.77.0.200\"]}"
refused "a 4,097-byte label key" "over the limit of 4096 bytes per label key" \
	"$base + {labels: {(\"k\" * 4097): \"v\"}, ips: [\"10.77.0.200\"]}"
refused "a 4,097-byte label value" "over the limit of 4096 bytes per label value" \
	"$base + {labels: {k: (\"v\" * 4097)}, ips: [\"10.77.0.200\"]}"

# addresses per container: 128
accepted "128 addresses: accepted" \
	"$base + {ips: [range(128) | \"10.79.0.\(.)\"]}"
refused "129 addresses" "over the limit of 128 addresses per container" \
	"$base + {ips: [range(129) | \"10.79.1.\(.)\"]}"
refused "129 addresses over ports" "over the limit of 128 addresses per container" \
	"$base + {ports: [range(3) as \$p | {ifname: \"p\(\$p)\", ips: [range(43) | \"10.8\(\$p).0.\(.)\"]}]}"

# ports per container: 32
accepted "32 ports: accepted" \
	"$base + {ports: [range(32) | {ifname: \"q\(.)\", ips: [\"10.90.\(.).1\"]}]}"
refused "33 ports" "over the limit of 32 ports per container" \
	"$base + {ports: [range(33) | {ifname: \"r\(.)\", ips: [\"10.91.\(.).1\"]}]}"

# the records ring: 1,024 recent records. A follower further behind is
# told how many it missed (the file has them all). web sends 1,300
# denied datagrams to api, each to its own port, paced so that NFLOG
# keeps up: a record each.
last=$(bhctl status --json | jq '.denied.last_seq')
nsx web python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for p in range(1, 1301):
    s.sendto(b"x", ("10.77.0.21", p))
    time.sleep(0.002)
'
# until the records stop coming (the window's end writes the last ones):
# two reads a second apart the same, bounded at 60 s
prev=-1
for i in $(seq 60); do
	cur=$(bhctl status --json | jq '.denied.last_seq')
	[ "$cur" -ge $((last + 1100)) ] && [ "$cur" = "$prev" ] && break
	prev=$cur
	sleep 1
done
r=$(send "{version: 1, op: \"denials\", after_seq: $last}")
seq=$(jq .seq <<<"$r")
is "$(jq -c '[.ring, (.records | length)]' <<<"$r")" "[1024,1024]" \
	"the ring holds the 1,024 newest records (of $((seq - last)) new)"
is "$(jq .missed <<<"$r")" "$((seq - last - 1024))" \
	"a follower at seq $last is told it missed the $((seq - last - 1024)) older ones"
r=$(send "{version: 1, op: \"denials\", after_seq: $((seq - 10))}")
is "$(jq -c '[.missed, (.records | length)]' <<<"$r")" "[0,10]" \
	"one within the ring missed nothing"
is "$(jq -s "map(select(.bulkhead.seq > $last)) | length" "$BHD_DENIED")" "$((seq - last))" \
	"the file has every record"

# the same through bulkheadctl: exit 1 and the message
bhctl attach --id lim2 --ip $(seq -f '10.92.0.%g' 0 128) >/dev/null 2>"$NS_TMP/err"
is $? 1 "bulkheadctl attach over the limit exits 1"
grep -q "over the limit of 128 addresses per container" "$NS_TMP/err"
ok $? "  with the message"

# the one accepted last holds 32 ports in the kernel
is "$(nft_host list map bridge bulkhead ports | grep -o '"q[0-9]*"' | sort -u | wc -l)" 32 \
	"the 32 ports are in the ports map"
kernel_matches_model
ok $? "the kernel holds the printed ruleset"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
