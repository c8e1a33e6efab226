# make install / make uninstall (see docs/install.md).
#   make install PREFIX=/usr DESTDIR=/tmp/pkg
# systemd, sysctl.d, modules-load.d, tmpfiles.d and sysusers.d read both
# /usr/lib/… and /usr/local/lib/…, so $(PREFIX)/lib/… is right for the two
# usual prefixes. Files under $(SYSCONFDIR) are the admin's: installed only
# when absent, removed by uninstall only when unchanged.
# install-only installs what is already built in $(O) (the tests use it,
# so that installing never compiles anything).

UNITDIR        ?= $(PREFIX)/lib/systemd/system
SYSCTLDIR      ?= $(PREFIX)/lib/sysctl.d
MODULESLOADDIR ?= $(PREFIX)/lib/modules-load.d
TMPFILESDIR    ?= $(PREFIX)/lib/tmpfiles.d
SYSUSERSDIR    ?= $(PREFIX)/lib/sysusers.d
CNIDIR         ?= $(PREFIX)/lib/cni
BASHCOMPDIR    ?= $(PREFIX)/share/bash-completion/completions
POLICYDIR      ?= $(SYSCONFDIR)/bulkhead/groups
LOGROTATEDIR   ?= $(SYSCONFDIR)/logrotate.d
# After a real install (no DESTDIR): create the bulkhead group and the
# directories, and let systemd see the new units. BH_POSTINSTALL=no skips.
BH_POSTINSTALL ?= $(if $(DESTDIR),no,yes)

BH_ENGINE_UNITS := docker.service docker.socket containerd.service \
	podman.service podman.socket podman-restart.service crio.service
BH_MAN8 := bulkheadd.8 bulkheadctl.8
BH_MAN5 := bulkhead-policy.5
BH_EXAMPLE := systemd/example-policy.yaml

.PHONY: install-only

install: all
	@$(MAKE) --no-print-directory install-only

install-only:
	@for b in $(BINS); do test -x $$b || \
		{ echo "install: $$b is not built (run make)" >&2; exit 1; }; done
	install -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(CNIDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCTLDIR) \
		$(DESTDIR)$(MODULESLOADDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(BASHCOMPDIR) \
		$(DESTDIR)$(POLICYDIR) $(DESTDIR)$(LOGROTATEDIR)
	install -m 0755 $(O)/bulkheadd $(DESTDIR)$(SBINDIR)/bulkheadd
	install -m 0755 $(O)/bulkheadctl $(DESTDIR)$(BINDIR)/bulkheadctl
	install -m 0755 $(O)/bulkhead-cni $(DESTDIR)$(CNIDIR)/bulkhead-cni
	sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		systemd/bulkheadd.service.in > $(DESTDIR)$(UNITDIR)/bulkheadd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/bulkheadd.service
	@for u in $(BH_ENGINE_UNITS); do \
		echo "install -m 0644 systemd/engine-dropin.conf $(DESTDIR)$(UNITDIR)/$$u.d/bulkhead.conf"; \
		install -d -m 0755 $(DESTDIR)$(UNITDIR)/$$u.d && \
		install -m 0644 systemd/engine-dropin.conf \
			$(DESTDIR)$(UNITDIR)/$$u.d/bulkhead.conf || exit 1; \
	done
	install -m 0644 systemd/bulkhead.sysctl.conf \
		$(DESTDIR)$(SYSCTLDIR)/60-bulkhead.conf
	install -m 0644 systemd/bulkhead.modules-load.conf \
		$(DESTDIR)$(MODULESLOADDIR)/bulkhead.conf
	install -m 0644 systemd/bulkhead.tmpfiles.conf \
		$(DESTDIR)$(TMPFILESDIR)/bulkhead.conf
	install -m 0644 systemd/bulkhead.sysusers.conf \
		$(DESTDIR)$(SYSUSERSDIR)/bulkhead.conf
	install -m 0644 $(addprefix docs/man/,$(BH_MAN8)) $(DESTDIR)$(MANDIR)/man8/
	install -m 0644 $(addprefix docs/man/,$(BH_MAN5)) $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 completion/bulkheadctl.bash \
		$(DESTDIR)$(BASHCOMPDIR)/bulkheadctl
	@# The admin's files: never overwritten. The example policy goes in
	@# only while the policy directory holds no policy at all, so that it
	@# never joins an admin's own.
	@if ls $(DESTDIR)$(POLICYDIR)/*.yaml >/dev/null 2>&1; then \
		echo "install: $(DESTDIR)$(POLICYDIR) holds a policy, kept as it is"; \
	else \
		echo "install -m 0644 $(BH_EXAMPLE) $(DESTDIR)$(POLICYDIR)/example.yaml"; \
		install -m 0644 $(BH_EXAMPLE) $(DESTDIR)$(POLICYDIR)/example.yaml; \
	fi
	@if [ -e $(DESTDIR)$(LOGROTATEDIR)/bulkhead ]; then \
		echo "install: $(DESTDIR)$(LOGROTATEDIR)/bulkhead exists, kept as it is"; \
	else \
		echo "install -m 0644 systemd/bulkhead.logrotate $(DESTDIR)$(LOGROTATEDIR)/bulkhead"; \
		install -m 0644 systemd/bulkhead.logrotate $(DESTDIR)$(LOGROTATEDIR)/bulkhead; \
	fi
ifeq ($(BH_POSTINSTALL),yes)
	-systemd-sysusers $(SYSUSERSDIR)/bulkhead.conf
	-systemd-tmpfiles --create $(TMPFILESDIR)/bulkhead.conf
	-if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "install: now: sysctl --system; systemctl enable --now bulkheadd"
endif

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/bulkheadd $(DESTDIR)$(BINDIR)/bulkheadctl \
		$(DESTDIR)$(CNIDIR)/bulkhead-cni \
		$(DESTDIR)$(UNITDIR)/bulkheadd.service \
		$(DESTDIR)$(SYSCTLDIR)/60-bulkhead.conf \
		$(DESTDIR)$(MODULESLOADDIR)/bulkhead.conf \
		$(DESTDIR)$(TMPFILESDIR)/bulkhead.conf \
		$(DESTDIR)$(SYSUSERSDIR)/bulkhead.conf \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(BH_MAN8)) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(BH_MAN5)) \
		$(DESTDIR)$(BASHCOMPDIR)/bulkheadctl
	@for u in $(BH_ENGINE_UNITS); do \
		rm -f $(DESTDIR)$(UNITDIR)/$$u.d/bulkhead.conf; \
		rmdir $(DESTDIR)$(UNITDIR)/$$u.d 2>/dev/null || true; \
	done
	@# An admin's file stays unless it is still exactly what we shipped.
	@for p in $(BH_EXAMPLE):$(DESTDIR)$(POLICYDIR)/example.yaml \
		systemd/bulkhead.logrotate:$(DESTDIR)$(LOGROTATEDIR)/bulkhead; do \
		src=$${p%%:*}; dst=$${p#*:}; \
		[ -e "$$dst" ] || continue; \
		if cmp -s "$$src" "$$dst"; then echo "rm -f $$dst"; rm -f "$$dst"; \
		else echo "uninstall: $$dst was changed, kept"; fi; \
	done
	@rmdir $(DESTDIR)$(POLICYDIR) $(DESTDIR)$(SYSCONFDIR)/bulkhead 2>/dev/null || true
ifeq ($(BH_POSTINSTALL),yes)
	-if [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
endif
