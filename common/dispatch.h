/*
 * dispatch.h: one checked dispatch-table type for every IPC channel
 * (master <-> worker, master <-> keysvc, worker <-> keysvc). A table
 * row says which message type a channel accepts, in which channel
 * states, with what payload length, whether an fd must or must not
 * come with it, whether it may come only once, and which handler runs
 * it. krx_dispatch_run enforces every rule of the row BEFORE the
 * handler runs, as OpenSSH's monitor table (MON_PERMIT, MON_ONCE) does;
 * a refusal is returned, and the caller applies its channel's policy
 * (the master kills the child, keysvc reports a violation, a worker
 * exits with KRX_EXIT_IPC, the worker's key client drops the message).
 * Library grade: no logging, no allocation. Trusts nothing of the
 * message; trusts the table.
 */
#ifndef KRX_COMMON_DISPATCH_H
#define KRX_COMMON_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "proto/ipc.h"

/*
 * Channel states, as bits of a row's `states`: a channel starts in
 * KRX_DISPATCH_S_START and moves on when a row with a `next` state is
 * handled (e.g. keysvc's master channel after INIT, the master's view
 * of a child after READY).
 */
#define KRX_DISPATCH_S_START	0x01	/* before INIT / READY */
#define KRX_DISPATCH_S_READY	0x02	/* after it */
#define KRX_DISPATCH_S_ANY	(KRX_DISPATCH_S_START | KRX_DISPATCH_S_READY)

enum krx_dispatch_fd {
	KRX_DISPATCH_FD_NONE = 0,	/* an fd (or the F_FD flag) is refused */
	KRX_DISPATCH_FD_REQUIRED = 1	/* the message carries exactly one */
};

/* What krx_dispatch_run says; 0 when the handler ran and accepted. */
enum krx_dispatch_verdict {
	KRX_DISPATCH_OK = 0,
	KRX_DISPATCH_E_TYPE = -1,	/* no row for this type */
	KRX_DISPATCH_E_STATE = -2,	/* not in the channel's state */
	KRX_DISPATCH_E_LENGTH = -3,	/* payload length outside bounds */
	KRX_DISPATCH_E_FD = -4,		/* fd where none is allowed */
	KRX_DISPATCH_E_NOFD = -5,	/* no fd where one is required */
	KRX_DISPATCH_E_ONCE = -6,	/* a second once-only message */
	KRX_DISPATCH_E_PAYLOAD = -7	/* the handler refused the payload */
};

/*
 * A handler: ctx is the caller's (its channel's owner), fd -1 or an fd
 * the handler now owns. Returns 0, or -1 when the payload breaks the
 * contract (the verdict becomes KRX_DISPATCH_E_PAYLOAD).
 */
typedef int (*krx_dispatch_fn)(void *ctx, const struct krx_ipc_hdr *h,
    const uint8_t *p, size_t len, int fd);

struct krx_dispatch_row {
	uint32_t		 type;
	uint32_t		 states;	/* KRX_DISPATCH_S_* bits */
	size_t			 min, max;	/* payload bytes */
	enum krx_dispatch_fd	 fd;
	int			 once;		/* at most once per channel */
	uint32_t		 next;		/* state after it, 0: same */
	krx_dispatch_fn		 fn;
};

struct krx_dispatch_table {
	const char			*name;	/* "worker -> master" */
	const struct krx_dispatch_row	*rows;
	size_t				 n;	/* at most 64 rows */
};

/* Per-channel state: its state bit and the once-only rows seen. */
struct krx_dispatch_peer {
	uint32_t	 state;
	uint64_t	 seen;		/* bit i: row i handled once */
};

#define KRX_DISPATCH_TABLE(nm, rows) \
	{ (nm), (rows), sizeof(rows) / sizeof((rows)[0]) }

/* A new channel's state: KRX_DISPATCH_S_START, nothing seen. */
void	krx_dispatch_peer_init(struct krx_dispatch_peer *peer);
/*
 * Check h, the payload (len bytes) and fd against t's row for h->type
 * and the channel's state peer, then run the row's handler with ctx.
 * fd is taken: handed to the handler, or closed on a refusal. A
 * once-only row counts as seen as soon as its handler runs; the state
 * moves to the row's `next` when the handler accepts. Returns
 * KRX_DISPATCH_OK or a negative enum krx_dispatch_verdict.
 */
int	krx_dispatch_run(const struct krx_dispatch_table *t,
	    struct krx_dispatch_peer *peer, void *ctx,
	    const struct krx_ipc_hdr *h, const uint8_t *p, size_t len, int fd);
/* The row of t for type, or NULL. */
const struct krx_dispatch_row *krx_dispatch_find(
	    const struct krx_dispatch_table *t, uint32_t type);
/* A static lower-case description of a verdict (never NULL). */
const char *krx_dispatch_strerror(int verdict);

#endif
