/*
 * cmd_status.c: krx-ctl status, stop, reload and reopen-logs, answered
 * by the master; text, or JSON with -j.
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
status_child(struct krx_cur *c, uint32_t gen, int first)
{
	uint32_t	 slot, kind, cpid, state, restarts;
	uint64_t	 conns;

	if (krx_cur_get_be32(c, &slot) || krx_cur_get_be32(c, &kind) ||
	    krx_cur_get_be32(c, &cpid) || krx_cur_get_be32(c, &state) ||
	    krx_cur_get_be32(c, &restarts) || krx_cur_get_be64(c, &conns))
		return -1;
	if (ctl_json) {
		printf("%s\n    {\"kind\": \"%s\", \"slot\": %u, \"pid\": %u, "
		    "\"state\": \"%s\", \"restarts\": %u", first ? "" : ",",
		    kind == 0 ? "worker" : "keysvc", slot, cpid,
		    krx_child_state_name(state), restarts);
		if (kind == 0)
			printf(", \"connections\": %llu",
			    (unsigned long long)conns);
		printf("}");
	} else if (kind == 0)
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
status_gen(struct krx_cur *c, int first)
{
	uint32_t	 gen, state, n, i;
	uint64_t	 up;

	if (krx_cur_get_be32(c, &gen) || krx_cur_get_be32(c, &state) ||
	    krx_cur_get_be64(c, &up) || krx_cur_get_be32(c, &n) ||
	    n > KRX_IPC_MAX_CTL / 28)
		return -1;
	if (ctl_json)
		printf("%s\n  {\"generation\": %u, \"state\": \"%s\", "
		    "\"uptime\": %llu, \"children\": [", first ? "" : ",", gen,
		    krx_gen_state_name(state), (unsigned long long)up);
	else
		printf("generation %u %s uptime %llus\n", gen,
		    krx_gen_state_name(state), (unsigned long long)up);
	for (i = 0; i < n; i++)
		if (status_child(c, gen, i == 0) != 0)
			return -1;
	if (ctl_json)
		printf("]}");
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
	if (ctl_json)
		printf("{\"pid\": %u, \"generation\": %u, \"uptime\": %llu, "
		    "\"generations\": [", pid, gen, (unsigned long long)up);
	else
		printf("krxd pid %u generation %u uptime %llus\n", pid, gen,
		    (unsigned long long)up);
	for (i = 0; i < n; i++)
		if (status_gen(c, i == 0) != 0)
			return -1;
	if (ctl_json)
		printf("]}\n");
	return krx_cur_end(c) == KRX_OK ? 0 : -1;
}

int
cmd_status(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	struct krx_cur		 c;
	FILE			*saved = stdout, *mem;
	char			*text = NULL;
	size_t			 len = 0;
	int			 r = CTL_EXIT_FAILED;

	if (argc != 1)
		ctl_usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_STATUS, NULL, 0, &h, &p) == 0 &&
	    (mem = open_memstream(&text, &len)) != NULL) {
		/* Printed once whole: a malformed reply prints no half. */
		stdout = mem;
		krx_cur_init(&c, p.data, p.len);
		r = h.type != KRX_IPC_STATUS_REPLY || status_print(&c) != 0;
		fclose(mem);
		stdout = saved;
		if (r != 0)
			ctl_fail(r, "malformed status reply");
		else
			fwrite(text, 1, len, stdout);
	}
	free(text);
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
	int			 r = CTL_EXIT_FAILED;

	if (argc == 2 && strcmp(argv[1], "--graceful") == 0)
		graceful = 1;
	else if (argc != 1)
		ctl_usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_STOP, &graceful, 1, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		if (stop_wait(fd) == 0) {
			printf(ctl_json ? "{\"stopped\": true}\n" :
			    "krxd stopped\n");
			r = 0;
		} else
			ctl_fail(r, "lost krxd while stopping");
	}
	krx_buf_free(&p);
	return r;
}

/* A reload's failure: every problem, one a line; -j: a list too. */
static void
reload_failed(const struct krx_buf *p)
{
	const char	*s = (const char *)p->data, *end = s + p->len, *nl;
	int		 first = 1;

	if (!ctl_json) {
		fprintf(stderr, "%.*s\n", (int)p->len, s);
		return;
	}
	printf("{\"error\": ");
	ctl_json_str(stdout, s, p->len);
	printf(", \"problems\": [");
	for (; s < end; s = nl + 1) {
		if ((nl = memchr(s, '\n', (size_t)(end - s))) == NULL)
			nl = end;
		if (nl == s)
			continue;
		printf("%s\n  ", first ? "" : ",");
		ctl_json_str(stdout, s, (size_t)(nl - s));
		first = 0;
	}
	printf("]}\n");
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
		ctl_fail(CTL_EXIT_FAILED, "malformed reply");
		r = -1;
	} else if (r == 1)
		reload_failed(&p);
	else if (r == 0 && ctl_json) {
		printf("{\"reloaded\": true, \"message\": ");
		ctl_json_str(stdout, (const char *)p.data, p.len);
		printf("}\n");
	} else if (r == 0)
		printf("%.*s\n", (int)p.len, (const char *)p.data);
	krx_buf_free(&p);
	return r == 0 ? 0 : CTL_EXIT_FAILED;
}

int
cmd_reopen(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r = CTL_EXIT_FAILED;

	if (argc != 1)
		ctl_usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_REOPEN, NULL, 0, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		if (ctl_json) {
			printf("{\"message\": ");
			ctl_json_str(stdout, (const char *)p.data, p.len);
			printf("}\n");
		} else
			printf("%.*s", (int)p.len, (const char *)p.data);
		r = 0;
	}
	krx_buf_free(&p);
	return r;
}
