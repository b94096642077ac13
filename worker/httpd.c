/*
 * httpd.c: a worker's metrics listener. The master binds metrics.listen
 * (master/metrics_listen.c); every worker of the generation accepts on
 * it, as on its Kafka listeners, and answers with libevent's evhttp:
 * GET or HEAD of /metrics (Prometheus text 0.0.4 from the shared
 * counters), / and /index.html (the status page), /healthz. Nothing here
 * changes any state.
 *
 * Runs in workers, next to the Kafka path, and trusts nothing a client
 * sends: headers are bounded in size (HTTP_MAX_HEADER_BYTES) and count,
 * bodies refused, each connection has HTTP_TIMEOUT in all to send a
 * request (a client trickling header bytes is closed, not only an idle
 * one) and to read the answer, and a worker keeps at most HTTP_MAX_CONNS:
 * over it, the oldest connection with nothing left to write is closed,
 * so idle or slow clients cannot lock scrapers out. Answers go out
 * through bufferevents (never a blocking write), and the rendered body is
 * kept HTTP_CACHE_MS, so requests cost at most one render per interval;
 * the answers reference it (counted), none holds a copy.
 *
 * evhttp (2.1) has no connection limit and no hook on a new connection:
 * the bufferevent callback (http_bevcb) sees each one before evhttp
 * finishes setting it up, and http_adopt_cb, run right after in the same
 * loop pass, finds its evhttp_connection through the bufferevent's
 * callback argument and watches its closing (closecb).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "common/buf.h"
#include "common/cycle.h"
#include "common/log.h"
#include "common/shm/metrics.h"
#include "common/xmalloc.h"
#include "worker/httpd.h"
#include "worker/session.h"
#include "worker/status_page.h"
#include "worker/wmetrics.h"

#ifndef HTTP_MAX_CONNS			/* (tests set smaller ones) */
#define HTTP_MAX_CONNS		64	/* per worker */
#endif
#ifndef HTTP_TIMEOUT
#define HTTP_TIMEOUT		5	/* seconds: a request, an answer */
#endif
#define HTTP_MAX_HEADER_BYTES	8192	/* request line and headers */
#define HTTP_MAX_HEADERS	64
#define HTTP_CACHE_MS		1000	/* a rendered /metrics is reused */

#define HTTP_METRICS_TYPE	"text/plain; version=0.0.4; charset=utf-8"
#define HTTP_PAGE_CSP		"default-src 'none'; script-src " \
	"'unsafe-inline'; style-src 'unsafe-inline'; img-src 'self' data:; " \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; " \
	"frame-ancestors 'none'"

/* A rendered /metrics, shared by the answers that still send it. */
struct http_body {
	unsigned	 refs;
	uint8_t		*data;
	size_t		 len;
};

struct http_conn {
	TAILQ_ENTRY(http_conn)	  entry;
	struct krx_httpd	 *h;
	struct bufferevent	 *bev;		/* pending: referenced */
	struct evhttp_connection *evcon;	/* adopted */
	int64_t			  deadline;	/* ms, monotonic */
};
TAILQ_HEAD(http_conn_q, http_conn);

struct krx_httpd {
	struct krx_worker		*w;
	struct evhttp			*http;
	struct evhttp_bound_socket	*bound;	/* NULL once draining */
	struct event			*adopt_ev;
	struct event			*sweep_ev;	/* deadlines, 1 s */
	struct event			*resume_ev;	/* accept paused */
	struct http_conn_q		 pending;	/* before adoption */
	struct http_conn_q		 conns;		/* oldest first */
	size_t				 n_conns;
	struct http_body		*body;		/* /metrics, or NULL */
	int64_t				 rendered;	/* ms, monotonic */
	uint64_t			 shed;		/* closed: over cap */
};

static int64_t
http_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* evhttp: the connection is going away (closed, timed out, freed). */
static void
http_closed(struct evhttp_connection *evcon, void *arg)
{
	struct http_conn	*c = arg;
	struct krx_httpd	*h = c->h;

	TAILQ_REMOVE(&h->conns, c, entry);
	h->n_conns--;
	free(c);
	if (h->bound == NULL && h->n_conns == 0)
		krx_worker_session_gone(h->w);	/* draining: exit? */
}

/* Over the cap: the oldest with nothing to write, else the newest. */
static void
http_shed(struct krx_httpd *h)
{
	struct http_conn	*c;
	struct bufferevent	*bev;

	TAILQ_FOREACH(c, &h->conns, entry) {
		bev = evhttp_connection_get_bufferevent(c->evcon);
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			break;
	}
	if (c == NULL)
		c = TAILQ_LAST(&h->conns, http_conn_q);
	h->shed++;
	log_debug("metrics: %zu connections, closing one (%llu so far)",
	    h->n_conns, (unsigned long long)h->shed);
	evhttp_connection_free(c->evcon);	/* http_closed frees c */
}

static void
http_adopt_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_httpd	*h = arg;
	struct http_conn	*c;
	void			*evcon;

	while ((c = TAILQ_FIRST(&h->pending)) != NULL) {
		TAILQ_REMOVE(&h->pending, c, entry);
		bufferevent_getcb(c->bev, NULL, NULL, NULL, &evcon);
		bufferevent_decref(c->bev);
		c->bev = NULL;
		if (evcon == NULL) {	/* evhttp gave up on it already */
			free(c);
			if (h->bound == NULL && h->n_conns == 0 &&
			    TAILQ_EMPTY(&h->pending))
				krx_worker_session_gone(h->w);
			continue;
		}
		c->evcon = evcon;
		c->deadline = http_now_ms() + HTTP_TIMEOUT * 1000;
		evhttp_connection_set_closecb(c->evcon, http_closed, c);
		TAILQ_INSERT_TAIL(&h->conns, c, entry);
		if (++h->n_conns > HTTP_MAX_CONNS)
			http_shed(h);
	}
}

/* evhttp's new connection: its bufferevent, held until adopted. */
static struct bufferevent *
http_bevcb(struct event_base *base, void *arg)
{
	struct krx_httpd	*h = arg;
	struct http_conn	*c;
	struct bufferevent	*bev;

	if ((bev = bufferevent_socket_new(base, -1, 0)) == NULL)
		return NULL;
	c = xcalloc(1, sizeof(*c));
	c->h = h;
	c->bev = bev;
	bufferevent_incref(bev);
	TAILQ_INSERT_TAIL(&h->pending, c, entry);
	event_active(h->adopt_ev, EV_TIMEOUT, 1);
	return bev;
}

static void
http_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_httpd	*h = arg;
	struct http_conn	*c, *next;
	int64_t			 now = http_now_ms();

	for (c = TAILQ_FIRST(&h->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (now >= c->deadline)
			evhttp_connection_free(c->evcon);
	}
}

/* A request was answered: the connection has HTTP_TIMEOUT again. */
static void
http_touch(struct krx_httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection	*evcon;
	struct http_conn		*c;

	evcon = evhttp_request_get_connection(req);
	TAILQ_FOREACH(c, &h->conns, entry)
		if (c->evcon == evcon) {
			c->deadline = http_now_ms() + HTTP_TIMEOUT * 1000;
			return;
		}
}

/* evbuffer: an answer is done with body (arg). */
static void
http_body_unref(const void *data, size_t len, void *arg)
{
	struct http_body	*b = arg;

	if (--b->refs == 0) {
		free(b->data);
		free(b);
	}
}

/*
 * Answer req; the body only for GET, by reference: static, or ref's
 * (counted until the answer is written).
 */
static void
http_reply(struct krx_httpd *h, struct evhttp_request *req, int code,
    const char *reason, const char *type, const void *body, size_t len,
    struct http_body *ref)
{
	struct evkeyvalq	*hd = evhttp_request_get_output_headers(req);
	struct evbuffer		*b = NULL;
	char			 clen[24];

	evhttp_add_header(hd, "Content-Type", type);
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
	if (h->bound == NULL)	/* draining: go to the new workers */
		evhttp_add_header(hd, "Connection", "close");
	if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
		snprintf(clen, sizeof(clen), "%zu", len);
		evhttp_add_header(hd, "Content-Length", clen);
	} else if ((b = evbuffer_new()) == NULL ||
	    evbuffer_add_reference(b, body, len, ref != NULL ?
	    http_body_unref : NULL, ref) == -1) {
		if (b != NULL)
			evbuffer_free(b);
		b = NULL;
		code = 500;
		reason = "Internal Server Error";
	} else if (ref != NULL)
		ref->refs++;
	evhttp_send_reply(req, code, reason, b);
	if (b != NULL)
		evbuffer_free(b);
	http_touch(h, req);
}

static void
http_text(struct krx_httpd *h, struct evhttp_request *req, int code,
    const char *reason, const char *text)
{
	http_reply(h, req, code, reason, "text/plain; charset=utf-8", text,
	    strlen(text), NULL);
}

/* A new h->body from the counters: 0, or -1 (out of memory). */
static int
http_render(struct krx_httpd *h)
{
	struct krx_metrics_src	 src;
	struct krx_buf		 out;
	struct http_body	*b;

	if (krx_buf_init(&out, h->body != NULL ? h->body->len + 4096 :
	    16384) != KRX_OK)
		return -1;
	krx_worker_metrics_src(h->w, &src);
	if (krx_metrics_render(&src, &out) != KRX_OK || out.err != KRX_OK) {
		krx_buf_free(&out);
		return -1;
	}
	b = xcalloc(1, sizeof(*b));
	b->refs = 1;		/* h's */
	b->data = krx_buf_take(&out, &b->len);
	if (h->body != NULL)
		http_body_unref(NULL, 0, h->body);
	h->body = b;
	h->rendered = http_now_ms();
	return 0;
}

/* /metrics: rendered at most once per HTTP_CACHE_MS. */
static void
http_metrics(struct krx_httpd *h, struct evhttp_request *req)
{
	if ((h->body == NULL || http_now_ms() - h->rendered >=
	    HTTP_CACHE_MS) && http_render(h) == -1) {
		log_warnx("metrics: cannot render (out of memory)");
		http_text(h, req, 500, "Internal Server Error",
		    "cannot render the metrics\n");
		return;
	}
	http_reply(h, req, 200, "OK", HTTP_METRICS_TYPE, h->body->data,
	    h->body->len, h->body);
}

static void
http_page(struct krx_httpd *h, struct evhttp_request *req)
{
	struct evkeyvalq	*hd = evhttp_request_get_output_headers(req);
	const char		*page;
	size_t			 len;

	page = krx_status_page(&len);
	evhttp_add_header(hd, "Content-Security-Policy", HTTP_PAGE_CSP);
	evhttp_add_header(hd, "X-Frame-Options", "DENY");
	evhttp_add_header(hd, "Referrer-Policy", "no-referrer");
	http_reply(h, req, 200, "OK", "text/html; charset=utf-8", page, len,
	    NULL);
}

static void
http_healthz(struct krx_httpd *h, struct evhttp_request *req)
{
	if (h->bound == NULL)
		http_text(h, req, 503, "Service Unavailable", "draining\n");
	else
		http_text(h, req, 200, "OK", "ok\n");
}

static const struct http_route {
	const char	*path;
	void		(*fn)(struct krx_httpd *, struct evhttp_request *);
} http_routes[] = {
	{ "/metrics", http_metrics },
	{ "/", http_page },
	{ "/index.html", http_page },
	{ "/healthz", http_healthz },
};

static size_t
http_count_headers(struct evhttp_request *req)
{
	struct evkeyvalq	*hd = evhttp_request_get_input_headers(req);
	struct evkeyval		*kv;
	size_t			 n = 0;

	TAILQ_FOREACH(kv, hd, next)
		n++;
	return n;
}

static void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct krx_httpd		*h = arg;
	const struct evhttp_uri		*uri;
	const char			*path;
	enum evhttp_cmd_type		 cmd = evhttp_request_get_command(req);
	size_t				 i;

	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Allow", "GET, HEAD");
		http_text(h, req, 405, "Method Not Allowed",
		    "only GET and HEAD\n");
		return;
	}
	if (http_count_headers(req) > HTTP_MAX_HEADERS) {
		http_text(h, req, 431, "Request Header Fields Too Large",
		    "too many header fields\n");
		return;
	}
	if ((uri = evhttp_request_get_evhttp_uri(req)) == NULL ||
	    (path = evhttp_uri_get_path(uri)) == NULL) {
		http_text(h, req, 400, "Bad Request", "bad request\n");
		return;
	}
	for (i = 0; i < sizeof(http_routes) / sizeof(http_routes[0]); i++)
		if (strcmp(path, http_routes[i].path) == 0) {
			http_routes[i].fn(h, req);
			return;
		}
	http_text(h, req, 404, "Not Found", "not found\n");
}

static void
http_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct krx_httpd	*h = arg;

	if (h->bound != NULL)
		evconnlistener_enable(evhttp_bound_socket_get_listener(
		    h->bound));
}

/*
 * The listener's callback argument is evhttp's own: the error callback
 * finds the worker's one server here.
 */
static struct krx_httpd	*http_server;

/* Out of descriptors or memory: pause this listener for a second. */
static void
http_accept_error(struct evconnlistener *el, void *arg)
{
	struct krx_httpd	*h = http_server;
	struct timeval	 tv = { 1, 0 };

	if (h == NULL)
		return;
	if (errno != EMFILE && errno != ENFILE && errno != ENOBUFS &&
	    errno != ENOMEM) {
		log_warn("metrics: accept");
		return;
	}
	log_warn("metrics: accept: pausing for 1 s");
	evconnlistener_disable(el);
	evtimer_add(h->resume_ev, &tv);
}

static int
http_setup(struct krx_httpd *h, struct event_base *base, int fd)
{
	struct timeval		 tv = { 1, 0 };
	struct evconnlistener	*el;

	if ((h->http = evhttp_new(base)) == NULL)
		return -1;
	evhttp_set_max_headers_size(h->http, HTTP_MAX_HEADER_BYTES);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_timeout(h->http, HTTP_TIMEOUT);
	/* Every method reaches http_request_cb: 405 with Allow. */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
	    EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	    EVHTTP_REQ_OPTIONS | EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
	    EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, http_request_cb, h);
	evhttp_set_bevcb(h->http, http_bevcb, h);
	h->adopt_ev = event_new(base, -1, 0, http_adopt_cb, h);
	h->sweep_ev = event_new(base, -1, EV_PERSIST, http_sweep_cb, h);
	h->resume_ev = evtimer_new(base, http_accept_resume, h);
	if (h->adopt_ev == NULL || h->sweep_ev == NULL ||
	    h->resume_ev == NULL || event_add(h->sweep_ev, &tv) == -1)
		return -1;
	if ((h->bound = evhttp_accept_socket_with_handle(h->http,
	    fd)) == NULL)
		return -1;
	el = evhttp_bound_socket_get_listener(h->bound);
	evconnlistener_set_error_cb(el, http_accept_error);
	return 0;
}

struct krx_httpd *
krx_httpd_new(struct krx_worker *w, int fd)
{
	struct krx_httpd	*h;

	h = xcalloc(1, sizeof(*h));
	h->w = w;
	TAILQ_INIT(&h->pending);
	TAILQ_INIT(&h->conns);
	if (http_setup(h, w->base, fd) == -1) {
		log_warnx("metrics: cannot serve HTTP; /metrics is off in "
		    "this worker");
		if (h->bound == NULL)
			close(fd);	/* else evhttp's to close */
		krx_httpd_free(h);
		return NULL;
	}
	http_server = h;
	return h;
}

void
krx_httpd_drain(struct krx_httpd *h)
{
	if (h == NULL || h->bound == NULL)
		return;
	evhttp_del_accept_socket(h->http, h->bound);	/* closes our copy */
	h->bound = NULL;
}

int
krx_httpd_idle(const struct krx_httpd *h)
{
	return h == NULL || (h->n_conns == 0 && TAILQ_EMPTY(&h->pending));
}

void
krx_httpd_free(struct krx_httpd *h)
{
	struct http_conn	*c;

	if (h == NULL)
		return;
	if (http_server == h)
		http_server = NULL;
	if (h->http != NULL)
		evhttp_free(h->http);	/* http_closed for each adopted */
	while ((c = TAILQ_FIRST(&h->pending)) != NULL) {
		TAILQ_REMOVE(&h->pending, c, entry);
		bufferevent_decref(c->bev);
		free(c);
	}
	if (h->adopt_ev != NULL)
		event_free(h->adopt_ev);
	if (h->sweep_ev != NULL)
		event_free(h->sweep_ev);
	if (h->resume_ev != NULL)
		event_free(h->resume_ev);
	if (h->body != NULL)	/* answers still queued keep theirs */
		http_body_unref(NULL, 0, h->body);
	free(h);
}
