/*
 * chan.h: a message channel over an AF_UNIX stream socket on a libevent
 * loop, with fd passing (SCM_RIGHTS). Framing and checks are proto/ipc.h;
 * this adds the I/O. Used between master, workers and keysvc, where an
 * fd must travel (the master brokers worker <-> keysvc socketpairs).
 *
 * Contract checks made here, each closing the channel (the eof callback
 * gets the error): wrong IPC version, a message over the channel's size
 * cap, an fd on a channel that allows none, an F_FD flag without an fd or
 * an fd without the flag. Sending an fd on a channel not opened with
 * KRX_CHAN_FD_OUT is refused (KRX_E_RANGE, the fd closed). Consumed input and written output are zeroed
 * (they may hold DEKs). What each message may be is the receiver's
 * dispatch table (common/dispatch.h), checked in its msg callback.
 */
#ifndef KRX_COMMON_CHAN_H
#define KRX_COMMON_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "proto/ipc.h"

struct event_base;
struct krx_chan;

/*
 * A whole message. fd is -1 or an fd the callee now owns. The payload
 * is valid only during the call. The callee may free the channel.
 */
typedef void (*krx_chan_msg_fn)(struct krx_chan *c,
    const struct krx_ipc_hdr *h, const uint8_t *payload, size_t len, int fd,
    void *arg);
/* End of the channel: err 0 for EOF, else a negative enum krx_err. */
typedef void (*krx_chan_eof_fn)(struct krx_chan *c, int err, void *arg);

/* Which way fds may travel on a channel (krx_chan_new's fds). */
#define KRX_CHAN_FD_IN	0x1	/* this end accepts them */
#define KRX_CHAN_FD_OUT	0x2	/* this end sends them */

/* Takes ownership of fd (closed by krx_chan_free). */
struct krx_chan *krx_chan_new(struct event_base *base, int fd,
	    size_t max_len, unsigned fds, krx_chan_msg_fn msg,
	    krx_chan_eof_fn eof, void *arg);
void	krx_chan_free(struct krx_chan *c);
/* Queue a message; fd (or -1) is sent with it and closed once sent. */
int	krx_chan_send(struct krx_chan *c, uint32_t type, uint32_t id,
	    uint16_t flags, const void *payload, size_t len, int fd);
/* Queue a message whose payload is already composed in b (taken). */
int	krx_chan_send_buf(struct krx_chan *c, uint32_t type, uint32_t id,
	    uint16_t flags, struct krx_buf *b);
int	krx_chan_fd(const struct krx_chan *c);
size_t	krx_chan_pending(const struct krx_chan *c);

#endif
