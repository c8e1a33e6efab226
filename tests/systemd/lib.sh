# Helpers for tests/systemd/*.t: install into a scratch tree.
# Source after tests/lib/tap.sh.

# sd_tmp: a temp dir removed at exit (also on failure).
sd_tmp() {
	SD_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bulkhead-sd.XXXXXX") || exit 2
	trap 'rm -rf "$SD_TMP"' EXIT
}

# sd_need_bins: every binary make install ships must be built.
sd_need_bins() {
	local b

	for b in "$BH_D" "$BH_CTL" "$BH_CNI"; do
		[ -x "$b" ] || skip_all "$(basename "$b") not built in $BH_BUILD"
	done
}

# sd_make TARGET VAR=VALUE...: make in the source tree, installing what is
# already built in $BH_BUILD (install-only never compiles). Output goes to
# $SD_TMP/make.log.
# Nothing from the caller's make (MAKEFLAGS of `make check`) or
# environment (DESTDIR, SBINDIR, ...) may steer where files go.
sd_make() {
	env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u DESTDIR -u PREFIX \
		-u SBINDIR -u BINDIR -u LIBDIR -u MANDIR -u SYSCONFDIR \
		-u UNITDIR -u SYSCTLDIR -u MODULESLOADDIR -u TMPFILESDIR \
		-u SYSUSERSDIR -u CNIDIR -u BASHCOMPDIR -u POLICYDIR \
		-u LOGROTATEDIR \
		make -s -C "$BH_TOP" --no-print-directory O="$BH_BUILD" \
		BH_POSTINSTALL=no "$@" >>"$SD_TMP/make.log" 2>&1
}
