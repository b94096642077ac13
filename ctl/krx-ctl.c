/*
 * krx-ctl.c: command-line client of krxd's control socket. Maps argv
 * through a table of commands, sends one typed request carrying the IPC
 * version, prints the typed reply (text, or JSON with -j).
 *
 *   krx-ctl [-j] [-s SOCKET | -c CONFIG] [-C CLUSTER] COMMAND [ARGS]
 *   krx-ctl help [COMMAND] | COMMAND --help
 *
 * One file per group of commands (cmd_*.c), the transport in call.c,
 * output helpers in json.c; exit codes in ctl.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ctl/ctl.h"

/* conf.c's default control_socket. */
#define CTL_DEFAULT_SOCKET	"/run/krx/control.sock"

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", cmd_status, "status", "show krxd, its generations and children",
	    "Show krxd's pid, serving generation and uptime, and each "
	    "worker and\nkey service with its state, restarts and open "
	    "connections. Read-only:\nany local user may run it.", 0 },
	{ "stop", cmd_stop, "stop [--graceful]", "stop krxd (drain first)",
	    "Stop krxd and wait until it has exited. --graceful: the "
	    "workers\nfinish their connections first (up to "
	    "drain_timeout). Admin only.", 0 },
	{ "reload", cmd_reload, "reload", "load the configuration file again",
	    "Load the configuration file again and start a new generation "
	    "of\nworkers; answered once it serves (exit 0) or with every "
	    "problem of the\nfile while the running one stays (exit 1). "
	    "Admin only.", 0 },
	{ "reopen-logs", cmd_reopen, "reopen-logs", "reopen log files",
	    "Reopen log files (krxd logs to stderr or syslog: nothing to "
	    "do).\nAdmin only.", 0 },
	{ "config-test", cmd_config_test, "config-test FILE", "check FILE as krxd -t does",
	    "Check FILE with every check krxd -t runs (syntax, settings, "
	    "TLS\nfiles), without a running krxd: each problem as "
	    "FILE:LINE: text.\nExit 0 when valid, 1 when not. Needs no "
	    "socket.", 1 },
	{ "metrics", cmd_metrics, "metrics", "Prometheus text of the counters",
	    "Print the counters as the metrics listener serves them "
	    "(Prometheus text\nformat 0.0.4), summed by the master. "
	    "With -j,\none JSON document of the samples. Read-only: any local "
	    "user may run it.", 0 },
	{ "kek", cmd_kek, "kek create|rotate|delete NAME | kek list",
	    "LocalKms KEKs",
	    "kek create NAME, kek rotate NAME, kek delete NAME: change a "
	    "KEK of\nthe LocalKms keystore (admin only); rotate and delete "
	    "flush the caches\nthat used it. kek list: the KEKs, their "
	    "versions and creation times\n(read-only). -C picks the "
	    "virtual cluster.", 0 },
	{ "kms", cmd_kms, "kms check KEK", "generate + decrypt round trip",
	    "Resolve KEK, generate a DEK under it and decrypt its EDEK "
	    "again, asking\nthe KMS itself. Exit 3 KEK not found, 4 access "
	    "denied, 5 KMS\nunreachable. Admin only.", 0 },
	{ "cache", cmd_cache, "cache stats | flush",
	    "DEK cache counters, or empty the caches",
	    "cache stats: the key service's and the workers' counters "
	    "(read-only).\ncache flush: the key service empties its DEK "
	    "cache (memory and LMDB)\nand every worker drops its DEKs and "
	    "alias resolutions: the next\nfetch of old records asks the "
	    "KMS again. Admin only.", 0 },
	{ "dek", cmd_dek, "dek rotate [KEK]", "new DEKs for the next produce",
	    "Every worker of the serving generation drops its encryption "
	    "DEKs (all,\nor those under KEK name or alias KEK): the next "
	    "produce makes new ones.\nSays how many were dropped; fails "
	    "naming a worker that did not answer.\nAdmin only.", 0 },
	{ "scan", cmd_scan, "scan --topic T [--partition P] [--group G] "
	    "[--timeout S] [--out DIR]", "find undecryptable records (lost KEK)",
	    "For each partition of topic T (or partition P), read every record "
	    "from\nthe brokers, test each EDEK through the key service (values "
	    "are never\ndecrypted) and print the lowest offset from which every "
	    "record decrypts,\nthe undecryptable ranges with their KEKs, and "
	    "the kafka-delete-records\nand kafka-consumer-groups commands that "
	    "skip them. Admin only.", 0 },
	{ NULL, NULL, NULL, NULL, NULL, 0 }
};

static const char ctl_help_text[] =
    "usage: krx-ctl [-j] [-s socket | -c config] [-C cluster] command "
    "[args]\n"
    "       krx-ctl help [command] | command --help\n"
    "  -j          JSON on stdout (errors as {\"error\": ...})\n"
    "  -s socket   krxd's control socket\n"
    "  -c config   take control_socket from this file (default "
    KRX_CONF_DEFAULT_PATH ")\n"
    "  -C cluster  virtual cluster for kek and kms (default: the first "
    "that\n              encrypts)\n"
    "commands:\n";

static const char ctl_exit_text[] =
    "exit: 0 done, 1 failed, 2 usage, 3 KEK not found, 4 permission "
    "denied,\n      5 KMS unreachable, 6 krxd not running\n";

const char	*ctl_cluster = "";
const char	*ctl_group;

static void
ctl_list(FILE *f)
{
	const struct ctl_cmd	*c;

	fputs(ctl_help_text, f);
	for (c = ctl_cmds; c->word != NULL; c++)
		if (strlen(c->usage) > 21)
			fprintf(f, "  %s\n  %22s %s\n", c->usage, "",
			    c->summary);
		else
			fprintf(f, "  %-22s %s\n", c->usage, c->summary);
	fputs(ctl_exit_text, f);
}

void
ctl_usage(void)
{
	ctl_list(stderr);
	exit(CTL_EXIT_USAGE);
}

static const struct ctl_cmd *
ctl_find(const char *word)
{
	const struct ctl_cmd	*c;

	for (c = ctl_cmds; c->word != NULL; c++)
		if (strcmp(c->word, word) == 0)
			return c;
	return NULL;
}

/* krx-ctl help [CMD], CMD --help: on stdout, exit 0. */
static _Noreturn void
ctl_help(const char *word)
{
	const struct ctl_cmd	*c;

	if (word == NULL) {
		ctl_list(stdout);
		exit(0);
	}
	if ((c = ctl_find(word)) == NULL) {
		fprintf(stderr, "krx-ctl: no command %s\n", word);
		ctl_usage();
	}
	printf("usage: krx-ctl [-j] [-s socket | -c config] %s\n\n%s.\n%s\n\n"
	    "%s", c->usage, c->summary, c->help, ctl_exit_text);
	exit(0);
}

static int
ctl_wants_help(int argc, char **argv)
{
	int	 i;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return 1;
	return 0;
}

static char *
ctl_socket_from_config(const char *path)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	char			*sock;
	size_t			 i;

	/*
	 * A user who may not read krxd's file (a non-admin running status)
	 * gets the socket krxd uses when the file names none.
	 */
	if (access(path, R_OK) == -1 && errno == EACCES)
		return strdup(CTL_DEFAULT_SOCKET);
	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load(path, &conf, &errs) != KRX_OK) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		krx_conf_errors_free(&errs);
		return NULL;
	}
	krx_conf_errors_free(&errs);
	sock = strdup(conf->control_socket);
	if (conf->control_group != NULL)
		ctl_group = strdup(conf->control_group);
	krx_conf_free(conf);
	return sock;
}

int
main(int argc, char *argv[])
{
	const struct ctl_cmd	*c;
	const char		*config = NULL;
	char			*sock = NULL;
	int			 ch, fd = -1, r;

	signal(SIGPIPE, SIG_IGN);
	if (argc == 2 && strcmp(argv[1], "--help") == 0)
		ctl_help(NULL);
	while ((ch = getopt(argc, argv, "+s:c:C:jh")) != -1) {
		switch (ch) {
		case 'C':
			ctl_cluster = optarg;
			break;
		case 's':
			free(sock);
			sock = strdup(optarg);
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			ctl_json = 1;
			break;
		case 'h':
			ctl_help(NULL);
		default:
			ctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ctl_usage();
	if (strcmp(argv[0], "help") == 0)
		ctl_help(argc > 1 ? argv[1] : NULL);
	if ((c = ctl_find(argv[0])) == NULL) {
		fprintf(stderr, "krx-ctl: no command %s\n", argv[0]);
		ctl_usage();
	}
	if (ctl_wants_help(argc, argv))
		ctl_help(c->word);
	if (!c->no_socket) {
		if (sock == NULL && (sock = ctl_socket_from_config(config !=
		    NULL ? config : KRX_CONF_DEFAULT_PATH)) == NULL)
			return ctl_fail(CTL_EXIT_FAILED, "no control socket: "
			    "the configuration file does not load");
		if ((fd = ctl_connect(sock, &r)) == -1) {
			free(sock);
			return r;
		}
	}
	r = c->run(fd, argc, argv);
	if (fd != -1)
		close(fd);
	free(sock);
	return r;
}
