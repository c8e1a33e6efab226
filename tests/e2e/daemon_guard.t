#!/bin/bash
# --guard-ports: a host-side port with a guarded name prefix must belong
# to an attached container. Until its container is attached (the Docker
# window between start and inspect, a container the daemon does not know)
# its frames are judged as from a container of group unassigned with no
# address: dropped, counted and logged. After the attach, the policy
# decides as usual; a port with another prefix is not ours to judge.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21

cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
serve_tcp api 8080

bhd_start "$NS_TMP/policy.yaml" --guard-ports v- ||
	{ fail "daemon starts"; done_testing; }
bhctl ruleset >"$NS_TMP/rs"
# the three drops for ports no container was attached to, after the
# ports map's own (a known port is counted in its group's counter first)
is "$(grep -c 'iifname "v-\*" meta protocol ip6\? counter name "spoofed_unassigned" log prefix "bh/spoof/unassigned/deny" group 4200 drop\|iifname "v-\*" ether type arp counter name "spoofed_unassigned"' "$NS_TMP/rs")" 3 \
	"ports of no container with the v- prefix are counted in spoofed_unassigned"
grep -n 'counter name iifname map @ports\|iifname "v-\*"' "$NS_TMP/rs" | head -1 | grep -q '@ports'
ok $? "after the drops of the ports the map knows"

bhd_attach api bulkhead.purpose=api >/dev/null
# web is running but not attached: its port is unknown
# (each drop's control is the unfiltered path, from the destination
# itself: no attached container may reach api:8080 or the host)
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "an unattached container's port sends nothing"
is "$(probe_deny api tcp web fd77::21 8080)" drop "... over IPv6 either"
is "$(probe_deny host icmp web "$NS_BR4")" drop "not even to the host"
is "$(nft_host list counter bridge bulkhead spoofed_unassigned |
	awk '/packets/ {print ($2 > 0)}')" 1 "counted in spoofed_unassigned"
for i in $(seq 30); do
	grep -q '"group":"unassigned"' "$BHD_DENIED" 2>/dev/null && break
	sleep 0.1
done
jq -c 'select(.event.action == "spoof") | [.source.ip, .source.group]' \
	"$BHD_DENIED" 2>/dev/null | grep -q '"unassigned"'
ok $? "and logged as spoofing from unassigned: $(jq -c 'select(.event.action == "spoof") | [.source.ip, .source.group, .destination.ip]' "$BHD_DENIED" | head -1)"

bhd_attach web bulkhead.purpose=web >/dev/null
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "attached, the declared flow passes"
is "$(probe_want pass tcp web fd77::21 8080)" pass "... over IPv6"
bhctl detach --id id-web >/dev/null
is "$(probe_deny api tcp web 10.77.0.21 8080)" drop "detached, its port is unknown again"

# the same table without the option: unknown ports pass as before
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon restarts"; done_testing; }
bhctl ruleset | grep -q 'a port no container was attached to'
is $? 1 "without --guard-ports there are no drops for ports of no container"
is "$(probe_want pass icmp web "$NS_BR4")" pass "and an unknown port's traffic to the host is not ours to judge"

# what we print is what nft -f loads, and what the kernel holds (the
# ruleset with the guard)
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
bhd_start "$NS_TMP/policy.yaml" --guard-ports v- --guard-ports x- ||
	{ fail "daemon restarts with two prefixes"; done_testing; }
kernel_matches_model
ok $? "the kernel holds the printed ruleset (nft -f loads it elsewhere)"
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag

nsx host "$BH_D" --guard-ports 'v*' --policy "$NS_TMP/policy.yaml" 2>"$NS_TMP/err"
is $? 2 "a prefix with a wildcard is refused"
grep -q "expected an interface name prefix" "$NS_TMP/err"; ok $? "with a message"
done_testing
