/*
 * chan_test.c: message channels with fd passing (common/chan.c):
 * messages and an fd arrive intact and in order, a message over the cap
 * or an fd on a channel that allows none ends the channel with an error.
 */
#include <string.h>
#include <sys/socket.h>
#include <fcntl.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <event2/event.h>

#include "common/chan.h"

struct seen {
	struct event_base	*base;
	int			 n;
	uint32_t		 types[8];
	char			 text[8][16];
	int			 fd;
	int			 ended;
	int			 err;
};

static void
on_msg(struct krx_chan *c, const struct krx_ipc_hdr *h, const uint8_t *p,
    size_t len, int fd, void *arg)
{
	struct seen	*s = arg;

	cr_assert_lt(s->n, 8);
	cr_assert_lt(len, 16);
	s->types[s->n] = h->type;
	memcpy(s->text[s->n], p, len);
	s->n++;
	if (fd != -1)
		s->fd = fd;
	if (s->n == 3)
		event_base_loopbreak(s->base);
}

static void
on_eof(struct krx_chan *c, int err, void *arg)
{
	struct seen	*s = arg;

	s->ended = 1;
	s->err = err;
	event_base_loopbreak(s->base);
}

static void
pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

Test(chan, messages_and_fd_arrive)
{
	struct event_base	*base = event_base_new();
	struct seen		 a = { .base = base, .fd = -1 }, b = a;
	struct krx_chan		*ca, *cb;
	int			 sv[2], p[2];
	char			 buf[4];

	pair(sv);
	cr_assert_eq(pipe(p), 0);
	ca = krx_chan_new(base, sv[0], 1024, KRX_CHAN_FD_OUT, on_msg, on_eof,
	    &a);
	cb = krx_chan_new(base, sv[1], 1024, KRX_CHAN_FD_IN, on_msg, on_eof,
	    &b);
	krx_chan_send(ca, 1, 0, 0, "one", 3, -1);
	krx_chan_send(ca, 2, 0, 0, "two", 3, p[0]);
	krx_chan_send(ca, 3, 0, 0, "three", 5, -1);
	event_base_dispatch(base);
	cr_assert_eq(b.n, 3);
	cr_assert_eq(b.types[1], 2);
	cr_assert_str_eq(b.text[2], "three");
	cr_assert_neq(b.fd, -1);
	cr_assert_eq(write(p[1], "hey", 3), 3);
	cr_assert_eq(read(b.fd, buf, 3), 3);
	cr_assert_eq(memcmp(buf, "hey", 3), 0);
	close(b.fd);
	close(p[1]);
	krx_chan_free(ca);
	event_base_dispatch(base);
	cr_assert(b.ended);
	cr_assert_eq(b.err, 0);
	krx_chan_free(cb);
	event_base_free(base);
}

Test(chan, oversized_message_ends_channel)
{
	struct event_base	*base = event_base_new();
	struct seen		 a = { .base = base, .fd = -1 }, b = a;
	struct krx_chan		*ca, *cb;
	char			 big[100];
	int			 sv[2];

	pair(sv);
	memset(big, 'x', sizeof(big));
	ca = krx_chan_new(base, sv[0], 4096, 0, on_msg, on_eof, &a);
	cb = krx_chan_new(base, sv[1], 64, 0, on_msg, on_eof, &b);
	krx_chan_send(ca, 1, 0, 0, big, sizeof(big), -1);
	event_base_dispatch(base);
	cr_assert(b.ended);
	cr_assert_eq(b.err, KRX_E_TOO_BIG);
	cr_assert_eq(b.n, 0);
	krx_chan_free(ca);
	krx_chan_free(cb);
	event_base_free(base);
}

Test(chan, fd_refused_where_not_allowed)
{
	struct event_base	*base = event_base_new();
	struct seen		 a = { .base = base, .fd = -1 }, b = a;
	struct krx_chan		*ca, *cb;
	int			 sv[2], p[2];

	pair(sv);
	cr_assert_eq(pipe(p), 0);
	close(p[1]);
	ca = krx_chan_new(base, sv[0], 1024, KRX_CHAN_FD_OUT, on_msg, on_eof,
	    &a);
	cb = krx_chan_new(base, sv[1], 1024, 0, on_msg, on_eof, &b);
	krx_chan_send(ca, 1, 0, 0, "x", 1, p[0]);
	event_base_dispatch(base);
	cr_assert(b.ended);
	cr_assert_eq(b.err, KRX_E_MALFORMED);
	krx_chan_free(ca);
	krx_chan_free(cb);
	event_base_free(base);
}

/* An end not opened to send fds refuses to, and closes the fd. */
Test(chan, fd_not_sent_without_fd_out)
{
	struct event_base	*base = event_base_new();
	struct seen		 a = { .base = base, .fd = -1 }, b = a;
	struct krx_chan		*ca, *cb;
	int			 sv[2], p[2];

	pair(sv);
	cr_assert_eq(pipe(p), 0);
	ca = krx_chan_new(base, sv[0], 1024, KRX_CHAN_FD_IN, on_msg, on_eof,
	    &a);
	cb = krx_chan_new(base, sv[1], 1024, KRX_CHAN_FD_IN, on_msg, on_eof,
	    &b);
	cr_assert_eq(krx_chan_send(ca, 1, 0, 0, "x", 1, p[0]), KRX_E_RANGE);
	cr_assert_eq(fcntl(p[0], F_GETFD), -1);		/* closed */
	cr_assert_eq(krx_chan_send(ca, 2, 0, 0, "y", 1, -1), KRX_OK);
	krx_chan_free(ca);
	event_base_dispatch(base);
	cr_assert_eq(b.n, 1);
	cr_assert_eq(b.types[0], 2);
	cr_assert(b.ended);
	close(p[1]);
	krx_chan_free(cb);
	event_base_free(base);
}
