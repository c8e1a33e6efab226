#!/bin/bash
# Boundaries in the kernel, judged by each container's own labels as well
# as its group's: a container labelled bulkhead.sensitivity=restricted in
# a permissive group refuses an exposed source that the group's flows
# allow, a container labelled bulkhead.risk=exposed cannot reach a
# restricted group its group may reach, and the drops are records that
# name the boundary. Relabelling moves a container out of the sets.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add edge 10.77.0.11 fd77::11
ns_add app1 10.77.0.21 fd77::21
ns_add vault 10.77.0.22 fd77::22
ns_add rogue 10.77.0.23 fd77::23
ns_add db 10.77.0.31 fd77::31
serve_tcp app1 8080
serve_tcp vault 8080
serve_tcp db 5432

cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  edge: { match: { purpose: edge }, risk: exposed }
  app: { match: { purpose: app }, intra: deny }
  db: { match: { purpose: database }, sensitivity: restricted }
boundaries:
  exposed-restricted:
    from: { risk: exposed }
    to: { sensitivity: restricted }
flows:
  - { from: edge, to: app, ports: [tcp/8080, tcp/7000] }
  - { from: app, to: db, ports: [tcp/5432] }
EOF2
"$BH_CTL" check --strict "$NS_TMP/policy.yaml" >/dev/null 2>&1
ok $? "the policy is clean: no declared flow crosses the boundary"
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach edge bulkhead.purpose=edge >/dev/null
bhd_attach app1 bulkhead.purpose=app >/dev/null
bhd_attach vault bulkhead.purpose=app bulkhead.sensitivity=restricted >/dev/null
bhd_attach rogue bulkhead.purpose=app bulkhead.risk=exposed >/dev/null
bhd_attach db bulkhead.purpose=database >/dev/null

counter() {
	nft_host -j list counter inet bulkhead "$1" |
		jq '.nftables[] | select(.counter) | .counter.packets'
}
c0=$(counter boundary_exposed-restricted)

is "$(probe_want pass tcp edge 10.77.0.21 8080)" pass \
	"edge -> app1:8080 passes (declared)"
is "$(probe_deny vault tcp edge 10.77.0.22 8080)" drop \
	"edge -> vault:8080 drops: vault's own label says restricted"
is "$(probe_deny vault tcp edge fd77::22 8080)" drop "  and over IPv6"
is "$(probe_want pass tcp app1 10.77.0.31 5432)" pass \
	"app1 -> db:5432 passes (declared)"
is "$(probe_deny app1 tcp rogue 10.77.0.31 5432)" drop \
	"rogue -> db:5432 drops: rogue's own label says exposed"
is "$(probe_deny app1 tcp rogue fd77::31 5432)" drop "  and over IPv6"

c1=$(counter boundary_exposed-restricted)
[ "$c1" -ge $((c0 + 4)) ]
ok $? "the boundary's counter counted the drops ($c0 -> $c1)"
kernel_matches_model
ok $? "the kernel's table is the daemon's model, label sets included"
st=$(bhctl status --json | jq -r '.boundaries[0] | .name + " " + (.packets >= 4 | tostring)')
is "$st" "exposed-restricted true" "status lists the boundary with its drops"
bhctl status | grep -q "^boundary exposed-restricted (.*policy.yaml:7:3): [0-9]* packets dropped$"
ok $? "  also in its text"

for i in $(seq 100); do
	[ "$(grep -c '"boundary/exposed-restricted"' "$BHD_DENIED" 2>/dev/null)" -ge 2 ] &&
		break
	sleep 0.1
done
rec=$(grep '"boundary/exposed-restricted"' "$BHD_DENIED" |
	jq -c 'select(.destination.ip == "10.77.0.22")' | head -1)
[ -n "$rec" ]; ok $? "a record of edge -> vault names the boundary"
is "$(echo "$rec" | jq -r '.event.action')" deny "  action deny"
is "$(echo "$rec" | jq -r '.source.container.name + " " + .source.group')" \
	"edge edge" "  source container and group by address"
is "$(echo "$rec" | jq -r '.destination.container.name + " " + .destination.group')" \
	"vault app" "  destination container and its (permissive) group"
rec=$(grep '"boundary/exposed-restricted"' "$BHD_DENIED" |
	jq -c 'select(.source.ip == "10.77.0.23")' | head -1)
is "$(echo "$rec" | jq -r '.destination.group')" db \
	"a record of rogue -> db names the boundary and db"

x=$(bhctl explain --from edge --to vault --port tcp/8080 --json)
is "$(echo "$x" | jq -r '.verdict + " " + .chain')" \
	"deny boundary_exposed-restricted" "explain: the boundary denies edge -> vault"
is "$(bhctl explain --from app1 --to db --port tcp/5432 --json | jq -r .verdict)" \
	allow "explain: app1 -> db is allowed"

# Relabelled without the label: out of sens_restricted in one delta.
bhd_attach vault bulkhead.purpose=app >/dev/null
is "$(probe_want pass tcp edge 10.77.0.22 8080)" pass \
	"vault relabelled without restricted: edge -> vault passes"
nft_host list set inet bulkhead sens_restricted_v4 | grep -q 10.77.0.22
ok $((! $?)) "  its address left sens_restricted_v4"
nft_host list set inet bulkhead sens_restricted_v4 | grep -q 10.77.0.31
ok $? "  db's stayed"
kernel_matches_model
ok $? "the kernel still equals the model after the relabel"

# An established connection that a relabel puts across the boundary is
# cut, as a regroup cuts (the conntrack cut judges boundaries too).
ns_bg vault socat "TCP6-LISTEN:7000,ipv6only=0,reuseaddr,fork" \
	"SYSTEM:exec cat >/dev/null"
sleep 0.3
ns_bg edge bash -c "for i in \$(seq 1200); do echo x-\$i; sleep 0.05; done |
	socat -t20 - TCP:10.77.0.22:7000 >/dev/null"
est() {
	nsx host conntrack -L -p tcp --dport 7000 --state ESTABLISHED 2>/dev/null |
		grep -c ESTABLISHED
}
for i in $(seq 100); do
	[ "$(est)" -ge 1 ] && break
	sleep 0.1
done
is "$(est)" 1 "edge -> vault:7000 established while vault is not restricted"
c0=$(bhctl status --json | jq .counters.conntrack_cut)
bhd_attach vault bulkhead.purpose=app bulkhead.sensitivity=restricted >/dev/null
c1=$(bhctl status --json | jq .counters.conntrack_cut)
[ "$c1" -gt "$c0" ]
ok $? "relabelled restricted again: the cut deleted conntrack entries ($c0 -> $c1)"
sleep 1
is "$(est)" 0 "  and the talker's next segments do not re-establish it"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
