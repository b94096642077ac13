/*
 * kafka_msg.h: the Kafka messages whose record sets krx changes (Produce
 * requests, Fetch and ShareFetch responses), the Metadata topics it
 * learns names and ids from, the bodies it writes itself, and the
 * requests it sends on its own (Produce, DescribeConfigs) with their
 * responses. Library grade: no logging, no globals; every parser trusts
 * none of its input and must end exactly at the end of the body (else
 * KRX_E_TRAILING).
 *
 * Design: splicing, not re-encoding. A parser returns views into the
 * body and the byte offsets of the fields krx may change (records
 * fields, error codes, high watermarks); krx_kafka_splice() then copies
 * the original body verbatim around a sorted list of edits. Offsets are
 * from the start of the body (the bytes after the request or response
 * header), views point into the body and live as long as it does.
 *
 * Versions: Produce v3-13 (flexible from 9, topic ids from 13), Fetch
 * v4-18 (flexible from 12, topic ids from 13), ShareFetch v1-2 (always
 * flexible, topic ids), Metadata v0-13 (flexible from 9),
 * DescribeConfigs v1 (not flexible).
 */
#ifndef KRX_PROTO_KAFKA_MSG_H
#define KRX_PROTO_KAFKA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define KRX_KAFKA_UUID_LEN	16

/* Produce request. */

struct krx_produce_topic {
	const uint8_t	*name;		/* v3-12: into the body; v13: NULL */
	int32_t		 name_len;	/* v13: 0 */
	uint8_t		 topic_id[KRX_KAFKA_UUID_LEN];	/* v13; else zero */
	size_t		 first;		/* its partitions are parts[first] */
	size_t		 count;		/* ... to parts[first + count - 1] */
};

struct krx_produce_part {
	size_t		 topic;		/* index in topics[] */
	int32_t		 index;		/* the partition index */
	const uint8_t	*records;	/* into the body; NULL when null */
	int32_t		 records_len;	/* -1 when null */
	size_t		 field_off;	/* the whole records field, length */
	size_t		 field_len;	/* prefix included */
};

struct krx_produce_req {
	int16_t			 version;
	const uint8_t		*transactional_id;	/* NULL when null */
	int32_t			 transactional_id_len;	/* -1 when null */
	int16_t			 acks;
	int32_t			 timeout_ms;
	struct krx_produce_topic *topics;	/* request order */
	size_t			 ntopics;
	struct krx_produce_part	*parts;		/* request order, all topics */
	size_t			 nparts;
};

/*
 * Parse a Produce request body (v3-13). On success req holds arrays
 * allocated here (free with krx_produce_req_free) and views into body.
 * On error req is empty (nothing to free, though freeing is harmless):
 * KRX_E_UNSUPPORTED for another version, KRX_E_TRUNCATED,
 * KRX_E_MALFORMED, KRX_E_TRAILING, KRX_E_NOMEM. Array counts are
 * checked against the bytes left before anything is allocated.
 */
int	krx_kafka_produce_parse(const uint8_t *body, size_t len,
	    int16_t version, struct krx_produce_req *req);
/* Free the arrays of req and zero it; NULL is a no-op. */
void	krx_produce_req_free(struct krx_produce_req *req);

/*
 * A Produce response body (v3-13) answering req with an error for every
 * partition: responses[] mirror req's topics (name, or topic_id in v13)
 * and partitions (index, errors[i] for req->parts[i], base_offset -1,
 * log_append_time_ms -1, log_start_offset -1 from v5, empty
 * record_errors and error_message from v8: error_message, or null when
 * NULL), throttle_time_ms 0, no tagged fields. version must agree with
 * req->version on names against ids (both below 13 or both 13), else
 * KRX_E_RANGE; a message over 32767 bytes: KRX_E_RANGE. The body is
 * appended to out; on error out keeps its old length.
 */
int	krx_kafka_produce_error_response(const struct krx_produce_req *req,
	    int16_t version, const int16_t *errors, const char *error_message,
	    struct krx_buf *out);

/*
 * One partition krx sends: req->parts[part]'s topic and index, with
 * these records.
 */
struct krx_produce_piece {
	size_t		 part;		/* index in req->parts */
	const uint8_t	*records;
	size_t		 records_len;
};

/*
 * Append to out the body of a Produce request of req->version with req's
 * transactional_id, acks and timeout, carrying the n pieces grouped
 * under their topics (name, or topic id from v13) in req order. No
 * tagged fields; the output size is reserved once. req is as
 * krx_kafka_produce_parse left it: each part inside its topic's range
 * (topics[parts[i].topic]), topics in the order of their parts.
 * Errors: KRX_E_UNSUPPORTED for a version outside 3-13; KRX_E_RANGE when
 * pieces[] are not sorted by part (strictly ascending), a part is
 * outside req or its topic, req's strings do not fit, or records are
 * NULL with records_len > 0; KRX_E_TOO_BIG for records over
 * INT32_MAX - 1 bytes; KRX_E_NOMEM. n 0 writes a request without
 * topics. On error out keeps its old length.
 */
int	krx_kafka_produce_build(const struct krx_produce_req *req,
	    const struct krx_produce_piece *pieces, size_t n,
	    struct krx_buf *out);

/* Produce responses (kafka_produce_resp.c). */

struct krx_produce_resp_part {
	const uint8_t	*name;		/* v3-12: into the body; v13: NULL */
	int32_t		 name_len;	/* v13: 0 */
	uint8_t		 topic_id[KRX_KAFKA_UUID_LEN];	/* v13; else zero */
	int32_t		 index;
	int16_t		 error_code;
	size_t		 error_off;	/* offset of error_code in the body */
	int64_t		 base_offset;
	size_t		 base_offset_off;
};

struct krx_produce_resp {
	struct krx_produce_resp_part	*parts;	/* response order, */
	size_t				 nparts;	/* all topics */
	int32_t				 throttle_time_ms;
};

/*
 * Parse a Produce response body (v3-13). Unknown tagged fields are
 * skipped; the known ones (v10+: a partition's CurrentLeader and the
 * top-level NodeEndpoints, both tag 0) must decode exactly to the end
 * of their tag (else KRX_E_MALFORMED) and are not reported. A topic
 * without partitions leaves no trace in parts. On success resp holds
 * an array allocated here (free with krx_produce_resp_free) and views
 * into body; on error resp is empty: KRX_E_UNSUPPORTED for another
 * version, KRX_E_TRUNCATED, KRX_E_MALFORMED, KRX_E_TRAILING,
 * KRX_E_NOMEM. Array counts are checked against the bytes left before
 * anything is allocated.
 */
int	krx_kafka_produce_resp_parse(const uint8_t *body, size_t len,
	    int16_t version, struct krx_produce_resp *resp);
/* Free the array of resp and zero it; NULL is a no-op. */
void	krx_produce_resp_free(struct krx_produce_resp *resp);

/* Splicing. */

/* Replace body[off, off + len) by data[0, data_len) (len 0: insert). */
struct krx_splice {
	size_t		 off;
	size_t		 len;
	const uint8_t	*data;		/* may be NULL when data_len is 0 */
	size_t		 data_len;
};

/*
 * Append body to out with the n edits applied. Edits are sorted by
 * offset and do not overlap (each starts at or after the end of the one
 * before) and lie inside the body, else KRX_E_RANGE. The output size is
 * reserved once. On error out keeps its old length.
 */
int	krx_kafka_splice(const uint8_t *body, size_t len,
	    const struct krx_splice *edits, size_t n, struct krx_buf *out);
/* Check edits as krx_kafka_splice does; total: the size it would write. */
int	krx_kafka_splice_size(size_t len, const struct krx_splice *edits,
	    size_t n, size_t *total);

/*
 * A records field for a version: flexible (non-zero) writes a compact
 * length (uvarint N+1, 0 for null), else an int32 length (-1 for null);
 * then the bytes. len -1 writes null (records ignored); below -1:
 * KRX_E_RANGE. krx_kafka_records_field_len gives the size it writes.
 * Flexible is krx_kafka_api_first_flexible(api) <= version; ShareFetch
 * records (v1+) must not be null.
 */
int	krx_kafka_records_field(struct krx_buf *out, int flexible,
	    const uint8_t *records, int32_t len);
size_t	krx_kafka_records_field_len(int flexible, int32_t len);
/* Only the length prefix of a records field of len bytes (not null). */
int	krx_kafka_records_prefix(struct krx_buf *out, int flexible,
	    size_t len);

/*
 * A nullable string field (NULL writes null), e.g. the error_message of
 * a ShareFetch partition; longer than 32767 bytes: KRX_E_RANGE.
 * krx_kafka_str_field_len gives the size it writes.
 */
int	krx_kafka_str_field(struct krx_buf *out, int flexible,
	    const char *s);
size_t	krx_kafka_str_field_len(int flexible, const char *s);

/* Fetch and ShareFetch responses. */

struct krx_fetch_topic {
	const uint8_t	*name;		/* Fetch v4-12; else NULL */
	int32_t		 name_len;	/* else 0 */
	uint8_t		 topic_id[KRX_KAFKA_UUID_LEN];	/* else zero */
	size_t		 first;		/* its partitions are parts[first] */
	size_t		 count;		/* ... to parts[first + count - 1] */
};

struct krx_fetch_part {
	size_t		 topic;		/* index in topics[] */
	int32_t		 index;		/* the partition index */
	int16_t		 error_code;
	size_t		 error_off;	/* of the int16 error_code */
	ptrdiff_t	 hwm_off;	/* int64 high_watermark; -1 if none */
	/* ShareFetch error_message field, prefix included; -1, 0: Fetch. */
	ptrdiff_t	 msg_off;
	size_t		 msg_len;
	const uint8_t	*records;	/* into the body; NULL when null */
	int32_t		 records_len;	/* -1 when null (Fetch only) */
	size_t		 field_off;	/* the whole records field, length */
	size_t		 field_len;	/* prefix included */
};

struct krx_fetch_resp {
	int16_t			 api_key;	/* KRX_API_(SHARE_)FETCH */
	int16_t			 version;
	int16_t			 error_code;	/* top level */
	ptrdiff_t		 error_off;	/* -1: Fetch v4-6 has none */
	int32_t			 session_id;	/* Fetch v7+; else 0 */
	struct krx_fetch_topic	*topics;	/* response order */
	size_t			 ntopics;
	struct krx_fetch_part	*parts;		/* response order, all topics */
	size_t			 nparts;
};

/*
 * Parse a Fetch (v4-18) or ShareFetch (v1-2) response body. Unknown
 * tagged fields are skipped (they stay in the body for the splice);
 * Fetch v16+ NodeEndpoints (top-level tag 0) are not read. To blank a
 * partition, splice its error code (2 bytes, in place), high watermark
 * (8 bytes; ShareFetch has none, hwm_off -1), error message (ShareFetch)
 * and records; never drop a partition (fetch sessions, KIP-227). On
 * success resp holds arrays allocated here (free with
 * krx_fetch_resp_free); on error resp is empty: KRX_E_UNSUPPORTED for
 * another API or version, KRX_E_TRUNCATED, KRX_E_MALFORMED (a null
 * ShareFetch records field among others), KRX_E_TRAILING, KRX_E_NOMEM.
 */
int	krx_kafka_fetch_parse(const uint8_t *body, size_t len,
	    int16_t api_key, int16_t version, struct krx_fetch_resp *resp);
/* Free the arrays of resp and zero it; NULL is a no-op. */
void	krx_fetch_resp_free(struct krx_fetch_resp *resp);

/*
 * The size limits of a Fetch request body (v4-18, request header
 * excluded): fn gets the offset in body of each big-endian int32 limit,
 * first the response's max_bytes (whole true), then every
 * partition_max_bytes. A non-zero return from fn stops the walk and is
 * returned. KRX_OK only when the whole body parsed; offsets reported
 * before an error must not be used.
 */
typedef int (*krx_fetch_limit_fn)(void *arg, size_t off, bool whole);
int	krx_kafka_fetch_req_limits(const uint8_t *body, size_t len,
	    int16_t version, krx_fetch_limit_fn fn, void *arg);

/* Metadata. */

/*
 * Called once per topic of a Metadata response: name (NULL and -1 when
 * null, v12+), topic_id (16 bytes; zero before v10), error_code. Returns
 * 0, or a negative enum krx_err that stops the walk and is returned.
 */
typedef int (*krx_kafka_topic_fn)(void *arg, const uint8_t *name,
    int32_t name_len, const uint8_t *topic_id, int16_t error_code);

/*
 * Walk the topics of a Metadata response body (v0-13). The whole body
 * is checked first: fn is called only when it decodes exactly to its
 * end (fn NULL: check only). Returns 0, a decode error
 * (KRX_E_UNSUPPORTED for another version) or fn's error.
 */
int	krx_kafka_metadata_topics(const uint8_t *body, size_t len,
	    int16_t version, krx_kafka_topic_fn fn, void *arg);

/*
 * Append a whole Metadata request frame (size prefix, header v2, body)
 * asking for the n topics ids[] by id with null names, no auto-creation,
 * no authorized operations. version 12 or 13 (the first to honour ids),
 * else KRX_E_UNSUPPORTED; client_id NULL sends null. On error out keeps
 * its old length.
 */
int	krx_kafka_metadata_request_ids(struct krx_buf *out, int16_t version,
	    int32_t correlation_id, const char *client_id,
	    const uint8_t (*ids)[KRX_KAFKA_UUID_LEN], size_t n);

/* DescribeConfigs (kafka_dconf.c). */

#define KRX_DCONF_VERSION	1

/*
 * Append a DescribeConfigs v1 request body asking, for n TOPIC resources
 * (type 2) names[i]/lens[i], only the config key `key`; include_synonyms
 * false. n >= 1; names of 1..249 bytes; key of 1..32767 bytes; else
 * KRX_E_RANGE. On error out keeps its old length.
 */
int	krx_kafka_dconf_request(const char *const *names, const size_t *lens,
	    size_t n, const char *key, struct krx_buf *out);

/*
 * Called once per result of resource type 2 (TOPIC), in response order:
 * name is a view into the body, err the result's error_code; value is
 * the config named key (NULL with value_len -1 when its value is null),
 * or NULL with value_len -1 when the result has an error or lacks the
 * key. A key listed twice: the first one counts.
 */
typedef void (*krx_dconf_fn)(void *arg, const uint8_t *name,
    size_t name_len, int16_t err, const uint8_t *value, int32_t value_len);

/*
 * Walk a DescribeConfigs v1 response body. The whole body is checked
 * first (counts bounded by the bytes left, ends exactly at its end); fn
 * is called only when it is valid (fn NULL: check only). Returns 0,
 * KRX_E_RANGE for a NULL key, or KRX_E_TRUNCATED, KRX_E_MALFORMED,
 * KRX_E_TRAILING. Booleans are not checked (any non-zero byte is true,
 * as Kafka reads them).
 */
int	krx_kafka_dconf_parse(const uint8_t *body, size_t len,
	    const char *key, krx_dconf_fn fn, void *arg);

#endif
