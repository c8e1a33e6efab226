#!/bin/bash
# One version everywhere (docs/install.md, "Versions"): bulkheadd
# --version, bulkheadctl --version, bulkhead-cni --version and its CNI
# VERSION answer, and the running daemon's status (text and JSON) all say
# the version the build stamped into $(O)/gen/bh_version.h. tests/deb/deb.t
# checks the same of the installed package against the package's version.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
hdr=$BH_BUILD/gen/bh_version.h
[ -f "$hdr" ] || skip_all "$hdr missing (make builds it)"
want=$(sed -n 's/^#define BH_VERSION "\(.*\)"$/\1/p' "$hdr")
[ -n "$want" ]
ok $? "the build stamped a version ($want)"

is "$("$BH_D" --version)" "bulkheadd $want" "bulkheadd --version"
is "$("$BH_CTL" --version)" "bulkheadctl $want" "bulkheadctl --version"
is "$("$BH_CNI" --version)" "bulkhead-cni $want" "bulkhead-cni --version"
r=$(env -i CNI_COMMAND=VERSION "$BH_CNI" </dev/null)
is "$(jq -r .bulkheadVersion <<<"$r")" "$want" \
	"bulkhead-cni VERSION: bulkheadVersion"
is "$(jq -c .supportedVersions <<<"$r")" '["0.3.0","0.3.1","0.4.0","1.0.0"]' \
	"bulkhead-cni VERSION: the spec versions kept"

ns_init
cat >"$NS_TMP/policy.yaml" <<'P'
version: 1
groups:
  web: { match: { purpose: web } }
flows: []
P
bhd_start "$NS_TMP/policy.yaml"
ok $? "bulkheadd starts"
st=$(bhctl status)
echo "$st" | head -1 | grep -q "^bulkheadd $want, pid $BHD_PID, "
ok $? "bulkheadctl status: first line names the daemon's version" ||
	diag "$(echo "$st" | head -1)"
is "$(bhctl status --json | jq -r .daemon.version)" "$want" \
	"bulkheadctl status --json: daemon.version"

done_testing
