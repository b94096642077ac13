/*
 * chan.c: message channels with fd passing (see chan.h). Program grade
 * plumbing shared by master, workers and keysvc; trusts no byte or fd
 * the peer sends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "common/chan.h"
#include "common/xmalloc.h"

#define CHAN_READ_CHUNK	(64 * 1024)
#define CHAN_MAX_FDS	4

struct chan_out {
	TAILQ_ENTRY(chan_out)	 entry;
	struct krx_buf		 data;
	size_t			 off;
	int			 fd;
};

struct krx_chan {
	int			 fd;
	size_t			 max_len;
	unsigned		 fds_dir;	/* KRX_CHAN_FD_* */
	struct event		*rev;
	struct event		*wev;
	struct krx_buf		 in;
	int			 fds[CHAN_MAX_FDS];
	int			 n_fds;
	TAILQ_HEAD(, chan_out)	 out;
	size_t			 pending;
	krx_chan_msg_fn		 msg;
	krx_chan_eof_fn		 eof;
	void			*arg;
	int			 in_cb;
	int			 dead;
	int			 broken;
};

static void
chan_out_free(struct chan_out *o)
{
	krx_buf_free_secret(&o->data);
	if (o->fd != -1)
		close(o->fd);
	free(o);
}

static void
chan_destroy(struct krx_chan *c)
{
	struct chan_out	*o;
	int		 i;

	while ((o = TAILQ_FIRST(&c->out)) != NULL) {
		TAILQ_REMOVE(&c->out, o, entry);
		chan_out_free(o);
	}
	for (i = 0; i < c->n_fds; i++)
		close(c->fds[i]);
	event_free(c->rev);
	event_free(c->wev);
	krx_buf_free_secret(&c->in);
	close(c->fd);
	free(c);
}

void
krx_chan_free(struct krx_chan *c)
{
	if (c == NULL)
		return;
	if (c->in_cb) {
		c->dead = 1;
		return;
	}
	chan_destroy(c);
}

int
krx_chan_fd(const struct krx_chan *c)
{
	return c->fd;
}

size_t
krx_chan_pending(const struct krx_chan *c)
{
	return c->pending;
}

/* Report the end once; returns 1 when the channel is gone. */
static int
chan_end(struct krx_chan *c, int err)
{
	c->in_cb = 1;
	event_del(c->rev);
	event_del(c->wev);
	c->eof(c, err, c->arg);
	c->in_cb = 0;
	if (c->dead) {
		chan_destroy(c);
		return 1;
	}
	return 0;
}

static void
chan_take_fds(struct krx_chan *c, struct msghdr *mh)
{
	struct cmsghdr	*cm;
	int		*fds;
	size_t		 i, n;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		fds = (int *)(void *)CMSG_DATA(cm);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < n; i++) {
			if (c->n_fds < CHAN_MAX_FDS &&
			    (c->fds_dir & KRX_CHAN_FD_IN))
				c->fds[c->n_fds++] = fds[i];
			else {
				close(fds[i]);
				c->broken = 1;
			}
		}
	}
}

/* One recvmsg; 1 read, 0 would block, -1 EOF or error (errno). */
static int
chan_recv(struct krx_chan *c)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * CHAN_MAX_FDS)];
	} cmsg;
	struct msghdr	 mh;
	struct iovec	 iov;
	ssize_t		 n;

	if (krx_buf_reserve(&c->in, CHAN_READ_CHUNK) != KRX_OK)
		return -1;
	iov.iov_base = c->in.data + c->in.len;
	iov.iov_len = c->in.cap - c->in.len;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = cmsg.buf;
	mh.msg_controllen = sizeof(cmsg.buf);
	while ((n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1)
		return errno == EAGAIN ? 0 : -1;
	if (n == 0) {
		errno = 0;
		return -1;
	}
	chan_take_fds(c, &mh);
	c->in.len += (size_t)n;
	return 1;
}

/* Deliver every whole message; returns 1 when the channel is gone. */
static int
chan_deliver(struct krx_chan *c)
{
	struct krx_ipc_hdr	 h;
	size_t			 off = 0;
	int			 r, fd;

	while ((r = krx_ipc_hdr_parse(c->in.data + off, c->in.len - off,
	    c->max_len, &h)) == KRX_OK && c->in.len - off >= h.len) {
		fd = -1;
		if (h.flags & KRX_IPC_F_FD) {
			if (c->n_fds == 0)
				return chan_end(c, KRX_E_MALFORMED);
			fd = c->fds[0];
			memmove(c->fds, c->fds + 1, --c->n_fds * sizeof(int));
		}
		c->in_cb = 1;
		c->msg(c, &h, c->in.data + off + KRX_IPC_HDR_LEN,
		    h.len - KRX_IPC_HDR_LEN, fd, c->arg);
		c->in_cb = 0;
		OPENSSL_cleanse(c->in.data + off, h.len);
		off += h.len;
		if (c->dead) {
			chan_destroy(c);
			return 1;
		}
	}
	if (r != KRX_OK && r != KRX_E_TRUNCATED)
		return chan_end(c, r);
	if (c->n_fds > 0 && off == c->in.len)
		return chan_end(c, KRX_E_MALFORMED);	/* fd with no flag */
	memmove(c->in.data, c->in.data + off, c->in.len - off);
	c->in.len -= off;
	return 0;
}

static void
chan_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct krx_chan	*c = arg;
	int		 r;

	while ((r = chan_recv(c)) == 1) {
		if (c->broken) {
			chan_end(c, KRX_E_MALFORMED);
			return;
		}
		if (chan_deliver(c))
			return;
	}
	if (r == -1)
		chan_end(c, errno == 0 ? 0 : KRX_E_IO);
}

static int
chan_write_one(struct krx_chan *c, struct chan_out *o)
{
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cmsg;
	struct msghdr	 mh;
	struct iovec	 iov;
	ssize_t		 n;

	memset(&mh, 0, sizeof(mh));
	iov.iov_base = o->data.data + o->off;
	iov.iov_len = o->data.len - o->off;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (o->fd != -1 && o->off == 0) {
		memset(&cmsg, 0, sizeof(cmsg));
		mh.msg_control = cmsg.buf;
		mh.msg_controllen = sizeof(cmsg.buf);
		cmsg.hdr.cmsg_level = SOL_SOCKET;
		cmsg.hdr.cmsg_type = SCM_RIGHTS;
		cmsg.hdr.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&cmsg.hdr), &o->fd, sizeof(int));
	}
	while ((n = sendmsg(c->fd, &mh, MSG_NOSIGNAL)) == -1 && errno == EINTR)
		;
	if (n == -1)
		return errno == EAGAIN ? 0 : -1;
	if (o->fd != -1) {
		close(o->fd);
		o->fd = -1;
	}
	o->off += (size_t)n;
	return 1;
}

static void
chan_flush(struct krx_chan *c)
{
	struct chan_out	*o;
	int		 r;

	while ((o = TAILQ_FIRST(&c->out)) != NULL) {
		if ((r = chan_write_one(c, o)) == 0) {
			event_add(c->wev, NULL);
			return;
		}
		if (r == -1) {
			/* The reader sees the end and reports it. */
			event_active(c->rev, EV_READ, 0);
			return;
		}
		if (o->off < o->data.len)
			continue;
		c->pending -= o->data.len;
		TAILQ_REMOVE(&c->out, o, entry);
		chan_out_free(o);
	}
}

static void
chan_write_cb(evutil_socket_t fd, short what, void *arg)
{
	chan_flush(arg);
}

int
krx_chan_send_buf(struct krx_chan *c, uint32_t type, uint32_t id,
    uint16_t flags, struct krx_buf *b)
{
	int	 r;

	r = krx_chan_send(c, type, id, flags, b->data, b->len, -1);
	krx_buf_free_secret(b);
	return r;
}

int
krx_chan_send(struct krx_chan *c, uint32_t type, uint32_t id,
    uint16_t flags, const void *payload, size_t len, int fd)
{
	struct chan_out	*o;
	int		 r;

	if (fd != -1 && !(c->fds_dir & KRX_CHAN_FD_OUT)) {
		close(fd);
		return KRX_E_RANGE;
	}
	o = xcalloc(1, sizeof(*o));
	o->fd = fd;
	if (fd != -1)
		flags |= KRX_IPC_F_FD;
	krx_buf_init(&o->data, KRX_IPC_HDR_LEN + len);
	if ((r = krx_ipc_compose(&o->data, type, id, flags, payload, len)) !=
	    KRX_OK) {
		chan_out_free(o);
		return r;
	}
	c->pending += o->data.len;
	TAILQ_INSERT_TAIL(&c->out, o, entry);
	if (!event_pending(c->wev, EV_WRITE, NULL))
		chan_flush(c);
	return KRX_OK;
}

struct krx_chan *
krx_chan_new(struct event_base *base, int fd, size_t max_len, unsigned fds,
    krx_chan_msg_fn msg, krx_chan_eof_fn eof, void *arg)
{
	struct krx_chan	*c = xcalloc(1, sizeof(*c));

	evutil_make_socket_nonblocking(fd);
	c->fd = fd;
	c->max_len = max_len;
	c->fds_dir = fds;
	c->msg = msg;
	c->eof = eof;
	c->arg = arg;
	TAILQ_INIT(&c->out);
	krx_buf_init(&c->in, 0);
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, chan_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE, chan_write_cb, c);
	event_add(c->rev, NULL);
	return c;
}
