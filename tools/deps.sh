#!/bin/sh
# Install the Debian packages that bulkhead's build, tests and demo need.
# Idempotent: silent when everything is already there; apt-get update runs
# at most once, and only when something is missing.
set -eu

# What the build needs is debian/control's Build-Depends (the one list;
# debhelper-compat is debhelper's); below, what the tests, the fuzzers and
# the demo need on top.
top=$(cd "$(dirname "$0")/.." && pwd)
BUILD_DEPS=$(awk '
	/^Build-Depends:/ { on = 1; sub(/^Build-Depends:/, ""); print; next }
	on && /^[ \t]/ { print; next }
	{ on = 0 }' "$top/debian/control" | tr ',' '\n' |
	sed -e 's/|.*//' -e 's/[[(<].*//' -e 's/^[[:space:]]*//' \
	    -e 's/[[:space:]]*$//' -e 's/^debhelper-compat$/debhelper/' \
	    -e '/^dh-sequence-/d' -e '/^$/d')
[ -n "$BUILD_DEPS" ] || { echo "deps: no Build-Depends in debian/control" >&2; exit 1; }

PKGS="$BUILD_DEPS build-essential clang
libclang-rt-14-dev libcmocka-dev libnetfilter-log-dev
nftables iptables iproute2 conntrack iputils-ping socat procps kmod
perl jq util-linux man-db systemd logrotate bash-completion
podman runc netavark aardvark-dns conmon containernetworking-plugins
busybox-static catatonit
librsvg2-bin libxml2-utils
prometheus prometheus-node-exporter
etcd-server etcd-client docker.io openssl curl
dpkg-dev fakeroot lintian mmdebstrap python3"

# denials_loss.t needs the bridge-netfilter hooks, a module on a stock
# kernel. Its sysctls are per network namespace and the tests set them only
# in their own; the kernel's default in every namespace (the initial one
# included) is on, as for any host where Docker or Podman loaded it.
if [ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
	if [ "$(id -u)" -eq 0 ]; then
		modprobe br_netfilter ||
			echo "deps: cannot load br_netfilter" >&2
	else
		echo "deps: br_netfilter not loaded (as root: modprobe br_netfilter)" >&2
	fi
fi

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	case "$st" in
	ii*) ;;
	*) missing="$missing $p" ;;
	esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages:$missing" >&2
	echo "deps: run as root (or: apt-get install$missing)" >&2
	exit 1
fi
echo "deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# Peers the tests start in their own namespaces (dockerd, etcd, prometheus,
# node-exporter) must not start on this host at install time: dockerd would
# program the initial namespace's firewall. policy-rc.d tells the packages'
# scripts so; a host that has its own is left alone.
rcd=/usr/sbin/policy-rc.d
own_rcd=0
if [ ! -e "$rcd" ]; then
	printf '#!/bin/sh\nexit 101\n' >"$rcd"
	chmod 755 "$rcd"
	own_rcd=1
fi
rc=0
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null || rc=$?
[ "$own_rcd" -eq 1 ] && rm -f "$rcd"
exit "$rc"
