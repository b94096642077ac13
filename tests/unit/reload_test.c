/*
 * reload_test.c: what a reload keeps (issue 11). master/confload.c
 * refuses the settings a reload cannot change and lets the others
 * through, with a new key service only for new KMS settings;
 * master/cycle.c adopts the node and topic maps only for the
 * same virtual clusters; master/sockets.c gives the new cycle the very
 * sockets of the addresses the old one listens on, and freeing the old
 * cycle closes only the sockets the new one does not have.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "master/confload.c"
#include "master/cycle.c"
#include "master/sockets.c"
#include "master/metrics_listen.c"

/* keysvc/kms.c is not linked here: every provider is known. */
int
krx_kms_known(const char *name)
{
	return name != NULL;
}

static int	 port;	/* a free base port: port .. port + 5 */

static int
port_free(int p)
{
	struct sockaddr_in	 sin;
	int			 fd, r;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)p);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
	close(fd);
	return r;
}

/* Six free ports in a row, below the ephemeral range. */
static int
free_base(void)
{
	int	 tries, p, i;

	srandom((unsigned)getpid());
	for (tries = 0; tries < 200; tries++) {
		p = 20000 + (int)(random() % 10000);
		for (i = 0; i < 6 && port_free(p + i); i++)
			;
		if (i == 6)
			return p;
	}
	cr_assert_fail("no free ports");
	return 0;
}

static struct krx_conf *
conf_of(const char *user, int node_port, const char *upstream,
    const char *enc)
{
	struct krx_conf_errors	 errs;
	struct krx_conf		*conf;
	char			 text[2048];

	snprintf(text, sizeof(text),
	    "workers = 1;\n%s%s%s"
	    "virtual_clusters = ( { name = \"a\";\n"
	    "  bootstrap = \"127.0.0.1:%d\"; node_start_port = %d;\n"
	    "  max_node_id = 1; upstream = { bootstrap = \"%s\"; };\n%s"
	    "} );\n", user != NULL ? "user = \"" : "",
	    user != NULL ? user : "", user != NULL ? "\";\n" : "", port,
	    node_port, upstream, enc);
	memset(&errs, 0, sizeof(errs));
	cr_assert_eq(krx_conf_load_string(text, "t.conf", &conf, &errs),
	    KRX_OK, "%s", errs.n > 0 ? errs.msg[0] : "");
	krx_conf_errors_free(&errs);
	return conf;
}

#define ENC(ks) "  record_encryption = { kms = \"LocalKms\";\n" \
	"    kmsConfig = { keystore = \"" ks "\"; };\n" \
	"    selector = \"TemplateKekSelector\";\n" \
	"    selectorConfig = { template = \"K-$(topicName)\"; }; };\n"

static size_t
refusals(struct krx_conf *old, struct krx_conf *new, const char *want)
{
	struct krx_conf_errors	 errs;
	size_t			 i, n, found = 0;

	memset(&errs, 0, sizeof(errs));
	krx_confload_reloadable(old, new, &errs);
	for (i = 0; i < errs.n; i++)
		if (want != NULL && strstr(errs.msg[i], want) != NULL)
			found++;
	n = errs.n;
	krx_conf_errors_free(&errs);
	krx_conf_free(old);
	krx_conf_free(new);
	cr_assert(want == NULL || found > 0, "no error naming %s", want);
	return n;
}

static void
setup(void)
{
	port = free_base();
}

Test(reload, changes_a_reload_takes, .init = setup)
{
	cr_assert_eq(refusals(conf_of(NULL, port + 1, "k:9092", ""),
	    conf_of(NULL, port + 4, "other:9093", ""), NULL), 0);
	cr_assert_eq(refusals(conf_of(NULL, port + 1, "k:9092", ENC("/k")),
	    conf_of(NULL, port + 4, "other:9093", ENC("/k")), NULL), 0);
}

Test(reload, refuses_what_needs_a_restart, .init = setup)
{
	cr_assert_eq(refusals(conf_of("nobody", port + 1, "k:9092", ""),
	    conf_of("daemon", port + 1, "k:9092", ""),
	    "user cannot change by reload"), 1);
	/* KMS changes are no refusal: a new key service takes them. */
	cr_assert_eq(refusals(conf_of(NULL, port + 1, "k:9092", ENC("/k")),
	    conf_of(NULL, port + 1, "k:9092", ENC("/other")), NULL), 0);
	cr_assert_eq(refusals(conf_of(NULL, port + 1, "k:9092", ""),
	    conf_of(NULL, port + 1, "k:9092", ENC("/k")), NULL), 0);
}

static int
same_keysvc(struct krx_conf *old, struct krx_conf *new)
{
	int	 r = krx_confload_same_keysvc(old, new);

	krx_conf_free(old);
	krx_conf_free(new);
	return r;
}

Test(reload, new_keysvc_only_for_kms_changes, .init = setup)
{
	cr_assert(same_keysvc(conf_of(NULL, port + 1, "k:9092", ENC("/k")),
	    conf_of(NULL, port + 4, "other:9093", ENC("/k"))));
	cr_assert_not(same_keysvc(conf_of(NULL, port + 1, "k:9092",
	    ENC("/k")), conf_of(NULL, port + 1, "k:9092", ENC("/other"))));
	cr_assert_not(same_keysvc(conf_of(NULL, port + 1, "k:9092", ""),
	    conf_of(NULL, port + 1, "k:9092", ENC("/k"))));
	cr_assert_not(same_keysvc(conf_of(NULL, port + 1, "k:9092",
	    ENC("/k")), conf_of(NULL, port + 1, "k:9092", "")));
}

Test(reload, maps_adopted_for_the_same_clusters, .init = setup)
{
	struct krx_cycle	*a, *b, *c;

	a = krx_cycle_new(conf_of(NULL, port + 1, "k:9092", ""), 1, 0, NULL);
	b = krx_cycle_new(conf_of(NULL, port + 4, "k:9092", ""), 2, 256,
	    NULL);
	c = krx_cycle_new(conf_of(NULL, port + 1, "k2:9092", ""), 3, 0,
	    NULL);
	cr_assert(a != NULL && b != NULL && c != NULL);
	cr_assert_eq(krx_cycle_adopt_maps(b, a), 1);
	cr_assert(b->nodemap == a->nodemap && b->topicmap == a->topicmap);
	cr_assert_eq(krx_cycle_adopt_maps(c, a), 0);
	cr_assert(c->nodemap != a->nodemap && c->topicmap != a->topicmap);
	krx_cycle_free(a, b);	/* b's maps stay */
	cr_assert(krx_nodemap_set(b->nodemap, 0, 1, "h", 1, 9092) >= 0);
	krx_cycle_free(b, NULL);
	krx_cycle_free(c, NULL);
}

static int
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

Test(reload, sockets_kept_by_address, .init = setup)
{
	struct krx_conf_errors	 errs;
	struct krx_cycle	*a, *b;
	int			 gone, kept;

	memset(&errs, 0, sizeof(errs));
	a = krx_cycle_new(conf_of(NULL, port + 1, "k:9092", ""), 1, 0, NULL);
	cr_assert_eq(krx_sockets_open(a, NULL, &errs), 0, "%s",
	    errs.n > 0 ? errs.msg[0] : "");
	cr_assert_eq(a->n_listeners, 3);
	/* Nodes move from port+1, port+2 to port+2, port+3. */
	b = krx_cycle_new(conf_of(NULL, port + 2, "k:9092", ""), 2, 256,
	    NULL);
	cr_assert_eq(krx_sockets_open(b, a, &errs), 0);
	cr_assert_eq(b->n_listeners, 3);
	cr_assert_eq(b->listeners[0].fd, a->listeners[0].fd);	/* bootstrap */
	cr_assert_eq(b->listeners[1].fd, a->listeners[2].fd);	/* port+2 */
	cr_assert_neq(b->listeners[2].fd, a->listeners[1].fd);
	cr_assert_eq(b->listeners[1].node_id, 0);
	gone = a->listeners[1].fd;
	kept = a->listeners[0].fd;
	krx_cycle_free(a, b);
	cr_assert_not(fd_open(gone), "port+1's socket was not closed");
	cr_assert(fd_open(kept));
	cr_assert(fd_open(b->listeners[2].fd));
	krx_cycle_free(b, NULL);
	cr_assert_not(fd_open(kept));
	krx_conf_errors_free(&errs);
}

Test(reload, a_port_in_use_is_reported, .init = setup)
{
	struct krx_conf_errors	 errs;
	struct krx_cycle	*a, *b;

	memset(&errs, 0, sizeof(errs));
	a = krx_cycle_new(conf_of(NULL, port + 1, "k:9092", ""), 1, 0, NULL);
	cr_assert_eq(krx_sockets_open(a, NULL, &errs), 0, "%s",
	    errs.n > 0 ? errs.msg[0] : "");
	/* Another cycle without a as its predecessor cannot bind them. */
	b = krx_cycle_new(conf_of(NULL, port + 1, "k:9092", ""), 2, 256,
	    NULL);
	cr_assert_eq(krx_sockets_open(b, NULL, &errs), -1);
	cr_assert_eq(errs.n, 1);
	cr_assert(strstr(errs.msg[0], "t.conf:") == errs.msg[0] &&
	    strstr(errs.msg[0], "cannot listen on 127.0.0.1:") != NULL,
	    "%s", errs.msg[0]);
	cr_assert_eq(b->n_listeners, 0);
	cr_assert(fd_open(a->listeners[0].fd));
	krx_cycle_free(b, NULL);
	krx_cycle_free(a, NULL);
	krx_conf_errors_free(&errs);
}
