#!/bin/bash
# Declared flows pass and undeclared ones drop: TCP, UDP, ICMP, IPv4 and
# IPv6, single ports and ranges, intra-group allow and deny, a cidrs group
# on both sides, unassigned containers. Every probe is also asked of
# `bulkheadctl explain`, which must agree with what the kernel did.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web1 10.77.0.11 fd77::11
ns_add web2 10.77.0.12 fd77::12
ns_add api 10.77.0.21 fd77::21
ns_add db1 10.77.0.31 fd77::31
ns_add db2 10.77.0.32 fd77::32
ns_add stray 10.77.0.41 fd77::41
ns_add dns 10.77.0.53 fd77::53

cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
settings: { unassigned: deny }
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  db:  { match: { purpose: database }, intra: deny }
  dns: { cidrs: [10.77.0.53/32, fd77::53/128] }
flows:
  - { from: web, to: api, ports: [tcp/8080, udp/9000-9010, icmp, icmpv6] }
  - { from: api, to: db, ports: [tcp/5432] }
  - { from: web, to: dns, ports: [udp/53, tcp/53] }
  - { from: dns, to: web, ports: [tcp/80] }
EOF

serve_tcp api 8080
serve_tcp api 8081
for p in 8999 9000 9005 9010 9011; do serve_udp api $p; done
serve_tcp web2 80
serve_tcp web1 80
serve_tcp web1 81
serve_tcp db1 5432
serve_tcp db2 5432
serve_tcp stray 8080
serve_udp dns 53
serve_tcp dns 53

bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
for c in web1 web2; do bhd_attach $c bulkhead.purpose=web >/dev/null; done
bhd_attach api bulkhead.purpose=api >/dev/null
for c in db1 db2; do bhd_attach $c bulkhead.purpose=database >/dev/null; done
bhd_attach stray bulkhead.purpose=unknown >/dev/null
is "$(bhctl status --json | jq -r '.containers | length')" 6 "6 attached"

declare -A ADDR
for n in web1 web2 api db1 db2 stray dns; do
	ADDR[$n.4]=${NS_ADDR4[$n]}
	ADDR[$n.6]=${NS_ADDR6[$n]}
done

# check PROTO FROM TO FAMILY PORT WANT [CTRL]: a drop needs CTRL, a peer
# the same probe must pass from (an allowed one, or TO itself), so that a
# dead listener or a sender that sent nothing cannot pass for a drop
check() {
	local proto=$1 from=$2 to=$3 fam=$4 port=$5 want=$6 ctrl=$7 dst got ex
	local xport

	dst=${ADDR[$to.$fam]}
	if [ "$want" = drop ]; then
		got=$(probe_deny "$ctrl" "$proto" "$from" "$dst" "$port")
	else
		got=$(probe_want "$want" "$proto" "$from" "$dst" "$port")
	fi
	is "$got" "$want" "$proto/$port $from -> $to (IPv$fam): $want"
	case $proto in
	icmp) [ "$fam" = 6 ] && xport=icmpv6 || xport=icmp ;;
	*) xport=$proto/$port ;;
	esac
	ex=$(bhctl explain --from "${ADDR[$from.$fam]}" --to "$dst" \
		--port "$xport" --json | jq -r .verdict)
	case $ex in
	allow | would-deny | not-ours) ex=pass ;;
	deny) ex=drop ;;
	esac
	is "$ex" "$got" "  explain agrees ($ex)"
}

# declared
check tcp web1 api 4 8080 pass
check tcp web1 api 6 8080 pass
check udp web1 api 4 9000 pass
check udp web1 api 6 9005 pass
check udp web1 api 4 9010 pass
check icmp web1 api 4 "" pass
check icmp web1 api 6 "" pass
check tcp api db1 4 5432 pass
check tcp api db2 6 5432 pass
# intra-group: web allows, db denies
check tcp web1 web2 4 80 pass
check tcp web2 web1 6 80 pass
check tcp db1 db2 4 5432 drop api
# a cidrs group as destination and as source
check udp web1 dns 4 53 pass
check udp web2 dns 6 53 pass
check tcp web1 dns 4 53 pass
check tcp dns web1 4 80 pass
check tcp dns web1 6 81 drop web2
check udp api dns 4 53 drop web1
# undeclared ports, edges of the range, direction
check tcp web1 api 4 8081 drop api
check udp web1 api 4 8999 drop api
check udp web1 api 6 9011 drop api
check tcp web1 db1 4 5432 drop api
check tcp web1 db1 6 5432 drop api
check icmp api web1 4 "" drop web2
check icmp api web1 6 "" drop web2
# unassigned: no lateral flows either way
check tcp stray api 4 8080 drop web1
check tcp api stray 6 8080 drop stray

# the reasons explain gives
out=$(bhctl explain --from web1 --to api --port tcp/8080)
ok $? "explain exits 0 for an allowed flow"
echo "$out" | grep -q "policy.yaml:9:5" ; ok $? "names the flow's file:line:col"
echo "$out" | grep -q "matches web (purpose=web)"; ok $? "says why web1 is in web"
bhctl explain --from web1 --to db1 --port tcp/5432 >/dev/null
is $? 1 "explain exits 1 for a denied flow"
bhctl explain --from web1 --to db1 --port tcp/99999 >/dev/null 2>&1
is $? 1 "explain refuses a bad port"

# the denied packets were counted in the kernel
n=$(nft_host -j list counters table inet bulkhead | jq '[.nftables[] |
	select(.counter.name? == "denied_in_db") | .counter.packets] | add')
[ "${n:-0}" -ge 3 ]; ok $? "deny counter of db counted the drops ($n)"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag

done_testing
