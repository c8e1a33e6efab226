#!/bin/bash
# bulkheadctl denials on a prepared file: filters, --json, --summary, and
# corrupt lines (reported with their number on stderr, skipped, not fatal).
. "$(dirname "$0")/../lib/tap.sh"

T=$(mktemp -d /tmp/bh-denials-cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
F=$T/denied.jsonl

ev() { # START END ACTION
	printf '"event":{"kind":"event","category":["network"],"type":["denied"],"dataset":"bulkhead.denied","action":"%s","start":"%s","end":"%s"}' "$3" "$1" "$2"
}
{
echo '{"@timestamp":"2026-11-28T12:00:01.000Z","schema":1,'"$(ev 2026-11-28T12:00:01.000Z 2026-11-28T12:00:01.000Z deny)"',"network":{"type":"ipv4","transport":"tcp","iana_number":"6"},"source":{"ip":"10.0.0.2","port":40000,"group":"web","container":{"id":"0123456789abcdef0123","name":"web1"}},"destination":{"ip":"10.0.0.3","port":5432,"group":"db","container":{"id":"fedcba9876543210fedc","name":"db1"}},"bulkhead":{"record":"flow","seq":1,"direction":"in","first":true,"packets":1,"bytes":60,"unlogged":0,"lost":0}}'
echo '{"@timestamp":"2026-11-28T12:00:10.000Z","schema":1,'"$(ev 2026-11-28T12:00:02.000Z 2026-11-28T12:00:09.500Z deny)"',"network":{"type":"ipv4","transport":"tcp","iana_number":"6"},"source":{"ip":"10.0.0.2","group":"web","container":{"id":"0123456789abcdef0123","name":"web1"}},"destination":{"ip":"10.0.0.3","port":5432,"group":"db","container":{"id":"fedcba9876543210fedc","name":"db1"}},"bulkhead":{"record":"flow","seq":2,"direction":"in","first":false,"packets":9,"bytes":540,"unlogged":0,"lost":0}}'
echo '{"@timestamp":"2026-11-28T12:05:00.000Z","schema":1,'"$(ev 2026-11-28T12:05:00.000Z 2026-11-28T12:05:00.000Z would-deny)"',"network":{"type":"ipv4","transport":"tcp","iana_number":"6"},"source":{"ip":"10.0.0.4","port":41000,"group":"api","container":{"id":"aaaa","name":"api1"}},"destination":{"ip":"10.0.0.3","port":5432,"group":"db","container":{"id":"fedcba9876543210fedc","name":"db1"}},"bulkhead":{"record":"flow","seq":3,"direction":"in","first":true,"packets":3,"bytes":180,"unlogged":0,"lost":0}}'
echo '{"@timestamp":"2026-11-28T12:10:00.000Z","schema":1,'"$(ev 2026-11-28T12:09:58.000Z 2026-11-28T12:10:00.000Z deny)"',"network":{"type":"ipv6","transport":"udp","iana_number":"17"},"source":{"ip":"fd00::5","port":5353,"group":"web","container":{"id":"bbbb","name":"web2"}},"destination":{"ip":"fd00::53","port":53,"group":"dns"},"bulkhead":{"record":"flow","seq":4,"direction":"out","first":false,"packets":2,"bytes":140,"unlogged":0,"lost":0}}'
echo '{"@timestamp":"2026-11-28T12:10:05.000Z","schema":1,"event":{"kind":"event","action":"deny","sta'
echo '{"@timestamp":"2026-11-28T12:10:10.000Z","schema":1,'"$(ev 2026-11-28T12:10:00.000Z 2026-11-28T12:10:10.000Z deny)"',"source":{},"destination":{"group":"db"},"bulkhead":{"record":"unlogged","seq":5,"direction":"in","packets":0,"bytes":0,"unlogged":500,"lost":0}}'
echo 'not json at all'
echo '{"foo":1}'
echo ''
echo '{"@timestamp":"2026-11-28T12:20:00.000Z","schema":1,'"$(ev 2026-11-28T12:20:00.000Z 2026-11-28T12:20:00.000Z deny)"',"network":{"type":"ipv4","transport":"icmp","iana_number":"1"},"source":{"ip":"10.0.0.2","group":"web","container":{"id":"0123456789abcdef0123","name":"web1"}},"destination":{"ip":"10.0.0.4","group":"api","container":{"id":"aaaa","name":"api1"}},"bulkhead":{"record":"flow","seq":6,"direction":"in","first":true,"icmp_type":8,"icmp_code":0,"packets":1,"bytes":84,"unlogged":0,"lost":0}}'
echo '{"@timestamp":"2026-11-28T12:20:10.000Z","schema":1,"event":{"kind":"event","category":["network"],"type":["denied"],"dataset":"bulkhead.denied","start":"2026-11-28T12:20:00.000Z","end":"2026-11-28T12:20:10.000Z"},"source":{},"destination":{},"bulkhead":{"record":"loss","seq":7,"packets":0,"bytes":0,"unlogged":0,"lost":7}}'
printf '%s' '{"@timestamp":"2026-11-28T12:20:11.000Z","schema":1,"event":{"ki'
} > "$F"

# dn ARGS...: data rows of the table (header dropped), stderr to $T/err
dn() { "$BH_CTL" denials --file "$F" "$@" 2>"$T/err" | tail -n +2; }
count() { dn "$@" | wc -l | tr -d ' '; }

plan 30

out=$("$BH_CTL" denials --file "$F" 2>"$T/err"); rc=$?
is "$rc" 0 "corrupt lines are not fatal"
is "$(printf '%s\n' "$out" | tail -n +2 | wc -l | tr -d ' ')" 7 "every good record shown"
is "$(grep -c 'skipped' "$T/err")" 5 "four bad lines and the total reported"
is "$(grep -o ':[0-9]*: skipped' "$T/err" | tr -d ': skiped' | tr '\n' ' ')" "5 7 8 12 " "bad lines named by number"
grep -q '4 line(s) skipped' "$T/err"; ok $? "skipped total"
is "$(printf '%s\n' "$out" | head -1 | awk '{print $1, $2, $3}')" "END ACTION SERVICE" "table header"
is "$(printf '%s\n' "$out" | tail -n +2 | head -1 | awk '{print $1}')" "2026-11-28T12:00:01.000Z" "oldest first"
is "$(printf '%s\n' "$out" | tail -1 | awk '{print $1}')" "2026-11-28T12:20:10.000Z" "newest last"
printf '%s\n' "$out" | grep -q 'web/web1 10.0.0.2:40000 *db/db1 10.0.0.3:5432'; ok $? "row shows groups, containers, addresses, ports"
printf '%s\n' "$out" | grep -q 'web/web2 \[fd00::5\]:5353'; ok $? "IPv6 endpoint bracketed"

is "$(count --from web)" 4 "--from group"
is "$(count --from web2)" 1 "--from container name"
is "$(count --from 0123456789abcdef)" 3 "--from short container id"
is "$(count --to db)" 4 "--to group (unlogged record included)"
is "$(count --group dns)" 1 "--group either side"
is "$(count --port tcp/5432)" 3 "--port tcp/5432"
is "$(count --port udp/53 --from web)" 1 "--port with --from"
is "$(count --port icmp)" 1 "--port icmp"
is "$(count --since 2026-11-28T12:05:00Z)" 5 "--since RFC 3339"
is "$(count --until 2026-11-28T13:05:00+01:00)" 3 "--until with an offset"
is "$(count --since 2026-11-28T12:00:05Z --until 2026-11-28T12:10:00Z)" 4 "--since and --until (overlapping windows)"

is "$("$BH_CTL" denials --file "$F" --json --to db 2>/dev/null | jq -s 'map(.bulkhead.packets + .bulkhead.unlogged) | add')" 513 "--json passes the lines"
"$BH_CTL" denials --file "$F" --json 2>/dev/null | grep -Fxq "$(sed -n 4p "$F")"; ok $? "--json lines are byte-identical"

sum=$("$BH_CTL" denials --file "$F" --summary 2>/dev/null)
is "$(printf '%s\n' "$sum" | awk '$1=="web" && $2=="db" {print $3, $4, $5, $6}')" "tcp/5432 10 0 2" "summary: web -> db tcp/5432"
is "$(printf '%s\n' "$sum" | awk '$1=="*" && $2=="db" {print $3, $4, $5}')" "- 0 500" "summary: unlogged into db"

is "$(count --since 100000d)" 7 "--since a duration"
is "$(count --since 1s)" 0 "--since a short duration"
BULKHEAD_SOCKET=$T/no.sock timeout 5 "$BH_CTL" denials --file "$F" --follow >/dev/null 2>"$T/err"
is "$?:$(grep -c 'bulkheadctl denials:' "$T/err")" "2:5" "--follow without a daemon: records, then a clear error"
"$BH_CTL" denials --file "$F" --port tcp/99999 >/dev/null 2>&1; is $? 2 "bad port is a usage error"
"$BH_CTL" denials --file "$T/none" >/dev/null 2>"$T/err"; rc=$?
is "$rc:$(grep -c 'No such file' "$T/err")" "2:1" "missing file: clear error, status 2"
