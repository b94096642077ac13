/*
 * ipc.h: krx's internal wire (master <-> workers, master <-> krx-ctl,
 * master <-> keysvc, workers <-> keysvc), and the one catalogue of its
 * message types. Library grade.
 *
 * Every message: a 16-byte header in host byte order, then the payload.
 *   type (u32) | length (u32, header included) | request id (u32, echoed
 *   in the reply) | flags (u16) | version (u16, KRX_IPC_VERSION)
 * Payloads are written with struct krx_buf (big-endian integers, u32
 * length-prefixed byte strings) and decoded with struct krx_cur; every
 * decoder must end exactly at the payload's end.
 *
 * Each receiving side checks these types with a common/dispatch.h
 * table (type, channel state, length bounds, fd, once-only) before any
 * handler runs: master/spawn.c (from workers and keysvc), keysvc/
 * keysvc.c (from the master), keysvc/dispatch.c (from workers),
 * worker/worker.c (from the master), worker/keyclient.c (from keysvc).
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
/* master -> krx-ctl (metrics) */
#define KRX_IPC_MAX_CTL_REPLY	(4 * 1024 * 1024)
/* a scan's SCAN_DATA, in all */
#define KRX_IPC_SCAN_REPORT_MAX	(8 * 1024 * 1024)
#define KRX_IPC_MAX_KEYS	(64 * 1024)	/* worker <-> keysvc */
/* The fds an exec'd key service finds: its channel, its configuration. */
#define KRX_IPC_KEYSVC_MASTER_FD	3
#define KRX_IPC_KEYSVC_CONF_FD		4
#define KRX_IPC_KEYSVC_STATS_FD		5	/* its metrics row (mstats.h) */

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
	/*
	 * master -> keysvc: u32 slot, with F_FD: keysvc's end of a channel
	 * to worker `slot`. master -> worker: empty, with F_FD: the worker's
	 * end of a new channel to keysvc (after keysvc was respawned).
	 */
	KRX_IPC_KS_CHANNEL = 3,
	/* master -> keysvc, first message: the 32-byte DEK cache key. */
	KRX_IPC_KS_INIT = 4,
	/*
	 * master -> keysvc: an admin request relayed from krx-ctl, payload
	 * as the ctl request (see KRX_IPC_CTL_KEYS); the request id is the
	 * master's. Reply KRX_IPC_KS_ADMIN_REPLY, same id: text, F_ERROR on
	 * failure, with the exit code in the first byte.
	 */
	KRX_IPC_KS_ADMIN = 5,
	KRX_IPC_KS_ADMIN_REPLY = 6,
	/* keysvc -> master: u32 slot: that worker broke the key protocol. */
	KRX_IPC_KS_VIOLATION = 7,
	/*
	 * master -> keysvc: liveness ping, empty, every few seconds; keysvc
	 * answers KRX_IPC_KS_PONG (empty, same id). No answer within
	 * KRX_KS_PING_TIMEOUT seconds: the master kills keysvc (respawned).
	 */
	KRX_IPC_KS_PING = 8,
	KRX_IPC_KS_PONG = 9,
	/*
	 * worker -> master: keysvc closed my channel, broker a new one.
	 * Empty; answered with KRX_IPC_KS_CHANNEL (rate-limited, the worker
	 * asks again until it has one). Issue 9, finding 2.
	 */
	KRX_IPC_KS_RELINK = 20,
	/*
	 * worker -> master: a broker address or topic name the worker
	 * learned, for the master to write into the shared maps that
	 * workers only read (issue 9, finding 12). No reply; a message the
	 * worker should not have sent (checks as in the worker fail) kills
	 * it. Payloads: common/shm/nodemap.h and common/shm/topicmap.h.
	 *   NODE_LEARNED:  u32 vc | i32 node | i32 port | u16 len | host
	 *   TOPIC_LEARNED: u32 vc | id[16] | u16 len | name
	 */
	KRX_IPC_NODE_LEARNED = 30,
	KRX_IPC_TOPIC_LEARNED = 31,
	/*
	 * master -> worker (krx-ctl dek rotate, cache flush): u32 what
	 * (enum krx_dek_drop) | u32 len | len bytes KEK name or alias (0:
	 * every KEK). The worker drops those DEKs now and answers
	 * KRX_IPC_W_DEK_DROPPED, same id: u64 encryption DEKs dropped |
	 * u64 decryption DEKs dropped.
	 */
	KRX_IPC_W_DEK_DROP = 40,
	KRX_IPC_W_DEK_DROPPED = 41,

	/*
	 * worker -> keysvc (replies keysvc -> worker, same request id).
	 * Strings and byte strings are u32 length + bytes; statuses are
	 * enum krx_key_status.
	 *   RESOLVE:  u32 vc | str alias      -> u8 status | str kek_id
	 *   GENERATE: u32 vc | str kek_id     -> u8 status | bytes edek |
	 *                                        bytes dek (32)
	 *   DECRYPT:  u32 vc | u32 n | n x bytes edek
	 *                                     -> u32 n | n x (u8 status |
	 *                                        bytes dek (32 or empty))
	 *   STATS:    empty                   -> u32 n | n x u64 counter
	 */
	KRX_IPC_KEY_RESOLVE = 50,
	KRX_IPC_KEY_GENERATE = 51,
	KRX_IPC_KEY_DECRYPT = 52,
	KRX_IPC_KEY_STATS = 53,
	KRX_IPC_KEY_REPLY = 54,
	/*
	 * keysvc -> worker, unsolicited (request id 0), after krx-ctl kek
	 * create, rotate or delete: u32 vc | u32 op | u32 len | len bytes
	 * kek name (len 0: every KEK of that vc). op KRX_KEY_FLUSH_ROTATE:
	 * drop the encryption DEKs and alias resolutions of that KEK;
	 * KRX_KEY_FLUSH_DELETE: also drop its decryption DEKs;
	 * KRX_KEY_FLUSH_CREATE: drop alias resolutions only. No reply.
	 */
	KRX_IPC_KEY_FLUSH = 55,
	/*
	 * krx-ctl scan (worker/scan.c, master/control_scan.c).
	 * SCAN_START master -> worker: u32 vc | u32 timeout seconds |
	 *   i32 partition (-1: all) | str topic. The worker answers with
	 *   SCAN_DATA (text, the report; any number, each under
	 *   KRX_IPC_MAX_WORKER, at most KRX_IPC_SCAN_REPORT_MAX in all;
	 *   the master cancels a scan that sends more) then SCAN_END
	 *   (empty, or F_ERROR and a text), same id. SCAN_CANCEL master ->
	 *   worker: empty, same id.
	 */
	KRX_IPC_SCAN_START = 45,
	KRX_IPC_SCAN_DATA = 46,
	KRX_IPC_SCAN_END = 47,
	KRX_IPC_SCAN_CANCEL = 48,

	/* ctl -> master: status. Empty. Reply KRX_IPC_STATUS_REPLY. */
	KRX_IPC_CTL_STATUS = 100,
	/*
	 * master -> ctl: u32 pid, u32 serving generation, u64 uptime
	 * seconds, u32 g (1 or 2: the serving generation, then the other
	 * during a reload), g times: u32 generation, u32 state (master.h
	 * enum krx_gen_state), u64 its uptime, u32 n, n times: u32 slot,
	 * u32 kind (0 worker, 1 keysvc), u32 pid, u32 state (enum
	 * krx_child_state), u32 restarts, u64 open connections.
	 */
	KRX_IPC_STATUS_REPLY = 101,
	/* ctl -> master: u8 graceful. Reply KRX_IPC_CTL_OK. */
	KRX_IPC_CTL_STOP = 102,
	/* master -> ctl: done; empty, or an error text with F_ERROR. */
	KRX_IPC_CTL_OK = 103,
	/*
	 * ctl -> master -> keysvc: u8 op (enum krx_keys_op) | str vcluster
	 * (may be empty: the first with record_encryption) | str argument.
	 * Reply KRX_IPC_CTL_OK with text (F_ERROR: failure).
	 */
	KRX_IPC_CTL_KEYS = 104,
	/*
	 * ctl -> master: reload the configuration file. Empty. Reply
	 * KRX_IPC_CTL_OK once the new generation serves (text), or with
	 * F_ERROR and every problem (FILE:LINE: text, one a line) when the
	 * running generation stays.
	 */
	KRX_IPC_CTL_RELOAD = 105,
	/* ctl -> master: reopen log files. Empty. Reply CTL_OK, text. */
	KRX_IPC_CTL_REOPEN = 106,
	/* ctl -> master: empty. Reply CTL_OK: Prometheus text (mstatus.c). */
	KRX_IPC_CTL_METRICS = 110,
	/*
	 * ctl -> master: u32 len | KEK name or alias (0: all). Every worker
	 * of the serving generation drops its encryption DEKs (of that
	 * KEK). Reply KRX_IPC_CTL_OK once every worker answered: u32
	 * workers | u64 DEKs dropped; F_ERROR with a text naming the
	 * worker that did not answer in time.
	 */
	KRX_IPC_CTL_DEK_ROTATE = 112,
	/*
	 * ctl -> master: empty. keysvc empties its DEK caches (memory and
	 * LMDB, KRX_KEYS_CACHE_FLUSH) and every worker of the serving
	 * generation drops its DEKs and alias resolutions. Reply
	 * KRX_IPC_CTL_OK: u32 workers | u64 worker DEKs dropped | u8 keysvc
	 * flushed (0: none runs); F_ERROR with a text otherwise.
	 */
	KRX_IPC_CTL_CACHE_FLUSH = 113,
	/*
	 * master -> ctl: the peer may not make this request (control
	 * socket permission table, master/control_perm.c): text with
	 * F_ERROR. krx-ctl exits 4.
	 */
	KRX_IPC_CTL_DENIED = 114,
	/*
	 * ctl -> master: str vcluster | str topic | i32 partition (-1:
	 * all) | u32 timeout seconds. Replies: CTL_SCAN_DATA (report text,
	 * any number), then CTL_OK (empty, or F_ERROR and a text).
	 */
	KRX_IPC_CTL_SCAN = 120,
	KRX_IPC_CTL_SCAN_DATA = 121
};

enum krx_dek_drop {
	KRX_DEK_DROP_ENCRYPT = 1,	/* encryption DEKs */
	KRX_DEK_DROP_ALL = 2		/* and decryption DEKs, aliases */
};

enum krx_key_flush_op {
	KRX_KEY_FLUSH_ROTATE = 1,
	KRX_KEY_FLUSH_DELETE = 2,
	KRX_KEY_FLUSH_CREATE = 3	/* alias resolutions only */
};

enum krx_keys_op {
	KRX_KEYS_KEK_CREATE = 1,
	KRX_KEYS_KEK_ROTATE = 2,
	KRX_KEYS_KEK_LIST = 3,
	KRX_KEYS_KEK_DELETE = 4,
	KRX_KEYS_KMS_CHECK = 5,
	KRX_KEYS_STATS = 6,
	KRX_KEYS_CACHE_FLUSH = 7	/* empty keysvc's DEK cache */
};

/* The longest EDEK any process handles (keysvc, wrapper parser). */
#define KRX_EDEK_MAX		4096
/* Seconds the master waits for keysvc's PONG before killing it. */
#define KRX_KS_PING_TIMEOUT	10

enum krx_key_status {
	KRX_KEY_OK = 0,
	KRX_KEY_NOT_FOUND = 1,		/* KEK, alias or version gone */
	KRX_KEY_UNAVAILABLE = 2,	/* KMS or keysvc cannot answer now */
	KRX_KEY_DENIED = 3,		/* policy or KMS refused */
	KRX_KEY_INVALID = 4		/* malformed or tampered EDEK */
};

enum krx_child_state {
	KRX_CHILD_EMPTY = 0,
	KRX_CHILD_STARTING = 1,
	KRX_CHILD_RUNNING = 2,
	KRX_CHILD_BACKOFF = 3,
	KRX_CHILD_DRAINING = 4
};

/* A generation of workers (master/reload.c), in krx-ctl status. */
enum krx_gen_state {
	KRX_GEN_EMPTY = 0,
	KRX_GEN_STARTING = 1,	/* reload: waiting for every READY */
	KRX_GEN_SERVING = 2,
	KRX_GEN_DRAINING = 3,	/* replaced: its workers drain and exit */
	KRX_GEN_ABORTED = 4	/* never became ready: killed */
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
const char *krx_gen_state_name(uint32_t state);



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
