# libFuzzer harness for ctnetlink messages through the observer's parser
# (tests/fuzz/fuzz_ctevent.c): what the kernel's conntrack events feed the
# daemon's allowed-flow observations.
include mk/fuzz.mk
FUZZ_CTEVENT_SECONDS ?= 10
$(eval $(call fuzz_harness,ctevent,tests/fuzz/fuzz_ctevent.c \
	enforcer/ctevent.c,libmnl jansson nettle,tests/fuzz/corpus-ctevent,\
	$(FUZZ_CTEVENT_SECONDS),))
