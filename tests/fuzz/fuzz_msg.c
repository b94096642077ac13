/*
 * fuzz_msg.c: libFuzzer harness for the message parsers and writers of
 * proto/kafka_msg.h (kafka_produce.c, kafka_produce_resp.c,
 * kafka_fetch.c, kafka_metadata.c, kafka_dconf.c, the splice and field
 * writers of kafka_prim.c).
 *
 * The first input byte picks a target (its low three bits; 6 and 7 are
 * the splice writer too), the next ones its parameters:
 *   0  Produce request      [0] version body
 *   1  Fetch / ShareFetch   [1] sel version body (sel odd: ShareFetch)
 *   2  Metadata topics      [2] version body
 *   3  splice writer        [3] n, n edits of 3 bytes (offset, length,
 *                           data length), then the body; also the
 *                           Metadata id request from the same bytes
 *   4  Produce response     [4] version body
 *   5  DescribeConfigs v1   [5] x body (x ignored)
 * Besides "no crash, no leak", it checks properties: every offset and
 * view lies inside the body, in order; splicing other records (and
 * errors) into a parsed body gives a body that parses to the same
 * partitions with the new values, and so does a Produce request built
 * from some of its partitions (krx_kafka_produce_build); a Produce
 * error response walks cleanly and parses as a response; Fetch and
 * Metadata agree with the endpoint rewriter's walk (kafka_endpoints.c)
 * on what decodes; the splice writer agrees with a naive one; the
 * DescribeConfigs walk reports only when the whole body checks.
 *
 * Seeds (tests/fuzz/corpus/msg): the tests/data Produce request, Fetch,
 * ShareFetch and Metadata response bodies with their selector bytes
 * (cap_*), bodies written by Kafka's Java message classes for the
 * versions not captured, with two topics, null records, aborted
 * transactions and tags (java_*), and a few splice inputs (splice_*);
 * Produce responses captured and built by tests/unit/
 * kafka_produce_build_test.c (record errors, tags, NodeEndpoints), and
 * the DescribeConfigs response of tests/unit/kafka_dconf_test.c.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "proto/kafka.h"
#include "proto/kafka_msg.h"

#define FZ_MAX_EDITS	4096

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fz_check(int ok)
{
	if (!ok)
		abort();
}

/* A byte range inside the body, after *pos; moves *pos past it. */
static void
fz_range(size_t off, size_t len, size_t body_len, size_t *pos)
{
	fz_check(off >= *pos && off <= body_len && len <= body_len - off);
	*pos = off + len;
}

static void
fz_view(const uint8_t *body, size_t len, const uint8_t *rec,
    int32_t rec_len, size_t off, size_t flen)
{
	fz_check(off <= len && flen <= len - off);
	if (rec_len < 0) {
		fz_check(rec == NULL);
		return;
	}
	fz_check(rec >= body + off && rec + rec_len == body + off + flen);
}

/*
 * New records for partition i: half of the old ones, some bytes for a
 * null set, null for every third partition (unless null is refused).
 */
static int32_t
fz_new_len(size_t i, int32_t old, int nullable)
{
	if (nullable && i % 3 == 2)
		return -1;
	return old < 0 ? 5 : old / 2;
}

static const uint8_t	 fz_bytes[8] = "krx-fuzz";

static void
fz_produce_reparse(const struct krx_produce_req *req, const uint8_t *p,
    size_t len)
{
	struct krx_produce_req	 again;
	size_t			 i;

	if (krx_kafka_produce_parse(p, len, req->version, &again) != KRX_OK)
		abort();
	fz_check(again.nparts == req->nparts && again.ntopics == req->ntopics);
	for (i = 0; i < again.nparts; i++)
		fz_check(again.parts[i].index == req->parts[i].index &&
		    again.parts[i].records_len ==
		    fz_new_len(i, req->parts[i].records_len, 1));
	krx_produce_req_free(&again);
}

/* Splice new records into every partition of a parsed request. */
static void
fz_produce_splice(const struct krx_produce_req *req, const uint8_t *p,
    size_t len)
{
	struct krx_splice	*e;
	struct krx_buf		 f, out;
	size_t			 i, *at;
	int32_t			 n;
	int			 flex = req->version >= 9;

	if (req->nparts > FZ_MAX_EDITS)
		return;
	e = calloc(req->nparts + 1, sizeof(*e));
	at = calloc(req->nparts + 1, sizeof(*at));
	fz_check(e != NULL && at != NULL);
	krx_buf_init(&f, 0);
	krx_buf_init(&out, 0);
	for (i = 0; i < req->nparts; i++) {
		n = fz_new_len(i, req->parts[i].records_len, 1);
		at[i] = f.len;
		krx_kafka_records_field(&f, flex, n == 5 ? fz_bytes :
		    req->parts[i].records, n);
		e[i].off = req->parts[i].field_off;
		e[i].len = req->parts[i].field_len;
		e[i].data_len = f.len - at[i];
		fz_check(e[i].data_len == krx_kafka_records_field_len(flex, n));
	}
	fz_check(f.err == KRX_OK);
	for (i = 0; i < req->nparts; i++)
		e[i].data = f.data + at[i];
	fz_check(krx_kafka_splice(p, len, e, req->nparts, &out) == KRX_OK);
	fz_produce_reparse(req, out.data, out.len);
	krx_buf_free(&f);
	krx_buf_free(&out);
	free(e);
	free(at);
}

/*
 * Build a request of every partition (step 1) or every other one (step
 * 2) with records of their own (null ones empty); it parses back to
 * those partitions.
 */
static void
fz_produce_build(const struct krx_produce_req *req, size_t step)
{
	struct krx_produce_piece	*pc;
	struct krx_produce_req		 again;
	struct krx_buf			 out;
	size_t				 i, n = 0, k, nt = 0;

	pc = calloc(req->nparts + 1, sizeof(*pc));
	fz_check(pc != NULL);
	for (i = 0; i < req->nparts; i += step) {
		pc[n].part = i;
		pc[n].records = req->parts[i].records;
		pc[n++].records_len = req->parts[i].records_len < 0 ? 0 :
		    (size_t)req->parts[i].records_len;
	}
	krx_buf_init(&out, 0);
	fz_check(krx_kafka_produce_build(req, pc, n, &out) == KRX_OK);
	fz_check(krx_kafka_produce_parse(out.data, out.len, req->version,
	    &again) == KRX_OK);
	fz_check(again.nparts == n && again.ntopics <= req->ntopics &&
	    again.acks == req->acks && again.timeout_ms == req->timeout_ms);
	for (i = 0; i < n; i++) {
		k = pc[i].part;
		fz_check(again.parts[i].index == req->parts[k].index &&
		    again.parts[i].records_len == (int32_t)pc[i].records_len);
	}
	/* Every partition: every topic but those without any. */
	for (i = 0; i < req->ntopics; i++)
		nt += req->topics[i].count > 0;
	fz_check(step != 1 || again.ntopics == nt);
	krx_produce_req_free(&again);
	krx_buf_free(&out);
	free(pc);
}

static void
fz_produce_resp(int16_t v, const uint8_t *p, size_t len)
{
	struct krx_produce_resp		 resp;
	struct krx_produce_resp_part	*rp;
	size_t				 i, pos = 0;

	if (krx_kafka_produce_resp_parse(p, len, v, &resp) != KRX_OK) {
		fz_check(resp.parts == NULL && resp.nparts == 0);
		return;
	}
	for (i = 0; i < resp.nparts; i++) {
		rp = &resp.parts[i];
		fz_range(rp->error_off, 2, len, &pos);
		fz_range(rp->base_offset_off, 8, len, &pos);
		fz_check(rp->base_offset_off == rp->error_off + 2);
		fz_check(rp->error_code ==
		    (int16_t)(p[rp->error_off] << 8 | p[rp->error_off + 1]));
		if (v >= 13)
			fz_check(rp->name == NULL && rp->name_len == 0);
		else
			fz_check(rp->name_len >= 0 && rp->name >= p &&
			    rp->name + rp->name_len <= p + rp->error_off);
	}
	krx_produce_resp_free(&resp);
}

static void
fz_produce(int16_t v, const uint8_t *p, size_t len)
{
	struct krx_produce_req	 req;
	struct krx_buf		 out, none;
	int16_t			*errs;
	size_t			 i, pos = 0, sum = 0;

	if (krx_kafka_produce_parse(p, len, v, &req) != KRX_OK) {
		fz_check(req.topics == NULL && req.parts == NULL);
		return;
	}
	for (i = 0; i < req.ntopics; i++) {
		fz_check(req.topics[i].first == sum);
		sum += req.topics[i].count;
	}
	fz_check(sum == req.nparts);
	for (i = 0; i < req.nparts; i++) {
		fz_check(req.parts[i].topic < req.ntopics);
		fz_range(req.parts[i].field_off, req.parts[i].field_len, len,
		    &pos);
		fz_view(p, len, req.parts[i].records, req.parts[i].records_len,
		    req.parts[i].field_off, req.parts[i].field_len);
	}
	fz_produce_splice(&req, p, len);
	fz_produce_build(&req, 1);
	fz_produce_build(&req, 2);
	errs = calloc(req.nparts + 1, sizeof(*errs));
	fz_check(errs != NULL);
	for (i = 0; i < req.nparts; i++)
		errs[i] = (int16_t)i;
	krx_buf_init(&out, 0);
	krx_buf_init(&none, 0);
	fz_check(krx_kafka_produce_error_response(&req, v, errs,
	    v % 2 ? "krx: fuzz" : NULL, &out) == KRX_OK);
	/* It walks, and holds no endpoint. */
	fz_check(krx_kafka_rewrite_endpoints(KRX_API_PRODUCE, v, out.data,
	    out.len, NULL, NULL, &none) == 0);
	fz_produce_resp(v, out.data, out.len);
	krx_buf_free(&out);
	krx_buf_free(&none);
	free(errs);
	krx_produce_req_free(&req);
}

static int
fz_same_endpoint(void *arg, const struct krx_kafka_endpoint *up,
    struct krx_kafka_endpoint *adv)
{
	(void)arg;
	*adv = *up;
	return 0;
}

/* Does the endpoint rewriter walk the body to its end? */
static int
fz_walks(int16_t key, int16_t v, const uint8_t *p, size_t len)
{
	struct krx_buf	 out;
	int		 r;

	krx_buf_init(&out, 0);
	r = krx_kafka_rewrite_endpoints(key, v, p, len, fz_same_endpoint,
	    NULL, &out);
	krx_buf_free(&out);
	return r >= 0;
}

static void
fz_fetch_reparse(const struct krx_fetch_resp *r, const uint8_t *p,
    size_t len)
{
	struct krx_fetch_resp	 again;
	size_t			 i;
	int			 nullable = r->api_key == KRX_API_FETCH;

	if (krx_kafka_fetch_parse(p, len, r->api_key, r->version, &again) !=
	    KRX_OK)
		abort();
	fz_check(again.nparts == r->nparts && again.ntopics == r->ntopics);
	for (i = 0; i < again.nparts; i++) {
		fz_check(again.parts[i].index == r->parts[i].index &&
		    again.parts[i].error_code == 100 &&
		    again.parts[i].records_len ==
		    fz_new_len(i, r->parts[i].records_len, nullable));
		fz_check(again.parts[i].msg_off < 0 ||
		    again.parts[i].msg_len == 5);
	}
	krx_fetch_resp_free(&again);
}

/* Splice an error, a message and new records into every partition. */
static void
fz_fetch_splice(const struct krx_fetch_resp *r, const uint8_t *p,
    size_t len)
{
	static const uint8_t	 err[2] = { 0, 100 }, msg[5] = "\5krx!";
	struct krx_splice	*e;
	struct krx_buf		 f, out;
	size_t			 i, k = 0, *at;
	int32_t			 n;
	int			 flex, nullable;

	flex = r->api_key == KRX_API_SHARE_FETCH || r->version >= 12;
	nullable = r->api_key == KRX_API_FETCH;
	if (r->nparts > FZ_MAX_EDITS)
		return;
	e = calloc(3 * r->nparts + 1, sizeof(*e));
	at = calloc(r->nparts + 1, sizeof(*at));
	fz_check(e != NULL && at != NULL);
	krx_buf_init(&f, 0);
	krx_buf_init(&out, 0);
	for (i = 0; i < r->nparts; i++) {
		n = fz_new_len(i, r->parts[i].records_len, nullable);
		at[i] = f.len;
		krx_kafka_records_field(&f, flex, n == 5 ? fz_bytes :
		    r->parts[i].records, n);
	}
	fz_check(f.err == KRX_OK);
	for (i = 0; i < r->nparts; i++) {
		e[k++] = (struct krx_splice){ r->parts[i].error_off, 2, err,
		    2 };
		if (r->parts[i].msg_off >= 0)
			e[k++] = (struct krx_splice){
			    (size_t)r->parts[i].msg_off, r->parts[i].msg_len,
			    msg, sizeof(msg) };
		e[k++] = (struct krx_splice){ r->parts[i].field_off,
		    r->parts[i].field_len, f.data + at[i],
		    (i + 1 < r->nparts ? at[i + 1] : f.len) - at[i] };
	}
	fz_check(krx_kafka_splice(p, len, e, k, &out) == KRX_OK);
	fz_fetch_reparse(r, out.data, out.len);
	krx_buf_free(&f);
	krx_buf_free(&out);
	free(e);
	free(at);
}

static void
fz_fetch(int16_t key, int16_t v, const uint8_t *p, size_t len)
{
	struct krx_fetch_resp	 r;
	struct krx_fetch_part	*fp;
	size_t			 i, pos = 0, sum = 0;
	int			 ok;

	ok = krx_kafka_fetch_parse(p, len, key, v, &r) == KRX_OK;
	/*
	 * The rewriter reads Fetch v16+ and ShareFetch NodeEndpoints (and
	 * refuses broker addresses that are not ones), krx_kafka_fetch_parse
	 * skips them; without any, what parses walks.
	 */
	if (ok && key == KRX_API_FETCH && v < 16)
		fz_check(fz_walks(key, v, p, len));
	if (!ok && key == KRX_API_FETCH && v >= 4 && v <= 18)
		fz_check(!fz_walks(key, v, p, len));
	if (!ok) {
		fz_check(r.topics == NULL && r.parts == NULL);
		return;
	}
	fz_check(r.error_off < 0 || (size_t)r.error_off + 2 <= len);
	for (i = 0; i < r.ntopics; i++) {
		fz_check(r.topics[i].first == sum);
		sum += r.topics[i].count;
	}
	fz_check(sum == r.nparts);
	for (i = 0; i < r.nparts; i++) {
		fp = &r.parts[i];
		fz_check(fp->topic < r.ntopics);
		fz_range(fp->error_off, 2, len, &pos);
		if (fp->hwm_off >= 0)
			fz_range((size_t)fp->hwm_off, 8, len, &pos);
		if (fp->msg_off >= 0)
			fz_range((size_t)fp->msg_off, fp->msg_len, len, &pos);
		fz_range(fp->field_off, fp->field_len, len, &pos);
		fz_view(p, len, fp->records, fp->records_len, fp->field_off,
		    fp->field_len);
	}
	fz_fetch_splice(&r, p, len);
	krx_fetch_resp_free(&r);
}

static int
fz_topic(void *arg, const uint8_t *name, int32_t name_len,
    const uint8_t *id, int16_t error)
{
	const uint8_t	*end = arg;

	fz_check((name == NULL && name_len == -1) ||
	    (name != NULL && name_len >= 0 && name + name_len <= end));
	fz_check(id != NULL);
	return error == 0x7ff0 ? KRX_E_NOTFOUND : 0;
}

static void
fz_metadata(int16_t v, const uint8_t *p, size_t len)
{
	int	 r;

	r = krx_kafka_metadata_topics(p, len, v, fz_topic,
	    (void *)(p + len));
	/*
	 * Both walkers take the same bytes, but the endpoint walker also
	 * refuses a broker address that is not one (a port outside
	 * 1..65535, a host of bad characters): where it walks, so do the
	 * topics.
	 */
	if (v <= 13 && r != KRX_E_NOTFOUND && fz_walks(KRX_API_METADATA, v,
	    p, len))
		fz_check(r == KRX_OK);
}

struct fz_dconf {
	const uint8_t	*body;
	size_t		 len;
	size_t		 n;
};

static void
fz_dconf_fn(void *arg, const uint8_t *name, size_t name_len, int16_t err,
    const uint8_t *value, int32_t value_len)
{
	struct fz_dconf	*d = arg;
	const uint8_t	*end = d->body + d->len;

	fz_check(name >= d->body && name_len <= (size_t)(end - name));
	if (value == NULL)
		fz_check(value_len == -1);
	else
		fz_check(err == 0 && value_len >= 0 && value > name &&
		    (size_t)value_len <= (size_t)(end - value));
	d->n++;
}

/* Checked alone or walked, the same answer; nothing reported on error. */
static void
fz_dconf(const uint8_t *p, size_t len)
{
	struct fz_dconf	 d = { p, len, 0 };
	int		 r;

	r = krx_kafka_dconf_parse(p, len, "max.message.bytes", fz_dconf_fn,
	    &d);
	fz_check(r == krx_kafka_dconf_parse(p, len, "max.message.bytes",
	    NULL, NULL));
	fz_check(r == KRX_OK || d.n == 0);
}

/* A naive splice: copy each edit's range in turn. */
static void
fz_naive(const uint8_t *p, size_t len, const struct krx_splice *e,
    size_t n, struct krx_buf *out)
{
	size_t	 i, pos = 0;

	for (i = 0; i < n; i++) {
		krx_buf_put(out, p + pos, e[i].off - pos);
		krx_buf_put(out, e[i].data, e[i].data_len);
		pos = e[i].off + e[i].len;
	}
	krx_buf_put(out, p + pos, len - pos);
}

static void
fz_splice(const uint8_t *d, size_t size)
{
	struct krx_splice	 e[16];
	struct krx_buf		 a, b;
	const uint8_t		*p;
	size_t			 i, n = d[0] % 16, len;
	int			 r;

	if (size < 1 + 3 * n)
		return;
	p = d + 1 + 3 * n;
	len = size - 1 - 3 * n;
	for (i = 0; i < n; i++) {
		e[i].off = (i > 0 ? e[i - 1].off : 0) + d[1 + 3 * i] % 64;
		e[i].len = d[2 + 3 * i] % 16;
		e[i].data_len = d[3 + 3 * i] % 8;
		e[i].data = e[i].data_len > 0 ? fz_bytes : NULL;
	}
	krx_buf_init(&a, 0);
	krx_buf_init(&b, 0);
	krx_buf_put(&a, "pre", 3);
	r = krx_kafka_splice(p, len, e, n, &a);
	if (r == KRX_OK) {
		fz_naive(p, len, e, n, &b);
		fz_check(a.len == 3 + b.len && (b.len == 0 ||
		    memcmp(a.data + 3, b.data, b.len) == 0));
	} else
		fz_check(r == KRX_E_RANGE && a.len == 3);
	krx_buf_free(&a);
	krx_buf_free(&b);
}

static void
fz_id_request(const uint8_t *d, size_t size)
{
	struct krx_kafka_req_hdr	 h;
	struct krx_buf			 out;
	size_t				 n = size / 16;

	krx_buf_init(&out, 0);
	fz_check(krx_kafka_metadata_request_ids(&out, 12 + (size & 1),
	    (int32_t)size, size & 2 ? "krx" : NULL,
	    (const uint8_t (*)[16])d, n) == KRX_OK);
	fz_check(out.len >= 4 + 11 + 4 + n * 18);
	fz_check(krx_kafka_req_hdr_parse(out.data + 4, out.len - 4, &h) ==
	    KRX_OK && h.api_key == KRX_API_METADATA);
	krx_buf_free(&out);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	switch (data[0] & 7) {
	case 0:
		fz_produce(data[1] % 16, data + 2, size - 2);
		break;
	case 1:
		if (data[1] & 1)
			fz_fetch(KRX_API_SHARE_FETCH, data[2] % 4, data + 3,
			    size - 3);
		else
			fz_fetch(KRX_API_FETCH, data[2] % 20, data + 3,
			    size - 3);
		break;
	case 2:
		fz_metadata(data[1] % 16, data + 2, size - 2);
		break;
	case 4:
		fz_produce_resp(data[1] % 16, data + 2, size - 2);
		break;
	case 5:
		fz_dconf(data + 2, size - 2);
		break;
	default:
		fz_splice(data + 1, size - 1);
		fz_id_request(data + 1, size - 1);
		break;
	}
	return 0;
}
