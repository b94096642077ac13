/*
 * kafka_fetch.c: Fetch (v4-18) and ShareFetch (v1-2) responses as krx
 * changes them. The parser finds, per partition, the records field
 * (view and byte range), the error code and the high watermark (and the
 * ShareFetch error message) so that decrypted batches and errors can be
 * spliced in (krx_kafka_splice). Partitions are never removed: a fetch
 * session would lose them (KIP-227).
 *
 * Library grade: runs in workers on broker bytes and trusts none of
 * them; the body is walked field by field, record sets are not read,
 * unknown tagged fields are skipped, and it must end exactly at its end.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define FE_FIRST_FLEX	12
#define FE_FIRST_ID	13

struct fe_parse {
	struct krx_cur		 c;
	int16_t			 v;
	bool			 flex;
	bool			 share;	/* ShareFetch */
	struct krx_fetch_resp	*resp;
	size_t			 pcap;	/* capacity of resp->parts */
};

static int
fe_skip(struct fe_parse *fp, size_t n)
{
	return krx_cur_skip(&fp->c, n);
}

static int
fe_tags(struct fe_parse *fp)
{
	return fp->flex ? krx_kp_skip_tags(&fp->c) : KRX_OK;
}

/* An array of structs of fixed size elem followed by tags if flexible. */
static int
fe_skip_structs(struct fe_parse *fp, bool nullable, size_t elem)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(&fp->c, fp->flex, nullable,
	    elem + (fp->flex ? 1 : 0), &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = fe_skip(fp, elem)) != KRX_OK ||
		    (r = fe_tags(fp)) != KRX_OK)
			return r;
	return KRX_OK;
}

static int
fe_records(struct fe_parse *fp, struct krx_fetch_part *p)
{
	size_t	 start = fp->c.off;
	int	 r;

	/* ShareFetch records are not nullable from v1. */
	if ((r = krx_kp_get_bytes(&fp->c, fp->flex, !fp->share, &p->records,
	    &p->records_len)) != KRX_OK)
		return r;
	p->field_off = start;
	p->field_len = fp->c.off - start;
	return KRX_OK;
}

/*
 * Fetch partition: partition_index, error_code, high_watermark,
 * last_stable_offset, log_start_offset (v5+), aborted_transactions[]
 * (nullable), preferred_read_replica (v11+), records, tags.
 */
static int
fe_fetch_partition(struct fe_parse *fp, struct krx_fetch_part *p)
{
	int	 r;

	if ((r = krx_cur_get_i32(&fp->c, &p->index)) != KRX_OK)
		return r;
	p->error_off = fp->c.off;
	if ((r = krx_cur_get_i16(&fp->c, &p->error_code)) != KRX_OK)
		return r;
	p->hwm_off = (ptrdiff_t)fp->c.off;
	p->msg_off = -1;
	if ((r = fe_skip(fp, 16 + (fp->v >= 5 ? 8 : 0))) != KRX_OK ||
	    (r = fe_skip_structs(fp, true, 16)) != KRX_OK)
		return r;
	if (fp->v >= 11 && (r = fe_skip(fp, 4)) != KRX_OK)
		return r;
	if ((r = fe_records(fp, p)) != KRX_OK)
		return r;
	return fe_tags(fp);
}

/*
 * ShareFetch partition: partition_index, error_code, error_message,
 * acknowledge_error_code, acknowledge_error_message, current_leader
 * (leader_id, leader_epoch, tags), records, acquired_records[]
 * (first_offset, last_offset, delivery_count, tags), tags.
 */
static int
fe_share_partition(struct fe_parse *fp, struct krx_fetch_part *p)
{
	size_t	 start;
	int	 r;

	if ((r = krx_cur_get_i32(&fp->c, &p->index)) != KRX_OK)
		return r;
	p->error_off = fp->c.off;
	if ((r = krx_cur_get_i16(&fp->c, &p->error_code)) != KRX_OK)
		return r;
	p->hwm_off = -1;
	start = fp->c.off;
	if ((r = krx_kp_skip_str(&fp->c, true, true)) != KRX_OK)
		return r;
	p->msg_off = (ptrdiff_t)start;
	p->msg_len = fp->c.off - start;
	if ((r = fe_skip(fp, 2)) != KRX_OK ||
	    (r = krx_kp_skip_str(&fp->c, true, true)) != KRX_OK ||
	    (r = fe_skip(fp, 8)) != KRX_OK ||
	    (r = fe_tags(fp)) != KRX_OK ||
	    (r = fe_records(fp, p)) != KRX_OK ||
	    (r = fe_skip_structs(fp, false, 18)) != KRX_OK)
		return r;
	return fe_tags(fp);
}

static int
fe_partition(struct fe_parse *fp, size_t topic)
{
	struct krx_fetch_resp	*resp = fp->resp;
	struct krx_fetch_part	*p, *np;
	int			 r;

	np = krx_kp_grow(resp->parts, &fp->pcap, resp->nparts + 1,
	    sizeof(*np));
	if (np == NULL)
		return KRX_E_NOMEM;
	resp->parts = np;
	p = &resp->parts[resp->nparts];
	memset(p, 0, sizeof(*p));
	p->topic = topic;
	if (fp->share)
		r = fe_share_partition(fp, p);
	else
		r = fe_fetch_partition(fp, p);
	if (r != KRX_OK)
		return r;
	resp->nparts++;
	return KRX_OK;
}

/* Topic: name or topic id, partitions[], tags. */
static int
fe_topic(struct fe_parse *fp, size_t ti)
{
	struct krx_fetch_topic	*t = &fp->resp->topics[ti];
	size_t			 min_part;
	int32_t			 i, n;
	int			 r;

	if (fp->share || fp->v >= FE_FIRST_ID)
		r = krx_cur_get(&fp->c, t->topic_id, sizeof(t->topic_id));
	else
		r = krx_kp_get_str(&fp->c, fp->flex, false, &t->name,
		    &t->name_len);
	if (r != KRX_OK)
		return r;
	/*
	 * Smallest partition: Fetch 22 fixed bytes (v4), two length
	 * prefixes and tags; ShareFetch 16 fixed bytes, two strings,
	 * records and an array (one byte each) and two tag sections.
	 */
	min_part = fp->share ? 16 + 4 + 2 : 22 + (fp->flex ? 3 : 8);
	if ((r = krx_kp_get_array(&fp->c, fp->flex, false, min_part,
	    &n)) != KRX_OK)
		return r;
	t->first = fp->resp->nparts;
	for (i = 0; i < n; i++)
		if ((r = fe_partition(fp, ti)) != KRX_OK)
			return r;
	t->count = (size_t)n;
	return fe_tags(fp);
}

/* ShareFetch node_endpoints[]: node_id, host, port, rack, tags. */
static int
fe_share_endpoints(struct fe_parse *fp)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(&fp->c, true, false, 11, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = fe_skip(fp, 4)) != KRX_OK ||
		    (r = krx_kp_skip_str(&fp->c, true, false)) != KRX_OK ||
		    (r = fe_skip(fp, 4)) != KRX_OK ||
		    (r = krx_kp_skip_str(&fp->c, true, true)) != KRX_OK ||
		    (r = fe_tags(fp)) != KRX_OK)
			return r;
	return KRX_OK;
}

/*
 * Up to the responses: throttle_time_ms, then Fetch: error_code and
 * session_id (v7+); ShareFetch: error_code, error_message,
 * acquisition_lock_timeout_ms.
 */
static int
fe_head(struct fe_parse *fp)
{
	struct krx_fetch_resp	*resp = fp->resp;
	int			 r;

	resp->error_off = -1;
	if ((r = fe_skip(fp, 4)) != KRX_OK)
		return r;
	if (!fp->share && fp->v < 7)
		return KRX_OK;
	resp->error_off = (ptrdiff_t)fp->c.off;
	if ((r = krx_cur_get_i16(&fp->c, &resp->error_code)) != KRX_OK)
		return r;
	if (!fp->share)
		return krx_cur_get_i32(&fp->c, &resp->session_id);
	if ((r = krx_kp_skip_str(&fp->c, true, true)) != KRX_OK)
		return r;
	return fe_skip(fp, 4);
}

static int
fe_body(struct fe_parse *fp)
{
	struct krx_fetch_resp	*resp = fp->resp;
	size_t			 min_topic;
	int32_t			 i, n;
	int			 r;

	if ((r = fe_head(fp)) != KRX_OK)
		return r;
	/* A topic: name or id, partitions length, tags (ids: flexible). */
	if (fp->share || fp->v >= FE_FIRST_ID)
		min_topic = KRX_KAFKA_UUID_LEN + 2;
	else
		min_topic = fp->flex ? 3 : 6;
	if ((r = krx_kp_get_array(&fp->c, fp->flex, false, min_topic,
	    &n)) != KRX_OK)
		return r;
	if (n > 0 &&
	    (resp->topics = calloc((size_t)n, sizeof(*resp->topics))) == NULL)
		return KRX_E_NOMEM;
	resp->ntopics = (size_t)n;
	for (i = 0; i < n; i++)
		if ((r = fe_topic(fp, (size_t)i)) != KRX_OK)
			return r;
	/* Fetch v16+ NodeEndpoints are tag 0 of the top-level tags. */
	if (fp->share && (r = fe_share_endpoints(fp)) != KRX_OK)
		return r;
	if ((r = fe_tags(fp)) != KRX_OK)
		return r;
	return krx_cur_end(&fp->c);
}

int
krx_kafka_fetch_parse(const uint8_t *body, size_t len, int16_t api_key,
    int16_t version, struct krx_fetch_resp *resp)
{
	struct fe_parse	 fp;
	int		 r;

	memset(resp, 0, sizeof(*resp));
	memset(&fp, 0, sizeof(fp));
	if (api_key == KRX_API_FETCH && version >= 4 && version <= 18)
		fp.flex = version >= FE_FIRST_FLEX;
	else if (api_key == KRX_API_SHARE_FETCH && version >= 1 &&
	    version <= 2)
		fp.flex = fp.share = true;
	else
		return KRX_E_UNSUPPORTED;
	krx_cur_init(&fp.c, body, len);
	fp.v = version;
	fp.resp = resp;
	resp->api_key = api_key;
	resp->version = version;
	if ((r = fe_body(&fp)) != KRX_OK)
		krx_fetch_resp_free(resp);
	return r;
}

void
krx_fetch_resp_free(struct krx_fetch_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->topics);
	free(resp->parts);
	memset(resp, 0, sizeof(*resp));
}
