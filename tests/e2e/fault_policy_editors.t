#!/bin/bash
# Editors' writes to the policy are picked up, each as one reload, for a
# policy directory and for a single policy file: `sed -i` (a temp file
# renamed over the policy) and vim with backupcopy=no (the file renamed
# away to NAME~, a new NAME written and closed, NAME~ deleted). The test
# checks that vim really went that way (the file's inode changed); without
# vim it replays that exact sequence itself and says so.
. "$(dirname "$0")/../lib/tap.sh"
. "$(dirname "$0")/../lib/netns.sh"

command -v jq >/dev/null || skip_all "jq missing"
ns_init
ns_add web 10.77.0.11 "" || exit 2
ns_add api 10.77.0.12 "" || exit 2
VIM=$(command -v vim || command -v vim.tiny || command -v vim.basic)
[ -n "$VIM" ] || diag "no vim here: replaying vim's backupcopy=no sequence (rename to NAME~, write NAME, remove NAME~)"
P=$NS_TMP/policy.d
mkdir -p "$P"
cat >"$P/groups.yaml" <<'EOF'
version: 1
groups:
  web: { match: { purpose: web } }
  api: { match: { purpose: api } }
EOF
cat >"$P/flows.yaml" <<'EOF'
version: 1
flows:
  - { from: web, to: api, ports: [tcp/8080] }
EOF
for port in 8080 8081 8082 8083 8084; do
	serve_tcp api $port
done
ctr() { bhctl status --json | jq -r ".counters.$1"; }

# vim -u NONE, no swap, no viminfo; backupskip is emptied because its
# default skips /tmp/*, where this test's files are
vim_edit() { # FILE FROM TO
	if [ -n "$VIM" ]; then
		"$VIM" -u NONE -i NONE -N -n -es \
			-c 'set writebackup nobackup backupcopy=no backupskip=' \
			-c "%s#$2#$3#" -c 'wq' "$1" </dev/null >/dev/null 2>&1
	else
		mv "$1" "$1~" && sed "s#$2#$3#" "$1~" >"$1" && rm -f "$1~"
	fi
}
# EDIT FILE FROM TO: apply, wait for the reload; then PORT passes and OLD drops
check_edit() { # WHAT FILE OLD NEW
	local what=$1 file=$2 old=$3 new=$4 r0 f0 ino i

	r0=$(ctr reloads) f0=$(ctr reloads_failed)
	ino=$(stat -c %i "$file")
	case "$what" in
	sed) sed -i "s#tcp/$old#tcp/$new#" "$file" ;;
	vim) vim_edit "$file" "tcp/$old" "tcp/$new" ;;
	esac
	grep -q "tcp/$new" "$file" || { fail "$what: the edit happened"; return; }
	[ "$(stat -c %i "$file")" != "$ino" ]
	ok $? "$what wrote a new file (inode $ino -> $(stat -c %i "$file")), not in place"
	[ -e "$file~" ]
	is $? 1 "$what left no backup behind"
	for i in $(seq 150); do
		[ "$(ctr reloads)" -gt "$r0" ] && bhctl ruleset | grep -qw "$new" && break
		sleep 0.1
	done
	sleep 0.5	# a second reload would come within the debounce
	is "$(($(ctr reloads) - r0)),$(($(ctr reloads_failed) - f0))" "1,0" \
		"$what: picked up in one reload, which did not fail"
	is "$(probe_want pass tcp web 10.77.0.12 "$new")" pass "$what: web -> api tcp/$new passes"
	is "$(probe_deny api tcp web 10.77.0.12 "$old")" drop "$what: web -> api tcp/$old drops"
}

bhd_start "$P" || { fail "daemon starts"; done_testing; }
bhd_attach web bulkhead.purpose=web >/dev/null
bhd_attach api bulkhead.purpose=api >/dev/null
is "$(probe_want pass tcp web 10.77.0.12 8080)" pass "policy directory: tcp/8080 passes at start"
check_edit sed "$P/flows.yaml" 8080 8081
check_edit vim "$P/flows.yaml" 8081 8082
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag

# a single policy file: the watch is on its directory, for its name
F=$NS_TMP/single/policy.yaml
mkdir -p "${F%/*}"
cat "$P/groups.yaml" >"$F"
sed -n '/^flows:/,$p' "$P/flows.yaml" >>"$F"
bhd_start "$F" || { fail "daemon starts on a file"; done_testing; }
is "$(probe_want pass tcp web 10.77.0.12 8082)" pass "policy file: tcp/8082 passes at start"
check_edit sed "$F" 8082 8083
check_edit vim "$F" 8083 8084
bhd_stop
ok $? "bulkheadd exits 0 on SIGTERM (under ASan: no leak report)" || bhd_log_diag
done_testing
