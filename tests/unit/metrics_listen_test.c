/*
 * metrics_listen_test.c: the metrics listener's socket across
 * generations (master/metrics_listen.c through master/sockets.c and
 * master/cycle.c): none without metrics.listen; a reload with the same
 * address hands the new cycle the very socket and freeing the old cycle
 * leaves it open; a new address gets a new socket and the old one closes
 * with the old cycle; an address in use fails the cycle's sockets and
 * closes the Kafka listeners it bound itself.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "master/cycle.c"
#include "master/sockets.c"
#include "master/metrics_listen.c"

static int	 port;	/* a free base port: port .. port + 4 */

static int
port_fd(int p, int do_listen)
{
	struct sockaddr_in	 sin;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)p);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    (do_listen && listen(fd, 1) != 0)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
accepts(int p)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)p);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return r;
}

static void
setup(void)
{
	int	 tries, i, fd;

	srandom((unsigned)getpid() ^ 0x6d6c);
	for (tries = 0; tries < 200; tries++) {
		port = 30000 + (int)(random() % 10000);
		for (i = 0; i < 5 && (fd = port_fd(port + i, 0)) != -1; i++)
			close(fd);
		if (i == 5)
			return;
	}
	cr_assert_fail("no free ports");
}

/* A cycle listening on port (bootstrap, nodes port+1, port+2) and mport. */
static struct krx_cycle *
cycle_of(int mport, uint32_t gen)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	struct krx_cycle	*cy;
	char			 text[1024], m[128] = "";

	if (mport != 0)
		snprintf(m, sizeof(m), "metrics = { listen = "
		    "\"127.0.0.1:%d\"; };\n", mport);
	snprintf(text, sizeof(text), "workers = 1;\n%s"
	    "virtual_clusters = ( { name = \"a\";\n"
	    "  bootstrap = \"127.0.0.1:%d\"; max_node_id = 1;\n"
	    "  upstream = { bootstrap = \"k:9092\"; }; } );\n", m, port);
	memset(&errs, 0, sizeof(errs));
	cr_assert_eq(krx_conf_load_string(text, "t.conf", &conf, &errs),
	    KRX_OK, "%s", errs.n > 0 ? errs.msg[0] : "");
	krx_conf_errors_free(&errs);
	cy = krx_cycle_new(conf, gen, 0, NULL);
	cr_assert_not_null(cy);
	return cy;
}

static int
open_sockets(struct krx_cycle *cy, const struct krx_cycle *old)
{
	struct krx_conf_errors	 errs;
	int			 r;

	memset(&errs, 0, sizeof(errs));
	r = krx_sockets_open(cy, old, &errs);
	if (r == -1)
		cr_assert(errs.n > 0 && strstr(errs.msg[0], "cannot listen"),
		    "%s", errs.n > 0 ? errs.msg[0] : "(no error)");
	krx_conf_errors_free(&errs);
	return r;
}

Test(metrics_listen, none_without_the_setting, .init = setup)
{
	struct krx_cycle	*a = cycle_of(0, 1);

	cr_assert_eq(open_sockets(a, NULL), 0);
	cr_assert_eq(a->metrics_fd, -1);
	krx_cycle_free(a, NULL);
}

Test(metrics_listen, kept_then_moved, .init = setup)
{
	struct krx_cycle	*a, *b, *c;
	int			 fd;

	a = cycle_of(port + 3, 1);
	cr_assert_eq(open_sockets(a, NULL), 0);
	cr_assert_neq(a->metrics_fd, -1);
	cr_assert(accepts(port + 3));
	b = cycle_of(port + 3, 2);
	cr_assert_eq(open_sockets(b, a), 0);
	cr_assert_eq(b->metrics_fd, a->metrics_fd, "same address, new socket");
	krx_cycle_free(a, b);
	cr_assert_neq(fcntl(b->metrics_fd, F_GETFD), -1, "closed with a");
	cr_assert(accepts(port + 3));
	c = cycle_of(port + 4, 3);
	cr_assert_eq(open_sockets(c, b), 0);
	cr_assert_neq(c->metrics_fd, b->metrics_fd);
	cr_assert(accepts(port + 4));
	fd = b->metrics_fd;
	krx_cycle_free(b, c);
	cr_assert_eq(fcntl(fd, F_GETFD), -1, "the old address stays open");
	cr_assert(!accepts(port + 3));
	cr_assert(accepts(port + 4));
	krx_cycle_free(c, NULL);
	cr_assert(!accepts(port + 4));
}

Test(metrics_listen, address_in_use, .init = setup)
{
	struct krx_cycle	*a;
	int			 busy;

	busy = port_fd(port + 3, 1);
	cr_assert_neq(busy, -1);
	a = cycle_of(port + 3, 1);
	cr_assert_eq(open_sockets(a, NULL), -1);
	cr_assert_eq(a->metrics_fd, -1);
	cr_assert_eq(a->n_listeners, 0);
	cr_assert(!accepts(port), "the Kafka listeners stay open");
	krx_cycle_free(a, NULL);
	close(busy);
}
