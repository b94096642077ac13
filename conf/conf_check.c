/*
 * conf_check.c: checks across fields of a loaded configuration (ports
 * that collide, node ranges). Shared by `krxd -t`, start-up and reload.
 * Library grade.
 */
#include <string.h>

#include "conf/conf.h"

static int
check_overlap(int a0, int a1, int b0, int b1)
{
	return a0 <= b1 && b0 <= a1;
}

/* The node ports of vc: none with SNI routing (its bootstrap port). */
static void
check_node_range(const struct krx_conf_vcluster *vc, int *lo, int *hi)
{
	if (vc->sni_bootstrap != NULL) {
		*lo = *hi = vc->bootstrap.port;
		return;
	}
	*lo = vc->node_start_port;
	*hi = *lo + vc->max_node_id;
}

static void
check_vcluster_pair(const struct krx_conf *conf,
    const struct krx_conf_vcluster *a, const struct krx_conf_vcluster *b,
    struct krx_conf_errors *errs)
{
	int	 a0, a1, b0, b1;

	check_node_range(a, &a0, &a1);
	check_node_range(b, &b0, &b1);
	if (strcmp(a->name, b->name) == 0)
		krx_conf_error(errs, conf->path, b->line,
		    "virtual cluster name \"%s\" used twice", b->name);
	if (a->bootstrap.port == b->bootstrap.port)
		krx_conf_error(errs, conf->path, b->line,
		    "bootstrap port %d already used by virtual cluster \"%s\"",
		    b->bootstrap.port, a->name);
	if (check_overlap(a0, a1, b0, b1) ||
	    check_overlap(a->bootstrap.port, a->bootstrap.port, b0, b1) ||
	    check_overlap(b->bootstrap.port, b->bootstrap.port, a0, a1))
		krx_conf_error(errs, conf->path, b->line,
		    "ports of virtual cluster \"%s\" overlap those of \"%s\"",
		    b->name, a->name);
}

void
krx_conf_check(const struct krx_conf *conf, struct krx_conf_errors *errs)
{
	const struct krx_conf_vcluster	*vc;
	size_t				 i, j;

	if (conf->n_vclusters == 0)
		krx_conf_error(errs, conf->path, 0,
		    "no virtual_clusters configured");
	for (i = 0; i < conf->n_vclusters; i++) {
		vc = &conf->vclusters[i];
		for (j = 0; j < i; j++)
			check_vcluster_pair(conf, &conf->vclusters[j], vc,
			    errs);
		if (vc->sni_bootstrap != NULL)
			continue;	/* one port */
		if (vc->bootstrap.port >= vc->node_start_port &&
		    vc->bootstrap.port <= vc->node_start_port + vc->max_node_id)
			krx_conf_error(errs, conf->path, vc->line,
			    "bootstrap port %d lies inside the node port range "
			    "%d-%d", vc->bootstrap.port, vc->node_start_port,
			    vc->node_start_port + vc->max_node_id);
		if (vc->node_start_port + vc->max_node_id > 65535)
			krx_conf_error(errs, conf->path, vc->line,
			    "node port range %d-%d goes past 65535",
			    vc->node_start_port,
			    vc->node_start_port + vc->max_node_id);
	}
}

void
krx_conf_check_root(const struct krx_conf *conf, unsigned euid,
    struct krx_conf_errors *errs)
{
	size_t	 i;
	int	 enc = 0;

	if (euid != 0 || conf->allow_root)
		return;
	for (i = 0; i < conf->n_vclusters; i++)
		if (conf->vclusters[i].enc.enabled)
			enc = 1;
	if (conf->user == NULL)
		krx_conf_error(errs, conf->path, 0, "running as root needs "
		    "\"user\" for the workers (or \"allow_root = true;\" "
		    "to run them as root)");
	if (enc && conf->keysvc_user == NULL)
		krx_conf_error(errs, conf->path, 0, "running as root needs "
		    "\"keysvc_user\" for the key service (or "
		    "\"allow_root = true;\" to run it as root)");
}
