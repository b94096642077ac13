/*
 * produce.h: a Produce request on an encrypting virtual cluster, as
 * filter_produce.c (keys, encryption), produce_limit.c (the topics'
 * batch size limits) and produce_split.c (batches sent in pieces) share
 * it. Private to those files.
 */
#ifndef KRX_WORKER_PRODUCE_H
#define KRX_WORKER_PRODUCE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "crypto/recsplit.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "worker/keyclient.h"
#include "common/shm/topicmap.h"

#define PJ_KEK_MAX		512
/*
 * The retriable error of a Produce that cannot be encrypted now. Not
 * NETWORK_EXCEPTION (13): librdkafka treats 13 in a ProduceResponse
 * partition as permanent and fails the records; REQUEST_TIMED_OUT is
 * retried by librdkafka and the Java client alike.
 */
#define PJ_RETRIABLE		KRX_KERR_REQUEST_TIMED_OUT
/* MESSAGE_TOO_LARGE: records that would encrypt to too many bytes. */
#define PJ_TOO_LARGE		10

enum pj_state {
	PJ_NEW = 0,
	PJ_WAIT,
	PJ_PLAIN,
	PJ_ENC,
	PJ_UNKNOWN_ID,
	PJ_REJECT,
	PJ_INVALID,	/* no KEK alias can be formed: fails closed */
	PJ_FAILED
};

struct krx_pjob;
struct krx_session;
struct krx_inflight;
struct pj_dconf;

struct pj_topic {
	struct krx_pjob		*job;
	char			 name[KRX_TOPIC_NAME_MAX + 1];
	size_t			 name_len;
	enum pj_state		 state;
	int			 answered;
	enum krx_key_status	 answer;
	char			 kek[PJ_KEK_MAX + 1];
	size_t			 kek_len;
	struct krx_encpool	*pool;
	size_t			 limit;		/* largest batch, bytes */
	int			 limit_known;
	int			 guessed;	/* the cluster would not say */
	uint64_t		 n_enc;		/* encrypted, not yet sent */
};

/* A partition whose encrypted records go in pieces, or are watched. */
struct pj_piece {
	size_t			 part;		/* in req.parts */
	struct krx_recsplit	 sp;		/* its pieces (none: watched
						   only, sent whole) */
	size_t			 pieces;
	int			 watch;		/* the limit is a guess */
	size_t			 next;		/* the next piece to send */
	size_t			 last_len;	/* the last piece sent */
	int16_t			 error;		/* the first failure, or 0 */
	int			 waiting;	/* sent, not answered */
};

/* A request whose partitions go in pieces (produce_split.c). */
struct pj_split {
	struct pj_piece		*p;		/* in part order */
	size_t			 n;
	struct pj_piece		**sorted;	/* by partition index, topic */
	struct krx_inflight	*f;		/* the client's in-flight entry */
	struct krx_buf		 resp1;		/* the first answer, whole */
	int			 have_resp1;
	unsigned		 round;		/* requests sent */
	size_t			 bytes;		/* held for later rounds */
};

struct krx_pjob {
	struct krx_session	*s;
	struct krx_kafka_req_hdr h;
	const uint8_t		*frame;		/* after the size prefix */
	uint8_t			*copy;		/* owned when held */
	uint32_t		 size;
	struct krx_produce_req	 req;
	struct pj_topic		*topics;
	int16_t			*errors;	/* per partition, 0: none */
	uint64_t		*need;		/* per pool, NULL: not counted */
	unsigned		 pending;
	unsigned		 resolves;	/* sent to keysvc */
	enum krx_key_status	 failure;
	uint64_t		 records;	/* to encrypt */
	int			 guard_checked;
	int			 plain_checked;
	int			 limits_asked;
	struct pj_dconf		*dconf;		/* DescribeConfigs waited for */
	struct pj_split		*split;
	uint64_t		 t0;		/* came (us, wmetrics.h) */
};

/* filter_produce.c */
void	pj_free(struct krx_pjob *j);
/* The request is answered or forwarded: free j, go on from the loop. */
void	pj_done(struct krx_pjob *j);
void	pj_resume(struct krx_pjob *j);
/*
 * Remember the batches of idempotent producers that j failed with
 * PJ_RETRIABLE: this producer's later batches for those partitions are
 * failed too until the retry of the failed one comes.
 */
void	pj_guard_set(struct krx_pjob *j);

/*
 * produce_limit.c: make sure every encrypted topic of j has a limit. 1
 * ready, 0 waiting for DescribeConfigs (j->pending counts it).
 */
int	pj_check_limits(struct krx_pjob *j);
void	pj_limits_cancel(struct krx_pjob *j);
/* Lower the limit of j's topic ti after MESSAGE_TOO_LARGE; -1: at the floor. */
int	pj_limit_lower(struct krx_pjob *j, size_t ti, size_t size);

/*
 * produce_split.c. pj_split_part: the encrypted records of partition i
 * (enc; limit: bytes per batch at most; watch: keep an eye on its answer
 * even when it fits) as pieces: 0 with *first, *first_len the bytes for
 * the first request; KRX_E_TOO_BIG when a record alone is over the
 * limit, other errors of krx_recsplit.
 */
int	pj_split_part(struct krx_pjob *j, size_t i, struct krx_buf *enc,
	    size_t limit, int watch, const uint8_t **first, size_t *first_len);
/*
 * The first request went (f its in-flight entry, NULL for acks=0): 1
 * when j waits for answers, 0 when j is finished.
 */
int	pj_split_sent(struct krx_pjob *j, struct krx_inflight *f);
void	pj_split_free(struct pj_split *sp);

#endif
