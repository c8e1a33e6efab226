# Data-plane benchmark (docs/benchmarks.md, "data plane").
#   make bench-dataplane                 the full run (>= 10 rounds, minutes)
#   make bench-dataplane DP_ARGS=--smoke one short round of every configuration
# The load generator and sink build into $(O)/bench/; `make tests` builds them
# too, for tests/e2e/bench_dataplane_smoke.t.

DP_SRCS := $(wildcard tests/bench/dataplane/*.c)
DP_BINS := $(DP_SRCS:tests/bench/dataplane/%.c=$(O)/bench/%)
DP_ARGS ?=

$(O)/bench/%: tests/bench/dataplane/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(BH_CFLAGS) $(BH_LDFLAGS) -o $@ $< $(LIB) $(BH_LIBS)

tests: $(DP_BINS)

bench-dataplane: $(O)/bulkheadctl $(O)/tests/tools/nft_apply $(DP_BINS)
	BH_BUILD=$(O) bash tests/bench/dataplane/run.sh $(DP_ARGS)

.PHONY: bench-dataplane
-include $(DP_BINS:=.d)
