# libFuzzer harness for the Engine API answers (tests/fuzz/fuzz_docker.c):
# inspect answers, container lists and event lines, as enforcer/docker.c
# reads them. The harness compiles docker.c inside itself (it renames
# open() and links_peer_ports, and is the engine's sink), hence docker.c is
# a prerequisite and not a source; logs would flood stderr, hence
# -close_fd_mask=2.
include mk/fuzz.mk
FUZZ_DOCKER_SECONDS ?= 10
$(eval $(call fuzz_harness,docker,tests/fuzz/fuzz_docker.c enforcer/curlev.c enforcer/ev.c \
	enforcer/inventory.c enforcer/policy.c enforcer/policy_yaml.c \
	enforcer/source.c enforcer/util.c enforcer/log.c,jansson libcurl libsystemd yaml-0.1 nettle,\
	tests/fuzz/corpus-docker,$(FUZZ_DOCKER_SECONDS),-close_fd_mask=2))
$(FUZZ_DIR)/fuzz_docker: enforcer/docker.c
