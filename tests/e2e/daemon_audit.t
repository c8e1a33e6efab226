#!/bin/bash
# Audit mode: undeclared traffic into (and out of) an audit group passes,
# is counted by the group's deny counter, is reported as would-deny, and
# explain says so; the enforcing groups around it still drop.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
ns_add metrics 10.77.0.41 fd77::41
ns_add dns 10.77.0.53 fd77::53
serve_tcp metrics 9100
serve_tcp metrics 9999
serve_tcp web 80
serve_udp dns 53

cat >"$NS_TMP/policy.yaml" <<'EOF2'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
  metrics: { match: { purpose: metrics }, mode: audit }
  dns: { cidrs: [10.77.0.53/32, fd77::53/128] }
flows:
  - { from: [web, api], to: metrics, ports: [tcp/9100] }
EOF2
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
bhd_attach metrics bulkhead.purpose=metrics >/dev/null

counter() {
	nft_host -j list counter inet bulkhead "$1" |
		jq '.nftables[] | select(.counter) | .counter.packets'
}
c0=$(counter denied_in_metrics)
o0=$(counter denied_out_metrics)

is "$(probe tcp web 10.77.0.41 9100)" pass "declared web -> metrics 9100 passes"
is "$(probe tcp api 10.77.0.41 9999)" pass "undeclared api -> metrics 9999 passes (audit)"
is "$(probe tcp web fd77::41 9999)" pass "undeclared over IPv6 passes (audit)"
is "$(probe udp metrics 10.77.0.53 53)" pass "undeclared metrics -> dns passes (audit, out)"
is "$(probe_deny web tcp metrics 10.77.0.11 80)" drop "metrics -> web drops: web enforces"

c1=$(counter denied_in_metrics)
o1=$(counter denied_out_metrics)
[ "$c1" -ge $((c0 + 2)) ]; ok $? "denied_in_metrics counted the audited packets ($c0 -> $c1)"
[ "$o1" -ge $((o0 + 1)) ]; ok $? "denied_out_metrics counted ($o0 -> $o1)"

v=$(bhctl explain --from api --to metrics --port tcp/9999 --json | jq -r .verdict)
is "$v" would-deny "explain: would-deny"
bhctl explain --from api --to metrics --port tcp/9999 | grep -q "audit mode"
ok $? "explain says audit mode"
is "$(bhctl status --json | jq -r '.groups[] | select(.name == "metrics") |
	.mode')" audit "status shows the group's mode"

# the denied-flow pipeline writes the first packet of a flow at once
for i in $(seq 40); do
	grep -q '"would-deny"' "$BHD_DENIED" 2>/dev/null && break
	sleep 0.1
done
rec=$(grep '"would-deny"' "$BHD_DENIED" | grep '"port":9999' | head -1)
[ -n "$rec" ]; ok $? "a would-deny record for api -> metrics:9999"
is "$(echo "$rec" | jq -r .destination.group)" metrics "  with the destination group"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
