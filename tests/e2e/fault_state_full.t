#!/bin/bash
# The state dir on a full tmpfs: attaches and detaches go on in the kernel,
# `bulkheadctl status` says the state is not saved (and why), the journal
# never keeps a torn line in its middle; once the disk has room again the
# daemon saves by itself (no new change needed), and after a kill -9 and a
# restart the state holds exactly the containers the daemon had, and the
# restarted daemon enforces them.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
STATE_MNT=
cleanup() {
	local rc=$?

	trap - EXIT
	[ -n "$STATE_MNT" ] && umount -l "$STATE_MNT" 2>/dev/null
	(exit $rc)
	ns_cleanup
}
trap cleanup EXIT
mkdir -p "$BHD_STATE"
mount -t tmpfs -o size=256k,mode=0750 bh-state-full "$BHD_STATE" ||
	skip_all "cannot mount a tmpfs"
STATE_MNT=$BHD_STATE
for n in 1 2 3 4 5 6; do
	ns_add "c$n" "10.77.0.1$n" "" || exit 2
done
cat >"$NS_TMP/policy.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon starts"; done_testing; }
st() { bhctl status --json | jq -c "$1"; }
bhd_attach c1 bulkhead.purpose=web >/dev/null
bhd_attach c2 bulkhead.purpose=api >/dev/null
is "$(st '.state.saved')" true "disk has room: status says the state is saved"

# fill it: the journal's last page keeps whatever room it had, so the next
# appends fit until one is cut short at the page's end
dd if=/dev/zero of="$BHD_STATE/fill" bs=4k 2>/dev/null
dd if=/dev/zero of="$BHD_STATE/fill2" bs=64 2>/dev/null
is "$(df --output=avail "$BHD_STATE" | tail -1 | tr -d ' ')" 0 "the state tmpfs is full"
for n in 3 4 5; do
	bhd_attach "c$n" bulkhead.purpose=web >/dev/null
	ok $? "full disk: attach c$n still succeeds"
done
bhd_attach c6 bulkhead.purpose=api >/dev/null
# 20 relabels (a label no group reads): more lines than a page holds
r=0
for i in 1 2 3 4 5; do
	for n in 3 4 5; do
		bhd_attach "c$n" bulkhead.purpose=web "round=$i" >/dev/null ||
			r=1
	done
	bhd_attach c6 bulkhead.purpose=api "round=$i" >/dev/null || r=1
done
ok $r "full disk: 20 relabels succeed"
bhctl detach --id id-c1 >/dev/null
ok $? "full disk: detach c1 still succeeds"
is "$(st '.state.saved')" false "status says the state is not saved"
st '.state.error' | grep -q 'No space left on device'
ok $? "... and why ($(st '.state.error'))"
[ "$(st '.counters.state_errors')" -ge 1 ] 2>/dev/null
ok $? "state_errors counts the failed writes ($(st '.counters.state_errors'))"
bhctl status | grep -q 'state: NOT SAVED'
ok $? "bulkheadctl status (text) says so"
serve_tcp c6 8080
serve_tcp c3 8080
is "$(probe_want pass tcp c3 10.77.0.16 8080)" pass \
	"enforcement goes on: c3 -> c6 (web -> api, both attached on the full disk) passes"
is "$(probe_deny c3 tcp c6 10.77.0.13 8080)" drop \
	"... and api -> web drops"
bad=$(awk '!/^\{.*\}$/ { n++ } END { print n + 0 }' \
	"$BHD_STATE/inventory.journal")
is "$bad" 0 "the journal holds only whole lines (a short write is taken back)"

rm -f "$BHD_STATE/fill" "$BHD_STATE/fill2"
for _ in $(seq 150); do
	[ "$(st '.state.saved')" = true ] && break
	sleep 0.1
done
is "$(st '.state.saved')" true "room again: the daemon saves by itself, status says saved"
want=$(bhctl status --json | jq -r '[.containers[].id] | sort | join(" ")')
is "$want" "id-c2 id-c3 id-c4 id-c5 id-c6" "the daemon has c2..c6"
bhd_kill9
jq -en 'input | (type == "array")' "$BHD_STATE/inventory.json" >/dev/null
ok $? "after kill -9: the snapshot parses"
jq -c . "$BHD_STATE/inventory.journal" >/dev/null
ok $? "... and so does every journal line"
is "$(bhd_state_ids | tr '\n' ' ')" "id-c2 id-c3 id-c4 id-c5 id-c6 " \
	"the durable state names exactly those containers"
bhd_start "$NS_TMP/policy.yaml" || { fail "daemon restarts"; done_testing; }
pass "the daemon restarts on that state"
is "$(bhctl status --json | jq -r '[.containers[].id] | sort | join(" ")')" \
	"$want" "and has the same containers"
is "$(probe_want pass tcp c3 10.77.0.16 8080)" pass "c3 -> c6 passes"
is "$(probe_deny c3 tcp c6 10.77.0.13 8080)" drop "c6 -> c3 drops"

# a start on a full disk: the snapshot cannot be rewritten, the state read
# stands, and it is saved once there is room
bhd_kill9
dd if=/dev/zero of="$BHD_STATE/fill" bs=4k 2>/dev/null
dd if=/dev/zero of="$BHD_STATE/fill2" bs=64 2>/dev/null
bhd_start "$NS_TMP/policy.yaml"
ok $? "the daemon starts on a full state disk" || { bhd_log_diag; done_testing; }
is "$(bhctl status --json | jq -r '[.containers[].id] | sort | join(" ")')" \
	"$want" "with the containers of its state"
is "$(st '.state.saved')" false "status says the state is not saved"
is "$(probe_want pass tcp c3 10.77.0.16 8080)" pass "and it enforces: c3 -> c6 passes"
rm -f "$BHD_STATE/fill" "$BHD_STATE/fill2"
for _ in $(seq 150); do
	[ "$(st '.state.saved')" = true ] && break
	sleep 0.1
done
is "$(st '.state.saved')" true "room again: saved by itself"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
