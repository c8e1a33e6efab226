/* bulkheadctl: check, explain and reload policy, read the denials.
 * Dispatches to one function per subcommand (ctl_<verb>.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bh_version.h"
#include "control.h"
#include "ctl.h"
#include "verify.h"

static const struct ctl_verb verbs[] = {
	{ "check", ctl_check, "check PATH... [--strict] [--hash]" },
	{ "show", ctl_show, "show PATH" },
	{ "ruleset", ctl_ruleset, "ruleset [PATH [--inventory FILE] [--nflog-group N]]" },
	{ "attach", ctl_attach, "attach --id ID --name NAME --label KEY=VALUE... {--ip ADDR... [--ifname IF] | --port IFNAME=ADDR[,ADDR...]...}" },
	{ "detach", ctl_detach, "detach --id ID" },
	{ "status", ctl_status, "status [--json]" },
	{ "reload", ctl_reload, "reload" },
	{ "explain", ctl_explain, "explain --from C|ADDR --to C|ADDR --port tcp/N [--json]" },
	{ "denials", ctl_denials, "denials [--since 10m|TIME] [--until ..] [--group G] [--from G|C] [--to G|C] [--port tcp/N] [--format table|json|ecs] [--json] [--follow] [--summary] [--file PATH]" },
	{ "flows", ctl_flows, "flows [--since 10m|TIME] [--until ..] [--group G] [--from G|C] [--to G|C] [--port tcp/N] [--format table|json|ecs] [--json] [--follow] [--summary] [--file PATH]" },
	{ "map", ctl_map, "map [--since 24h|TIME] [--until TIME] [--format svg|dot|json] [-o FILE] [--policy PATH] [--denied-file PATH] [--flows-file PATH]" },
	{ "posture", ctl_posture, "posture [--json] [--cluster] [--policy PATH [--inventory FILE]] [--engine URL]... [--date YYYY-MM-DD]" },
	{ "hosts", ctl_hosts, "hosts [--json]" },
	{ "diff", ctl_diff, "diff CANDIDATE [--since 7d|TIME] [--records DIR] [--policy PATH] [--json]" },
	{ "recommend", ctl_recommend, "recommend [--group G]... [--since 24h|TIME] [--include-denied] [--policy PATH] [--records DIR] [--denied-file PATH] [-o FILE]" },
	{ "readiness", ctl_readiness, "readiness [--since 7d|TIME] [--json] [--policy PATH] [--records DIR] [--denied-file PATH] [--flows-file PATH]" },
	{ "verify", ctl_verify, "verify [--json] | verify --policy PATH [--state-dir DIR] [--nflog-group N] [--guard-ports PREFIX]..." },
};

static const char *socket_path;

const char *ctl_socket_path(void)
{
	const char *e = getenv(CONTROL_SOCKET_ENV);

	if (socket_path)
		return socket_path;
	return e && *e ? e : CONTROL_DEFAULT_SOCKET;
}

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: bulkheadctl [--socket PATH] VERB [ARGS]\n"
		"       bulkheadctl --version   (the daemon's: status)\n\n");
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		fprintf(out, "  bulkheadctl %s\n", verbs[i].usage);
	fprintf(out, "\nThe socket defaults to $%s, then %s.\n",
		CONTROL_SOCKET_ENV, CONTROL_DEFAULT_SOCKET);
}

int main(int argc, char **argv)
{
	int i = 1;
	size_t v;

	while (i < argc && argv[i][0] == '-') {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--version")) {
			printf("bulkheadctl %s\n", BH_VERSION);
			return 0;
		}
		if (!strcmp(argv[i], "--socket") && i + 1 < argc) {
			socket_path = argv[i + 1];
			i += 2;
			continue;
		}
		if (!strncmp(argv[i], "--socket=", 9)) {
			socket_path = argv[i] + 9;
			i++;
			continue;
		}
		fprintf(stderr, "bulkheadctl: unknown option %s\n", argv[i]);
		usage(stderr);
		return 2;
	}
	if (i >= argc) {
		usage(stderr);
		return 2;
	}
	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
		if (!strcmp(argv[i], verbs[v].name))
			return verbs[v].run(argc - i, argv + i);
	fprintf(stderr, "bulkheadctl: unknown verb '%s'\n", argv[i]);
	usage(stderr);
	return 2;
}
