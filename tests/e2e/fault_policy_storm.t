#!/bin/bash
# A policy directory changed 1,000 times in about a second (renames over
# the file and in-place rewrites, alternating): the daemon reloads at most
# a few times, none of them fails (no empty or torn file was read), and the
# last version is the one in force, on the wire. A new policy file written
# in two halves with a pause between is not read until it is closed: the
# first half, a valid policy by itself, is never applied.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
command -v python3 >/dev/null || skip_all "python3 missing"
ns_init
ns_add web 10.77.0.11 "" || exit 2
ns_add api 10.77.0.12 "" || exit 2
P=$NS_TMP/policy.d
mkdir -p "$P"
cat >"$P/a.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
EOF
flows() { # PORT...
	local p
	echo "version: 1"
	echo "flows:"
	for p in "$@"; do
		echo "  - { from: web, to: api, ports: [tcp/$p] }"
	done
}
flows 20000 >"$P/b.yaml"
bhd_start "$P" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
ctr() { bhctl status --json | jq -r ".counters.$1"; }
# waits (bounded) until the reload counter has not moved for 3 s
settle() {
	local last now quiet=0 i
	last=$(ctr reloads)
	for i in $(seq 300); do
		sleep 0.1
		now=$(ctr reloads)
		if [ "$now" = "$last" ]; then
			quiet=$((quiet + 1))
			[ $quiet -ge 30 ] && return 0
		else
			quiet=0 last=$now
		fi
	done
	return 1
}
serve_tcp api 21000
serve_tcp api 20999
r0=$(ctr reloads) f0=$(ctr reloads_failed)

# version i allows tcp/(20000 + i); odd versions are rewritten in place
# (truncate, write, close), even ones written to a hidden temp file and
# renamed over b.yaml
secs=$(python3 - "$P/b.yaml" <<'EOF'
import os, sys, time
path = sys.argv[1]
tmp = os.path.join(os.path.dirname(path), ".b.yaml.tmp")
t0 = time.monotonic()
for i in range(1, 1001):
    text = ("version: 1\nflows:\n  - { from: web, to: api, ports: [tcp/%d] }\n"
            % (20000 + i))
    if i % 2:
        with open(path, "w") as f:
            f.write(text)
    else:
        with open(tmp, "w") as f:
            f.write(text)
        os.rename(tmp, path)
print("%.2f" % (time.monotonic() - t0))
EOF
)
# a loaded machine writes them slower: the daemon reloads at the latest
# 10 s into a burst, so a burst of S seconds allows 2 + S/10 reloads
diag "1,000 versions written in $secs s"
most=$(awk -v s="$secs" 'BEGIN { print 2 + int(s / 10) }')
settle
ok $? "the reloads settle"
n=$(($(ctr reloads) - r0))
[ "$n" -ge 1 ] && [ "$n" -le "$most" ]
ok $? "at most a few reloads for 1,000 changes in $secs s ($n, at most $most)"
is "$(($(ctr reloads_failed) - f0))" 0 "none of them failed (no empty or torn file was read)" ||
	grep -iE 'error|not reloading' "$BHD_LOG" | tail -5 | sed 's/^/#   /'
is "$(bhctl status --json | jq -r '.last_reload.ok')" true "the last reload is ok"
bhctl ruleset | grep -qw 21000 && ! bhctl ruleset | grep -qw 20999
ok $? "the ruleset has the last version's port (21000), not the one before"
is "$(probe_want pass tcp web 10.77.0.12 21000)" pass "on the wire: web -> api tcp/21000 (last version) passes"
is "$(probe_deny api tcp web 10.77.0.12 20999)" drop "web -> api tcp/20999 (the version before) drops"

# a new file written in two halves; the first half is a valid policy file
# on its own (it allows tcp/22222), the whole one allows tcp/22223 too
r1=$(ctr reloads)
exec 3>"$P/c.yaml"
flows 22222 >&3
sleep 2.5
mid_reloads=$(($(ctr reloads) - r1))
mid_rs=$(bhctl ruleset | grep -cwE '2222[23]')
printf '  - { from: web, to: api, ports: [tcp/22223] }\n' >&3
exec 3>&-
is "$mid_reloads,$mid_rs" "0,0" "half-written for 2.5 s: no reload, neither port in the ruleset"
for _ in $(seq 100); do
	[ "$(bhctl ruleset | grep -cwE '2222[23]')" -ge 2 ] && break
	sleep 0.1
done
settle
is "$(bhctl ruleset | grep -cwE '2222[23]')" 2 "closed: reloaded with both halves (tcp/22222 and tcp/22223)"
is "$(($(ctr reloads) - r1))" 1 "... in one reload"
grep -q 'c.yaml is being written; reloading once it is closed' "$BHD_LOG"
ok $? "the log says it waited for the file to be closed"
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
