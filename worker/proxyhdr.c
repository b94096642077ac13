/*
 * proxyhdr.c: reading the PROXY protocol header of an accepted socket
 * (proxyhdr.h). Bytes are peeked, and only those that belong to the
 * header are consumed: a prefix the parser accepts is all header, and a
 * whole header's length is known, so the client's own first bytes
 * (a TLS ClientHello, a Kafka request) stay in the socket for the
 * session.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/cycle.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "proto/proxyproto.h"
#include "worker/proxyhdr.h"
#include "worker/session.h"

struct krx_pphdr {
	LIST_ENTRY(krx_pphdr)	 entry;
	struct krx_worker	*w;
	const struct krx_listener *l;
	int			 fd;
	struct event		*ev;		/* readable */
	struct event		*timer;		/* the whole header's time */
	struct sockaddr_storage	 peer;		/* the balancer's */
	socklen_t		 peer_len;
	uint8_t			 buf[KRX_PROXYPROTO_MAX];
	size_t			 len;		/* consumed so far */
};

static LIST_HEAD(, krx_pphdr) pphdrs = LIST_HEAD_INITIALIZER(pphdrs);
static size_t	 n_pphdrs;

static void
pphdr_free(struct krx_pphdr *h, int close_fd)
{
	LIST_REMOVE(h, entry);
	n_pphdrs--;
	if (h->ev != NULL)
		event_free(h->ev);
	if (h->timer != NULL)
		event_free(h->timer);
	if (close_fd)
		close(h->fd);
	free(h);
}

static void
pphdr_refuse(struct krx_pphdr *h, const char *why)
{
	char	 from[KRX_PROXYPROTO_ADDRSTRLEN];

	if (krx_proxyproto_format_addr(&h->peer, from, sizeof(from)) < 0)
		snprintf(from, sizeof(from), "?");
	log_info("connection from %s on port %d refused: %s", from,
	    h->l->port, why);
	pphdr_free(h, 1);
}

/* The header is whole: the session starts with the address it gives. */
static void
pphdr_done(struct krx_pphdr *h, const struct krx_proxyproto *pp)
{
	struct krx_worker		*w = h->w;
	const struct krx_listener	*l = h->l;
	struct sockaddr_storage		 sa;
	socklen_t			 len;
	int				 fd = h->fd;

	if (pp->command == KRX_PROXYPROTO_PROXY &&
	    (pp->family == KRX_PROXYPROTO_TCP4 ||
	    pp->family == KRX_PROXYPROTO_TCP6)) {
		sa = pp->src;
		len = pp->family == KRX_PROXYPROTO_TCP4 ?
		    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	} else {
		sa = h->peer;	/* LOCAL (a health check), UNKNOWN */
		len = h->peer_len;
	}
	pphdr_free(h, 0);
	krx_session_accept(w, l, fd, (struct sockaddr *)&sa, (int)len);
}

static void
pphdr_timeout(evutil_socket_t fd, short what, void *arg)
{
	pphdr_refuse(arg, "no whole PROXY protocol header within "
	    "handshake_timeout");
}

/* Peek what is there; consume what is header. */
static void
pphdr_read(evutil_socket_t fd, short what, void *arg)
{
	struct krx_pphdr	*h = arg;
	struct krx_proxyproto	 pp;
	ssize_t			 n;
	int			 r;

	n = recv(fd, h->buf + h->len, sizeof(h->buf) - h->len, MSG_PEEK);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		pphdr_refuse(h, n == 0 ? "closed before its PROXY protocol "
		    "header" : strerror(errno));
		return;
	}
	r = krx_proxyproto_parse(h->buf, h->len + (size_t)n, &pp);
	if (r < 0) {
		pphdr_refuse(h, r == KRX_E_TOO_BIG ? "PROXY protocol header "
		    "too long" : "no valid PROXY protocol header (is the "
		    "load balancer sending one?)");
		return;
	}
	/* Consume the header's bytes, and nothing of the client's. */
	n = r > 0 ? (ssize_t)((size_t)r - h->len) : n;
	if (recv(fd, h->buf + h->len, (size_t)n, 0) != n) {
		pphdr_refuse(h, "short read");
		return;
	}
	h->len += (size_t)n;
	if (r > 0)
		pphdr_done(h, &pp);
}

void
krx_proxyhdr_start(struct krx_worker *w, const struct krx_listener *l,
    int fd, const struct sockaddr *sa, int salen)
{
	struct timeval		 tv = { w->conf->handshake_timeout, 0 };
	struct krx_pphdr	*h;

	if (n_pphdrs >= (size_t)w->conf->max_connections || w->draining) {
		close(fd);
		return;
	}
	h = xcalloc(1, sizeof(*h));
	LIST_INSERT_HEAD(&pphdrs, h, entry);
	n_pphdrs++;
	h->w = w;
	h->l = l;
	h->fd = fd;
	h->peer_len = (socklen_t)salen <= sizeof(h->peer) ?
	    (socklen_t)salen : sizeof(h->peer);
	memcpy(&h->peer, sa, h->peer_len);
	evutil_make_socket_nonblocking(fd);
	h->ev = event_new(w->base, fd, EV_READ | EV_PERSIST, pphdr_read, h);
	h->timer = evtimer_new(w->base, pphdr_timeout, h);
	if (h->ev == NULL || h->timer == NULL || event_add(h->ev, NULL) != 0 ||
	    evtimer_add(h->timer, &tv) != 0)
		pphdr_refuse(h, "out of memory");
}

void
krx_proxyhdr_free_all(struct krx_worker *w)
{
	struct krx_pphdr	*h;

	while ((h = LIST_FIRST(&pphdrs)) != NULL)
		pphdr_free(h, 1);
}
