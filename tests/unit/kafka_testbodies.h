/*
 * kafka_testbodies.h: response bodies built by hand for the endpoint
 * tests. Brokers send NodeEndpoints in Produce and Fetch responses (and
 * fill ShareFetch/ShareAcknowledge ones) only when a partition's leader
 * moved (NOT_LEADER_OR_FOLLOWER), which a single-node test broker never
 * does, so these bodies follow the Kafka 4.x schemas field by field.
 * They were checked by parsing them with Kafka's own message classes.
 */
#ifndef KRX_TESTS_KAFKA_TESTBODIES_H
#define KRX_TESTS_KAFKA_TESTBODIES_H

#include <string.h>

#include "common/buf.h"
#include "proto/kafka_prim.h"

#define KB_NOT_LEADER	6

static inline void
kb_i16(struct krx_buf *b, int16_t v)
{
	krx_buf_put_be16(b, (uint16_t)v);
}

static inline void
kb_i32(struct krx_buf *b, int32_t v)
{
	krx_buf_put_be32(b, (uint32_t)v);
}

static inline void
kb_i64(struct krx_buf *b, int64_t v)
{
	krx_buf_put_be64(b, (uint64_t)v);
}

static inline void
kb_cstr(struct krx_buf *b, const char *s)
{
	krx_kp_put_str(b, true, s, s == NULL ? -1 : (int32_t)strlen(s));
}

static inline void
kb_uuid(struct krx_buf *b, uint8_t fill)
{
	uint8_t	 u[16];

	memset(u, fill, sizeof(u));
	krx_buf_put(b, u, sizeof(u));
}

/* CurrentLeader / LeaderIdAndEpoch: leader 2, epoch 5, no tags. */
static inline void
kb_leader(struct krx_buf *b)
{
	kb_i32(b, 2);
	kb_i32(b, 5);
	krx_buf_put_u8(b, 0);
}

/* NodeEndpoints[] (compact): nodes 2 and 3 on internal names. */
static inline void
kb_node_endpoints(struct krx_buf *b)
{
	krx_buf_put_uvarint(b, 3);
	kb_i32(b, 2);
	kb_cstr(b, "broker-2.internal");
	kb_i32(b, 9092);
	kb_cstr(b, NULL);
	krx_buf_put_u8(b, 0);
	kb_i32(b, 3);
	kb_cstr(b, "b3");
	kb_i32(b, 9093);
	kb_cstr(b, "rack-1");
	krx_buf_put_u8(b, 0);
}

/*
 * The top-level tag section of Produce v10+ / Fetch v16+: tag 0
 * NodeEndpoints and an unknown tag 7 (two bytes) to be kept verbatim.
 */
static inline void
kb_top_tags(struct krx_buf *b)
{
	struct krx_buf	 ne;

	krx_buf_init(&ne, 0);
	kb_node_endpoints(&ne);
	krx_buf_put_uvarint(b, 2);
	krx_buf_put_uvarint(b, 0);
	krx_buf_put_uvarint(b, ne.len);
	krx_buf_put(b, ne.data, ne.len);
	krx_buf_put_uvarint(b, 7);
	krx_buf_put_uvarint(b, 2);
	krx_buf_put_u8(b, 0xde);
	krx_buf_put_u8(b, 0xad);
	krx_buf_free(&ne);
}

/* Produce response v11: one partition NOT_LEADER, CurrentLeader tag. */
static inline void
kb_produce_v11(struct krx_buf *b)
{
	krx_buf_put_uvarint(b, 2);
	kb_cstr(b, "krx-test");
	krx_buf_put_uvarint(b, 2);
	kb_i32(b, 0);
	kb_i16(b, KB_NOT_LEADER);
	kb_i64(b, -1);
	kb_i64(b, -1);
	kb_i64(b, -1);
	krx_buf_put_uvarint(b, 1);	/* RecordErrors: empty */
	kb_cstr(b, NULL);		/* ErrorMessage */
	krx_buf_put_uvarint(b, 1);	/* tags: CurrentLeader */
	krx_buf_put_uvarint(b, 0);
	krx_buf_put_uvarint(b, 9);
	kb_leader(b);
	krx_buf_put_u8(b, 0);		/* topic tags */
	kb_i32(b, 0);			/* ThrottleTimeMs */
	kb_top_tags(b);
}

/*
 * ShareFetch response v1 (version 2 has the same layout) or
 * ShareAcknowledge response v1/v2: a NOT_LEADER partition and
 * NodeEndpoints.
 */
static inline void
kb_share(struct krx_buf *b, bool fetch, int16_t version)
{
	kb_i32(b, 0);
	kb_i16(b, 0);
	kb_cstr(b, NULL);
	if (fetch || version >= 2)
		kb_i32(b, 30000);	/* AcquisitionLockTimeoutMs */
	krx_buf_put_uvarint(b, 2);
	kb_uuid(b, 0x5a);
	krx_buf_put_uvarint(b, 2);
	kb_i32(b, 0);
	kb_i16(b, KB_NOT_LEADER);
	kb_cstr(b, "not the leader");
	if (fetch) {
		kb_i16(b, 0);		/* AcknowledgeErrorCode */
		kb_cstr(b, NULL);
	}
	kb_leader(b);
	if (fetch) {
		krx_buf_put_uvarint(b, 1);	/* Records: empty */
		krx_buf_put_uvarint(b, 1);	/* AcquiredRecords: empty */
	}
	krx_buf_put_u8(b, 0);
	krx_buf_put_u8(b, 0);
	kb_node_endpoints(b);
	krx_buf_put_u8(b, 0);
}

#endif
