/*
 * scan_int.h: what the files of krx-ctl scan share inside a worker:
 * scan.c (the steps and the master's channel), scan_conn.c (one broker
 * connection), scan_walk.c (records, EDEKs, ranges) and scan_report.c
 * (the text the master relays to krx-ctl).
 */
#ifndef KRX_WORKER_SCAN_INT_H
#define KRX_WORKER_SCAN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "proto/ipc.h"
#include "proto/kafka_scan.h"

struct bufferevent;
struct event;
struct krx_worker;
struct krx_scan;

#define SCAN_FETCH_BYTES	(1024 * 1024)	/* per Fetch */
#define SCAN_MAX_RANGES		1000		/* per partition */
#define SCAN_IO_TIMEOUT		30		/* seconds per request */
#define SCAN_MAX_ASK		64		/* EDEKs asked at once */
#define SCAN_EDEK_SLOTS		4096		/* EDEK table (power of 2) */
#define SCAN_EDEK_MAX		(SCAN_EDEK_SLOTS / 2)	/* x 4 KiB EDEKs: 8 MiB */
#define SCAN_BATCH_MAX		(64 * 1024 * 1024)	/* decompressed */
#define SCAN_KEK_NAME		128
#define SCAN_REPORT_MAX		(KRX_IPC_SCAN_REPORT_MAX - 64 * 1024)

/* Why a record does not decrypt. */
enum scan_reason {
	SCAN_R_NOT_FOUND = 1,	/* the KMS does not know the KEK */
	SCAN_R_INVALID,		/* the KEK does not open the EDEK */
	SCAN_R_MALFORMED	/* no readable wrapper or EDEK */
};

struct scan_range {
	int64_t		 from, to;
	uint8_t		 reason;
	char		 kek[SCAN_KEK_NAME];
};

struct scan_part {
	int32_t		 index;
	int32_t		 leader;
	int64_t		 earliest, latest, next;
	int64_t		 last_bad;		/* -1: none */
	uint64_t	 records, encrypted, bad;
	struct scan_range *ranges;
	size_t		 nranges, cap;
	int		 truncated;		/* over SCAN_MAX_RANGES */
	int		 good_since;		/* a good record after the
						 * last range */
	int		 done;
	char		 error[200];		/* "": none */
};

/* An EDEK asked about: its answer (enum krx_key_status) or pending. */
#define SCAN_E_PENDING	0xff
struct scan_edek {
	uint8_t		*edek;			/* NULL: empty slot */
	size_t		 len;
	uint32_t	 hash;
	uint8_t		 status;
};

/* The connection to one broker; one request at a time. */
typedef void (*scan_resp_fn)(struct krx_scan *sc, const uint8_t *body,
    size_t len);
struct scan_conn {
	struct bufferevent	*bev;
	int32_t			 node;		/* -1: a bootstrap server */
	char			 addr[300];
	int			 connecting, failed, answered;
	int			 connected;	/* TLS too, if any */
	uint32_t		 expanded;
	int32_t			 corr;
	int16_t			 api, version;
	scan_resp_fn		 fn;
};

enum scan_step {
	SCAN_S_META = 1,
	SCAN_S_EARLIEST,
	SCAN_S_LATEST,
	SCAN_S_FETCH,
	SCAN_S_KEYS,
	SCAN_S_DONE
};

struct krx_scan {
	struct krx_worker	*w;
	uint32_t		 id;		/* the master's */
	size_t			 vc;
	char			 topic[250];
	int32_t			 want;		/* partition, -1: all */
	unsigned		 timeout;
	struct event		*deadline;
	struct scan_conn	 conn;
	size_t			 boot;		/* bootstrap tried next */
	struct krx_scan_md	 md;
	struct scan_part	*parts;
	size_t			 nparts, cur;
	enum scan_step		 step;
	struct krx_buf		 resp;		/* the Fetch body walked */
	struct krx_buf		 scratch;	/* decompressed batches */
	struct scan_edek	*tab;		/* SCAN_EDEK_SLOTS */
	size_t			 tabn;
	size_t			 pending;	/* asked, unanswered */
	int			 unavailable;	/* an answer said so */
	int			 clears;	/* table cleared this walk */
	int64_t			 fetch_from;	/* the last Fetch's offset */
	struct event		*keys_ev;	/* walks again, later */
	char			 error[300];	/* the whole scan's */
};

/* scan.c */
/* The current partition failed (why): on to the next one. */
void	scan_part_fail(struct krx_scan *sc, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The whole scan failed: report what there is, with why. */
void	scan_fail(struct krx_scan *sc, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* A key answer came (scan_walk.c): walk again when all are in. */
void	scan_keys_done(struct krx_scan *sc);

/* scan_conn.c */
/* Connect sc->conn to host:port (closing what it was); 0 or -1. */
int	scan_conn_open(struct krx_scan *sc, int32_t node, const char *host,
	    int port);
/* Send frame (whole, size prefix) expecting api/version's answer. */
void	scan_conn_send(struct krx_scan *sc, struct krx_buf *frame,
	    int16_t api, int16_t version, scan_resp_fn fn);
void	scan_conn_close(struct scan_conn *c);

/*
 * scan_walk.c: walk the partition's records in sc->resp (a Fetch v11
 * body). 1 when every record was classified (sc's partition advanced),
 * 0 when EDEKs were asked of the key service (walk again after
 * scan_keys_done), -1 when the partition failed (scan_part_fail ran).
 */
int	scan_walk(struct krx_scan *sc);
void	scan_edek_free(struct krx_scan *sc);

/* scan_report.c: the report as text lines (the format is there). */
int	scan_report(const struct krx_scan *sc, struct krx_buf *out);

#endif
