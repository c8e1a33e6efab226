# The dispatch as the kernel holds it (docs/ruleset.md, "The dispatch"):
# which group number the bit sets give a key, and which chain the tree's
# leaf with that number leads to. Read from the kernel, never from the
# daemon's model. Source it after tests/lib/tap.sh and define
#   kd_nft ARGS...            nft in the namespace under test
# optionally set
#   KD_LIST=FILE              a saved `nft list ruleset` to read the
#                             leaves from (else the kernel is listed)
#
#   kd_elems TABLE SET        the set's elements, one per line
#   kd_num KEY v4|v6|port     the group number (0: in no bit set); KEY is
#                             an address, or a quoted port name ("veth0")
#   kd_leaf NUMBER in|out|spoof  the chain whose rule says "group number N"
#   kd_chain KEY v4|v6|port in|out|spoof  both: the chain KEY leads to
#   kd_members v4|v6          every address in any bit set, sorted

kd_elems() {
	kd_nft list set "$1" bulkhead "$2" | tr -d '\n\t' |
		sed -n 's/.*elements = { *//; s/ *}.*//p' | tr ',' '\n' |
		sed 's/^ *//'
}

kd_num() {
	local n=0 b set tbl=inet

	for b in $(seq 0 12); do
		set=bit${b}_$2
		[ "$2" = port ] && set=port_bit$b tbl=bridge
		kd_nft list set $tbl bulkhead "$set" >/dev/null 2>&1 || break
		kd_elems $tbl "$set" | grep -qxF "$1" && n=$((n | 1 << b))
	done
	echo "$n"
}

kd_leaf() {
	{ if [ -n "${KD_LIST:-}" ]; then cat "$KD_LIST"; else kd_nft list ruleset; fi; } |
		grep -o "goto $2_[a-z0-9_-]* comment \"group number $1\"" |
		sort -u | awk '{ print $2 }'
}

kd_chain() {
	kd_leaf "$(kd_num "$1" "$2")" "$3"
}

# kd_members v4|v6: every address in any bit set (every container
# address the dispatch knows), one per line, sorted
kd_members() {
	local b

	for b in $(seq 0 12); do
		kd_nft list set inet bulkhead "bit${b}_$1" >/dev/null 2>&1 || break
		kd_elems inet "bit${b}_$1"
	done | sort -u
}
