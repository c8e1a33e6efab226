# libFuzzer harness for the CNI plugin's input (tests/fuzz/fuzz_cni.c):
# the network config on stdin and CNI_ARGS / CNI_CONTAINERID, through
# parse_request and the attach request bulkhead-cni would send. The harness
# compiles cni.c inside itself (main and the socket and netlink calls
# renamed), hence cni.c is a prerequisite and not a source.
include mk/fuzz.mk
FUZZ_CNI_SECONDS ?= 10
$(eval $(call fuzz_harness,cni,tests/fuzz/fuzz_cni.c enforcer/inventory.c enforcer/policy.c enforcer/policy_yaml.c enforcer/util.c enforcer/log.c,jansson yaml-0.1 libsystemd libnl-3.0 libnl-route-3.0 nettle,tests/fuzz/corpus-cni,$(FUZZ_CNI_SECONDS),))
$(FUZZ_DIR)/fuzz_cni: enforcer/cni.c
