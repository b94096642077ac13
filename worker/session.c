/*
 * session.c: a client connection. Frames requests (bounded by
 * max_frame_bytes), parses their header, forwards them to the upstream
 * broker with a correlation id of krx's own, and keeps an in-flight
 * queue so responses go back in request order. Malformed input closes
 * this connection only, with a log line naming the client.
 *
 * Bounds (issue 9, findings 3 and 4): the client is not read while it
 * has KRX_MAX_INFLIGHT requests waiting, or more than KRX_HIGH_WATER
 * queued towards it or towards the broker, or while a request waits for
 * keys; frames come in under the worker's budget (limit.c); until a
 * broker has answered it (and SASL succeeded, where the client started
 * it) a frame may not exceed max_frame_bytes_unauthenticated; the broker
 * connection is opened with the first request krx forwards.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "common/cycle.h"
#include "common/limits.h"
#include "common/shm/stats.h"
#include "worker/session.h"
#include "worker/wmetrics.h"
#include "worker/tls.h"

static void	session_client_read(struct bufferevent *, void *);

static void
session_addr(const struct sockaddr *sa, char *out, size_t len)
{
	char	 host[INET6_ADDRSTRLEN];
	int	 port = 0;

	host[0] = '\0';
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, len, "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, len, "[%s]:%d", host, port);
	} else
		snprintf(out, len, "unknown");
}

void
krx_session_close(struct krx_session *s, int level, const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (level <= KRX_LOG_WARN)
		krx_wm_add(s->vc, KRX_MVC_ERR_CLIENT, 1);
	if (level <= KRX_LOG_WARN)
		log_warnx("conn=%llu client=%s broker=%s: closing connection: "
		    "%s", (unsigned long long)s->id, s->client_addr,
		    s->upstream_addr, msg);
	else
		log_debug("conn=%llu client=%s: closing connection: %s",
		    (unsigned long long)s->id, s->client_addr, msg);
	krx_session_free(s);
}

void
krx_session_free(struct krx_session *s)
{
	struct krx_worker	*w = s->w;
	struct krx_inflight	*f;

	while ((f = TAILQ_FIRST(&s->inflight)) != NULL) {
		TAILQ_REMOVE(&s->inflight, f, entry);
		if (f->resp != NULL)
			evbuffer_free(f->resp);
		if (f->fn != NULL)
			(void)f->fn(s, f->arg, NULL, 0);
		free(f);
	}
	krx_limit_gone(s);
	if (s->probe != NULL)
		krx_probe_free(s->probe);
	krx_filter_session_gone(s);
	krx_reader_detach(&s->rd_client);
	krx_reader_detach(&s->rd_upstream);
	krx_stream_free(s->stream);
	if (s->client != NULL)
		bufferevent_free(s->client);
	if (s->upstream != NULL)
		bufferevent_free(s->upstream);
	krx_buf_free(&s->scratch);
	TAILQ_REMOVE(&w->sessions, s, entry);
	w->n_sessions--;
	krx_stats_add(w->cy->stats, w->slot, KRX_STAT_CONN_ACTIVE, -1);
	krx_wm_add(s->vc, KRX_MVC_CONN_ACTIVE, -1);
	if (s->upstream_ready)
		krx_wm_add(s->vc, KRX_MVC_UP_ACTIVE, -1);
	free(s);
	krx_worker_session_gone(w);
}

void
krx_session_close_after_flush(struct krx_session *s)
{
	if (s->closing)
		return;
	s->closing = 1;
	krx_reader_enable(&s->rd_client, 0);
	krx_reader_enable(&s->rd_upstream, 0);
	/* Never free here: the write callback does, from the loop. */
	bufferevent_trigger(s->client, EV_WRITE, BEV_TRIG_IGNORE_WATERMARKS |
	    BEV_TRIG_DEFER_CALLBACKS);
}

/*
 * Small responses are copied, not moved: each has a chain of its own of
 * at least a kilobyte, and a client that does not read would make
 * KRX_HIGH_WATER bytes of 20-byte answers cost 50 times that.
 */
static void
session_move(struct evbuffer *out, struct evbuffer *resp)
{
	size_t	 n = evbuffer_get_length(resp);

	if (n > 4096)
		evbuffer_add_buffer(out, resp);
	else if (n > 0)
		evbuffer_add(out, evbuffer_pullup(resp, -1), n);
}

void
krx_session_flush(struct krx_session *s)
{
	struct evbuffer		*out = bufferevent_get_output(s->client);
	struct krx_inflight	*f;
	uint32_t		 before = s->n_inflight;
	int			 close_after = 0;

	while ((f = TAILQ_FIRST(&s->inflight)) != NULL && f->done) {
		TAILQ_REMOVE(&s->inflight, f, entry);
		s->n_inflight--;
		if (!f->internal)
			krx_wm_response(s->vc, f->api_key, f->t0);
		if (f->resp != NULL) {
			session_move(out, f->resp);
			evbuffer_free(f->resp);
		}
		close_after |= f->close_after;
		free(f);
	}
	if (s->n_inflight == 0)
		s->t_active = krx_limit_now();
	/* A draining worker closes at a request boundary. */
	if (close_after || (s->w->draining && s->n_inflight == 0)) {
		krx_session_close_after_flush(s);
		return;
	}
	/* Held back by KRX_MAX_INFLIGHT: retry from the loop. */
	if (s->client_paused && before >= KRX_MAX_INFLIGHT &&
	    s->n_inflight < KRX_MAX_INFLIGHT)
		bufferevent_trigger(s->client, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

static struct krx_inflight *
session_enqueue(struct krx_session *s, const struct krx_kafka_req_hdr *h)
{
	struct krx_inflight	*f = xcalloc(1, sizeof(*f));

	f->client_corr = h->correlation_id;
	f->api_key = h->api_key;
	f->api_version = h->api_version;
	f->t0 = krx_m_now_us();
	TAILQ_INSERT_TAIL(&s->inflight, f, entry);
	s->n_inflight++;
	return f;
}

static void
session_free_ref(const void *data, size_t len, void *arg)
{
	free(arg);
}

/*
 * Write what bev holds now rather than on the next turn of the loop, as
 * nginx does. The bufferevent armed its write event when the data was
 * added; if all of it went out, disarm it again (with the epoll
 * changelist the two changes cancel out: no system call, no wakeup).
 * A failed write is left for the bufferevent to find on its own.
 */
void
krx_bev_write_now(struct bufferevent *bev)
{
	struct evbuffer	*out = bufferevent_get_output(bev);
	evutil_socket_t	 fd = bufferevent_getfd(bev);

	if (fd < 0 || evbuffer_get_length(out) == 0 || krx_tls_is(bev))
		return;
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write_atmost(out, fd, -1);
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) == 0)
		event_del(&bev->ev_write);
}

void
krx_evbuffer_give(struct evbuffer *dst, struct krx_buf *b)
{
	size_t	 len;
	uint8_t	*p;

	if (b->len < 4096) {
		evbuffer_add(dst, b->data, b->len);
		return;
	}
	p = krx_buf_take(b, &len);
	if (evbuffer_add_reference(dst, p, len, session_free_ref, p) != 0) {
		evbuffer_add(dst, p, len);
		free(p);
	}
}

/*
 * A frame bigger than what one readiness event brings in (a Fetch
 * response of a megabyte) is read on at once, as far as the socket has
 * it, rather than one event at a time. EOF and errors are left for the
 * reader to find on its next event.
 */
static void
frame_fill(struct bufferevent *bev, struct evbuffer *in, size_t need)
{
	evutil_socket_t	 fd = bufferevent_getfd(bev);
	ssize_t		 r;
	size_t		 room;

	if (krx_tls_is(bev))
		return;		/* TLS: the bufferevent reads */
	while (fd >= 0 && need > 0) {
		if ((r = krx_read_into(fd, in, need, &room)) <= 0)
			break;
		if ((size_t)r >= need || (size_t)r < room)
			break;	/* the frame is in, or the socket drained */
		need -= (size_t)r;
	}
}

/*
 * The size prefix of the frame at the front of in: 1 when it is there
 * and within 0..max, 0 when fewer than 4 bytes are in, or
 * KRX_FRAME_NEGATIVE / KRX_FRAME_TOO_BIG.
 */
static int
frame_size(struct evbuffer *in, uint32_t max, int32_t *size)
{
	uint8_t		 raw[4];

	if (evbuffer_get_length(in) < 4)
		return 0;
	evbuffer_copyout(in, raw, 4);
	*size = (int32_t)((uint32_t)raw[0] << 24 | (uint32_t)raw[1] << 16 |
	    (uint32_t)raw[2] << 8 | raw[3]);
	if (*size < 0)
		return KRX_FRAME_NEGATIVE;
	if ((uint32_t)*size > max)
		return KRX_FRAME_TOO_BIG;
	return 1;
}

int
krx_frame_peek(struct bufferevent *bev, uint32_t max, uint32_t *expanded,
    int32_t *size)
{
	struct evbuffer	*in = bufferevent_get_input(bev);
	size_t		 have = evbuffer_get_length(in);
	int		 r;

	if ((r = frame_size(in, max, size)) != 1)
		return r;
	if (have - 4 >= (uint32_t)*size) {
		*expanded = 0;
		return 1;
	}
	if (*expanded != (uint32_t)*size) {
		/* Let the rest of the frame land in one chain. */
		evbuffer_expand(in, 4 + (size_t)*size - have);
		*expanded = (uint32_t)*size;
	}
	frame_fill(bev, in, 4 + (size_t)*size - have);
	if (evbuffer_get_length(in) - 4 < (uint32_t)*size)
		return 0;
	*expanded = 0;
	return 1;
}

/*
 * The frame at the front of the client's input, as krx_frame_peek, with
 * the pre-authentication cap, and KRX_FRAME_WAIT when the worker has no
 * room for the rest of it (s is paused until it has). The frame's buffer
 * is made as large as the frame only once the budget has reserved it.
 */
#define KRX_FRAME_WAIT		(-3)
static int
session_frame(struct krx_session *s, int32_t *size)
{
	struct evbuffer	*in = bufferevent_get_input(s->client);
	size_t		 have = evbuffer_get_length(in);
	uint32_t	 max = s->authed ? s->w->conf->max_frame_bytes :
			    s->w->conf->max_frame_bytes_unauth;
	int		 r;

	if ((r = frame_size(in, max, size)) != 1)
		return r;
	if (have - 4 >= (uint32_t)*size)
		goto whole;
	if (s->reserved == 0) {
		if (krx_limit_reserve(s, 4 + (size_t)*size) != 0)
			return KRX_FRAME_WAIT;
		evbuffer_expand(in, 4 + (size_t)*size - have);
	}
	frame_fill(s->client, in, 4 + (size_t)*size - have);
	if (evbuffer_get_length(in) - 4 < (uint32_t)*size)
		return 0;
whole:
	s->reserved = 0;
	s->t_frame = 0;
	return 1;
}

void
krx_session_reply(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    const uint8_t *body, size_t len, int close_after)
{
	struct krx_inflight	*f = session_enqueue(s, h);
	uint8_t			 hdr[9];
	size_t			 hlen = 8;
	uint32_t		 size;

	/* Flexible response headers end with an (empty) tag section. */
	if (krx_kafka_resp_hdr_flexible(h->api_key, h->api_version))
		hdr[hlen++] = 0;
	size = (uint32_t)(hlen - 4 + len);
	f->local = 1;
	f->done = 1;
	f->close_after = close_after;
	f->resp = evbuffer_new();
	size = htonl(size);
	memcpy(hdr, &size, 4);
	size = htonl((uint32_t)h->correlation_id);
	memcpy(hdr + 4, &size, 4);
	evbuffer_add(f->resp, hdr, hlen);
	evbuffer_add(f->resp, body, len);
	krx_wm_add(s->vc, KRX_MVC_BYTES_OUT, (int64_t)(hlen + len));
	krx_session_flush(s);
}

/*
 * A request krx will not forward: a too-new ApiVersions (answered as
 * KIP-511 says), SaslHandshake v0 (refused: raw SASL tokens would
 * follow), or another version krx cannot parse. Returns 0 when the
 * session goes on.
 */
static int
session_refuse_version(struct krx_session *s,
    const struct krx_kafka_req_hdr *h)
{
	struct krx_buf	 body;

	krx_buf_init(&body, 64);
	if (h->api_key == KRX_API_API_VERSIONS) {
		krx_kafka_apiversions_unsupported(&body);
		krx_session_reply(s, h, body.data, body.len, 0);
		krx_buf_free(&body);
		return 0;
	}
	if (h->api_key == KRX_API_SASL_HANDSHAKE && h->api_version == 0) {
		log_warnx("conn=%llu client=%s: SaslHandshake v0 is not "
		    "supported (use a client with SASL handshake v1)",
		    (unsigned long long)s->id, s->client_addr);
		krx_buf_put_be16(&body, KRX_KERR_UNSUPPORTED_VERSION);
		krx_buf_put_be32(&body, 0);
		krx_session_reply(s, h, body.data, body.len, 1);
		krx_buf_free(&body);
		return -1;
	}
	krx_buf_free(&body);
	krx_session_close(s, KRX_LOG_WARN, "unsupported version %d of %s",
	    h->api_version, krx_kafka_api_name(h->api_key));
	return -1;
}

/* Parse the header of the frame at the front of in (size bytes). */
static int
session_parse_hdr(struct evbuffer *in, uint32_t size,
    struct krx_kafka_req_hdr *h, const uint8_t **frame, size_t *pulled)
{
	int	 r;

	*pulled = size < KRX_HDR_PEEK ? size : KRX_HDR_PEEK;
	*frame = evbuffer_pullup(in, 4 + *pulled) + 4;
	r = krx_kafka_req_hdr_parse(*frame, *pulled, h);
	if (r == KRX_E_TRUNCATED && *pulled < size) {
		*pulled = size;
		*frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
		r = krx_kafka_req_hdr_parse(*frame, *pulled, h);
	}
	return r;
}

/* Produce with acks=0 gets no response: it must not be queued. */
static int
session_produce_acks(struct evbuffer *in, uint32_t size,
    const struct krx_kafka_req_hdr *h, const uint8_t *frame, size_t pulled,
    int16_t *acks)
{
	int	 r;

	r = krx_kafka_produce_acks(frame + h->len, pulled - h->len,
	    h->api_version, acks);
	if (r == KRX_E_TRUNCATED && pulled < size) {
		frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
		r = krx_kafka_produce_acks(frame + h->len, size - h->len,
		    h->api_version, acks);
	}
	return r;
}

/* Move the frame upstream, with krx's correlation id in it. */
static void
session_forward(struct krx_session *s, struct evbuffer *in, uint32_t size,
    int32_t corr)
{
	struct evbuffer	*out = bufferevent_get_output(s->upstream);
	uint8_t		 hdr[12];
	uint32_t	 be = htonl((uint32_t)corr);

	evbuffer_remove(in, hdr, sizeof(hdr));
	krx_wm_upstream(s->vc, hdr[4] << 8 | hdr[5], 1);
	memcpy(hdr + 8, &be, 4);
	evbuffer_add(out, hdr, sizeof(hdr));
	evbuffer_remove_buffer(in, out, size - 8);
}

/* The next upstream correlation id. */
static int32_t
session_corr(struct krx_session *s)
{
	if (s->next_corr == INT32_MAX)
		s->next_corr = 0;
	return s->next_corr++;
}

/* The header of a request going upstream, with correlation id corr. */
static struct evbuffer *
session_send_hdr(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    const uint8_t *frame, size_t body_len, int32_t corr)
{
	struct evbuffer		*out = bufferevent_get_output(s->upstream);
	uint32_t		 be;

	krx_wm_upstream(s->vc, h->api_key, 1);
	be = htonl((uint32_t)(h->len + body_len));
	evbuffer_add(out, &be, 4);
	evbuffer_add(out, frame, 4);		/* api key, version */
	be = htonl((uint32_t)corr);
	evbuffer_add(out, &be, 4);
	evbuffer_add(out, frame + 8, h->len - 8);
	return out;
}

/* An in-flight entry for a request about to go upstream as corr. */
static struct krx_inflight *
session_expect(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    int32_t corr)
{
	struct krx_inflight	*f = session_enqueue(s, h);

	f->upstream_corr = corr;
	return f;
}

void
krx_session_send(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    const uint8_t *frame, const uint8_t *body, size_t body_len, int reply)
{
	int32_t	 corr = session_corr(s);

	if (reply)
		(void)session_expect(s, h, corr);
	evbuffer_add(session_send_hdr(s, h, frame, body_len, corr), body,
	    body_len);
}

struct krx_inflight *
krx_session_send_buf(struct krx_session *s, const struct krx_kafka_req_hdr *h,
    const uint8_t *frame, struct krx_buf *body, int reply)
{
	struct krx_inflight	*f = NULL;
	int32_t			 corr = session_corr(s);

	if (reply)
		f = session_expect(s, h, corr);
	krx_evbuffer_give(session_send_hdr(s, h, frame, body->len, corr),
	    body);
	return f;
}

void
krx_session_resend(struct krx_session *s, struct krx_inflight *f,
    const struct krx_kafka_req_hdr *h, const uint8_t *frame,
    struct krx_buf *body)
{
	f->upstream_corr = session_corr(s);
	krx_evbuffer_give(session_send_hdr(s, h, frame, body->len,
	    f->upstream_corr), body);
}

void
krx_session_send_internal(struct krx_session *s, int16_t api_key,
    int16_t api_version, struct krx_buf *body, krx_internal_fn fn, void *arg)
{
	static const char	 client_id[] = "krx";
	struct krx_kafka_req_hdr h;
	struct krx_inflight	*f;
	uint8_t			 hdr[10 + sizeof(client_id) - 1];
	uint16_t		 be16;
	uint32_t		 be;

	memset(&h, 0, sizeof(h));
	h.api_key = api_key;
	h.api_version = api_version;
	h.len = sizeof(hdr);
	f = session_expect(s, &h, session_corr(s));
	f->internal = 1;
	krx_wm_upstream(s->vc, api_key, 1);
	f->fn = fn;
	f->arg = arg;
	be16 = htons((uint16_t)api_key);
	memcpy(hdr, &be16, 2);
	be16 = htons((uint16_t)api_version);
	memcpy(hdr + 2, &be16, 2);
	be = htonl((uint32_t)f->upstream_corr);
	memcpy(hdr + 4, &be, 4);
	be16 = htons(sizeof(client_id) - 1);
	memcpy(hdr + 8, &be16, 2);
	memcpy(hdr + 10, client_id, sizeof(client_id) - 1);
	be = htonl((uint32_t)(sizeof(hdr) + body->len));
	evbuffer_add(bufferevent_get_output(s->upstream), &be, 4);
	evbuffer_add(bufferevent_get_output(s->upstream), hdr, sizeof(hdr));
	krx_evbuffer_give(bufferevent_get_output(s->upstream), body);
}

static int
session_request(struct krx_session *s, struct evbuffer *in, uint32_t size)
{
	struct krx_kafka_req_hdr	 h;
	const uint8_t			*frame;
	size_t				 pulled;
	int32_t				 corr;
	int16_t				 min, max, acks = -1;
	int				 r;

	r = session_parse_hdr(in, size, &h, &frame, &pulled);
	if (r == KRX_E_UNSUPPORTED) {
		krx_session_close(s, KRX_LOG_WARN, "unknown api key %d",
		    h.api_key);
		return -1;
	}
	if (r != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "truncated request header "
		    "(%s, frame of %u bytes)", krx_strerror(r), size);
		return -1;
	}
	krx_wm_request(s->vc, h.api_key, 4 + (size_t)size);
	krx_kafka_api_range(h.api_key, &min, &max);
	if (h.api_version < min || h.api_version > max ||
	    (h.api_key == KRX_API_SASL_HANDSHAKE && h.api_version == 0)) {
		if (session_refuse_version(s, &h) != 0)
			return -1;
		evbuffer_drain(in, 4 + (size_t)size);
		return 0;
	}
	/* The broker connection is opened for the first request it gets. */
	if (s->upstream == NULL && krx_upstream_start(s) != 0)
		return -1;
	if (s->provisional && krx_probe_settle(s) != 0)
		return -1;
	if (h.api_key == KRX_API_SASL_HANDSHAKE) {
		/* Small frames again until SaslAuthenticate succeeds. */
		if (s->authed)
			s->t_handshake = krx_limit_now();
		s->sasl = 1;
		s->authed = 0;
	}
	if (h.api_key == KRX_API_PRODUCE &&
	    s->w->conf->vclusters[s->vc].enc.enabled)
		return krx_filter_produce(s, in, size, &h);
	if (h.api_key == KRX_API_PRODUCE && (r = session_produce_acks(in, size,
	    &h, frame, pulled, &acks)) != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "malformed Produce "
		    "request: %s", krx_strerror(r));
		return -1;
	}
	if (h.api_key == KRX_API_FETCH && s->fetch_ratio > KRX_RATIO_ONE)
		krx_filter_fetch_request(s, in, size, &h);
	corr = session_corr(s);
	if (acks != 0)
		(void)session_expect(s, &h, corr);
	session_forward(s, in, size, corr);
	return 0;
}

/* Something other than the budget holds the client back. */
static int
session_blocked(struct krx_session *s)
{
	if (s->n_inflight >= KRX_MAX_INFLIGHT)
		return 1;
	if (evbuffer_get_length(bufferevent_get_output(s->client)) >
	    KRX_HIGH_WATER)
		return 1;
	return s->upstream != NULL && evbuffer_get_length(
	    bufferevent_get_output(s->upstream)) > KRX_HIGH_WATER;
}

/* Refuse the frame size r stands for; always -1 (s is closed). */
static int
session_bad_frame(struct krx_session *s, int r, int32_t size)
{
	const struct krx_conf	*conf = s->w->conf;

	if (r == KRX_FRAME_NEGATIVE)
		krx_session_close(s, KRX_LOG_WARN, "negative frame size %d",
		    size);
	else if (r == KRX_FRAME_TOO_BIG && s->authed)
		krx_session_close(s, KRX_LOG_WARN, "frame size %d exceeds "
		    "max_frame_bytes %u", size, conf->max_frame_bytes);
	else if (r == KRX_FRAME_TOO_BIG)
		krx_session_close(s, KRX_LOG_WARN, "frame size %d exceeds "
		    "max_frame_bytes_unauthenticated %u (before %s)", size,
		    conf->max_frame_bytes_unauth, s->sasl ?
		    "SASL authentication" : "the broker answered");
	else
		krx_session_close(s, KRX_LOG_WARN, "truncated request "
		    "header (frame of %d bytes)", size);
	return -1;
}

/* Forward every whole request; -1 when the session was closed. */
static int
session_client_frames(struct krx_session *s)
{
	struct evbuffer		*in = bufferevent_get_input(s->client);
	int32_t			 size;
	int			 r;

	while (!s->closing && s->held == NULL) {
		if (session_blocked(s)) {
			krx_session_pause(s);
			return 0;
		}
		r = session_frame(s, &size);
		if (r == 0 || r == KRX_FRAME_WAIT)
			return 0;
		if (r < 0 || (uint32_t)size < KRX_KAFKA_FRAME_MIN)
			return session_bad_frame(s, r, size);
		if (session_request(s, in, (uint32_t)size) != 0)
			return -1;
	}
	/* No more reading while a request waits for keys. */
	if (s->held != NULL)
		krx_session_pause(s);
	return 0;
}

/* Handle what the client sent; -1 when s was closed (freed). */
static int
session_client_run(struct krx_session *s)
{
	int64_t	 now = krx_limit_now();

	s->t_active = now;
	if (session_client_frames(s) != 0)
		return -1;
	krx_limit_charge(s);
	if (s->closing)
		return 0;
	/*
	 * A frame started: it must be complete within request_timeout,
	 * unless krx itself holds the client back (whole frames wait then).
	 */
	if (evbuffer_get_length(bufferevent_get_input(s->client)) == 0)
		s->t_frame = 0;
	else if (s->t_frame == 0 && (!s->client_paused || s->budget_wait))
		s->t_frame = now;
	/* Paused, the write event must stay: it resumes the client. */
	if (s->upstream_ready && !s->client_paused)
		krx_bev_write_now(s->upstream);
	return 0;
}

static void
session_client_read(struct bufferevent *bev, void *arg)
{
	(void)session_client_run(arg);
}

void
krx_session_pause(struct krx_session *s)
{
	s->client_paused = 1;
	krx_reader_enable(&s->rd_client, 0);
}

int
krx_session_go(struct krx_session *s)
{
	if (s->closing || s->held != NULL || s->budget_wait)
		return 0;
	if (s->w->over_budget && s->reserved == 0) {
		krx_limit_wait(s);
		return 0;
	}
	s->client_paused = 0;
	krx_reader_enable(&s->rd_client, 1);
	return session_client_run(s);
}

void
krx_session_release(struct krx_session *s)
{
	s->held = NULL;
	(void)krx_session_go(s);
}

void
krx_session_release_later(struct krx_session *s)
{
	s->held = NULL;
	if (s->client_paused && !s->closing)
		bufferevent_trigger(s->client, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

int
krx_session_resume_client(struct krx_session *s)
{
	return s->client_paused ? krx_session_go(s) : 0;
}

static void
session_client_write(struct bufferevent *bev, void *arg)
{
	struct krx_session	*s = arg;

	if (s->closing) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			krx_session_close(s, KRX_LOG_DEBUG, s->w->draining ?
			    "drained" : "done");
		return;
	}
	if (krx_session_resume_client(s) == 0)
		krx_upstream_resume(s);
}

/* SNI routing: the TLS server name the client sent picks the broker. */
static void
session_sni(struct krx_session *s)
{
	const struct krx_conf_vcluster	*vc = &s->w->conf->vclusters[s->vc];
	const char			*name;
	char				 shown[65];
	size_t				 i;

	if (vc->sni_bootstrap == NULL)
		return;
	if (krx_tls_sni_node(s->client, vc, &s->node_id, &name) == 0) {
		log_debug("conn=%llu client=%s: TLS server name %s: %s %d",
		    (unsigned long long)s->id, s->client_addr, name,
		    s->node_id < 0 ? "bootstrap" : "broker", s->node_id);
		return;
	}
	if (name == NULL)
		krx_session_close(s, KRX_LOG_INFO, "no TLS server name (SNI): "
		    "virtual cluster %s routes by it", vc->name);
	else {
		/* The client's bytes: printable only in the log. */
		for (i = 0; name[i] != '\0' && i + 1 < sizeof(shown); i++)
			shown[i] = name[i] > ' ' && name[i] < 0x7f ? name[i] :
			    '?';
		shown[i] = '\0';
		krx_session_close(s, KRX_LOG_INFO, "TLS server name %s is "
		    "neither %s nor %s<node id>%s (0-%d)", shown,
		    vc->sni_bootstrap, vc->sni_prefix, vc->sni_suffix,
		    vc->max_node_id);
	}
}

static void
session_client_event(struct bufferevent *bev, short what, void *arg)
{
	struct krx_session	*s = arg;
	size_t			 left;

	if (what & BEV_EVENT_CONNECTED) {	/* a TLS handshake done */
		session_sni(s);
		return;
	}
	left = evbuffer_get_length(bufferevent_get_input(bev));
	if (what & BEV_EVENT_EOF) {
		if (left > 0)
			krx_session_close(s, KRX_LOG_WARN, "client closed in "
			    "the middle of a frame (%zu bytes of it received)",
			    left);
		else
			krx_session_close(s, KRX_LOG_DEBUG, "client closed");
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		char	 why[512];

		if (krx_tls_silent(bev))
			krx_session_close(s, KRX_LOG_DEBUG, "client closed "
			    "before TLS");
		else if (krx_tls_error(bev, why, sizeof(why)) != NULL)
			krx_session_close(s, KRX_LOG_INFO, "client TLS "
			    "failed: %s", why);
		else
			krx_session_close(s, KRX_LOG_DEBUG, "client error: %s",
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		return;
	}
}

void
krx_session_accept(struct krx_worker *w, const struct krx_listener *l,
    int fd, const struct sockaddr *sa, int salen)
{
	struct krx_session	*s;
	uint8_t			 peer[17];
	int			 on = 1;

	if (w->draining || krx_limit_admit(w, sa, peer) != 0) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	s = xcalloc(1, sizeof(*s));
	s->w = w;
	memcpy(s->peer, peer, sizeof(s->peer));
	s->t_handshake = s->t_active = krx_limit_now();
	s->id = ++w->next_id * KRX_MAX_ROWS + (uint64_t)w->slot;
	s->vc = l->vc;
	s->node_id = l->node_id;
	TAILQ_INIT(&s->inflight);
	session_addr(sa, s->client_addr, sizeof(s->client_addr));
	snprintf(s->upstream_addr, sizeof(s->upstream_addr), "-");
	krx_buf_init(&s->scratch, 0);
	TAILQ_INSERT_TAIL(&w->sessions, s, entry);
	w->n_sessions++;
	krx_stats_add(w->cy->stats, w->slot, KRX_STAT_CONN_ACCEPTED, 1);
	krx_stats_add(w->cy->stats, w->slot, KRX_STAT_CONN_ACTIVE, 1);
	krx_wm_add(l->vc, KRX_MVC_CONN_TOTAL, 1);
	krx_wm_add(l->vc, KRX_MVC_CONN_ACTIVE, 1);
	if (w->cy->tls != NULL && w->cy->tls[l->vc].server != NULL)
		krx_wm_add(l->vc, KRX_MVC_CONN_TLS, 1);
	s->client = krx_tls_client_bev(w, l->vc, fd);
	if (s->client == NULL) {
		close(fd);
		krx_session_close(s, KRX_LOG_WARN, "out of memory");
		return;
	}
	bufferevent_set_max_single_write(s->client, KRX_MAX_SINGLE_WRITE);
	bufferevent_setwatermark(s->client, EV_WRITE, KRX_LOW_WATER, 0);
	bufferevent_setcb(s->client, NULL, session_client_write,
	    session_client_event, s);
	if (krx_reader_attach(&s->rd_client, s->client, session_client_read,
	    session_client_event, s) != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "out of memory");
		return;
	}
	log_debug("conn=%llu client=%s: accepted on port %d",
	    (unsigned long long)s->id, s->client_addr, l->port);
	/* No broker connection until the first request (krx_upstream_start). */
	if (w->over_budget)
		krx_limit_wait(s);
	else
		krx_reader_enable(&s->rd_client, 1);
}
