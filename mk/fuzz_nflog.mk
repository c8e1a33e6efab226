# libFuzzer harness for NFLOG messages through attribution to JSON records
# (tests/fuzz/fuzz_nflog.c): what a container's denied packets feed the
# daemon.
include mk/fuzz.mk
FUZZ_NFLOG_SECONDS ?= 10
$(eval $(call fuzz_harness,nflog,tests/fuzz/fuzz_nflog.c enforcer/nflog.c \
	enforcer/flowlog.c enforcer/inventory.c enforcer/policy.c \
	enforcer/policy_yaml.c enforcer/util.c enforcer/log.c,\
	libmnl jansson yaml-0.1 libsystemd nettle,tests/fuzz/corpus-nflog,\
	$(FUZZ_NFLOG_SECONDS),))
