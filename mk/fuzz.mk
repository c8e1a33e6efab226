# libFuzzer target for the policy loader (clang only).
#   make fuzz                      build $(O)/fuzz/fuzz_policy
#   make fuzz-run FUZZ_SECONDS=60  fuzz a scratch copy of the seed corpus;
#                                  a crash, leak, hang or OOM fails make
# The loader's sources are compiled directly with the fuzzer's
# instrumentation rather than linked from libbulkhead.a.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := $(O)/fuzz
FUZZ_SRCS    := tests/fuzz/fuzz_policy.c enforcer/policy.c \
                enforcer/policy_yaml.c enforcer/util.c
FUZZ_FLAGS   := -g -O1 -std=gnu11 -D_GNU_SOURCE -Iinclude \
                -fsanitize=fuzzer,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer \
                $(shell $(PKG_CONFIG) --cflags yaml-0.1)

# The inventory harness: the state file and --inventory parser.
FUZZ_INV_SRCS := tests/fuzz/fuzz_inventory.c enforcer/inventory.c \
                 enforcer/policy.c enforcer/policy_yaml.c enforcer/util.c
FUZZ_INV_SECONDS ?= 10

fuzz: $(FUZZ_DIR)/fuzz_policy $(FUZZ_DIR)/fuzz_inventory

$(FUZZ_DIR)/fuzz_inventory: $(FUZZ_INV_SRCS) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) $(shell $(PKG_CONFIG) --cflags jansson) \
		-o $@ $(FUZZ_INV_SRCS) \
		$(shell $(PKG_CONFIG) --libs yaml-0.1 jansson)

$(FUZZ_DIR)/fuzz_policy: $(FUZZ_SRCS) $(wildcard include/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ $(FUZZ_SRCS) \
		$(shell $(PKG_CONFIG) --libs yaml-0.1)

fuzz-run: $(FUZZ_DIR)/fuzz_policy $(FUZZ_DIR)/fuzz_inventory
	rm -rf $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	mkdir -p $(FUZZ_DIR)/corpus $(FUZZ_DIR)/artifacts
	cp tests/fuzz/corpus/* $(FUZZ_DIR)/corpus/
	$(FUZZ_DIR)/fuzz_policy -max_total_time=$(FUZZ_SECONDS) \
		-rss_limit_mb=2048 -timeout=10 -max_len=65536 \
		-dict=tests/fuzz/policy.dict \
		-artifact_prefix=$(FUZZ_DIR)/artifacts/ \
		-print_final_stats=1 $(FUZZ_DIR)/corpus
	rm -rf $(FUZZ_DIR)/corpus-inventory $(FUZZ_DIR)/artifacts-inventory
	mkdir -p $(FUZZ_DIR)/corpus-inventory $(FUZZ_DIR)/artifacts-inventory
	cp tests/fuzz/corpus-inventory/* $(FUZZ_DIR)/corpus-inventory/
	$(FUZZ_DIR)/fuzz_inventory -max_total_time=$(FUZZ_INV_SECONDS) \
		-rss_limit_mb=2048 -timeout=10 -max_len=65536 \
		-artifact_prefix=$(FUZZ_DIR)/artifacts-inventory/ \
		-print_final_stats=1 $(FUZZ_DIR)/corpus-inventory
