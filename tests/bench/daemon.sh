#!/bin/bash
# Daemon benchmark (docs/benchmarks.md, "daemon"): the figures the e2e
# tests no longer assert, each measured N times against the real
# bulkheadd in the "host" namespace of a test set-up (tests/lib/netns.sh),
# with real nftables, NFLOG and conntrack:
#   status        `bulkheadctl status` round trip (process start to exit),
#                 idle and while a flood of denied datagrams runs
#                 (was asserted in denials_flood.t)
#   record        one denied UDP datagram sent -> its denied-flow record
#                 in the JSON-lines file (denials_records.t)
#   reload        `bulkheadctl reload` round trip alternating two policies
#                 (full table replacement + conntrack walk) while a
#                 stream of fresh-port datagrams fills conntrack
#                 (daemon_reload.t); also the daemon's own "ms"
#   tamper        `nft delete table inet bulkhead` by another process ->
#                 the table is back, both seen on `nft monitor`
#                 (daemon_tamper.t)
#   watchdog      intervals between WATCHDOG=1 on a NOTIFY_SOCKET read
#                 here, WATCHDOG_USEC=1 s, over the whole run (caps.t)
# Per figure: samples, failures, median, p95, max in ms. Last line:
#   daemon: status X ms idle, Y ms under flood; record ...; reload ...
#
#   make bench-daemon                        (root; after `make tests`)
#   BH_BUILD=build tests/bench/daemon.sh
#   DAEMON_REPS=20 tests/bench/daemon.sh     fewer samples of each
#
# DAEMON_REPS (default 40) sets the status, record and reload counts;
# tamper takes 12; the flood is DAEMON_FLOOD (default 300,000) datagrams
# at 100,000/s. About 25 s. Exit 1 when a sample failed (no answer, no
# record, table not back or put back late, wrong policy in force, a
# reload that was not ours, too few keep-alives), so a broken daemon
# gives no figure. Run it on the plain build: ASan's figures are ASan's.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

REPS=${DAEMON_REPS:-40}
TAMPER_REPS=12
FLOOD_N=${DAEMON_FLOOD:-300000}
FLOOD_RATE=100000
WD_USEC=1000000
FLOOD=$BH_BUILD/tests/tools/nflog_flood

for f in "$BH_D" "$BH_CTL" "$FLOOD" "$BH_UDPSTREAM"; do
	[ -x "$f" ] ||
		{ echo "daemon.sh: $f not built (make tests)" >&2; exit 2; }
done
for c in jq perl nft stdbuf; do
	command -v $c >/dev/null ||
		{ echo "daemon.sh: $c missing" >&2; exit 2; }
done
ns_init
ns_add web 10.77.0.11 fd77::11 || exit 2
ns_add api 10.77.0.21 fd77::21 || exit 2
ns_add db 10.77.0.12 fd77::12 || exit 2

# Two policies that differ (b has a fourth group and more flows), so that
# every reload replaces the table; in both, web -> db udp is denied. The
# daemon's policy path is a symlink out of the directory it watches:
# swapping the target's content triggers no inotify reload of its own, so
# each reload measured is exactly one `bulkheadctl reload`.
common='version: 1
settings:
  log: { window: 1s, rate: 1000/second }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: db } }'
printf '%s
flows:
  - { from: web, to: api, ports: [udp/9000] }
  - { from: web, to: db, ports: [tcp/5432] }\n' "$common" > "$NS_TMP/a.yaml"
printf '%s\n  extra: { match: { purpose: extra } }
flows:
  - { from: api, to: db, ports: [tcp/5432] }
  - { from: web, to: api, ports: [udp/9000, tcp/8080] }
  - { from: web, to: db, ports: [tcp/5432] }
  - { from: extra, to: [web, api], ports: [icmp] }\n' \
	"$common" > "$NS_TMP/b.yaml"
cp "$NS_TMP/a.yaml" "$NS_TMP/cur.yaml"
mkdir -p "$NS_TMP/pol"
ln -s "$NS_TMP/cur.yaml" "$NS_TMP/pol/policy.yaml"

# The service manager's side of sd_notify: every message line with the
# monotonic time it arrived, in microseconds.
NOTES=$NS_TMP/notify.log
ns_bg host perl -MSocket -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC -e '
	socket(my $s, PF_UNIX, SOCK_DGRAM, 0) or die "socket: $!";
	bind($s, pack_sockaddr_un($ARGV[0])) or die "bind: $!";
	$| = 1;
	while (defined recv($s, my $b, 4096, 0)) {
		my $t = int(clock_gettime(CLOCK_MONOTONIC) * 1e6);
		print "$t $_\n" for split /\n/, $b;
	}' "$NS_TMP/notify.sock" > "$NOTES"
for i in $(seq 100); do [ -S "$NS_TMP/notify.sock" ] && break; sleep 0.05; done
[ -S "$NS_TMP/notify.sock" ] ||
	{ echo "daemon.sh: no notify socket" >&2; exit 2; }

export NOTIFY_SOCKET=$NS_TMP/notify.sock WATCHDOG_USEC=$WD_USEC
bhd_start "$NS_TMP/pol/policy.yaml" || exit 1
unset NOTIFY_SOCKET WATCHDOG_USEC
bhd_attach web bulkhead.purpose=web >/dev/null || exit 1
bhd_attach api bulkhead.purpose=api >/dev/null || exit 1
bhd_attach db bulkhead.purpose=db >/dev/null || exit 1

# stats FILE: "n median p95 max" of the values (ms), nearest-rank p95
stats() {
	sort -g "$1" | awk '{ v[NR] = $1 } END {
		if (!NR) { print "0 - - -"; exit }
		m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		i = int(0.95 * NR); if (i < 0.95 * NR) i++
		printf "%d %.2f %.2f %.2f\n", NR, m, v[i], v[NR] }'
}
declare -A FAILED
row() { # NAME FILE
	local n med p95 max

	read -r n med p95 max <<<"$(stats "$2")"
	printf '%-34s %5s %6s %9s %9s %9s\n' "$1" "$n" "${FAILED[$1]:-0}" \
		"$med" "$p95" "$max"
}
median() { stats "$1" | awk '{ print $2 }'; }
failed() { FAILED[$1]=$((${FAILED[$1]:-0} + 1)); }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b - a) / 1000 }'; }
status_rt() { # FIGURE OUT: one timed status, appended to OUT in ms
	local t0 t1

	t0=${EPOCHREALTIME/./}
	bhctl status >/dev/null 2>&1 || { failed "$1"; return 1; }
	t1=${EPOCHREALTIME/./}
	ms "$t0" "$t1" >> "$2"
}
kernel_denied() {
	nft_host -j list counters | jq '[.nftables[] | select(.counter) |
		.counter | select(.name | test("^(denied_|spoofed_)")) |
		.packets] | add // 0'
}
st() { bhctl status --json; }

echo "# $(uname -r), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)," \
	"$(date -u +%FT%TZ)"

# ---- status, idle (the reference) and under a flood ----
F_IDLE="status, idle"
F_FLOOD="status, during the flood"
for i in $(seq "$REPS"); do
	status_rt "$F_IDLE" "$NS_TMP/status.idle"
	sleep 0.02
done
k0=$(kernel_denied)
nsx web timeout 60 "$FLOOD" 10.77.0.12 9 $FLOOD_N $FLOOD_RATE \
	> "$NS_TMP/flood.json" &
fpid=$!
for i in $(seq 100); do
	[ "$(kernel_denied)" -gt "$k0" ] && break
	sleep 0.05
done
: > "$NS_TMP/status.flood"
for i in $(seq 1000); do
	kill -0 $fpid 2>/dev/null || break
	status_rt "$F_FLOOD" "$NS_TMP/status.tmp"
	# a sample that ended after the flood did is not a flood sample
	kill -0 $fpid 2>/dev/null &&
		cat "$NS_TMP/status.tmp" >> "$NS_TMP/status.flood"
	: > "$NS_TMP/status.tmp"
	sleep 0.02
done
wait $fpid
k1=$(kernel_denied)
sent=$(jq .sent "$NS_TMP/flood.json" 2>/dev/null)
flood_note="flood: $(cat "$NS_TMP/flood.json" 2>/dev/null)"
flood_note+=", kernel denied $((k1 - k0))"
# the flood must have gone through the deny rules, or the samples mean
# nothing
if [ "${sent:-0}" -ne $FLOOD_N ] || [ $((k1 - k0)) -lt $FLOOD_N ]; then
	failed "$F_FLOOD"
fi

# ---- one denied datagram -> its record ----
# One process in web's namespace sends one datagram to a new port each
# round (a new flow, which flowlog emits at once) and polls the file for
# that port's record: no process start inside the measurement.
F_REC="record, datagram -> JSON line"
sleep 2.2	# the flood's window closes and its records are written
nsx web perl -MSocket -MTime::HiRes=clock_gettime,CLOCK_MONOTONIC,usleep -e '
	my ($file, $dst, $n, $p0) = @ARGV;
	socket(my $s, PF_INET, SOCK_DGRAM, 0) or die "socket: $!";
	bind($s, pack_sockaddr_in(40000, INADDR_ANY)) or die "bind: $!";
	for my $i (0 .. $n - 1) {
		my $port = $p0 + $i;
		my $size = -s $file // 0;
		my $t0 = clock_gettime(CLOCK_MONOTONIC);
		my $t1;
		send($s, "x", 0, pack_sockaddr_in($port, inet_aton($dst)))
			or die "send: $!";
		while (clock_gettime(CLOCK_MONOTONIC) - $t0 < 5) {
			if (open(my $f, "<", $file)) {
				seek($f, $size, 0);
				local $/;
				my $new = <$f> // "";
				if ($new =~ /"port":$port[,}][^\n]*\n/) {
					$t1 = clock_gettime(CLOCK_MONOTONIC);
					last;
				}
			}
			usleep(200);
		}
		print defined $t1 ? sprintf("%.3f\n", ($t1 - $t0) * 1000)
				  : "timeout\n";
		usleep(50000);
	}' "$BHD_DENIED" 10.77.0.12 "$REPS" 20000 > "$NS_TMP/record.raw"
grep -v timeout "$NS_TMP/record.raw" > "$NS_TMP/record"
for i in $(seq "$(grep -c timeout "$NS_TMP/record.raw")"); do
	failed "$F_REC"
done
[ "$(wc -l < "$NS_TMP/record.raw")" -eq "$REPS" ] || failed "$F_REC"

# ---- reload under a conntrack-filling stream ----
# daemon_reload.t's streams: every datagram from a new source port, so
# the walk has entries to judge (allowed ones to api, denied ones to db).
F_RELOAD="reload, bulkheadctl round trip"
F_RELOAD_D="reload, the daemon's own (ms)"
ns_bg web "$BH_UDPSTREAM" send 10.77.0.21 9000 1000000 4000 >/dev/null
s1=$!
ns_bg web "$BH_UDPSTREAM" send fd77::12 9000 1000000 8000 >/dev/null
s2=$!
sleep 1
r0=$(st | jq .counters.reloads)
seen_min= seen_max=
for i in $(seq "$REPS"); do
	if [ $((i % 2)) -eq 1 ]; then p=b want=4; else p=a want=3; fi
	cp "$NS_TMP/$p.yaml" "$NS_TMP/cur.tmp"
	mv "$NS_TMP/cur.tmp" "$NS_TMP/cur.yaml"
	t0=${EPOCHREALTIME/./}
	if ! bhctl reload >/dev/null 2>>"$NS_TMP/reload.err"; then
		failed "$F_RELOAD"
		continue
	fi
	t1=${EPOCHREALTIME/./}
	ms "$t0" "$t1" >> "$NS_TMP/reload"
	read -r dms seen groups okr <<<"$(st | jq -r '[.last_reload.ms,
		.last_reload.conntrack.seen, .policy.groups,
		.last_reload.ok] | @tsv')"
	# the other policy must be the one in force now
	if [ "$groups" != "$want" ] || [ "$okr" != true ]; then
		failed "$F_RELOAD"
		continue
	fi
	echo "$dms" >> "$NS_TMP/reload.daemon"
	[ -z "$seen_min" ] || [ "$seen" -lt "$seen_min" ] && seen_min=$seen
	[ -z "$seen_max" ] || [ "$seen" -gt "$seen_max" ] && seen_max=$seen
done
kill -TERM "$s1" "$s2" 2>/dev/null
wait "$s1" "$s2" 2>/dev/null
r1=$(st | jq .counters.reloads)
# any other reload (inotify) would have run beside the measured ones
[ $((r1 - r0)) -eq "$REPS" ] || failed "$F_RELOAD"

# ---- tamper: delete the table, see it come back ----
# Both events are read from the kernel's notifications by one reader, so
# its own delay is in both timestamps alike. The restore is one
# transaction that starts "add table, delete table, add table" (the add
# makes the delete safe when the table exists): its first add is the
# moment it was committed.
F_TAMPER="tamper, delete seen -> add seen"
F_TAMPER_N="tamper, nft started -> add seen"
MON=$NS_TMP/monitor.log
ns_bg host bash -c 'stdbuf -oL nft monitor tables | while IFS= read -r l; do
	printf "%s %s\n" "${EPOCHREALTIME/./}" "$l"; done' > "$MON"
# the monitor listens once it reports a table of someone else's
for i in $(seq 100); do
	nft_host add table inet bhbench
	nft_host delete table inet bhbench
	grep -q 'add table inet bhbench' "$MON" && break
	sleep 0.05
done
grep -q 'add table inet bhbench' "$MON" ||
	{ echo "daemon.sh: nft monitor silent" >&2; exit 1; }
restored=$(st | jq .counters.tamper_restored)
for i in $(seq "$TAMPER_REPS"); do
	# From the third change within 2 s of its last restore the daemon
	# backs off (docs/daemon.md): after every third round it is left
	# calm for longer than that, so each restore measured is immediate.
	[ $((i % 3)) -eq 1 ] && [ "$i" -gt 1 ] && sleep 2.3
	n0=$(wc -l < "$MON")
	t0=${EPOCHREALTIME/./}
	nft_host delete table inet bulkhead
	for j in $(seq 500); do
		tail -n +$((n0 + 1)) "$MON" |
			grep -q ' add table inet bulkhead$' && break
		sleep 0.01
	done
	read -r td ta <<<"$(tail -n +$((n0 + 1)) "$MON" | awk '
		/ delete table inet bulkhead$/ && !d { d = $1 }
		/ add table inet bulkhead$/ && d && !a { a = $1 }
		END { printf "%.0f %.0f\n", d, a }')"
	for j in $(seq 100); do
		r=$(st | jq .counters.tamper_restored)
		[ "$r" -gt "$restored" ] && break
		sleep 0.05
	done
	r=$(st | jq .counters.tamper_restored)
	if [ "$td" -eq 0 ] || [ "$ta" -eq 0 ] ||
	   [ "$r" -ne $((restored + 1)) ]; then
		failed "$F_TAMPER"
		restored=$r
		continue
	fi
	restored=$r
	ms "$td" "$ta" >> "$NS_TMP/tamper"
	ms "$t0" "$ta" >> "$NS_TMP/tamper.nft"
done
# a delayed (backed-off) restore would not be the figure
grep -q 'putting it back in' "$BHD_LOG" && failed "$F_TAMPER"

# ---- watchdog ----
F_WD="watchdog, WATCHDOG=1 interval"
awk '$2 == "WATCHDOG=1" { print $1 }' "$NOTES" > "$NS_TMP/wd.t"
awk 'NR > 1 { printf "%.3f\n", ($1 - p) / 1000 } { p = $1 }' "$NS_TMP/wd.t" \
	> "$NS_TMP/wd"
# the old test's shape: the fewest keep-alives in any 2 s of the run
wd_min2=$(awk '{ t[NR] = $1 } END {
	min = -1
	for (i = 1; i <= NR; i++) {
		if (t[i] + 2000000 > t[NR]) break
		n = 0
		for (j = i; j <= NR && t[j] < t[i] + 2000000; j++) n++
		if (min < 0 || n < min) min = n
	}
	print min }' "$NS_TMP/wd.t")
[ "$(wc -l < "$NS_TMP/wd")" -ge 10 ] || failed "$F_WD"
grep -q '^[0-9]* READY=1$' "$NOTES" || failed "$F_WD"

bhd_stop || { failed "bulkheadd exit"; bhd_log_diag; }

printf '%-34s %5s %6s %9s %9s %9s\n' "figure (ms)" n failed median p95 max
row "$F_IDLE" "$NS_TMP/status.idle"
row "$F_FLOOD" "$NS_TMP/status.flood"
row "$F_REC" "$NS_TMP/record"
row "$F_RELOAD" "$NS_TMP/reload"
row "$F_RELOAD_D" "$NS_TMP/reload.daemon"
row "$F_TAMPER" "$NS_TMP/tamper"
row "$F_TAMPER_N" "$NS_TMP/tamper.nft"
row "$F_WD" "$NS_TMP/wd"
echo "# $flood_note"
echo "# conntrack entries walked per reload: ${seen_min:-?}..${seen_max:-?}"
echo "# watchdog: WATCHDOG_USEC=$WD_USEC (expected every" \
	"$((WD_USEC / 2000)) ms); fewest WATCHDOG=1 in any 2 s: $wd_min2"
[ -n "${FAILED[bulkheadd exit]}" ] &&
	echo "# bulkheadd did not exit 0 on SIGTERM"
echo "# load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
nfail=0
for k in "${!FAILED[@]}"; do nfail=$((nfail + FAILED[$k])); done
echo "daemon: status $(median "$NS_TMP/status.idle") ms idle," \
	"$(median "$NS_TMP/status.flood") ms under a ${FLOOD_RATE}/s flood;" \
	"first record $(median "$NS_TMP/record") ms;" \
	"reload $(median "$NS_TMP/reload") ms;" \
	"table back $(median "$NS_TMP/tamper") ms;" \
	"watchdog every $(median "$NS_TMP/wd") ms; $nfail failed"
[ "$nfail" -eq 0 ]
