/*
 * probe.c: a client reached node port N but no worker has learned
 * broker N's address yet (e.g. krxd restarted under running clients).
 * The probe asks an upstream bootstrap server for Metadata on a
 * connection of its own, records every broker in the node map, then
 * connects the session to broker N. Client frames wait in the session's
 * upstream output buffer meanwhile.
 *
 * A cluster that wants SASL first (a SASL_SSL listener) closes such an
 * unauthenticated probe. The session then goes to the bootstrap server
 * itself, provisionally: the client authenticates there with its own
 * credentials, and the first Metadata response anyone's session gets
 * teaches broker N's address. If broker N is another broker, the
 * session closes before its next request and the client reconnects to
 * the right one.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "worker/session.h"
#include "worker/tls.h"

#define PROBE_METADATA_VERSION	4
#define PROBE_CORR		1
#define PROBE_TIMEOUT		10

struct krx_probe {
	struct krx_session	*s;
	struct bufferevent	*bev;
	uint32_t		 expanded;
	int			 connecting;
	int			 failed;
};

void
krx_probe_free(struct krx_probe *p)
{
	if (p == NULL)
		return;
	if (p->bev != NULL)
		bufferevent_free(p->bev);
	free(p);
}

static void
probe_fail(struct krx_probe *p, const char *why)
{
	struct krx_session	*s = p->s;

	s->probe = NULL;
	krx_probe_free(p);
	krx_session_close(s, KRX_LOG_WARN, "cannot learn the address of "
	    "broker %d: %s", s->node_id, why);
}

/* The probe failed at the connection: serve through hp provisionally. */
static void
probe_fallback(struct krx_probe *p, const char *why)
{
	struct krx_session		*s = p->s;
	const struct krx_hostport	*hp =
	    &s->w->conf->vclusters[s->vc].upstream[s->probe_up];

	s->probe = NULL;
	krx_probe_free(p);
	log_info("conn=%llu client=%s: cannot ask for the address of broker "
	    "%d (%s; a SASL listener refuses Metadata before the client "
	    "authenticates): serving it through bootstrap server %s until "
	    "it is known", (unsigned long long)s->id, s->client_addr,
	    s->node_id, why, hp->host);
	s->provisional = 1;
	krx_upstream_connect(s, hp->host, hp->port);
}

int
krx_probe_settle(struct krx_session *s)
{
	char	 host[KRX_NODEMAP_HOST_MAX + 1], addr[sizeof(s->upstream_addr)];
	int32_t	 port;

	if (krx_nodemap_get(s->w->nodemap, s->vc, s->node_id, host,
	    &port) != KRX_OK)
		return 0;
	snprintf(addr, sizeof(addr), "%s:%d", host, (int)port);
	if (strcmp(addr, s->upstream_addr) == 0) {
		s->provisional = 0;
		return 0;
	}
	krx_session_close(s, KRX_LOG_INFO, "broker %d is at %s, not behind "
	    "bootstrap server %s: closing so that the client reconnects to "
	    "it", s->node_id, addr, s->upstream_addr);
	return -1;
}

static void
probe_done(struct krx_probe *p, const uint8_t *body, size_t len)
{
	struct krx_session	*s = p->s;
	struct krx_buf		 out;
	char			 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t			 port;
	int			 r;

	krx_buf_init(&out, 0);
	r = krx_kafka_rewrite_endpoints(KRX_API_METADATA,
	    PROBE_METADATA_VERSION, body, len, krx_rewrite_learn, s, &out);
	krx_buf_free(&out);
	if (r < 0) {
		probe_fail(p, krx_strerror(r));
		return;
	}
	if (krx_nodemap_get(s->w->nodemap, s->vc, s->node_id, host,
	    &port) != KRX_OK) {
		probe_fail(p, "the cluster's metadata does not list it");
		return;
	}
	s->probe = NULL;
	krx_probe_free(p);
	krx_upstream_connect(s, host, port);
}

static void
probe_read(struct bufferevent *bev, void *arg)
{
	struct krx_probe	*p = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	const uint8_t		*frame;
	int32_t			 size;
	size_t			 hlen;
	int			 r;

	r = krx_frame_peek(bev, p->s->w->conf->max_frame_bytes, &p->expanded,
	    &size);
	if (r == 0)
		return;
	if (r < 0 || size < 4) {
		probe_fallback(p, "bad frame from broker");
		return;
	}
	frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
	if (krx_kafka_resp_hdr_len(frame, size, KRX_API_METADATA,
	    PROBE_METADATA_VERSION, &hlen) != KRX_OK) {
		probe_fail(p, "bad response header");
		return;
	}
	probe_done(p, frame + hlen, size - hlen);
}

static void
probe_event(struct bufferevent *bev, short what, void *arg)
{
	struct krx_probe	*p = arg;

	if (what & BEV_EVENT_CONNECTED)
		return;
	if (p->connecting) {
		p->failed = 1;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		probe_fail(p, "timed out");
	else
		probe_fallback(p, "the bootstrap server closed the probe");
}

int
krx_probe_start(struct krx_session *s)
{
	const struct krx_conf_vcluster	*vc = &s->w->conf->vclusters[s->vc];
	const struct krx_hostport	*hp;
	struct krx_probe		*p = xcalloc(1, sizeof(*p));
	struct krx_buf			 req;
	struct timeval			 tv = { PROBE_TIMEOUT, 0 };
	int				 r;

	p->s = s;
	s->probe = p;
	s->probe_up = s->w->rr[s->vc]++ % vc->n_upstream;
	hp = &vc->upstream[s->probe_up];
	log_info("conn=%llu client=%s: address of broker %d not known yet; "
	    "asking %s:%d", (unsigned long long)s->id, s->client_addr,
	    s->node_id, hp->host, hp->port);
	p->bev = krx_tls_upstream_bev(s->w, s->vc);
	krx_buf_init(&req, 64);
	krx_kafka_metadata_request(&req, PROBE_METADATA_VERSION, PROBE_CORR,
	    "krx");
	if (p->bev == NULL || req.err != KRX_OK ||
	    krx_tls_upstream_host(s->w, s->vc, p->bev, hp->host) != 0) {
		krx_buf_free(&req);
		probe_fail(p, "out of memory");
		return -1;
	}
	bufferevent_write(p->bev, req.data, req.len);
	krx_buf_free(&req);
	bufferevent_setcb(p->bev, probe_read, NULL, probe_event, p);
	bufferevent_set_timeouts(p->bev, &tv, &tv);
	bufferevent_enable(p->bev, EV_READ);
	p->connecting = 1;
	r = bufferevent_socket_connect_hostname(p->bev, s->w->dns, AF_UNSPEC,
	    hp->host, hp->port);
	p->connecting = 0;
	if (r != 0 || p->failed) {
		probe_fail(p, "cannot connect to the upstream bootstrap");
		return -1;
	}
	return 0;
}
