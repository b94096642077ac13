/*
 * cmd_status.c: krx-ctl status, stop, reload and reopen-logs, answered
 * by the master.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

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

int
cmd_status(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	struct krx_cur		 c;
	int			 r = 1;

	if (argc != 1)
		ctl_usage();
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

int
cmd_stop(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	uint8_t			 graceful = 0;
	int			 r = 1;

	if (argc == 2 && strcmp(argv[1], "--graceful") == 0)
		graceful = 1;
	else if (argc != 1)
		ctl_usage();
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
int
cmd_reload(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r;

	if (argc != 1)
		ctl_usage();
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

int
cmd_reopen(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r = 1;

	if (argc != 1)
		ctl_usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_REOPEN, NULL, 0, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		printf("%.*s", (int)p.len, (const char *)p.data);
		r = 0;
	}
	krx_buf_free(&p);
	return r;
}
