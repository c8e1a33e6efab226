#!/bin/sh
# Builds bulkhead's binary package (dpkg-buildpackage -us -uc -b) from a
# clean copy of the tree, never in the tree itself: no build output, no
# debian/.debhelper left behind, nothing of the developer's build/ inside.
#   tools/build-deb.sh OUTDIR        the files git tracks or would track,
#                                    as they are now (make deb)
#   tools/build-deb.sh OUTDIR REV    commit REV (git archive); a commit
#                                    from before debian/ existed is
#                                    packaged with today's debian/
# The version (tools/version.sh) is stamped as a new debian/changelog
# entry of the copy when it differs from the newest one; debian/rules
# passes it on to the binaries. Prints the path of the .deb last.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
out=$1
rev=${2:-}
case "$out" in /*) ;; *) out=$(pwd)/$out ;; esac
cd "$top"

ver=$(sh tools/version.sh $rev)
src=$out/bulkhead-$ver
rm -rf "$out"
mkdir -p "$src"
if [ -n "$rev" ]; then
	git archive "$rev" | tar -x -C "$src"
	if [ ! -e "$src/debian/rules" ]; then
		echo "build-deb: $rev has no debian/rules: packaged with" \
		     "today's debian/" >&2
		rm -rf "$src/debian"
		cp -R debian "$src/"
		: >"$src/debian/changelog"
	fi
	when=$(git log -1 --format=%aD "$rev")
	what="commit $(git rev-parse --short=7 "$rev")"
elif git rev-parse --show-toplevel >/dev/null 2>&1 &&
     [ "$(git rev-parse --show-toplevel)" = "$top" ]; then
	# the files git tracks or would (not ignored), as they are now;
	# deleted ones are skipped
	git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - |
		tar -x -C "$src"
	when=$(git log -1 --format=%aD HEAD)
	what="commit $(git rev-parse --short=7 HEAD)"
	case "$ver" in *.dirty) what="$what with uncommitted changes" ;; esac
else
	tar --exclude=./build --exclude='./build-*' -cf - . | tar -x -C "$src"
	when=$(date -R)
	what="a tree without git"
fi

cl=$src/debian/changelog
if [ "$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' "$cl" 2>/dev/null)" != "$ver" ]
then
	maint=$(sed -n 's/^Maintainer: //p' "$src/debian/control")
	{
		printf 'bulkhead (%s) UNRELEASED; urgency=medium\n\n' "$ver"
		printf '  * Built from %s.\n\n' "$what"
		printf ' -- %s  %s\n' "$maint" "$when"
		if [ -s "$cl" ]; then
			echo
			cat "$cl"
		fi
	} >"$cl.new"
	mv "$cl.new" "$cl"
fi

cd "$src"
dpkg-buildpackage -us -uc -b --jobs-try=auto >"$out/build.log" 2>&1 || {
	tail -40 "$out/build.log" >&2
	echo "build-deb: dpkg-buildpackage failed, see $out/build.log" >&2
	exit 1
}
deb=$(ls "$out"/bulkhead_"$ver"_*.deb)
echo "$deb"
