/*
 * dispatch.c: the checked dispatch table shared by every IPC channel
 * (see dispatch.h). Library grade; runs in whichever process receives.
 * Every rule of the row is checked before the handler sees a byte.
 */
#include <unistd.h>

#include "common/dispatch.h"

void
krx_dispatch_peer_init(struct krx_dispatch_peer *peer)
{
	peer->state = KRX_DISPATCH_S_START;
	peer->seen = 0;
}

const struct krx_dispatch_row *
krx_dispatch_find(const struct krx_dispatch_table *t, uint32_t type)
{
	size_t	 i;

	for (i = 0; i < t->n; i++)
		if (t->rows[i].type == type)
			return &t->rows[i];
	return NULL;
}

/* The verdict on r for this message, before any handler runs. */
static int
dispatch_check(const struct krx_dispatch_row *r, size_t i,
    const struct krx_dispatch_peer *peer, const struct krx_ipc_hdr *h,
    size_t len, int fd)
{
	int	 has_fd = fd != -1 || (h->flags & KRX_IPC_F_FD) != 0;

	if (r->once && i < 64 && (peer->seen & (UINT64_C(1) << i)) != 0)
		return KRX_DISPATCH_E_ONCE;
	if ((r->states & peer->state) == 0)
		return KRX_DISPATCH_E_STATE;
	if (len < r->min || len > r->max)
		return KRX_DISPATCH_E_LENGTH;
	if (r->fd == KRX_DISPATCH_FD_NONE && has_fd)
		return KRX_DISPATCH_E_FD;
	if (r->fd == KRX_DISPATCH_FD_REQUIRED && fd == -1)
		return KRX_DISPATCH_E_NOFD;
	return KRX_DISPATCH_OK;
}

int
krx_dispatch_run(const struct krx_dispatch_table *t,
    struct krx_dispatch_peer *peer, void *ctx, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd)
{
	const struct krx_dispatch_row	*r;
	size_t				 i = 0;
	int				 v;

	if ((r = krx_dispatch_find(t, h->type)) == NULL)
		v = KRX_DISPATCH_E_TYPE;
	else {
		i = (size_t)(r - t->rows);
		v = dispatch_check(r, i, peer, h, len, fd);
	}
	if (v != KRX_DISPATCH_OK) {
		if (fd != -1)
			close(fd);
		return v;
	}
	if (r->once && i < 64)
		peer->seen |= UINT64_C(1) << i;
	if (r->fn(ctx, h, p, len, fd) != 0)
		return KRX_DISPATCH_E_PAYLOAD;
	if (r->next != 0)
		peer->state = r->next;
	return KRX_DISPATCH_OK;
}

const char *
krx_dispatch_strerror(int verdict)
{
	switch (verdict) {
	case KRX_DISPATCH_OK:
		return "accepted";
	case KRX_DISPATCH_E_TYPE:
		return "message type not allowed on this channel";
	case KRX_DISPATCH_E_STATE:
		return "message not allowed in the channel's state";
	case KRX_DISPATCH_E_LENGTH:
		return "payload length out of bounds";
	case KRX_DISPATCH_E_FD:
		return "fd where none is allowed";
	case KRX_DISPATCH_E_NOFD:
		return "no fd where one is required";
	case KRX_DISPATCH_E_ONCE:
		return "second once-only message";
	case KRX_DISPATCH_E_PAYLOAD:
		return "payload breaks the message's format";
	}
	return "unknown dispatch verdict";
}
