/*
 * sockets.c: the master binds every listening socket of a generation's
 * configuration (each virtual cluster's bootstrap port and its node
 * ports) before forking, so workers inherit them and privileged ports
 * work. On reload, an address the running generation listens on keeps
 * its socket: the new workers inherit the same one, and no connection
 * attempt is refused while the generations change over. A failure is
 * reported, not fatal: krxd.c ends on it before READY, a reload keeps
 * the running generation.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "master/master.h"

int
krx_sockets_bind(const struct krx_conf *conf, int line, const char *host,
    int port, struct krx_conf_errors *errs)
{
	struct addrinfo	 hints, *res, *ai;
	char		 serv[8];
	int		 fd = -1, on = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((r = getaddrinfo(host, serv, &hints, &res)) != 0) {
		krx_conf_error(errs, conf->path, line, "cannot resolve listen "
		    "address %s:%d: %s", host, port, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
		    listen(fd, 4096) == 0)
			break;
		r = errno;
		close(fd);
		fd = -1;
		errno = r;
	}
	freeaddrinfo(res);
	if (fd == -1)
		krx_conf_error(errs, conf->path, line, "cannot listen on "
		    "%s:%d: %s", host, port, strerror(errno));
	return fd;
}

/* old's socket for host:port, or -1. */
static int
sockets_find(const struct krx_cycle *old, const char *host, int port)
{
	const struct krx_listener	*l;
	size_t				 i;

	for (i = 0; old != NULL && i < old->n_listeners; i++) {
		l = &old->listeners[i];
		if (l->port == port && l->fd != -1 && strcmp(host,
		    old->conf->vclusters[l->vc].bootstrap.host) == 0)
			return l->fd;
	}
	return -1;
}

static int
sockets_add(struct krx_cycle *cy, const struct krx_cycle *old, size_t vc,
    int node_id, int port, struct krx_conf_errors *errs)
{
	const struct krx_conf_vcluster	*v = &cy->conf->vclusters[vc];
	struct krx_listener		*l;

	cy->listeners = xreallocarray(cy->listeners, cy->n_listeners + 1,
	    sizeof(*cy->listeners));
	l = &cy->listeners[cy->n_listeners];
	l->vc = vc;
	l->node_id = node_id;
	l->port = port;
	if ((l->fd = sockets_find(old, v->bootstrap.host, port)) == -1 &&
	    (l->fd = krx_sockets_bind(cy->conf, v->line, v->bootstrap.host,
	    port, errs)) == -1)
		return -1;
	cy->n_listeners++;
	return 0;
}

static int
sockets_vcluster(struct krx_cycle *cy, const struct krx_cycle *old,
    size_t i, struct krx_conf_errors *errs)
{
	const struct krx_conf_vcluster	*vc = &cy->conf->vclusters[i];
	int				 n;

	if (sockets_add(cy, old, i, -1, vc->bootstrap.port, errs) == -1)
		return -1;
	if (vc->sni_bootstrap != NULL) {
		log_info("virtual cluster %s: %s:%d, brokers by TLS server "
		    "name %s$(nodeId)%s (0-%d), bootstrap %s", vc->name,
		    vc->bootstrap.host, vc->bootstrap.port, vc->sni_prefix,
		    vc->sni_suffix, vc->max_node_id, vc->sni_bootstrap);
		return 0;
	}
	for (n = 0; n <= vc->max_node_id; n++)
		if (sockets_add(cy, old, i, n, vc->node_start_port + n,
		    errs) == -1)
			return -1;
	log_info("virtual cluster %s: bootstrap %s:%d, nodes 0-%d on "
	    "ports %d-%d", vc->name, vc->bootstrap.host, vc->bootstrap.port,
	    vc->max_node_id, vc->node_start_port,
	    vc->node_start_port + vc->max_node_id);
	return 0;
}

int
krx_sockets_open(struct krx_cycle *cy, const struct krx_cycle *old,
    struct krx_conf_errors *errs)
{
	size_t	 i;

	for (i = 0; i < cy->conf->n_vclusters; i++)
		if (sockets_vcluster(cy, old, i, errs) == -1)
			goto fail;
	if (krx_metrics_listen_open(cy, old, errs) == 0)
		return 0;
fail:
	/* Close what this cycle bound itself, keep old's. */
	for (i = 0; i < cy->n_listeners; i++)
		if (sockets_find(old, cy->conf->vclusters[
		    cy->listeners[i].vc].bootstrap.host,
		    cy->listeners[i].port) != cy->listeners[i].fd)
			close(cy->listeners[i].fd);
	free(cy->listeners);
	cy->listeners = NULL;
	cy->n_listeners = 0;
	return -1;
}
