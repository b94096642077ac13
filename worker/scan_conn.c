/*
 * scan_conn.c: the scan's connection to one broker (TLS as the virtual
 * cluster's upstream_tls says), one request at a time, each answer
 * copied out of the socket buffer before it is handed on, so the
 * handler may close or replace the connection. A broker that closes it
 * or says nothing for SCAN_IO_TIMEOUT seconds ends the scan: a cluster
 * that wants SASL first closes it at once, and krx has no credentials
 * of its own to give (the scan says so).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/dns.h>
#include <event2/event.h>

#include "common/err.h"
#include "conf/conf.h"
#include "proto/kafka.h"
#include "worker/scan_int.h"
#include "worker/session.h"
#include "worker/tls.h"

void
scan_conn_close(struct scan_conn *c)
{
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	c->bev = NULL;
	c->fn = NULL;
}

static void
conn_read(struct bufferevent *bev, void *arg)
{
	struct krx_scan		*sc = arg;
	struct scan_conn	*c = &sc->conn;
	struct evbuffer		*in = bufferevent_get_input(bev);
	const uint8_t		*frame;
	scan_resp_fn		 fn;
	uint32_t		 be;
	int32_t			 size;
	size_t			 hlen;
	int			 r;

	r = krx_frame_peek(bev, sc->w->conf->max_frame_bytes, &c->expanded,
	    &size);
	if (r == 0)
		return;
	if (r < 0 || size < 4 || c->fn == NULL) {
		scan_fail(sc, "broker %s sent a bad or unexpected frame",
		    c->addr);
		return;
	}
	frame = evbuffer_pullup(in, 4 + (size_t)size) + 4;
	memcpy(&be, frame, 4);
	if ((int32_t)ntohl(be) != c->corr || krx_kafka_resp_hdr_len(frame,
	    (size_t)size, c->api, c->version, &hlen) != KRX_OK) {
		scan_fail(sc, "broker %s answered another request", c->addr);
		return;
	}
	krx_buf_reset(&sc->resp);
	if (krx_buf_put(&sc->resp, frame + hlen, (size_t)size - hlen) !=
	    KRX_OK) {
		scan_fail(sc, "out of memory");
		return;
	}
	evbuffer_drain(in, 4 + (size_t)size);
	c->answered = 1;
	fn = c->fn;
	c->fn = NULL;
	fn(sc, sc->resp.data, sc->resp.len);
}

static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct krx_scan		*sc = arg;
	struct scan_conn	*c = &sc->conn;
	char			 why[256];

	if (what & BEV_EVENT_CONNECTED) {
		c->connected = 1;
		return;
	}
	if (c->connecting) {
		c->failed = 1;
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		scan_fail(sc, "broker %s did not answer within %d s", c->addr,
		    SCAN_IO_TIMEOUT);
	else if (krx_tls_error(bev, why, sizeof(why)) != NULL && why[0])
		scan_fail(sc, "broker %s: TLS failed: %s", c->addr, why);
	else if (!c->answered && c->connected)
		scan_fail(sc, "broker %s closed the scan's connection before "
		    "answering: a listener that wants SASL first refuses "
		    "it, and krx has no credentials of its own (scan needs "
		    "a listener without SASL)", c->addr);
	else if (!c->answered)
		scan_fail(sc, "cannot reach broker %s: %s", c->addr,
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	else
		scan_fail(sc, "broker %s closed the connection", c->addr);
}

int
scan_conn_open(struct krx_scan *sc, int32_t node, const char *host, int port)
{
	struct scan_conn	*c = &sc->conn;
	struct timeval		 tv = { SCAN_IO_TIMEOUT, 0 };
	int			 r;

	scan_conn_close(c);
	c->node = node;
	c->answered = 0;
	c->connected = 0;
	c->failed = 0;
	c->expanded = 0;
	snprintf(c->addr, sizeof(c->addr), "%s:%d", host, port);
	if ((c->bev = krx_tls_upstream_bev(sc->w, sc->vc)) == NULL ||
	    krx_tls_upstream_host(sc->w, sc->vc, c->bev, host) != 0) {
		scan_conn_close(c);
		return -1;
	}
	bufferevent_setcb(c->bev, conn_read, NULL, conn_event, sc);
	bufferevent_set_timeouts(c->bev, &tv, &tv);
	bufferevent_enable(c->bev, EV_READ);
	c->connecting = 1;
	r = bufferevent_socket_connect_hostname(c->bev, sc->w->dns, AF_UNSPEC,
	    host, port);
	c->connecting = 0;
	if (r != 0 || c->failed) {
		scan_conn_close(c);
		return -1;
	}
	return 0;
}

void
scan_conn_send(struct krx_scan *sc, struct krx_buf *frame, int16_t api,
    int16_t version, scan_resp_fn fn)
{
	struct scan_conn	*c = &sc->conn;
	uint32_t		 be;

	memcpy(&be, frame->data + 8, 4);
	c->corr = (int32_t)ntohl(be);
	c->api = api;
	c->version = version;
	c->fn = fn;
	bufferevent_write(c->bev, frame->data, frame->len);
}
