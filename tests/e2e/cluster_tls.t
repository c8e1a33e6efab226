#!/bin/bash
# etcd over TLS with client certificates (made here with openssl): a
# daemon with --etcd-ca, --etcd-cert and --etcd-key publishes and follows;
# one without a client certificate, or trusting another CA, never
# connects, says so, and its table keeps what it had.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"
. "$(dirname "$0")/../lib/cluster.sh"

command -v openssl >/dev/null || skip_all "openssl missing"
cl_init
T=$NS_TMP/tls
cl_tls_certs "$T" || { fail "certificates"; done_testing; }
cl_tls_certs "$NS_TMP/other" || { fail "other CA"; done_testing; }
CL_ETCD=https://10.77.0.100:2379
CL_ETCDCTL_ARGS=(--cacert "$T/ca.pem" --cert "$T/client.pem" --key "$T/client.key")
cl_etcd_start --cert-file "$T/server.pem" --key-file "$T/server.key" \
	--client-cert-auth --trusted-ca-file "$T/ca.pem" ||
	{ fail "etcd with TLS starts"; done_testing; }
cl_web_api || exit 2
cl_host hC 3 || exit 2
TLS=(--etcd-ca "$T/ca.pem" --etcd-cert "$T/client.pem" --etcd-key "$T/client.key")

state() { clctl "$1" status --json | jq -r .cluster.state; }
wait_up() {
	local i

	for i in $(seq 300); do
		[ "$(state "$1")" = up ] && return 0
		sleep 0.1
	done
	return 1
}

cl_start hA "$NS_TMP/policy.yaml" "${TLS[@]}" || { fail "A starts"; done_testing; }
cl_start hB "$NS_TMP/policy.yaml" "${TLS[@]}" || { fail "B starts"; done_testing; }
wait_up hA; ok $? "A connects over TLS with its client certificate" || cl_log_diag hA
cl_attach hA aweb bulkhead.purpose=web >/dev/null
cl_attach hB bapi bulkhead.purpose=api >/dev/null
ok $(etcdctl_ get /bulkhead/v1/addrs/"${NS_ADDR4[aweb]}" --print-value-only |
	jq -en 'input | (.host == "hA" and .name == "aweb")' >/dev/null; echo $?) \
	"etcd has A's container, written over TLS"
cl_wait hB id-aweb; ok $? "B follows A over TLS"
is "$(probe_want pass tcp aweb "${NS_ADDR4[bapi]}" 8080)" pass "web(A) -> api(B) passes"

# C: no client certificate, then a CA that did not sign etcd's
cl_start hC "$NS_TMP/policy.yaml" --etcd-ca "$T/ca.pem" || fail "C starts"
sleep 2
isnt_up() { [ "$(state hC)" != up ]; }
ok $(isnt_up; echo $?) "without a client certificate C never connects"
is "$(clctl hC status --json | jq -r .cluster.stale)" true "and says stale"
ok $(clctl hC status --json | jq -en 'input | (.cluster.last_error | length > 0)' >/dev/null; echo $?) \
	"with the error: $(clctl hC status --json | jq -r .cluster.last_error)"
cl_stop hC
cl_start hC "$NS_TMP/policy.yaml" --etcd-ca "$NS_TMP/other/ca.pem" \
	--etcd-cert "$T/client.pem" --etcd-key "$T/client.key" || fail "C starts again"
sleep 2
ok $(isnt_up; echo $?) "trusting another CA, C never connects"
ok $(clctl hC status --json | jq -en 'input | (.cluster.last_error | test("SSL|certificate|TLS"; "i"))' >/dev/null; echo $?) \
	"and says why: $(clctl hC status --json | jq -r .cluster.last_error)"
ok $(cl_has hC id-aweb; [ $? -ne 0 ]; echo $?) "C knows no remote container"

cl_stop hC; ok $? "C stops cleanly" || cl_log_diag hC
cl_stop hA; ok $? "A stops cleanly" || cl_log_diag hA
cl_stop hB; ok $? "B stops cleanly" || cl_log_diag hB
done_testing
