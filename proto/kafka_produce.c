/*
 * kafka_produce.c: Produce requests (v3-13) as krx changes them. The
 * parser finds every partition's records field (view and byte range) so
 * that encrypted batches can be spliced in (krx_kafka_splice); the
 * error writer answers a request krx refuses with a Produce response
 * listing every partition with an error; the builder writes the Produce
 * requests krx sends itself: some partitions of a parsed request, with
 * new records.
 *
 * Library grade: runs in workers on client bytes and trusts none of
 * them; the body is walked field by field, record sets are not read,
 * and it must end exactly at its end.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka_msg.h"
#include "proto/kafka_prim.h"

#define PR_MIN_VERSION	3
#define PR_MAX_VERSION	13
#define PR_FIRST_FLEX	9
#define PR_FIRST_ID	13

struct pr_parse {
	struct krx_cur		 c;
	int16_t			 v;
	bool			 flex;
	struct krx_produce_req	*req;
	size_t			 pcap;	/* capacity of req->parts */
};

static int
pr_tags(struct pr_parse *pp)
{
	return pp->flex ? krx_kp_skip_tags(&pp->c) : KRX_OK;
}

/* One partition_data entry: index, records, tags. */
static int
pr_partition(struct pr_parse *pp, size_t topic)
{
	struct krx_produce_req	*req = pp->req;
	struct krx_produce_part	*p, *np;
	size_t			 start;
	int			 r;

	np = krx_kp_grow(req->parts, &pp->pcap, req->nparts + 1,
	    sizeof(*np));
	if (np == NULL)
		return KRX_E_NOMEM;
	req->parts = np;
	p = &req->parts[req->nparts];
	memset(p, 0, sizeof(*p));
	p->topic = topic;
	if ((r = krx_cur_get_i32(&pp->c, &p->index)) != KRX_OK)
		return r;
	start = pp->c.off;
	if ((r = krx_kp_get_bytes(&pp->c, pp->flex, true, &p->records,
	    &p->records_len)) != KRX_OK)
		return r;
	p->field_off = start;
	p->field_len = pp->c.off - start;
	if ((r = pr_tags(pp)) != KRX_OK)
		return r;
	req->nparts++;
	return KRX_OK;
}

/* One topic_data entry: name or topic id, partition_data[], tags. */
static int
pr_topic(struct pr_parse *pp, size_t ti)
{
	struct krx_produce_topic	*t = &pp->req->topics[ti];
	int32_t				 i, n;
	int				 r;

	if (pp->v >= PR_FIRST_ID)
		r = krx_cur_get(&pp->c, t->topic_id, sizeof(t->topic_id));
	else
		r = krx_kp_get_str(&pp->c, pp->flex, false, &t->name,
		    &t->name_len);
	if (r != KRX_OK)
		return r;
	/* A partition: index and a length prefix at least (and tags). */
	if ((r = krx_kp_get_array(&pp->c, pp->flex, false,
	    pp->flex ? 6 : 8, &n)) != KRX_OK)
		return r;
	t->first = pp->req->nparts;
	for (i = 0; i < n; i++)
		if ((r = pr_partition(pp, ti)) != KRX_OK)
			return r;
	t->count = (size_t)n;
	return pr_tags(pp);
}

static int
pr_body(struct pr_parse *pp)
{
	struct krx_produce_req	*req = pp->req;
	size_t			 min_topic;
	int32_t			 i, n;
	int			 r;

	if ((r = krx_kp_get_str(&pp->c, pp->flex, true,
	    &req->transactional_id, &req->transactional_id_len)) != KRX_OK ||
	    (r = krx_cur_get_i16(&pp->c, &req->acks)) != KRX_OK ||
	    (r = krx_cur_get_i32(&pp->c, &req->timeout_ms)) != KRX_OK)
		return r;
	/* A topic: name or id, partitions length, tags (ids: flexible). */
	if (pp->v >= PR_FIRST_ID)
		min_topic = KRX_KAFKA_UUID_LEN + 2;
	else
		min_topic = pp->flex ? 3 : 6;
	if ((r = krx_kp_get_array(&pp->c, pp->flex, false, min_topic,
	    &n)) != KRX_OK)
		return r;
	if (n > 0 &&
	    (req->topics = calloc((size_t)n, sizeof(*req->topics))) == NULL)
		return KRX_E_NOMEM;
	req->ntopics = (size_t)n;
	for (i = 0; i < n; i++)
		if ((r = pr_topic(pp, (size_t)i)) != KRX_OK)
			return r;
	if ((r = pr_tags(pp)) != KRX_OK)
		return r;
	return krx_cur_end(&pp->c);
}

int
krx_kafka_produce_parse(const uint8_t *body, size_t len, int16_t version,
    struct krx_produce_req *req)
{
	struct pr_parse	 pp;
	int		 r;

	memset(req, 0, sizeof(*req));
	if (version < PR_MIN_VERSION || version > PR_MAX_VERSION)
		return KRX_E_UNSUPPORTED;
	memset(&pp, 0, sizeof(pp));
	krx_cur_init(&pp.c, body, len);
	pp.v = version;
	pp.flex = version >= PR_FIRST_FLEX;
	pp.req = req;
	req->version = version;
	if ((r = pr_body(&pp)) != KRX_OK)
		krx_produce_req_free(req);
	return r;
}

void
krx_produce_req_free(struct krx_produce_req *req)
{
	if (req == NULL)
		return;
	free(req->topics);
	free(req->parts);
	memset(req, 0, sizeof(*req));
}

/* Error response. */

static void
pr_err_partition(struct krx_buf *b, int16_t v, int32_t index,
    int16_t error, const char *msg)
{
	bool	 flex = v >= PR_FIRST_FLEX;

	krx_buf_put_be32(b, (uint32_t)index);
	krx_buf_put_be16(b, (uint16_t)error);
	krx_buf_put_be64(b, (uint64_t)-1);	/* base_offset */
	krx_buf_put_be64(b, (uint64_t)-1);	/* log_append_time_ms */
	if (v >= 5)
		krx_buf_put_be64(b, (uint64_t)-1);	/* log_start_offset */
	if (v >= 8) {
		krx_kp_put_array_len(b, flex, 0);	/* record_errors */
		krx_kp_put_str(b, flex, msg,
		    msg == NULL ? -1 : (int32_t)strlen(msg));
	}
	if (flex)
		krx_buf_put_uvarint(b, 0);
}

static void
pr_err_topic(struct krx_buf *b, const struct krx_produce_req *req,
    size_t ti, int16_t v, const int16_t *errors, const char *msg)
{
	const struct krx_produce_topic	*t = &req->topics[ti];
	bool				 flex = v >= PR_FIRST_FLEX;
	size_t				 i;

	if (v >= PR_FIRST_ID)
		krx_buf_put(b, t->topic_id, sizeof(t->topic_id));
	else
		krx_kp_put_str(b, flex, t->name, t->name_len);
	krx_kp_put_array_len(b, flex, (int32_t)t->count);
	for (i = t->first; i < t->first + t->count; i++)
		pr_err_partition(b, v, req->parts[i].index, errors[i], msg);
	if (flex)
		krx_buf_put_uvarint(b, 0);
}

/* Is req consistent (topics and partitions within bounds)? */
static bool
pr_req_ok(const struct krx_produce_req *req, int16_t v)
{
	const struct krx_produce_topic	*t;
	size_t				 i;

	if (req->ntopics > INT32_MAX)
		return false;
	for (i = 0; i < req->ntopics; i++) {
		t = &req->topics[i];
		if (t->first > req->nparts ||
		    t->count > req->nparts - t->first || t->count > INT32_MAX)
			return false;
		if (v < PR_FIRST_ID && (t->name_len < 0 ||
		    t->name_len > KRX_KP_STR_MAX ||
		    (t->name == NULL && t->name_len > 0)))
			return false;
	}
	return true;
}

int
krx_kafka_produce_error_response(const struct krx_produce_req *req,
    int16_t version, const int16_t *errors, const char *error_message,
    struct krx_buf *out)
{
	size_t	 i, start = out->len;
	bool	 flex = version >= PR_FIRST_FLEX;
	int	 r;

	if (version < PR_MIN_VERSION || version > PR_MAX_VERSION)
		return KRX_E_UNSUPPORTED;
	if ((version >= PR_FIRST_ID) != (req->version >= PR_FIRST_ID) ||
	    !pr_req_ok(req, version) || (errors == NULL && req->nparts > 0) ||
	    (error_message != NULL && strlen(error_message) > KRX_KP_STR_MAX))
		return KRX_E_RANGE;
	krx_kp_put_array_len(out, flex, (int32_t)req->ntopics);
	for (i = 0; i < req->ntopics; i++)
		pr_err_topic(out, req, i, version, errors, error_message);
	krx_buf_put_be32(out, 0);		/* throttle_time_ms */
	if (flex)
		krx_buf_put_uvarint(out, 0);
	if ((r = out->err) != KRX_OK && out->len > start)
		out->len = start;
	return r;
}

/* Request builder. */

struct pr_build {
	const struct krx_produce_req	*req;
	const struct krx_produce_piece	*pieces;
	size_t				 n;
	bool				 flex;
	size_t				 size;	/* of the body */
};

/* Size of a string length (wide false) or bytes or array length. */
static size_t
pr_len_size(bool flex, bool wide, int32_t len)
{
	if (flex)
		return krx_uvarint_len((uint64_t)((int64_t)len + 1));
	return wide ? 4 : 2;
}

static int
pr_build_add(struct pr_build *pb, size_t n)
{
	if (n > SIZE_MAX - pb->size)
		return KRX_E_TOO_BIG;
	pb->size += n;
	return KRX_OK;
}

/*
 * The pieces from i on under the topic of pieces[i]: each part inside
 * req and inside its topic's range, parts strictly ascending, topics
 * never going back (so each is written once). *end is the first piece
 * of the next topic.
 */
static int
pr_build_group(const struct pr_build *pb, size_t i, size_t *end)
{
	const struct krx_produce_req	*req = pb->req;
	const struct krx_produce_topic	*t;
	size_t				 p, ti;

	if (pb->pieces[i].part >= req->nparts ||
	    (ti = req->parts[pb->pieces[i].part].topic) >= req->ntopics)
		return KRX_E_RANGE;
	t = &req->topics[ti];
	for (; i < pb->n; i++) {
		p = pb->pieces[i].part;
		if (p >= req->nparts ||
		    (i > 0 && p <= pb->pieces[i - 1].part) ||
		    req->parts[p].topic < ti)
			return KRX_E_RANGE;
		if (req->parts[p].topic != ti)
			break;
		if (p < t->first || p - t->first >= t->count)
			return KRX_E_RANGE;
	}
	*end = i;
	return KRX_OK;
}

/* Check one topic's name (v3-12) and its pieces; count their bytes. */
static int
pr_build_topic(struct pr_build *pb, size_t first, size_t end)
{
	const struct krx_produce_topic	*t;
	const struct krx_produce_piece	*pc;
	size_t				 i;
	int				 r;

	t = &pb->req->topics[pb->req->parts[pb->pieces[first].part].topic];
	if (pb->req->version >= PR_FIRST_ID)
		r = pr_build_add(pb, KRX_KAFKA_UUID_LEN);
	else if (t->name_len < 0 || t->name_len > KRX_KP_STR_MAX ||
	    (t->name == NULL && t->name_len > 0))
		return KRX_E_RANGE;
	else
		r = pr_build_add(pb, pr_len_size(pb->flex, false,
		    t->name_len) + (size_t)t->name_len);
	if (r != KRX_OK || (r = pr_build_add(pb, pr_len_size(pb->flex, true,
	    (int32_t)(end - first)) + (pb->flex ? 1 : 0))) != KRX_OK)
		return r;
	for (i = first; i < end; i++) {
		pc = &pb->pieces[i];
		if (pc->records == NULL && pc->records_len > 0)
			return KRX_E_RANGE;
		if (pc->records_len > INT32_MAX - 1)
			return KRX_E_TOO_BIG;
		/* index, records length, tags, then the records */
		if ((r = pr_build_add(pb, 4 + pr_len_size(pb->flex, true,
		    (int32_t)pc->records_len) + (pb->flex ? 1 : 0))) !=
		    KRX_OK ||
		    (r = pr_build_add(pb, pc->records_len)) != KRX_OK)
			return r;
	}
	return KRX_OK;
}

/* Check req and the pieces, count the topics and the body's size. */
static int
pr_build_check(struct pr_build *pb, size_t *ntopics)
{
	const struct krx_produce_req	*req = pb->req;
	int32_t				 tlen = req->transactional_id_len;
	size_t				 i, end;
	int				 r;

	*ntopics = 0;
	if (req->version < PR_MIN_VERSION || req->version > PR_MAX_VERSION)
		return KRX_E_UNSUPPORTED;
	if (tlen < -1 || tlen > KRX_KP_STR_MAX ||
	    (req->transactional_id == NULL && tlen > 0) ||
	    (pb->pieces == NULL && pb->n > 0) || pb->n > INT32_MAX)
		return KRX_E_RANGE;
	/* transactional_id, acks, timeout_ms */
	pb->size = pr_len_size(pb->flex, false, tlen) +
	    (tlen > 0 ? (size_t)tlen : 0) + 2 + 4;
	for (i = 0; i < pb->n; i = end) {
		if ((r = pr_build_group(pb, i, &end)) != KRX_OK ||
		    (r = pr_build_topic(pb, i, end)) != KRX_OK)
			return r;
		(*ntopics)++;
	}
	/* topic_data length and the tags */
	return pr_build_add(pb, pr_len_size(pb->flex, true,
	    (int32_t)*ntopics) + (pb->flex ? 1 : 0));
}

/* Write one topic_data entry: pieces[first, end). */
static void
pr_build_write(const struct pr_build *pb, size_t first, size_t end,
    struct krx_buf *out)
{
	const struct krx_produce_req	*req = pb->req;
	const struct krx_produce_topic	*t;
	const struct krx_produce_piece	*pc;
	size_t				 i;

	t = &req->topics[req->parts[pb->pieces[first].part].topic];
	if (req->version >= PR_FIRST_ID)
		krx_buf_put(out, t->topic_id, sizeof(t->topic_id));
	else
		krx_kp_put_str(out, pb->flex, t->name, t->name_len);
	krx_kp_put_array_len(out, pb->flex, (int32_t)(end - first));
	for (i = first; i < end; i++) {
		pc = &pb->pieces[i];
		krx_buf_put_be32(out, (uint32_t)req->parts[pc->part].index);
		krx_kafka_records_prefix(out, pb->flex, pc->records_len);
		if (pc->records_len > 0)
			krx_buf_put(out, pc->records, pc->records_len);
		if (pb->flex)
			krx_buf_put_uvarint(out, 0);
	}
	if (pb->flex)
		krx_buf_put_uvarint(out, 0);
}

int
krx_kafka_produce_build(const struct krx_produce_req *req,
    const struct krx_produce_piece *pieces, size_t n, struct krx_buf *out)
{
	struct pr_build	 pb;
	size_t		 i, end, ntopics, start = out->len;
	int		 r;

	memset(&pb, 0, sizeof(pb));
	pb.req = req;
	pb.pieces = pieces;
	pb.n = n;
	pb.flex = req->version >= PR_FIRST_FLEX;
	if ((r = pr_build_check(&pb, &ntopics)) != KRX_OK ||
	    (r = krx_buf_reserve(out, pb.size)) != KRX_OK)
		return r;
	krx_kp_put_str(out, pb.flex, req->transactional_id,
	    req->transactional_id_len);
	krx_buf_put_be16(out, (uint16_t)req->acks);
	krx_buf_put_be32(out, (uint32_t)req->timeout_ms);
	krx_kp_put_array_len(out, pb.flex, (int32_t)ntopics);
	for (i = 0; i < n; i = end) {
		/* The groups pr_build_check walked: no error this time. */
		(void)pr_build_group(&pb, i, &end);
		pr_build_write(&pb, i, end, out);
	}
	if (pb.flex)
		krx_buf_put_uvarint(out, 0);
	if ((r = out->err) != KRX_OK && out->len > start)
		out->len = start;
	return r;
}
