/*
 * kafka_produce_resp.c: Produce responses (v3-13) to the Produce
 * requests krx sends itself (krx_kafka_produce_build). The parser
 * reports, per partition, its topic (name or id), index, error code and
 * base offset, with the offsets of the last two in the body.
 *
 * Library grade: runs in workers on broker bytes and trusts none of
 * them; the body is walked field by field, unknown tagged fields are
 * skipped, the known ones (CurrentLeader, NodeEndpoints) are checked but
 * not reported, and it must end exactly at its end.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define PS_MIN_VERSION	3
#define PS_MAX_VERSION	13
#define PS_FIRST_FLEX	9
#define PS_FIRST_TAG0	10	/* CurrentLeader, NodeEndpoints */
#define PS_FIRST_ID	13

struct ps_parse {
	struct krx_cur		 c;
	int16_t			 v;
	bool			 flex;
	struct krx_produce_resp	*resp;
	size_t			 pcap;	/* capacity of resp->parts */
};

static int
ps_skip(struct ps_parse *ps, size_t n)
{
	return krx_cur_skip(&ps->c, n);
}

static int
ps_tags(struct ps_parse *ps)
{
	return ps->flex ? krx_kp_skip_tags(&ps->c) : KRX_OK;
}

/* LeaderIdAndEpoch: leader_id, leader_epoch, tags. */
static int
ps_leader(struct krx_cur *c)
{
	int	 r;

	if ((r = krx_cur_skip(c, 8)) != KRX_OK)
		return r;
	return krx_kp_skip_tags(c);
}

/* NodeEndpoints[]: node_id, host, port, rack (nullable), tags. */
static int
ps_node_endpoints(struct krx_cur *c)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(c, true, false, 11, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = krx_cur_skip(c, 4)) != KRX_OK ||
		    (r = krx_kp_skip_str(c, true, false)) != KRX_OK ||
		    (r = krx_cur_skip(c, 4)) != KRX_OK ||
		    (r = krx_kp_skip_str(c, true, true)) != KRX_OK ||
		    (r = krx_kp_skip_tags(c)) != KRX_OK)
			return r;
	return KRX_OK;
}

/*
 * A tag section whose tag 0 (from v10) is a struct decoded by fn, which
 * must end exactly at the end of the tag: its size was given, so any
 * shortfall is KRX_E_MALFORMED, not a truncation.
 */
static int
ps_tags_tag0(struct ps_parse *ps, int (*fn)(struct krx_cur *))
{
	struct krx_cur	 sub;
	size_t		 off, len;
	bool		 found;
	int		 r;

	if (!ps->flex)
		return KRX_OK;
	if ((r = krx_kp_find_tag(&ps->c, 0, &found, &off, &len)) != KRX_OK)
		return r;
	if (!found || ps->v < PS_FIRST_TAG0)
		return KRX_OK;
	krx_cur_init(&sub, ps->c.p + off, len);
	if (fn(&sub) != KRX_OK || krx_cur_end(&sub) != KRX_OK)
		return KRX_E_MALFORMED;
	return KRX_OK;
}

/* record_errors[] (v8+): batch_index, batch_index_error_message, tags. */
static int
ps_record_errors(struct ps_parse *ps)
{
	int32_t	 i, n;
	int	 r;

	if ((r = krx_kp_get_array(&ps->c, ps->flex, false,
	    ps->flex ? 4 + 1 + 1 : 4 + 2, &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = ps_skip(ps, 4)) != KRX_OK ||
		    (r = krx_kp_skip_str(&ps->c, ps->flex, true)) != KRX_OK ||
		    (r = ps_tags(ps)) != KRX_OK)
			return r;
	return KRX_OK;
}

/*
 * One partition response: index, error_code, base_offset,
 * log_append_time_ms, log_start_offset (v5+), record_errors[] and
 * error_message (v8+), tags (tag 0 CurrentLeader from v10). The topic
 * fields were filled in by the caller.
 */
static int
ps_partition(struct ps_parse *ps, const struct krx_produce_resp_part *tp)
{
	struct krx_produce_resp		*resp = ps->resp;
	struct krx_produce_resp_part	*p, *np;
	int				 r;

	np = krx_kp_grow(resp->parts, &ps->pcap, resp->nparts + 1,
	    sizeof(*np));
	if (np == NULL)
		return KRX_E_NOMEM;
	resp->parts = np;
	p = &resp->parts[resp->nparts];
	*p = *tp;
	if ((r = krx_cur_get_i32(&ps->c, &p->index)) != KRX_OK)
		return r;
	p->error_off = ps->c.off;
	if ((r = krx_cur_get_i16(&ps->c, &p->error_code)) != KRX_OK)
		return r;
	p->base_offset_off = ps->c.off;
	if ((r = krx_cur_get_i64(&ps->c, &p->base_offset)) != KRX_OK ||
	    (r = ps_skip(ps, ps->v >= 5 ? 16 : 8)) != KRX_OK)
		return r;
	if (ps->v >= 8 &&
	    ((r = ps_record_errors(ps)) != KRX_OK ||
	    (r = krx_kp_skip_str(&ps->c, ps->flex, true)) != KRX_OK))
		return r;
	if ((r = ps_tags_tag0(ps, ps_leader)) != KRX_OK)
		return r;
	resp->nparts++;
	return KRX_OK;
}

/* One topic response: name or topic id, partition_responses[], tags. */
static int
ps_topic(struct ps_parse *ps)
{
	struct krx_produce_resp_part	 tp;
	size_t				 min_part;
	int32_t				 i, n;
	int				 r;

	memset(&tp, 0, sizeof(tp));
	if (ps->v >= PS_FIRST_ID)
		r = krx_cur_get(&ps->c, tp.topic_id, sizeof(tp.topic_id));
	else
		r = krx_kp_get_str(&ps->c, ps->flex, false, &tp.name,
		    &tp.name_len);
	if (r != KRX_OK)
		return r;
	/*
	 * Smallest partition: index, error_code, base_offset,
	 * log_append_time_ms (22 bytes), log_start_offset (v5+), the
	 * record_errors and error_message lengths (v8+), tags.
	 */
	min_part = 22 + (ps->v >= 5 ? 8 : 0);
	if (ps->v >= 8)
		min_part += ps->flex ? 1 + 1 + 1 : 4 + 2;
	if ((r = krx_kp_get_array(&ps->c, ps->flex, false, min_part,
	    &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = ps_partition(ps, &tp)) != KRX_OK)
			return r;
	return ps_tags(ps);
}

/*
 * responses[], throttle_time_ms, tags (tag 0 NodeEndpoints from v10).
 */
static int
ps_body(struct ps_parse *ps)
{
	size_t	 min_topic;
	int32_t	 i, n;
	int	 r;

	/* A topic: name or id, partitions length, tags. */
	if (ps->v >= PS_FIRST_ID)
		min_topic = KRX_KAFKA_UUID_LEN + 2;
	else
		min_topic = ps->flex ? 3 : 6;
	if ((r = krx_kp_get_array(&ps->c, ps->flex, false, min_topic,
	    &n)) != KRX_OK)
		return r;
	for (i = 0; i < n; i++)
		if ((r = ps_topic(ps)) != KRX_OK)
			return r;
	if ((r = krx_cur_get_i32(&ps->c, &ps->resp->throttle_time_ms)) !=
	    KRX_OK ||
	    (r = ps_tags_tag0(ps, ps_node_endpoints)) != KRX_OK)
		return r;
	return krx_cur_end(&ps->c);
}

int
krx_kafka_produce_resp_parse(const uint8_t *body, size_t len,
    int16_t version, struct krx_produce_resp *resp)
{
	struct ps_parse	 ps;
	int		 r;

	memset(resp, 0, sizeof(*resp));
	if (version < PS_MIN_VERSION || version > PS_MAX_VERSION)
		return KRX_E_UNSUPPORTED;
	memset(&ps, 0, sizeof(ps));
	krx_cur_init(&ps.c, body, len);
	ps.v = version;
	ps.flex = version >= PS_FIRST_FLEX;
	ps.resp = resp;
	if ((r = ps_body(&ps)) != KRX_OK)
		krx_produce_resp_free(resp);
	return r;
}

void
krx_produce_resp_free(struct krx_produce_resp *resp)
{
	if (resp == NULL)
		return;
	free(resp->parts);
	memset(resp, 0, sizeof(*resp));
}
