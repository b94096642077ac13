/*
 * kafka_metadata.c: what krx learns from Metadata responses (v0-13),
 * each topic's name and id, and the Metadata request it sends to look
 * topic ids up (v12-13: topics by id, null names), for Produce v13,
 * Fetch v13+ and ShareFetch, which carry ids only.
 *
 * Library grade: runs in workers on broker bytes and trusts none of
 * them; the body is walked field by field and must end exactly at its
 * end before any topic is reported.
 */
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define MD_FIRST_FLEX	9

struct md_walk {
	struct krx_cur		 c;
	int16_t			 v;
	bool			 flex;
	krx_kafka_topic_fn	 fn;	/* NULL: check only */
	void			*arg;
};

static int
md_skip(struct md_walk *w, size_t n)
{
	return krx_cur_skip(&w->c, n);
}

static int
md_tags(struct md_walk *w)
{
	return w->flex ? krx_kp_skip_tags(&w->c) : KRX_OK;
}

static int
md_int32s(struct md_walk *w)
{
	return krx_kp_skip_fixed_array(&w->c, w->flex, false, 4);
}

/* Smallest encoding of a string, an array length and a tag section. */
static size_t
md_min(const struct md_walk *w, size_t strs, size_t arrays)
{
	return w->flex ? strs + arrays + 1 : strs * 2 + arrays * 4;
}

/* brokers[]: node_id, host, port, rack (v1+), tags. */
static int
md_brokers(struct md_walk *w)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(&w->c, w->flex, false,
	    8 + md_min(w, w->v >= 1 ? 2 : 1, 0), &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = md_skip(w, 4)) != KRX_OK ||
		    (r = krx_kp_skip_str(&w->c, w->flex, false)) != KRX_OK ||
		    (r = md_skip(w, 4)) != KRX_OK)
			return r;
		if (w->v >= 1 &&
		    (r = krx_kp_skip_str(&w->c, w->flex, true)) != KRX_OK)
			return r;
		if ((r = md_tags(w)) != KRX_OK)
			return r;
	}
	return KRX_OK;
}

/*
 * partitions[]: error_code, partition_index, leader_id, leader_epoch
 * (v7+), replica_nodes[], isr_nodes[], offline_replicas[] (v5+), tags.
 */
static int
md_partitions(struct md_walk *w)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(&w->c, w->flex, false,
	    10 + md_min(w, 0, 2), &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++) {
		if ((r = md_skip(w, w->v >= 7 ? 14 : 10)) != KRX_OK ||
		    (r = md_int32s(w)) != KRX_OK ||
		    (r = md_int32s(w)) != KRX_OK)
			return r;
		if (w->v >= 5 && (r = md_int32s(w)) != KRX_OK)
			return r;
		if ((r = md_tags(w)) != KRX_OK)
			return r;
	}
	return KRX_OK;
}

/*
 * One topic: error_code, name (nullable v12+), topic_id (v10+),
 * is_internal (v1+), partitions[], topic_authorized_operations (v8+),
 * tags.
 */
static int
md_topic(struct md_walk *w)
{
	static const uint8_t	 zero[KRX_KAFKA_UUID_LEN];
	const uint8_t		*name, *id = zero;
	int32_t			 name_len;
	int16_t			 error;
	int			 r;

	if ((r = krx_cur_get_i16(&w->c, &error)) != KRX_OK ||
	    (r = krx_kp_get_str(&w->c, w->flex, w->v >= 12, &name,
	    &name_len)) != KRX_OK)
		return r;
	if (w->v >= 10 &&
	    (r = krx_cur_get_ref(&w->c, KRX_KAFKA_UUID_LEN, &id)) != KRX_OK)
		return r;
	if ((w->v >= 1 && (r = md_skip(w, 1)) != KRX_OK) ||
	    (r = md_partitions(w)) != KRX_OK ||
	    (w->v >= 8 && (r = md_skip(w, 4)) != KRX_OK) ||
	    (r = md_tags(w)) != KRX_OK)
		return r;
	if (w->fn != NULL)
		return w->fn(w->arg, name, name_len, id, error);
	return KRX_OK;
}

/*
 * throttle_time_ms (v3+), brokers[], cluster_id (v2+), controller_id
 * (v1+), topics[], cluster_authorized_operations (v8-10), error_code
 * (v13+), tags.
 */
static int
md_body(struct md_walk *w)
{
	size_t	 min_topic;
	int32_t	 i, n;
	int	 r;

	if ((w->v >= 3 && (r = md_skip(w, 4)) != KRX_OK) ||
	    (r = md_brokers(w)) != KRX_OK ||
	    (w->v >= 2 &&
	    (r = krx_kp_skip_str(&w->c, w->flex, true)) != KRX_OK) ||
	    (w->v >= 1 && (r = md_skip(w, 4)) != KRX_OK))
		return r;
	min_topic = 2 + md_min(w, 1, 1) + (w->v >= 10 ? 16 : 0) +
	    (w->v >= 1 ? 1 : 0) + (w->v >= 8 ? 4 : 0);
	if ((r = krx_kp_get_array(&w->c, w->flex, false, min_topic, &n)) !=
	    KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = md_topic(w)) != KRX_OK)
			return r;
	if ((w->v >= 8 && w->v <= 10 && (r = md_skip(w, 4)) != KRX_OK) ||
	    (w->v >= 13 && (r = md_skip(w, 2)) != KRX_OK) ||
	    (r = md_tags(w)) != KRX_OK)
		return r;
	return krx_cur_end(&w->c);
}

int
krx_kafka_metadata_topics(const uint8_t *body, size_t len,
    int16_t version, krx_kafka_topic_fn fn, void *arg)
{
	struct md_walk	 w;
	int		 r;

	if (version < 0 || version > 13)
		return KRX_E_UNSUPPORTED;
	memset(&w, 0, sizeof(w));
	krx_cur_init(&w.c, body, len);
	w.v = version;
	w.flex = version >= MD_FIRST_FLEX;
	/* Check the whole body first, then report the topics. */
	if ((r = md_body(&w)) != KRX_OK || fn == NULL)
		return r;
	krx_cur_init(&w.c, body, len);
	w.fn = fn;
	w.arg = arg;
	return md_body(&w);
}

int
krx_kafka_metadata_request_ids(struct krx_buf *out, int16_t version,
    int32_t correlation_id, const char *client_id,
    const uint8_t (*ids)[KRX_KAFKA_UUID_LEN], size_t n)
{
	size_t	 i, start = out->len, id_len = 0;

	if (version < 12 || version > 13)
		return KRX_E_UNSUPPORTED;
	if ((client_id != NULL &&
	    (id_len = strlen(client_id)) > KRX_KP_STR_MAX) ||
	    n >= INT32_MAX || (ids == NULL && n > 0))
		return KRX_E_RANGE;
	krx_buf_put_be32(out, 0);
	/* Header v2: client_id keeps its int16 length. */
	krx_buf_put_be16(out, KRX_API_METADATA);
	krx_buf_put_be16(out, (uint16_t)version);
	krx_buf_put_be32(out, (uint32_t)correlation_id);
	krx_kp_put_str(out, false, client_id,
	    client_id == NULL ? -1 : (int32_t)id_len);
	krx_buf_put_uvarint(out, 0);
	/* topics[]: topic_id, name null, tags. */
	krx_kp_put_array_len(out, true, (int32_t)n);
	for (i = 0; i < n; i++) {
		krx_buf_put(out, ids[i], KRX_KAFKA_UUID_LEN);
		krx_kp_put_str(out, true, NULL, -1);
		krx_buf_put_uvarint(out, 0);
	}
	krx_buf_put_u8(out, 0);		/* allow_auto_topic_creation */
	krx_buf_put_u8(out, 0);		/* include_topic_authorized_ops */
	krx_buf_put_uvarint(out, 0);
	return krx_kafka_frame_finish(out, start);
}
