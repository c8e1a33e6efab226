# Data-plane benchmark (docs/benchmarks.md, "data plane").
#   make bench-dataplane                 the full run (>= 10 rounds, minutes)
#   make bench-dataplane DP_ARGS=--smoke one short round of every configuration
# The load generator and sink build into $(O)/bench/; `make tests` builds them
# too, for tests/e2e/bench_dataplane_smoke.t.
# Micro benchmarks (docs/benchmarks.md, "policy", "control socket", "event
# loop", "inventory memory"): the figures the unit tests no longer assert.
#   make bench-micro                     every program, its default rounds
#   make bench-micro MICRO_ARGS="--rounds 3"
# Daemon benchmark (docs/benchmarks.md, "daemon"): the figures the e2e
# tests no longer assert (status under a flood, first record, reload,
# tamper restore, watchdog), against the real bulkheadd; root, ~25 s.
#   make bench-daemon
#   make bench-daemon DAEMON_REPS=20

DP_SRCS := $(wildcard tests/bench/dataplane/*.c)
DP_BINS := $(DP_SRCS:tests/bench/dataplane/%.c=$(O)/bench/%)
DP_ARGS ?=

$(O)/bench/%: tests/bench/dataplane/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) $(BH_LDFLAGS) -o $@ $< $(LIB) $(BH_LIBS)

tests: $(DP_BINS)

bench-dataplane: $(O)/bulkheadctl $(O)/tests/tools/nft_apply $(DP_BINS)
	BH_BUILD=$(O) bash tests/bench/dataplane/run.sh $(DP_ARGS)

MICRO_BINS := $(addprefix $(O)/tests/bench/,policy_scale control_stuck \
	ev_timer inventory_mem ctevent)
MICRO_ARGS ?=

bench-micro: $(O)/bulkheadctl $(MICRO_BINS)
	BH_BUILD=$(O) bash tests/bench/micro.sh $(MICRO_ARGS)

DAEMON_REPS ?= 40

bench-daemon: $(O)/bulkheadd $(O)/bulkheadctl $(O)/tests/tools/nflog_flood \
		$(O)/tests/tools/daemon_udpstream
	BH_BUILD=$(O) DAEMON_REPS=$(DAEMON_REPS) bash tests/bench/daemon.sh

.PHONY: bench-dataplane bench-micro bench-daemon
-include $(DP_BINS:=.d)
