#!/bin/bash
# Podman's CNI backend with bulkhead-cni chained into its network: Podman
# passes no labels (only the container name in CNI_ARGS), so a new
# container is quarantined from the moment its network exists until the
# Engine API source supplies its labels; then it moves to its group (same
# id, one transaction). Podman's DEL detaches it.
. "$(dirname "$0")/../lib/tap.sh"
. "$BH_TOP/tests/lib/netns.sh"
. "$BH_TOP/tests/lib/podman.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
[ -x /usr/lib/cni/bridge ] || skip_all "containernetworking-plugins missing"
ns_init
pm_init || { echo "Bail out! cannot build the rootfs"; exit 2; }
mkdir -p "$PM_DIR/cni-bin" "$PM_DIR/cni-net"
for p in /usr/lib/cni/*; do ln -s "$p" "$PM_DIR/cni-bin/"; done
ln -s "$BH_CNI" "$PM_DIR/cni-bin/bulkhead-cni"
sed -i "s|^network_config_dir = .*|network_backend = \"cni\"\\
cni_plugin_dirs = [\"$PM_DIR/cni-bin\"]\\
network_config_dir = \"$PM_DIR/cni-net\"|" "$PM_DIR/containers.conf"
cat >"$NS_TMP/policy.yaml" <<'YAML'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
flows:
  - { from: web, to: api, ports: [tcp/8080] }
YAML

pm_net NET 10.89.0.0/24 || exit 2
conf=$PM_DIR/cni-net/$NET.conflist
if ! jq -en 'input | .' "$conf" >/dev/null 2>&1; then
	echo "Bail out! podman wrote no CNI conflist"
	exit 2
fi
# host-local keeps its leases under the test's temp dir, not /var/lib/cni
jq --arg s "$BHD_SOCK" --arg d "$PM_DIR/ipam" '
	.plugins |= map(if .ipam then .ipam.dataDir = $d else . end)
	| .plugins += [{type: "bulkhead-cni", socket: $s}]' \
	"$conf" >"$conf.new" && mv "$conf.new" "$conf"
pass "podman CNI network with bulkhead-cni chained"

bhd_start "$NS_TMP/policy.yaml" --engine "unix://$PM_SOCK" ||
	{ fail "bulkheadd up"; done_testing; }
pass "bulkheadd up (its engine not running yet)"

ctr() { # NAME: [group, source, quarantined]
	bhctl status --json 2>/dev/null | jq -c --arg n "$1" \
		'.containers[] | select(.name == $n) | [.group, .quarantined, .ifname != ""]'
}
converge() {
	local i
	for i in $(seq 150); do
		[ "$(ctr "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

pm_run web "$NET" bulkhead.purpose=web >/dev/null
ok $? "podman run through the CNI chain"
is "$(ctr web)" '["quarantine",true,true]' \
	"registered by CNI ADD before it ran: quarantined, host port known"
WEB=$(pm_ip web "$NET")
is "$(bhctl status --json 2>/dev/null | jq -r '.containers[] | select(.name=="web") | .ips[0]')" \
	"$WEB" "with the address CNI gave it"

pm_service_start || { echo "Bail out! podman service did not start"; exit 2; }
converge web '["web",false,true]'
ok $? "the Engine API supplies its labels: group web, out of quarantine"
is "$(bhctl status --json 2>/dev/null | jq -c '[.containers[] | select(.name=="web")] | length')" 1 \
	"one container, same id (relabelled, not duplicated)"

pm_run api "$NET" bulkhead.purpose=api >/dev/null
converge api '["api",false,true]'
ok $? "with the engine up, a new container is classified at once"

pm rm -f -t 0 web >/dev/null
converge web ""
ok $? "podman rm: detached"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
