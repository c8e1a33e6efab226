# The Debian package (debian/, docs/install.md).
#   make deb         $(O)/deb/cur/bulkhead_VERSION_ARCH.deb, built by
#                    dpkg-buildpackage -us -uc -b from a clean copy of the
#                    tree (tools/build-deb.sh), then lintian (no error, no
#                    warning)
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

deb-check:
	BH_BUILD=$(O) DEB_DIR=$(DEB_DIR) DEB_PREV=$(DEB_PREV) \
		prove -v --exec tests/run-test --timer tests/deb/deb.t

.PHONY: deb deb-check
