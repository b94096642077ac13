/*
 * kafka_endpoints.c: rewrite the broker endpoints (node id, host, port)
 * in Kafka responses so that clients dial krx instead of the brokers:
 * Metadata brokers, FindCoordinator (single and batched), DescribeCluster
 * brokers, the NodeEndpoints of Produce v10+ and Fetch v16+ (top-level
 * tag 0) and of ShareFetch and ShareAcknowledge. Every other byte is
 * copied unchanged, unknown tagged fields included; only the lengths of
 * rewritten strings and of the tag holding them change.
 *
 * Library grade: runs in workers on broker bytes and trusts none of them;
 * each body is walked field by field and must end exactly at its end.
 *
 * How: a cursor walks the body; out receives the input verbatim in large
 * runs ("flush up to here") and a rewritten endpoint in place of the
 * original one. Record sets are skipped by length, never read.
 */
#include <stdint.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_prim.h"

struct ep_rw {
	struct krx_cur		 c;
	struct krx_buf		*out;
	size_t			 mark;	/* input before mark is in out */
	bool			 flex;
	krx_kafka_endpoint_fn	 fn;
	void			*arg;
	int			 n;	/* endpoints rewritten */
	size_t			 tags_off;	/* Fetch: top-level tags */
};

typedef int (*ep_walk_fn)(struct ep_rw *, int16_t);

/* Copy the input from mark up to upto. */
static void
ep_flush(struct ep_rw *rw, size_t upto)
{
	krx_buf_put(rw->out, rw->c.p + rw->mark, upto - rw->mark);
	rw->mark = upto;
}

static int
ep_skip(struct ep_rw *rw, size_t n)
{
	return krx_cur_skip(&rw->c, n);
}

static int
ep_str(struct ep_rw *rw, bool nullable)
{
	return krx_kp_skip_str(&rw->c, rw->flex, nullable);
}

static int
ep_tags(struct ep_rw *rw)
{
	return rw->flex ? krx_kp_skip_tags(&rw->c) : KRX_OK;
}

static int
ep_array(struct ep_rw *rw, bool nullable, size_t min_elem, int32_t *n)
{
	return krx_kp_get_array(&rw->c, rw->flex, nullable, min_elem, n);
}

static int
ep_int32s(struct ep_rw *rw)
{
	return krx_kp_skip_fixed_array(&rw->c, rw->flex, false, 4);
}

/* Walk an array whose elements fn walks. */
static int
ep_each(struct ep_rw *rw, bool nullable, size_t min_elem, int16_t v,
    ep_walk_fn fn)
{
	int32_t	 i, n;
	int	 r;

	if ((r = ep_array(rw, nullable, min_elem, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = fn(rw, v)) != KRX_OK)
			return r;
	return KRX_OK;
}

/*
 * Issue 9, finding 12: a broker address is a port in 1..65535 and a host
 * name or IP literal of 1..255 characters from [A-Za-z0-9.:_-] (IPv6
 * literals come without brackets); anything else never reaches the node
 * map, let alone connect(2).
 */
bool
krx_kafka_endpoint_valid(const char *host, size_t len, int32_t port)
{
	size_t	 i;
	char	 ch;

	if (port < 1 || port > 65535 || len == 0 ||
	    len > KRX_KAFKA_HOST_MAX || host == NULL)
		return false;
	for (i = 0; i < len; i++) {
		ch = host[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '.' || ch == '-' ||
		    ch == '_' || ch == ':'))
			return false;
	}
	return host[0] != '-' && host[0] != '.';
}

/*
 * One endpoint: node id, host, port. Calls fn (unless skip_neg and the
 * node id is negative: "no coordinator") and writes what it returns.
 */
static int
ep_endpoint(struct ep_rw *rw, bool skip_neg)
{
	struct krx_kafka_endpoint	 up, adv;
	const uint8_t			*host;
	size_t				 start = rw->c.off;
	int32_t				 hlen;
	int				 r;

	memset(&up, 0, sizeof(up));
	if ((r = krx_cur_get_i32(&rw->c, &up.node_id)) != KRX_OK ||
	    (r = krx_kp_get_str(&rw->c, rw->flex, false, &host,
	    &hlen)) != KRX_OK ||
	    (r = krx_cur_get_i32(&rw->c, &up.port)) != KRX_OK)
		return r;
	if (skip_neg && up.node_id < 0)
		return KRX_OK;
	up.host = (const char *)host;
	up.host_len = (size_t)hlen;
	if (up.node_id >= 0 && !krx_kafka_endpoint_valid(up.host, up.host_len,
	    up.port))
		return KRX_E_MALFORMED;
	adv = up;
	if ((r = rw->fn(rw->arg, &up, &adv)) < 0)
		return r;
	if (adv.host_len > KRX_KP_STR_MAX ||
	    (adv.host == NULL && adv.host_len > 0))
		return KRX_E_RANGE;
	ep_flush(rw, start);
	krx_buf_put_be32(rw->out, (uint32_t)adv.node_id);
	krx_kp_put_str(rw->out, rw->flex, adv.host, (int32_t)adv.host_len);
	krx_buf_put_be32(rw->out, (uint32_t)adv.port);
	rw->mark = rw->c.off;
	rw->n++;
	return rw->out->err;
}

/* NodeEndpoint of Produce, Fetch, ShareFetch, ShareAcknowledge. */
static int
ep_node_endpoint(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_endpoint(rw, false)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

/* Metadata (v0-13). */

static int
ep_metadata_broker(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_endpoint(rw, false)) != KRX_OK)
		return r;
	if (v >= 1 && (r = ep_str(rw, true)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_metadata_partition(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, v >= 7 ? 14 : 10)) != KRX_OK ||
	    (r = ep_int32s(rw)) != KRX_OK ||
	    (r = ep_int32s(rw)) != KRX_OK)
		return r;
	if (v >= 5 && (r = ep_int32s(rw)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_metadata_topic(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 2)) != KRX_OK ||
	    (r = ep_str(rw, v >= 12)) != KRX_OK)
		return r;
	if ((r = ep_skip(rw, (v >= 10 ? 16 : 0) + (v >= 1 ? 1 : 0))) !=
	    KRX_OK ||
	    (r = ep_each(rw, false, 10, v, ep_metadata_partition)) != KRX_OK)
		return r;
	if (v >= 8 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_metadata(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if (v >= 3 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	if ((r = ep_each(rw, false, 9, v, ep_metadata_broker)) != KRX_OK)
		return r;
	if (v >= 2 && (r = ep_str(rw, true)) != KRX_OK)
		return r;
	if (v >= 1 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	if ((r = ep_each(rw, false, 3, v, ep_metadata_topic)) != KRX_OK)
		return r;
	if (v >= 8 && v <= 10 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	if (v >= 13 && (r = ep_skip(rw, 2)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

/* FindCoordinator (v0-3 one coordinator, v4-6 Coordinators[]). */

static int
ep_coordinator(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_str(rw, false)) != KRX_OK ||
	    (r = ep_endpoint(rw, true)) != KRX_OK ||
	    (r = ep_skip(rw, 2)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_find_coordinator(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if (v >= 1 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	if (v >= 4)
		r = ep_each(rw, false, 12, v, ep_coordinator);
	else if ((r = ep_skip(rw, 2)) == KRX_OK &&
	    (v < 1 || (r = ep_str(rw, true)) == KRX_OK))
		r = ep_endpoint(rw, true);
	if (r != KRX_OK)
		return r;
	return ep_tags(rw);
}

/* DescribeCluster (v0-2, always flexible). */

static int
ep_cluster_broker(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_endpoint(rw, false)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK)
		return r;
	if (v >= 2 && (r = ep_skip(rw, 1)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_describe_cluster(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 6)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK)
		return r;
	if (v >= 1 && (r = ep_skip(rw, 1)) != KRX_OK)
		return r;
	if ((r = ep_str(rw, false)) != KRX_OK ||
	    (r = ep_skip(rw, 4)) != KRX_OK ||
	    (r = ep_each(rw, false, 11, v, ep_cluster_broker)) != KRX_OK ||
	    (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

/* ShareFetch and ShareAcknowledge (v1-2, always flexible). */

static int
ep_leader(struct ep_rw *rw)
{
	int	 r;

	if ((r = ep_skip(rw, 8)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_acquired(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 18)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_share_fetch_partition(struct ep_rw *rw, int16_t v)
{
	const uint8_t	*p;
	int32_t		 len;
	int		 r;

	if ((r = ep_skip(rw, 6)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK ||
	    (r = ep_skip(rw, 2)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK ||
	    (r = ep_leader(rw)) != KRX_OK ||
	    (r = krx_kp_get_bytes(&rw->c, true, true, &p, &len)) != KRX_OK ||
	    (r = ep_each(rw, false, 19, v, ep_acquired)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_share_fetch_topic(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, KRX_KP_UUID_LEN)) != KRX_OK ||
	    (r = ep_each(rw, false, 16, v, ep_share_fetch_partition)) !=
	    KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_share_fetch(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 6)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK ||
	    (r = ep_skip(rw, 4)) != KRX_OK ||
	    (r = ep_each(rw, false, 18, v, ep_share_fetch_topic)) != KRX_OK ||
	    (r = ep_each(rw, false, 11, v, ep_node_endpoint)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_share_ack_partition(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 6)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK ||
	    (r = ep_leader(rw)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_share_ack_topic(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, KRX_KP_UUID_LEN)) != KRX_OK ||
	    (r = ep_each(rw, false, 17, v, ep_share_ack_partition)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_share_ack(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 6)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK)
		return r;
	if (v >= 2 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	if ((r = ep_each(rw, false, 18, v, ep_share_ack_topic)) != KRX_OK ||
	    (r = ep_each(rw, false, 11, v, ep_node_endpoint)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

/*
 * The top-level tag section of Produce and Fetch. Tag 0 (NodeEndpoints,
 * when the version has it) is rewritten into a scratch buffer, then the
 * body up to it, the new tag 0 and the rest are written out. Tags are
 * strictly ascending, so tag 0 is the first entry when present. Without
 * tag 0 nothing is written.
 */
static int
ep_top_tags(struct ep_rw *rw, bool has_tag0)
{
	struct ep_rw	 sub;
	struct krx_buf	 tmp;
	size_t		 sec = rw->c.off, end, off, len;
	uint32_t	 count;
	bool		 found;
	int		 r;

	if ((r = krx_kp_find_tag(&rw->c, 0, &found, &off, &len)) != KRX_OK)
		return r;
	if (!found || !has_tag0)
		return KRX_OK;
	end = rw->c.off;
	krx_buf_init(&tmp, 0);
	memset(&sub, 0, sizeof(sub));
	krx_cur_init(&sub.c, rw->c.p + off, len);
	sub.out = &tmp;
	sub.flex = true;
	sub.fn = rw->fn;
	sub.arg = rw->arg;
	if ((r = ep_each(&sub, false, 11, 0, ep_node_endpoint)) != KRX_OK ||
	    (r = krx_cur_end(&sub.c)) != KRX_OK || sub.n == 0)
		goto out;
	ep_flush(&sub, len);
	/* One allocation for the (maybe large) new body. */
	krx_buf_reserve(rw->out, rw->c.len - len + tmp.len + 10);
	/* Copy up to the first entry, past the count. */
	rw->c.off = sec;
	krx_kp_get_uvarint32(&rw->c, &count);
	ep_flush(rw, rw->c.off);
	krx_buf_put_uvarint(rw->out, 0);
	krx_buf_put_uvarint(rw->out, tmp.len);
	krx_buf_put(rw->out, tmp.data, tmp.len);
	rw->mark = off + len;
	rw->n += sub.n;
	r = tmp.err != KRX_OK ? tmp.err : rw->out->err;
out:
	rw->c.off = end;
	krx_buf_free(&tmp);
	return r;
}

/* Produce response (v3-13), endpoints in tag 0 from v10. */

static int
ep_record_error(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 4)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_produce_partition(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 14 + (v >= 2 ? 8 : 0) + (v >= 5 ? 8 : 0))) !=
	    KRX_OK)
		return r;
	if (v >= 8 &&
	    ((r = ep_each(rw, false, 5, v, ep_record_error)) != KRX_OK ||
	    (r = ep_str(rw, true)) != KRX_OK))
		return r;
	return ep_tags(rw);
}

static int
ep_produce_topic(struct ep_rw *rw, int16_t v)
{
	int	 r;

	r = v >= 13 ? ep_skip(rw, KRX_KP_UUID_LEN) : ep_str(rw, false);
	if (r != KRX_OK ||
	    (r = ep_each(rw, false, 14, v, ep_produce_partition)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_produce(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_each(rw, false, 2, v, ep_produce_topic)) != KRX_OK ||
	    (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	return rw->flex ? ep_top_tags(rw, v >= 10) : KRX_OK;
}

/* Fetch response (v4-18), endpoints in tag 0 from v16. */

static int
ep_aborted(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, 16)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_fetch_partition(struct ep_rw *rw, int16_t v)
{
	const uint8_t	*p;
	int32_t		 len;
	int		 r;

	if ((r = ep_skip(rw, 22 + (v >= 5 ? 8 : 0))) != KRX_OK ||
	    (r = ep_each(rw, true, 16, v, ep_aborted)) != KRX_OK)
		return r;
	if (v >= 11 && (r = ep_skip(rw, 4)) != KRX_OK)
		return r;
	/* The records: skipped by length, never read. */
	if ((r = krx_kp_get_bytes(&rw->c, rw->flex, true, &p, &len)) !=
	    KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_fetch_topic(struct ep_rw *rw, int16_t v)
{
	int	 r;

	r = v >= 13 ? ep_skip(rw, KRX_KP_UUID_LEN) : ep_str(rw, false);
	if (r != KRX_OK ||
	    (r = ep_each(rw, false, 24, v, ep_fetch_partition)) != KRX_OK)
		return r;
	return ep_tags(rw);
}

static int
ep_fetch(struct ep_rw *rw, int16_t v)
{
	int	 r;

	if ((r = ep_skip(rw, v >= 7 ? 10 : 4)) != KRX_OK ||
	    (r = ep_each(rw, false, 2, v, ep_fetch_topic)) != KRX_OK)
		return r;
	rw->tags_off = rw->c.off;
	return rw->flex ? ep_top_tags(rw, v >= 16) : KRX_OK;
}

/*
 * Which responses krx walks: versions it can decode, and the first
 * version carrying endpoints (has_endpoints is true from there on, past
 * max too, so that a newer version fails instead of leaking).
 */
static const struct ep_api {
	int16_t		 key;
	int16_t		 min;
	int16_t		 max;
	int16_t		 first_ep;
	ep_walk_fn	 walk;
} ep_apis[] = {
	{ KRX_API_PRODUCE, 3, 13, 10, ep_produce },
	{ KRX_API_FETCH, 4, 18, 16, ep_fetch },
	{ KRX_API_METADATA, 0, 13, 0, ep_metadata },
	{ KRX_API_FIND_COORDINATOR, 0, 6, 0, ep_find_coordinator },
	{ KRX_API_DESCRIBE_CLUSTER, 0, 2, 0, ep_describe_cluster },
	{ KRX_API_SHARE_FETCH, 1, 2, 1, ep_share_fetch },
	{ KRX_API_SHARE_ACKNOWLEDGE, 1, 2, 1, ep_share_ack },
};

static const struct ep_api *
ep_api(int16_t api_key)
{
	size_t	 i;

	for (i = 0; i < sizeof(ep_apis) / sizeof(ep_apis[0]); i++)
		if (ep_apis[i].key == api_key)
			return &ep_apis[i];
	return NULL;
}

bool
krx_kafka_has_endpoints(int16_t api_key, int16_t version)
{
	const struct ep_api	*api = ep_api(api_key);

	return api != NULL && version >= api->first_ep;
}

int
krx_kafka_rewrite_endpoints(int16_t api_key, int16_t version,
    const uint8_t *body, size_t len, krx_kafka_endpoint_fn fn, void *arg,
    struct krx_buf *out)
{
	const struct ep_api	*api = ep_api(api_key);
	struct ep_rw		 rw;
	size_t			 start = out->len;
	int			 r;

	if (api == NULL)
		return 0;
	if (version < api->min || version > api->max)
		return KRX_E_UNSUPPORTED;
	memset(&rw, 0, sizeof(rw));
	krx_cur_init(&rw.c, body, len);
	rw.out = out;
	rw.flex = krx_kafka_resp_hdr_flexible(api_key, version);
	rw.fn = fn;
	rw.arg = arg;
	if ((r = api->walk(&rw, version)) != KRX_OK ||
	    (r = krx_cur_end(&rw.c)) != KRX_OK || rw.n == 0)
		goto out;
	ep_flush(&rw, len);
	if ((r = out->err) == KRX_OK)
		r = 1;
out:
	if (r <= 0 && out->len > start)
		out->len = start;
	return r;
}

/*
 * Rebuild the top-level tag section at body + off (len - off bytes) with
 * tag 0 (NodeEndpoints) emptied and an unknown tag padding it to the
 * same length, in place.
 */
static int
ep_fetch_pad_tags(uint8_t *body, size_t len, size_t off)
{
	struct krx_cur	 c;
	struct krx_buf	 sec;
	const uint8_t	*payload;
	uint32_t	 count, i, tag, size, last = 0;
	size_t		 want = len - off, pad, k;
	int		 r;

	krx_cur_init(&c, body + off, want);
	krx_buf_init(&sec, want);
	if ((r = krx_kp_get_uvarint32(&c, &count)) != KRX_OK)
		goto out;
	krx_buf_put_uvarint(&sec, (uint64_t)count + 1);
	for (i = 0; i < count; i++) {
		if ((r = krx_kp_get_uvarint32(&c, &tag)) != KRX_OK ||
		    (r = krx_kp_get_uvarint32(&c, &size)) != KRX_OK ||
		    (r = krx_cur_get_ref(&c, size, &payload)) != KRX_OK)
			goto out;
		last = tag;
		krx_buf_put_uvarint(&sec, tag);
		if (tag == 0) {
			/* An empty NodeEndpoints array. */
			krx_buf_put_uvarint(&sec, 1);
			krx_buf_put_uvarint(&sec, 1);
			continue;
		}
		krx_buf_put_uvarint(&sec, size);
		krx_buf_put(&sec, payload, size);
	}
	if ((r = krx_cur_end(&c)) != KRX_OK || (r = sec.err) != KRX_OK)
		goto out;
	krx_buf_put_uvarint(&sec, (uint64_t)last + 1);
	/* The pad tag's length and bytes fill the rest: uvarint(pad) + pad. */
	r = KRX_E_RANGE;
	for (k = 1, pad = SIZE_MAX; k <= 5 && sec.len + k <= want; k++)
		if (krx_uvarint_len(want - sec.len - k) == k) {
			pad = want - sec.len - k;
			break;
		}
	if (pad == SIZE_MAX)
		goto out;
	krx_buf_put_uvarint(&sec, pad);
	while (sec.len < want && sec.err == KRX_OK)
		krx_buf_put_u8(&sec, 0);
	if (sec.err != KRX_OK || sec.len != want)
		goto out;
	memcpy(body + off, sec.data, want);
	r = KRX_OK;
out:
	krx_buf_free(&sec);
	return r;
}

int
krx_kafka_fetch_endpoints_inplace(uint8_t *body, size_t len, int16_t v,
    size_t keep, krx_kafka_endpoint_fn fn, void *arg)
{
	struct ep_rw	 rw;
	struct krx_buf	 out;
	int		 r;

	if (v < 4 || v > 18)
		return KRX_E_UNSUPPORTED;
	if (keep > len)
		return KRX_E_RANGE;
	memset(&rw, 0, sizeof(rw));
	krx_buf_init(&out, 0);
	krx_cur_init(&rw.c, body, len);
	rw.out = &out;
	rw.flex = krx_kafka_resp_hdr_flexible(KRX_API_FETCH, v);
	rw.fn = fn;
	rw.arg = arg;
	if ((r = ep_fetch(&rw, v)) != KRX_OK ||
	    (r = krx_cur_end(&rw.c)) != KRX_OK || rw.n == 0)
		goto out;
	ep_flush(&rw, len);
	if ((r = out.err) != KRX_OK)
		goto out;
	if (rw.tags_off < keep)
		r = KRX_E_RANGE;	/* the bytes to change are gone */
	else if (out.len == len && memcmp(out.data, body, rw.tags_off) == 0)
		memcpy(body + rw.tags_off, out.data + rw.tags_off,
		    len - rw.tags_off);
	else
		r = ep_fetch_pad_tags(body, len, rw.tags_off);
out:
	krx_buf_free(&out);
	return r;
}
