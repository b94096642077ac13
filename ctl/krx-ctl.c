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
 * Key commands are answered by keysvc (relayed by the master): text,
 * never key bytes; the exit code says what failed (3 not found, 4 access
 * denied, 5 KMS unreachable, 1 other).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/buf.h"
#include "conf/conf.h"
#include "proto/ipc.h"

#define CTL_TIMEOUT_MS	60000

struct ctl_cmd {
	const char	*word;
	int		(*run)(int fd, int argc, char **argv);
	const char	*help;
};

static int	cmd_status(int, int, char **);
static int	cmd_stop(int, int, char **);
static int	cmd_reload(int, int, char **);
static int	cmd_reopen(int, int, char **);
static int	cmd_kek(int, int, char **);
static int	cmd_kms(int, int, char **);
static int	cmd_cache(int, int, char **);

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
	{ NULL, NULL, NULL }
};

static const char	*ctl_cluster = "";

static void
usage(void)
{
	const struct ctl_cmd	*c;

	fprintf(stderr, "usage: krx-ctl [-s socket | -c config] [-C cluster] "
	    "command\n");
	for (c = ctl_cmds; c->word != NULL; c++)
		fprintf(stderr, "  %s\n", c->help);
	exit(2);
}

static int
ctl_connect(const char *path)
{
	struct sockaddr_un	 sun;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "krx-ctl: socket path too long: %s\n", path);
		return -1;
	}
	strcpy(sun.sun_path, path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "krx-ctl: cannot connect to %s: %s (is krxd "
		    "running?)\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	return fd;
}

static int
ctl_write_all(int fd, const uint8_t *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int
ctl_read_all(int fd, uint8_t *p, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = read(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Send one request, read one reply into payload: 0, 1 for a reply with
 * F_ERROR (payload holds the error), or -1 (printed).
 */
static int
ctl_call(int fd, uint32_t type, const void *req, size_t len,
    struct krx_ipc_hdr *h, struct krx_buf *payload)
{
	struct krx_buf	 out;
	uint8_t		 raw[KRX_IPC_HDR_LEN];
	int		 r;

	krx_buf_init(&out, 0);
	r = krx_ipc_compose(&out, type, 1, 0, req, len);
	if (r == KRX_OK && ctl_write_all(fd, out.data, out.len) != 0)
		r = KRX_E_IO;
	krx_buf_free(&out);
	if (r == KRX_OK && ctl_read_all(fd, raw, sizeof(raw)) != 0)
		r = KRX_E_IO;
	if (r == KRX_OK)
		r = krx_ipc_hdr_parse(raw, sizeof(raw), KRX_IPC_MAX_CTL, h);
	if (r == KRX_OK && krx_buf_reserve(payload, h->len - sizeof(raw)) ==
	    KRX_OK) {
		payload->len = h->len - sizeof(raw);
		if (ctl_read_all(fd, payload->data, payload->len) != 0)
			r = KRX_E_IO;
	}
	if (r != KRX_OK) {
		fprintf(stderr, "krx-ctl: %s\n", r == KRX_E_VERSION ?
		    "krx-ctl and krxd versions differ" : r == KRX_E_IO ?
		    "krxd closed the connection" : krx_strerror(r));
		return -1;
	}
	return (h->flags & KRX_IPC_F_ERROR) ? 1 : 0;
}

/* For replies whose error payload is plain text. */
static int
ctl_call_text(int fd, uint32_t type, const void *req, size_t len,
    struct krx_ipc_hdr *h, struct krx_buf *payload)
{
	int	 r = ctl_call(fd, type, req, len, h, payload);

	if (r == 1)
		fprintf(stderr, "krx-ctl: krxd: %.*s\n", (int)payload->len,
		    (const char *)payload->data);
	return r == 0 ? 0 : -1;
}

static int
status_child(struct krx_cur *c, uint32_t gen)
{
	uint32_t	 slot, kind, cpid, state, restarts;
	uint64_t	 conns;

	if (krx_cur_get_be32(c, &slot) || krx_cur_get_be32(c, &kind) ||
	    krx_cur_get_be32(c, &cpid) || krx_cur_get_be32(c, &state) ||
	    krx_cur_get_be32(c, &restarts) || krx_cur_get_be64(c, &conns))
		return -1;
	if (kind == 0)
		printf("worker %u pid %u %s restarts %u generation %u "
		    "connections %llu\n", slot, cpid,
		    krx_child_state_name(state), restarts, gen,
		    (unsigned long long)conns);
	else
		printf("keysvc %u pid %u %s restarts %u generation %u\n", slot,
		    cpid, krx_child_state_name(state), restarts, gen);
	return 0;
}

/* A generation: its line, then its children's. */
static int
status_gen(struct krx_cur *c)
{
	uint32_t	 gen, state, n, i;
	uint64_t	 up;

	if (krx_cur_get_be32(c, &gen) || krx_cur_get_be32(c, &state) ||
	    krx_cur_get_be64(c, &up) || krx_cur_get_be32(c, &n))
		return -1;
	printf("generation %u %s uptime %llus\n", gen,
	    krx_gen_state_name(state), (unsigned long long)up);
	for (i = 0; i < n; i++)
		if (status_child(c, gen) != 0)
			return -1;
	return 0;
}

static int
status_print(struct krx_cur *c)
{
	uint32_t	 pid, gen, n, i;
	uint64_t	 up;

	if (krx_cur_get_be32(c, &pid) || krx_cur_get_be32(c, &gen) ||
	    krx_cur_get_be64(c, &up) || krx_cur_get_be32(c, &n) || n > 2)
		return -1;
	printf("krxd pid %u generation %u uptime %llus\n", pid, gen,
	    (unsigned long long)up);
	for (i = 0; i < n; i++)
		if (status_gen(c) != 0)
			return -1;
	return krx_cur_end(c) == KRX_OK ? 0 : -1;
}

static int
cmd_status(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	struct krx_cur		 c;
	int			 r = 1;

	if (argc != 1)
		usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_STATUS, NULL, 0, &h, &p) == 0) {
		krx_cur_init(&c, p.data, p.len);
		if (h.type != KRX_IPC_STATUS_REPLY || status_print(&c) != 0)
			fprintf(stderr, "krx-ctl: malformed status reply\n");
		else
			r = 0;
	}
	krx_buf_free(&p);
	return r;
}

/* After the reply: krxd closes the control socket when it has exited. */
static int
stop_wait(int fd)
{
	uint8_t	 b;
	ssize_t	 n;

	while ((n = read(fd, &b, 1)) == -1 && errno == EINTR)
		;
	return n == 0 ? 0 : -1;
}

static int
cmd_stop(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	uint8_t			 graceful = 0;
	int			 r = 1;

	if (argc == 2 && strcmp(argv[1], "--graceful") == 0)
		graceful = 1;
	else if (argc != 1)
		usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_STOP, &graceful, 1, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		if (stop_wait(fd) == 0) {
			printf("krxd stopped\n");
			r = 0;
		} else
			fprintf(stderr, "krx-ctl: lost krxd while stopping\n");
	}
	krx_buf_free(&p);
	return r;
}

/*
 * Answered when the reload is over: the new generation serves (exit 0)
 * or the running one stays, with every problem of the file (exit 1, so
 * that systemctl reload fails).
 */
static int
cmd_reload(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r;

	if (argc != 1)
		usage();
	krx_buf_init(&p, 0);
	r = ctl_call(fd, KRX_IPC_CTL_RELOAD, NULL, 0, &h, &p);
	if (r >= 0 && h.type != KRX_IPC_CTL_OK) {
		fprintf(stderr, "krx-ctl: malformed reply\n");
		r = -1;
	} else if (r >= 0)
		fprintf(r == 0 ? stdout : stderr, "%.*s\n", (int)p.len,
		    (const char *)p.data);
	krx_buf_free(&p);
	return r == 0 ? 0 : 1;
}

static int
cmd_reopen(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r = 1;

	if (argc != 1)
		usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_REOPEN, NULL, 0, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		printf("%.*s", (int)p.len, (const char *)p.data);
		r = 0;
	}
	krx_buf_free(&p);
	return r;
}

/* One key command: u8 op | str cluster | str arg; reply u8 code | text. */
static int
ctl_keys(int fd, uint8_t op, const char *arg)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 req, p;
	int			 r = 1;

	krx_buf_init(&req, 64);
	krx_buf_init(&p, 0);
	krx_buf_put_u8(&req, op);
	krx_buf_put_be32(&req, (uint32_t)strlen(ctl_cluster));
	krx_buf_put(&req, ctl_cluster, strlen(ctl_cluster));
	krx_buf_put_be32(&req, (uint32_t)strlen(arg));
	krx_buf_put(&req, arg, strlen(arg));
	if (req.err != KRX_OK)
		goto out;
	if ((r = ctl_call(fd, KRX_IPC_CTL_KEYS, req.data, req.len, &h, &p)) ==
	    -1) {
		r = 1;
		goto out;
	}
	if (h.type != KRX_IPC_CTL_OK) {
		fprintf(stderr, "krx-ctl: malformed reply\n");
		r = 1;
		goto out;
	}
	if (p.len < 1) {
		fprintf(stderr, "krx-ctl: malformed reply\n");
		r = 1;
		goto out;
	}
	r = p.data[0];
	fprintf(r == 0 ? stdout : stderr, "%.*s", (int)p.len - 1,
	    (const char *)p.data + 1);
out:
	krx_buf_free(&req);
	krx_buf_free(&p);
	return r;
}

static int
cmd_kek(int fd, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_LIST, "");
	if (argc != 3)
		usage();
	if (strcmp(argv[1], "create") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_CREATE, argv[2]);
	if (strcmp(argv[1], "rotate") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_ROTATE, argv[2]);
	if (strcmp(argv[1], "delete") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_DELETE, argv[2]);
	usage();
	return 2;
}

static int
cmd_kms(int fd, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "check") != 0)
		usage();
	return ctl_keys(fd, KRX_KEYS_KMS_CHECK, argv[2]);
}

static int
cmd_cache(int fd, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "stats") != 0)
		usage();
	return ctl_keys(fd, KRX_KEYS_STATS, "");
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
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	for (c = ctl_cmds; c->word != NULL; c++)
		if (strcmp(c->word, argv[0]) == 0)
			break;
	if (c->word == NULL)
		usage();
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
