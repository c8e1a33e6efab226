#!/bin/bash
# A reload that removes a flow cuts its established connections (their
# conntrack entries are deleted, so the next segment meets the rules as a
# new packet and drops); connections of flows still allowed live on.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21

cat >"$NS_TMP/a.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/7000, tcp/7001] }
EOF
sed 's|tcp/7000, ||' "$NS_TMP/a.yaml" >"$NS_TMP/b.yaml"
cp "$NS_TMP/a.yaml" "$NS_TMP/policy.yaml"

# each connection's lines are appended to recvPORT; the greeting lets a
# probe see the listener answer
for p in 7000 7001; do
	ns_bg api socat "TCP6-LISTEN:$p,ipv6only=0,reuseaddr,fork" \
		"SYSTEM:echo api; exec cat >>$NS_TMP/recv$p"
done
for i in $(seq 50); do
	[ "$(probe tcp api 10.77.0.21 7000)$(probe tcp api 10.77.0.21 7001)" = passpass ] &&
		break
	sleep 0.1
done

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null

# three long-lived connections: 7000 over IPv4 and IPv6, 7001 over IPv4.
# What each talker has written is also in sentTAG. 1200 lines take a
# minute: they outlast every check below.
talk() { # PORT ADDR TAG
	ns_bg web bash -c "for i in \$(seq 1200); do echo $3-\$i; sleep 0.05;
		done | tee $NS_TMP/sent$3 | socat -t20 - TCP:$2:$1 >/dev/null"
}
talk 7000 10.77.0.21 v4
talk 7000 '[fd77::21]' v6
talk 7001 10.77.0.21 keep

# (grep -c prints 0 and fails when nothing matches: one number either way)
lines() { local n; n=$(grep -c "^$2-" "$NS_TMP/recv$1" 2>/dev/null); echo "${n:-0}"; }
sent() { local n; n=$(grep -c "^$1-" "$NS_TMP/sent$1" 2>/dev/null); echo "${n:-0}"; }
# segs ADDR PORT: the data segments web's connections to ADDR:PORT have
# sent (retransmissions too: a cut connection keeps trying)
segs() {
	nsx web ss -tinH state established dst "$1" dport = ":$2" |
		grep -o 'data_segs_out:[0-9]*' |
		awk -F: '{ n += $2 } END { print n + 0 }'
}
# watch_cut PORT TAG ADDR: a cut is only shown while the talker is still
# talking. Waits (60 s at most) until TAG's talker has written 20 more
# lines and its socket has sent more data segments; sets W_WROTE, W_SEGS
# and W_GOT: how many of the lines written from now on arrived. (Lines
# sent before the cut may still land; tee may not have logged the last
# of them yet: one line of slack.)
watch_cut() {
	local s g i

	s=$(sent "$2") g=$(segs "$3" "$1")
	for i in $(seq 600); do
		[ "$(sent "$2")" -ge $((s + 20)) ] &&
			[ "$(segs "$3" "$1")" -gt "$g" ] && break
		sleep 0.1
	done
	W_WROTE=$(($(sent "$2") - s))
	W_SEGS=$(($(segs "$3" "$1") - g))
	W_GOT=$(awk -F- -v t="$2" -v n=$((s + 1)) '$1 == t && $2 > n { c++ }
		END { print c + 0 }' "$NS_TMP/recv$1")
}

for i in $(seq 300); do
	[ "$(lines 7000 v4)" -gt 5 ] && [ "$(lines 7000 v6)" -gt 5 ] &&
		[ "$(lines 7001 keep)" -gt 5 ] && break
	sleep 0.1
done
[ "$(lines 7000 v4)" -gt 5 ]; ok $? "IPv4 connection on 7000 established"
[ "$(lines 7000 v6)" -gt 5 ]; ok $? "IPv6 connection on 7000 established"
[ "$(lines 7001 keep)" -gt 5 ]; ok $? "connection on 7001 established"

cp "$NS_TMP/b.yaml" "$NS_TMP/policy.yaml"
out=$(bhctl reload)
ok $? "reload without tcp/7000"
# inotify sees the copy too and reloads again: count every cut
cut=$(bhctl status --json | jq .counters.conntrack_cut)
[ "$cut" -ge 2 ]; ok $? "reloads cut $cut conntrack entries ($out)"

k=$(lines 7001 keep)
watch_cut 7000 v4 10.77.0.21
[ "$W_WROTE" -ge 20 ] && [ "$W_SEGS" -gt 0 ]
ok $? "the IPv4 talker on 7000 still writes ($W_WROTE lines) and sends ($W_SEGS segments)"
is "$W_GOT" 0 "  none of that arrives: its connection of the removed flow is cut"
watch_cut 7000 v6 "[fd77::21]"
[ "$W_WROTE" -ge 20 ] && [ "$W_SEGS" -gt 0 ]
ok $? "the IPv6 talker on 7000 still writes ($W_WROTE lines) and sends ($W_SEGS segments)"
is "$W_GOT" 0 "  none of that arrives: its connection of the removed flow is cut"
[ "$(lines 7001 keep)" -gt "$k" ]; ok $? "connection of the kept flow still flows"
# control: api itself (no container may reach 7000 any more)
is "$(probe_deny api tcp web 10.77.0.21 7000)" drop "a new connection on 7000 drops"

n=$(nsx host conntrack -L -p tcp --dport 7000 --state ESTABLISHED 2>/dev/null |
	grep -c ESTABLISHED)
is "$n" 0 "no established conntrack entry left for tcp/7000"

# a relabel that moves web out of its group cuts what the new group may
# not do: the 7001 connection too
c0=$(bhctl status --json | jq .counters.conntrack_cut)
bhd_attach web bulkhead.purpose=nothing >/dev/null
ok $? "relabel web to a label no group matches"
c1=$(bhctl status --json | jq .counters.conntrack_cut)
[ "$c1" -gt "$c0" ]; ok $? "the relabel cut conntrack entries ($c0 -> $c1)"
watch_cut 7001 keep 10.77.0.21
[ "$W_WROTE" -ge 20 ] && [ "$W_SEGS" -gt 0 ]
ok $? "the 7001 talker still writes ($W_WROTE lines) and sends ($W_SEGS segments)"
is "$W_GOT" 0 "  none of that arrives: the 7001 connection stopped after the relabel"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
