#!/bin/bash
# A bad policy changes nothing: `bulkheadctl reload` prints every error
# with file:line:col and exits 1, SIGHUP and inotify reloads log them, and
# the old policy keeps enforcing. A good edit is picked up by inotify.
# At start-up a bad policy is fatal when there is no table, and with a
# table in the kernel the daemon keeps that table enforcing and waits for
# a good policy.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 fd77::11
ns_add api 10.77.0.21 fd77::21
serve_tcp api 8080
serve_tcp api 8081
serve_tcp web 80

cat >"$NS_TMP/good.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
cat >"$NS_TMP/bad.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: nosuch, ports: [tcp/8081] }
  - { from: web, to: api, ports: [tcp/70000] }
EOF
sed 's|ports: \[tcp/8080\]|ports: [tcp/8080, tcp/8081]|' "$NS_TMP/good.yaml" \
	>"$NS_TMP/better.yaml"
mkdir "$NS_TMP/groups"
P=$NS_TMP/groups/policy.yaml
cp "$NS_TMP/good.yaml" "$P"

# a directory as the policy path: inotify watches it
bhd_start "$NS_TMP/groups" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
rs=$(bhctl ruleset)
is "$(probe tcp web 10.77.0.21 8080)" pass "8080 allowed"
is "$(probe_deny api tcp web 10.77.0.21 8081)" drop "8081 denied"

cp "$NS_TMP/bad.yaml" "$P"
bhctl reload >"$NS_TMP/out" 2>"$NS_TMP/err"
is $? 1 "reload of a bad policy exits 1"
grep -q "policy.yaml:6:[0-9]*: error: .*nosuch" "$NS_TMP/err"
ok $? "prints the unknown group with file:line:col"
grep -q "policy.yaml:7:[0-9]*: error:" "$NS_TMP/err"
ok $? "prints the bad port with file:line:col"
grep -q "not reloading" "$NS_TMP/err"; ok $? "says it is not reloading"
is "$(bhctl ruleset)" "$rs" "the ruleset did not change"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "8080 still allowed"
is "$(probe_deny api tcp web 10.77.0.21 8081)" drop "8081 still denied"
st=$(bhctl status --json)
is "$(echo "$st" | jq -r .last_reload.ok)" false "status: last reload failed"
[ "$(echo "$st" | jq '.last_reload.errors | length')" -ge 2 ]
ok $? "status lists the errors"
is "$(echo "$st" | jq -r '.policy.flows')" 1 "status: the old policy is in force"

kill -HUP "$BHD_PID"
# the unchanged ruleset below means something only once the reload is done
for i in $(seq 100); do
	[ "$(bhctl status --json | jq -r .last_reload.trigger)" = SIGHUP ] && break
	sleep 0.1
done
is "$(bhctl status --json | jq -r '[.last_reload.trigger, .last_reload.ok] |
	join(",")')" SIGHUP,false "SIGHUP reloads (and fails: status says so)"
grep -q "SIGHUP" "$BHD_LOG"; ok $? "and logs it"
kill -0 "$BHD_PID"; ok $? "and the daemon lives on"
is "$(bhctl ruleset)" "$rs" "the ruleset did not change after SIGHUP"

# a good edit is picked up by inotify, no command needed
n0=$(bhctl status --json | jq .counters.reloads)
cp "$NS_TMP/better.yaml" "$P"
for i in $(seq 50); do
	[ "$(bhctl status --json | jq -r .last_reload.ok)" = true ] && break
	sleep 0.1
done
st=$(bhctl status --json)
is "$(echo "$st" | jq -r .last_reload.trigger)" inotify "inotify reloaded the edit"
is "$(echo "$st" | jq -r .policy.flows)" 1 "new policy in force"
is "$(probe_want pass tcp web 10.77.0.21 8081)" pass "8081 now allowed"

# start-up: bad policy with the table present -> keep enforcing
bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
cp "$NS_TMP/bad.yaml" "$P"
bhd_start "$NS_TMP/groups"
ok $? "starts with a bad policy while a table is in the kernel"
grep -q "keeping the table inet bulkhead" "$BHD_LOG"; ok $? "and says so"
st=$(bhctl status --json)
is "$(echo "$st" | jq -r .policy)" null "status: no policy in force"
echo "$st" | jq -en 'input | .degraded' >/dev/null; ok $? "status explains the degraded mode"
is "$(echo "$st" | jq '.containers | length')" 2 "status still lists the restored containers"
is "$(probe_want pass tcp web 10.77.0.21 8081)" pass "the old table still allows 8081"
is "$(probe_deny web tcp api 10.77.0.11 80)" drop "and still denies api -> web"
bhd_attach web bulkhead.purpose=web >/dev/null 2>&1
is $? 1 "attach is refused without a policy"
cp "$NS_TMP/good.yaml" "$P"
bhctl reload >/dev/null
ok $? "a good policy loads"
is "$(probe_deny api tcp web 10.77.0.21 8081)" drop "and is enforced (8081 denied again)"
is "$(probe_want pass tcp web 10.77.0.21 8080)" pass "with the restored containers (8080 allowed)"

# start-up: bad policy and no table -> fatal, nothing created
bhd_stop; ok $? "bulkheadd started degraded exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
nft_host delete table inet bulkhead
nft_host delete table bridge bulkhead 2>/dev/null
cp "$NS_TMP/bad.yaml" "$P"
bhd_spawn "$NS_TMP/groups"
wait "$BHD_PID"
is $? 1 "a bad policy with no table is fatal"
BHD_PID=
grep -q "nothing to enforce" "$BHD_LOG"; ok $? "and says why"
nft_host list table inet bulkhead >/dev/null 2>&1
is $? 1 "no table was created"

done_testing
