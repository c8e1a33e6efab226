# TAP helpers for bash tests: source it, call plan N, then ok/fail/is.
# ok, is, pass and fail return the verdict (0 passed, 1 failed), so
# `ok $? "..." || bail "..."` and `is ... || diag ...` act on a failure.
# BH_BUILD names the build directory (build, or build/asan).
BH_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BH_BUILD=${BH_BUILD:-build}
case "$BH_BUILD" in /*) ;; *) BH_BUILD="$BH_TOP/$BH_BUILD" ;; esac
BH_CTL="$BH_BUILD/bulkheadctl"
BH_D="$BH_BUILD/bulkheadd"
BH_CNI="$BH_BUILD/bulkhead-cni"
# Last, so that they win over an inherited ASAN_OPTIONS: a leak report
# must make the process exit non-zero (SIGABRT), and so fail its test.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1:abort_on_error=1
# Leaks inside libraries we cannot fix (Graphviz's font caches).
export LSAN_OPTIONS=${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$BH_TOP/tests/lib/lsan.supp:print_suppressions=0
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
_tap_n=0
_tap_failed=0

plan() { echo "1..$1"; }
ok() { # ok COND-EXIT-STATUS DESCRIPTION
	_tap_n=$((_tap_n + 1))
	if [ "$1" -eq 0 ]; then
		echo "ok $_tap_n - $2"
	else
		echo "not ok $_tap_n - $2"
		_tap_failed=$((_tap_failed + 1))
		return 1
	fi
}
pass() { ok 0 "$1"; }
fail() { ok 1 "$1"; }
# is GOT WANT DESCRIPTION
is() {
	if [ "$1" = "$2" ]; then
		ok 0 "$3"
	else
		ok 1 "$3"
		printf '#   got:  %s\n#   want: %s\n' "$1" "$2" | head -40
		return 1
	fi
}
diag() { printf '# %s\n' "$*"; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() { echo "1..$_tap_n"; exit $((_tap_failed > 0)); }
