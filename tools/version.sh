#!/bin/sh
# Prints bulkhead's version: what bulkheadd --version, bulkheadctl
# --version, bulkhead-cni and `bulkheadctl status` show, and what `make deb`
# stamps on the package. One version, from whichever the tree has:
#   - a git checkout: git describe against the newest release tag vX.Y.Z
#     (X.Y.Z+N.gHASH, N commits after it); without a tag, the newest
#     debian/changelog version stands for it (N counts every commit).
#     ".dirty" when tracked files differ from HEAD. N grows with every
#     commit, so a later commit's package upgrades an earlier one's.
#   - otherwise (a tarball, the tree dpkg-buildpackage builds): the newest
#     debian/changelog version, which make deb stamps there.
# tools/version.sh REV: the version of commit REV (never .dirty), for the
# package of an earlier commit that make deb-check upgrades from.
set -eu
rev=${1:-}
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

base=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog 2>/dev/null || true)
: "${base:=0}"
if [ -n "$rev" ]; then
	b=$(git show "$rev:debian/changelog" 2>/dev/null |
	    sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p')
	[ -z "$b" ] || base=$b
fi

# only our own checkout: a tree exported under build/ lies inside one
gtop=$(git rev-parse --show-toplevel 2>/dev/null || true)
if [ -z "$gtop" ] || [ "$(cd "$gtop" && pwd)" != "$top" ]; then
	echo "$base"
	exit 0
fi

dirty=""
if [ -z "$rev" ]; then
	rev=HEAD
	# git diff compares contents and takes no lock on the index
	git diff --quiet HEAD -- 2>/dev/null || dirty=".dirty"
fi
hash=$(git rev-parse --short=7 "$rev")
if desc=$(git describe --tags --match 'v[0-9]*' --long "$rev" 2>/dev/null); then
	# vX.Y.Z-N-gHASH
	n=${desc%-g*}
	n=${n##*-}
	tag=${desc%-*-g*}
	tag=${tag#v}
	if [ "$n" = 0 ] && [ -z "$dirty" ]; then
		echo "$tag"
	else
		echo "$tag+$n.g$hash$dirty"
	fi
else
	echo "$base+$(git rev-list --count "$rev").g$hash$dirty"
fi
