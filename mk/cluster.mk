# Cluster benchmark (docs/benchmarks.md, "cluster"): one real bulkheadd
# following a real etcd with 100,000 simulated remote endpoints, then 100
# updates/s; root, about 2 minutes.
#   make bench-cluster
#   make bench-cluster CLUSTER_HOSTS=100     a smaller run

bench-cluster: $(O)/bulkheadd $(O)/bulkheadctl $(O)/tests/bench/nft_elemwatch
	BH_BUILD=$(O) bash tests/bench/cluster.sh

.PHONY: bench-cluster
