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

#include "control.h"
#include "daemon.h"
#include "log.h"
#include "ruleset.h"
#include "util.h"

#define DEFAULT_POLICY "/etc/bulkhead/groups"
#define DEFAULT_STATE_DIR "/var/lib/bulkhead"
#define DEFAULT_DENIED_LOG "/var/log/bulkhead/denied.jsonl"
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
"  --verify-interval S  compare the kernel's tables with the daemon's\n"
"                       model every S seconds and put back what differs\n"
"                       (default %u; 0: never)\n"
"  --foreground         stay in the foreground (under systemd); otherwise\n"
"                       fork once the first table is committed\n"
"  --flush-on-exit      delete the table at SIGTERM (default: leave it\n"
"                       enforcing, fail closed)\n"
"  -v, --verbose        debug messages\n"
"  -h, --help           this text\n"
"\n"
"Signals: SIGHUP reloads the policy (so does a change to the policy path),\n"
"SIGUSR1 reopens the denied-flow log, SIGTERM stops and leaves the rules.\n",
		DEFAULT_POLICY, CONTROL_DEFAULT_SOCKET, DEFAULT_STATE_DIR,
		DEFAULT_DENIED_LOG, RULESET_NFLOG_GROUP_DEFAULT,
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
		{ "engine", required_argument, NULL, 'e' },
		{ "guard-ports", required_argument, NULL, 'G' },
		{ "verify-interval", required_argument, NULL, 'V' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "flush-on-exit", no_argument, NULL, 'F' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts o = {
		.policy_path = DEFAULT_POLICY,
		.socket_path = CONTROL_DEFAULT_SOCKET,
		.state_dir = DEFAULT_STATE_DIR,
		.denied_log = DEFAULT_DENIED_LOG,
		.nflog_group = RULESET_NFLOG_GROUP_DEFAULT,
		.verify_interval_s = DEFAULT_VERIFY_INTERVAL_S,
	};
	const char **engines = NULL, **guards = NULL;
	size_t cap_engines = 0, cap_guards = 0;
	bool foreground = false;
	struct daemon *d = NULL;
	int verbosity = 0, c, ret;
	unsigned long v;
	char *end, *err = NULL;

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
		case 'V':
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
	return ret < 0 ? 1 : 0;
}
