# The Debian package (debian/, docs/install.md).
#   make deb         build/deb/bulkhead_VERSION_ARCH.deb, built by
#                    dpkg-buildpackage -us -uc -b from a clean copy of the
#                    tracked files (tools/build-deb.sh), then lintian
#   make deb-check   install, upgrade from the previous commit's package
#                    (DEB_PREV, default HEAD~1), remove and purge in a
#                    throwaway mmdebstrap chroot (tests/deb/deb.t, root)
# make check runs deb-check when dpkg-buildpackage, lintian and mmdebstrap
# are installed and the machine reaches Debian's archive.

DEB_DIR  ?= $(O)/deb
DEB_PREV ?= HEAD~1

deb:
	sh tools/build-deb.sh $(DEB_DIR)/cur
	lintian --fail-on error,warning $(DEB_DIR)/cur/*.changes

.PHONY: deb
