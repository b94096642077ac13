/*
 * cmd_keys.c: krx-ctl kek, kms and cache, answered by keysvc (relayed
 * by the master): text, never key bytes; the exit code says what
 * failed (3 not found, 4 access denied, 5 KMS unreachable, 1 other).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

/* One key command: u8 op | str cluster | str arg; reply u8 code | text. */
int
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

int
cmd_kek(int fd, int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "list") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_LIST, "");
	if (argc != 3)
		ctl_usage();
	if (strcmp(argv[1], "create") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_CREATE, argv[2]);
	if (strcmp(argv[1], "rotate") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_ROTATE, argv[2]);
	if (strcmp(argv[1], "delete") == 0)
		return ctl_keys(fd, KRX_KEYS_KEK_DELETE, argv[2]);
	ctl_usage();
	return 2;
}

int
cmd_kms(int fd, int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "check") != 0)
		ctl_usage();
	return ctl_keys(fd, KRX_KEYS_KMS_CHECK, argv[2]);
}

int
cmd_cache(int fd, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "stats") != 0)
		ctl_usage();
	return ctl_keys(fd, KRX_KEYS_STATS, "");
}
