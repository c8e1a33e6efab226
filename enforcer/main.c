/* bulkheadd: options, then daemon.c does the start-up in its documented
 * order and runs the loop. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bh_version.h"
#include "cluster.h"
#include "control.h"
#include "daemon.h"
#include "ecs.h"
#include "log.h"
#include "metrics.h"
#include "ruleset.h"
#include "util.h"

#define DEFAULT_POLICY "/etc/bulkhead/groups"
#define DEFAULT_STATE_DIR "/var/lib/bulkhead"
#define DEFAULT_DENIED_LOG "/var/log/bulkhead/denied.jsonl"
#define DEFAULT_FLOW_LOG "/var/log/bulkhead/flows.jsonl"
#define DEFAULT_VERIFY_INTERVAL_S 600

static void usage(FILE *out)
{
	fprintf(out,
"usage: bulkheadd [OPTIONS]\n"
"Keeps the nftables table inet bulkhead equal to the group policy x the\n"
"containers on this host.\n"
"\n"
"  --policy PATH        group policy: a YAML file or a directory of *.yaml\n"
"                       (default %s)\n"
"  --socket PATH        control socket (default %s)\n"
"  --state-dir DIR      where the container inventory is kept across\n"
"                       restarts (default %s)\n"
"  --denied-log PATH    denied-flow records, JSON lines\n"
"                       (default %s)\n"
"  --flow-log PATH|none allowed-flow observations (conntrack events, per\n"
"                       group pair and port), JSON lines (default %s);\n"
"                       none: no observations. Turns conntrack\n"
"                       accounting on (net.netfilter.nf_conntrack_acct)\n"
"  --record-format F    what the denied-flow and flow logs hold: json\n"
"                       (bulkhead's records, the default) or ecs\n"
"                       (Elastic Common Schema documents)\n"
"  --nflog-group N      NFLOG group of the deny rules (default %d)\n"
"  --engine URL         follow a Docker/Podman engine's API socket, e.g.\n"
"                       unix:///run/podman/podman.sock; repeat it for\n"
"                       several (Docker's and Podman's). One that is\n"
"                       absent is retried with backoff and reported\n"
"                       stale; it never delays start-up\n"
"  --guard-ports PREFIX host-side ports whose name starts with PREFIX\n"
"                       (e.g. veth) must belong to an attached container:\n"
"                       frames from any other such port are dropped and\n"
"                       logged as spoofing (fail closed before the attach);\n"
"                       repeatable\n"
"  --metrics-file PATH  write Prometheus metrics to PATH (node_exporter's\n"
"                       textfile format; name it *.prom in the textfile\n"
"                       collector's directory), atomically, every\n"
"                       --metrics-interval seconds (default %d)\n"
"  --metrics-interval S seconds between two writes of the metrics file,\n"
"                       1-3600\n"
"  --etcd URL           several hosts: publish this host's containers in\n"
"                       etcd and enforce the other hosts' too\n"
"                       (docs/cluster.md); http:// or https://, one per\n"
"                       member, repeatable. Without it: one host\n"
"  --etcd-ca FILE       CA certificate(s) that sign etcd's certificate\n"
"  --etcd-cert FILE     client certificate for etcd (with --etcd-key)\n"
"  --etcd-key FILE      its private key\n"
"  --host-name NAME     this host in etcd (default: the host name)\n"
"  --etcd-prefix P      key prefix (default %s)\n"
"  --etcd-ttl SECONDS   lease TTL; a host silent that long leaves the\n"
"                       others' sets (default %d, 5-3600)\n"
"  --verify-interval S  compare the kernel's tables with the daemon's\n"
"                       model every S seconds and put back what differs\n"
"                       (default %u; 0: never)\n"
"  --foreground         stay in the foreground (under systemd); otherwise\n"
"                       fork once the first table is committed\n"
"  --flush-on-exit      delete the table at SIGTERM (default: leave it\n"
"                       enforcing, fail closed)\n"
"  -v, --verbose        debug messages\n"
"  --version            print the version and exit\n"
"  -h, --help           this text\n"
"\n"
"Signals: SIGHUP reloads the policy (so does a change to the policy path),\n"
"SIGUSR1 reopens the denied-flow and flow logs, SIGTERM stops and leaves\n"
"the rules.\n",
		DEFAULT_POLICY, CONTROL_DEFAULT_SOCKET, DEFAULT_STATE_DIR,
		DEFAULT_DENIED_LOG, DEFAULT_FLOW_LOG,
		RULESET_NFLOG_GROUP_DEFAULT, METRICS_INTERVAL_DEFAULT_S,
		CLUSTER_PREFIX_DEFAULT, CLUSTER_TTL_DEFAULT,
		DEFAULT_VERIFY_INTERVAL_S);
}

/* The parent returns once the child is enforcing and listening (it was
 * before the fork): whoever started us may use the socket at once. */
static void background(void)
{
	pid_t pid;
	int fd;

	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid > 0)
		_exit(0);
	setsid();
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "state-dir", required_argument, NULL, 'd' },
		{ "denied-log", required_argument, NULL, 'l' },
		{ "nflog-group", required_argument, NULL, 'g' },
		{ "flow-log", required_argument, NULL, 'O' },
		{ "record-format", required_argument, NULL, 'R' },
		{ "engine", required_argument, NULL, 'e' },
		{ "guard-ports", required_argument, NULL, 'G' },
		{ "metrics-file", required_argument, NULL, 'M' },
		{ "metrics-interval", required_argument, NULL, 'I' },
		{ "etcd", required_argument, NULL, 'E' },
		{ "etcd-ca", required_argument, NULL, 1001 },
		{ "etcd-cert", required_argument, NULL, 1002 },
		{ "etcd-key", required_argument, NULL, 1003 },
		{ "host-name", required_argument, NULL, 1004 },
		{ "etcd-prefix", required_argument, NULL, 1005 },
		{ "etcd-ttl", required_argument, NULL, 1006 },
		{ "verify-interval", required_argument, NULL, 'T' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "flush-on-exit", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o = {
		.policy_path = DEFAULT_POLICY,
		.socket_path = CONTROL_DEFAULT_SOCKET,
		.state_dir = DEFAULT_STATE_DIR,
		.denied_log = DEFAULT_DENIED_LOG,
		.flow_log = DEFAULT_FLOW_LOG,
		.nflog_group = RULESET_NFLOG_GROUP_DEFAULT,
		.verify_interval_s = DEFAULT_VERIFY_INTERVAL_S,
	};
	const char **engines = NULL, **guards = NULL, **etcds = NULL;
	size_t cap_engines = 0, cap_guards = 0, cap_etcds = 0;
	struct cluster_opts co = { 0 };
	bool cluster_opt = false;
	bool foreground = false;
	struct daemon *d = NULL;
	int verbosity = 0, c, ret;
	enum record_format rf;
	unsigned long v;
	char *end, *err = NULL;

	bh_malloc_tune();
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			o.policy_path = optarg;
			break;
		case 's':
			o.socket_path = optarg;
			break;
		case 'd':
			o.state_dir = optarg;
			break;
		case 'l':
			o.denied_log = optarg;
			break;
		case 'O':
			if (!*optarg) {
				fprintf(stderr, "bulkheadd: --flow-log: "
					"expected a path or none\n");
				return 2;
			}
			o.flow_log = strcmp(optarg, "none") ? optarg : NULL;
			break;
		case 'g':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v > 65535) {
				fprintf(stderr, "bulkheadd: --nflog-group: "
					"expected 0-65535, got '%s'\n", optarg);
				return 2;
			}
			o.nflog_group = (uint16_t)v;
			break;
		case 'R':
			if (!ecs_parse_format(optarg, &rf)) {
				fprintf(stderr, "bulkheadd: --record-format: "
					"expected json or ecs, got '%s'\n",
					optarg);
				return 2;
			}
			o.record_ecs = rf == RECORD_FORMAT_ECS;
			break;
		case 'e':
			xgrow(&engines, &cap_engines, o.n_engines + 1,
			      sizeof(*engines));
			engines[o.n_engines++] = optarg;
			o.engines = engines;
			break;
		case 'G':
			/* a name prefix: nft's iifname "PREFIX*" */
			if (!*optarg || strlen(optarg) >= IF_NAMESIZE ||
			    strspn(optarg, "abcdefghijklmnopqrstuvwxyz"
				   "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
				    strlen(optarg)) {
				fprintf(stderr, "bulkheadd: --guard-ports: "
					"expected an interface name prefix "
					"(1-%d of A-Z a-z 0-9 . _ -), got "
					"'%s'\n", IF_NAMESIZE - 1, optarg);
				return 2;
			}
			xgrow(&guards, &cap_guards, o.n_guard_ports + 1,
			      sizeof(*guards));
			guards[o.n_guard_ports++] = optarg;
			o.guard_ports = guards;
			break;
		case 'M':
			if (!*optarg) {
				fprintf(stderr, "bulkheadd: --metrics-file: "
					"expected a path\n");
				return 2;
			}
			o.metrics_file = optarg;
			break;
		case 'I':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 1 || v > 3600) {
				fprintf(stderr, "bulkheadd: --metrics-interval: "
					"expected 1-3600 seconds, got '%s'\n",
					optarg);
				return 2;
			}
			o.metrics_interval_s = (unsigned)v;
			break;
		case 'E':
			xgrow(&etcds, &cap_etcds, co.etcd.n_urls + 1,
			      sizeof(*etcds));
			etcds[co.etcd.n_urls++] = optarg;
			co.etcd.urls = etcds;
			break;
		case 1001:
			co.etcd.ca = optarg;
			cluster_opt = true;
			break;
		case 1002:
			co.etcd.cert = optarg;
			cluster_opt = true;
			break;
		case 1003:
			co.etcd.key = optarg;
			cluster_opt = true;
			break;
		case 1004:
			co.host_name = optarg;
			cluster_opt = true;
			break;
		case 1005:
			co.prefix = optarg;
			cluster_opt = true;
			break;
		case 1006:
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || v < 5 || v > 3600) {
				fprintf(stderr, "bulkheadd: --etcd-ttl: "
					"expected 5-3600 seconds, got '%s'\n",
					optarg);
				return 2;
			}
			co.ttl = (unsigned)v;
			cluster_opt = true;
			break;
		case 'T':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || !*optarg || *optarg == '-' ||
			    v > 86400 * 7) {
				fprintf(stderr, "bulkheadd: --verify-interval: "
					"expected 0-604800 seconds, got "
					"'%s'\n", optarg);
				return 2;
			}
			o.verify_interval_s = (unsigned)v;
			break;
		case 'f':
			foreground = true;
			break;
		case 'F':
			o.flush_on_exit = true;
			break;
		case 'v':
			verbosity++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("bulkheadd %s\n", BH_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "bulkheadd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}
	if (cluster_opt && !co.etcd.n_urls) {
		fprintf(stderr, "bulkheadd: --etcd-ca, --etcd-cert, --etcd-key, "
			"--host-name, --etcd-prefix and --etcd-ttl need "
			"--etcd\n");
		return 2;
	}
	if (co.etcd.n_urls)
		o.cluster = &co;
	o.journald = log_under_journald();
	/* in the background, stderr is gone after the fork: the journal */
	log_init("bulkheadd", o.journald ? LOG_TO_JOURNAL : LOG_TO_STDERR,
		 verbosity);
	signal(SIGPIPE, SIG_IGN);

	ret = daemon_new(&o, &d, &err);
	if (ret < 0)
		fatal("%s", err ? err : strerror(-ret));
	if (!foreground) {
		background();
		log_init("bulkheadd", LOG_TO_JOURNAL, verbosity);
	}
	ret = daemon_run(d);
	if (ret < 0)
		log_err("event loop: %s", strerror(-ret));
	daemon_free(d);
	free(engines);
	free(guards);
	free(etcds);
	return ret < 0 ? 1 : 0;
}
