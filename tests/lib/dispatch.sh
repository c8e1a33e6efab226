# The dispatch as the kernel holds it (docs/ruleset.md, "The dispatch"):
# which group number the bit sets give an address, and which chain the
# tree's leaf with that number leads to; and which counter the bridge
# table's ports map gives a port. Read from the kernel, never from the
# daemon's model. Source it after tests/lib/tap.sh and define
#   kd_nft ARGS...            nft in the namespace under test
# optionally set
#   KD_LIST=FILE              a saved `nft list ruleset` to read the
#                             leaves from (else the kernel is listed)
#
#   kd_elems TABLE SET        the set's elements, one per line
#   kd_num ADDR v4|v6         the group number (0: in no bit set)
#   kd_leaf NUMBER in|out     the chain whose rule says "group number N"
#   kd_chain ADDR v4|v6 in|out  both: the chain ADDR leads to
#   kd_port PORT              the counter the ports map names for PORT
#                             (spoofed_<group>), "" when none
#   kd_members v4|v6          every address in any bit set, sorted

kd_elems() {
	# awk, not sed, at the end: the listing loses its newlines, and GNU
	# sed keeps a last line without one (sets would run together)
	kd_nft list set "$1" bulkhead "$2" | tr -d '\n\t' |
		sed -n 's/.*elements = { *//; s/ *}.*//p' | tr ',' '\n' |
		awk '{ sub(/^ */, ""); print }'
}

kd_num() {
	local n=0 b

	for b in $(seq 0 12); do
		kd_nft list set inet bulkhead "bit${b}_$2" >/dev/null 2>&1 || break
		kd_elems inet "bit${b}_$2" | grep -qxF "$1" && n=$((n | 1 << b))
	done
	echo "$n"
}

kd_leaf() {
	if [ -n "${KD_LIST:-}" ]; then cat "$KD_LIST"; else kd_nft list ruleset; fi |
		grep -o "goto $2_[a-z0-9_-]* comment \"group number $1\"" |
		sort -u | awk '{ print $2 }'
}

kd_chain() {
	kd_leaf "$(kd_num "$1" "$2")" "$3"
}

kd_port() {
	kd_nft list map bridge bulkhead ports | tr -d '\n\t' |
		sed -n 's/.*elements = { *//; s/ *}.*//p' | tr ',' '\n' |
		sed 's/^ *//' | awk -v p="\"$1\"" '$1 == p { gsub(/"/, "", $3); print $3 }'
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
