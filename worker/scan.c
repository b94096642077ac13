/*
 * scan.c: krx-ctl scan in a worker (see scan.h): its steps, one request
 * at a time on the worker's loop. Metadata at an upstream bootstrap
 * server (the topic's partitions and their leaders), then per
 * partition, at its leader: ListOffsets earliest and latest (the
 * snapshot), Fetch from earliest in SCAN_FETCH_BYTES steps until
 * latest, each response walked by scan_walk.c (which waits for the key
 * service when it meets new EDEKs). A partition that cannot be read, or
 * whose keys cannot be had now (KMS down), gets an error, never ranges.
 * The report goes to the master in pieces (SCAN_DATA), then SCAN_END.
 * A scan ends, with what it has, at its deadline.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/chan.h"
#include "common/err.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "conf/conf.h"
#include "proto/kafka.h"
#include "worker/keyclient.h"
#include "worker/scan.h"
#include "worker/scan_int.h"
#include "worker/session.h"

#define SCAN_CHUNK	(KRX_IPC_MAX_WORKER - KRX_IPC_HDR_LEN - 64)

static struct krx_scan	*scan_cur;	/* one at a time */
static struct event	*scan_end_ev;	/* finishes outside callbacks */
static void	scan_advance(struct krx_scan *);
static void	scan_fetch(struct krx_scan *);

static void
scan_free(struct krx_scan *sc)
{
	size_t	 i;

	krx_keyclient_cancel(sc->w->kc, sc);
	scan_conn_close(&sc->conn);
	if (sc->deadline != NULL)
		event_free(sc->deadline);
	if (sc->keys_ev != NULL)
		event_free(sc->keys_ev);
	for (i = 0; i < sc->nparts; i++)
		free(sc->parts[i].ranges);
	free(sc->parts);
	krx_scan_md_free(&sc->md);
	krx_buf_free(&sc->resp);
	krx_buf_free(&sc->scratch);
	scan_edek_free(sc);
	free(sc->tab);
	free(sc);
	if (scan_cur == sc)
		scan_cur = NULL;
}

static void
scan_end(struct krx_worker *w, uint32_t id, const char *err)
{
	krx_chan_send(w->chan, KRX_IPC_SCAN_END, id, err != NULL ?
	    KRX_IPC_F_ERROR : 0, err, err != NULL ? strlen(err) : 0, -1);
}

/* Send the report and free the scan (from the loop, not a callback). */
static void
scan_finish_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_scan	*sc = scan_cur;
	struct krx_buf	 b;
	size_t		 off, n;

	if (sc == NULL)
		return;
	krx_buf_init(&b, 4096);
	if (scan_report(sc, &b) != KRX_OK)
		scan_end(sc->w, sc->id, "out of memory for the report");
	else {
		for (off = 0; off < b.len; off += n) {
			n = b.len - off < SCAN_CHUNK ? b.len - off : SCAN_CHUNK;
			krx_chan_send(sc->w->chan, KRX_IPC_SCAN_DATA, sc->id, 0,
			    b.data + off, n, -1);
		}
		scan_end(sc->w, sc->id, NULL);
	}
	log_info("scan of topic %s done%s%s", sc->topic, sc->error[0] ?
	    ": " : "", sc->error);
	krx_buf_free(&b);
	scan_free(sc);
}

static void
scan_done(struct krx_scan *sc)
{
	struct timeval	 tv = { 0, 0 };

	sc->step = SCAN_S_DONE;
	scan_conn_close(&sc->conn);
	evtimer_add(scan_end_ev, &tv);
}

void
scan_fail(struct krx_scan *sc, const char *fmt, ...)
{
	va_list	 ap;

	if (sc->step == SCAN_S_DONE)
		return;
	va_start(ap, fmt);
	vsnprintf(sc->error, sizeof(sc->error), fmt, ap);
	va_end(ap);
	scan_done(sc);
}

void
scan_part_fail(struct krx_scan *sc, const char *fmt, ...)
{
	struct scan_part	*p = &sc->parts[sc->cur];
	va_list			 ap;

	va_start(ap, fmt);
	vsnprintf(p->error, sizeof(p->error), fmt, ap);
	va_end(ap);
	p->done = 1;
}

static void
scan_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct krx_scan	*sc = arg;

	scan_fail(sc, "the scan's deadline (%u s, --timeout) passed",
	    sc->timeout);
}

static const struct krx_scan_broker *
scan_broker(const struct krx_scan *sc, int32_t node)
{
	size_t	 i;

	for (i = 0; i < sc->md.nbrokers; i++)
		if (sc->md.brokers[i].node == node)
			return &sc->md.brokers[i];
	return NULL;
}

static int
scan_send(struct krx_scan *sc, int r, struct krx_buf *b, int16_t api,
    int16_t version, scan_resp_fn fn)
{
	if (r != KRX_OK) {
		krx_buf_free(b);
		scan_fail(sc, "cannot build a request: %s", krx_strerror(r));
		return -1;
	}
	scan_conn_send(sc, b, api, version, fn);
	krx_buf_free(b);
	return 0;
}

/* The current partition's records up to here are walked: go on. */
static void
scan_walked(struct krx_scan *sc, int r)
{
	struct scan_part	*p = &sc->parts[sc->cur];

	if (r == 0) {
		sc->step = SCAN_S_KEYS;
		return;
	}
	if (r > 0 && p->next >= p->latest)
		p->done = 1;
	else if (r > 0 && p->next <= sc->fetch_from)
		scan_part_fail(sc, "no progress at offset %lld",
		    (long long)p->next);
	if (p->done)
		scan_advance(sc);
	else
		scan_fetch(sc);
}

static void
scan_keys_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_scan	*sc = arg;

	if (sc->step != SCAN_S_KEYS || sc->pending > 0)
		return;
	sc->step = SCAN_S_FETCH;
	scan_walked(sc, scan_walk(sc));
}

/* Not from inside the key client's callback: from the loop. */
void
scan_keys_done(struct krx_scan *sc)
{
	struct timeval	 tv = { 0, 0 };

	if (sc->step == SCAN_S_KEYS && sc->pending == 0)
		evtimer_add(sc->keys_ev, &tv);
}

static void
scan_on_fetch(struct krx_scan *sc, const uint8_t *body, size_t len)
{
	scan_walked(sc, scan_walk(sc));
}

static void
scan_fetch(struct krx_scan *sc)
{
	struct scan_part	*p = &sc->parts[sc->cur];
	struct krx_buf		 b;
	int			 r;

	sc->step = SCAN_S_FETCH;
	sc->fetch_from = p->next;
	sc->clears = 0;
	krx_buf_init(&b, 128);
	r = krx_scan_fetch_req(&b, 3, sc->topic, p->index, p->next,
	    SCAN_FETCH_BYTES);
	scan_send(sc, r, &b, KRX_API_FETCH, KRX_SCAN_FETCH_VERSION,
	    scan_on_fetch);
}

static int
scan_offset(struct krx_scan *sc, const uint8_t *body, size_t len,
    int64_t *off)
{
	struct scan_part	*p = &sc->parts[sc->cur];
	int16_t			 err = 0;
	int			 r;

	r = krx_scan_listoffsets_parse(body, len, p->index, &err, off);
	if (r != KRX_OK)
		scan_part_fail(sc, "bad ListOffsets response: %s",
		    krx_strerror(r));
	else if (err != 0)
		scan_part_fail(sc, "ListOffsets answered error %d", err);
	if (r != KRX_OK || err != 0) {
		scan_advance(sc);
		return -1;
	}
	return 0;
}

static void
scan_on_latest(struct krx_scan *sc, const uint8_t *body, size_t len)
{
	struct scan_part	*p = &sc->parts[sc->cur];

	if (scan_offset(sc, body, len, &p->latest) != 0)
		return;
	p->next = p->earliest;
	if (p->latest <= p->earliest) {
		p->done = 1;
		scan_advance(sc);
	} else
		scan_fetch(sc);
}

static void
scan_on_earliest(struct krx_scan *sc, const uint8_t *body, size_t len)
{
	struct scan_part	*p = &sc->parts[sc->cur];
	struct krx_buf		 b;
	int			 r;

	if (scan_offset(sc, body, len, &p->earliest) != 0)
		return;
	sc->step = SCAN_S_LATEST;
	krx_buf_init(&b, 128);
	r = krx_scan_listoffsets_req(&b, 2, sc->topic, p->index,
	    KRX_SCAN_TS_LATEST);
	scan_send(sc, r, &b, KRX_API_LIST_OFFSETS,
	    KRX_SCAN_LISTOFFSETS_VERSION, scan_on_latest);
}

/* Start partition sc->cur at its leader: 0, or -1 when it failed. */
static int
scan_part_start(struct krx_scan *sc)
{
	struct scan_part		*p = &sc->parts[sc->cur];
	const struct krx_scan_broker	*br;
	struct krx_buf			 b;
	int				 r;

	if ((br = scan_broker(sc, p->leader)) == NULL) {
		scan_part_fail(sc, "no leader (%d) known", (int)p->leader);
		return -1;
	}
	if ((sc->conn.bev == NULL || sc->conn.node != p->leader) &&
	    scan_conn_open(sc, p->leader, br->host, br->port) != 0) {
		scan_part_fail(sc, "cannot connect to its leader %s:%d",
		    br->host, (int)br->port);
		return -1;
	}
	sc->step = SCAN_S_EARLIEST;
	krx_buf_init(&b, 128);
	r = krx_scan_listoffsets_req(&b, 1, sc->topic, p->index,
	    KRX_SCAN_TS_EARLIEST);
	return scan_send(sc, r, &b, KRX_API_LIST_OFFSETS,
	    KRX_SCAN_LISTOFFSETS_VERSION, scan_on_earliest);
}

/* The next partition not done, or the end. */
static void
scan_advance(struct krx_scan *sc)
{
	while (sc->step != SCAN_S_DONE) {
		while (sc->cur < sc->nparts && sc->parts[sc->cur].done)
			sc->cur++;
		if (sc->cur == sc->nparts) {
			scan_done(sc);
			return;
		}
		if (scan_part_start(sc) == 0)
			return;
	}
}

static int
scan_part_cmp(const void *a, const void *b)
{
	const struct krx_scan_mdpart	*x = a, *y = b;

	return x->index < y->index ? -1 : x->index > y->index;
}

static void
scan_on_metadata(struct krx_scan *sc, const uint8_t *body, size_t len)
{
	struct krx_scan_mdpart	*mp;
	size_t			 i, n = 0;
	int			 r;

	if ((r = krx_scan_metadata_parse(body, len, sc->topic, &sc->md)) !=
	    KRX_OK) {
		scan_fail(sc, "bad Metadata response: %s", krx_strerror(r));
		return;
	}
	if (sc->md.topic_error != 0) {
		scan_fail(sc, "topic %s: Metadata error %d%s", sc->topic,
		    sc->md.topic_error, sc->md.topic_error == 3 ?
		    " (no such topic)" : "");
		return;
	}
	qsort(sc->md.parts, sc->md.nparts, sizeof(*sc->md.parts),
	    scan_part_cmp);
	sc->parts = xcalloc(sc->md.nparts + 1, sizeof(*sc->parts));
	for (i = 0; i < sc->md.nparts; i++) {
		mp = &sc->md.parts[i];
		if (sc->want >= 0 && mp->index != sc->want)
			continue;
		sc->parts[n].index = mp->index;
		sc->parts[n].leader = mp->error == 0 ? mp->leader : -1;
		sc->parts[n].last_bad = -1;
		n++;
	}
	sc->nparts = n;
	if (n == 0) {
		scan_fail(sc, "topic %s has no partition %d", sc->topic,
		    (int)sc->want);
		return;
	}
	scan_advance(sc);
}

/* Metadata from the first upstream bootstrap server that connects. */
static void
scan_boot(struct krx_scan *sc)
{
	const struct krx_conf_vcluster	*vc = &sc->w->conf->vclusters[sc->vc];
	struct krx_buf			 b;
	size_t				 i;
	int				 r;

	for (i = 0; i < vc->n_upstream; i++)
		if (scan_conn_open(sc, -1, vc->upstream[i].host,
		    vc->upstream[i].port) == 0)
			break;
	if (i == vc->n_upstream) {
		scan_fail(sc, "cannot connect to an upstream bootstrap server");
		return;
	}
	sc->boot = i;
	sc->step = SCAN_S_META;
	krx_buf_init(&b, 128);
	r = krx_scan_metadata_req(&b, 1, sc->topic);
	scan_send(sc, r, &b, KRX_API_METADATA, KRX_SCAN_METADATA_VERSION,
	    scan_on_metadata);
}

/* Kafka topic names: 1..249 of [A-Za-z0-9._-]. */
static int
scan_topic_ok(const uint8_t *t, size_t n)
{
	size_t	 i;

	if (n == 0 || n > 249)
		return 0;
	for (i = 0; i < n; i++)
		if (!((t[i] >= 'a' && t[i] <= 'z') || (t[i] >= 'A' &&
		    t[i] <= 'Z') || (t[i] >= '0' && t[i] <= '9') ||
		    t[i] == '.' || t[i] == '_' || t[i] == '-'))
			return 0;
	return 1;
}

void
krx_scan_start(struct krx_worker *w, uint32_t id, const uint8_t *p,
    size_t len)
{
	struct krx_scan	*sc;
	struct krx_cur	 c;
	const uint8_t	*t;
	uint32_t	 vc, timeout, tlen;
	int32_t		 part;
	struct timeval	 tv;

	krx_cur_init(&c, p, len);
	if (krx_cur_get_be32(&c, &vc) != KRX_OK ||
	    krx_cur_get_be32(&c, &timeout) != KRX_OK ||
	    krx_cur_get_i32(&c, &part) != KRX_OK ||
	    krx_cur_get_be32(&c, &tlen) != KRX_OK || tlen > 249 ||
	    krx_cur_get_ref(&c, tlen, &t) != KRX_OK ||
	    krx_cur_end(&c) != KRX_OK || vc >= w->conf->n_vclusters ||
	    !w->conf->vclusters[vc].enc.enabled || timeout == 0 ||
	    timeout > 86400 || part < -1 || !scan_topic_ok(t, tlen)) {
		scan_end(w, id, "malformed scan request");
		return;
	}
	if (scan_cur != NULL) {
		scan_end(w, id, "a scan is already running on this worker");
		return;
	}
	if (scan_end_ev == NULL)
		scan_end_ev = evtimer_new(w->base, scan_finish_cb, NULL);
	sc = xcalloc(1, sizeof(*sc));
	sc->w = w;
	sc->id = id;
	sc->vc = vc;
	memcpy(sc->topic, t, tlen);
	sc->want = part;
	sc->timeout = timeout;
	sc->tab = xcalloc(SCAN_EDEK_SLOTS, sizeof(*sc->tab));
	krx_buf_init(&sc->resp, 0);
	krx_buf_init(&sc->scratch, 0);
	sc->deadline = evtimer_new(w->base, scan_deadline, sc);
	sc->keys_ev = evtimer_new(w->base, scan_keys_cb, sc);
	tv.tv_sec = timeout;
	tv.tv_usec = 0;
	evtimer_add(sc->deadline, &tv);
	scan_cur = sc;
	log_info("scan of topic %s%s requested (deadline %u s)", sc->topic,
	    part >= 0 ? " (one partition)" : "", timeout);
	scan_boot(sc);
}

void
krx_scan_cancel(struct krx_worker *w, uint32_t id)
{
	if (scan_cur == NULL || scan_cur->id != id)
		return;
	log_info("scan of topic %s cancelled", scan_cur->topic);
	scan_free(scan_cur);
}

void
krx_scan_free_all(struct krx_worker *w)
{
	if (scan_cur != NULL)
		scan_free(scan_cur);
	if (scan_end_ev != NULL)
		event_free(scan_end_ev);
	scan_end_ev = NULL;
}
