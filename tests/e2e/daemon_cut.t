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

for p in 7000 7001; do
	ns_bg api socat -u "TCP6-LISTEN:$p,ipv6only=0,reuseaddr,fork" \
		"OPEN:$NS_TMP/recv$p,creat,append"
done
sleep 0.3

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null

# three long-lived connections: 7000 over IPv4 and IPv6, 7001 over IPv4
talk() { # PORT ADDR TAG
	ns_bg web bash -c "for i in \$(seq 400); do echo $3-\$i; sleep 0.05;
		done | socat -t20 - TCP:$2:$1 >/dev/null"
}
talk 7000 10.77.0.21 v4
talk 7000 '[fd77::21]' v6
talk 7001 10.77.0.21 keep
sleep 1

lines() { grep -c "^$2-" "$NS_TMP/recv$1" 2>/dev/null || echo 0; }
[ "$(lines 7000 v4)" -gt 5 ]; ok $? "IPv4 connection on 7000 established"
[ "$(lines 7000 v6)" -gt 5 ]; ok $? "IPv6 connection on 7000 established"
[ "$(lines 7001 keep)" -gt 5 ]; ok $? "connection on 7001 established"

cp "$NS_TMP/b.yaml" "$NS_TMP/policy.yaml"
out=$(bhctl reload)
ok $? "reload without tcp/7000"
# inotify sees the copy too and reloads again: count every cut
cut=$(bhctl status --json | jq .counters.conntrack_cut)
[ "$cut" -ge 2 ]; ok $? "reloads cut $cut conntrack entries ($out)"

sleep 1
a4=$(lines 7000 v4) a6=$(lines 7000 v6) k=$(lines 7001 keep)
sleep 1.5
is "$(lines 7000 v4)" "$a4" "IPv4 connection of the removed flow stopped within a second"
is "$(lines 7000 v6)" "$a6" "IPv6 connection of the removed flow stopped within a second"
[ "$(lines 7001 keep)" -gt "$k" ]; ok $? "connection of the kept flow still flows"
is "$(probe tcp web 10.77.0.21 7000)" drop "a new connection on 7000 drops"

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
sleep 1
k=$(lines 7001 keep)
sleep 1.5
is "$(lines 7001 keep)" "$k" "the 7001 connection stopped after the relabel"

done_testing
