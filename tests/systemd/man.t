#!/bin/bash
# The man pages render without a warning, and say what the tools do: every
# verb and flag of `bulkheadctl --help` is in bulkheadctl(8), every option
# of bulkheadd's usage in bulkheadd(8). The bash completion offers the
# same verbs and flags.
. "$(dirname "$0")/../lib/tap.sh"

command -v man >/dev/null || skip_all "man (man-db) missing"
MAN=$BH_TOP/docs/man

for f in bulkheadd.8 bulkheadctl.8 bulkhead-policy.5; do
	err=$(MANWIDTH=80 man --warnings -l "$MAN/$f" 2>&1 >/dev/null)
	is "$err" "" "$f renders without warnings"
	MANWIDTH=80 man -l "$MAN/$f" 2>/dev/null | grep -q '^NAME'
	ok $? "$f has a NAME section"
done

# page FILE: the rendered text, plain (no overstrike, no hyphenation).
page() {
	MANWIDTH=200 MAN_KEEP_FORMATTING= man -l "$MAN/$1" 2>/dev/null |
		col -b | sed 's/‐/-/g'
}

if [ -x "$BH_CTL" ]; then
	ctl=$(page bulkheadctl.8)
	help=$("$BH_CTL" --help)
	verbs=$(echo "$help" | awk '$1 == "bulkheadctl" && $2 ~ /^[a-z]/ { print $2 }')
	for v in $verbs; do
		flags=$(echo "$help" | awk -v v="$v" '$1 == "bulkheadctl" && $2 == v' |
			grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
		echo "$ctl" | grep -qE "^ {7}$v( |$)"
		ok $? "bulkheadctl(8) describes the verb $v"
		for fl in $flags; do
			echo "$ctl" | grep -qE -- "^ {7}$v .*$fl( |$|\])"
			ok $? "bulkheadctl(8): $v $fl"
		done
	done
	# Verbs in the page that the tool does not have.
	for v in $(echo "$ctl" | sed -n '/^VERBS/,/^EXIT STATUS/p' |
			grep -E '^ {7}[a-z]+( |$)' | awk '{ print $1 }'); do
		echo "$verbs" | grep -qx "$v"
		ok $? "bulkheadctl has the verb $v that bulkheadctl(8) describes"
	done

	# The completion, driven as bash drives it.
	comp() {
		bash -c '. "$1"; shift; COMP_WORDS=("$@")
			COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _bulkheadctl
			printf "%s\n" "${COMPREPLY[@]}"' \
			sh "$BH_TOP/completion/bulkheadctl.bash" "$@"
	}
	is "$(comp "$BH_CTL" "" | grep -v '^--' | sort)" "$(echo "$verbs" | sort)" \
		"completion offers every verb"
	for v in $verbs; do
		flags=$(echo "$help" | awk -v v="$v" '$1 == "bulkheadctl" && $2 == v' |
			grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
		[ -n "$flags" ] || continue
		is "$(comp "$BH_CTL" --socket /x "$v" -- | sort)" "$flags" \
			"completion offers the flags of $v"
	done
else
	diag "bulkheadctl not built: verbs not compared"
fi

if [ -x "$BH_D" ]; then
	d=$(page bulkheadd.8)
	opts=$("$BH_D" --help 2>&1 | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u)
	[ -n "$opts" ]
	ok $? "bulkheadd --help lists options"
	for o in $opts; do
		echo "$d" | grep -qE -- "^ {7}(-[a-zA-Z], )?$o( |,|$)"
		ok $? "bulkheadd(8) describes $o"
	done
else
	diag "bulkheadd not built: options not compared"
fi

done_testing
