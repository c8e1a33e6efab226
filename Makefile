# bulkhead — plain GNU make, pkg-config for every library.
#   make            build bulkheadd, bulkheadctl, bulkhead-cni into build/
#   make check      install missing packages, build, run every test (prove),
#                   then the same tests on an ASan+UBSan build, then the fuzzer
#   make deb        the Debian package; make deb-check (run by make check too)
#                   installs, upgrades and purges it in a chroot (mk/deb.mk)
#   make demo       install missing packages, build, show the enforcer at work
#   make install    PREFIX=/usr/local DESTDIR=
# O=DIR selects the build directory; SAN=1 builds with ASan + UBSan.

O       ?= build
SAN     ?= 0
PREFIX  ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
MANDIR  ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc

PKGS      := libnftnl libmnl libnl-3.0 libnl-route-3.0 yaml-0.1 jansson \
             libcurl libsystemd libnetfilter_conntrack nettle
TEST_PKGS := cmocka

CC      ?= cc
PKG_CONFIG ?= pkg-config
CFLAGS  ?= -O2 -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
           -Wstrict-prototypes -Wformat=2 -Wno-unused-parameter
BH_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -MMD -MP \
           $(shell $(PKG_CONFIG) --cflags $(PKGS))
BH_LIBS := $(shell $(PKG_CONFIG) --libs $(PKGS))
# Graphviz (bulkheadctl map) goes into bulkheadctl only, not the daemon.
GVC_CFLAGS := $(shell $(PKG_CONFIG) --cflags libgvc)
GVC_LIBS := $(shell $(PKG_CONFIG) --libs libgvc) -lm
ifeq ($(SAN),1)
BH_CFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer \
             -fno-sanitize-recover=undefined
BH_LDFLAGS += -fsanitize=address,undefined
endif

# Every enforcer/*.c that has no main() goes into one archive; each binary
# links what it uses from it.
MAINS    := enforcer/main.c enforcer/bulkheadctl.c enforcer/cni.c
LIB_SRCS := $(filter-out $(MAINS),$(wildcard enforcer/*.c))
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
LIB      := $(O)/libbulkhead.a
BINS     := $(O)/bulkheadd $(O)/bulkheadctl $(O)/bulkhead-cni

UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:%.c=$(O)/%)
TOOL_SRCS := $(wildcard tests/tools/*.c tests/bench/*.c)
TOOL_BINS := $(TOOL_SRCS:%.c=$(O)/%)

all: $(BINS)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(O)/bulkheadd: $(O)/enforcer/main.o $(LIB)
	$(CC) $(CFLAGS) $(BH_LDFLAGS) -o $@ $^ $(BH_LIBS)
$(O)/bulkheadctl: $(O)/enforcer/bulkheadctl.o $(LIB)
	$(CC) $(CFLAGS) $(BH_LDFLAGS) -o $@ $^ $(BH_LIBS) $(GVC_LIBS)
$(O)/enforcer/ctl_map.o: BH_CFLAGS += $(GVC_CFLAGS)
$(O)/bulkhead-cni: $(O)/enforcer/cni.o $(LIB)
	$(CC) $(CFLAGS) $(BH_LDFLAGS) -o $@ $^ $(BH_LIBS)

$(O)/tests/unit/%: tests/unit/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) $(shell $(PKG_CONFIG) --cflags $(TEST_PKGS)) \
		$(BH_LDFLAGS) -o $@ $< $(LIB) $(BH_LIBS) \
		$(shell $(PKG_CONFIG) --libs $(TEST_PKGS))
$(O)/tests/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) $(BH_LDFLAGS) -o $@ $< $(LIB) $(BH_LIBS) -lpthread
$(O)/tests/bench/%: tests/bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) $(BH_LDFLAGS) -o $@ $< $(LIB) $(BH_LIBS) -lpthread

tests: $(BINS) $(UNIT_BINS) $(TOOL_BINS)

deps:
	@sh tools/deps.sh

# The test files prove runs: unit-test binaries (cmocka, TAP) and *.t
# scripts (bash, TAP). tests/run-test executes either kind.
TEST_SCRIPTS := $(sort $(wildcard tests/policy/*.t tests/rollout/*.t tests/e2e/*.t tests/systemd/*.t \
	tests/soak/*.t))
PROVE := prove --exec tests/run-test --timer

# The normal and the ASan suites run side by side: every test file has
# namespaces, temp dirs and peers of its own, and most of a file's time
# is spent waiting on timers and the network, not on the two cores. The
# package check (a chroot from Debian's archive, mostly downloads and two
# package builds) runs beside the fuzzers. Lines say [normal] or [asan].
check: deps
	$(MAKE) tests
	$(MAKE) O=$(O)/asan SAN=1 tests
	$(MAKE) -j2 check-normal check-asan
	$(MAKE) -j2 fuzz-run deb-check

check-normal:
	tests/run-suite normal $(O) 0 $(UNIT_BINS) $(TEST_SCRIPTS)

check-asan:
	tests/run-suite asan $(O)/asan 1 $(UNIT_SRCS:%.c=$(O)/asan/%) \
		$(TEST_SCRIPTS)

check-fast: tests
	BH_BUILD=$(O) $(PROVE) $(UNIT_BINS) $(TEST_SCRIPTS)

demo: deps
	$(MAKE) all
	BH_BUILD=$(O) bash tools/demo.sh

clean:
	rm -rf $(O)

.PHONY: all tests deps check check-normal check-asan check-fast demo clean \
	install uninstall \
	fuzz fuzz-run

-include $(LIB_OBJS:.o=.d) $(O)/enforcer/main.d $(O)/enforcer/bulkheadctl.d \
	$(O)/enforcer/cni.d
-include mk/*.mk
