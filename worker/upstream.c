/*
 * upstream.c: the broker side of a session. Connects to the broker the
 * client's port stands for (an upstream bootstrap server for the
 * bootstrap port, broker N for node port N), matches each response to
 * the oldest request waiting for one, and hands it to rewrite.c.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "common/log.h"
#include "conf/conf.h"
#include "worker/wmetrics.h"
#include "worker/session.h"
#include "worker/tls.h"

static void	upstream_read(struct bufferevent *, void *);

static void
upstream_event(struct bufferevent *bev, short what, void *arg)
{
	struct krx_session	*s = arg;
	int			 on = 1;

	if (what & BEV_EVENT_CONNECTED) {
		s->upstream_ready = 1;
		krx_wm_add(s->vc, KRX_MVC_UP_TOTAL, 1);
		krx_wm_add(s->vc, KRX_MVC_UP_ACTIVE, 1);
		if (krx_reader_attach(&s->rd_upstream, bev, upstream_read,
		    upstream_event, s) != KRX_OK) {
			krx_session_close(s, KRX_LOG_WARN, "out of memory");
			return;
		}
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY,
		    &on, sizeof(on));
		log_debug("conn=%llu client=%s: connected to broker %s",
		    (unsigned long long)s->id, s->client_addr,
		    s->upstream_addr);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* Hand over what is ready, then close like the broker did. */
		log_info("conn=%llu client=%s broker=%s: broker closed the "
		    "connection", (unsigned long long)s->id, s->client_addr,
		    s->upstream_addr);
		krx_session_flush(s);
		if (!s->closing)
			krx_session_close_after_flush(s);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		int	 dnserr = bufferevent_socket_get_dns_error(bev);
		char	 why[512];

		if (s->connecting) {
			/* Reported by krx_upstream_connect's caller. */
			s->connect_failed = 1;
			return;
		}
		krx_wm_add(s->vc, KRX_MVC_ERR_UPSTREAM, 1);
		if (!dnserr && krx_tls_error(bev, why, sizeof(why)) != NULL)
			krx_session_close(s, KRX_LOG_WARN, "broker %s: TLS "
			    "failed: %s", s->upstream_addr, why);
		else
			krx_session_close(s, KRX_LOG_WARN, "broker %s: %s",
			    s->upstream_addr, dnserr ?
			    evutil_gai_strerror(dnserr) :
			    evutil_socket_error_to_string(
			    EVUTIL_SOCKET_ERROR()));
	}
}

/* The oldest forwarded request still waiting for its response. */
static struct krx_inflight *
upstream_waiting(struct krx_session *s)
{
	struct krx_inflight	*f;

	TAILQ_FOREACH(f, &s->inflight, entry)
		if (!f->local && !f->done)
			return f;
	return NULL;
}

/*
 * The broker answers f: the client is past its pre-authentication phase
 * (issue 9, finding 4) with any answer when it has not started SASL, else
 * with a SaslAuthenticate answer of error code 0.
 */
static void
upstream_auth(struct krx_session *s, const struct krx_inflight *f,
    struct evbuffer *in, uint32_t size)
{
	uint8_t	 raw[11];
	size_t	 off = 8;

	if (s->authed || f->api_key == KRX_API_SASL_HANDSHAKE)
		return;
	if (f->api_key != KRX_API_SASL_AUTHENTICATE) {
		s->authed = !s->sasl;
		return;
	}
	if (krx_kafka_resp_hdr_flexible(f->api_key, f->api_version))
		off++;		/* an empty tag section, or not understood */
	if (4 + (size_t)size < off + 2)
		return;
	evbuffer_copyout(in, raw, off + 2);
	if ((off == 8 || raw[8] == 0) && raw[off] == 0 && raw[off + 1] == 0) {
		s->authed = 1;
		s->sasl = 0;
	}
}

/*
 * The answer to krx's own request: handed to its callback, nothing goes
 * to the client. Response header v0 (krx asks non-flexible versions).
 */
static int
upstream_internal(struct krx_session *s, struct krx_inflight *f,
    struct evbuffer *in, uint32_t size)
{
	krx_internal_fn	 fn = f->fn;
	void		*arg = f->arg;
	const uint8_t	*frame;
	int		 r;

	f->fn = NULL;
	f->done = 1;
	frame = evbuffer_pullup(in, 4 + (size_t)size);
	r = fn(s, arg, frame + 8, size - 4);
	if (r < 0)
		return -1;
	evbuffer_drain(in, 4 + (size_t)size);
	krx_session_flush(s);
	return 0;
}

static int
upstream_response(struct krx_session *s, struct evbuffer *in, uint32_t size)
{
	struct krx_inflight	*f = upstream_waiting(s);
	struct evbuffer		*dst;
	uint8_t			 raw[8];
	uint32_t		 be;
	int32_t			 corr;
	size_t			 out0;
	int			 r;

	if (size < 4) {
		krx_session_close(s, KRX_LOG_WARN, "response of %u bytes from "
		    "broker is too short", size);
		return -1;
	}
	evbuffer_copyout(in, raw, 8);
	memcpy(&be, raw + 4, 4);
	corr = (int32_t)ntohl(be);
	if (f == NULL || f->upstream_corr != corr) {
		krx_session_close(s, KRX_LOG_WARN, "broker sent a response "
		    "(correlation id %d) to no waiting request", corr);
		return -1;
	}
	krx_wm_upstream(s->vc, f->api_key, 0);
	if (f->fn != NULL)
		return upstream_internal(s, f, in, size);
	upstream_auth(s, f, in, size);
	if (f == TAILQ_FIRST(&s->inflight))
		dst = bufferevent_get_output(s->client);
	else if (f->resp == NULL)
		dst = f->resp = evbuffer_new();
	else
		dst = f->resp;
	out0 = evbuffer_get_length(dst);
	if (f->split != NULL)
		r = krx_filter_produce_piece(s, f, in, size, dst);
	else
		r = krx_rewrite_response(s, f, in, size, dst);
	if (evbuffer_get_length(dst) > out0)
		krx_wm_add(s->vc, KRX_MVC_BYTES_OUT,
		    (int64_t)(evbuffer_get_length(dst) - out0));
	if (r != 0)
		return r < 0 ? r : 0;	/* closed, held, or more pieces */
	f->done = 1;
	krx_session_flush(s);
	return 0;
}

/* Stop reading the broker while the client has this much to take. */
static int
upstream_full(struct krx_session *s)
{
	if (evbuffer_get_length(bufferevent_get_output(s->client)) <=
	    KRX_HIGH_WATER)
		return 0;
	s->upstream_paused = 1;
	krx_reader_enable(&s->rd_upstream, 0);
	return 1;
}

/* Hand on every whole response; -1 when the session was closed. */
static int
upstream_frames(struct bufferevent *bev, struct krx_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(bev);
	int32_t			 size;
	int			 r;

	while (!s->closing && s->held_resp == NULL) {
		if (s->stream != NULL) {
			if ((r = krx_stream_feed(s, in)) < 0)
				return -1;
			if (r == 0) {
				upstream_full(s);
				return 0;
			}
			continue;
		}
		r = krx_frame_peek(bev, s->w->conf->max_frame_bytes,
		    &s->expanded_u, &size);
		if (r == 0 && krx_stream_start(s, in) == 1)
			continue;
		if (r == 0)
			return 0;
		if (r < 0) {
			krx_session_close(s, KRX_LOG_WARN, "broker sent a "
			    "frame of size %d (max_frame_bytes %u)", size,
			    s->w->conf->max_frame_bytes);
			return -1;
		}
		if ((r = upstream_response(s, in, (uint32_t)size)) != 0)
			return r < 0 ? -1 : 0;
		if (upstream_full(s))
			return 0;
	}
	return 0;
}

static void
upstream_read(struct bufferevent *bev, void *arg)
{
	struct krx_session	*s = arg;

	if (upstream_frames(bev, s) != 0 || s->closing || s->upstream_paused)
		return;
	krx_bev_write_now(s->client);
	/* All written: no write event will resume a paused client. */
	if (s->client_paused && !s->budget_wait && evbuffer_get_length(
	    bufferevent_get_output(s->client)) <= KRX_LOW_WATER)
		bufferevent_trigger(s->client, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

void
krx_upstream_release(struct krx_session *s)
{
	if (s->closing)
		return;
	if (!s->upstream_paused)
		krx_reader_enable(&s->rd_upstream, 1);
	upstream_read(s->upstream, s);
}

void
krx_upstream_resume(struct krx_session *s)
{
	if (!s->upstream_paused || s->closing || s->held_resp != NULL)
		return;
	s->upstream_paused = 0;
	krx_reader_enable(&s->rd_upstream, 1);
	upstream_read(s->upstream, s);
}

static void
upstream_write(struct bufferevent *bev, void *arg)
{
	(void)krx_session_resume_client(arg);
}

int
krx_upstream_connect(struct krx_session *s, const char *host, int port)
{
	int	 r;

	snprintf(s->upstream_addr, sizeof(s->upstream_addr), "%s:%d", host,
	    port);
	if (krx_tls_upstream_host(s->w, s->vc, s->upstream, host) != 0) {
		krx_session_close(s, KRX_LOG_WARN, "out of memory");
		return -1;
	}
	s->connecting = 1;
	r = bufferevent_socket_connect_hostname(s->upstream, s->w->dns,
	    AF_UNSPEC, host, port);
	s->connecting = 0;
	if (r != 0 || s->connect_failed) {
		krx_wm_add(s->vc, KRX_MVC_ERR_UPSTREAM, 1);
		krx_session_close(s, KRX_LOG_WARN, "cannot connect to broker "
		    "%s: %s", s->upstream_addr,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return -1;
	}
	return 0;
}

int
krx_upstream_start(struct krx_session *s)
{
	const struct krx_conf_vcluster	*vc = &s->w->conf->vclusters[s->vc];
	const struct krx_hostport	*hp;
	char				 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t				 port;

	s->upstream = krx_tls_upstream_bev(s->w, s->vc);
	if (s->upstream == NULL) {
		krx_session_close(s, KRX_LOG_WARN, "out of memory");
		return -1;
	}
	bufferevent_set_max_single_write(s->upstream, KRX_MAX_SINGLE_WRITE);
	bufferevent_setwatermark(s->upstream, EV_WRITE, KRX_LOW_WATER, 0);
	bufferevent_setcb(s->upstream, NULL, upstream_write, upstream_event,
	    s);
	krx_reader_enable(&s->rd_upstream, 1);	/* once connected */
	if (s->node_id < 0) {
		hp = &vc->upstream[s->w->rr[s->vc]++ % vc->n_upstream];
		return krx_upstream_connect(s, hp->host, hp->port);
	}
	if (krx_nodemap_get(s->w->nodemap, s->vc, s->node_id, host,
	    &port) == KRX_OK)
		return krx_upstream_connect(s, host, port);
	return krx_probe_start(s);
}
