/*
 * reader.c: one readv per readiness event into a bufferevent's input,
 * instead of libevent 2.1's FIONREAD + 4 KiB read. See reader.h. A TLS
 * bufferevent reads its socket itself: the reader only turns its
 * reading on and off.
 */
#include <errno.h>
#include <sys/uio.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "common/err.h"
#include "worker/reader.h"
#include "worker/tls.h"

static void
reader_apply(struct krx_reader *rd)
{
	if (rd->native) {
		if (rd->want)
			bufferevent_enable(rd->bev, EV_READ);
		else
			bufferevent_disable(rd->bev, EV_READ);
		return;
	}
	if (rd->ev == NULL || rd->want == rd->added)
		return;
	if (rd->want)
		event_add(rd->ev, NULL);
	else
		event_del(rd->ev);
	rd->added = rd->want;
}

ssize_t
krx_read_into(evutil_socket_t fd, struct evbuffer *in, size_t max,
    size_t *room)
{
	struct evbuffer_iovec	 vec[2];
	struct iovec		 iov[2];
	ssize_t			 r;
	size_t			 left;
	int			 i, n;

	*room = 0;
	evbuffer_unfreeze(in, 0);
	if ((n = evbuffer_reserve_space(in, (ev_ssize_t)max, vec, 2)) <= 0) {
		evbuffer_freeze(in, 0);
		errno = ENOMEM;
		return -1;
	}
	for (i = 0; i < n; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
		*room += vec[i].iov_len;
	}
	if ((r = readv(fd, iov, n)) > 0) {
		left = (size_t)r;
		for (i = 0; i < n && left > 0; i++) {
			if (vec[i].iov_len > left)
				vec[i].iov_len = left;
			left -= vec[i].iov_len;
		}
		evbuffer_commit_space(in, vec, i);
	} else
		evbuffer_commit_space(in, vec, 0);
	evbuffer_freeze(in, 0);
	return r;
}

static void
reader_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_reader	*rd = arg;
	ssize_t			 r;
	size_t			 room;

	(void)what;
	r = krx_read_into(fd, bufferevent_get_input(rd->bev),
	    KRX_READER_CHUNK, &room);
	if (r > 0) {
		rd->readcb(rd->bev, rd->arg);	/* may free rd */
		return;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	krx_reader_enable(rd, 0);
	rd->eventcb(rd->bev, BEV_EVENT_READING | (r == 0 ? BEV_EVENT_EOF :
	    BEV_EVENT_ERROR), rd->arg);
}

int
krx_reader_attach(struct krx_reader *rd, struct bufferevent *bev,
    bufferevent_data_cb readcb, bufferevent_event_cb eventcb, void *arg)
{
	evutil_socket_t	 fd = bufferevent_getfd(bev);
	bufferevent_data_cb	 writecb;

	if (fd < 0)
		return KRX_E_IO;
	rd->bev = bev;
	rd->readcb = readcb;
	rd->eventcb = eventcb;
	rd->arg = arg;
	if (krx_tls_is(bev)) {
		/* TLS reads its own socket: the bufferevent reads. */
		rd->native = 1;
		bufferevent_getcb(bev, NULL, &writecb, NULL, NULL);
		bufferevent_setcb(bev, readcb, writecb, eventcb, arg);
		bufferevent_set_max_single_read(bev, KRX_READER_CHUNK);
		reader_apply(rd);
		return KRX_OK;
	}
	rd->ev = event_new(bufferevent_get_base(bev), fd, EV_READ |
	    EV_PERSIST, reader_cb, rd);
	if (rd->ev == NULL)
		return KRX_E_NOMEM;
	rd->added = 0;
	reader_apply(rd);
	return KRX_OK;
}

void
krx_reader_enable(struct krx_reader *rd, int on)
{
	rd->want = on != 0;
	reader_apply(rd);
}

void
krx_reader_detach(struct krx_reader *rd)
{
	rd->native = 0;
	if (rd->ev != NULL)
		event_free(rd->ev);
	rd->ev = NULL;
	rd->added = 0;
}
