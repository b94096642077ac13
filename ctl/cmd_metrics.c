/*
 * cmd_metrics.c: krx-ctl metrics: the Prometheus text (format 0.0.4)
 * the master renders from the shared counters, the same text the
 * workers serve at /metrics.
 */
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "ctl/ctl.h"
#include "proto/ipc.h"

int
cmd_metrics(int fd, int argc, char **argv)
{
	struct krx_ipc_hdr	 h;
	struct krx_buf		 p;
	int			 r = 1;

	if (argc != 1)
		ctl_usage();
	krx_buf_init(&p, 0);
	if (ctl_call_text(fd, KRX_IPC_CTL_METRICS, NULL, 0, &h, &p) == 0 &&
	    h.type == KRX_IPC_CTL_OK) {
		if (fwrite(p.data, 1, p.len, stdout) == p.len &&
		    fflush(stdout) == 0)
			r = 0;
	}
	krx_buf_free(&p);
	return r;
}
