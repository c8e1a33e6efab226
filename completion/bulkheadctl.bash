# bash completion for bulkheadctl(8).
# Verbs and their flags come from `bulkheadctl --help` (one usage line per
# verb), so the completion follows the tool without being edited.

# _bulkheadctl_help CMD: "verb --flag --flag ..." per line.
_bulkheadctl_help()
{
	"$1" --help 2>/dev/null | awk '$1 == "bulkheadctl" && $2 ~ /^[a-z]/ {
		line = $2
		for (i = 3; i <= NF; i++)
			while (match($i, /--[a-z][a-z0-9-]*/)) {
				line = line " " substr($i, RSTART, RLENGTH)
				$i = substr($i, RSTART + RLENGTH)
			}
		print line
	}'
}

_bulkheadctl()
{
	local cur prev verb i flags help
	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}

	# The verb is the first word after the global options.
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--socket) ((i++)) ;;
		-*) ;;
		*) verb=${COMP_WORDS[i]}; break ;;
		esac
	done

	case $prev in
	--socket)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -- "$cur"))
		return
		;;
	--inventory)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -f -X '!*.json' -- "$cur") \
			$(compgen -d -- "$cur"))
		return
		;;
	--port)
		COMPREPLY=($(compgen -W 'tcp/ udp/ sctp/ icmp icmpv6' -- "$cur"))
		compopt -o nospace 2>/dev/null
		return
		;;
	--since | --until)
		COMPREPLY=($(compgen -W '1m 10m 1h 24h' -- "$cur"))
		return
		;;
	--id | --name | --label | --ip | --ifname | --from | --to | --group)
		return
		;;
	esac

	help=$(_bulkheadctl_help "${COMP_WORDS[0]}")
	if [ -z "$verb" ]; then
		COMPREPLY=($(compgen -W "--socket --help --version $(echo "$help" |
			awk '{ print $1 }')" -- "$cur"))
		return
	fi
	flags=$(echo "$help" | awk -v v="$verb" '$1 == v {
		for (i = 2; i <= NF; i++) print $i }' | sort -u)

	case $verb in
	check | show | ruleset)
		if [[ $cur != -* ]]; then
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -X '!*.yaml' -- "$cur") \
				$(compgen -d -- "$cur"))
			return
		fi
		;;
	esac
	COMPREPLY=($(compgen -W "$flags" -- "$cur"))
}

complete -F _bulkheadctl bulkheadctl
