/*
 * metrics_listen.c: the metrics listener's socket (metrics.listen). The
 * master binds it, as root if the port needs it, and the workers of the
 * generation inherit it and serve HTTP on it (worker/httpd.c): no HTTP
 * parser runs in the master. Like the Kafka listeners it belongs to a
 * generation: a reload with the same address hands the new workers the
 * same socket (no refused connection while generations change over); a
 * new address is bound before the new generation starts, and the old
 * socket closes with the old generation. Program grade.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "conf/conf.h"
#include "master/master.h"

int
krx_metrics_listen_open(struct krx_cycle *cy, const struct krx_cycle *old,
    struct krx_conf_errors *errs)
{
	const char		*addr = cy->conf->metrics_listen;
	struct krx_hostport	 hp;

	cy->metrics_fd = -1;
	if (addr == NULL)
		return 0;
	if (old != NULL && old->metrics_fd != -1 &&
	    old->conf->metrics_listen != NULL &&
	    strcmp(old->conf->metrics_listen, addr) == 0) {
		cy->metrics_fd = old->metrics_fd;
		return 0;
	}
	if (krx_hostport_parse(addr, &hp) != KRX_OK) {
		krx_conf_error(errs, cy->conf->path, 0, "metrics listen "
		    "\"%s\" is not host:port", addr);
		return -1;
	}
	cy->metrics_fd = krx_sockets_bind(cy->conf, 0, hp.host, hp.port, errs);
	krx_hostport_free(&hp);
	if (cy->metrics_fd == -1)
		return -1;
	log_info("metrics: http://%s/metrics", addr);
	return 0;
}
