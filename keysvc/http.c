/*
 * http.c: the KMS providers' HTTP client (http.h has the contract), run
 * by keysvc. libcurl's multi interface on the keysvc's libevent loop:
 * libcurl tells us which sockets to watch (CURLMOPT_SOCKETFUNCTION) and
 * when to wake it (CURLMOPT_TIMERFUNCTION); libevent events hand both
 * back through curl_multi_socket_action, and finished transfers are
 * reaped after every such call. User callbacks are called only from
 * that reaping, never from inside libcurl, so they may add, cancel and
 * free. Trusts its caller; what servers send is bounded (body, headers)
 * and never logged.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "keysvc/http.h"

#define HTTP_URL_MAX	8192
#define HTTP_SIGV4_MAX	128

enum http_state {
	CALL_QUEUED = 0,	/* in h->queue */
	CALL_RUNNING,		/* in the multi handle */
	CALL_BACKOFF,		/* retry_ev pending */
	CALL_FINISHING		/* classifier or callback running */
};

struct krx_http_call {
	TAILQ_ENTRY(krx_http_call) link;	/* h->calls: every call */
	TAILQ_ENTRY(krx_http_call) qlink;	/* h->queue */
	struct krx_http		*h;
	enum http_state		 state;
	int			 cancelled;	/* while CALL_FINISHING */
	int			 attempt;	/* attempts started */
	int			 attempts;	/* allowed */
	int64_t			 deadline;	/* ms, http_now_ms() */
	CURL			*easy;
	struct curl_slist	*headers;
	uint8_t			*body;		/* request body copy */
	size_t			 body_len;
	char			*user;		/* SigV4 access key copy */
	char			*pass;		/* SigV4 secret key copy */
	struct event		*retry_ev;
	krx_http_classify_fn	 classify;
	krx_http_cb		 cb;
	void			*arg;
	/* The answer of the current attempt. */
	uint8_t			*rbody;
	size_t			 rlen, rcap;
	char			*rhdr;
	size_t			 rhlen, rhcap;
	const char		*too_large;	/* why, when over a bound */
	char			 errbuf[CURL_ERROR_SIZE];
};

/* A socket libcurl asked us to watch. */
struct http_sock {
	LIST_ENTRY(http_sock)	 link;
	struct event		*ev;
};

struct krx_http {
	struct event_base	*base;
	CURLM			*multi;
	struct event		*timer;
	struct krx_http_opts	 o;
	char			*ca_file;
	TAILQ_HEAD(, krx_http_call) calls;
	TAILQ_HEAD(, krx_http_call) queue;
	LIST_HEAD(, http_sock)	 socks;
	size_t			 ncalls;
	size_t			 nrunning;
	int			 depth;		/* event callbacks running */
	int			 dying;		/* krx_http_free called */
	struct krx_http_stats	 st;
};

static void	http_pump(struct krx_http *);

const char *
krx_http_strerror(enum krx_http_error e)
{
	switch (e) {
	case KRX_HTTP_OK:
		return "ok";
	case KRX_HTTP_E_TIMEOUT:
		return "timeout";
	case KRX_HTTP_E_CONNECT:
		return "connect";
	case KRX_HTTP_E_TLS:
		return "tls";
	case KRX_HTTP_E_TOO_LARGE:
		return "too large";
	case KRX_HTTP_E_OTHER:
		break;
	}
	return "other";
}

static void
http_wipe_free(void *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

static void
http_wipe_str(char *s)
{
	if (s != NULL)
		http_wipe_free(s, strlen(s));
}

/* curl_slist_free_all frees without wiping: wipe every line first. */
static void
http_slist_wipe(struct curl_slist *l)
{
	struct curl_slist	*p;

	for (p = l; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static struct curl_slist *
http_slist_add(struct curl_slist *l, const char *line)
{
	struct curl_slist	*n;

	if ((n = curl_slist_append(l, line)) == NULL)
		fatalx("curl_slist_append: out of memory");
	return n;
}

/*
 * Grow *p (used bytes kept) to hold need bytes, at most limit; the old
 * buffer is wiped, since it may hold a DEK (realloc would leave it).
 */
static void
http_grow(void *pp, size_t *cap, size_t used, size_t need, size_t limit)
{
	uint8_t	**p = pp, *n;
	size_t	  ncap = *cap != 0 ? *cap : 1024;

	if (need <= *cap)
		return;
	while (ncap < need && ncap < limit)
		ncap *= 2;
	if (ncap > limit)
		ncap = limit;
	if (ncap < need)
		ncap = need;
	n = xmalloc(ncap);
	if (used > 0)
		memcpy(n, *p, used);
	http_wipe_free(*p, *cap);
	*p = n;
	*cap = ncap;
}

/* Wipe the current answer (before a retry). */
static void
http_resp_reset(struct krx_http_call *c)
{
	if (c->rbody != NULL)
		OPENSSL_cleanse(c->rbody, c->rcap);
	if (c->rhdr != NULL)
		OPENSSL_cleanse(c->rhdr, c->rhcap);
	c->rlen = c->rhlen = 0;
	c->too_large = NULL;
	c->errbuf[0] = '\0';
}

static size_t
http_write(char *data, size_t size, size_t n, void *arg)
{
	struct krx_http_call	*c = arg;
	size_t			 len = size * n, max = c->h->o.max_body;

	if (len > max - c->rlen) {
		c->too_large = "response body over the size limit";
		return 0;
	}
	http_grow(&c->rbody, &c->rcap, c->rlen, c->rlen + len + 1, max + 1);
	memcpy(c->rbody + c->rlen, data, len);
	c->rlen += len;
	c->rbody[c->rlen] = '\0';
	return len;
}

/* Header lines of the last response only (not of a 3xx or 1xx). */
static size_t
http_header(char *data, size_t size, size_t n, void *arg)
{
	struct krx_http_call	*c = arg;
	size_t			 len = size * n;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		if (c->rhdr != NULL)
			OPENSSL_cleanse(c->rhdr, c->rhcap);
		c->rhlen = 0;
	}
	if (len > KRX_HTTP_MAX_HEADERS - c->rhlen) {
		c->too_large = "response headers over the size limit";
		return 0;
	}
	http_grow(&c->rhdr, &c->rhcap, c->rhlen, c->rhlen + len + 1,
	    KRX_HTTP_MAX_HEADERS + 1);
	memcpy(c->rhdr + c->rhlen, data, len);
	c->rhlen += len;
	c->rhdr[c->rhlen] = '\0';
	return len;
}

static CURLcode
http_ssl_ctx(CURL *easy, void *ssl_ctx, void *arg)
{
	struct krx_http	*h = arg;

	if (h->o.tls_hook(h->o.tls_arg, ssl_ctx) != 0)
		return CURLE_SSL_CERTPROBLEM;
	return CURLE_OK;
}

static enum krx_http_error
http_class(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return KRX_HTTP_OK;
	case CURLE_OPERATION_TIMEDOUT:
		return KRX_HTTP_E_TIMEOUT;
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
		return KRX_HTTP_E_CONNECT;
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_USE_SSL_FAILED:
		return KRX_HTTP_E_TLS;
	case CURLE_FILESIZE_EXCEEDED:
		return KRX_HTTP_E_TOO_LARGE;
	default:
		return KRX_HTTP_E_OTHER;
	}
}

/*
 * TLS 1.3 servers refuse a client certificate after the handshake: the
 * client reads the alert with its first SSL_read, which libcurl reports
 * as a receive error. An OpenSSL "SSL routines" error there (an alert, a
 * bad record) is a TLS failure, not a transport one: not retried, and
 * logged as TLS. A reset or EOF reads "Connection reset", "errno 104",
 * "unexpected eof": those stay transport errors.
 */
static enum krx_http_error
http_class_call(const struct krx_http_call *c, CURLcode rc)
{
	enum krx_http_error	 e = http_class(rc);

	if ((rc == CURLE_RECV_ERROR || rc == CURLE_SEND_ERROR) &&
	    strstr(c->errbuf, "SSL routines") != NULL &&
	    strstr(c->errbuf, "unexpected eof") == NULL)
		e = KRX_HTTP_E_TLS;
	return e;
}

static enum krx_http_verdict
http_default_classify(void *arg, const struct krx_http_resp *r)
{
	switch (r->error) {
	case KRX_HTTP_OK:
		return r->status == 408 || r->status == 429 ||
		    r->status >= 500 ? KRX_HTTP_RETRY : KRX_HTTP_DONE;
	case KRX_HTTP_E_TLS:
	case KRX_HTTP_E_TOO_LARGE:
		return KRX_HTTP_DONE;
	default:
		return KRX_HTTP_RETRY;
	}
}

/*
 * The delay before the attempt that follows `failures` failed ones
 * (>= 1), as Kroxylicious' ExponentialJitterBackoffStrategy: backoff b(n)
 * = initial * 2^(n-1), plus a jitter uniform in +-(b(n) - b(n-1)), the
 * sum capped at max. rnd is a random number.
 */
static long
http_backoff(long initial, long max, int failures, uint64_t rnd)
{
	long	 b = initial, prior = 0, span, d;
	int	 i;

	for (i = 1; i < failures && b < max && b <= LONG_MAX / 2; i++) {
		prior = b;
		b *= 2;
	}
	if (b >= max && i < failures)
		return max;		/* even b - span is over the cap */
	span = b - prior;
	d = b - span + (long)(rnd % (2 * (uint64_t)span + 1));
	if (d > max)
		d = max;
	return d < 0 ? 0 : d;
}

static uint64_t
http_random(void)
{
	uint64_t	 r;

	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = 0;
	return r;
}

static void
http_resp_fill(struct krx_http_call *c, CURLcode rc,
    struct krx_http_resp *r)
{
	memset(r, 0, sizeof(*r));
	r->attempt = c->attempt;
	r->error = c->too_large != NULL ? KRX_HTTP_E_TOO_LARGE :
	    http_class_call(c, rc);
	r->body = (const uint8_t *)"";
	r->headers = "";
	r->why = "";
	if (r->error != KRX_HTTP_OK) {
		if (c->too_large != NULL)
			r->why = c->too_large;
		else if (c->errbuf[0] != '\0')
			r->why = c->errbuf;
		else
			r->why = curl_easy_strerror(rc);
		return;
	}
	if (curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE,
	    &r->status) != CURLE_OK)
		r->status = 0;
	if (c->rbody != NULL) {
		r->body = c->rbody;
		r->body_len = c->rlen;
	}
	if (c->rhdr != NULL) {
		r->headers = c->rhdr;
		r->headers_len = c->rhlen;
	}
}

static void
http_call_free(struct krx_http_call *c)
{
	struct krx_http	*h = c->h;

	TAILQ_REMOVE(&h->calls, c, link);
	h->ncalls--;
	/* libcurl points at the headers and the body: it goes first. */
	if (c->easy != NULL)
		curl_easy_cleanup(c->easy);
	http_slist_wipe(c->headers);
	http_wipe_free(c->body, c->body_len);
	http_wipe_str(c->user);
	http_wipe_str(c->pass);
	http_wipe_free(c->rbody, c->rcap);
	http_wipe_free(c->rhdr, c->rhcap);
	if (c->retry_ev != NULL)
		event_free(c->retry_ev);
	free(c);
}

/* Take c out of wherever it waits or runs, and free it. */
static void
http_drop(struct krx_http_call *c)
{
	struct krx_http	*h = c->h;

	switch (c->state) {
	case CALL_RUNNING:
		curl_multi_remove_handle(h->multi, c->easy);
		h->nrunning--;
		break;
	case CALL_QUEUED:
		TAILQ_REMOVE(&h->queue, c, qlink);
		break;
	case CALL_BACKOFF:
	case CALL_FINISHING:
		break;
	}
	http_call_free(c);
}

/* Monotonic milliseconds. */
static int64_t
http_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* This attempt's timeout: the configured one, cut to the time left. */
static void
http_attempt_timeout(struct krx_http_call *c)
{
	struct krx_http	*h = c->h;
	int64_t		 left = c->deadline - http_now_ms();
	long		 t = h->o.timeout_ms, ct = h->o.connect_timeout_ms;

	if (left < 1000)
		left = 1000;
	if (t > left)
		t = (long)left;
	if (ct > t)
		ct = t;
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, t);
	curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, ct);
}

static void
http_start(struct krx_http_call *c)
{
	struct krx_http	*h = c->h;
	CURLMcode	 mc;

	http_resp_reset(c);
	http_attempt_timeout(c);
	c->attempt++;
	c->state = CALL_RUNNING;
	h->nrunning++;
	h->st.attempts++;
	/* Fails only when out of memory or on misuse of the handle. */
	if ((mc = curl_multi_add_handle(h->multi, c->easy)) != CURLM_OK)
		fatalx("curl_multi_add_handle: %s", curl_multi_strerror(mc));
}

static void
http_pump(struct krx_http *h)
{
	struct krx_http_call	*c;

	while (!h->dying && h->nrunning < (size_t)h->o.max_active &&
	    (c = TAILQ_FIRST(&h->queue)) != NULL) {
		TAILQ_REMOVE(&h->queue, c, qlink);
		http_start(c);
	}
}

static void
http_retry_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_http_call	*c = arg;

	/* Admitted long ago: ahead of the requests queued since. */
	c->state = CALL_QUEUED;
	TAILQ_INSERT_HEAD(&c->h->queue, c, qlink);
	http_pump(c->h);
}

/* One attempt ended (c already out of the multi handle). */
static void
http_finish(struct krx_http_call *c, CURLcode rc)
{
	struct krx_http		*h = c->h;
	struct krx_http_resp	 r;
	enum krx_http_verdict	 v = KRX_HTTP_DONE;
	struct timeval		 tv;
	long			 ms;

	c->state = CALL_FINISHING;
	http_resp_fill(c, rc, &r);
	if (r.error != KRX_HTTP_OK)
		h->st.transport_errors++;
	if (c->attempt < c->attempts)
		v = c->classify(c->arg, &r);
	if (c->cancelled) {
		http_call_free(c);
		return;
	}
	if (v == KRX_HTTP_RETRY) {
		ms = http_backoff(h->o.backoff_ms, h->o.backoff_max_ms,
		    c->attempt, http_random());
		if (http_now_ms() + ms + 1000 > c->deadline) {
			log_debug("http: attempt %d of %d failed; no time "
			    "left for another", c->attempt, c->attempts);
			v = KRX_HTTP_DONE;
		}
	}
	if (v == KRX_HTTP_RETRY) {
		if (r.error != KRX_HTTP_OK)
			log_debug("http: attempt %d of %d failed (%s: %s); "
			    "retrying in %ld ms", c->attempt, c->attempts,
			    krx_http_strerror(r.error), r.why, ms);
		else
			log_debug("http: attempt %d of %d answered %ld; "
			    "retrying in %ld ms", c->attempt, c->attempts,
			    r.status, ms);
		http_resp_reset(c);
		h->st.retries++;
		c->state = CALL_BACKOFF;
		tv.tv_sec = ms / 1000;
		tv.tv_usec = (ms % 1000) * 1000;
		evtimer_add(c->retry_ev, &tv);
		return;
	}
	c->cb(c->arg, &r);
	http_call_free(c);
}

/* Hand every finished transfer to its request. */
static void
http_reap(struct krx_http *h)
{
	struct krx_http_call	*c;
	CURLMsg			*m;
	CURLcode		 rc;
	char			*priv;
	int			 left;

	while (!h->dying &&
	    (m = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		if (curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE,
		    &priv) != CURLE_OK || priv == NULL)
			fatalx("http: a transfer without its request");
		c = (struct krx_http_call *)priv;
		curl_multi_remove_handle(h->multi, c->easy);
		h->nrunning--;
		http_finish(c, rc);
		http_pump(h);
	}
}

static void http_destroy(struct krx_http *);

static void
http_leave(struct krx_http *h)
{
	if (--h->depth == 0 && h->dying)
		http_destroy(h);
}

static void
http_sock_event(evutil_socket_t fd, short what, void *arg)
{
	struct krx_http	*h = arg;
	int		 flags = 0, running;

	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	h->depth++;
	curl_multi_socket_action(h->multi, fd, flags, &running);
	http_reap(h);
	http_leave(h);
}

static void
http_timer_event(evutil_socket_t fd, short what, void *arg)
{
	struct krx_http	*h = arg;
	int		 running;

	h->depth++;
	curl_multi_socket_action(h->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	http_reap(h);
	http_leave(h);
}

/* CURLMOPT_SOCKETFUNCTION: watch s as libcurl asks. */
static int
http_sock_cb(CURL *easy, curl_socket_t s, int what, void *arg, void *sockp)
{
	struct krx_http	*h = arg;
	struct http_sock *hs = sockp;
	short		 ev = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (hs != NULL) {
			LIST_REMOVE(hs, link);
			event_free(hs->ev);
			free(hs);
		}
		return 0;
	}
	if (what & CURL_POLL_IN)
		ev |= EV_READ;
	if (what & CURL_POLL_OUT)
		ev |= EV_WRITE;
	if (hs == NULL) {
		hs = xcalloc(1, sizeof(*hs));
		if ((hs->ev = event_new(h->base, s, ev, http_sock_event,
		    h)) == NULL) {
			free(hs);
			return -1;
		}
		LIST_INSERT_HEAD(&h->socks, hs, link);
		curl_multi_assign(h->multi, s, hs);
	} else {
		event_del(hs->ev);
		event_assign(hs->ev, h->base, s, ev, http_sock_event, h);
	}
	return event_add(hs->ev, NULL) == 0 ? 0 : -1;
}

/* CURLMOPT_TIMERFUNCTION: libcurl wants to be woken in ms (-1: never). */
static int
http_timer_cb(CURLM *multi, long ms, void *arg)
{
	struct krx_http	*h = arg;
	struct timeval	 tv;

	if (ms < 0)
		return evtimer_del(h->timer) == 0 ? 0 : -1;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

struct krx_http *
krx_http_new(struct event_base *base, const struct krx_http_opts *o)
{
	struct krx_http	*h;
	int		 bad = 0;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_warnx("http: libcurl cannot be initialised");
		return NULL;
	}
	h = xcalloc(1, sizeof(*h));
	h->base = base;
	if (o != NULL)
		h->o = *o;
	if (h->o.max_active <= 0)
		h->o.max_active = KRX_HTTP_MAX_ACTIVE;
	if (h->o.max_queue <= 0)
		h->o.max_queue = KRX_HTTP_MAX_QUEUE;
	if (h->o.connect_timeout_ms <= 0)
		h->o.connect_timeout_ms = KRX_HTTP_TIMEOUT_MS;
	if (h->o.timeout_ms <= 0)
		h->o.timeout_ms = KRX_HTTP_TIMEOUT_MS;
	if (h->o.max_body == 0 || h->o.max_body > SIZE_MAX / 2)
		h->o.max_body = KRX_HTTP_MAX_BODY;
	if (h->o.attempts <= 0)
		h->o.attempts = KRX_HTTP_ATTEMPTS;
	if (h->o.backoff_ms <= 0)
		h->o.backoff_ms = KRX_HTTP_BACKOFF_MS;
	if (h->o.backoff_max_ms <= 0)
		h->o.backoff_max_ms = KRX_HTTP_BACKOFF_MAX_MS;
	if (h->o.deadline_ms <= 0)
		h->o.deadline_ms = KRX_HTTP_DEADLINE_MS;
	if (h->o.ca_file != NULL)
		h->ca_file = xstrdup(h->o.ca_file);
	h->o.ca_file = NULL;
	TAILQ_INIT(&h->calls);
	TAILQ_INIT(&h->queue);
	LIST_INIT(&h->socks);
	if ((h->timer = evtimer_new(base, http_timer_event, h)) == NULL ||
	    (h->multi = curl_multi_init()) == NULL) {
		log_warnx("http: cannot set up the multi handle");
		http_destroy(h);
		return NULL;
	}
	bad |= curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION,
	    http_sock_cb) != CURLM_OK;
	bad |= curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) !=
	    CURLM_OK;
	bad |= curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION,
	    http_timer_cb) != CURLM_OK;
	bad |= curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) !=
	    CURLM_OK;
	/* Idle connections kept for reuse. */
	bad |= curl_multi_setopt(h->multi, CURLMOPT_MAXCONNECTS,
	    (long)h->o.max_active) != CURLM_OK;
	if (bad) {
		log_warnx("http: cannot set up the multi handle");
		http_destroy(h);
		return NULL;
	}
	return h;
}

static void
http_destroy(struct krx_http *h)
{
	struct http_sock	*hs;

	while (!TAILQ_EMPTY(&h->calls))
		http_drop(TAILQ_FIRST(&h->calls));
	/* May still call http_sock_cb and http_timer_cb: h is whole. */
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	while ((hs = LIST_FIRST(&h->socks)) != NULL) {
		LIST_REMOVE(hs, link);
		event_free(hs->ev);
		free(hs);
	}
	if (h->timer != NULL)
		event_free(h->timer);
	free(h->ca_file);
	free(h);
	curl_global_cleanup();
}

void
krx_http_free(struct krx_http *h)
{
	struct krx_http_call	*c, *next;

	if (h == NULL || h->dying)
		return;
	h->dying = 1;
	for (c = TAILQ_FIRST(&h->calls); c != NULL; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state == CALL_FINISHING)
			c->cancelled = 1;	/* freed when it returns */
		else
			http_drop(c);
	}
	if (h->depth == 0)
		http_destroy(h);
}

void
krx_http_cancel(struct krx_http_call *c)
{
	struct krx_http	*h;

	if (c == NULL)
		return;
	if (c->state == CALL_FINISHING) {
		c->cancelled = 1;
		return;
	}
	h = c->h;
	http_drop(c);
	http_pump(h);
}

/* A header line: "Name: value" without CR, LF or NUL inside. */
static int
http_line_ok(const char *s)
{
	const char	*colon;

	if (s == NULL || strpbrk(s, "\r\n") != NULL ||
	    (colon = strchr(s, ':')) == NULL || colon == s)
		return 0;
	return 1;
}

static int
http_sigv4_ok(const struct krx_http_sigv4 *v)
{
	return v->region != NULL && v->service != NULL &&
	    v->access_key != NULL && v->secret_key != NULL &&
	    v->region[0] != '\0' && v->service[0] != '\0' &&
	    v->access_key[0] != '\0' && v->secret_key[0] != '\0' &&
	    strpbrk(v->region, ":\r\n") == NULL &&
	    strpbrk(v->service, ":\r\n") == NULL &&
	    strlen(v->region) + strlen(v->service) < HTTP_SIGV4_MAX - 16 &&
	    (v->session_token == NULL ||
	    strpbrk(v->session_token, "\r\n") == NULL);
}

/* NULL, or why r cannot be sent. */
static const char *
http_req_check(const struct krx_http_req *r)
{
	size_t	 i;

	if (r->method != KRX_HTTP_GET && r->method != KRX_HTTP_POST &&
	    r->method != KRX_HTTP_PUT)
		return "unknown method";
	if (r->url == NULL || r->url[0] == '\0' ||
	    strnlen(r->url, HTTP_URL_MAX) == HTTP_URL_MAX ||
	    strpbrk(r->url, " \r\n") != NULL)
		return "missing, long or malformed URL";
	if (r->nheaders > KRX_HTTP_MAX_REQ_HEADERS ||
	    (r->nheaders > 0 && r->headers == NULL))
		return "too many headers";
	for (i = 0; i < r->nheaders; i++)
		if (!http_line_ok(r->headers[i]))
			return "malformed header line";
	if (r->body_len > 0 && r->body == NULL)
		return "body without bytes";
	if (r->sigv4 != NULL && !http_sigv4_ok(r->sigv4))
		return "incomplete or malformed SigV4 settings";
	return NULL;
}

/* The request's headers, SigV4 settings (copies wiped at the end). */
static int
http_setup_auth(struct krx_http_call *c, const struct krx_http_req *r)
{
	const struct krx_http_sigv4	*v = r->sigv4;
	CURL				*e = c->easy;
	char				 prov[HTTP_SIGV4_MAX], *tok;
	size_t				 i, n;
	int				 bad = 0;

	for (i = 0; i < r->nheaders; i++)
		c->headers = http_slist_add(c->headers, r->headers[i]);
	/*
	 * No 100-continue round trip (libcurl 7.88 asks only over 1 MiB
	 * anyway). Not with SigV4: libcurl would sign the empty Expect
	 * header that it then does not send, and AWS would refuse.
	 */
	if (v == NULL)
		c->headers = http_slist_add(c->headers, "Expect:");
	if (v != NULL) {
		snprintf(prov, sizeof(prov), "aws:amz:%s:%s", v->region,
		    v->service);
		c->user = xstrdup(v->access_key);
		c->pass = xstrdup(v->secret_key);
		bad |= curl_easy_setopt(e, CURLOPT_AWS_SIGV4, prov) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_USERNAME, c->user) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_PASSWORD, c->pass) !=
		    CURLE_OK;
		if (v->session_token != NULL) {
			n = strlen(v->session_token) + 32;
			tok = xmalloc(n);
			snprintf(tok, n, "X-Amz-Security-Token: %s",
			    v->session_token);
			c->headers = http_slist_add(c->headers, tok);
			http_wipe_free(tok, n);
		}
	}
	bad |= curl_easy_setopt(e, CURLOPT_HTTPHEADER, c->headers) != CURLE_OK;
	return bad ? -1 : 0;
}

static int
http_setup_method(struct krx_http_call *c, const struct krx_http_req *r)
{
	CURL	*e = c->easy;
	int	 bad = 0;

	if (r->method == KRX_HTTP_GET)
		return curl_easy_setopt(e, CURLOPT_HTTPGET, 1L) != CURLE_OK;
	c->body = xmalloc(r->body_len > 0 ? r->body_len : 1);
	c->body_len = r->body_len;
	if (r->body_len > 0)
		memcpy(c->body, r->body, r->body_len);
	bad |= curl_easy_setopt(e, CURLOPT_POST, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
	    (curl_off_t)c->body_len) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body) != CURLE_OK;
	if (r->method == KRX_HTTP_PUT)
		bad |= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "PUT") !=
		    CURLE_OK;
	return bad ? -1 : 0;
}

/* Verification on unless insecure; the CA file; the hook. */
static int
http_setup_tls(struct krx_http_call *c)
{
	struct krx_http	*h = c->h;
	CURL		*e = c->easy;
	int		 bad = 0;

	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER,
	    h->o.insecure ? 0L : 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST,
	    h->o.insecure ? 0L : 2L) != CURLE_OK;
	if (h->ca_file != NULL)
		bad |= curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file) !=
		    CURLE_OK;
	if (h->o.tls_hook != NULL) {
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION,
		    http_ssl_ctx) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA, h) !=
		    CURLE_OK;
	}
	return bad ? -1 : 0;
}

static int
http_setup(struct krx_http_call *c, const struct krx_http_req *r)
{
	struct krx_http	*h = c->h;
	CURL		*e;
	int		 bad = 0, https;

	if ((c->easy = e = curl_easy_init()) == NULL)
		return -1;
	https = strncasecmp(r->url, "https://", 8) == 0;
	bad |= curl_easy_setopt(e, CURLOPT_URL, r->url) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)c) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HTTP_VERSION,
	    (long)CURL_HTTP_VERSION_1_1) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, c->errbuf) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_write) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_WRITEDATA, c) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, http_header) !=
	    CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_HEADERDATA, c) != CURLE_OK;
	/* CURLOPT_TIMEOUT_MS and CONNECTTIMEOUT_MS: each attempt's. */
	bad |= curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)h->o.max_body) != CURLE_OK;
	bad |= curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L) != CURLE_OK;
	bad |= http_setup_tls(c) != 0;
	if (r->redirects > 0) {
		bad |= curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L) !=
		    CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_MAXREDIRS,
		    (long)r->redirects) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_POSTREDIR,
		    (long)CURL_REDIR_POST_ALL) != CURLE_OK;
		bad |= curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR,
		    https ? "https" : "http,https") != CURLE_OK;
	}
	bad |= http_setup_method(c, r) != 0;
	bad |= http_setup_auth(c, r) != 0;
	return bad ? -1 : 0;
}

struct krx_http_call *
krx_http_request(struct krx_http *h, const struct krx_http_req *r,
    krx_http_cb cb, void *arg)
{
	struct krx_http_call	*c;
	const char		*why;

	if (h->dying)
		return NULL;
	if ((why = http_req_check(r)) != NULL) {
		log_warnx("http: request refused: %s", why);
		h->st.refused++;
		return NULL;
	}
	if (h->ncalls >= (size_t)h->o.max_active + (size_t)h->o.max_queue) {
		h->st.refused++;
		return NULL;
	}
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->cb = cb;
	c->arg = arg;
	c->classify = r->classify != NULL ? r->classify :
	    http_default_classify;
	c->attempts = r->attempts > 0 ? r->attempts : h->o.attempts;
	c->deadline = http_now_ms() + h->o.deadline_ms;
	c->state = CALL_QUEUED;
	TAILQ_INSERT_TAIL(&h->calls, c, link);
	h->ncalls++;
	if ((c->retry_ev = evtimer_new(h->base, http_retry_cb, c)) == NULL ||
	    http_setup(c, r) != 0) {
		log_warnx("http: request refused: libcurl setup failed");
		h->st.refused++;
		http_call_free(c);
		return NULL;
	}
	h->st.requests++;
	TAILQ_INSERT_TAIL(&h->queue, c, qlink);
	http_pump(h);
	return c;
}

const char *
krx_http_resp_header(const struct krx_http_resp *r, const char *name,
    size_t *len)
{
	const char	*p = r->headers, *end = p + r->headers_len;
	const char	*eol, *v, *ve;
	size_t		 n = strlen(name);

	*len = 0;
	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if ((size_t)(eol - p) <= n || p[n] != ':' ||
		    strncasecmp(p, name, n) != 0)
			continue;
		v = p + n + 1;
		ve = eol;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' ||
		    ve[-1] == '\t'))
			ve--;
		*len = (size_t)(ve - v);
		return v;
	}
	return NULL;
}

void
krx_http_stats(const struct krx_http *h, struct krx_http_stats *st)
{
	*st = h->st;
	st->running = h->nrunning;
	st->admitted = h->ncalls;
}
