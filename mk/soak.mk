# Churn soak (tests/soak/churn.sh, docs/benchmarks.md "churn soak"): 10,000
# containers churned over the control socket, policy reloads, engine
# restarts, a denied probe and an allowed stream, then verify, RSS, record
# accounting. Root; SOAK_SECONDS long (default 600).
#   make soak                      on $(O)
#   make soak O=build/asan SAN=1   on the ASan+UBSan build (leaks fail it)
# make check runs tests/soak/churn.t: the same for 30 s, on both builds.

SOAK_SRCS := $(wildcard tests/soak/*.c)
SOAK_BINS := $(SOAK_SRCS:%.c=$(O)/%)
SOAK_SECONDS ?= 600

$(O)/tests/soak/%: tests/soak/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) $(BH_LDFLAGS) -o $@ $< $(LIB) $(BH_LIBS)

tests: $(SOAK_BINS)

soak: $(BINS) $(SOAK_BINS) $(O)/tests/tools/daemon_udpstream
	BH_BUILD=$(O) BH_SANITIZE=$(SAN) SOAK_SECONDS=$(SOAK_SECONDS) \
		bash tests/soak/churn.sh

.PHONY: soak
-include $(SOAK_BINS:=.d)
