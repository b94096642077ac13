/*
 * ipc.h: krx's internal wire (master <-> workers, master <-> krx-ctl,
 * later workers <-> keysvc), and the one catalogue of its message types.
 * Library grade.
 *
 * Every message: a 16-byte header in host byte order, then the payload.
 *   type (u32) | length (u32, header included) | request id (u32, echoed
 *   in the reply) | flags (u16) | version (u16, KRX_IPC_VERSION)
 * Payloads are written with struct krx_buf (big-endian integers, u32
 * length-prefixed byte strings) and decoded with struct krx_cur; every
 * decoder must end exactly at the payload's end.
 */
#ifndef KRX_PROTO_IPC_H
#define KRX_PROTO_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_IPC_VERSION		1
#define KRX_IPC_HDR_LEN		16
#define KRX_IPC_MAX_WORKER	(16 * 1024)	/* master <-> worker */
#define KRX_IPC_MAX_CTL		(64 * 1024)	/* master <-> krx-ctl */

#define KRX_IPC_F_ERROR		0x0001	/* payload is an error text */
#define KRX_IPC_F_FD		0x0002	/* one fd travels with it */

/*
 * Message types. Direction, payload, reply:
 */
enum krx_ipc_type {
	KRX_IPC_NONE = 0,
	/* worker -> master: ready to serve. Empty. No reply. */
	KRX_IPC_READY = 1,
	/* master -> worker: stop accepting, drain, exit. Empty. */
	KRX_IPC_DRAIN = 2,
	/* ctl -> master: status. Empty. Reply KRX_IPC_STATUS_REPLY. */
	KRX_IPC_CTL_STATUS = 100,
	/*
	 * master -> ctl: u32 pid, u32 generation, u64 uptime seconds,
	 * u32 n, then n times: u32 slot, u32 kind (0 worker, 1 keysvc),
	 * u32 pid, u32 state (enum krx_child_state), u32 restarts.
	 */
	KRX_IPC_STATUS_REPLY = 101,
	/* ctl -> master: u8 graceful. Reply KRX_IPC_CTL_OK. */
	KRX_IPC_CTL_STOP = 102,
	/* master -> ctl: done; empty, or an error text with F_ERROR. */
	KRX_IPC_CTL_OK = 103
};

enum krx_child_state {
	KRX_CHILD_EMPTY = 0,
	KRX_CHILD_STARTING = 1,
	KRX_CHILD_RUNNING = 2,
	KRX_CHILD_BACKOFF = 3,
	KRX_CHILD_DRAINING = 4
};

struct krx_ipc_hdr {
	uint32_t	 type;
	uint32_t	 len;		/* whole message */
	uint32_t	 id;
	uint16_t	 flags;
	uint16_t	 version;
};

/* Append one message (header + payload) to out. */
int	krx_ipc_compose(struct krx_buf *out, uint32_t type, uint32_t id,
	    uint16_t flags, const void *payload, size_t len);
/*
 * Check the header at p (len bytes available, at least
 * KRX_IPC_HDR_LEN): KRX_E_TRUNCATED when fewer than 16 bytes,
 * KRX_E_VERSION for another version, KRX_E_TOO_BIG over max,
 * KRX_E_MALFORMED for a length under 16 or unknown flags.
 */
int	krx_ipc_hdr_parse(const uint8_t *p, size_t len, size_t max,
	    struct krx_ipc_hdr *h);
const char *krx_child_state_name(uint32_t state);



struct evbuffer;
/*
 * Take one whole message from an evbuffer: returns 1 and fills h and
 * payload (reset first; caller owns it), 0 when more bytes are needed,
 * or a negative error from krx_ipc_hdr_parse (close the channel).
 */
int	krx_ipc_read(struct evbuffer *in, size_t max, struct krx_ipc_hdr *h,
	    struct krx_buf *payload);
/* Queue one message on an evbuffer. */
int	krx_ipc_send(struct evbuffer *out, uint32_t type, uint32_t id,
	    uint16_t flags, const void *payload, size_t len);

#endif
