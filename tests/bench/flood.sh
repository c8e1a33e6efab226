#!/bin/bash
# Denied-flow flood benchmark: the real bulkheadd in a test namespace, a
# sender container flooding a denied UDP port at rising offered rates.
# Per step: offered and achieved denied packets/s (kernel counters), what
# the records account for (packets + unlogged + lost), NFLOG losses, records
# written, daemon CPU per denied packet. N is the highest achieved rate of a
# step in which every denied packet is accounted and none was lost.
#
#   sudo tests/bench/flood.sh            (BH_BUILD=build by default)
#   FLOOD_RATES="50000 100000 0" FLOOD_SECONDS=3 FLOOD_LOG_RATE=100000 \
#   FLOOD_SOURCES=8 FLOOD_SENDERS=2 tests/bench/flood.sh
#
# FLOOD_LOG_RATE is the policy's log.rate per source address: the default,
# 100000/second with 8 source addresses, makes NFLOG carry (nearly) every
# packet, the daemon's worst case; 20 is the shipped default (the kernel
# then counts most of a flood as unlogged). Rate 0 = as fast as possible.
# Bounded: each step sends at most rate x FLOOD_SECONDS datagrams (1.5M at
# full speed) and stops after 120 s. Last line:
#   denied packets/s fully accounted: N
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

RATES=${FLOOD_RATES:-"25000 50000 100000 200000 300000 400000 0"}
SECS=${FLOOD_SECONDS:-3}
LOG_RATE=${FLOOD_LOG_RATE:-100000}
NSRC=${FLOOD_SOURCES:-8}
SENDERS=${FLOOD_SENDERS:-$(nproc)}
FLOOD=$BH_BUILD/tests/tools/nflog_flood
MAX_FULL=1500000

for f in "$BH_D" "$BH_CTL" "$FLOOD"; do
	[ -x "$f" ] || { echo "flood.sh: $f not built (make tests)" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "flood.sh: jq missing" >&2; exit 2; }
ns_init
cat > "$NS_TMP/policy.yaml" <<EOF
version: 1
settings:
  log: { window: 1s, rate: $LOG_RATE/second }
groups:
  web: { match: { purpose: web } }
  db:  { match: { purpose: db } }
flows:
  - { from: web, to: db, ports: [tcp/5432] }
EOF
ns_add web 10.77.0.11 "" || exit 2
ns_add db 10.77.0.12 "" || exit 2
srcs=() ips=()
for i in $(seq 1 "$NSRC"); do
	a=10.77.1.$i
	nsx web ip addr add "$a/16" dev eth0 || exit 2
	srcs+=("$a")
	ips+=(--ip "$a")
done
bhd_start "$NS_TMP/policy.yaml" || exit 1
bhctl attach --id id-web --name web --label bulkhead.purpose=web \
	--ip 10.77.0.11 "${ips[@]}" --ifname v-web >/dev/null || exit 1
bhd_attach db bulkhead.purpose=db >/dev/null || exit 1
serve_tcp db 5432
sleep 0.5

kernel_denied() {
	nft_host -j list counters | jq '[.nftables[] | select(.counter) |
		.counter | select(.name | test("^(denied_|spoofed_)")) |
		.packets] | add // 0'
}
cpu_ticks() {
	awk '{print $14 + $15}' "/proc/$BHD_PID/stat"
}
hz=$(getconf CLK_TCK)

echo "# log.rate $LOG_RATE/s per source, $NSRC sources, $SENDERS senders, ${SECS}s per step, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-10s %10s %10s %10s %9s %9s %7s %8s %10s %s\n' offered achieved \
	denied logged unlogged lost records cpu_ns/p allowed accounted
best=0
for rate in $RATES; do
	if [ "$rate" -eq 0 ]; then count=$MAX_FULL; else count=$((rate * SECS)); fi
	k0=$(kernel_denied)
	l0=$(wc -l < "$BHD_DENIED" 2>/dev/null || echo 0)
	c0=$(cpu_ticks)
	# K senders, one per CPU: the kernel does the forwarding, filtering
	# and logging of a datagram on the CPU that sent it.
	pids=()
	for k in $(seq 0 $((SENDERS - 1))); do
		mine=()
		for i in "${!srcs[@]}"; do
			[ $((i % SENDERS)) -eq "$k" ] && mine+=("${srcs[$i]}")
		done
		nsx web timeout 130 "$FLOOD" 10.77.0.12 9 $((count / SENDERS)) \
			"$(awk -v r="$rate" -v k="$SENDERS" 'BEGIN { print r / k }')" \
			"${mine[@]}" > "$NS_TMP/flood.$k.json" &
		pids+=($!)
	done
	sleep 0.5
	allowed=$(probe tcp web 10.77.0.12 5432)
	wait "${pids[@]}"
	secs=$(cat "$NS_TMP"/flood.*.json | jq -s 'map(.seconds) | max')
	sleep 1.6	# the window closes; unlogged counters are read
	c1=$(cpu_ticks)
	k1=$(kernel_denied)
	denied=$((k1 - k0))
	read -r pk unl lost recs <<<"$(tail -n +$((l0 + 1)) "$BHD_DENIED" |
		jq -s -r '[(map(.bulkhead.packets) | add // 0),
			   (map(.bulkhead.unlogged) | add // 0),
			   (map(.bulkhead.lost) | add // 0), length] | @tsv')"
	achieved=$(awk -v d="$denied" -v s="$secs" 'BEGIN { printf "%d", (s > 0 ? d / s : 0) }')
	cpu=$(awk -v t=$((c1 - c0)) -v hz="$hz" -v d="$denied" \
		'BEGIN { printf "%d", (d > 0 ? t * 1e9 / hz / d : 0) }')
	acc=no
	if [ $((pk + unl + lost)) -eq "$denied" ] && [ "$lost" -eq 0 ]; then
		acc=yes
		[ "$achieved" -gt "$best" ] && best=$achieved
	fi
	printf '%-10s %10s %10s %10s %9s %9s %7s %8s %10s %s\n' \
		"$([ "$rate" -eq 0 ] && echo max || echo "$rate")" "$achieved" \
		"$denied" "$pk" "$unl" "$lost" "$recs" "$cpu" "$allowed" "$acc"
done
echo "# daemon status after the run:"
bhctl status 2>&1 | sed 's/^/#   /' | head -40
bhd_stop
echo "denied packets/s fully accounted: $best"
