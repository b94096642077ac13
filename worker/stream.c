/*
 * stream.c: large Fetch responses on a virtual cluster without record
 * encryption go to the client while they arrive (cut-through), not after
 * their last byte, so that krx adds no transfer time of its own to a
 * consumer's fetch. The frame keeps its size: the last KRX_STREAM_HOLD
 * bytes, which hold the top-level tags where Fetch v16+ puts the brokers'
 * NodeEndpoints, wait for the end of the frame and get krx's endpoints in
 * place (krx_kafka_fetch_endpoints_inplace). The body is copied on the
 * way to be walked then. Program grade.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "common/log.h"
#include "common/shm/stats.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "common/cycle.h"
#include "worker/session.h"

/* Smaller responses are simply stored and forwarded. */
#define KRX_STREAM_MIN		(256 * 1024)
#define KRX_STREAM_HOLD		(64 * 1024)

struct krx_stream {
	struct krx_inflight	*f;
	size_t			 body_len;
	size_t			 sent;		/* body bytes sent */
	struct krx_buf		 copy;		/* the body so far */
};

void
krx_stream_free(struct krx_stream *st)
{
	if (st == NULL)
		return;
	krx_buf_free(&st->copy);
	free(st);
}

/* The response the frame at the front of in answers, if streamable. */
static struct krx_inflight *
stream_candidate(struct krx_session *s, struct evbuffer *in, size_t *size)
{
	struct krx_inflight	*f = TAILQ_FIRST(&s->inflight);
	uint8_t			 raw[8];
	uint32_t		 v;

	if (f == NULL || f->local || f->done || f->api_key != KRX_API_FETCH ||
	    s->w->conf->vclusters[s->vc].enc.enabled ||
	    evbuffer_get_length(in) < 8)
		return NULL;
	evbuffer_copyout(in, raw, 8);
	memcpy(&v, raw, 4);
	*size = ntohl(v);
	memcpy(&v, raw + 4, 4);
	if (*size < KRX_STREAM_MIN || (int32_t)ntohl(v) != f->upstream_corr)
		return NULL;
	return f;
}

int
krx_stream_start(struct krx_session *s, struct evbuffer *in)
{
	struct krx_stream	*st;
	struct krx_inflight	*f;
	const uint8_t		*frame;
	size_t			 size, hlen, have;
	uint32_t		 be;

	if ((f = stream_candidate(s, in, &size)) == NULL)
		return 0;
	have = evbuffer_get_length(in) - 4;
	frame = evbuffer_pullup(in, 4 + (have < 1024 ? have : 1024)) + 4;
	if (krx_kafka_resp_hdr_len(frame, have < 1024 ? have : 1024,
	    f->api_key, f->api_version, &hlen) != KRX_OK || hlen > size)
		return 0;	/* not even the header yet: wait */
	st = xcalloc(1, sizeof(*st));
	st->f = f;
	st->body_len = size - hlen;
	if (krx_buf_init(&st->copy, st->body_len) != KRX_OK) {
		krx_stream_free(st);
		return 0;
	}
	/* Same size, the client's correlation id, the header's tags. */
	be = htonl((uint32_t)size);
	evbuffer_add(bufferevent_get_output(s->client), &be, 4);
	be = htonl((uint32_t)f->client_corr);
	evbuffer_add(bufferevent_get_output(s->client), &be, 4);
	evbuffer_add(bufferevent_get_output(s->client), frame + 4, hlen - 4);
	evbuffer_drain(in, 4 + hlen);
	s->stream = st;
	s->expanded_u = 0;
	krx_stats_add(s->w->cy->stats, s->w->slot, KRX_STAT_FETCH_STREAMED, 1);
	return 1;
}

/* The whole body is in: endpoints in place, the rest out. */
static int
stream_finish(struct krx_session *s, struct krx_stream *st)
{
	struct krx_inflight	*f = st->f;
	int			 r;

	r = krx_kafka_fetch_endpoints_inplace(st->copy.data, st->body_len,
	    f->api_version, st->sent, krx_rewrite_learn, s);
	if (r != KRX_OK) {
		krx_session_close(s, KRX_LOG_WARN, "cannot finish the Fetch "
		    "v%d response sent while it arrived: %s", f->api_version,
		    krx_strerror(r));
		return -1;
	}
	evbuffer_add(bufferevent_get_output(s->client), st->copy.data +
	    st->sent, st->body_len - st->sent);
	s->stream = NULL;
	krx_stream_free(st);
	f->done = 1;
	krx_session_flush(s);
	return 1;
}

int
krx_stream_feed(struct krx_session *s, struct evbuffer *in)
{
	struct krx_stream	*st = s->stream;
	size_t			 have = evbuffer_get_length(in), n, hold;

	hold = st->body_len - KRX_STREAM_HOLD;
	if (st->sent < hold && have > 0) {
		n = hold - st->sent < have ? hold - st->sent : have;
		evbuffer_copyout(in, st->copy.data + st->copy.len, n);
		st->copy.len += n;
		evbuffer_remove_buffer(in, bufferevent_get_output(s->client),
		    n);
		st->sent += n;
		have -= n;
	}
	if (st->copy.len + have < st->body_len)
		return 0;
	n = st->body_len - st->copy.len;
	evbuffer_remove(in, st->copy.data + st->copy.len, n);
	st->copy.len += n;
	return stream_finish(s, st);
}
