#!/bin/bash
# Records that say why, and their ECS form, from the real daemon. A policy
# of two files with enforcing and audit groups side by side, an
# unassigned container; denied and audited TCP/UDP/ICMP over IPv4 and
# IPv6. Every record's rule.name must be what `bulkheadctl explain` says
# for its (source, destination, protocol/port), its verdict must agree,
# and it carries the policy's hash (as check --hash, status and a shell
# recipe compute it), the direction and this host's name. Then the same
# records as ECS documents, from `denials --format ecs` and from a daemon
# with --record-format ecs, each field checked against tests/ecs/fields.txt
# (the ECS reference's types); bad formats change nothing.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

[ -x "$BH_D" ] || skip_all "bulkheadd not built"
command -v jq >/dev/null || skip_all "jq missing"
command -v xxd >/dev/null || skip_all "xxd missing"
ns_init
FIELDS=$BH_TOP/tests/ecs/fields.txt
POL=$NS_TMP/groups
mkdir -p "$POL"
cat >"$POL/10-groups.yaml" <<'EOF2'
version: 1
settings:
  log: { window: 1s }
groups:
  web: { match: { purpose: web }, sensitivity: low }
  db:  { match: { purpose: db }, sensitivity: restricted }
  met: { match: { purpose: met }, mode: audit }
EOF2
cat >"$POL/20-flows.yaml" <<'EOF2'
version: 1
flows:
  - { from: web, to: db, ports: [tcp/5432] }
  - { from: web, to: met, ports: [tcp/9100] }
EOF2
ns_add web 10.77.0.11 fd77::11 || exit 2
ns_add db 10.77.0.12 fd77::12 || exit 2
ns_add met 10.77.0.13 fd77::13 || exit 2
ns_add stray 10.77.0.14 fd77::14 || exit 2
# not a container (never attached): the world, for out_<group> chains
ns_add ext 10.77.0.50 fd77::50 || exit 2

bhd_start "$POL" --record-format json; ok $? "bulkheadd up (--record-format json)" ||
	done_testing
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach db bulkhead.purpose=db >/dev/null
bhd_attach met bulkhead.purpose=met >/dev/null
bhd_attach stray bulkhead.purpose=other >/dev/null
serve_tcp db 6001
serve_udp db 6003
serve_tcp met 7000
serve_tcp web 80
serve_tcp stray 8080
sleep 0.3

# the policy's hash: check, status and sha256sum agree
h_check=$("$BH_CTL" check --hash "$POL" | sed -n 's/.*: policy hash //p')
h_shell=$(cd "$POL" && LC_ALL=C sha256sum *.yaml | cut -c1-64 | xxd -r -p |
	sha256sum | cut -c1-64)
h_status=$(bhctl status --json | jq -r .policy.hash)
is "$h_check" "$h_shell" "check --hash is the SHA-256 over each file's SHA-256"
is "$h_status" "$h_check" "status names the same hash"

is "$(probe_deny db tcp web 10.77.0.12 6001)" drop "web -> db tcp/6001 denied (v4)"
is "$(probe_deny db udp web fd77::12 6003)" drop "web -> db udp/6003 denied (v6)"
is "$(probe_deny db icmp web 10.77.0.12)" drop "web -> db icmp denied"
is "$(probe tcp web 10.77.0.13 7000)" pass "web -> met tcp/7000 passes (audit)"
is "$(probe tcp web fd77::13 7000)" pass "web -> met tcp/7000 passes (audit, v6)"
is "$(probe_deny web tcp met 10.77.0.11 80)" drop "met -> web tcp/80 denied"
is "$(probe_deny web tcp stray fd77::11 80)" drop "unassigned stray -> web denied"
is "$(probe_deny stray tcp web 10.77.0.14 8080)" drop "web -> unassigned stray denied"
# out of a group into the world: one datagram each (nothing answers)
echo x | nsx met socat -u STDIN UDP:10.77.0.50:443
echo x | nsx web socat -u STDIN UDP:10.77.0.50:444

# 10 attempts; wait until each has its record (bounded, generous)
for i in $(seq 300); do
	[ "$(jq -s '[.[] | select(.bulkhead.record == "flow")] | length' \
		"$BHD_DENIED" 2>/dev/null || echo 0)" -ge 10 ] && break
	sleep 0.1
done
recs=$(jq -c 'select(.bulkhead.record == "flow")' "$BHD_DENIED")
n=$(printf '%s\n' "$recs" | grep -c .)
[ "$n" -ge 10 ]; ok $? "10 or more flow records ($n)"

host=$(nsx host hostname)
declare -A seen
while read -r r; do
	src=$(jq -r .source.ip <<<"$r")
	dst=$(jq -r .destination.ip <<<"$r")
	case $(jq -r .network.transport <<<"$r") in
	icmp) port=icmp ;;
	ipv6-icmp) port=icmpv6 ;;
	*) port=$(jq -r '.network.transport + "/" + (.destination.port | tostring)' <<<"$r") ;;
	esac
	ex=$(bhctl explain --from "$src" --to "$dst" --port "$port" --json)
	what="$(jq -r .event.action <<<"$r") $src -> $dst $port"
	is "$(jq -r .rule.name <<<"$r")" "$(jq -r .rule <<<"$ex")" \
		"$what: rule agrees with explain ($(jq -r .rule <<<"$ex"))"
	is "$(jq -r .event.action <<<"$r")" "$(jq -r .verdict <<<"$ex")" \
		"  verdict agrees"
	is "$(jq -r '[.rule.ruleset, .host.name, .network.direction,
		.bulkhead.direction] | join(" ")' <<<"$r")" \
		"$h_check $host $( [ "$(jq -r .bulkhead.direction <<<"$r")" = in ] &&
		echo ingress || echo egress) $(jq -r .bulkhead.direction <<<"$r")" \
		"  hash, host, direction"
	seen[$(jq -r '.event.action + ":" + .rule.name' <<<"$r")]=1
done <<<"$recs"
ok $([ -n "${seen[deny:default-deny]}" ]; echo $?) "a deny by default-deny"
ok $([ -n "${seen[would-deny:default-deny]}" ]; echo $?) "a would-deny by default-deny (audit)"
ok $([ -n "${seen[deny:unassigned]}" ]; echo $?) "a deny by the unassigned group's chain"
is "$(jq -r 'select(.destination.ip == "10.77.0.50") | [.event.action,
	.network.direction, .source.group] | join(" ")' "$BHD_DENIED" | sort |
	tr '\n' ',')" "deny egress web,would-deny egress met," \
	"out of a group: egress, audit and enforcing"
is "$(jq -r 'select(.destination.group == "db") | .destination.sensitivity' \
	"$BHD_DENIED" | sort -u)" restricted "records carry the group's sensitivity"
# explain's text names the rule as well
bhctl explain --from web --to db --port tcp/5432 | grep -q "^  rule $POL/20-flows.yaml:3$"
ok $? "explain names an allowing flow's file:line"

# validate FILE: every field of every ECS document is in fields.txt with
# the JSON type of its ECS type and, where listed, an allowed value; prints
# the problems, nothing when all is well
validate() {
	if [ ! -s "$1" ] || ! jq -e . "$1" >/dev/null 2>&1; then
		echo "$1: empty, or not JSON documents"
		return
	fi
	jq -r 'paths(scalars) as $p | [($p | map(select(type == "string")) |
		join(".")), (getpath($p) | type), (getpath($p) | tostring)] |
		@tsv' "$1" | awk -F'\t' -v fields="$FIELDS" '
	BEGIN {
		while ((getline l < fields) > 0) {
			if (l ~ /^#/ || l ~ /^[ \t]*$/) continue
			split(l, f, /[ \t]+/)
			type[f[1]] = f[2]; vals[f[1]] = f[4]
		}
	}
	{
		name = $1; jt = $2; v = $3
		if (!(name in type)) { print name ": not in fields.txt"; next }
		t = type[name]
		if (t == "long" && !(jt == "number" && v ~ /^-?[0-9]+$/))
			print name ": " v " is no long"
		else if (t == "boolean" && jt != "boolean")
			print name ": " v " is no boolean"
		else if (t == "keyword" && jt != "string")
			print name ": " v " is no keyword"
		else if (t == "date" && !(jt == "string" &&
			 v ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9][0-9][0-9]Z$/))
			print name ": " v " is no date"
		else if (t == "ip" && !(jt == "string" && (v ~ /^[0-9.]+$/ || v ~ /:/)))
			print name ": " v " is no ip"
		if (vals[name] != "" && index("," vals[name] ",", "," v ",") == 0)
			print name ": " v " is not one of " vals[name]
	}'
}

bhctl denials --file "$BHD_DENIED" --format ecs >"$NS_TMP/ecs.jsonl"
ok $? "denials --format ecs"
is "$(grep -c . "$NS_TMP/ecs.jsonl")" "$(grep -c . "$BHD_DENIED")" \
	"  one document per record"
is "$(validate "$NS_TMP/ecs.jsonl")" "" "  every field is an ECS field of its type (fields.txt)"
is "$(jq -r 'select(.event.action == "would-deny") | .event.type | join(",")' \
	"$NS_TMP/ecs.jsonl" | sort -u)" "connection,allowed" "  would-deny: event.type connection, allowed"
is "$(jq -r 'select(.event.action == "deny") | .event.type | join(",")' \
	"$NS_TMP/ecs.jsonl" | sort -u)" "connection,denied" "  deny: event.type connection, denied"
n=$(jq -r 'select(.network.transport == "tcp" and .source.port != null) |
	.network.community_id' "$NS_TMP/ecs.jsonl" | grep -c '^1:.\{27\}=$')
[ "$n" -ge 1 ]; ok $? "  TCP records with a source port have a Community ID ($n)"
is "$(bhctl denials --file "$BHD_DENIED" --json | md5sum)" \
	"$(bhctl denials --file "$BHD_DENIED" --format json | md5sum)" \
	"--format json is --json"

# bad formats: a message, exit 2, nothing changed
before=$(nft_host -s list ruleset | md5sum)
out=$(bhctl denials --file "$BHD_DENIED" --format xml 2>"$NS_TMP/err")
is "$?:$out" "2:" "denials --format xml: exit 2, nothing printed"
grep -q "expected table, json or ecs, got 'xml'" "$NS_TMP/err"
ok $? "  says what it expected"
nsenter --net="$(ns_path host)" -- "$BH_D" --policy "$POL" \
	--socket "$NS_TMP/bad.sock" --state-dir "$NS_TMP/badstate" \
	--denied-log "$NS_TMP/bad/denied.jsonl" --record-format cef \
	--foreground >/dev/null 2>"$NS_TMP/err"
is "$?" 2 "bulkheadd --record-format cef: exit 2"
grep -q "expected json or ecs, got 'cef'" "$NS_TMP/err"
ok $? "  says what it expected"
ok $([ ! -e "$NS_TMP/bad" ] && [ ! -e "$NS_TMP/badstate" ] &&
	[ ! -e "$NS_TMP/bad.sock" ]; echo $?) "  created no file"
is "$(nft_host -s list ruleset | md5sum)" "$before" "  the table is untouched"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM" || bhd_log_diag

# the daemon itself writing ECS
BHD_DENIED=$NS_TMP/ecs/denied.jsonl
bhd_start "$POL" --record-format ecs; ok $? "bulkheadd up (--record-format ecs)" ||
	done_testing
is "$(probe_deny db tcp web 10.77.0.12 6001)" drop "web -> db tcp/6001 denied"
is "$(probe tcp web 10.77.0.13 7000)" pass "web -> met tcp/7000 passes (audit)"
for i in $(seq 300); do
	[ "$(grep -c . "$BHD_DENIED" 2>/dev/null || echo 0)" -ge 2 ] && break
	sleep 0.1
done
is "$(jq -r '.ecs.version' "$BHD_DENIED" | sort -u)" 8.11.0 "the file holds ECS documents"
is "$(validate "$BHD_DENIED")" "" "  every field is an ECS field of its type"
is "$(jq -r 'select(.destination.port == 6001) | [.event.action, .rule.name,
	.rule.ruleset, .bulkhead.destination.group, .network.direction] |
	join(" ")' "$BHD_DENIED")" "deny default-deny $h_check db ingress" \
	"  rule, hash, group, direction"
is "$(bhctl denials --file "$BHD_DENIED" --format json | jq -r 'select(.destination.port == 7000) |
	[.event.action, .rule.name, .destination.group] | join(" ")')" \
	"would-deny default-deny met" "denials reads an ECS file back into records"
bhctl denials --file "$BHD_DENIED" 2>/dev/null | grep -q "would-deny"
ok $? "  and shows it as a table"
# --follow --format ecs: new records from the daemon's ring, as ECS
bhctl denials --file /dev/null --follow --format ecs >"$NS_TMP/follow.out" 2>/dev/null &
fpid=$!
sleep 0.7
echo x | nsx web socat -u STDIN UDP:10.77.0.12:6010
for i in $(seq 100); do
	grep -q '"port":6010' "$NS_TMP/follow.out" && break
	sleep 0.1
done
kill $fpid 2>/dev/null; wait $fpid 2>/dev/null
is "$(jq -r 'select(.destination.port == 6010) | [.ecs.version, .rule.name,
	(.event.type | join(","))] | join(" ")' "$NS_TMP/follow.out")" \
	"8.11.0 default-deny connection,denied" "--follow --format ecs prints a new record as ECS"

bhd_stop; ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" ||
	bhd_log_diag
done_testing
