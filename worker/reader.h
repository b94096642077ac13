/*
 * reader.h: reading one socket of a session into its bufferevent's input
 * buffer. libevent 2.1 reads at most 4 KiB per readiness event and asks
 * the kernel how much is waiting first (two system calls per 4 KiB); a
 * reader does one readv of up to KRX_READER_CHUNK instead, then calls the
 * bufferevent's own read callback, or its event callback with
 * BEV_EVENT_EOF or BEV_EVENT_ERROR (reading is off then). The
 * bufferevent's EV_READ stays disabled; it keeps writing and connecting.
 * A TLS bufferevent (worker/tls.h) keeps reading itself, with the
 * reader's callbacks; the reader switches its EV_READ.
 * Program grade.
 */
#ifndef KRX_WORKER_READER_H
#define KRX_WORKER_READER_H

#include <sys/types.h>

#include <event2/bufferevent.h>

struct event;
struct evbuffer;

#define KRX_READER_CHUNK	(64 * 1024)

struct krx_reader {
	struct event		*ev;	/* NULL until the socket exists */
	struct bufferevent	*bev;
	bufferevent_data_cb	 readcb;
	bufferevent_event_cb	 eventcb;
	void			*arg;
	unsigned		 want:1;	/* reading wanted */
	unsigned		 added:1;
	unsigned		 native:1;	/* TLS: the bufferevent reads */
};

/* Start (or not) reading bev's socket, which must exist by now. */
int	krx_reader_attach(struct krx_reader *, struct bufferevent *,
	    bufferevent_data_cb, bufferevent_event_cb, void *);
/* Reading on or off; remembered until the socket is attached. */
void	krx_reader_enable(struct krx_reader *, int on);
void	krx_reader_detach(struct krx_reader *);
/*
 * One readv of up to max bytes from fd onto the end of in (a
 * bufferevent's input, thawed for it): bytes read, 0 at EOF or -1 with
 * errno. room: the space offered, so that r < room means "drained".
 */
ssize_t	krx_read_into(evutil_socket_t fd, struct evbuffer *in, size_t max,
	    size_t *room);

#endif
