/*
 * cmd_dek.c: krx-ctl dek rotate [KEK]: every worker of the serving
 * generation drops its encryption DEKs (all, or those of one KEK name
 * or alias) so that the next produce makes new ones; the master
 * answers once every worker has, with how many were dropped.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

static int
dek_print(struct krx_cur *c, const char *kek)
{
	uint64_t	 dropped;
	uint32_t	 workers;

	if (krx_cur_get_be32(c, &workers) || krx_cur_get_be64(c, &dropped) ||
	    krx_cur_end(c) != KRX_OK)
		return -1;
	if (ctl_json) {
		printf("{\"workers\": %u, \"deks_dropped\": %llu, \"kek\": ",
		    workers, (unsigned long long)dropped);
		if (kek[0] != '\0')
			ctl_json_cstr(stdout, kek);
		else
			printf("null");
		printf("}\n");
	} else
		printf("dropped %llu encryption DEKs%s%s in %u workers\n",
		    (unsigned long long)dropped, kek[0] != '\0' ? " of KEK " :
		    "", kek, workers);
	return 0;
}

int
cmd_dek(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 req, p;
	struct krx_cur		 c;
	const char		*kek;
	int			 r = CTL_EXIT_FAILED;

	if ((argc != 2 && argc != 3) || strcmp(argv[1], "rotate") != 0)
		ctl_usage();
	kek = argc == 3 ? argv[2] : "";
	if (strlen(kek) > 255)
		return ctl_fail(CTL_EXIT_USAGE, "KEK name longer than 255 "
		    "bytes");
	krx_buf_init(&req, 64);
	krx_buf_init(&p, 0);
	krx_buf_put_be32(&req, (uint32_t)strlen(kek));
	krx_buf_put(&req, kek, strlen(kek));
	if (req.err == KRX_OK && ctl_call_text(fd, KRX_IPC_CTL_DEK_ROTATE,
	    req.data, req.len, &h, &p) == 0) {
		krx_cur_init(&c, p.data, p.len);
		if (h.type != KRX_IPC_CTL_OK || dek_print(&c, kek) != 0)
			ctl_fail(r, "malformed dek rotate reply");
		else
			r = 0;
	}
	krx_buf_free(&req);
	krx_buf_free(&p);
	return r;
}
