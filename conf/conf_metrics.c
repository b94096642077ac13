/*
 * conf_metrics.c: the metrics group, `metrics = { listen = "host:port"; };`
 * Optional: without it no process listens for /metrics (krx-ctl metrics
 * still answers). Library grade.
 */
#include <stdlib.h>

#include <libconfig.h>

#include "conf/conf.h"
#include "conf/conf_int.h"

static const char *const metrics_keys[] = { "listen", NULL };

void
krx_conf_metrics(struct conf_ctx *c, const config_setting_t *root)
{
	const config_setting_t	*g;
	struct krx_hostport	 hp;
	char			*v;

	c->conf->metrics_listen = NULL;
	if ((g = krx_conf_group(c, root, "krxd.conf", "metrics")) == NULL)
		return;
	krx_conf_check_keys(c, g, metrics_keys, "metrics");
	if ((v = krx_conf_str(c, g, "metrics", "listen", 1, 300, NULL,
	    "host:port")) == NULL)
		return;
	if (krx_hostport_parse(v, &hp) != KRX_OK) {
		krx_conf_error(c->errs, c->file, krx_conf_line(g, "listen"),
		    "metrics listen \"%s\" is not host:port (IPv6 as "
		    "[addr]:port, port 1..65535)", v);
		free(v);
		return;
	}
	krx_hostport_free(&hp);
	c->conf->metrics_listen = v;
}
