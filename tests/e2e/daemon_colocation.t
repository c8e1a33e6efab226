#!/bin/bash
# Co-location (NIST SP 800-190 4.3.4, settings.colocation): with mode
# enforce, the container whose arrival mixes forbidden levels on this
# host is held in quarantine (no flows, recorded) until the conflict ends,
# and the choice is the same after a daemon restart (arrival times from
# the state file); with mode warn it runs and is reported. Real traffic.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add client 10.77.0.11 fd77::11
# zdb (restricted) comes first; its id sorts after web's, so that only
# the arrival times, not the ids, can keep web the held one after a
# restart
ns_add zdb 10.77.0.21 fd77::21
ns_add web 10.77.0.31 fd77::31
ns_add db2 10.77.0.22 ""
serve_tcp zdb 80
serve_tcp web 80
serve_tcp db2 80

policy() { # MODE
	cat <<EOF2
version: 1
settings:
  colocation: { mode: $1, forbid: [[restricted, low]] }
groups:
  client: { match: { purpose: client } }
  web: { match: { purpose: web }, sensitivity: low }
  db: { match: { purpose: database }, sensitivity: restricted }
flows:
  - { from: client, to: [web, db], ports: [tcp/80] }
EOF2
}
policy enforce >"$NS_TMP/policy.yaml"
"$BH_CTL" check --strict "$NS_TMP/policy.yaml" >/dev/null 2>&1
ok $? "the policy with a colocation setting is clean"
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
bhd_attach client bulkhead.purpose=client >/dev/null
bhd_attach zdb bulkhead.purpose=database >/dev/null
is "$(probe_want pass tcp client 10.77.0.21 80)" pass "client -> zdb passes"
bhd_attach web bulkhead.purpose=web >/dev/null
ok $? "web (low) attaches beside zdb (restricted)"

held() { bhctl status --json | jq -r '[.colocation.held[].name] | join(",")'; }
is "$(held)" web "status: web, whose arrival mixes the levels, is held"
is "$(bhctl status --json | jq -r '.containers[] | select(.name == "web") |
	.group + " " + .colocation')" "web held" \
	"  its group stays web, its state says held"
is "$(probe_deny web tcp client 10.77.0.31 80)" drop \
	"client -> web drops: web is in quarantine"
bhctl status | grep -q "^co-location (enforce): 1 held in quarantine, 0 mixing, 1 conflicts reported; web$"
ok $? "status (text) says who is held"
is "$(probe_want pass tcp client 10.77.0.21 80)" pass "client -> zdb still passes"
[ "$(bhd_counter colocation)" -ge 1 ]; ok $? "the colocation counter counts it"
for i in $(seq 100); do
	grep -q '"colocation"' "$BHD_DENIED" 2>/dev/null && break
	sleep 0.1
done
rec=$(grep '"action":"colocation"' "$BHD_DENIED" | head -1)
is "$(echo "$rec" | jq -r '.bulkhead.colocation + " " + .source.container.name + "/" + .source.sensitivity + " " + .destination.container.name + "/" + .destination.sensitivity')" \
	"held web/low zdb/restricted" \
	"a record action colocation names both containers and both levels"
grep -q "co-location: container web" "$BHD_LOG"
ok $? "the log says it (journald under systemd)"

# A restart in between: the state file's arrival times decide again.
bhd_stop; ok $? "bulkheadd stops"
jq -en 'input | ([.[] | select(.since > 0)] | length == 3)' "$BHD_STATE/inventory.json" \
	>/dev/null 2>&1 || grep -q '"since"' "$BHD_STATE/inventory.journal"
ok $? "the state file holds each container's arrival time"
nlog=$(wc -l <"$BHD_LOG")
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon restarts"; done_testing; }
is "$(held)" web "after the restart web is still the one held"
tail -n +$((nlog + 1)) "$BHD_LOG" | grep -q "co-location: container web (id-web, low) shares this host's kernel with zdb (id-zdb, restricted).*held in quarantine"
ok $? "  and the restarted daemon's log says so"
is "$(probe_deny web tcp client 10.77.0.31 80)" drop \
	"client -> web still drops after the restart"
is "$(probe_want pass tcp client 10.77.0.21 80)" pass \
	"client -> zdb still passes after the restart"

# The conflict ends: web leaves quarantine in one transaction.
d0=$(bhd_counter commits_delta)
bhctl detach --id id-zdb >/dev/null
ok $? "zdb detaches"
is "$(held)" "" "no container is held any more"
is "$(probe_want pass tcp client 10.77.0.31 80)" pass \
	"client -> web passes: web left quarantine"
d1=$(bhd_counter commits_delta)
is "$((d1 - d0))" 2 "  the detach and the release: one delta transaction each"
grep -q '"colocation":"released"' "$BHD_DENIED"
ok $? "a record says web was released"
kernel_matches_model
ok $? "the kernel's table is the daemon's model"

# zdb comes back: now it is the later arrival and is held.
bhd_attach zdb bulkhead.purpose=database >/dev/null
is "$(held)" zdb "zdb, arriving after web, is held now"
is "$(probe_deny zdb tcp client 10.77.0.21 80)" drop "client -> zdb drops"

# Mode warn: the mixing container runs, and is reported.
policy warn >"$NS_TMP/policy.yaml"
bhctl reload >/dev/null
ok $? "reload with mode warn"
is "$(held)" "" "warn holds nobody"
is "$(probe_want pass tcp client 10.77.0.21 80)" pass "client -> zdb passes"
n0=$(grep -c '"action":"colocation"' "$BHD_DENIED")
bhd_attach db2 bulkhead.purpose=database >/dev/null
is "$(bhctl status --json | jq -r '[.colocation.mixing[].name] | sort | join(",")')" \
	"db2,zdb" "status lists zdb and db2 as mixing"
is "$(probe_want pass tcp client 10.77.0.22 80)" pass "client -> db2 passes (warn)"
for i in $(seq 100); do
	[ "$(grep -c '"action":"colocation"' "$BHD_DENIED")" -gt "$n0" ] && break
	sleep 0.1
done
rec=$(grep '"action":"colocation"' "$BHD_DENIED" | tail -1)
is "$(echo "$rec" | jq -r '.bulkhead.colocation + " " + .bulkhead.mode + " " + .source.container.name + " " + .destination.container.name')" \
	"mixing warn db2 web" "a warn record names db2 and web"

# web goes: zdb and db2 no longer mix (warn: nothing moves in the kernel)
d0=$(bhd_counter commits_delta)
bhctl detach --id id-web >/dev/null
is "$(bhctl status --json | jq -r '[.colocation.mixing[].name] | join(",")')" "" \
	"web detached: nobody mixes any more"
is "$(( $(bhd_counter commits_delta) - d0 ))" 1 "  one delta: web's detach only"
is "$(grep -c '"colocation":"released"' "$BHD_DENIED")" 3 \
	"  zdb and db2 are recorded as released (web earlier)"
is "$(probe_want pass tcp client 10.77.0.21 80)" pass "client -> zdb passes"
kernel_matches_model
ok $? "the kernel's table is the daemon's model"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
