# Playing a CNI runtime for the SOURCES e2e tests (bash): there is no
# cnitool in Debian, so this calls each plugin of a chain in order, the way
# a runtime does (CNI_* environment, the plugin's config on stdin with the
# network's name and cniVersion, prevResult from the previous plugin,
# runtimeConfig for the capabilities a plugin declares). DEL and CHECK run
# the chain in reverse with the stored result. Source after tap.sh and
# netns.sh (after ns_init).
#
#   cni_setup CONFLIST      plugin dir $CNI_BIN (reference plugins and
#                           bulkhead-cni), results under $NS_TMP/cni
#   cni_run CMD ID NETNS [LABELS_JSON]
#                           runs the chain in the host namespace; the last
#                           plugin's stdout goes to stdout; status is the
#                           first failing plugin's (its stdout printed);
#                           each plugin's stdout is kept in
#                           $NS_TMP/cni/ID.CMD.INDEX
#   CNI_IF=eth1 cni_run …   another interface (a second network) of the
#                           same container; its files are ID-eth1.*

CNI_CONF=
CNI_BIN=

cni_setup() {
	local p

	CNI_CONF=$1
	CNI_BIN=$NS_TMP/cni-bin
	mkdir -p "$CNI_BIN" "$NS_TMP/cni"
	for p in bridge host-local loopback; do
		[ -x "/usr/lib/cni/$p" ] || skip_all "CNI reference plugin $p missing"
		ln -sf "/usr/lib/cni/$p" "$CNI_BIN/$p"
	done
	ln -sf "$BH_CNI" "$CNI_BIN/bulkhead-cni"
}

# One plugin: PLUGIN_JSON CMD ID NETNS PREV LABELS
_cni_one() {
	local plugin=$1 cmd=$2 id=$3 netns=$4 prev=$5 labels=$6 conf type

	conf=$(jq -c --argjson p "$plugin" --arg prev "$prev" \
		--arg labels "$labels" '
		($p + {name: .name, cniVersion: .cniVersion})
		| if $prev != "" then . + {prevResult: ($prev | fromjson)}
		  else . end
		| if ($p.capabilities.labels // false) and $labels != ""
		  then . + {runtimeConfig: {labels: ($labels | fromjson)}}
		  else . end' "$CNI_CONF") || return 2
	type=$(jq -r .type <<<"$plugin")
	nsenter --net="$(ns_path host)" -- env -i PATH="$PATH" \
		CNI_COMMAND="$cmd" CNI_CONTAINERID="$id" CNI_NETNS="$netns" \
		CNI_IFNAME="${CNI_IF:-eth0}" CNI_PATH="$CNI_BIN" \
		CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAME=$id" \
		"$CNI_BIN/$type" <<<"$conf" 2>>"$NS_TMP/cni/stderr"
}

cni_run() { # CMD ID NETNS [LABELS_JSON]
	local cmd=$1 id=$2 netns=$3 labels=${4:-} n i out prev="" rc order key=$2

	[ -n "${CNI_IF:-}" ] && key=$id-$CNI_IF

	n=$(jq '.plugins | length' "$CNI_CONF")
	if [ "$cmd" = ADD ]; then
		order=$(seq 0 $((n - 1)))
	else
		order=$(seq $((n - 1)) -1 0)
		prev=$(cat "$NS_TMP/cni/$key.result" 2>/dev/null)
	fi
	for i in $order; do
		out=$(_cni_one "$(jq -c ".plugins[$i]" "$CNI_CONF")" "$cmd" \
			"$id" "$netns" "$prev" "$labels")
		rc=$?
		printf '%s\n' "$out" >"$NS_TMP/cni/$key.$cmd.$i"
		if [ $rc -ne 0 ]; then
			echo "$out"
			return $rc
		fi
		[ "$cmd" = ADD ] && prev=$out
	done
	if [ "$cmd" = ADD ]; then
		echo "$prev" >"$NS_TMP/cni/$key.result"
		echo "$prev"
	fi
	[ "$cmd" = DEL ] && rm -f "$NS_TMP/cni/$key.result"
	return 0
}
