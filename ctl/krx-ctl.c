/*
 * krx-ctl.c: command-line client of krxd's control socket. Maps argv
 * through a table of commands, sends one typed request carrying the IPC
 * version, prints the typed reply.
 *
 *   krx-ctl [-s SOCKET | -c CONFIG] status
 *   krx-ctl [-s SOCKET | -c CONFIG] stop [--graceful]
 *   krx-ctl [-s SOCKET | -c CONFIG] reload | reopen-logs
 *   krx-ctl [...] [-C CLUSTER] kek create|rotate|delete NAME | kek list
 *   krx-ctl [...] [-C CLUSTER] kms check KEK
 *   krx-ctl [...] cache stats
 *
 * One file per group of commands (cmd_*.c), the transport in call.c.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "ctl/ctl.h"

static const struct ctl_cmd ctl_cmds[] = {
	{ "status", cmd_status, "status              show krxd and its children" },
	{ "stop", cmd_stop, "stop [--graceful]   stop krxd (drain first)" },
	{ "reload", cmd_reload, "reload              load the configuration "
	    "file again (new generation)" },
	{ "reopen-logs", cmd_reopen, "reopen-logs         reopen log files" },
	{ "kek", cmd_kek, "kek create|rotate|delete NAME, kek list (LocalKms)" },
	{ "kms", cmd_kms, "kms check KEK       generate + decrypt round trip" },
	{ "cache", cmd_cache, "cache stats         key service and DEK cache "
	    "counters" },
	{ "metrics", cmd_metrics, "metrics             Prometheus text of the "
	    "counters" },
	{ NULL, NULL, NULL }
};

const char	*ctl_cluster = "";

void
ctl_usage(void)
{
	const struct ctl_cmd	*c;

	fprintf(stderr, "usage: krx-ctl [-s socket | -c config] [-C cluster] "
	    "command\n");
	for (c = ctl_cmds; c->word != NULL; c++)
		fprintf(stderr, "  %s\n", c->help);
	exit(2);
}

static char *
ctl_socket_from_config(const char *path)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	char			*sock;
	size_t			 i;

	memset(&errs, 0, sizeof(errs));
	if (krx_conf_load(path, &conf, &errs) != KRX_OK) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		krx_conf_errors_free(&errs);
		return NULL;
	}
	krx_conf_errors_free(&errs);
	sock = strdup(conf->control_socket);
	krx_conf_free(conf);
	return sock;
}

int
main(int argc, char *argv[])
{
	const struct ctl_cmd	*c;
	const char		*config = NULL;
	char			*sock = NULL;
	int			 ch, fd, r;

	signal(SIGPIPE, SIG_IGN);
	while ((ch = getopt(argc, argv, "+s:c:C:h")) != -1) {
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
		default:
			ctl_usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		ctl_usage();
	for (c = ctl_cmds; c->word != NULL; c++)
		if (strcmp(c->word, argv[0]) == 0)
			break;
	if (c->word == NULL)
		ctl_usage();
	if (sock == NULL && (sock = ctl_socket_from_config(config != NULL ?
	    config : KRX_CONF_DEFAULT_PATH)) == NULL)
		return 1;
	if ((fd = ctl_connect(sock)) == -1) {
		free(sock);
		return 1;
	}
	r = c->run(fd, argc, argv);
	close(fd);
	free(sock);
	return r;
}
