#!/bin/bash
# bulkheadctl posture on a live host with a real Podman: a container run
# with --network host shares the host's network namespace, so no policy
# can hold it; posture reports it (NIST SP 800-190 4.3.3) from the Engine
# API's network mode, beside the daemon's own containers, and stops
# reporting it once it is gone.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
ns_init
pm_init || { echo "Bail out! cannot build the rootfs"; exit 2; }
cat >"$NS_TMP/policy.yaml" <<'YAML'
version: 1
groups:
  web: { match: { purpose: web }, sensitivity: low }
  api: { match: { purpose: api }, sensitivity: low }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
YAML

pm_service_start || { echo "Bail out! podman system service did not start"; exit 2; }
pm_net NET1 10.89.0.0/24 || exit 2
pm_run web "$NET1" bulkhead.purpose=web >/dev/null || exit 2
pm run -d --name hostnet --network host --label bulkhead.purpose=api \
	--rootfs "$PM_ROOTFS" /bin/sleep 3600 >/dev/null
ok $? "podman runs a container with --network host"
bhd_start "$NS_TMP/policy.yaml" --engine "unix://$PM_SOCK" ||
	{ fail "bulkheadd up"; done_testing; }
for i in $(seq 150); do
	[ "$(bhctl status --json | jq '[.containers[] | select(.name == "web")] | length')" = 1 ] &&
		break
	sleep 0.1
done
is "$(bhctl status --json | jq -r '[.containers[].name] | sort | join(",")')" \
	web "the daemon holds web; the host-network container has no address to hold"

bhctl posture --json >"$NS_TMP/p.json" 2>"$NS_TMP/p.err"
is $? 1 "posture exits 1: there is a finding"
f=$(jq -c '.findings[] | select(.kind == "host-network")' "$NS_TMP/p.json")
is "$(echo "$f" | jq -r '.subjects[0]')" hostnet "the host-network container is reported"
is "$(echo "$f" | jq -r '.section')" 4.3.3 "  under NIST SP 800-190 4.3.3"
echo "$f" | jq -r .finding | grep -q "shares the host's network namespace (network mode host, engine unix://$PM_SOCK): no policy can hold it"
ok $? "  saying no policy can hold it, and which engine runs it"
is "$(echo "$f" | jq -r '.quote')" \
	"Orchestrators should be configured to separate network traffic into discrete virtual networks by sensitivity level." \
	"  with the words of the section"
is "$(jq '.containers' "$NS_TMP/p.json")" 1 "the daemon's containers are counted"
is "$(jq -r '.policy' "$NS_TMP/p.json")" "$NS_TMP/policy.yaml" \
	"the policy is the daemon's"
bhctl posture >"$NS_TMP/p.txt" 2>&1
grep -q "host-network \[§4.3.3\]" "$NS_TMP/p.txt"; ok $? "the text form says it too"

pm rm -f -t 0 hostnet >/dev/null
bhctl posture --json >"$NS_TMP/p2.json" 2>/dev/null
is $? 0 "with the host-network container gone, posture is clean (exit 0)"
is "$(jq '.findings | length' "$NS_TMP/p2.json")" 0 "  and has no finding"

pm_service_stop
bhctl posture >/dev/null 2>"$NS_TMP/p3.err"
is $? 2 "an engine that cannot be asked: exit 2"
grep -q "host-network containers are not known" "$NS_TMP/p3.err"
ok $? "  saying what is not known"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
