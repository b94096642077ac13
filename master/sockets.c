/*
 * sockets.c: the master binds every listening socket of the
 * configuration (each virtual cluster's bootstrap port and its node
 * ports) before forking, so workers inherit them and privileged ports
 * work. Failure here is fatal: it happens before READY.
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

static int
sockets_bind(const char *host, int port)
{
	struct addrinfo	 hints, *res, *ai;
	char		 serv[8];
	int		 fd = -1, on = 1, r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(serv, sizeof(serv), "%d", port);
	if ((r = getaddrinfo(host, serv, &hints, &res)) != 0)
		fatalx("cannot resolve listen address %s:%d: %s", host, port,
		    gai_strerror(r));
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
		fatal("cannot listen on %s:%d", host, port);
	return fd;
}

static void
sockets_add(struct krx_master *m, size_t vc, int node_id, const char *host,
    int port)
{
	struct krx_listener	*l;

	m->cy->listeners = xreallocarray(m->cy->listeners,
	    m->cy->n_listeners + 1, sizeof(*m->cy->listeners));
	l = &m->cy->listeners[m->cy->n_listeners++];
	l->vc = vc;
	l->node_id = node_id;
	l->port = port;
	l->fd = sockets_bind(host, port);
}

void
krx_sockets_open(struct krx_master *m)
{
	const struct krx_conf_vcluster	*vc;
	size_t				 i;
	int				 n;

	for (i = 0; i < m->cy->conf->n_vclusters; i++) {
		vc = &m->cy->conf->vclusters[i];
		sockets_add(m, i, -1, vc->bootstrap.host, vc->bootstrap.port);
		for (n = 0; n <= vc->max_node_id; n++)
			sockets_add(m, i, n, vc->bootstrap.host,
			    vc->node_start_port + n);
		log_info("virtual cluster %s: bootstrap %s:%d, nodes 0-%d on "
		    "ports %d-%d", vc->name, vc->bootstrap.host,
		    vc->bootstrap.port, vc->max_node_id, vc->node_start_port,
		    vc->node_start_port + vc->max_node_id);
	}
}

void
krx_sockets_close(struct krx_master *m)
{
	size_t	 i;

	for (i = 0; i < m->cy->n_listeners; i++)
		if (m->cy->listeners[i].fd != -1)
			close(m->cy->listeners[i].fd);
	free(m->cy->listeners);
	m->cy->listeners = NULL;
	m->cy->n_listeners = 0;
}
