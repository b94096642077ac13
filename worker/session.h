/*
 * session.h: the worker's state: the worker itself, and one client
 * connection paired with one upstream broker connection. Program grade;
 * trusts nothing a client or broker sends.
 */
#ifndef KRX_WORKER_SESSION_H
#define KRX_WORKER_SESSION_H

#include <stdint.h>
#include <sys/queue.h>

#include "common/buf.h"
#include "proto/kafka.h"
#include "common/shm/nodemap.h"
#include "worker/reader.h"

struct bufferevent;
struct evbuffer;
struct event;
struct event_base;
struct evdns_base;
struct evconnlistener;
struct krx_conf;
struct krx_cycle;
struct krx_listener;
struct krx_probe;
struct krx_stream;
struct krx_pjguard;
struct krx_chan;
struct krx_keyclient;
struct krx_topiclimit;
struct sockaddr;

/* Pause reading one side while the other side has this much queued. */
#define KRX_HIGH_WATER		(4 * 1024 * 1024)
#define KRX_LOW_WATER		(KRX_HIGH_WATER / 2)
#define KRX_MAX_SINGLE_WRITE	(256 * 1024)
/* Bytes of a frame pulled up to parse its request header first. */
#define KRX_HDR_PEEK		1024
/* Fixed point of krx_session.fetch_ratio, and its largest value. */
#define KRX_RATIO_ONE		1024
#define KRX_RATIO_MAX		(4 * KRX_RATIO_ONE)
/* Stop reading a client with this many requests waiting (finding 3). */
#define KRX_MAX_INFLIGHT	1000

struct krx_session;
/*
 * The answer to a request krx sends on its own (DescribeConfigs): the
 * response body (after the response header), or body NULL when the
 * session goes away first (free arg then). -1 when s was closed.
 */
typedef int (*krx_internal_fn)(struct krx_session *s, void *arg,
    const uint8_t *body, size_t len);

/* One request waiting for its response, in client order. */
struct krx_inflight {
	TAILQ_ENTRY(krx_inflight) entry;
	int32_t			 client_corr;
	int32_t			 upstream_corr;
	int16_t			 api_key;
	int16_t			 api_version;
	unsigned		 local:1;	/* answered by krx itself */
	unsigned		 done:1;	/* response ready in resp */
	unsigned		 close_after:1;	/* close once written */
	unsigned		 internal:1;	/* krx's own: not counted */
	uint64_t		 t0;		/* came (us, wmetrics.h) */
	struct evbuffer		*resp;		/* NULL: written through */
	void			*split;		/* a Produce sent in pieces
						   (filter_produce.c) */
	krx_internal_fn		 fn;		/* krx's own request */
	void			*arg;
};
TAILQ_HEAD(krx_inflight_q, krx_inflight);

struct krx_session {
	TAILQ_ENTRY(krx_session) entry;
	struct krx_worker	*w;
	uint64_t		 id;
	size_t			 vc;
	int32_t			 node_id;	/* -1: bootstrap port */
	char			 client_addr[64];
	char			 upstream_addr[KRX_NODEMAP_HOST_MAX + 8];
	struct bufferevent	*client;
	struct bufferevent	*upstream;
	struct krx_reader	 rd_client;	/* reads for client */
	struct krx_reader	 rd_upstream;	/* reads for upstream */
	struct krx_probe	*probe;
	size_t			 probe_up;	/* the upstream bootstrap
						   server probed (index) */
	struct krx_inflight_q	 inflight;
	uint32_t		 n_inflight;
	int32_t			 next_corr;
	void			*held;		/* request waiting on keys */
	void			*held_resp;	/* response waiting on keys */
	struct krx_stream	*stream;	/* response going out */
	LIST_HEAD(, krx_pjguard) pjguards;	/* filter_produce.c */
	int8_t			 dconf;		/* DescribeConfigs v1 at the
						   broker: 1 yes, -1 no, 0
						   not seen (asked) */
	unsigned		 closing:1;
	unsigned		 connecting:1;
	unsigned		 connect_failed:1;
	unsigned		 client_paused:1;
	unsigned		 upstream_paused:1;
	unsigned		 upstream_ready:1;	/* connected */
	unsigned		 provisional:1;	/* node port served through a
						   bootstrap server (probe.c) */
	uint32_t		 fetch_ratio;	/* fetched bytes per clear byte,
						   KRX_RATIO_ONE = 1 */
	uint32_t		 expanded_c;	/* frame size made contiguous */
	uint32_t		 expanded_u;
	struct krx_buf		 scratch;	/* per-response rewrite area */
	/* Limits (issue 9, findings 3 and 4). */
	uint8_t			 peer[17];	/* family, address */
	unsigned		 authed:1;	/* past ApiVersions / SASL */
	unsigned		 sasl:1;	/* SaslHandshake sent */
	unsigned		 budget_wait:1;	/* on w->budget_waiters */
	size_t			 charged;	/* in w->buffered */
	size_t			 reserved;	/* for the frame coming in */
	size_t			 held_bytes;	/* copy of the held request
						   (filter_produce.c) */
	size_t			 want;		/* waiting to reserve this */
	int64_t			 t_handshake;	/* seconds, monotonic */
	int64_t			 t_active;	/* last client read */
	int64_t			 t_frame;	/* partial frame seen since */
	LIST_ENTRY(krx_session)	 budget_entry;
};
LIST_HEAD(krx_session_list, krx_session);
TAILQ_HEAD(krx_session_q, krx_session);

struct krx_worker {
	struct event_base	*base;
	struct evdns_base	*dns;
	struct krx_cycle	*cy;		/* this worker's generation */
	const struct krx_conf	*conf;		/* cy's */
	struct krx_nodemap	*nodemap;	/* cy's */
	int			 slot;
	struct krx_chan		*chan;		/* to the master */
	struct krx_keyclient	*kc;
	struct krx_topiclimit	*limits;	/* topiclimit.c */
	struct krx_zctx		*z;		/* zstd contexts, or NULL */
	struct evconnlistener	**listeners;
	void			*listen_ctx;
	size_t			 n_listeners;
	struct krx_session_q	 sessions;
	size_t			 n_sessions;
	uint64_t		 next_id;
	unsigned		*rr;		/* per vcluster upstream index */
	int			 draining;
	struct event		*drain_timer;
	struct event		*accept_timer;
	/* Limits (issue 9, finding 4), session.c. */
	size_t			 buffered;	/* client bytes held, charged */
	int			 over_budget;
	struct krx_session_list	 budget_waiters;
	size_t			 min_want;	/* least want of the waiters */
	struct event		*budget_ev;	/* wakes the waiters */
	struct event		*sweep_ev;	/* timeouts, once a second */
	uint64_t		 refused;	/* over a connection limit */
	int64_t			 refused_logged;
};

/* session.c: client side */
#define KRX_FRAME_NEGATIVE	(-1)
#define KRX_FRAME_TOO_BIG	(-2)
/*
 * Look at the frame at the front of bev's input: 1 when size bytes follow
 * the prefix, 0 when more must arrive (the rest is read from the socket at
 * once into one chain, as far as it is there), or KRX_FRAME_NEGATIVE /
 * KRX_FRAME_TOO_BIG.
 */
int	krx_frame_peek(struct bufferevent *bev, uint32_t max, uint32_t *expanded,
	    int32_t *size);
/* Write bev's output now; the write event only if some is left. */
void	krx_bev_write_now(struct bufferevent *bev);
void	krx_session_accept(struct krx_worker *w,
	    const struct krx_listener *l, int fd, const struct sockaddr *sa,
	    int salen);
/* Close now, logging why at level (NULL: a normal end, debug log). */
void	krx_session_close(struct krx_session *s, int level,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Close once what is queued for the client has been written. */
void	krx_session_close_after_flush(struct krx_session *s);
void	krx_session_free(struct krx_session *s);
/* Write every ready response at the head of the in-flight queue. */
void	krx_session_flush(struct krx_session *s);
/* Read the client again if paused; -1 when s was closed (freed). */
int	krx_session_resume_client(struct krx_session *s);
/* Stop reading the client until krx_session_go. */
void	krx_session_pause(struct krx_session *s);
/*
 * Read the client again, and handle what it sent, unless something still
 * holds it back; -1 when s was closed (freed).
 */
int	krx_session_go(struct krx_session *s);
/* Queue a response krx makes itself (body after the header), in order. */
void	krx_session_reply(struct krx_session *s,
	    const struct krx_kafka_req_hdr *h, const uint8_t *body, size_t len,
	    int close_after);
/*
 * Send a request upstream: frame is the original (after its size
 * prefix), h its header; the body is replaced by body/body_len. With
 * reply, an in-flight entry waits for the response.
 */
void	krx_session_send(struct krx_session *s,
	    const struct krx_kafka_req_hdr *h, const uint8_t *frame,
	    const uint8_t *body, size_t body_len, int reply);
/*
 * The same with a body built in b, handed over without a copy; the
 * in-flight entry waiting for the response, or NULL without reply.
 */
struct krx_inflight *krx_session_send_buf(struct krx_session *s,
	    const struct krx_kafka_req_hdr *h, const uint8_t *frame,
	    struct krx_buf *b, int reply);
/*
 * Send the next request of f upstream (a Produce sent in pieces): f
 * waits for its response instead of the last one's.
 */
void	krx_session_resend(struct krx_session *s, struct krx_inflight *f,
	    const struct krx_kafka_req_hdr *h, const uint8_t *frame,
	    struct krx_buf *b);
/*
 * A request of krx's own (header v1, client id "krx"): its response
 * goes to fn, not to the client; the client's responses keep their order.
 */
void	krx_session_send_internal(struct krx_session *s, int16_t api_key,
	    int16_t api_version, struct krx_buf *body, krx_internal_fn fn,
	    void *arg);
/* Append b's bytes to dst, by reference when big (b is emptied). */
void	krx_evbuffer_give(struct evbuffer *dst, struct krx_buf *b);
/* The held request is done: go on reading the client's frames. */
void	krx_session_release(struct krx_session *s);
/* The same from the loop's next turn (called while s is in use). */
void	krx_session_release_later(struct krx_session *s);

/* filter_produce.c: Produce on an encrypting virtual cluster. */
int	krx_filter_produce(struct krx_session *s, struct evbuffer *in,
	    uint32_t size, const struct krx_kafka_req_hdr *h);
/*
 * The response to a piece of a Produce sent in pieces (f->split): 1 when
 * f waits for the next piece's, 0 when the client's response was written
 * to dst (f is done), -1 when s was closed.
 */
int	krx_filter_produce_piece(struct krx_session *s, struct krx_inflight *f,
	    struct evbuffer *in, uint32_t size, struct evbuffer *dst);
/*
 * stream.c: a large Fetch response (no record encryption) sent on as it
 * arrives. krx_stream_start: 1 when the frame at the front of in is now
 * streamed (s->stream), 0 when it is not for streaming. krx_stream_feed:
 * 1 when the response is complete, 0 for more, -1 when s was closed.
 */
int	krx_stream_start(struct krx_session *s, struct evbuffer *in);
int	krx_stream_feed(struct krx_session *s, struct evbuffer *in);
void	krx_stream_free(struct krx_stream *st);

/* filter_fetch.c: decrypt a Fetch / ShareFetch response; see there. */
int	krx_filter_fetch(struct krx_session *s, struct krx_inflight *f,
	    struct evbuffer *in, uint32_t size, struct evbuffer *dst);
struct krx_fjob;
void	krx_filter_fetch_free(struct krx_fjob *j);
/* fetch_request.c: raise a Fetch request's size limits by fetch_ratio. */
void	krx_filter_fetch_request(struct krx_session *s, struct evbuffer *in,
	    uint32_t size, const struct krx_kafka_req_hdr *h);
void	krx_filter_guards_free(struct krx_session *s);
/* Cancel the filters' pending work of a closing session. */
void	krx_filter_session_gone(struct krx_session *s);

/* upstream.c: broker side */
/* Pick the broker and start connecting; -1 when s was closed. */
int	krx_upstream_start(struct krx_session *s);
/* Connect s->upstream; -1 when it failed and s was closed. */
int	krx_upstream_connect(struct krx_session *s, const char *host,
	    int port);
void	krx_upstream_resume(struct krx_session *s);
/* The held response is done: go on reading the broker's frames. */
void	krx_upstream_release(struct krx_session *s);

/* probe.c: learn broker addresses for a node port with no known one */
/* -1 when s was closed. */
int	krx_probe_start(struct krx_session *s);
void	krx_probe_free(struct krx_probe *p);
/*
 * A provisional session (s->provisional) before its next request: 0 to
 * go on (broker N still unknown, or known at the bootstrap server it
 * reached: provisional no more), -1 when the session was closed because
 * broker N is elsewhere (the client reconnects to the right broker).
 */
int	krx_probe_settle(struct krx_session *s);

/* rewrite.c: responses krx changes; 0 written to dst, 1 held, -1 closed */
int	krx_rewrite_response(struct krx_session *s, struct krx_inflight *f,
	    struct evbuffer *in, uint32_t size, struct evbuffer *dst);
/* Endpoint callback that records upstream addresses in the node map. */
int	krx_rewrite_learn(void *arg, const struct krx_kafka_endpoint *up,
	    struct krx_kafka_endpoint *adv);

/*
 * limit.c: per-worker bounds (issue 9, finding 4): connections per
 * worker and per client address, a budget of client bytes held in
 * memory, and the handshake, idle and request timeouts.
 */
void	krx_limit_init(struct krx_worker *w);
void	krx_limit_free(struct krx_worker *w);
/* 0 when a connection from sa may be accepted (peer: its key). */
int	krx_limit_admit(struct krx_worker *w, const struct sockaddr *sa,
	    uint8_t peer[17]);
/*
 * Recount what s holds: its client input and held request copy, or its
 * reservation.
 */
void	krx_limit_charge(struct krx_session *s);
/*
 * Reserve n bytes of the budget for the frame coming in on s: 0, or -1
 * when there is no room (s is paused until there is).
 */
int	krx_limit_reserve(struct krx_session *s, size_t n);
/* Pause s until the worker is under its budget. */
void	krx_limit_wait(struct krx_session *s);
/* s is going away: give back its charge. */
void	krx_limit_gone(struct krx_session *s);
/* Monotonic seconds. */
int64_t	krx_limit_now(void);

/* worker.c */
void	krx_worker_session_gone(struct krx_worker *w);

#endif
