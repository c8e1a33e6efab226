# libFuzzer harnesses (clang only), one per parser of outside input.
#   make fuzz                      build every $(O)/fuzz/fuzz_NAME
#   make fuzz-run                  fuzz a scratch copy of each seed corpus;
#                                  a crash, leak, hang or OOM fails make
#   make fuzz-run FUZZ_SEED=0      the same from a random seed (hunting)
#   make fuzz-run-NAME             one harness
# Each harness's sources are compiled directly with the fuzzer's
# instrumentation rather than linked from libbulkhead.a. A harness is one
# line: $(eval $(call fuzz_harness,NAME,SOURCES,PKGS,SEEDS,SECONDS,FLAGS));
# other fragments (mk/fuzz_*.mk) include this file first.
ifndef BH_FUZZ_MK
BH_FUZZ_MK := 1

FUZZ_CC      ?= clang
FUZZ_DIR     := $(O)/fuzz
FUZZ_FLAGS   := -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude -I$(O)/gen \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer
# A fixed seed makes make check's run the same sequence of inputs on every
# machine (a slower one stops earlier in it): a failure is reproducible,
# and a new finding comes from a developer's run with FUZZ_SEED=0 (a
# random seed) or more seconds, not from the luck of one CI run.
FUZZ_SEED    ?= 1
FUZZ_RUN     := -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
                -print_final_stats=1 -seed=$(FUZZ_SEED)

.PHONY: fuzz fuzz-run

# $(call fuzz_harness,NAME,SOURCES,PKGS,SEEDS,SECONDS,FLAGS): the binary
# $(FUZZ_DIR)/fuzz_NAME and the target fuzz-run-NAME, which fuzzes a
# scratch copy of the directory SEEDS for SECONDS and leaves what failed
# in $(FUZZ_DIR)/artifacts-NAME/.
define fuzz_harness
$(FUZZ_DIR)/fuzz_$(1): $(strip $(2)) $(wildcard include/*.h)
	@mkdir -p $$(dir $$@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $$(shell $(PKG_CONFIG) --cflags $(strip $(3))) \
		-o $$@ $(strip $(2)) $$(shell $(PKG_CONFIG) --libs $(strip $(3)))

fuzz: $(FUZZ_DIR)/fuzz_$(1)
fuzz-run: fuzz-run-$(1)
.PHONY: fuzz-run-$(1)
fuzz-run-$(1): $(FUZZ_DIR)/fuzz_$(1)
	rm -rf $(FUZZ_DIR)/corpus-$(1) $(FUZZ_DIR)/artifacts-$(1)
	mkdir -p $(FUZZ_DIR)/corpus-$(1) $(FUZZ_DIR)/artifacts-$(1)
	cp $(strip $(4))/* $(FUZZ_DIR)/corpus-$(1)/
	$(FUZZ_DIR)/fuzz_$(1) -max_total_time=$(strip $(5)) $(FUZZ_RUN) $(strip $(6)) \
		-artifact_prefix=$(FUZZ_DIR)/artifacts-$(1)/ \
		$(FUZZ_DIR)/corpus-$(1)
endef

# The policy loader: any bytes as one policy file.
FUZZ_SECONDS ?= 60
$(eval $(call fuzz_harness,policy,tests/fuzz/fuzz_policy.c \
	enforcer/policy.c enforcer/policy_yaml.c enforcer/util.c,yaml-0.1 nettle,\
	tests/fuzz/corpus,$(FUZZ_SECONDS),-dict=tests/fuzz/policy.dict))

# The inventory parser: the state file and --inventory files.
FUZZ_INV_SECONDS ?= 10
$(eval $(call fuzz_harness,inventory,tests/fuzz/fuzz_inventory.c \
	enforcer/inventory.c enforcer/policy.c enforcer/policy_yaml.c \
	enforcer/util.c,yaml-0.1 jansson nettle,tests/fuzz/corpus-inventory,\
	$(FUZZ_INV_SECONDS),))

endif
